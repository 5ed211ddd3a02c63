/**
 * One writer per ledger, with real daemons: a second otcd started by hand
 * (same configuration) while the first runs a payment, or while it compacts
 * its ledger at start, gives up with exit 75 naming the first one's PID and
 * touches nothing; otcctl reads the ledger during the compaction. Afterwards
 * every payment of the live daemon is in the ledger with its true state.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IntentClient } from '../../daemon/client/intent-client.js';
import { replayLedger } from '../../daemon/payments/ledger.js';
import { startDaemon, startStack, waitForSocket, waitForTerminalLink, type DaemonProcess, type Stack } from '../../scripts/testkit/stack.js';
import { runCtl } from '../cli/run-otcctl.js';

const STATE_DIR_BUSY_EXIT = 75;

let stack: Stack | undefined;
let client: IntentClient | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await stack?.stop();
  stack = undefined;
});

async function ledger(stateDir: string): Promise<ReturnType<typeof replayLedger>> {
  return replayLedger(await readFile(join(stateDir, 'ledger.jsonl'), 'utf8'));
}

function secondDaemon(configPath: string): { daemon: DaemonProcess; lines: string[] } {
  const lines: string[] = [];
  return { daemon: startDaemon(configPath, { onLog: (line) => lines.push(line), logFormat: 'pretty' }), lines };
}

describe('a second otcd on the same state directory', () => {
  test('while a payment runs: it exits 75 naming the live PID, and the payment ends approved, untouched', async () => {
    stack = await startStack({ simArgs: ['--prog-sent-delay', '2000', '--result-delay', '2000'] });
    client = await stack.connect();
    await waitForTerminalLink(client);
    const id = `lock-pay-${process.pid}`;
    await client.request({ op: 'pay', intentId: id, authorizationId: 'AUTH-LOCK-1', amount: 12000, installment: 0 });
    await client.next((m) => m.type === 'event' && m.intentId === id && m.state === 'processing', 30_000);
    const inode = (await stat(join(stack.stateDir, 'ledger.jsonl'))).ino;

    const second = secondDaemon(stack.configPath);
    const code = await second.daemon.exited;

    expect(code).toBe(STATE_DIR_BUSY_EXIT);
    const said = second.lines.join('\n');
    expect(said).toContain(`PID ${stack.daemon.process.pid}`);
    expect(said).toMatch(/in use by another otcd/);
    const final = await client.finalEvent(id, 30_000);
    expect(final).toMatchObject({ state: 'approved' });
    const { records, skippedLines } = await ledger(stack.stateDir);
    expect(skippedLines).toBe(0);
    expect(records.get(id)).toMatchObject({ st: 'approved' });
    const text = await readFile(join(stack.stateDir, 'ledger.jsonl'), 'utf8');
    expect(text).not.toContain('INTERRUPTED');
    expect((await stat(join(stack.stateDir, 'ledger.jsonl'))).ino).toBe(inode);
    // The live daemon still serves: the socket file is its own.
    expect((await client.request({ op: 'health' })).type).toBe('reply');
  }, 90_000);

  test('while the first compacts its ledger at start: refused, otcctl reads throughout, every payment kept', async () => {
    stack = await startStack();
    await stack.daemon.stop();
    // A ledger whose superseded lines make open() compact it: 30,000 approved payments, 5 lines each.
    const payments = 30_000;
    const now = Date.now();
    const lines = [JSON.stringify({ v: 1 })];
    for (let i = 0; i < payments; i++) {
      const id = `old-${i}`;
      const at = now - 60_000 + i;
      lines.push(
        JSON.stringify({ id, st: 'accepted', created: at, at, amount: 1000 + i, inst: 0, authHash: 'a'.repeat(32), attempt: 0 }),
        JSON.stringify({ id, st: 'inquiring', attempt: 1, at }),
        JSON.stringify({ id, st: 'delivering', ref: `r${i}`, at }),
        JSON.stringify({ id, st: 'processing', acked: true, at }),
        JSON.stringify({ id, st: i % 3 === 0 ? 'declined' : 'approved', sent: true, at, ...(i % 3 === 0 ? { code: '51', message: 'DECLINED' } : { approvalNo: String(10000000 + i), maskedPan: '941012******9012' }) }),
      );
    }
    await writeFile(join(stack.stateDir, 'ledger.jsonl'), `${lines.join('\n')}\n`);

    const first = startDaemon(stack.configPath);
    stack.daemon = first;
    // The first holds the lock once its PID is in the lock file.
    const lockPath = join(stack.stateDir, 'otcd.lock');
    for (let i = 0; i < 400; i++) {
      const text = await readFile(lockPath, 'utf8').catch(() => '');
      if (text.trim() === String(first.process.pid)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const second = secondDaemon(stack.configPath);
    let socketUp = false;
    const up = waitForSocket(stack.socketPath, first, 120_000).then(() => { socketUp = true; });
    const reads: Array<{ code: number | null; rows: number }> = [];
    while (!socketUp) {
      const r = await runCtl(['payments', '--json', '--last', '3', '--state-dir', stack.stateDir]);
      const parsed = r.code === 0 ? (JSON.parse(r.stdout) as { payments: unknown[] }) : { payments: [] };
      reads.push({ code: r.code, rows: parsed.payments.length });
    }
    await up;
    expect(await second.daemon.exited).toBe(STATE_DIR_BUSY_EXIT);
    expect(second.lines.join('\n')).toContain(`PID ${first.process.pid}`);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((r) => r.code === 0 && r.rows === 3)).toBe(true);

    // The live daemon goes on, and every payment, old and new, is there with its state.
    client = await stack.connect();
    await waitForTerminalLink(client);
    const id = `lock-after-${process.pid}`;
    await client.request({ op: 'pay', intentId: id, authorizationId: 'AUTH-LOCK-2', amount: 12000, installment: 0 });
    expect(await client.finalEvent(id, 60_000)).toMatchObject({ state: 'approved' });
    const { records, skippedLines } = await ledger(stack.stateDir);
    expect(skippedLines).toBe(0);
    expect(records.size).toBe(payments + 1);
    for (const i of [0, 1, 2, 12_345, payments - 1]) {
      expect(records.get(`old-${i}`)).toMatchObject({ st: i % 3 === 0 ? 'declined' : 'approved', amount: 1000 + i });
    }
    expect(records.get(id)).toMatchObject({ st: 'approved' });
  }, 180_000);
});
