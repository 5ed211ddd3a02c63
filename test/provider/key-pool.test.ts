import { describe, expect, test } from '@jest/globals';
import { ManualClock } from '../../drivers/clock.js';
import { KeyPool, SPKI_BASE64_CHARS, type OtcKeyPair } from '../../daemon/provider/index.js';

async function until(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A fake key pair: the pool's logic does not depend on what a key is. */
function fakeKey(id: number, destroyed: number[]): OtcKeyPair {
  return {
    publicKeyBase64: `key-${id}`,
    decryptTrack2: () => Buffer.alloc(0),
    destroy: () => destroyed.push(id),
  };
}

describe('KeyPool with real RSA keys', () => {
  test('fills in the background, hands out distinct keys, refills after each take', async () => {
    const pool = new KeyPool({ size: 2 });
    pool.start();
    try {
      await until(() => pool.readyCount === 2);
      const a = await pool.take();
      expect(pool.readyCount).toBe(1);
      const b = await pool.take();
      const c = await pool.take(); // pool was empty: waits for a generation
      const keys = [a, b, c].map((k) => k.publicKeyBase64);
      expect(new Set(keys).size).toBe(3);
      for (const k of keys) expect(k).toHaveLength(SPKI_BASE64_CHARS);
      await until(() => pool.readyCount === 2);
      for (const k of [a, b, c]) k.destroy();
    } finally {
      pool.stop();
    }
  });
});

describe('KeyPool logic', () => {
  test('take() is instant when warm and never waits behind a refill', async () => {
    const destroyed: number[] = [];
    let n = 0;
    const releases: Array<() => void> = [];
    const pool = new KeyPool({
      size: 1,
      generate: () => new Promise<OtcKeyPair>((resolve) => releases.push(() => resolve(fakeKey(++n, destroyed)))),
    });
    pool.start();
    releases.shift()!();
    await until(() => pool.readyCount === 1);
    const first = await pool.take();
    expect(first.publicKeyBase64).toBe('key-1');
    expect(releases).toHaveLength(1); // refill started in the background
    const second = pool.take();
    releases.shift()!();
    expect((await second).publicKeyBase64).toBe('key-2');
    pool.stop();
  });

  test('a failed generation is retried after the delay, on the injected clock', async () => {
    const clock = new ManualClock();
    const destroyed: number[] = [];
    let calls = 0;
    const pool = new KeyPool({
      size: 1,
      clock,
      retryDelayMs: 1000,
      generate: async () => {
        calls++;
        if (calls === 1) throw new Error('entropy hiccup');
        return fakeKey(calls, destroyed);
      },
    });
    const taken = pool.take();
    await clock.advance(0);
    expect(calls).toBe(1);
    await clock.advance(999);
    expect(calls).toBe(1);
    await clock.advance(1);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect((await taken).publicKeyBase64).toBe('key-2');
    pool.stop();
  });

  test('stop() destroys ready keys and fails waiting takes', async () => {
    const destroyed: number[] = [];
    let n = 0;
    const pool = new KeyPool({ size: 2, generate: async () => fakeKey(++n, destroyed) });
    pool.start();
    await until(() => pool.readyCount === 2);
    pool.stop();
    expect(destroyed.sort()).toEqual([1, 2]);
    const never = new KeyPool({ size: 1, generate: () => new Promise<OtcKeyPair>(() => undefined) });
    const waiting = never.take();
    never.stop();
    await expect(waiting).rejects.toMatchObject({ code: 'KEYPOOL_STOPPED' });
  });
});

describe('KeyPool readiness listeners', () => {
  test('told of every key pair made ready and every one taken, not of one handed straight to a waiter', async () => {
    const destroyed: number[] = [];
    let n = 0;
    const releases: Array<() => void> = [];
    const pool = new KeyPool({
      size: 1,
      generate: () => new Promise<OtcKeyPair>((resolve) => releases.push(() => resolve(fakeKey(++n, destroyed)))),
    });
    const seen: number[] = [];
    pool.onReadyChange((ready) => seen.push(ready));
    pool.start();
    try {
      releases.shift()?.();
      await until(() => pool.readyCount === 1);
      expect(seen).toEqual([1]);
      await pool.take();
      expect(seen).toEqual([1, 0]);
      const waiting = pool.take(); // empty: waits for the refill under way, which goes to it
      releases.shift()?.();
      await waiting;
      expect(seen).toEqual([1, 0]);
      releases.shift()?.();
      await until(() => pool.readyCount === 1);
      expect(seen).toEqual([1, 0, 1]);
    } finally {
      pool.stop();
    }
  });
});
