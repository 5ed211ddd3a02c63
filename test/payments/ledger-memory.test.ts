/**
 * The ledger holds only open and recent payments in memory and reads older
 * ones back from the file through its fixed-size index: every record comes
 * back whole, after appends, a compaction and a reopen, and ids whose hashes
 * collide are told apart.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashId, IdIndex } from '../../daemon/payments/id-index.js';
import { Ledger, RECENT_DONE_IN_MEMORY, type LedgerOptions, type LedgerRecord } from '../../daemon/payments/ledger.js';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const DAY_MS = 24 * 3600 * 1000;

let root: string;
beforeAll(async () => {
  // tmpfs when there is one: thousands of fdatasyncs on a real disk would measure the disk.
  root = await mkdtemp(existsSync('/dev/shm') ? '/dev/shm/otcd-ledger-mem-' : join(tmpdir(), 'otcd-ledger-mem-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirs = 0;
async function openLedger(opts: Partial<LedgerOptions> & { dir?: string } = {}): Promise<Ledger> {
  const ledger = new Ledger({
    stateDir: opts.dir ?? join(root, `s${++dirs}`), logger: pino({ level: 'silent' }), retentionMs: 7 * DAY_MS,
    maxPayments: 5000, compactAfterBytes: 1 << 20, wallNow: () => T0, ...opts,
  });
  await ledger.open();
  return ledger;
}

const base = (id: string, i: number): LedgerRecord => ({ id, st: 'accepted', created: T0 + i, at: T0 + i, amount: 1000 + i, inst: 0, authHash: 'a'.repeat(32), attempt: 0 });

/** One payment as the engine writes it: accepted, inquiring, delivering, approved. */
async function pay(ledger: Ledger, id: string, i: number): Promise<void> {
  await ledger.append(base(id, i));
  await ledger.append({ id, st: 'inquiring', attempt: 1, deadline: T0 + i + 180_000 });
  await ledger.append({ id, st: 'delivering', ref: `r${i}` }, { durable: true });
  await ledger.append({ id, st: 'approved', sent: true, approvalNo: String(30_000_000 + i), maskedPan: '941012******9012', deadline: undefined });
}

describe('memory holds open and recent payments only', () => {
  test('1,000 then 3,000 payments: the same memory, and every payment comes back whole from the file', async () => {
    const ledger = await openLedger({ compactAfterBytes: 256 * 1024 });
    for (let i = 0; i < 1000; i++) await pay(ledger, `order-${i}`, i);
    const at1000 = ledger.stats;
    await ledger.append(base('running', 5000));
    for (let i = 1000; i < 3000; i++) {
      if (i === 2000) await ledger.append({ id: 'running', st: 'inquiring', attempt: 1 });
      await pay(ledger, `order-${i}`, i);
    }
    const at3000 = ledger.stats;
    expect(at1000.inMemory).toBe(RECENT_DONE_IN_MEMORY);
    expect(at3000.inMemory).toBe(RECENT_DONE_IN_MEMORY + 1); // + the open one
    expect(at3000.indexBytes).toBe(at1000.indexBytes);
    expect(at3000.payments).toBe(3001);

    const all = await ledger.readAll();
    expect(all.size).toBe(3001);
    const sample = ['order-0', 'order-1', 'order-999', 'order-1000', 'order-2500', 'order-2999', 'running'];
    const check = async (l: Ledger): Promise<void> => {
      for (const id of sample) expect(await l.find(id)).toEqual(all.get(id));
      expect(await l.find('order-3000')).toBeUndefined();
      expect(await l.find('nobody')).toBeUndefined();
    };
    await check(ledger);
    expect(ledger.peek('order-0')).toBeUndefined(); // not held: read from the file
    expect(ledger.openPayments.get('running')?.st).toBe('inquiring');

    await ledger.compact();
    await check(ledger);
    await ledger.close();
    const again = await openLedger({ dir: ledger.path.replace(/\/ledger\.jsonl$/, ''), compactAfterBytes: 256 * 1024 });
    await check(again);
    expect(again.stats.inMemory).toBe(RECENT_DONE_IN_MEMORY + 1);
    await again.close();
  });

  test('a payment dropped by retention is not found; a kept one is', async () => {
    let now = T0;
    const ledger = await openLedger({ wallNow: () => now, retentionMs: DAY_MS });
    for (let i = 0; i < 100; i++) await pay(ledger, `old-${i}`, i);
    now = T0 + 2 * DAY_MS;
    for (let i = 0; i < 100; i++) await pay(ledger, `new-${i}`, 2 * DAY_MS + i);
    await ledger.compact();
    expect(await ledger.find('old-0')).toBeUndefined();
    expect(await ledger.find('old-99')).toBeUndefined();
    expect((await ledger.find('new-0'))?.st).toBe('approved');
    await ledger.close();
  });
});

/** Two ids with the same 32-bit hash (a birthday search: about 80,000 tries). */
function collidingIds(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `c-${i}`;
    const hash = hashId(id);
    const other = seen.get(hash);
    if (other !== undefined) return [other, id];
    seen.set(hash, id);
  }
}

describe('IdIndex', () => {
  test('keeps every id and its offset when it holds more than it was sized for', () => {
    const index = new IdIndex(10);
    const before = index.bytes;
    for (let i = 0; i < 1000; i++) index.add(`id-${i}`, i * 100);
    expect(index.bytes).toBeGreaterThan(before);
    expect(index.size).toBe(1000);
    for (let i = 0; i < 1000; i++) expect(index.candidates(`id-${i}`)).toContain(i * 100);
    const falseHits = Array.from({ length: 1000 }, (_, i) => `other-${i}`).filter((id) => index.mayHave(id));
    expect(falseHits.length).toBeLessThan(5); // only 32-bit hash collisions, about 1000 * 1000 / 2^32
  });

  test('sized for the ledger bound, it does not grow up to it', () => {
    const index = new IdIndex(50_000);
    const bytes = index.bytes;
    for (let i = 0; i < 50_000; i++) index.add(`order-${i}`, i);
    expect(index.bytes).toBe(bytes);
    expect(bytes).toBeLessThan(600 * 1024);
  });
});

describe('hash collisions', () => {
  const [first, second] = collidingIds();

  test('the ids found do collide', () => {
    expect(first).not.toBe(second);
    expect(hashId(first)).toBe(hashId(second));
    const index = new IdIndex(10);
    index.add(first, 7);
    expect(index.mayHave(second)).toBe(true);
    expect(index.candidates(second)).toEqual([7]);
  });

  test('a colliding id that is not in the file is not found; both are told apart once both are', async () => {
    const ledger = await openLedger();
    await pay(ledger, first, 1);
    for (let i = 0; i < RECENT_DONE_IN_MEMORY; i++) await pay(ledger, `filler-${i}`, 10 + i); // push them out of memory
    expect(ledger.peek(first)).toBeUndefined();
    expect(await ledger.find(second)).toBeUndefined();
    await pay(ledger, second, 2);
    for (let i = 0; i < RECENT_DONE_IN_MEMORY; i++) await pay(ledger, `more-${i}`, 100 + i);
    expect((await ledger.find(first))?.amount).toBe(1001);
    expect((await ledger.find(second))?.amount).toBe(1002);
    // Replay meets the second id while the first is already in the index: it is another payment, not a change to the first.
    await ledger.close();
    const again = await openLedger({ dir: ledger.path.replace(/\/ledger\.jsonl$/, '') });
    expect((await again.find(first))?.amount).toBe(1001);
    expect((await again.find(second))?.amount).toBe(1002);
    expect(again.stats.payments).toBe(2 + 2 * RECENT_DONE_IN_MEMORY);
    await again.close();
  });
});

describe('a file otcd would not write', () => {
  test('a change to a payment after it was done is merged whole at open (compaction, then replay)', async () => {
    const ledger = await openLedger();
    await pay(ledger, 'p1', 1);
    for (let i = 0; i < RECENT_DONE_IN_MEMORY; i++) await pay(ledger, `f-${i}`, 10 + i);
    await ledger.close();
    await appendFile(ledger.path, `${JSON.stringify({ id: 'p1', message: 'noted later', at: T0 + 99 })}\n`);
    const again = await openLedger({ dir: ledger.path.replace(/\/ledger\.jsonl$/, '') });
    expect(await again.find('p1')).toMatchObject({ st: 'approved', approvalNo: '30000001', message: 'noted later', at: T0 + 99 });
    expect(again.stats.payments).toBe(1 + RECENT_DONE_IN_MEMORY);
    await again.close();
  });
});
