/**
 * The ledger's size after many payments, driving the Ledger class directly
 * (a daemon would need days of key generation for 100,000 payments) with the
 * daemon's own policy: 7 days' retention, at most 50,000 payments, compaction
 * after 1 MiB appended (daemon/daemon.ts, config default retention_days).
 *
 * Each payment appends the change lines a real approved payment writes, with
 * the same shapes and durability (copied from a ledger the stack wrote):
 * accepted, inquiring, delivering (durable), processing, sent, approved
 * (final, durable). The wall clock is simulated at one payment every
 * `spacingMs`, so with the default (1 s) every payment is still inside
 * retention and the maxPayments bound is the one that holds: the worst case.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { LEDGER_FILE, Ledger } from '../../daemon/payments/ledger.js';

/** daemon/daemon.ts: LEDGER_MAX_PAYMENTS, LEDGER_COMPACT_AFTER_BYTES; config: retention_days = 7. */
export const DAEMON_LEDGER_POLICY = { retentionMs: 7 * 24 * 3600 * 1000, maxPayments: 50_000, compactAfterBytes: 1 << 20 };
const WINDOW_MS = 180_000;

export interface LedgerSizeResult {
  payments: number;
  finalBytes: number;
  peakBytes: number;
  /** Header + maxPayments compacted records + compactAfterBytes + one payment's lines. */
  boundBytes: number;
  retained: number;
  /** Everything the ledger wrote (appends and compactions) per payment, once the bound is reached. */
  steadyBytesPerPayment: number;
  /** Appended change lines alone, per payment. */
  appendedBytesPerPayment: number;
  seconds: number;
}

function paymentChanges(id: string, i: number, at: number): Array<{ change: Record<string, unknown> & { id: string }; durable: boolean }> {
  const ref = randomBytes(12).toString('base64url').slice(0, 16);
  const authHash = createHash('sha256').update(`BENCH-${i}`).digest('hex').slice(0, 32);
  return [
    { change: { st: 'accepted', created: at, amount: 1000 + (i % 1000) * 1000, inst: 0, authHash, attempt: 0, id, at }, durable: false },
    { change: { st: 'inquiring', attempt: 1, deadline: at + 1 + WINDOW_MS, ref: null, acked: null, sent: null, id, at: at + 1 }, durable: false },
    { change: { st: 'delivering', attempt: 1, ref, id, at: at + 150 }, durable: true },
    { change: { st: 'processing', acked: true, id, at: at + 157 }, durable: false },
    { change: { sent: true, id, at: at + 159 }, durable: false },
    { change: { st: 'approved', sent: true, approvalNo: String(90_000_000 + (i % 10_000_000)), maskedPan: '941012******9012', id, at: at + 161 }, durable: true },
  ];
}

/** Runs `payments` payments through a Ledger in a fresh directory under `parentDir`. */
export async function measureLedgerSize(parentDir: string, payments: number, spacingMs = 1000): Promise<LedgerSizeResult> {
  const dir = await mkdtemp(join(parentDir, 'otcd-bench-ledger-'));
  const started = performance.now();
  let now = Date.UTC(2026, 0, 1);
  const ledger = new Ledger({ stateDir: dir, logger: pino({ level: 'silent' }), wallNow: () => now, ...DAEMON_LEDGER_POLICY });
  try {
    await ledger.open();
    const file = join(dir, LEDGER_FILE);
    let peakBytes = 0;
    let maxRecordBytes = 0;
    let maxPaymentLinesBytes = 0;
    let appended = 0;
    let steadyFrom: { payment: number; written: number } | undefined;
    for (let i = 0; i < payments; i++) {
      now += spacingMs;
      const id = `bench-${i.toString().padStart(8, '0')}`;
      let lines = 0;
      let final;
      for (const { change, durable } of paymentChanges(id, i, now)) {
        lines += Buffer.byteLength(JSON.stringify(change)) + 1;
        final = await ledger.append(change, { durable });
      }
      appended += lines;
      maxPaymentLinesBytes = Math.max(maxPaymentLinesBytes, lines);
      maxRecordBytes = Math.max(maxRecordBytes, Buffer.byteLength(JSON.stringify(final)) + 1);
      peakBytes = Math.max(peakBytes, (await stat(file)).size);
      if (!steadyFrom && ledger.stats.payments >= DAEMON_LEDGER_POLICY.maxPayments) {
        steadyFrom = { payment: i + 1, written: ledger.stats.bytesWritten };
      }
    }
    await ledger.flush();
    const finalBytes = (await stat(file)).size;
    const header = Buffer.byteLength(JSON.stringify({ v: 1 })) + 1;
    const steady = steadyFrom && payments > steadyFrom.payment
      ? (ledger.stats.bytesWritten - steadyFrom.written) / (payments - steadyFrom.payment)
      : ledger.stats.bytesWritten / payments;
    return {
      payments, finalBytes, peakBytes, retained: ledger.stats.payments,
      // Compaction comes after max(compactAfterBytes, compacted size) of appends (daemon/payments/ledger.ts).
      boundBytes: header + DAEMON_LEDGER_POLICY.maxPayments * maxRecordBytes
        + Math.max(DAEMON_LEDGER_POLICY.compactAfterBytes, header + DAEMON_LEDGER_POLICY.maxPayments * maxRecordBytes) + maxPaymentLinesBytes,
      steadyBytesPerPayment: steady, appendedBytesPerPayment: appended / payments,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
  }
}
