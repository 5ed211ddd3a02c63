/**
 * The one source of time for otcd.
 *
 * Every timer in the daemon and its drivers (T_byte, T_ack, T_dup, the
 * provider's 180-second window, the watchdog) is taken from a `Clock`, so a
 * test can drive a 180-second story in milliseconds with `ManualClock`.
 *
 * `now()` is monotonic: a wall-clock step (NTP, a technician setting the date)
 * must not shorten or stretch a payment's window. Wall time is only for
 * timestamps that people and the ledger read.
 */
export interface Timer {
  /** Cancels the timer; calling it twice is harmless. */
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for timestamps only. */
  wallNow(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

/** The real clock: `performance.now()` and Node's timers. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  wallNow(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const handle = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }
}

export const systemClock: Clock = new SystemClock();

interface PendingTimer {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. `advance(ms)` fires every timer that
 * falls due, in order, letting promise callbacks settle between timers, so
 * code under test sees the same sequence it would in real time.
 */
export class ManualClock implements Clock {
  private monotonic = 0;
  private wall: number;
  private order = 0;
  private pending: PendingTimer[] = [];

  constructor(wallStart = Date.UTC(2026, 10, 27, 10, 0, 0)) {
    this.wall = wallStart;
  }

  now(): number {
    return this.monotonic;
  }

  wallNow(): number {
    return this.wall;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const timer: PendingTimer = { at: this.monotonic + Math.max(0, ms), order: this.order++, fn, cancelled: false };
    this.pending.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Steps the wall clock alone, as NTP or a technician would. */
  stepWall(ms: number): void {
    this.wall += ms;
  }

  /** Number of timers still waiting to fire. */
  get pendingCount(): number {
    return this.pending.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const target = this.monotonic + ms;
    for (;;) {
      await settle();
      this.pending = this.pending.filter((t) => !t.cancelled);
      const next = this.pending
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!next) break;
      this.pending.splice(this.pending.indexOf(next), 1);
      this.wall += next.at - this.monotonic;
      this.monotonic = next.at;
      next.fn();
    }
    this.wall += target - this.monotonic;
    this.monotonic = target;
    await settle();
  }
}

/** Lets queued promise callbacks and immediates run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
