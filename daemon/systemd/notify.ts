/**
 * sd_notify(3) for a Node daemon: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.
 *
 * Mechanism: every message is one run of the `systemd-notify` command
 * (systemd's own client, present wherever systemd is), with the assignments
 * as arguments. Why this one:
 * - Node cannot open an AF_UNIX datagram socket (`dgram` is UDP only, `net`
 *   is streams only), so some other process has to send; a native addon
 *   would need a compiler on the kiosk, and a Perl/Python relay is a runtime
 *   the kiosk image may not have and a second long-lived process to supervise.
 * - `systemd-notify` waits on a barrier until the manager has read the
 *   message, so the short-lived sender cannot exit before systemd resolved
 *   its PID to our unit (the classic race of a one-shot sender), and the
 *   next message is only sent after the previous one was processed: READY=1
 *   strictly precedes the STATUS= that follows it.
 * - The cost: the sender's PID is not the main PID, so the unit needs
 *   NotifyAccess=all (otcd.service has it). The only processes in otcd's
 *   cgroup are the daemon and these children, so nothing else can speak for
 *   it. MAINPID= is never sent: systemd tracks node itself as the main PID.
 * One spawn per message costs a few milliseconds; the busiest sender, the
 * watchdog, runs every WatchdogSec/3 (10 s by default).
 *
 * Messages are serialised: one `systemd-notify` at a time, FIFO. A pending
 * STATUS= is replaced by a newer one (only the latest is worth sending) and
 * at most one WATCHDOG=1 waits. A run that hangs (manager busy, barrier never
 * released) is killed after `sendTimeoutMs`, logged, and the queue moves on:
 * nothing here ever blocks the daemon. No promise returned here rejects.
 *
 * Outside systemd (no NOTIFY_SOCKET) every method returns at once and spawns
 * nothing.
 */
import { spawn } from 'node:child_process';
import pino, { type Logger } from 'pino';
import { type Clock, type Timer, systemClock } from '../../drivers/clock.js';

/** Upper bound for one message; systemd-notify's own barrier timeout is 5 s. */
const DEFAULT_SEND_TIMEOUT_MS = 6_000;
/** STATUS= is a one-line summary for `systemctl status`; keep it short. */
const MAX_STATUS_LENGTH = 200;
/** systemd asks for a ping at least every WATCHDOG_USEC; we ping at a third. */
const WATCHDOG_FRACTION = 3;

type MessageKind = 'ready' | 'status' | 'watchdog' | 'stopping';

interface Message {
  kind: MessageKind;
  assignments: string[];
  done: () => void;
}

export interface SystemdNotifierOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  clock?: Clock;
  /** The sender program; `systemd-notify` on PATH by default. */
  command?: string;
  sendTimeoutMs?: number;
  /** Our PID, compared with WATCHDOG_PID; process.pid by default. */
  pid?: number;
}

/** One line, printable, bounded: a newline would start another assignment. */
export function sanitizeStatus(text: string): string {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > MAX_STATUS_LENGTH ? `${line.slice(0, MAX_STATUS_LENGTH - 1)}…` : line;
}

export class SystemdNotifier {
  private readonly notifySocket: string | undefined;
  private readonly watchdogMs: number | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly command: string;
  private readonly sendTimeoutMs: number;
  private readonly queue: Message[] = [];
  private sending = false;
  private watchdogTimer: Timer | undefined;
  private healthy = true;
  private stopped = false;
  private failureLogged = false;
  private idleWaiters: Array<() => void> = [];

  constructor(opts: SystemdNotifierOptions = {}) {
    const env = opts.env ?? process.env;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'systemd' });
    this.clock = opts.clock ?? systemClock;
    this.command = opts.command ?? 'systemd-notify';
    this.sendTimeoutMs = opts.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.notifySocket = env.NOTIFY_SOCKET || undefined;
    this.watchdogMs = this.notifySocket ? watchdogInterval(env, opts.pid ?? process.pid) : undefined;
  }

  /** True when systemd asked for notifications (NOTIFY_SOCKET is set). */
  get enabled(): boolean {
    return this.notifySocket !== undefined;
  }

  /** WATCHDOG_USEC / 3 in ms, when the watchdog is meant for this process. */
  get watchdogIntervalMs(): number | undefined {
    return this.watchdogMs;
  }

  /** READY=1 with a STATUS= line; resolves once sent (or given up on). */
  ready(status: string): Promise<void> {
    return this.enqueue('ready', ['READY=1', `STATUS=${sanitizeStatus(status)}`]);
  }

  /** Updates STATUS=; a status still waiting in the queue is replaced. */
  status(text: string): void {
    if (!this.enabled) return;
    const assignment = `STATUS=${sanitizeStatus(text)}`;
    const pending = this.queue.find((m) => m.kind === 'status');
    if (pending) {
      pending.assignments = [assignment];
      return;
    }
    void this.enqueue('status', [assignment]);
  }

  /** STOPPING=1 (and a last STATUS=); resolves once sent (or given up on). */
  stopping(status = 'Stopping'): Promise<void> {
    return this.enqueue('stopping', ['STOPPING=1', `STATUS=${sanitizeStatus(status)}`]);
  }

  /**
   * Pings WATCHDOG=1 every watchdogIntervalMs while `isHealthy()` says so.
   * When it does not, the ping is withheld (so systemd restarts a daemon that
   * stays unhealthy) and that is logged once, until health returns.
   */
  startWatchdog(isHealthy: () => boolean): void {
    const interval = this.watchdogMs;
    if (interval === undefined || this.stopped || this.watchdogTimer) return;
    const tick = (): void => {
      if (this.stopped) return;
      let ok: boolean;
      try {
        ok = isHealthy();
      } catch (err) {
        ok = false;
        this.log.error({ err }, 'watchdog health check threw; withholding the watchdog ping');
      }
      if (ok) {
        if (!this.healthy) this.log.warn('daemon healthy again; watchdog pings resumed');
        this.healthy = true;
        if (!this.queue.some((m) => m.kind === 'watchdog')) void this.enqueue('watchdog', ['WATCHDOG=1']);
      } else if (this.healthy) {
        this.healthy = false;
        this.log.error(
          { watchdogIntervalMs: interval },
          'daemon unhealthy (event loop stalled or a payment past its deadline); withholding watchdog pings, systemd will restart otcd if this persists',
        );
      }
      this.watchdogTimer = this.clock.setTimeout(tick, interval);
    };
    this.watchdogTimer = this.clock.setTimeout(tick, 0);
  }

  /** Stops the watchdog; messages already queued are still delivered. */
  stop(): void {
    this.stopped = true;
    this.watchdogTimer?.cancel();
    this.watchdogTimer = undefined;
  }

  /** Resolves when every queued message has been sent (or given up on). */
  idle(): Promise<void> {
    if (!this.sending && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(kind: MessageKind, assignments: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return new Promise((resolve) => {
      this.queue.push({ kind, assignments, done: resolve });
      this.pump();
    });
  }

  private pump(): void {
    if (this.sending) return;
    const message = this.queue.shift();
    if (!message) {
      const waiting = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiting) resolve();
      return;
    }
    this.sending = true;
    void this.send(message).then(() => {
      this.sending = false;
      message.done();
      this.pump();
    });
  }

  private send(message: Message): Promise<void> {
    return new Promise((resolve) => {
      let settled = false;
      let stderr = '';
      const finish = (problem?: string): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        if (problem) this.reportFailure(message.kind, problem);
        else this.failureLogged = false;
        resolve();
      };
      // Only what systemd-notify needs: WATCHDOG_PID and friends are ours.
      const child = spawn(this.command, message.assignments, {
        env: { NOTIFY_SOCKET: this.notifySocket, PATH: process.env.PATH ?? '/usr/bin:/bin' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const timer = this.clock.setTimeout(() => {
        child.kill('SIGKILL');
        finish(`no answer from ${this.command} within ${this.sendTimeoutMs} ms`);
      }, this.sendTimeoutMs);
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        if (stderr.length < 500) stderr += chunk;
      });
      child.on('error', (err) => finish(`cannot run ${this.command}: ${err.message}`));
      child.on('close', (code, signal) => {
        if (code === 0) finish();
        else finish(`${this.command} failed (${signal ?? `exit ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`);
      });
    });
  }

  /** A failing sender is logged once per run of failures, not every ping. */
  private reportFailure(kind: MessageKind, problem: string): void {
    if (this.failureLogged && kind === 'watchdog') return;
    this.failureLogged = true;
    this.log.warn({ message: kind }, `systemd notification not delivered: ${problem}`);
  }
}

function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID names the process the watchdog is meant for; a child that
  // inherited our environment must not ping on our behalf.
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 1000 / WATCHDOG_FRACTION));
}
