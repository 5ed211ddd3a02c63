/**
 * The card terminal's health, as the payment flow and a technician need it.
 *
 * The driver knows whether its port is open; that is not whether a terminal
 * is there. A port can open while the terminal is off, in the wrong mode, on
 * the wrong speed, or behind a serial server whose far side is unplugged. So
 * the link has three states, each with what to check:
 *
 *   down           the port is not open (device missing, connection refused);
 *   not_answering  the port is open but the terminal answers nothing;
 *   up             the port is open and the terminal answered lately.
 *
 * Supervision: a PING at once when the port opens, then every ping interval
 * while no payment runs (a payment's own frames are the terminal's answers
 * then). Any frame heard from the terminal means it answers. A PING that
 * gets no answer, asked twice, makes the state `not_answering` until the
 * terminal is heard again. Each change is logged once, at the priority it
 * deserves, with a hint that fits the transport (a serial device or tcp://).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../drivers/clock.js';
import { errorSummary } from '../../drivers/errors.js';
import { linkHint, silenceHint } from '../../drivers/transport/open-transport.js';

export type LinkState = 'up' | 'down' | 'not_answering';

/** The driver's side of it (drivers/terminal's `Terminal`). */
export interface SupervisedTerminal {
  readonly address: string;
  readonly isUp: boolean;
  readonly terminalId: string | undefined;
  ping(): Promise<unknown>;
  on(event: 'up' | 'pong' | 'progress' | 'result' | 'invalid', listener: () => void): unknown;
  on(event: 'down', listener: (reason: string) => void): unknown;
}

export interface TerminalHealthOptions {
  terminal: SupervisedTerminal;
  clock: Clock;
  logger: Logger;
  pingIntervalMs: number;
  /** True while no payment runs: only then does supervision send PING of its own. */
  mayPing: () => boolean;
}

/** Between two checks while a payment waits for the terminal. */
const WAIT_RECHECK_MS = 1000;

export class TerminalHealth extends EventEmitter<{ change: [state: LinkState] }> {
  private current: LinkState = 'down';
  private lastHeard: number | undefined;
  private pinging: Promise<boolean> | undefined;
  private timer: Timer | undefined;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly opts: TerminalHealthOptions) {
    super();
    this.log = opts.logger.child({ module: 'terminal-health' });
    const heard = (): void => this.onHeard();
    for (const event of ['pong', 'progress', 'result', 'invalid'] as const) opts.terminal.on(event, heard);
    opts.terminal.on('up', () => {
      this.set('up', 'terminal port open');
      this.schedule(0);
    });
    opts.terminal.on('down', (reason) => this.set('down', reason));
  }

  get state(): LinkState {
    return this.current;
  }

  /** What to check, for a link that is not up; undefined when it is. */
  get hint(): string | undefined {
    return this.current === 'up' ? undefined : stateHint(this.current, this.opts.terminal.address);
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /**
   * Resolves true once the terminal is up and answering (asking it with PING
   * when it has not been heard lately), false when `withinMs` passes first or
   * `signal` aborts. For a payment, before anything is inquired.
   */
  async waitAnswering(withinMs: number, signal?: AbortSignal): Promise<boolean> {
    const { clock, terminal } = this.opts;
    const until = clock.now() + withinMs;
    for (;;) {
      if (signal?.aborted) return false;
      if (this.current === 'up' && this.heardWithin(2 * this.opts.pingIntervalMs)) return true;
      if (terminal.isUp && await this.pingNow()) return true;
      const left = until - clock.now();
      if (left <= 0 || signal?.aborted) return false;
      await sleepUnless(clock, Math.min(WAIT_RECHECK_MS, left), signal);
    }
  }

  private heardWithin(ms: number): boolean {
    return this.lastHeard !== undefined && this.opts.clock.now() - this.lastHeard <= ms;
  }

  private onHeard(): void {
    this.lastHeard = this.opts.clock.now();
    if (this.current === 'not_answering') this.set('up', 'answers again');
  }

  /**
   * One PING at a time, shared by whoever asks; true when the terminal
   * answered. A PING the terminal ACKed but did not answer is asked once more
   * before the terminal counts as not answering: a terminal takes a frame
   * with the SEQ and body of the last one it had, less than T_dup ago, for a
   * retransmission and ACKs it without acting (terminal-protocol.md section
   * 4, rule 5). That happens to the first PING of an otcd restarted within
   * T_dup that drew its predecessor's SEQ (1 in 100), and "a lost PING is
   * simply asked again". The second PING has the next SEQ, so it is new.
   */
  private pingNow(): Promise<boolean> {
    const { terminal } = this.opts;
    this.pinging ??= terminal.ping().catch((err: unknown) => {
      const summary = errorSummary(err);
      if (summary.code !== 'NO_ANSWER' || !terminal.isUp) throw err;
      this.log.debug({ err: summary }, 'PING acknowledged but not answered; asking once more');
      return terminal.ping();
    }).then(
      () => true,
      (err: unknown) => {
        // A link that went down meanwhile is `down`, not `not_answering`.
        if (this.opts.terminal.isUp) this.set('not_answering', errorSummary(err).message);
        return false;
      },
    ).finally(() => { this.pinging = undefined; });
    return this.pinging;
  }

  private schedule(delayMs: number): void {
    this.timer?.cancel();
    if (this.stopped) return;
    this.timer = this.opts.clock.setTimeout(() => void this.supervise(), delayMs);
  }

  private async supervise(): Promise<void> {
    if (this.opts.mayPing() && this.opts.terminal.isUp) await this.pingNow();
    this.schedule(this.opts.pingIntervalMs);
  }

  private set(next: LinkState, why: string): void {
    if (next === this.current || this.stopped) return;
    const previous = this.current;
    this.current = next;
    const address = this.opts.terminal.address;
    if (next === 'down') {
      this.log.warn({ address, reason: why }, `terminal link on ${address} down (${why}); reconnecting. ${sentence(stateHint('down', address))}`);
    } else if (next === 'not_answering') {
      this.log.error({ address, err: why },
        `terminal on ${address} is connected but not answering; payments fail TERMINAL_UNAVAILABLE until it does. ${sentence(stateHint('not_answering', address))}`);
    } else if (previous === 'not_answering') {
      this.log.info({ address }, `terminal on ${address} answers again`);
    } else {
      this.log.info({ address }, 'terminal link up');
    }
    this.emit('change', next);
  }
}

/** What a technician should check for a link that is not up, in its transport's terms ("check ..."). */
export function stateHint(state: Exclude<LinkState, 'up'>, address: string): string {
  return state === 'down' ? linkHint(address) : silenceHint(address);
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function sleepUnless(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      timer.cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
