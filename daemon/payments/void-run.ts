/**
 * One void of an approved payment: the reversal at the terminal
 * (terminal-protocol.md 6a, intent-protocol.md `void`).
 *
 * The terminal reverses from its own record of the approval: no card data,
 * no OTC, no 180-second window. What matters is never reversing twice and
 * never guessing:
 *
 * - the VOID and its fresh ref are in the ledger (fsynced) before the frame
 *   goes out, and its outcome before anyone is told;
 * - the terminal's RSLT decides: 00 or AV voided; TO unknown (a new VOID
 *   settles it: the terminal answers AV if the first went through); NF, AM,
 *   BY, CN, IV or an acquirer's refusal: refused, nothing reversed;
 * - no RSLT in time: LAST once; no answer to that either (silence, a lost
 *   link, a crash): the void's outcome is unknown and LAST-pending
 *   (`vlast`), and the engine asks LAST whenever the link is up until it
 *   learns the outcome (askVoidOutcome). Meanwhile no new VOID is sent.
 */
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../drivers/clock.js';
import type { LedgerChange, LedgerRecord } from './ledger.js';
import { VOID_ASKING_CODES } from './model.js';
import { meaningOfVoidResult, RESULT_CODE, type VoidMeaning } from './outcome.js';
import { errorSummary } from '../../drivers/errors.js';
import { RefWatch, newRef } from './payment-run.js';
import type { TerminalAnswer, TerminalPort } from './ports.js';

export interface VoidPolicy {
  /** After the VOID's ACK (or its latest PROG), how long to wait for RSLT before asking LAST. */
  resultTimeoutMs: number;
  /** How long the terminal has to answer a LAST. */
  answerTimeoutMs: number;
}

export interface VoidDeps {
  terminal: TerminalPort;
  clock: Clock;
  logger: Logger;
  policy: VoidPolicy;
  /** Records a change of this payment (and tells its listeners). */
  record(change: Omit<LedgerChange, 'id'>, options?: { durable?: boolean }): Promise<LedgerRecord>;
}

/** The approved payment to reverse. */
export interface VoidTarget {
  intentId: string;
  /** The ref of the approved AUTH. */
  origRef: string;
  amount: number;
  reason?: string;
  /** The VOID whose outcome is unknown from before this one (LedgerRecord.vunknownRef). */
  unknownRef?: string;
}

type Change = Omit<LedgerChange, 'id'>;

/** Codes of an unknown void whose outcome otcd is still asking LAST about (model.ts VOID_ASKING_CODES). */
export const VOID_NO_ANSWER = VOID_ASKING_CODES[0];
export const VOID_INTERRUPTED = VOID_ASKING_CODES[1];
/** An ACKed VOID whose ref the terminal no longer knows: void again to settle it (AV if it went through). */
export const VOID_FORGOTTEN = 'FORGOTTEN';
/** Refusals of otcd's own: nothing was sent, or the VOID never reached the terminal. */
export const VOID_NOT_RECEIVED = 'NOT_RECEIVED';
export const VOID_TERMINAL_UNAVAILABLE = 'TERMINAL_UNAVAILABLE';
export const VOID_STORAGE_ERROR = 'STORAGE_ERROR';

/** LAST tries for a VOID the terminal did not ACK, before the engine's reconciliation takes over. */
const UNACKED_ASK_ANSWER_TIMES = 10;
const RETRY_PAUSE_MS = 1000;

/** Fields that describe a void in progress or refused; cleared when a new void starts or it ends. */
const VOID_CLEARED: Change = { vst: undefined, vacked: undefined, vlast: undefined, vcode: undefined, vmsg: undefined, vresolvedAt: undefined };

/**
 * Refusals the terminal gives before it looks for an earlier reversal
 * (terminal-protocol.md 6a: BY, NF, AV, AM in that order; CN and IV stop a
 * VOID before that): they say nothing about an earlier VOID whose outcome is
 * unknown. AM and an acquirer's refusal come after the AV check, so the
 * earlier VOID did nothing.
 */
const REFUSALS_BEFORE_AV_CHECK: ReadonlySet<string> = new Set([RESULT_CODE.busy, RESULT_CODE.notFound, RESULT_CODE.cancelled, RESULT_CODE.invalid]);

/** Which VOID an answer is for, and which VOID (if any) made the payment's void outcome unknown first. */
export interface VoidAnswerContext {
  vref: string;
  unknownRef?: string;
}

const UNKNOWN_SETTLED: Change = { vunknownAt: undefined, vunknownRef: undefined };

/** The change that marks VOID `vref`'s outcome unknown (an earlier unknown VOID stands: see mergeChange). */
function unknownSince(vref: string | undefined, wallNow: number): Change {
  return { vunknownAt: wallNow, ...(vref === undefined ? {} : { vunknownRef: vref }) };
}

/** A VOID otcd learned did nothing: settles the payment's unknown void if that VOID was the unknown one. */
function settlesIfTheUnknownOne(record: LedgerRecord): Change {
  return record.vunknownRef === record.vref ? UNKNOWN_SETTLED : {};
}

/** The ledger change for a terminal's answer to a VOID; `resolvedAt` when learned by reconciliation. */
export function voidChange(meaning: VoidMeaning, wallNow: number, about: VoidAnswerContext, resolvedAt?: number): Change {
  const resolved = resolvedAt === undefined ? {} : { vresolvedAt: resolvedAt };
  switch (meaning.kind) {
    case 'voided':
      return { ...VOID_CLEARED, st: 'voided', voidApprovalNo: meaning.voidApprovalNo, voidedAt: wallNow, ...UNKNOWN_SETTLED, ...resolved };
    case 'refused': {
      const earlierStillUnknown = REFUSALS_BEFORE_AV_CHECK.has(meaning.code) && about.unknownRef !== undefined && about.unknownRef !== about.vref;
      return { ...VOID_CLEARED, vst: 'refused', vcode: meaning.code, vmsg: meaning.message, ...(earlierStillUnknown ? {} : UNKNOWN_SETTLED), ...resolved };
    }
    case 'timed-out':
      return { ...VOID_CLEARED, vst: 'unknown', vcode: meaning.code, vmsg: meaning.message, ...unknownSince(about.vref, wallNow), ...resolved };
  }
}

function refused(code: string, message: string): Change {
  return { ...VOID_CLEARED, vst: 'refused', vcode: code, vmsg: message };
}

/** No answer at all about VOID `vref`: LAST-pending until the terminal tells. */
export function voidNoAnswer(code: string, acked: boolean, vref: string | undefined, wallNow: number): Change {
  return {
    vst: 'unknown', vlast: true, vcode: code, vacked: acked || undefined, ...unknownSince(vref, wallNow),
    vmsg: 'the terminal has not said what it did with the VOID; otcd asks it (LAST) until it does. Do not refund another way meanwhile',
  };
}

/**
 * Asks LAST about a LAST-pending void. Resolves with the change that ends
 * it, or undefined while the terminal still runs it. Throws when the
 * terminal does not answer (ask again later). `remembered`: fewer VOID and
 * AUTH frames than the terminal's outcome memory have gone out since this
 * VOID's, so an NF means it never ran.
 */
export async function askVoidOutcome(terminal: TerminalPort, record: LedgerRecord, wallNow: () => number, remembered: boolean): Promise<Change | undefined> {
  if (record.vref === undefined) {
    return { ...refused(VOID_NOT_RECEIVED, 'otcd stopped before the VOID was sent; nothing was reversed: void again'), ...settlesIfTheUnknownOne(record) };
  }
  const answer = await terminal.last(record.vref);
  if (answer.kind !== 'result' || answer.ref !== record.vref) return undefined;
  const now = wallNow();
  if (answer.code === RESULT_CODE.notFound) {
    // LAST's NF: the terminal does not know the VOID's ref.
    if (!remembered) {
      return {
        ...VOID_CLEARED, vst: 'unknown', vcode: VOID_FORGOTTEN, vresolvedAt: now, ...unknownSince(record.vref, now),
        vmsg: 'the terminal no longer remembers the VOID; void again to settle it (the terminal answers AV if it went through)',
      };
    }
    return { ...refused(VOID_NOT_RECEIVED, 'the VOID never reached the terminal; nothing was reversed: void again'), vresolvedAt: now, ...settlesIfTheUnknownOne(record) };
  }
  return voidChange(meaningOfVoidResult(answer), now, { vref: record.vref, unknownRef: record.vunknownRef }, now);
}

export class VoidRun {
  /** Monotonic ms after which this void is stuck (for the watchdog). */
  readonly limitAt: number;
  private readonly log: Logger;
  private cancelWanted = false;
  private cancelSent = false;
  /** The VOID's ref once it is on its way, with the answers for it. */
  private sending: { ref: string; watch: RefWatch } | undefined;

  constructor(private readonly deps: VoidDeps, private readonly target: VoidTarget) {
    this.limitAt = deps.clock.now() + deps.policy.resultTimeoutMs * 2 + deps.policy.answerTimeoutMs * (UNACKED_ASK_ANSWER_TIMES + 2);
    this.log = deps.logger.child({ intentId: target.intentId });
  }

  /**
   * The client asked to cancel: CNCL for the VOID, which the terminal honours
   * (RSLT CN: refused, nothing reversed) only while the reversal has not gone
   * upstream; after that its real outcome comes.
   */
  requestCancel(): void {
    this.cancelWanted = true;
    this.sendCancel();
  }

  private sendCancel(): void {
    const sending = this.sending;
    if (!this.cancelWanted || this.cancelSent || sending === undefined) return;
    this.cancelSent = true;
    this.log.info({ ref: sending.ref }, 'sending CNCL for the VOID: the client cancelled it');
    this.deps.terminal.cancel(sending.ref).then((answer) => sending.watch.push(answer), (err: unknown) => {
      this.log.warn({ ref: sending.ref, err: errorSummary(err) }, 'CNCL of the VOID got no answer');
    });
  }

  async run(): Promise<void> {
    const { terminal, record } = this.deps;
    const reason = this.target.reason === undefined ? {} : { vreason: this.target.reason };
    if (!terminal.isUp) {
      await record({ ...refused(VOID_TERMINAL_UNAVAILABLE, 'the terminal is not connected; nothing was sent or reversed: void again when it is back'), ...reason }, { durable: true });
      return;
    }
    const ref = newRef();
    const watch = new RefWatch(terminal, ref);
    try {
      try {
        // Durable before the VOID leaves: after a crash the ledger knows which ref to ask LAST about.
        await record({ ...VOID_CLEARED, vst: 'voiding', vref: ref, ...reason }, { durable: true });
      } catch (err) {
        this.log.error({ err: errorSummary(err) }, 'cannot record the VOID in the payment ledger; not sending it');
        await record(refused(VOID_STORAGE_ERROR, 'the payment ledger cannot be written (disk full?); nothing was sent or reversed'), { durable: true }).catch(() => undefined);
        return;
      }
      if (this.cancelWanted) {
        await record(refused(RESULT_CODE.cancelled, 'cancelled by the client before the VOID was sent; nothing was reversed'), { durable: true });
        return;
      }
      this.log.info({ ref, origRef: this.target.origRef }, 'sending VOID');
      let end: Change;
      try {
        await terminal.void({ ref, origRef: this.target.origRef, amount: this.target.amount });
        this.sending = { ref, watch };
        this.sendCancel();
        await record({ vacked: true });
        end = await this.follow(ref, watch, false);
      } catch (err) {
        this.log.warn({ ref, err: errorSummary(err) }, 'the terminal did not acknowledge the VOID; asking LAST');
        end = await this.resolveUnacknowledged(ref, watch);
      }
      // Every other end is logged by the engine, with what to do (PaymentEngine.logVoidEnd).
      if (end.vlast === true) this.log.warn({ ref, code: end.vcode }, 'void outcome unknown: the terminal did not answer; otcd asks it (LAST) until it knows');
      await record(end, { durable: true });
    } finally {
      watch.close();
    }
  }

  /** The terminal took the VOID: wait for its RSLT; LAST once when it does not come. */
  private async follow(ref: string, watch: RefWatch, lastAskedBefore: boolean): Promise<Change> {
    const { clock, policy } = this.deps;
    let lastAsked = lastAskedBefore;
    let waitUntil = clock.now() + policy.resultTimeoutMs;
    for (;;) {
      const answer = await this.nextAnswer(watch, waitUntil);
      if (answer === undefined) {
        if (lastAsked) return voidNoAnswer(VOID_NO_ANSWER, true, ref, clock.wallNow());
        lastAsked = true;
        const reply = await this.askLast(ref);
        if (reply === undefined) return voidNoAnswer(VOID_NO_ANSWER, true, ref, clock.wallNow());
        watch.push(reply);
        waitUntil = clock.now() + policy.resultTimeoutMs;
        continue;
      }
      if (answer.kind === 'progress') {
        waitUntil = clock.now() + policy.resultTimeoutMs;
        continue;
      }
      // IV answers our latest command: once LAST was asked, that is the LAST, not the VOID.
      if (answer.code === RESULT_CODE.invalid && answer.ref === '' && lastAsked) continue;
      return voidChange(meaningOfVoidResult(answer), clock.wallNow(), { vref: ref, unknownRef: this.target.unknownRef });
    }
  }

  /** The VOID may or may not have reached the terminal: LAST tells (NF: it never did). */
  private async resolveUnacknowledged(ref: string, watch: RefWatch): Promise<Change> {
    const { clock, policy, terminal } = this.deps;
    const giveUpAt = clock.now() + policy.answerTimeoutMs * UNACKED_ASK_ANSWER_TIMES;
    for (;;) {
      const early = watch.take();
      if (early !== undefined) {
        if (early.kind === 'progress') {
          await this.deps.record({ vacked: true });
          return this.follow(ref, watch, false);
        }
        if (early.code !== RESULT_CODE.invalid || early.ref !== '') return voidChange(meaningOfVoidResult(early), clock.wallNow(), { vref: ref, unknownRef: this.target.unknownRef });
      }
      if (clock.now() >= giveUpAt) return voidNoAnswer(VOID_NO_ANSWER, false, ref, clock.wallNow());
      const reply = terminal.isUp ? await this.askLast(ref) : undefined;
      if (reply === undefined) {
        await clock.sleep(Math.min(RETRY_PAUSE_MS, Math.max(0, giveUpAt - clock.now())));
        continue;
      }
      if (reply.kind === 'result' && reply.code === RESULT_CODE.notFound) {
        return refused(VOID_NOT_RECEIVED, 'the VOID never reached the terminal; nothing was reversed: void again');
      }
      if (reply.kind === 'progress') {
        await this.deps.record({ vacked: true });
        watch.push(reply);
        return this.follow(ref, watch, true);
      }
      watch.push(reply);
    }
  }

  private async askLast(ref: string): Promise<TerminalAnswer | undefined> {
    try {
      return await this.deps.terminal.last(ref);
    } catch (err) {
      this.log.warn({ ref, err: errorSummary(err) }, 'LAST of the VOID got no answer');
      return undefined;
    }
  }

  /** Next answer for the ref, or undefined at `until` (monotonic). */
  private nextAnswer(watch: RefWatch, until: number): Promise<TerminalAnswer | undefined> {
    const ready = watch.take();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const done = (value: TerminalAnswer | undefined): void => {
        timer.cancel();
        watch.onAnswer = undefined;
        resolve(value);
      };
      const timer: Timer = this.deps.clock.setTimeout(() => done(undefined), Math.max(0, until - this.deps.clock.now()));
      watch.onAnswer = () => done(watch.take());
    });
  }
}
