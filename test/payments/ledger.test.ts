/**
 * The payment ledger on real files: replay, torn lines, compaction, retention,
 * the size bound, durability and a full disk (a small tmpfs, mounted here as
 * root: permission bits do not stop root, a full file system does).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { LEDGER_FILE, Ledger, LedgerError, type LedgerOptions, type LedgerRecord } from '../../daemon/payments/ledger.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'otcd-ledger-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const open: Ledger[] = [];
afterEach(async () => {
  for (const ledger of open.splice(0)) await ledger.close().catch(() => undefined);
});

let dirCount = 0;
async function freshDir(base = root): Promise<string> {
  const dir = join(base, `state-${++dirCount}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** A wall clock the test moves. */
function wall(start = T0): { now: () => number; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, set: (ms) => { t = ms; } };
}

async function openLedger(stateDir: string, opts: Partial<LedgerOptions> = {}): Promise<Ledger> {
  const ledger = new Ledger({
    stateDir, logger: pino({ level: 'silent' }), retentionMs: 7 * DAY_MS, maxPayments: 1000,
    compactAfterBytes: 1 << 20, wallNow: () => T0, ...opts,
  });
  open.push(ledger);
  await ledger.open();
  return ledger;
}

async function reopen(ledger: Ledger, opts: Partial<LedgerOptions> = {}): Promise<Ledger> {
  await ledger.close();
  return openLedger(dirOf(ledger), opts);
}

function dirOf(ledger: Ledger): string {
  return ledger.path.slice(0, -LEDGER_FILE.length - 1);
}

async function snapshot(ledger: Ledger): Promise<Record<string, LedgerRecord>> {
  // JSON round trip: the ledger's own notion of a record (undefined fields are absent).
  return JSON.parse(JSON.stringify(Object.fromEntries(await ledger.readAll()))) as Record<string, LedgerRecord>;
}

function base(id: string, at = T0): LedgerRecord {
  return { id, st: 'accepted', created: at, at, amount: 12000, inst: 0, authHash: 'a'.repeat(32), attempt: 0 };
}

async function fileLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.length > 0);
}

describe('replay', () => {
  test('merges the change lines of each payment in order', async () => {
    const dir = await freshDir();
    const lines = [
      { v: 1 },
      base('p1'),
      base('p2'),
      { id: 'p1', st: 'inquiring', attempt: 1, at: T0 + 10 },
      { id: 'p2', st: 'inquiring', attempt: 1, at: T0 + 11 },
      { id: 'p1', st: 'delivering', ref: 'r1', at: T0 + 20 },
      { id: 'p1', st: 'approved', approvalNo: '30012345', maskedPan: '941012******9012', at: T0 + 30 },
    ];
    await writeFile(join(dir, LEDGER_FILE), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const ledger = await openLedger(dir);
    expect(ledger.stats.skippedLines).toBe(0);
    expect(await ledger.find('p1')).toEqual({
      ...base('p1'), st: 'approved', attempt: 1, ref: 'r1', refs: ['r1'], at: T0 + 30,
      approvalNo: '30012345', maskedPan: '941012******9012',
    });
    expect(await ledger.find('p2')).toEqual({ ...base('p2'), st: 'inquiring', attempt: 1, at: T0 + 11 });
  });

  test('a torn last line and a garbage middle line are skipped, counted, and gone after compaction', async () => {
    const dir = await freshDir();
    const good = [base('p1'), { id: 'p1', st: 'inquiring', attempt: 1 }, base('p2')].map((l) => JSON.stringify(l));
    const torn = JSON.stringify({ id: 'p2', st: 'inquiring', attempt: 1 }).slice(0, 17);
    const text = [JSON.stringify({ v: 1 }), good[0], 'garbage \u0000 not json', good[1], '[1,2,3]', good[2], torn].join('\n');
    await writeFile(join(dir, LEDGER_FILE), text); // no final newline: power was lost mid-line
    const ledger = await openLedger(dir);
    expect(ledger.stats.skippedLines).toBe(3);
    expect((await ledger.find('p1'))?.st).toBe('inquiring');
    expect((await ledger.find('p2'))?.st).toBe('accepted');

    const lines = await fileLines(ledger.path);
    expect(lines).toHaveLength(3); // header + one line per payment
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.join('\n')).not.toContain('garbage');

    const before = await snapshot(ledger);
    const again = await reopen(ledger);
    expect(again.stats.skippedLines).toBe(0);
    expect(await snapshot(again)).toEqual(before);
  });

  test('a torn line after compaction loses only that change; appends after reopen land on a line of their own', async () => {
    const dir = await freshDir();
    const ledger = await openLedger(dir);
    await ledger.append(base('p1'));
    await ledger.close();
    await writeFile(ledger.path, (await readFile(ledger.path, 'utf8')) + '{"id":"p1","st":"inq');
    const again = await openLedger(dir);
    expect(again.stats.skippedLines).toBe(1);
    await again.append({ id: 'p1', st: 'inquiring', attempt: 1 });
    const third = await reopen(again);
    expect(third.stats.skippedLines).toBe(0);
    expect((await third.find('p1'))?.st).toBe('inquiring');
  });
});

describe('compaction', () => {
  test('rewrites one line per payment and keeps every record identical', async () => {
    const dir = await freshDir();
    const ledger = await openLedger(dir);
    for (const id of ['a', 'b', 'c']) {
      await ledger.append(base(id));
      await ledger.append({ id, st: 'inquiring', attempt: 1, deadline: T0 + 180_000 });
      await ledger.append({ id, st: 'delivering', ref: `${id}-r1` }, { durable: true });
      await ledger.append({ id, st: 'processing', acked: true });
    }
    await ledger.append({ id: 'a', st: 'declined', code: '51', message: 'insufficient funds', maskedPan: '941012******9012' });
    expect(await fileLines(ledger.path)).toHaveLength(1 + 13);
    const before = await snapshot(ledger);

    await ledger.compact();
    const lines = await fileLines(ledger.path);
    expect(lines).toHaveLength(1 + 3);
    expect(JSON.parse(lines[0])).toEqual({ v: 1 });
    expect(lines.slice(1).map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual(['a', 'b', 'c']);
    expect(await snapshot(ledger)).toEqual(before);

    const again = await reopen(ledger);
    expect(await snapshot(again)).toEqual(before);
    expect(again.stats.skippedLines).toBe(0);
  });

  test('compactAfterBytes triggers a compaction by itself', async () => {
    const dir = await freshDir();
    const ledger = await openLedger(dir, { compactAfterBytes: 2000 });
    await ledger.append(base('p'));
    let lines = 1;
    for (let i = 0; i < 100; i++) {
      await ledger.append({ id: 'p', st: 'inquiring', attempt: i });
      lines = (await fileLines(ledger.path)).length;
      if (lines === 2) break;
    }
    expect(lines).toBe(2); // header + the one merged payment
    expect((await ledger.find('p'))?.st).toBe('inquiring');
  });
});

describe('retention and the size bound', () => {
  test('drops final payments older than retentionMs, never a non-final one nor an unknown waiting for reconciliation', async () => {
    const dir = await freshDir();
    const clock = wall();
    const retentionMs = 7 * DAY_MS;
    const ledger = await openLedger(dir, { wallNow: clock.now, retentionMs });
    await ledger.append({ ...base('old-approved'), st: 'approved', approvalNo: '1' });
    await ledger.append({ ...base('old-unknown-done'), st: 'unknown', reconcile: false });
    await ledger.append({ ...base('old-unknown-reconcile'), st: 'unknown', reconcile: true, ref: 'r9' });
    await ledger.append({ ...base('old-processing'), st: 'processing', ref: 'r8', acked: true });
    await ledger.append({ ...base('edge-declined', T0 + DAY_MS), st: 'declined', code: '51' });
    await ledger.append({ ...base('new-failed', T0 + 6 * DAY_MS), st: 'failed', code: 'X' });

    clock.set(T0 + retentionMs); // exactly retention old: kept
    await ledger.compact();
    expect([...(await ledger.readAll()).keys()].sort()).toEqual([
      'edge-declined', 'new-failed', 'old-approved', 'old-processing', 'old-unknown-done', 'old-unknown-reconcile',
    ]);

    clock.set(T0 + retentionMs + 1);
    await ledger.compact();
    expect([...(await ledger.readAll()).keys()].sort()).toEqual(['edge-declined', 'new-failed', 'old-processing', 'old-unknown-reconcile']);

    clock.set(T0 + 30 * DAY_MS);
    const again = await reopen(ledger, { wallNow: clock.now, retentionMs });
    expect([...(await again.readAll()).keys()].sort()).toEqual(['old-processing', 'old-unknown-reconcile']);
  });

  test('maxPayments bounds the count, oldest final payments first, never a running or reconciling one', async () => {
    const dir = await freshDir();
    const ledger = await openLedger(dir, { maxPayments: 5 });
    await ledger.append({ ...base('run-0'), st: 'processing', ref: 'r0' });
    await ledger.append({ ...base('unk-0'), st: 'unknown', reconcile: true, ref: 'r1' });
    for (let i = 1; i <= 8; i++) await ledger.append({ ...base(`fin-${i}`, T0 + i), st: 'approved' });
    await ledger.compact();
    // The compacted file lists done payments in the order they ended, then the open ones.
    expect([...(await ledger.readAll()).keys()]).toEqual(['fin-6', 'fin-7', 'fin-8', 'run-0', 'unk-0']);
    expect(await fileLines(ledger.path)).toHaveLength(1 + 5);
  });

  test('10,000 payments: the file stays bounded by maxPayments merged lines plus compactAfterBytes', async () => {
    // tmpfs when there is one: 10,000 fdatasyncs on a real disk would measure the disk, not the ledger.
    const fast = existsSync('/dev/shm') ? await mkdtemp('/dev/shm/otcd-ledger-') : root;
    try {
      const dir = await freshDir(fast);
      const maxPayments = 200;
      const compactAfterBytes = 64 * 1024;
      const ledger = await openLedger(dir, { maxPayments, compactAfterBytes });
      let largest = 0;
      let longestLine = 0;
      for (let i = 0; i < 10_000; i++) {
        const id = `order-${String(i).padStart(6, '0')}`;
        await ledger.append({ ...base(id, T0 + i), st: 'accepted' });
        await ledger.append({ id, st: 'inquiring', attempt: 1, deadline: T0 + i + 180_000 });
        await ledger.append({ id, st: 'delivering', ref: `ref${i}` }, { durable: true });
        const final = await ledger.append({ id, st: 'approved', sent: true, approvalNo: String(30_000_000 + i), maskedPan: '941012******9012' });
        longestLine = Math.max(longestLine, JSON.stringify(final).length + 1);
        if (i % 50 === 49) largest = Math.max(largest, (await stat(ledger.path)).size);
      }
      // Compaction comes after max(compactAfterBytes, compacted size) of appends.
      const compacted = '{"v":1}\n'.length + maxPayments * longestLine;
      const bound = compacted + Math.max(compactAfterBytes, compacted) + 4 * longestLine;
      const size = (await stat(ledger.path)).size;
      console.log(`ledger after 10,000 payments: ${size} bytes at the end, ${largest} bytes at most (bound ${bound})`);
      expect(size).toBeLessThanOrEqual(bound);
      expect(largest).toBeLessThanOrEqual(bound);
      // Between compactions memory holds what was appended since the last one; a compaction trims it.
      await ledger.compact();
      expect((await ledger.readAll()).size).toBe(maxPayments);
      expect((await stat(ledger.path)).size).toBeLessThanOrEqual('{"v":1}\n'.length + maxPayments * longestLine);
      // The newest payments are the ones kept.
      expect(((await ledger.find('order-009999')) !== undefined)).toBe(true);
      expect(((await ledger.find('order-000000')) !== undefined)).toBe(false);
      const again = await reopen(ledger, { maxPayments, compactAfterBytes });
      expect((await again.find('order-009999'))?.st).toBe('approved');
    } finally {
      if (fast !== root) await rm(fast, { recursive: true, force: true });
    }
  });
});

describe('writes', () => {
  test('durable: true has the line in the file when the append resolves', async () => {
    const dir = await freshDir();
    const ledger = await openLedger(dir);
    const record = await ledger.append({ ...base('p1'), st: 'delivering', ref: 'r-1' }, { durable: true });
    expect(record.st).toBe('delivering');
    const lines = await fileLines(ledger.path);
    expect(JSON.parse(lines[lines.length - 1])).toMatchObject({ id: 'p1', st: 'delivering', ref: 'r-1' });
  });

  test('changes are written in call order without awaiting each one', async () => {
    const dir = await freshDir();
    const ledger = await openLedger(dir);
    const writes = [
      ledger.append(base('p1')),
      ledger.append({ id: 'p1', st: 'inquiring', attempt: 1 }),
      ledger.append({ id: 'p1', st: 'delivering', ref: 'r1' }, { durable: true }),
    ];
    await Promise.all(writes);
    const sts = (await fileLines(ledger.path)).slice(1).map((l) => (JSON.parse(l) as { st: string }).st);
    expect(sts).toEqual(['accepted', 'inquiring', 'delivering']);
  });

  test('refs accumulates every ref ever recorded, also across a reopen of change lines', async () => {
    const dir = await freshDir();
    const ledger = await openLedger(dir);
    await ledger.append(base('p1'));
    await ledger.append({ id: 'p1', st: 'delivering', attempt: 1, ref: 'r1' });
    await ledger.append({ id: 'p1', st: 'inquiring', attempt: 2 });
    await ledger.append({ id: 'p1', st: 'delivering', attempt: 2, ref: 'r2' });
    await ledger.append({ id: 'p1', ref: 'r2' }); // the same ref again is not a new one
    await ledger.append({ id: 'p1', st: 'delivering', attempt: 3, ref: 'r3' });
    expect((await ledger.find('p1'))?.refs).toEqual(['r1', 'r2', 'r3']);
    expect((await ledger.find('p1'))?.ref).toBe('r3');
    await ledger.close();
    const again = await openLedger(dir); // replays the change lines, then compacts
    expect((await again.find('p1'))?.refs).toEqual(['r1', 'r2', 'r3']);
  });

  test('an append before open() rejects with STORAGE_ERROR', async () => {
    const ledger = new Ledger({
      stateDir: join(root, 'never-opened'), logger: pino({ level: 'silent' }), retentionMs: DAY_MS, maxPayments: 10,
      compactAfterBytes: 1 << 20, wallNow: () => T0,
    });
    await expect(ledger.append(base('p1'))).rejects.toMatchObject({ name: 'LedgerError', code: 'STORAGE_ERROR' });
  });
});

describe('a full file system (tmpfs, 64 KiB)', () => {
  let mountPoint: string;
  beforeAll(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), 'otcd-ledger-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', mountPoint]);
  });
  afterAll(async () => {
    execFileSync('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  test('a write with no space rejects with LedgerError STORAGE_ERROR; later appends work once space is back', async () => {
    const dir = await freshDir(mountPoint);
    const ledger = await openLedger(dir);
    // Fill the ledger file to exactly one tmpfs page, so the next write needs a page of its own
    // and fails whole (a write that fits partly would be a short write, not an error).
    const header = (await stat(ledger.path)).size;
    const skeleton = JSON.stringify({ ...base('p1'), message: '' }) + '\n';
    await ledger.append({ ...base('p1'), message: 'x'.repeat(4096 - header - skeleton.length) });
    expect((await stat(ledger.path)).size).toBe(4096);

    const filler = join(mountPoint, 'filler');
    await writeFile(filler, Buffer.alloc(128 * 1024)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOSPC') throw err;
    });
    const failed = ledger.append({ id: 'p1', st: 'delivering', ref: 'r1' }, { durable: true });
    await expect(failed).rejects.toBeInstanceOf(LedgerError);
    await expect(failed).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
    await expect(failed).rejects.toThrow(/cannot write the payment ledger/);

    await rm(filler);
    await ledger.append({ id: 'p1', st: 'failed', code: 'STORAGE_ERROR' }, { durable: true });
    const again = await reopen(ledger);
    expect((await again.find('p1'))?.st).toBe('failed');
    expect(again.stats.skippedLines).toBe(0);
  });
});
