/**
 * The read-only ledger reader against files written by the daemon's own
 * Ledger class, with a torn last line as a power cut leaves it.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CliError } from '../../daemon/cli/errors.js';
import { parseLedger, readLedger } from '../../daemon/cli/ledger-reader.js';
import { paymentRow } from '../../daemon/cli/payments.js';
import { Ledger } from '../../daemon/payments/ledger.js';

let dir: string;
const wall = 1_800_000_000_000;

function ledger(): Ledger {
  return new Ledger({
    stateDir: dir, logger: pino({ level: 'silent' }), retentionMs: 86_400_000, maxPayments: 1000,
    compactAfterBytes: 1 << 20, wallNow: () => wall,
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otcctl-ledger-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readLedger', () => {
  test('merges change lines per id and skips a torn last line, without writing the file', async () => {
    const l = ledger();
    await l.open();
    await l.append({ id: 'a', st: 'accepted', created: wall, at: wall, amount: 1000, inst: 0, authHash: 'h', attempt: 0 });
    await l.append({ id: 'b', st: 'accepted', created: wall + 1, at: wall + 1, amount: 2000, inst: 3, authHash: 'h', attempt: 0 });
    await l.append({ id: 'a', st: 'processing', at: wall + 2, attempt: 1, ref: '000001', acked: true });
    await l.append({ id: 'a', st: 'approved', at: wall + 3, approvalNo: '30012345', maskedPan: '941012******9012' });
    await l.close();
    await appendFile(join(dir, 'ledger.jsonl'), '{"id":"b","st":"declined","at":18000000');
    const before = await stat(join(dir, 'ledger.jsonl'));
    const text = await readFile(join(dir, 'ledger.jsonl'), 'utf8');

    const snapshot = await readLedger(dir);
    expect(snapshot.skippedLines).toBe(1);
    expect(snapshot.records.map((r) => [r.id, r.st])).toEqual([['a', 'approved'], ['b', 'accepted']]);
    expect(snapshot.records[0]).toMatchObject({ attempt: 1, amount: 1000, approvalNo: '30012345', refs: ['000001'] });
    expect(await readFile(join(dir, 'ledger.jsonl'), 'utf8')).toBe(text);
    expect((await stat(join(dir, 'ledger.jsonl'))).mtimeMs).toBe(before.mtimeMs);
  });

  test('agrees with the daemon\'s own replay of the same torn file', async () => {
    const l = ledger();
    await l.open();
    await l.append({ id: 'x', st: 'accepted', created: wall, at: wall, amount: 5000, inst: 0, authHash: 'h', attempt: 0 });
    await l.append({ id: 'x', st: 'processing', at: wall + 1, attempt: 1, ref: '000007', acked: true });
    await l.append({ id: 'x', st: 'delivering', at: wall + 2, attempt: 2, ref: '000008' });
    await l.append({ id: 'x', st: 'unknown', at: wall + 5, code: 'NO_OUTCOME', reconcile: true });
    await l.close();
    await appendFile(join(dir, 'ledger.jsonl'), '{"id":"x","st":"appr');
    const mine = await readLedger(dir);
    const reopened = ledger();
    await reopened.open();
    const replayed = await reopened.readAll();
    await reopened.close();
    expect(mine.records).toEqual([...replayed.values()]);
    expect(mine.records[0].refs).toEqual(['000007', '000008']);
    expect(paymentRow(mine.records[0])).toMatchObject({ state: 'unknown', code: 'NO_OUTCOME', reconciling: true });
  });

  test('a last line cut just before its newline is skipped, as the daemon skips it, though it parses', async () => {
    const l = ledger();
    await l.open();
    await l.append({ id: 'y', st: 'accepted', created: wall, at: wall, amount: 5000, inst: 0, authHash: 'h', attempt: 0 });
    await l.close();
    await appendFile(join(dir, 'ledger.jsonl'), '{"id":"y","st":"delivering","at":1800000000001,"attempt":1,"ref":"000009"}');
    const mine = await readLedger(dir);
    const reopened = ledger();
    await reopened.open();
    const replayed = await reopened.readAll();
    await reopened.close();
    expect(mine.skippedLines).toBe(1);
    expect(mine.records.map((r) => [r.id, r.st])).toEqual([['y', 'accepted']]);
    expect(mine.records).toEqual([...replayed.values()]);
  });

  test('a missing ledger is a CliError with exit 78', async () => {
    const err = await readLedger(join(dir, 'nowhere')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ exitCode: 78, code: 'NO_LEDGER' });
  });
});

describe('parseLedger', () => {
  test('header, garbage, non-objects and records missing fields are not payments', () => {
    const text = [
      '{"v":1}',
      'not json',
      '[1,2]',
      '42',
      '{"v":2}',
      '{"id":"half","st":"accepted"}',
      '{"id":"bad-state","st":"paid","created":1,"at":1,"amount":1}',
      '{"id":"ok","st":"expired","created":5,"at":9,"amount":700,"inst":0,"attempt":2}',
      '',
    ].join('\n');
    const { records, skippedLines } = parseLedger(text);
    expect(skippedLines).toBe(4);
    expect(records.map((r) => r.id)).toEqual(['ok']);
  });

  test('payments come out oldest first by creation time', () => {
    const text = [
      '{"id":"late","st":"approved","created":300,"at":310,"amount":1}',
      '{"id":"early","st":"declined","created":100,"at":110,"amount":1}',
    ].join('\n') + '\n';
    expect(parseLedger(text).records.map((r) => r.id)).toEqual(['early', 'late']);
  });
});

describe('paymentRow', () => {
  test('shows only the fields it knows, and never a PAN that is not masked', () => {
    const row = paymentRow({
      id: 'p', st: 'approved', created: wall, at: wall, amount: 1, inst: 0, authHash: 'secret-hash', attempt: 1,
      ref: '000009', refs: ['000009'], acked: true, sent: true, approvalNo: '1', maskedPan: '9410123456789012',
    });
    expect(row.maskedPan).toBe('(hidden: not a masked PAN)');
    expect(JSON.stringify(row)).not.toContain('9410123456789012');
    expect(Object.keys(row).sort()).toEqual(['amount', 'approvalNo', 'attempt', 'createdAt', 'installment', 'intentId', 'maskedPan', 'state', 'updatedAt']);
  });
});
