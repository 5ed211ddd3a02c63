/**
 * One payment from `accepted` to a final state: carries out the 180-second
 * rule that window-policy.ts decides (when an AUTH may start, when CNCL
 * goes, when a lost window becomes a fresh inquiry and when `expired`).
 *
 * Whenever the terminal may hold the card data and cannot tell us what it
 * did, the payment ends `unknown` (never approved or declined) and is
 * reconciled with LAST.
 *
 * Track 2 lives only between decryption and the AUTH frame being handed to
 * the driver; it is zeroed in a `finally` whatever happens.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../drivers/clock.js';
import { errorSummary, isOtcdError } from '../../drivers/errors.js';
import type { LedgerChange, LedgerRecord } from './ledger.js';
import { meaningOfResult, type ResultMeaning } from './outcome.js';
import { afterLostWindow, cancelAnswerBy, mayStartAuth, mustCancel, openWindow, type Window, type WindowRules } from './window-policy.js';
import type { KeySourcePort, ProviderPort, TerminalAnswer, TerminalPort, TerminalReadinessPort, TerminalResult } from './ports.js';

export interface PaymentPolicy extends WindowRules {
  /** After SENT, how long to wait for RSLT before asking LAST. */
  resultTimeoutMs: number;
  /** How long the terminal has to answer a CNCL or LAST. */
  answerTimeoutMs: number;
  /** How long a payment waits for a terminal that is down or not answering before it inquires nothing and fails. */
  terminalWaitMs: number;
}

export interface RunDeps {
  terminal: TerminalPort;
  terminalHealth: TerminalReadinessPort;
  provider: ProviderPort;
  keys: KeySourcePort;
  clock: Clock;
  logger: Logger;
  policy: PaymentPolicy;
  /** Records a change of this payment (and tells its listeners). */
  record(change: Omit<LedgerChange, 'id'>, options?: { durable?: boolean }): Promise<LedgerRecord>;
}

export interface PayRequest {
  intentId: string;
  authorizationId: string;
  amount: number;
  installment: number;
}

/** How an attempt ended when it did not end the payment. */
type AttemptEnd =
  | { kind: 'final'; change: Omit<LedgerChange, 'id'> }
  | { kind: 'window-lost'; why: string };

/** A fresh ref for every AUTH: 16 chars of base64url, never reused. */
export function newRef(): string {
  return randomBytes(12).toString('base64url');
}

export class PaymentRun {
  private cancelRequested = false;
  private stopReason: 'client' | 'shutdown' = 'client';
  private readonly abort = new AbortController();
  private readonly wake = new Set<() => void>();
  /** Monotonic ms after which this payment is stuck (for the watchdog). */
  readonly limitAt: number;
  /**
   * Milestones of the latest attempt in monotonic ms from the moment the pay
   * was taken: a technician's (and the benchmark's) view of where time goes.
   */
  readonly timing: { terminalChecked?: number; inquirySent?: number; inquiryAnswered?: number; authWritten?: number; authAcked?: number } = {};
  private readonly takenAt: number;
  private readonly log: Logger;

  constructor(private readonly deps: RunDeps, private readonly request: PayRequest) {
    this.takenAt = deps.clock.now();
    this.limitAt = this.takenAt + deps.policy.paymentLimitMs;
    this.log = deps.logger.child({ intentId: request.intentId });
  }

  get cancelling(): boolean {
    return this.cancelRequested;
  }

  /** The client asked to cancel: honoured while the card data has not gone upstream. */
  requestCancel(): void {
    this.stop('client');
  }

  /** otcd is stopping: like a cancel, but the payment ends failed INTERRUPTED, not cancelled. */
  requestShutdown(): void {
    this.stop('shutdown');
  }

  private stop(reason: 'client' | 'shutdown'): void {
    if (this.cancelRequested) return;
    this.stopReason = reason;
    this.cancelRequested = true;
    this.abort.abort();
    for (const wake of this.wake) wake();
  }

  async run(): Promise<void> {
    const { policy, clock } = this.deps;
    for (let attempt = 1; ; attempt++) {
      const end = await this.attempt(attempt);
      if (end.kind === 'final') {
        await this.deps.record(end.change, { durable: true });
        return;
      }
      if (afterLostWindow(policy, { attempt, now: clock.now(), limitAt: this.limitAt }) === 'expire') {
        this.log.warn({ attempt, why: end.why }, 'payment expired: the provider window was lost and no inquiry is left');
        await this.deps.record({
          st: 'expired', code: 'WINDOW_EXPIRED',
          message: `the card data could not reach the provider within its window in ${attempt} attempt(s); nothing was charged`,
        }, { durable: true });
        return;
      }
      this.log.info({ attempt, why: end.why }, 'provider window lost before the card data went upstream; inquiring a fresh OTC');
    }
  }

  private async attempt(attempt: number): Promise<AttemptEnd> {
    const { clock, policy, provider, keys } = this.deps;
    if (this.cancelRequested) return this.cancelled();
    // An OTC inquired for a terminal that is not there is the customer's authorization
    // used up for nothing: make sure the terminal answers first.
    if (!(await this.deps.terminalHealth.waitAnswering(policy.terminalWaitMs, this.abort.signal))) {
      if (this.cancelRequested) return this.cancelled();
      this.log.warn({ attempt }, 'the terminal is down or not answering; ending the payment without inquiring the OTC');
      return {
        kind: 'final',
        change: {
          st: 'failed', code: 'TERMINAL_UNAVAILABLE',
          message: `the card terminal is not connected or not answering (waited ${Math.round(policy.terminalWaitMs / 1000)} s); nothing was inquired or charged. Check its cable and power (otcctl status)`,
        },
      };
    }
    this.mark('terminalChecked');

    const keyPair = await keys.take();
    let track2: Buffer | undefined;
    try {
      const window = openWindow(policy, clock.now());
      await this.deps.record({
        st: 'inquiring', attempt, deadline: this.wallAt(window.deadline),
        ref: undefined, acked: undefined, sent: undefined,
      });
      let encOtc: string;
      this.mark('inquirySent');
      try {
        ({ encOtc } = await provider.inquire(this.request.authorizationId, keyPair.publicKeyBase64, {
          deadline: window.sendBy, signal: this.abort.signal,
        }));
      } catch (err) {
        if (this.cancelRequested) return this.cancelled();
        const change = providerFailure(err);
        this.log.error({ attempt, code: change.code, resCd: change.resCd }, `payment failed: ${change.message}`);
        return { kind: 'final', change };
      }
      this.mark('inquiryAnswered');
      try {
        track2 = keyPair.decryptTrack2(encOtc);
      } catch {
        this.log.warn({ attempt }, 'the provider\'s one-time card data did not decrypt to a valid track 2');
        return {
          kind: 'final',
          change: { st: 'failed', code: 'BAD_OTC', message: 'the one-time card data from the provider could not be used; nothing was charged, start a new payment' },
        };
      }
      keyPair.destroy();

      if (this.cancelRequested) return this.cancelled();
      if (!mayStartAuth(window, clock.now())) return { kind: 'window-lost', why: 'the inquiry answered too late to start the AUTH' };
      if (!(await this.waitForLink(window.sendBy))) {
        if (this.cancelRequested) return this.cancelled();
        return {
          kind: 'final',
          change: { st: 'failed', code: 'TERMINAL_UNAVAILABLE', message: 'the card terminal is not connected; nothing was charged. Check its cable and power' },
        };
      }
      return await this.deliver(attempt, track2, window);
    } finally {
      keyPair.destroy();
      track2?.fill(0);
    }
  }

  /** Sends the AUTH and follows it to an end. */
  private async deliver(attempt: number, track2: Buffer, window: Window): Promise<AttemptEnd> {
    const { terminal } = this.deps;
    const ref = newRef();
    const watch = new RefWatch(terminal, ref);
    try {
      try {
        // Durable before the AUTH leaves: after a crash the ledger knows which ref to ask LAST about.
        await this.deps.record({ st: 'delivering', attempt, ref }, { durable: true });
      } catch (err) {
        this.log.error({ err: errorSummary(err) }, 'cannot record the AUTH in the payment ledger; not sending it');
        return { kind: 'final', change: { st: 'failed', code: 'STORAGE_ERROR', message: 'the payment ledger cannot be written (disk full?); nothing was charged' } };
      }
      try {
        const acked = terminal.authorize({ ref, amount: this.request.amount, installment: this.request.installment, track2 });
        this.mark('authWritten');
        await acked;
        this.mark('authAcked');
      } catch (err) {
        track2.fill(0);
        this.log.warn({ ref, err: errorSummary(err) }, 'the terminal did not acknowledge the AUTH; asking LAST when the link is back');
        return await this.resolveUnacknowledged(ref, watch, window);
      }
      track2.fill(0);
      await this.deps.record({ st: 'processing', acked: true });
      return await this.follow(ref, watch, window);
    } finally {
      watch.close();
    }
  }

  /**
   * The terminal holds the AUTH. Waits for SENT and RSLT; sends CNCL when the
   * window is about to close (or the client cancels) before SENT.
   */
  private async follow(ref: string, watch: RefWatch, window: Window): Promise<AttemptEnd> {
    const { clock, policy, terminal } = this.deps;
    let sent = false;
    let progressSeen = false;
    let cancelSent = false;
    let lastAsked = false;
    let waitUntil = window.cancelAt;

    for (;;) {
      if (mustCancel(window, clock.now(), { sent, cancelSent, clientCancel: this.cancelRequested })) {
        cancelSent = true;
        waitUntil = cancelAnswerBy(window, clock.now(), policy.answerTimeoutMs);
        this.log.info({ ref, reason: this.cancelRequested ? 'client' : 'window' }, 'sending CNCL: the card data has not gone upstream yet');
        terminal.cancel(ref).then((answer) => watch.push(answer), (err: unknown) => {
          this.log.warn({ ref, err: errorSummary(err) }, 'CNCL got no answer');
        });
      }
      const answer = await this.nextAnswer(watch, waitUntil);

      if (answer === undefined) {
        if (clock.now() < waitUntil) continue; // woken by a client cancel: the loop sends CNCL
        if (!sent && !cancelSent) continue; // cancelAt reached: the loop sends CNCL
        if (lastAsked) return { kind: 'final', change: unknownOutcome(sent) };
        // No RSLT in time, or no definite answer to CNCL by the window's end: ask LAST once.
        lastAsked = true;
        const reply = await this.askLast(ref);
        if (reply === undefined) return { kind: 'final', change: unknownOutcome(sent) };
        waitUntil = clock.now() + policy.resultTimeoutMs;
        watch.push(reply);
        continue;
      }
      if (answer.kind === 'progress') {
        progressSeen = true;
        if (answer.stage === 'SENT' && !sent) {
          sent = true;
          waitUntil = clock.now() + policy.resultTimeoutMs;
          await this.deps.record({ sent: true });
          if (this.cancelRequested) this.log.info({ ref }, 'cancel came too late: the card data has gone upstream');
        }
        continue;
      }
      if (answer.code === 'IV' && answer.ref === '' && (progressSeen || cancelSent || lastAsked)) {
        // IV answers our latest command; once the AUTH was taken that is a CNCL or LAST, not the AUTH.
        this.log.warn({ ref, message: answer.message }, 'the terminal called our CNCL/LAST invalid');
        continue;
      }
      const end = this.endOfResult(answer, cancelSent);
      if (end) return end;
    }
  }

  /** The AUTH may or may not have reached the terminal: find out with LAST. */
  private async resolveUnacknowledged(ref: string, watch: RefWatch, window: Window): Promise<AttemptEnd> {
    const { clock } = this.deps;
    const giveUpAt = window.deadline;
    for (;;) {
      const early = watch.take();
      if (early) {
        if (early.kind === 'progress') {
          await this.deps.record({ st: 'processing', acked: true });
          watch.push(early);
          return this.follow(ref, watch, window);
        }
        return this.endOfResult(early, false) ?? { kind: 'window-lost', why: 'the terminal did not take the AUTH' };
      }
      if (clock.now() >= giveUpAt) {
        this.log.error({ ref }, 'the terminal may hold the card data but could not be asked; the outcome needs reconciliation');
        return { kind: 'final', change: { ...unknownOutcome(false), code: 'TERMINAL_UNAVAILABLE' } };
      }
      if (!(await this.waitForLink(giveUpAt))) continue;
      const reply = await this.askLast(ref);
      if (reply === undefined) {
        await clock.sleep(Math.min(1000, Math.max(0, giveUpAt - clock.now())));
        continue;
      }
      if (reply.kind === 'result' && reply.code === 'NF') {
        return { kind: 'window-lost', why: 'the terminal never received the AUTH' };
      }
      watch.push(reply);
    }
  }

  /** What a RSLT does to this attempt; undefined when it changes nothing. */
  private endOfResult(result: TerminalResult, cancelSent: boolean): AttemptEnd | undefined {
    const meaning: ResultMeaning = meaningOfResult(result);
    if (meaning.kind === 'final') {
      return { kind: 'final', change: { st: meaning.state, sent: true, ...meaning.details } };
    }
    // The card data did not go upstream.
    if (this.cancelRequested) return this.cancelled();
    if (meaning.code === 'BY' && !cancelSent) {
      return { kind: 'final', change: { st: 'failed', code: 'TERMINAL_BUSY', message: 'the card terminal is busy with another transaction; nothing was charged' } };
    }
    if (meaning.code === 'IV') {
      return { kind: 'final', change: { st: 'failed', code: 'TERMINAL_REJECTED', message: `the terminal rejected the AUTH as invalid (${meaning.message}); nothing was charged` } };
    }
    if (meaning.code === 'CN' && !cancelSent) {
      return { kind: 'final', change: { st: 'cancelled', code: 'CN', message: meaning.message || 'cancelled at the terminal' } };
    }
    return { kind: 'window-lost', why: `the terminal answered ${meaning.code}` };
  }

  private async askLast(ref: string): Promise<TerminalAnswer | undefined> {
    try {
      return await this.deps.terminal.last(ref);
    } catch (err) {
      this.log.warn({ ref, err: errorSummary(err) }, 'LAST got no answer');
      return undefined;
    }
  }

  /** Next answer for the ref, or undefined at `until` (monotonic) or when woken by a cancel. */
  private nextAnswer(watch: RefWatch, until: number): Promise<TerminalAnswer | undefined> {
    const ready = watch.take();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => {
      let timer: Timer | undefined;
      const done = (value: TerminalAnswer | undefined): void => {
        timer?.cancel();
        watch.onAnswer = undefined;
        this.wake.delete(onWake);
        resolve(value);
      };
      const onWake = (): void => done(undefined);
      watch.onAnswer = () => done(watch.take());
      this.wake.add(onWake);
      const wait = until - this.deps.clock.now();
      if (Number.isFinite(wait)) timer = this.deps.clock.setTimeout(() => done(undefined), wait);
    });
  }

  /** Resolves true once the terminal link is up, false at `until` or on cancel. */
  private waitForLink(until: number): Promise<boolean> {
    const { terminal, clock } = this.deps;
    if (terminal.isUp) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (value: boolean): void => {
        timer.cancel();
        terminal.off('up', onUp);
        this.wake.delete(onWake);
        resolve(value);
      };
      const onUp = (): void => done(true);
      const onWake = (): void => done(false);
      const timer = clock.setTimeout(() => done(terminal.isUp), until - clock.now());
      terminal.on('up', onUp);
      this.wake.add(onWake);
    });
  }

  private cancelled(): AttemptEnd {
    if (this.stopReason === 'shutdown') {
      return { kind: 'final', change: { st: 'failed', code: 'INTERRUPTED', message: 'otcd was stopped before the card data went upstream; nothing was charged, start a new payment' } };
    }
    return { kind: 'final', change: { st: 'cancelled', code: 'CANCELLED', message: 'cancelled by the client before the card data went upstream; nothing was charged' } };
  }

  private mark(milestone: keyof PaymentRun['timing']): void {
    this.timing[milestone] = Math.round((this.deps.clock.now() - this.takenAt) * 1000) / 1000;
  }

  private wallAt(monotonic: number): number {
    return Math.round(this.deps.clock.wallNow() + (monotonic - this.deps.clock.now()));
  }
}

/**
 * Collects the terminal's PROG and RSLT frames for one ref, from the moment
 * before the AUTH is sent, so no answer slips between two awaits.
 */
export class RefWatch {
  private readonly queue: TerminalAnswer[] = [];
  private resultSeen = false;
  onAnswer: (() => void) | undefined;
  private readonly onProgress = (p: { ref: string; stage: 'RCVD' | 'SENT' }): void => {
    if (p.ref === this.ref) this.push({ kind: 'progress', ref: p.ref, stage: p.stage });
  };
  private readonly onResult = (r: TerminalResult): void => {
    if (r.ref === this.ref) this.push(r);
  };
  /** IV carries no ref: it answers the host's latest command, which during a payment is about this ref. */
  private readonly onInvalid = (i: { message: string }): void => {
    this.push({ kind: 'result', ref: '', code: 'IV', approvalNo: '', maskedPan: '', message: i.message });
  };

  constructor(private readonly terminal: TerminalPort, readonly ref: string) {
    terminal.on('progress', this.onProgress);
    terminal.on('result', this.onResult);
    terminal.on('invalid', this.onInvalid);
  }

  push(answer: TerminalAnswer): void {
    // A repeated RSLT is the same outcome (one outcome per ref): keep the first.
    if (answer.kind === 'result' && answer.code !== 'IV') {
      if (this.resultSeen) return;
      this.resultSeen = true;
    }
    this.queue.push(answer);
    this.onAnswer?.();
  }

  take(): TerminalAnswer | undefined {
    return this.queue.shift();
  }

  close(): void {
    this.terminal.off('progress', this.onProgress as (...args: never[]) => void);
    this.terminal.off('result', this.onResult as (...args: never[]) => void);
    this.terminal.off('invalid', this.onInvalid as (...args: never[]) => void);
  }
}



function unknownOutcome(sent: boolean): Omit<LedgerChange, 'id'> {
  return {
    st: 'unknown', reconcile: true, code: 'NO_OUTCOME',
    message: sent
      ? 'the card data went upstream but the terminal gave no outcome; reconcile before charging again'
      : 'the terminal holds the card data and did not say what it did with it; reconcile before charging again',
  };
}

function providerFailure(err: unknown): Omit<LedgerChange, 'id'> {
  if (isOtcdError(err)) {
    const e = err as { code: string; message: string; resCd?: string; resMsg?: string };
    if (e.code === 'API_ERROR') {
      return { st: 'failed', code: 'API_ERROR', message: `the provider refused the OTC inquiry: ${e.resMsg ?? ''} (${e.resCd ?? ''})`, resCd: e.resCd, resMsg: e.resMsg };
    }
    return { st: 'failed', code: `PROVIDER_${e.code}`, message: `the OTC inquiry failed: ${e.message}; nothing was charged` };
  }
  return { st: 'failed', code: 'PROVIDER_ERROR', message: 'the OTC inquiry failed unexpectedly; nothing was charged' };
}

