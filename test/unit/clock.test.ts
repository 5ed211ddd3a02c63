import { describe, expect, test } from '@jest/globals';
import { ManualClock } from '../../drivers/clock.js';

describe('ManualClock', () => {
  test('fires due timers in order and skips cancelled ones', async () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 200);
    clock.setTimeout(() => fired.push('a'), 100);
    const c = clock.setTimeout(() => fired.push('c'), 150);
    c.cancel();
    await clock.advance(150);
    expect(fired).toEqual(['a']);
    await clock.advance(50);
    expect(fired).toEqual(['a', 'b']);
    expect(clock.now()).toBe(200);
  });

  test('timers set by a firing timer fire within the same advance', async () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 10);
    }, 10);
    await clock.advance(25);
    expect(fired).toEqual([10, 20]);
  });

  test('a wall-clock step leaves the monotonic time alone', async () => {
    const clock = new ManualClock();
    const before = clock.now();
    clock.stepWall(-3_600_000);
    expect(clock.now()).toBe(before);
    const slept = clock.sleep(1000).then(() => clock.now());
    await clock.advance(1000);
    expect(await slept).toBe(before + 1000);
  });
});
