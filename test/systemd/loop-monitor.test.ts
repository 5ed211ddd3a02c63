import { describe, test, expect } from '@jest/globals';
import { ManualClock } from '../../drivers/clock.js';
import { LoopMonitor } from '../../daemon/systemd/loop-monitor.js';

function blockFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a synchronous stall, as a runaway computation would cause
  }
}

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
    const monitor = new LoopMonitor({ intervalMs: 20, maxLagMs: 100 });
    monitor.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(monitor.isHealthy()).toBe(true);
    blockFor(300);
    // no tick could run during the stall: the time since the last one says so
    expect(monitor.isHealthy()).toBe(false);
    await new Promise((r) => setTimeout(r, 5));
    // the first tick after the stall measured the lag
    expect(monitor.worstLagMs).toBeGreaterThanOrEqual(150);
    await new Promise((r) => setTimeout(r, 200));
    expect(monitor.isHealthy()).toBe(true);
    monitor.stop();
  });

  test('rejects nonsense options', () => {
    expect(() => new LoopMonitor({ intervalMs: 0 })).toThrow(RangeError);
    expect(() => new LoopMonitor({ maxLagMs: -1 })).toThrow(RangeError);
  });
});
