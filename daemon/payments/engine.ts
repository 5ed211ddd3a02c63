/**
 * The payment engine: the `PaymentService` behind the intent socket.
 *
 * One terminal, so one payment at a time. Every state change goes through
 * `change()`, which merges it into the ledger, tells the payment's listeners,
 * and returns the ledger write (durable where the policy needs it). After a
 * restart the engine finishes what the ledger says was under way: a payment
 * that never sent an AUTH ends `failed`/`INTERRUPTED`; one whose AUTH may have
 * reached the terminal is resolved with LAST, or ends `unknown` and is
 * reconciled with LAST whenever the terminal is back. A void of an approved
 * payment (void-run.ts) takes the same one operation slot, and is finished
 * or reconciled with LAST the same way.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Timer } from '../../drivers/clock.js';
import { errorSummary, isOtcdError } from '../../drivers/errors.js';
import type { Ledger, LedgerChange, LedgerRecord, UnresolvedCount } from './ledger.js';
import { isVoidOpen, voidOutcomeUnknownSince } from './ledger-record.js';
import {
  IntentError, followEnds, isFinalState,
  type HealthView, type IntentEvent, type IntentListener, type IntentView, type PayParams, type PaymentService, type Subscription,
} from './model.js';
import { meaningOfResult, meaningOfVoidResult } from './outcome.js';
import { PaymentRun, type RunDeps } from './payment-run.js';
import type { TerminalAnswer, TerminalResult } from './ports.js';
import { VOID_INTERRUPTED, VOID_NO_ANSWER, VoidRun, askVoidOutcome, voidChange, voidNoAnswer } from './void-run.js';

/**
 * The terminal remembers at least its latest 16 outcomes (terminal-protocol.md
 * section 6): an NF to LAST means "never ran" only while fewer frames than
 * that have gone to it since the payment's own.
 */
const TERMINAL_MEMORY = 16;

/** What every payment run gets (RunDeps without its own `record`), plus the engine's own. */
export interface EngineDeps extends Omit<RunDeps, 'record'> {
  ledger: Ledger;
  /** How often an `unknown` payment is asked about again with LAST. */
  reconcileIntervalMs: number;
  /** Health of the parts the engine does not own. */
  health: () => Omit<HealthView, 'payment' | 'unresolved' | 'unresolvedVoids'>;
}

interface Running {
  intentId: string;
  run?: PaymentRun;
  voidRun?: VoidRun;
  done: Promise<void>;
  limitAt: number;
}

export class PaymentEngine extends EventEmitter implements PaymentService {
  private readonly subscribers = new Map<string, Set<IntentListener>>();
  private running: Running | undefined;
  private shuttingDown = false;
  private reconcileTimer: Timer | undefined;
  private reconciling = false;
  private readonly log: Logger;

  constructor(private readonly deps: EngineDeps) {
    super();
    this.log = deps.logger.child({ module: 'payments' });
  }

  /** Finishes what the ledger says was under way when the daemon stopped. */
  async recover(): Promise<void> {
    const interrupted: LedgerRecord[] = [];
    const interruptedVoids: LedgerRecord[] = [];
    for (const record of this.deps.ledger.openPayments.values()) {
      if (!isFinalState(record.st)) interrupted.push(record);
      else if (record.vst === 'voiding') interruptedVoids.push(record);
    }
    for (const record of interrupted) {
      if (record.st === 'accepted' || record.st === 'inquiring' || record.ref === undefined) {
        this.log.warn({ intentId: record.id, state: record.st }, 'payment interrupted before its AUTH was sent; ending it as failed');
        await this.change(record.id, {
          st: 'failed', code: 'INTERRUPTED',
          message: 'otcd stopped before the card data was sent to the terminal; nothing was charged, start a new payment',
        }, { durable: true });
        continue;
      }
      // The AUTH may have reached the terminal: only the terminal can say what happened.
      this.log.warn({ intentId: record.id, ref: record.ref }, 'payment interrupted after its AUTH was recorded; asking the terminal (LAST)');
      this.startRunning(record.id, undefined, this.resolveInterrupted(record));
    }
    for (const record of interruptedVoids) {
      // The VOID may have reached the terminal: its outcome is unknown until LAST tells.
      this.log.warn({ intentId: record.id, ref: record.vref }, 'void interrupted after it was recorded; asking the terminal (LAST)');
      await this.change(record.id, voidNoAnswer(VOID_INTERRUPTED, record.vacked === true, record.vref, this.deps.clock.wallNow()), { durable: true });
      if (!this.running) this.startRunning(record.id, undefined, this.resolveInterruptedVoid(record.id));
    }
    this.deps.terminal.on('up', () => this.scheduleReconcile(0));
    this.scheduleReconcile(this.deps.reconcileIntervalMs);
  }

  async pay(params: PayParams, listener?: IntentListener): Promise<Subscription> {
    const authHash = hashAuthorization(params.authorizationId);
    // A new intentId is known absent without I/O (the ledger's index); an old one is read back.
    const found = await this.deps.ledger.find(params.intentId);
    // Everything from here to the accepted change is synchronous: a second `pay` of the
    // same intent sees this one.
    const existing = found ?? this.deps.ledger.peek(params.intentId);
    if (existing) {
      if (existing.amount !== params.amount || existing.inst !== params.installment || existing.authHash !== authHash) {
        throw new IntentError('CONFLICT', `intent ${params.intentId} is already known with other fields; use a new intentId for a new payment`);
      }
      return this.subscribe(existing, listener);
    }
    if (this.shuttingDown) throw new IntentError('SHUTTING_DOWN', 'otcd is shutting down and takes no new payments; retry when it is back');
    if (this.running) {
      throw new IntentError('BUSY', `payment ${this.running.intentId} is still running; wait for its final event (one terminal, one payment at a time)`);
    }
    // Merged into the ledger synchronously (and the run slot taken), so a second `pay`
    // on the next tick already sees it. The reply waits until the line is written: a
    // client that heard `accepted` finds the payment after a crash of otcd. (It is not
    // fsynced: the AUTH's own fsync, before anything can be charged, carries it to the
    // medium; a power cut before that loses only a payment that charged nothing.)
    // A write that fails (disk full) still gets a reply: the run then ends the payment
    // STORAGE_ERROR before anything is sent, and the client hears that as its final event.
    const accepted = this.change(params.intentId, {
      st: 'accepted', created: this.deps.clock.wallNow(), amount: params.amount, inst: params.installment, authHash, attempt: 0,
    });
    const subscription = this.subscribe(this.deps.ledger.peek(params.intentId) as LedgerRecord, listener);
    const { terminal, terminalHealth, provider, keys, clock, policy } = this.deps;
    const run = new PaymentRun({
      terminal, terminalHealth, provider, keys, clock, policy, logger: this.log,
      record: (change, options) => this.change(params.intentId, change, options),
    }, params);
    this.log.info({ intentId: params.intentId, amount: params.amount, installment: params.installment }, 'payment accepted');
    this.startRunning(params.intentId, run, accepted.then(() => run.run()));
    await accepted.catch((err: unknown) => this.log.error({ err: errorSummary(err) }, 'cannot write the payment ledger'));
    return subscription;
  }

  async cancel(intentId: string): Promise<IntentView> {
    const record = await this.requireRecord(intentId);
    if (this.running?.intentId === intentId && this.running.voidRun) {
      this.log.info({ intentId }, 'cancel of the void requested by the client');
      this.running.voidRun.requestCancel();
    } else if (!isFinalState(record.st) && this.running?.intentId === intentId) {
      if (this.running.run) {
        this.log.info({ intentId }, 'cancel requested by the client');
        this.running.run.requestCancel();
      }
    }
    return this.view(record);
  }

  async void(intentId: string, reason: string | undefined, listener?: IntentListener): Promise<Subscription> {
    const found = await this.requireRecord(intentId);
    // From here to the voiding change everything is synchronous: a second `void` sees this one.
    // A payment read back from the file is held in memory whole, so the void's changes merge into it.
    const record = this.deps.ledger.hold(found);
    if (record.st === 'voided' || isVoidOpen(record)) return this.subscribe(record, listener);
    if (record.st !== 'approved') {
      throw new IntentError('NOT_VOIDABLE', `payment ${intentId} is ${record.st}; only an approved payment can be voided`);
    }
    if (record.ref === undefined) throw new IntentError('INTERNAL', `payment ${intentId} has no AUTH ref in the ledger; it cannot be voided at the terminal`);
    if (this.shuttingDown) throw new IntentError('SHUTTING_DOWN', 'otcd is shutting down and takes no void; retry when it is back');
    if (this.running) {
      throw new IntentError('BUSY', `${this.running.voidRun ? 'a void of ' : 'payment '}${this.running.intentId} is still running; wait for its end (one terminal, one operation at a time)`);
    }
    const { terminal, clock, policy } = this.deps;
    const voidRun = new VoidRun({
      terminal, clock, logger: this.log,
      policy: { resultTimeoutMs: policy.resultTimeoutMs, answerTimeoutMs: policy.answerTimeoutMs },
      record: (change, options) => this.change(intentId, change, options),
    }, {
      intentId, origRef: record.ref, amount: record.amount,
      ...(reason === undefined ? {} : { reason }), ...(record.vunknownRef === undefined ? {} : { unknownRef: record.vunknownRef }),
    });
    this.log.info({ intentId, reason }, 'void requested');
    // run() records `voiding` (or a refusal) before its first await: the reply says so.
    this.startRunning(intentId, undefined, voidRun.run(), voidRun);
    return this.subscribe(this.deps.ledger.peek(intentId) as LedgerRecord, listener);
  }

  async get(intentId: string, listener?: IntentListener): Promise<Subscription> {
    return this.subscribe(await this.requireRecord(intentId), listener);
  }

  health(): HealthView {
    const base: HealthView = {
      ...this.deps.health(),
      unresolved: unresolvedView(this.deps.ledger.unresolved()),
      unresolvedVoids: unresolvedView(this.deps.ledger.unresolvedVoids()),
    };
    const running = this.running ? this.deps.ledger.peek(this.running.intentId) : undefined;
    if (!running) return base;
    return {
      ...base,
      payment: { intentId: running.id, state: running.st, attempt: running.attempt, ...(running.deadline ? { deadline: iso(running.deadline) } : {}) },
    };
  }

  /** True when no payment runs (the daemon may PING the terminal). */
  get idle(): boolean {
    return this.running === undefined;
  }

  /** A payment past its own overall limit (plus grace) means something is wedged: the watchdog must stop. */
  isStuck(graceMs: number): boolean {
    return this.running !== undefined && this.deps.clock.now() > this.running.limitAt + graceMs;
  }

  /**
   * Stops taking payments. A payment that has not sent its AUTH is stopped at
   * once; one that has is given until `graceMs` to finish. Whatever is still
   * open then is durable in the ledger and is resolved after the restart.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    this.reconcileTimer?.cancel();
    const running = this.running;
    if (running) {
      const record = this.deps.ledger.peek(running.intentId);
      if (record && (record.st === 'accepted' || record.st === 'inquiring')) running.run?.requestShutdown();
      let timer: Timer | undefined;
      await Promise.race([
        running.done,
        new Promise<void>((resolve) => { timer = this.deps.clock.setTimeout(resolve, graceMs); }),
      ]);
      timer?.cancel();
      if (this.running) this.log.warn({ intentId: running.intentId }, 'stopping with a payment still open; its state is durable in the ledger and is resolved after restart');
    }
    await this.deps.ledger.flush();
  }

  private startRunning(intentId: string, run: PaymentRun | undefined, work: Promise<void>, voidRun?: VoidRun): void {
    const running: Running = {
      intentId, run, voidRun,
      limitAt: run?.limitAt ?? voidRun?.limitAt ?? this.deps.clock.now() + this.deps.policy.paymentLimitMs,
      done: work.catch(async (err: unknown) => {
        this.log.error({ intentId, err: errorSummary(err) }, 'payment flow failed unexpectedly');
        const record = this.deps.ledger.peek(intentId);
        if (record?.vst === 'voiding') {
          // The VOID may have gone out: ask LAST for it like for any void without an answer.
          await this.change(intentId, voidNoAnswer(VOID_NO_ANSWER, record.vacked === true, record.vref, this.deps.clock.wallNow()), { durable: true }).catch(() => undefined);
        } else if (record && !isFinalState(record.st)) {
          const maybeSent = record.ref !== undefined;
          const code = isOtcdError(err, 'STORAGE_ERROR') ? 'STORAGE_ERROR' : 'INTERNAL';
          const why = code === 'STORAGE_ERROR' ? 'could not write its payment ledger (disk full?)' : 'hit an internal error';
          await this.change(intentId, maybeSent
            ? { st: 'unknown', reconcile: true, code, message: `otcd ${why} after sending the AUTH; reconcile before charging again` }
            : { st: 'failed', code, message: `otcd ${why} before the card data was sent; nothing was charged` },
          { durable: true }).catch(() => undefined);
        }
      }).finally(() => {
        if (this.running === running) this.running = undefined;
      }),
    };
    this.running = running;
  }

  /** After a restart: ask the terminal what became of an AUTH that may have reached it. */
  private async resolveInterrupted(record: LedgerRecord): Promise<void> {
    const ref = record.ref as string;
    const answer = await this.askLastWhenUp(ref, this.deps.policy.answerTimeoutMs * 10);
    if (answer === undefined) {
      await this.change(record.id, {
        st: 'unknown', reconcile: true, code: 'INTERRUPTED',
        message: 'otcd stopped while the terminal held the card data and the terminal has not said what it did; reconcile before charging again',
      }, { durable: true });
      return;
    }
    if (answer.kind === 'result') {
      const meaning = meaningOfResult(answer);
      if (meaning.kind === 'final') {
        await this.change(record.id, { st: meaning.state, sent: true, ...meaning.details }, { durable: true });
      } else {
        await this.change(record.id, {
          st: 'failed', code: 'INTERRUPTED',
          message: `otcd stopped during the payment and the terminal did not run it (${meaning.code}); nothing was charged`,
        }, { durable: true });
      }
      return;
    }
    // Still open at the terminal: its RSLT will come; wait for it like the live flow would.
    const result = await this.waitForResult(ref, this.deps.policy.resultTimeoutMs);
    if (result) {
      const meaning = meaningOfResult(result);
      const change: Omit<LedgerChange, 'id'> = meaning.kind === 'final'
        ? { st: meaning.state, sent: true, ...meaning.details }
        : { st: 'failed', code: 'INTERRUPTED', message: 'otcd stopped during the payment; the terminal dropped it and nothing was charged' };
      await this.change(record.id, change, { durable: true });
      return;
    }
    await this.change(record.id, {
      st: 'unknown', reconcile: true, code: 'NO_OUTCOME',
      message: 'the terminal holds the card data and gave no outcome; reconcile before charging again',
    }, { durable: true });
  }

  /** Whether the terminal still remembers the record's VOID (see TERMINAL_MEMORY), so its NF means "never ran". */
  private voidRemembered(record: LedgerRecord): boolean {
    return record.vtermSeq !== undefined && this.deps.ledger.terminalSeq - record.vtermSeq < TERMINAL_MEMORY;
  }

  /** After a restart: ask the terminal what became of a VOID that may have reached it. */
  private async resolveInterruptedVoid(intentId: string): Promise<void> {
    const { clock, terminal, policy } = this.deps;
    const until = clock.now() + policy.answerTimeoutMs * 10;
    while (clock.now() < until) {
      const record = this.deps.ledger.peek(intentId);
      if (record?.vlast !== true) return;
      if (terminal.isUp) {
        try {
          const change = await askVoidOutcome(terminal, record, () => clock.wallNow(), this.voidRemembered(record));
          if (change !== undefined) {
            await this.change(intentId, change, { durable: true });
            return;
          }
          // Still open at the terminal: its RSLT will come.
          const result = await this.waitForResult(record.vref as string, policy.resultTimeoutMs);
          if (result !== undefined) {
            const now = clock.wallNow();
            await this.change(intentId, voidChange(meaningOfVoidResult(result), now, { vref: record.vref as string, unknownRef: record.vunknownRef }, now), { durable: true });
          }
          return; // no RSLT: reconciliation keeps asking
        } catch (err) {
          this.log.warn({ intentId, ref: record.vref, err: errorSummary(err) }, 'LAST of the interrupted VOID got no answer');
        }
      }
      await clock.sleep(Math.min(1000, Math.max(0, until - clock.now())));
    }
  }

  /** Asks LAST for every `unknown` payment that waits for reconciliation. */
  private scheduleReconcile(delayMs: number): void {
    this.reconcileTimer?.cancel();
    if (this.shuttingDown) return;
    this.reconcileTimer = this.deps.clock.setTimeout(() => {
      void this.reconcile().finally(() => this.scheduleReconcile(this.deps.reconcileIntervalMs));
    }, delayMs);
  }

  private async reconcile(): Promise<void> {
    if (this.reconciling || this.running || !this.deps.terminal.isUp) return;
    this.reconciling = true;
    try {
      for (const record of [...this.deps.ledger.openPayments.values()]) {
        if (this.running) continue;
        if (record.vlast === true) {
          let change;
          try {
            change = await askVoidOutcome(this.deps.terminal, record, () => this.deps.clock.wallNow(), this.voidRemembered(record));
          } catch {
            return; // the terminal is not answering; try again at the next round
          }
          if (change === undefined) continue; // the terminal still runs the VOID
          this.log.info({ intentId: record.id, state: change.st ?? record.st, void: change.vst, code: change.vcode }, 'void with an unknown outcome resolved with LAST');
          await this.change(record.id, change, { durable: true });
          continue;
        }
        if (record.reconcile !== true || record.ref === undefined) continue;
        let answer;
        try {
          answer = await this.deps.terminal.last(record.ref);
        } catch {
          return; // the terminal is not answering; try again at the next round
        }
        // Still open at the terminal (PROG): its RSLT is the answer, at a later round.
        if (answer.kind !== 'result') continue;
        await this.resolve(record, answer);
      }
    } finally {
      this.reconciling = false;
    }
  }

  /**
   * What a LAST answer does to an `unknown` payment: resolves it (once, for
   * good: approved, declined, or failed when the terminal never ran it), or
   * ends the asking when the terminal cannot tell. Either way every
   * connection following the payment hears it.
   */
  private async resolve(record: LedgerRecord, answer: TerminalResult): Promise<void> {
    const meaning = meaningOfResult(answer);
    const resolved = { reconcile: false, resolved: true, resolvedAt: this.deps.clock.wallNow() };
    if (meaning.kind === 'final' && meaning.state !== 'unknown') {
      this.log.warn({ intentId: record.id, state: meaning.state }, `unknown payment resolved with LAST: ${meaning.state}`);
      await this.change(record.id, {
        st: meaning.state, sent: true, ...resolved, ...meaning.details,
        ...(meaning.state === 'approved' ? { code: undefined, message: undefined } : {}),
      }, { durable: true });
      return;
    }
    if (meaning.kind === 'final') {
      // TO: the terminal itself does not know, and never will (one outcome per ref).
      this.log.error({ intentId: record.id }, 'unknown payment: the terminal timed out upstream and cannot tell the outcome; reconcile it with the acquirer');
      await this.change(record.id, {
        st: 'unknown', reconcile: false, code: 'TERMINAL_TIMEOUT',
        message: 'the terminal timed out upstream and cannot tell the outcome; reconcile with the acquirer before charging again',
      }, { durable: true });
      return;
    }
    const framesSince = record.termSeq === undefined ? Infinity : this.deps.ledger.terminalSeq - record.termSeq;
    if (meaning.code === 'NF' && framesSince >= TERMINAL_MEMORY) {
      this.log.error({ intentId: record.id, framesSince }, 'unknown payment: the terminal no longer remembers it; reconcile it with the acquirer');
      await this.change(record.id, {
        st: 'unknown', reconcile: false, code: 'NOT_REMEMBERED',
        message: `the terminal no longer remembers this payment (${TERMINAL_MEMORY} or more operations since); reconcile with the acquirer before charging again`,
      }, { durable: true });
      return;
    }
    this.log.warn({ intentId: record.id, code: meaning.code }, 'unknown payment resolved with LAST: the terminal never ran it');
    await this.change(record.id, {
      st: 'failed', sent: false, ...resolved, code: 'NOT_RUN',
      message: `the terminal did not run this payment (${meaning.code}); nothing was charged`,
    }, { durable: true });
  }

  private async askLastWhenUp(ref: string, withinMs: number): Promise<TerminalAnswer | undefined> {
    const { clock, terminal } = this.deps;
    const until = clock.now() + withinMs;
    while (clock.now() < until) {
      if (terminal.isUp) {
        try {
          return await terminal.last(ref);
        } catch (err) {
          this.log.warn({ ref, err: errorSummary(err) }, 'LAST got no answer');
        }
      }
      await clock.sleep(Math.min(1000, Math.max(0, until - clock.now())));
    }
    return undefined;
  }

  private waitForResult(ref: string, withinMs: number): Promise<TerminalResult | undefined> {
    const { clock, terminal } = this.deps;
    return new Promise((resolve) => {
      const onResult = (r: TerminalResult): void => {
        if (r.ref !== ref) return;
        timer.cancel();
        terminal.off('result', onResult as (...args: never[]) => void);
        resolve(r);
      };
      const timer = clock.setTimeout(() => {
        terminal.off('result', onResult as (...args: never[]) => void);
        resolve(undefined);
      }, withinMs);
      terminal.on('result', onResult);
    });
  }

  /**
   * Merges a change into the ledger, tells the listeners, and returns the
   * write. The event of a durable change (an AUTH about to leave, a final
   * state) is sent only once the change is on the medium: a client that saw
   * `approved` must find `approved` after a power cut. A write that fails
   * still sends the event: the client must hear the outcome either way.
   */
  private change(intentId: string, change: Omit<LedgerChange, 'id'>, options: { durable?: boolean } = {}): Promise<LedgerRecord> {
    const at = this.deps.clock.wallNow();
    // A new ref is a frame about to go to the terminal: number it (see TERMINAL_MEMORY); a VOID's too.
    const numbered = typeof change.ref === 'string' ? { ...change, termSeq: this.deps.ledger.nextTerminalSeq() }
      : typeof change.vref === 'string' ? { ...change, vtermSeq: this.deps.ledger.nextTerminalSeq() } : change;
    const written = this.deps.ledger.append({ ...numbered, id: intentId, at }, options);
    // `accepted` is told in the pay reply itself, never as an event, and so is a
    // void's `voiding`; the void's later steps are events (the state stays approved).
    if (change.st === 'accepted' || (change.st === undefined && (change.vst === undefined || change.vst === 'voiding'))) return written;
    const record = this.deps.ledger.peek(intentId) as LedgerRecord;
    const event = this.eventOf(record, at);
    // A payment whose void runs or waits for LAST is not at its end yet.
    const final = isFinalState(record.st) && !isVoidOpen(record);
    if (final) {
      // The terminal is free the moment the outcome is known: a client that
      // reads the final event and pays again at once must not get BUSY.
      const timing = this.running?.intentId === intentId ? this.running.run?.timing : undefined;
      if (this.running?.intentId === intentId) this.running = undefined;
      if (endsVoid(change)) {
        this.logVoidEnd(record);
      } else if (change.reconcile !== false) {
        // A resolution (or the end of one) was logged where it was learned.
        const level = record.st === 'unknown' ? 'error' : record.st === 'failed' || record.st === 'expired' ? 'warn' : 'info';
        this.log[level]({ intentId, state: record.st, code: record.code, attempt: record.attempt, timingMs: timing },
          record.st === 'unknown' ? 'payment final: outcome unknown, reconcile it with the acquirer before charging again' : 'payment final');
      }
      this.emit('final', record);
    }
    if (options.durable === true || final) {
      const deliver = (): void => this.deliver(event);
      written.then(deliver, deliver);
    } else {
      this.deliver(event);
    }
    return written;
  }

  /**
   * The journal's line for a void's end, at the level a technician filters
   * on (`journalctl -p warning`): reversed is news, nothing reversed is a
   * warning (the customer's money stays taken), an unknown outcome an error.
   */
  private logVoidEnd(record: LedgerRecord): void {
    const intentId = record.id;
    const fields = { intentId, ref: record.vref, code: record.vcode };
    const voidAgain = `void again to settle it (otcctl void --intent-id ${intentId}): the terminal reverses at most once and answers AV if a VOID went through`;
    if (record.st === 'voided') {
      this.log.info({ intentId, ref: record.vref, voidApprovalNo: record.voidApprovalNo }, 'void final: reversed');
    } else if (voidOutcomeUnknownSince(record) !== undefined) {
      const what = record.vst === 'unknown' ? 'void final: outcome unknown' : `void refused (${record.vcode ?? '?'}), and an earlier VOID's outcome is still unknown`;
      this.log.error(fields, `${what}: the customer's money may not have gone back; ${voidAgain}`);
    } else {
      this.log.warn(fields, `void refused (${record.vcode ?? '?'}): ${record.vmsg ?? 'nothing was reversed'}`);
    }
  }

  private eventOf(record: LedgerRecord, at: number): IntentEvent {
    const event: IntentEvent = { type: 'event', intentId: record.id, state: record.st, at: iso(at), attempt: record.attempt, ...this.details(record) };
    if (!isFinalState(record.st) && record.deadline !== undefined) event.deadline = iso(record.deadline);
    return event;
  }

  private deliver(event: IntentEvent): void {
    const listeners = this.subscribers.get(event.intentId);
    if (!listeners || listeners.size === 0) return;
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.log.warn({ err: errorSummary(err) }, 'an intent listener threw');
      }
    }
    if (followEnds(event)) this.subscribers.delete(event.intentId);
  }

  private subscribe(record: LedgerRecord, listener: IntentListener | undefined): Subscription {
    const view = this.view(record);
    if (!listener || followEnds(view)) return { view, unsubscribe: () => undefined };
    let set = this.subscribers.get(record.id);
    if (!set) this.subscribers.set(record.id, (set = new Set()));
    set.add(listener);
    return {
      view,
      unsubscribe: () => {
        const current = this.subscribers.get(record.id);
        current?.delete(listener);
        if (current?.size === 0) this.subscribers.delete(record.id);
      },
    };
  }

  private async requireRecord(intentId: string): Promise<LedgerRecord> {
    const record = await this.deps.ledger.find(intentId);
    if (!record) throw new IntentError('NOT_FOUND', `no payment with intentId ${intentId} is known (payments are kept at least 7 days)`);
    return record;
  }

  private view(record: LedgerRecord): IntentView {
    const view: IntentView = {
      intentId: record.id, state: record.st, attempt: record.attempt,
      amount: record.amount, installment: record.inst,
      createdAt: iso(record.created), updatedAt: iso(record.at),
      ...this.details(record),
    };
    if (!isFinalState(record.st) && record.deadline !== undefined) view.deadline = iso(record.deadline);
    return view;
  }

  /** Detail fields that belong to the record's state. */
  private details(record: LedgerRecord): Partial<IntentView> {
    const out: Partial<IntentView> = {};
    if (record.st === 'approved' || record.st === 'voided') {
      if (record.approvalNo !== undefined) out.approvalNo = record.approvalNo;
      if (record.maskedPan !== undefined) out.maskedPan = record.maskedPan;
    } else if (isFinalState(record.st)) {
      for (const key of ['code', 'message', 'resCd', 'resMsg', 'maskedPan'] as const) {
        const value = record[key];
        if (value !== undefined && value !== '') out[key] = value;
      }
    }
    if (record.st === 'unknown' && record.reconcile === true) out.resolving = true;
    if (record.resolved === true) {
      out.resolved = true;
      if (record.resolvedAt !== undefined) out.resolvedAt = iso(record.resolvedAt);
    }
    // A void's fields (its own resolution, the later one, included).
    return { ...out, ...voidDetails(record) };
  }
}

/** The void fields of an approved or voided payment's view and events. */
function voidDetails(record: LedgerRecord): Partial<IntentView> {
  const out: Partial<IntentView> = {};
  if (record.st === 'voided') {
    if (record.voidApprovalNo !== undefined) out.voidApprovalNo = record.voidApprovalNo;
    if (record.voidedAt !== undefined) out.voidedAt = iso(record.voidedAt);
  } else if (record.vst !== undefined) {
    out.void = { state: record.vst, ...(record.vcode === undefined ? {} : { code: record.vcode }), ...(record.vmsg === undefined ? {} : { message: record.vmsg }) };
  }
  if (record.vreason !== undefined) out.voidReason = record.vreason;
  if (record.vresolvedAt !== undefined) {
    out.resolved = true;
    out.resolvedAt = iso(record.vresolvedAt);
  }
  return out;
}

export function hashAuthorization(authorizationId: string): string {
  return createHash('sha256').update(authorizationId).digest('hex').slice(0, 32);
}

function iso(wallMs: number): string {
  return new Date(wallMs).toISOString();
}

function unresolvedView(u: UnresolvedCount): HealthView['unresolved'] {
  return { count: u.count, ...(u.oldest ? { oldest: { intentId: u.oldest.id, at: iso(u.oldest.since) } } : {}) };
}

/** A change that ends a void: reversed, refused or unknown (not `voiding`, not a LAST-pending one: see isVoidOpen). */
function endsVoid(change: Partial<LedgerRecord>): boolean {
  return change.st === 'voided' || change.vst === 'refused' || change.vst === 'unknown';
}
