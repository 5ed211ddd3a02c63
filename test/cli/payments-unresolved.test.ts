/**
 * `otcctl payments --unresolved`: the compiled otcctl on a ledger written by
 * the daemon's own Ledger class, with unknown payments, one resolved later
 * (resolved: true and its new state, as the intent spec's resolution says),
 * and settled ones.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Ledger, type LedgerChange } from '../../daemon/payments/ledger.js';
import { runCtl } from './run-otcctl.js';

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const MIN = 60_000;
let dir: string;
let empty: string;
let voids: string;

async function writeLedger(stateDir: string, changes: LedgerChange[]): Promise<void> {
  const l = new Ledger({ stateDir, logger: pino({ level: 'silent' }), retentionMs: 7 * 86_400_000, maxPayments: 1000, compactAfterBytes: 1 << 20, wallNow: () => T0 });
  await l.open();
  for (const c of changes) await l.append(c, { durable: true });
  await l.close();
}

function created(id: string, at: number, amount: number): LedgerChange {
  return { id, st: 'accepted', created: at, at, amount, inst: 0, authHash: 'h'.repeat(32), attempt: 0 };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otcctl-unresolved-'));
  empty = await mkdtemp(join(tmpdir(), 'otcctl-unresolved-none-'));
  await writeLedger(dir, [
    // written newest first, to show the list is ordered by creation
    created('otcctl-20261206-101530-3a5ba6', T0 + 90 * MIN, 14066),
    { id: 'otcctl-20261206-101530-3a5ba6', st: 'unknown', at: T0 + 93 * MIN, attempt: 1, code: 'NO_OUTCOME', reconcile: true },
    created('order-20261206-000123', T0, 12000),
    { id: 'order-20261206-000123', st: 'unknown', at: T0 + 3 * MIN, attempt: 1, code: 'TERMINAL_TIMEOUT', reconcile: false },
    created('order-20261206-000124', T0 + 10 * MIN, 13000),
    { id: 'order-20261206-000124', st: 'unknown', at: T0 + 13 * MIN, attempt: 1, code: 'NO_OUTCOME', reconcile: true },
    // resolved later: the terminal's LAST told the outcome
    { id: 'order-20261206-000124', st: 'approved', at: T0 + 40 * MIN, approvalNo: '30012345', maskedPan: '941012******9012', reconcile: false, resolved: true, resolvedAt: T0 + 40 * MIN } as LedgerChange,
    created('order-20261206-000125', T0 + 20 * MIN, 9000),
    { id: 'order-20261206-000125', st: 'approved', at: T0 + 21 * MIN, approvalNo: '30012399' },
  ]);
  await writeLedger(empty, [created('order-1', T0, 1000), { id: 'order-1', st: 'declined', at: T0 + MIN, code: '51', message: 'INSUFFICIENT FUNDS' }]);
  voids = await mkdtemp(join(tmpdir(), 'otcctl-unresolved-voids-'));
  const approved = (id: string, at: number): LedgerChange[] => [created(id, at, 5000), { id, st: 'approved', at: at + MIN, approvalNo: '30010001', maskedPan: '941012******9012' }];
  await writeLedger(voids, [
    // the terminal timed out upstream: only a new void settles it
    ...approved('order-void-to', T0),
    { id: 'order-void-to', at: T0 + 5 * MIN, vst: 'unknown', vref: 'v1', vrefs: ['v1'], vcode: 'TO', vmsg: 'TIMEOUT' },
    // no answer at all: otcd asks LAST
    ...approved('order-void-asking', T0 + 10 * MIN),
    { id: 'order-void-asking', at: T0 + 15 * MIN, vst: 'unknown', vref: 'v2', vrefs: ['v2'], vcode: 'NO_ANSWER', vlast: true },
    // refused: nothing was reversed, and that is known
    ...approved('order-void-refused', T0 + 20 * MIN),
    { id: 'order-void-refused', at: T0 + 25 * MIN, vst: 'refused', vref: 'v3', vrefs: ['v3'], vcode: 'NF' },
    // TO, then a retry refused BY before the terminal looked for the first reversal: still unknown
    ...approved('order-void-retried', T0 + 28 * MIN),
    { id: 'order-void-retried', at: T0 + 29 * MIN, vst: 'unknown', vref: 'v5', vrefs: ['v5'], vcode: 'TO', vunknownAt: T0 + 29 * MIN, vunknownRef: 'v5' },
    { id: 'order-void-retried', at: T0 + 31 * MIN, vst: 'refused', vref: 'v6', vcode: 'BY' },
    // voided
    ...approved('order-void-done', T0 + 30 * MIN),
    { id: 'order-void-done', st: 'voided', at: T0 + 35 * MIN, vref: 'v4', vrefs: ['v4'], voidApprovalNo: '40010001', voidedAt: T0 + 35 * MIN },
  ]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(empty, { recursive: true, force: true });
  await rm(voids, { recursive: true, force: true });
});

describe('otcctl payments --unresolved', () => {
  test('the unknown payments only, oldest first, and what to do', async () => {
    const r = await runCtl(['payments', '--unresolved', '--state-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^created +intent +amount +inst +state +try +outcome$/);
    expect(lines[1]).toMatch(/order-20261206-000123 +12,000 KRW +0 +unknown +1 +NEEDS RECONCILIATION: TERMINAL_TIMEOUT$/);
    expect(lines[2]).toMatch(/otcctl-20261206-101530-3a5ba6 +14,066 KRW +0 +unknown +1 +NEEDS RECONCILIATION \(otcd is still asking the terminal\): NO_OUTCOME$/);
    expect(lines[3]).toBe('');
    expect(lines[4]).toBe('2 payment(s) with an unknown outcome, oldest first: the card data may have reached the');
    expect(r.stdout).toContain('ask the acquirer (or its merchant portal) whether it was charged');
    expect(r.stdout).not.toContain('000124');
    expect(r.stdout).not.toContain('000125');
    process.stdout.write(`otcctl payments --unresolved:\n${r.stdout}`);
  });

  test('--json: the same payments, with "unresolved": true', async () => {
    const r = await runCtl(['payments', '--unresolved', '--json', '--state-dir', dir]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { unresolved: boolean; payments: Array<Record<string, unknown>> };
    expect(doc.unresolved).toBe(true);
    expect(doc.payments.map((p) => [p.intentId, p.state, p.code])).toEqual([
      ['order-20261206-000123', 'unknown', 'TERMINAL_TIMEOUT'],
      ['otcctl-20261206-101530-3a5ba6', 'unknown', 'NO_OUTCOME'],
    ]);
  });

  test('the full list shows a resolved payment with its new state and when it was resolved', async () => {
    const r = await runCtl(['payments', '--state-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/order-20261206-000124 +13,000 KRW +0 +approved +1 +approval 30012345, card 941012\*{6}9012 \(was unknown; resolved \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)$/m);
    const json = await runCtl(['payments', '--json', '--state-dir', dir]);
    const row = (JSON.parse(json.stdout) as { payments: Array<Record<string, unknown>> }).payments.find((p) => p.intentId === 'order-20261206-000124');
    expect(row).toMatchObject({ state: 'approved', resolved: true, resolvedAt: new Date(T0 + 40 * MIN).toISOString() });
  });

  test('approved payments whose void\'s outcome is unknown are listed with what to do; refused and voided ones are not', async () => {
    const r = await runCtl(['payments', '--unresolved', '--state-dir', voids]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/order-void-to +5,000 KRW +0 +approved +0 +approval 30010001, card 941012\*{6}9012; VOID OUTCOME UNKNOWN: TO \(void again to settle it\)$/);
    expect(lines[2]).toMatch(/order-void-asking +5,000 KRW .*VOID OUTCOME UNKNOWN: NO_ANSWER \(otcd is still asking the terminal\)$/);
    expect(lines[3]).toMatch(/order-void-retried +5,000 KRW .*void refused: BY \(nothing reversed by it\); AN EARLIER VOID'S OUTCOME IS UNKNOWN \(void again to settle it\)$/);
    expect(lines[4]).toBe('');
    expect(lines[5]).toBe('3 void(s) with an unknown outcome: the customer\'s money may or may not have gone back.');
    expect(r.stdout).toContain('Void the others again (otcctl void --intent-id ID)');
    expect(r.stdout).not.toContain('payment(s) with an unknown outcome');
    expect(r.stdout).not.toMatch(/order-void-(refused|done)/);
    const json = JSON.parse((await runCtl(['payments', '--unresolved', '--json', '--state-dir', voids])).stdout) as { payments: Array<Record<string, unknown>> };
    expect(json.payments.map((p) => [p.intentId, p.state, p.void, p.voidUnknownSince])).toEqual([
      ['order-void-to', 'approved', { state: 'unknown', code: 'TO', message: 'TIMEOUT' }, new Date(T0 + 5 * MIN).toISOString()],
      ['order-void-asking', 'approved', { state: 'unknown', code: 'NO_ANSWER', asking: true }, new Date(T0 + 15 * MIN).toISOString()],
      ['order-void-retried', 'approved', { state: 'refused', code: 'BY' }, new Date(T0 + 29 * MIN).toISOString()],
    ]);
    process.stdout.write(`otcctl payments --unresolved (voids):\n${r.stdout}`);
  });

  test('none: says every outcome is known', async () => {
    const r = await runCtl(['payments', '--unresolved', '--state-dir', empty]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no unresolved payments: the outcome of every payment in the ledger is known\n');
  });
});
