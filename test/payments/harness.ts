/**
 * In-test stand-ins for the three ports of the payment engine, and a harness
 * that runs the real engine on a real ledger (temp dir) with a ManualClock.
 *
 * The terminal behaves like drivers/terminal's `Terminal` at its edge: a RSLT
 * or PROG frame is emitted as an event *and* answers a waiting CNCL/LAST for
 * its ref; an IV answer is an `invalid` event and rejects the latest ask; a
 * CNCL/LAST with no answer rejects after the answer time on the same clock.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Clock, Timer } from '../../drivers/clock.js';
import { ManualClock } from '../../drivers/clock.js';
import { OtcdError } from '../../drivers/errors.js';
import { PaymentEngine } from '../../daemon/payments/engine.js';
import { TerminalHealth } from '../../daemon/terminal/health.js';
import { Ledger, type LedgerRecord } from '../../daemon/payments/ledger.js';
import type { IntentEvent, PayParams } from '../../daemon/payments/model.js';
import type { PaymentPolicy } from '../../daemon/payments/payment-run.js';
import type {
  KeySourcePort, OtcKeyPairPort, ProviderPort, TerminalAnswer, TerminalPort, TerminalResult, TerminalStage,
} from '../../daemon/payments/ports.js';

/** Track 2 of the first case of shared/vectors/rsa-pkcs1-java.json (a test card). */
export const TRACK2 = '9410123456789012=30121011234567890123';
export const MASKED_PAN = '941012******9012';

export const POLICY: PaymentPolicy = {
  windowMs: 180_000, sendMarginMs: 30_000, cancelMarginMs: 10_000, maxInquiries: 3,
  paymentLimitMs: 600_000, resultTimeoutMs: 60_000, answerTimeoutMs: 3_000, terminalWaitMs: 10_000,
};

export interface SentCommand {
  cmd: 'AUTH' | 'CNCL' | 'LAST' | 'VOID';
  ref: string;
  at: number;
}

interface Ask {
  cmd: 'CNCL' | 'LAST';
  ref: string;
  resolve: (a: TerminalAnswer) => void;
  reject: (err: Error) => void;
  timer: Timer;
}

type Scripted = (ref: string, terminal: FakeTerminal) => void;

export class FakeTerminal extends EventEmitter implements TerminalPort {
  isUp = true;
  readonly address = '/dev/ttyFAKE';
  readonly terminalId = 'FAKE-T01';
  /** Whether PING is answered (PONG at once); false: a terminal that is connected but silent. */
  answersPing = true;
  /** PINGs still to leave unanswered though acknowledged (a terminal that took them for retransmissions). */
  pingsTakenForDuplicates = 0;
  pings = 0;
  readonly sent: SentCommand[] = [];
  /** The Buffers handed to authorize(), by reference (to check they get zeroed). */
  readonly track2Given: Buffer[] = [];
  /** Their content at the moment the AUTH was handed over. */
  readonly track2Seen: string[] = [];
  readonly authRequests: { ref: string; amount: number; installment: number }[] = [];
  /** 'ack': authorize resolves at once; 'hold': it waits for ackAuth()/failAuth(); 'fail': it rejects. */
  authMode: 'ack' | 'hold' | 'fail' = 'ack';
  /** Scripted answers, called (asynchronously, like a serial line) after the command goes out. */
  onCancel: Scripted | undefined;
  onLast: Scripted | undefined;
  private heldAuth: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private readonly asks = new Set<Ask>();

  constructor(private readonly clock: Clock, private readonly answerTimeoutMs = POLICY.answerTimeoutMs) {
    super();
  }

  authorize(req: { ref: string; amount: number; installment: number; track2: Buffer }): Promise<void> {
    this.sent.push({ cmd: 'AUTH', ref: req.ref, at: this.clock.now() });
    this.authRequests.push({ ref: req.ref, amount: req.amount, installment: req.installment });
    this.track2Given.push(req.track2);
    this.track2Seen.push(req.track2.toString('ascii'));
    if (this.authMode === 'fail' || !this.isUp) {
      return Promise.reject(new OtcdError('LINK_FAILED', 'no ACK after 4 sends'));
    }
    if (this.authMode === 'ack') return Promise.resolve();
    return new Promise((resolve, reject) => { this.heldAuth = { resolve, reject }; });
  }

  /** The VOIDs sent, in order; 'ack' resolves at once, 'fail' rejects (no ACK). */
  readonly voidRequests: { ref: string; origRef: string; amount: number }[] = [];
  voidMode: 'ack' | 'fail' = 'ack';

  void(req: { ref: string; origRef: string; amount: number }): Promise<void> {
    this.sent.push({ cmd: 'VOID', ref: req.ref, at: this.clock.now() });
    this.voidRequests.push({ ...req });
    if (this.voidMode === 'fail' || !this.isUp) return Promise.reject(new OtcdError('LINK_FAILED', 'no ACK after 4 sends'));
    return Promise.resolve();
  }

  /** PING: not in `sent` (supervision's own traffic), counted in `pings`. */
  ping(): Promise<unknown> {
    this.pings++;
    if (!this.isUp) return Promise.reject(new OtcdError('LINK_DOWN', 'the terminal link is down'));
    const takenForDuplicate = this.pingsTakenForDuplicates > 0;
    if (takenForDuplicate) this.pingsTakenForDuplicates--;
    if (!this.answersPing || takenForDuplicate) {
      return new Promise((_resolve, reject) => {
        this.clock.setTimeout(() => reject(new OtcdError('NO_ANSWER', 'no PONG')), this.answerTimeoutMs);
      });
    }
    this.emit('pong', { terminalId: this.terminalId, state: 'IDLE' });
    return Promise.resolve({ terminalId: this.terminalId, state: 'IDLE', rttMs: 1 });
  }

  ackAuth(): void {
    this.heldAuth?.resolve();
    this.heldAuth = undefined;
  }

  failAuth(): void {
    this.heldAuth?.reject(new OtcdError('LINK_FAILED', 'no ACK after 4 sends'));
    this.heldAuth = undefined;
  }

  cancel(ref: string): Promise<TerminalAnswer> {
    return this.ask('CNCL', ref, this.onCancel);
  }

  last(ref: string): Promise<TerminalAnswer> {
    return this.ask('LAST', ref, this.onLast);
  }

  private ask(cmd: 'CNCL' | 'LAST', ref: string, script: Scripted | undefined): Promise<TerminalAnswer> {
    this.sent.push({ cmd, ref, at: this.clock.now() });
    if (!this.isUp) return Promise.reject(new OtcdError('LINK_DOWN', 'the terminal link is down'));
    return new Promise((resolve, reject) => {
      const ask: Ask = {
        cmd, ref, resolve, reject,
        timer: this.clock.setTimeout(() => {
          this.asks.delete(ask);
          reject(new OtcdError('NO_ANSWER', `no answer to ${cmd}`));
        }, this.answerTimeoutMs),
      };
      this.asks.add(ask);
      if (script) setImmediate(() => script(ref, this));
    });
  }

  /** The terminal sends PROG(ref, stage). */
  progress(ref: string, stage: TerminalStage): void {
    this.emit('progress', { ref, stage });
    this.answer(ref, { kind: 'progress', ref, stage });
  }

  /** The terminal sends RSLT(ref, code, ...). */
  result(ref: string, code: string, fields: Partial<Omit<TerminalResult, 'kind' | 'ref' | 'code'>> = {}): void {
    const result: TerminalResult = { kind: 'result', ref, code, approvalNo: '', maskedPan: '', message: '', ...fields };
    this.emit('result', result);
    this.answer(ref, result);
  }

  /** The terminal sends RSLT("", IV, ...): it answers the latest command. */
  invalid(message: string): void {
    this.emit('invalid', { message });
    const latest = [...this.asks].pop();
    if (latest) {
      this.asks.delete(latest);
      latest.timer.cancel();
      latest.reject(new OtcdError('INVALID', message));
    }
  }

  goDown(): void {
    this.isUp = false;
    this.emit('down', 'unplugged');
  }

  comeUp(): void {
    this.isUp = true;
    this.emit('up');
  }

  // EventEmitter's `off` takes `(...args: any[])`; the port is stricter.
  override off(event: string, listener: (...args: never[]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  /** Commands as `CMD ref` strings, for exact sequence checks. */
  get log(): string[] {
    return this.sent.map((c) => `${c.cmd} ${c.ref}`);
  }

  private answer(ref: string, a: TerminalAnswer): void {
    for (const ask of this.asks) {
      if (ask.ref !== ref) continue;
      this.asks.delete(ask);
      ask.timer.cancel();
      ask.resolve(a);
    }
  }
}

export interface InquiryCall {
  authorizationId: string;
  publicKeyBase64: string;
  at: number;
  deadline: number | undefined;
  signal: AbortSignal | undefined;
  answer(encOtc?: string): void;
  fail(err: Error): void;
}

export class FakeProvider implements ProviderPort {
  readonly calls: InquiryCall[] = [];
  /** When false, the inquiry ignores its abort signal (a wedged HTTP stack). */
  honoursAbort = true;

  constructor(private readonly clock: Clock) {}

  inquire(authorizationId: string, publicKeyBase64: string, opts: { deadline?: number; signal?: AbortSignal } = {}): Promise<{ encOtc: string }> {
    return new Promise((resolve, reject) => {
      const call: InquiryCall = {
        authorizationId, publicKeyBase64, at: this.clock.now(), deadline: opts.deadline, signal: opts.signal,
        answer: (encOtc = `enc-${this.calls.length}`) => resolve({ encOtc }),
        fail: (err) => reject(err),
      };
      this.calls.push(call);
      if (this.honoursAbort) {
        const onAbort = (): void => reject(new OtcdError('ABORTED', 'The OTC inquiry was cancelled by its caller'));
        if (opts.signal?.aborted) onAbort();
        else opts.signal?.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  get last(): InquiryCall {
    const call = this.calls[this.calls.length - 1];
    if (!call) throw new Error('no inquiry was made');
    return call;
  }
}

export class FakeKeyPair implements OtcKeyPairPort {
  destroyed = 0;
  decrypted: Buffer | undefined;
  constructor(readonly publicKeyBase64: string, private readonly track2: string | Error) {}

  decryptTrack2(encOtcBase64: string): Buffer {
    if (this.destroyed > 0) throw new Error('key pair used after destroy');
    if (encOtcBase64.length === 0) throw new Error('empty encOtc');
    if (this.track2 instanceof Error) throw this.track2;
    this.decrypted = Buffer.from(this.track2, 'ascii');
    return this.decrypted;
  }

  destroy(): void {
    this.destroyed++;
  }
}

export class FakeKeys implements KeySourcePort {
  readonly handedOut: FakeKeyPair[] = [];
  track2: string | Error = TRACK2;
  get readyCount(): number {
    return 2;
  }

  async take(): Promise<FakeKeyPair> {
    const pair = new FakeKeyPair(`pk-${this.handedOut.length + 1}`, this.track2);
    this.handedOut.push(pair);
    return pair;
  }
}

export function allZero(buf: Buffer): boolean {
  return buf.length > 0 && buf.every((b) => b === 0);
}

export const PAY: PayParams = { intentId: 'order-8812', authorizationId: 'A1B2C3D4', amount: 12000, installment: 0 };

export interface Harness {
  clock: ManualClock;
  terminal: FakeTerminal;
  provider: FakeProvider;
  keys: FakeKeys;
  ledger: Ledger;
  engine: PaymentEngine;
  dir: string;
  events: IntentEvent[];
  /** Collects a listener's events. */
  listen(into?: IntentEvent[]): (e: IntentEvent) => void;
  /** Lets every ledger write and the code after it run; the clock does not move. */
  drain(): Promise<void>;
  /** Moves the monotonic clock to `ms` (since the start), then drains. */
  at(ms: number): Promise<void>;
  record(id?: string): LedgerRecord;
  /** What the engine logged at warn and above, as parsed JSON lines. */
  warnings: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function makeHarness(opts: {
  policy?: Partial<PaymentPolicy>;
  dir?: string;
  prepare?: (ledger: Ledger) => Promise<void>;
} = {}): Promise<Harness> {
  const clock = new ManualClock();
  const dir = opts.dir ?? await mkdtemp(join(tmpdir(), 'otcd-pay-'));
  const warnings: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
  const ledger = new Ledger({
    stateDir: dir, logger, retentionMs: 7 * 24 * 3_600_000, maxPayments: 1000, compactAfterBytes: 1 << 20,
    wallNow: () => clock.wallNow(),
  });
  await ledger.open();
  if (opts.prepare) {
    await opts.prepare(ledger);
    await ledger.flush();
  }
  const policy = { ...POLICY, ...opts.policy };
  const terminal = new FakeTerminal(clock, policy.answerTimeoutMs);
  const provider = new FakeProvider(clock);
  const keys = new FakeKeys();
  const terminalHealth = new TerminalHealth({ terminal, clock, logger, pingIntervalMs: 15_000, mayPing: () => engine.idle });
  const engine: PaymentEngine = new PaymentEngine({
    ledger, terminal, terminalHealth, provider, keys, clock, logger, policy, reconcileIntervalMs: 60_000,
    health: () => ({
      version: 'test', uptimeS: 0,
      terminal: { link: terminal.isUp ? 'up' : 'down', address: 'fake', counters: {} },
      provider: { baseUrl: 'https://fake' }, keys: { ready: keys.readyCount },
    }),
  });
  const events: IntentEvent[] = [];
  const drain = async (): Promise<void> => {
    let previous = '';
    for (let round = 0; round < 200; round++) {
      await ledger.flush();
      await new Promise<void>((resolve) => setImmediate(resolve));
      const mark = `${ledger.stats.bytesWritten}/${events.length}/${terminal.sent.length}/${provider.calls.length}`;
      if (mark === previous) return;
      previous = mark;
    }
  };
  const start = clock.now();
  return {
    clock, terminal, provider, keys, ledger, engine, dir, events, warnings,
    listen: (into = events) => (e) => { into.push(e); },
    drain,
    at: async (ms) => {
      const target = start + ms;
      if (target < clock.now()) throw new Error(`the clock is already at ${clock.now() - start} ms, past ${ms} ms`);
      await clock.advance(target - clock.now());
      await drain();
    },
    record: (id = PAY.intentId) => {
      const r = ledger.peek(id);
      if (!r) throw new Error(`no record ${id}`);
      return r;
    },
    close: async () => {
      // shutdown's grace timer is on the ManualClock: move it to let the call end.
      const stopped = engine.shutdown(0).catch(() => undefined);
      await clock.advance(0);
      await stopped;
      await ledger.close();
      if (!opts.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** States of the events, in order. */
export function states(events: IntentEvent[]): string[] {
  return events.map((e) => e.state);
}
