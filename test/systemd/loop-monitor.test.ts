import { describe, test, expect } from '@jest/globals';
import { ManualClock, type Clock } from '../../drivers/clock.js';
import { LoopMonitor } from '../../daemon/systemd/loop-monitor.js';

describe('LoopMonitor', () => {
  test('healthy before start and while ticks arrive on time', async () => {
    const clock = new ManualClock();
    const monitor = new LoopMonitor({ clock, intervalMs: 500, maxLagMs: 2_000 });
    expect(monitor.isHealthy()).toBe(true);
    monitor.start();
    await clock.advance(10_000);
    expect(monitor.isHealthy()).toBe(true);
    expect(monitor.lagMs).toBe(0);
    monitor.stop();
  });

  test('a stalled loop is unhealthy at once, and healthy again once ticks are on time', async () => {
    // A stall, on the injected clock: time goes on (now() moves) while no
    // timer can fire, then the overdue tick fires late. (It was a real 300 ms
    // busy-wait against a 100 ms bound, which a busy CI machine broke.)
    const base = new ManualClock();
    let stalledMs = 0;
    const clock: Clock = {
      now: () => base.now() + stalledMs,
      wallNow: () => base.wallNow() + stalledMs,
      setTimeout: (fn, ms) => base.setTimeout(fn, ms),
      sleep: (ms) => base.sleep(ms),
    };
    const monitor = new LoopMonitor({ clock, intervalMs: 20, maxLagMs: 100 });
    monitor.start();
    await base.advance(100);
    expect(monitor.isHealthy()).toBe(true);
    stalledMs += 300;
    // no tick could run during the stall: the time since the last one says so
    expect(monitor.isHealthy()).toBe(false);
    await base.advance(20);
    // the first tick after the stall measured the lag
    expect(monitor.worstLagMs).toBeGreaterThanOrEqual(280);
    expect(monitor.isHealthy()).toBe(false);
    await base.advance(200);
    expect(monitor.lagMs).toBe(0);
    expect(monitor.isHealthy()).toBe(true);
    monitor.stop();
  });

  test('rejects nonsense options', () => {
    expect(() => new LoopMonitor({ intervalMs: 0 })).toThrow(RangeError);
    expect(() => new LoopMonitor({ maxLagMs: -1 })).toThrow(RangeError);
  });
});
