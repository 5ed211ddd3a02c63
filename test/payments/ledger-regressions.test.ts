import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Ledger, type LedgerRecord } from '../../daemon/payments/ledger.js';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const base = (id: string): LedgerRecord => ({ id, st: 'accepted', created: T0, at: T0, amount: 12000, inst: 0, authHash: 'a'.repeat(32), attempt: 0 });
const make = (stateDir: string): Ledger => new Ledger({ stateDir, logger: pino({ level: 'silent' }), retentionMs: 1e12, maxPayments: 1000, compactAfterBytes: 1 << 20, wallNow: () => T0 });

describe('ledger regressions (found by the unit suite)', () => {
  test('refs survive a compaction and a reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'otcd-bug-'));
    const l = make(dir); await l.open();
    await l.append(base('p1'));
    for (const r of ['r1', 'r2', 'r3']) await l.append({ id: 'p1', st: 'delivering', ref: r });
    await l.compact(); await l.close();
    const again = make(dir); await again.open();
    expect((await again.find('p1'))?.refs).toEqual(['r1', 'r2', 'r3']);
    await again.close(); await rm(dir, { recursive: true });
  });

  test('a field cleared with undefined stays cleared after a reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'otcd-bug-'));
    const l = make(dir); await l.open();
    await l.append({ ...base('p1'), st: 'processing', ref: 'r1', acked: true, sent: true });
    await l.append({ id: 'p1', st: 'inquiring', attempt: 2, ref: undefined, acked: undefined, sent: undefined });
    const inMemory = JSON.parse(JSON.stringify(await l.find('p1'))) as LedgerRecord;
    await l.close();
    const again = make(dir); await again.open();
    expect(JSON.parse(JSON.stringify(await again.find('p1'))) as LedgerRecord).toEqual(inMemory);
    await again.close(); await rm(dir, { recursive: true });
  });

  test('a short write (disk full mid-line) rejects and does not swallow the next change', async () => {
    const mp = await mkdtemp(join(tmpdir(), 'otcd-bug-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mp]);
    const l = make(mp);
    let again: Ledger | undefined;
    try {
      await l.open();
      await l.append(base('p1'));
      await writeFile(join(mp, 'filler'), Buffer.alloc(128 * 1024)).catch(() => undefined);
      const sizeBefore = (await stat(l.path)).size;
      // Crosses the page boundary: the kernel takes what fits in the file's last page and returns a short count.
      const crossing = l.append({ id: 'p1', st: 'inquiring', attempt: 1, message: 'x'.repeat(5000) });
      await expect(crossing).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
      expect((await stat(l.path)).size).toBe(sizeBefore);
      await rm(join(mp, 'filler'));
      await l.append({ id: 'p1', st: 'failed', code: 'STORAGE_ERROR' }, { durable: true });
      await l.close();
      again = make(mp); await again.open();
      expect((await again.find('p1'))?.st).toBe('failed');
    } finally {
      await l.close().catch(() => undefined); await again?.close().catch(() => undefined);
      execFileSync('umount', [mp]); await rm(mp, { recursive: true });
    }
  });
});
