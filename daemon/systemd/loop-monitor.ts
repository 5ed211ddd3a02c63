/**
 * Event-loop responsiveness, for the watchdog's health check.
 *
 * A tick is scheduled every `intervalMs` on the injected clock; each tick
 * measures how late it fired. The loop is healthy while the last lateness
 * and the time since the last tick both stay under `maxLagMs`. The second
 * half matters: right after a long stall the watchdog's own timer may run
 * before our tick does, and "no tick for 20 s" is the stall itself.
 *
 * Clock-driven rather than perf_hooks.monitorEventLoopDelay: the histogram
 * only says something once the loop runs again, and the clock makes the
 * monitor testable like every other timer in otcd.
 */
import { type Clock, type Timer, systemClock } from '../../drivers/clock.js';

export interface LoopMonitorOptions {
  clock?: Clock;
  /** How often to sample; 500 ms by default. */
  intervalMs?: number;
  /** Lateness beyond which the loop counts as stalled; 5 s by default. */
  maxLagMs?: number;
}

export class LoopMonitor {
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly maxLagMs: number;
  private timer: Timer | undefined;
  private expectedAt = 0;
  private lastTickAt = 0;
  private lastLag = 0;
  private worstLag = 0;

  constructor(opts: LoopMonitorOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.intervalMs = opts.intervalMs ?? 500;
    this.maxLagMs = opts.maxLagMs ?? 5_000;
    if (!(this.intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${this.intervalMs}`);
    if (!(this.maxLagMs > 0)) throw new RangeError(`maxLagMs must be > 0, got ${this.maxLagMs}`);
  }

  start(): void {
    if (this.timer) return;
    this.lastTickAt = this.clock.now();
    this.schedule();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Lateness of the last tick, in ms. */
  get lagMs(): number {
    return this.lastLag;
  }

  /** Worst lateness seen since start, in ms (for status and metrics). */
  get worstLagMs(): number {
    return this.worstLag;
  }

  /** True while the loop keeps up; always true before start(). */
  isHealthy(): boolean {
    if (!this.timer) return true;
    const sinceTick = this.clock.now() - this.lastTickAt;
    return this.lastLag < this.maxLagMs && sinceTick < this.intervalMs + this.maxLagMs;
  }

  private schedule(): void {
    this.expectedAt = this.clock.now() + this.intervalMs;
    this.timer = this.clock.setTimeout(() => this.tick(), this.intervalMs);
  }

  private tick(): void {
    const now = this.clock.now();
    this.lastLag = Math.max(0, now - this.expectedAt);
    this.worstLag = Math.max(this.worstLag, this.lastLag);
    this.lastTickAt = now;
    this.schedule();
  }
}
