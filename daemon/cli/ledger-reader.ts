/**
 * Reads otcd's payment ledger without touching it: no lock, no write, no
 * compaction (the daemon's Ledger.open() compacts, so it is not used here).
 *
 * Safe while otcd runs: otcd only appends, and compacts by rename, so one
 * readFile sees either the old file or the new one, whole, except possibly
 * for a last line still being written; that line (like any line that does
 * not parse, as after a power cut) is skipped and counted, exactly as the
 * daemon's replay does.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LEDGER_FILE, replayLedger, type LedgerRecord } from '../payments/ledger.js';
import { PAYMENT_STATES, type PaymentState } from '../payments/model.js';
import { CliError } from './errors.js';
import { accessFacts, explainDenied } from './ledger-access.js';
import { EXIT } from './exit-codes.js';

export interface LedgerSnapshot {
  path: string;
  /** Every payment, oldest first (by creation time). */
  records: LedgerRecord[];
  /** Lines that did not parse (a torn last line) or were not ledger lines. */
  skippedLines: number;
}

export async function readLedger(stateDir: string): Promise<LedgerSnapshot> {
  const path = join(stateDir, LEDGER_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES' || e.code === 'EPERM') {
      const why = explainDenied(await accessFacts(stateDir, path));
      if (why) throw new CliError(EXIT.UNREACHABLE, 'PERMISSION_DENIED', `permission denied on ${path}: ${why}`);
    }
    throw ledgerReadError(path, e);
  }
  return { path, ...parseLedger(text) };
}

/** Replays change lines with the daemon's own reader; keeps the records otcctl can print. */
export function parseLedger(text: string): { records: LedgerRecord[]; skippedLines: number } {
  const { records: merged, skippedLines } = replayLedger(text);
  const records = [...merged.values()].filter(isRecord);
  // Map order is first appearance; sort (stably) by creation time in case compaction reordered.
  records.sort((a, b) => a.created - b.created);
  return { records, skippedLines };
}

function isState(value: unknown): value is PaymentState {
  return typeof value === 'string' && (PAYMENT_STATES as readonly string[]).includes(value);
}

/** A merged record with the fields otcctl prints, of the right types. */
function isRecord(r: Partial<LedgerRecord>): r is LedgerRecord {
  return isState(r.st) && typeof r.created === 'number' && typeof r.at === 'number' && typeof r.amount === 'number';
}

function ledgerReadError(path: string, err: NodeJS.ErrnoException): CliError {
  switch (err.code) {
    case 'ENOENT':
      return new CliError(EXIT.CONFIG, 'NO_LEDGER', `no payment ledger at ${path}: otcd has not run with this state directory (check daemon.state_dir, or pass --state-dir DIR)`);
    case 'EACCES':
    case 'EPERM':
      return new CliError(EXIT.UNREACHABLE, 'PERMISSION_DENIED', `permission denied on ${path}: add your user to group otcd (usermod -aG otcd $USER, then log in again)`);
    case 'EISDIR':
      return new CliError(EXIT.CONFIG, 'NO_LEDGER', `${path} is a directory, not otcd's payment ledger`);
    default:
      return new CliError(EXIT.UNREACHABLE, 'LEDGER_UNREADABLE', `cannot read the payment ledger ${path}: ${err.message}`);
  }
}
