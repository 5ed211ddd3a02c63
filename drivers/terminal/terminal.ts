/**
 * The card terminal as the daemon sees it: one object per configured
 * terminal, keeping its port open (reopening with backoff after a loss),
 * sending commands through the link and turning the terminal's frames into
 * answers and events.
 *
 * Layers (zigbee-herdsman's unpi/znp/adapter split):
 *   transport/  bytes in and out of a serial port or a TCP socket
 *   ecr1/frame*, ecr1/link  frames, ACK/NAK, retries, duplicates
 *   ecr1/messages (a Dialect)  bodies <-> messages
 *   terminal/   this file: requests, answers, events, reconnection
 *
 * Card data: only an AUTH carries it (a VOID names the approval by its ref). An AUTH body is built straight from the caller's track-2 Buffer
 * and zeroed by the link when its exchange ends. Log lines name the command,
 * SEQ, ref and length only.
 */
import { EventEmitter } from 'node:events';
import pino, { type Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { openTransport, BAUD_RATES, DEFAULT_BAUD_RATE, type ByteTransport } from '../transport/open-transport.js';
import { isOtcdError } from '../errors.js';
import { Link, type LinkCounters, type LinkOptions } from '../ecr1/link.js';
import { ecr1Dialect } from '../ecr1/messages.js';
import { RESULT_INVALID, type Dialect, type HostMessage, type ProgressStage, type TerminalMessage, type TerminalState } from '../ecr1/dialect.js';
import { LinkError, TerminalError } from '../ecr1/errors.js';

export { LinkError, TerminalError, MessageError } from '../ecr1/errors.js';
export type { LinkCounters } from '../ecr1/link.js';
export type { Dialect, HostMessage, TerminalMessage } from '../ecr1/dialect.js';
export { ecr1Dialect } from '../ecr1/messages.js';

export interface TerminalOptions {
  /** '/dev/ttyUSB0', '/dev/serial/by-id/..', a pty link, or 'tcp://127.0.0.1:4001' */
  address: string;
  /** 9600|19200|38400|57600|115200, default 115200 (ignored for tcp://). */
  baudRate?: number;
  /** Link timings, and `firstSeq` (random by default; fixed by tests of a restart). */
  link?: Omit<LinkOptions, 'clock' | 'logger'>;
  /** Wait for PONG / the first answer to CNCL or LAST after its ACK; default 3000. */
  answerTimeoutMs?: number;
  /** Reopen backoff after a loss or a failed open; default 500 .. 10000 ms, doubling. */
  reconnect?: { initialMs: number; maxMs: number };
  clock?: Clock;
  logger?: Logger;
  dialect?: Dialect;
}

export type TerminalAnswer =
  | { kind: 'progress'; ref: string; stage: ProgressStage }
  | { kind: 'result'; ref: string; code: string; approvalNo: string; maskedPan: string; message: string };

export type TerminalResult = Extract<TerminalAnswer, { kind: 'result' }>;

export interface TerminalCounters extends LinkCounters {
  /** Intact frames whose body the dialect could not read (ACKed, then dropped). */
  badMessages: number;
}

export interface TerminalEvents {
  up: [];
  down: [reason: string];
  progress: [p: { ref: string; stage: ProgressStage }];
  result: [r: TerminalResult];
  invalid: [iv: { message: string }];
  pong: [p: { terminalId: string; state: TerminalState }];
}

export const TERMINAL_DEFAULTS = Object.freeze({
  answerTimeoutMs: 3000,
  reconnect: Object.freeze({ initialMs: 500, maxMs: 10_000 }),
});

type Waiter =
  | { kind: 'pong'; cmdId: number; startedAt: number; timer: Timer; resolve: (p: { terminalId: string; state: TerminalState; rttMs: number }) => void; reject: (e: Error) => void }
  | { kind: 'answer'; cmdId: number; ref: string; timer: Timer; resolve: (a: TerminalAnswer) => void; reject: (e: Error) => void };

/** A run of 12+ digits in a terminal's free text could be a PAN: mask it. */
function scrubPan(text: string): string {
  return text.replace(/\d{12,}/g, (run) => '*'.repeat(run.length));
}

export class Terminal extends EventEmitter<TerminalEvents> {
  readonly address: string;
  private readonly baudRate: number;
  private readonly answerTimeoutMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly dialect: Dialect;
  private readonly link: Link;
  private transport: ByteTransport | undefined;
  private started = false;
  private stopped = false;
  private downReported = false;
  private nextDelayMs: number;
  private reopenTimer: Timer | undefined;
  private readonly waiters = new Set<Waiter>();
  private commandCount = 0;
  /** The last command the terminal ACKed: an IV answer belongs to it. */
  private latestAcked = 0;
  private badMessages = 0;
  private lastTerminalId: string | undefined;
  private lastPongWall: number | undefined;

  constructor(opts: TerminalOptions) {
    super();
    if (typeof opts.address !== 'string' || opts.address.length === 0) throw new TypeError('address must be a device path or tcp://host:port');
    const baudRate = opts.baudRate ?? DEFAULT_BAUD_RATE;
    if (!(BAUD_RATES as readonly number[]).includes(baudRate)) throw new TypeError(`baudRate must be one of ${BAUD_RATES.join(', ')}, got ${baudRate}`);
    const answerTimeoutMs = opts.answerTimeoutMs ?? TERMINAL_DEFAULTS.answerTimeoutMs;
    if (!Number.isFinite(answerTimeoutMs) || answerTimeoutMs <= 0) throw new TypeError(`answerTimeoutMs must be a positive number, got ${answerTimeoutMs}`);
    const backoff = opts.reconnect ?? TERMINAL_DEFAULTS.reconnect;
    if (!(backoff.initialMs > 0) || !(backoff.maxMs >= backoff.initialMs)) throw new TypeError('reconnect needs 0 < initialMs <= maxMs');
    this.address = opts.address;
    this.baudRate = baudRate;
    this.answerTimeoutMs = answerTimeoutMs;
    this.backoff = { initialMs: backoff.initialMs, maxMs: backoff.maxMs };
    this.nextDelayMs = backoff.initialMs;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'terminal', address: opts.address });
    this.dialect = opts.dialect ?? ecr1Dialect;
    this.link = new Link({ ...opts.link, clock: this.clock, logger: opts.logger ?? pino({ level: 'silent' }) });
    this.link.on('frame', (body) => this.onBody(body));
  }

  get isUp(): boolean {
    return this.transport !== undefined && this.transport.isOpen;
  }

  get terminalId(): string | undefined {
    return this.lastTerminalId;
  }

  get lastPongAt(): number | undefined {
    return this.lastPongWall;
  }

  counters(): TerminalCounters {
    return { ...this.link.counters(), badMessages: this.badMessages };
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    void this.open();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.reopenTimer?.cancel();
    this.reopenTimer = undefined;
    this.link.close();
    this.rejectWaiters(() => new LinkError('LINK_CLOSED', 'terminal driver stopped'));
    const t = this.transport;
    this.transport = undefined;
    if (t) {
      await t.close();
      this.emit('down', 'stopped');
    }
  }

  ping(): Promise<{ terminalId: string; state: TerminalState; rttMs: number }> {
    const startedAt = this.clock.now();
    return new Promise((resolve, reject) => {
      const cmdId = ++this.commandCount;
      this.send({ cmd: 'PING' }, 'PING', cmdId, () => {
        const waiter: Waiter = {
          kind: 'pong',
          cmdId,
          startedAt,
          resolve,
          reject,
          timer: this.clock.setTimeout(() => this.noAnswer(waiter, 'PONG'), this.answerTimeoutMs),
        };
        this.waiters.add(waiter);
      }).catch(reject);
    });
  }

  authorize(req: { ref: string; amount: number; installment: number; track2: Buffer }): Promise<void> {
    const cmdId = ++this.commandCount;
    return this.send({ cmd: 'AUTH', ref: req.ref, amount: req.amount, installment: req.installment, track2: req.track2 }, `AUTH ref=${req.ref}`, cmdId, () => {
      this.log.info({ cmd: 'AUTH', ref: req.ref }, 'AUTH acknowledged by terminal');
    });
  }

  /**
   * Sends VOID (section 6a): reverse the approval of the AUTH `origRef`.
   * Resolves once the terminal ACKed the frame; the outcome comes as a
   * `result` event for `ref` (or through `last(ref)`). No card data is sent.
   */
  void(req: { ref: string; origRef: string; amount: number }): Promise<void> {
    const cmdId = ++this.commandCount;
    return this.send({ cmd: 'VOID', ref: req.ref, origRef: req.origRef, amount: req.amount }, `VOID ref=${req.ref}`, cmdId, () => {
      this.log.info({ cmd: 'VOID', ref: req.ref, origRef: req.origRef }, 'VOID acknowledged by terminal');
    });
  }

  cancel(ref: string): Promise<TerminalAnswer> {
    return this.ask({ cmd: 'CNCL', ref });
  }

  last(ref: string): Promise<TerminalAnswer> {
    return this.ask({ cmd: 'LAST', ref });
  }

  private ask(msg: { cmd: 'CNCL' | 'LAST'; ref: string }): Promise<TerminalAnswer> {
    return new Promise((resolve, reject) => {
      const cmdId = ++this.commandCount;
      this.send(msg, `${msg.cmd} ref=${msg.ref}`, cmdId, () => {
        const waiter: Waiter = {
          kind: 'answer',
          cmdId,
          ref: msg.ref,
          resolve,
          reject,
          timer: this.clock.setTimeout(() => this.noAnswer(waiter, `an answer to ${msg.cmd}`), this.answerTimeoutMs),
        };
        this.waiters.add(waiter);
      }).catch(reject);
    });
  }

  private send(msg: HostMessage, label: string, cmdId: number, onAcked: () => void): Promise<void> {
    return this.link.send((seq) => this.dialect.encode(msg, seq), {
      label,
      onAcked: () => {
        this.latestAcked = cmdId;
        onAcked();
      },
    });
  }

  private noAnswer(waiter: Waiter, what: string): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.reject(new TerminalError('NO_ANSWER', `terminal acknowledged but sent no ${what} within ${this.answerTimeoutMs} ms`));
  }

  private rejectWaiters(makeError: () => Error): void {
    for (const w of this.waiters) {
      w.timer.cancel();
      w.reject(makeError());
    }
    this.waiters.clear();
  }

  private onBody(body: Buffer): void {
    let msg: TerminalMessage;
    try {
      msg = this.dialect.decode(body);
    } catch (err) {
      this.badMessages++;
      this.log.warn({ bytes: body.length, code: isOtcdError(err) ? err.code : undefined, err: err instanceof Error ? err.message : String(err) }, 'unreadable message from terminal dropped');
      return;
    }
    switch (msg.cmd) {
      case 'PONG':
        this.onPong(msg.terminalId, msg.state);
        return;
      case 'PROG':
        this.log.info({ cmd: 'PROG', ref: msg.ref, stage: msg.stage }, 'progress');
        this.emit('progress', { ref: msg.ref, stage: msg.stage });
        this.answer(msg.ref, { kind: 'progress', ref: msg.ref, stage: msg.stage });
        return;
      case 'RSLT':
        if (msg.code === RESULT_INVALID) {
          this.onInvalid(scrubPan(msg.message));
          return;
        }
        this.log.info({ cmd: 'RSLT', ref: msg.ref, code: msg.code }, 'result');
        {
          const result: TerminalResult = { kind: 'result', ref: msg.ref, code: msg.code, approvalNo: msg.approvalNo, maskedPan: msg.maskedPan, message: scrubPan(msg.message) };
          this.emit('result', result);
          this.answer(msg.ref, result);
        }
        return;
    }
  }

  private onPong(terminalId: string, state: TerminalState): void {
    this.lastTerminalId = terminalId;
    this.lastPongWall = this.clock.wallNow();
    this.emit('pong', { terminalId, state });
    for (const w of this.waiters) {
      if (w.kind !== 'pong') continue;
      this.waiters.delete(w);
      w.timer.cancel();
      w.resolve({ terminalId, state, rttMs: this.clock.now() - w.startedAt });
      return; // one PONG answers one PING
    }
  }

  private answer(ref: string, a: TerminalAnswer): void {
    for (const w of this.waiters) {
      if (w.kind !== 'answer' || w.ref !== ref) continue;
      this.waiters.delete(w);
      w.timer.cancel();
      w.resolve(a);
    }
  }

  /** `RSLT("", IV, ...)` answers the host's latest command, whatever it was. */
  private onInvalid(message: string): void {
    this.log.warn({ cmd: 'RSLT', code: RESULT_INVALID, message }, 'terminal found the last command not valid');
    this.emit('invalid', { message });
    for (const w of this.waiters) {
      if (w.cmdId !== this.latestAcked) continue;
      this.waiters.delete(w);
      w.timer.cancel();
      w.reject(new TerminalError('INVALID', `terminal refused the command as not valid: ${message}`));
    }
  }

  private async open(): Promise<void> {
    this.reopenTimer = undefined;
    if (this.stopped) return;
    let t: ByteTransport;
    try {
      t = await openTransport(this.address, { baudRate: this.baudRate, clock: this.clock });
    } catch (err) {
      if (this.stopped) return;
      const reason = err instanceof Error ? err.message : String(err);
      // ENOENT while a link is missing is "still down", not news.
      if (!this.downReported) {
        this.downReported = true;
        this.log.warn({ reason }, 'terminal port not open');
        this.emit('down', reason);
      } else {
        this.log.debug({ reason }, 'terminal port still not open');
      }
      this.scheduleOpen();
      return;
    }
    if (this.stopped) {
      await t.close();
      return;
    }
    this.transport = t;
    this.nextDelayMs = this.backoff.initialMs;
    this.downReported = false;
    this.link.attach(t);
    t.on('close', (reason) => this.onLost(t, reason));
    this.log.info('terminal port open');
    this.emit('up');
    if (!t.isOpen) this.onLost(t, 'closed while opening');
  }

  private onLost(t: ByteTransport, reason: string): void {
    if (this.transport !== t) return;
    this.transport = undefined;
    this.link.detach(reason);
    this.rejectWaiters(() => new LinkError('LINK_DOWN', `terminal link lost (${reason}) before the answer came`));
    this.downReported = true;
    this.log.warn({ reason }, 'terminal port lost');
    this.emit('down', reason);
    void t.close();
    this.scheduleOpen();
  }

  private scheduleOpen(): void {
    if (this.stopped || this.reopenTimer) return;
    const delay = this.nextDelayMs;
    this.nextDelayMs = Math.min(this.nextDelayMs * 2, this.backoff.maxMs);
    this.reopenTimer = this.clock.setTimeout(() => void this.open(), delay);
  }
}
