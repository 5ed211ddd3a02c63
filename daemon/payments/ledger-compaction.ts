/**
 * Compaction of the ledger file, streamed: the file is read twice, a chunk at
 * a time, and written as one merged line per retained payment, without ever
 * holding every payment in memory (only those whose lines are still open at
 * the point of the file being read: in practice the running payment and the
 * unknown ones waiting for reconciliation).
 *
 * Pass 1 counts the done payments that survive retention, so that pass 2 can
 * drop the oldest ones beyond maxPayments as it meets them. A done payment is
 * written out the moment its lines merge to done (so the output is in order
 * of completion, oldest first); the others are written at the end.
 *
 * A change to a payment after it was done comes only from a void of an
 * approved payment (see `isDone`), and a file is outside input anyway: pass 1
 * notes such ids (a line of an id that is not
 * pending although the file's index puts the id's first line earlier) and
 * pass 2 holds them to the end of the file, so even then every change is
 * merged before the line is written.
 */
import { openLedgerFile } from './ledger-modes.js';
import { IdIndex } from './id-index.js';
import { changesOf } from './ledger-lines.js';
import { headerLine, isDone, mergeChange, type LedgerRecord } from './ledger-record.js';

export interface CompactionPolicy {
  /** Wall ms now. */
  now: number;
  retentionMs: number;
  maxPayments: number;
  /** The terminal operation number reached so far, kept in the new file's header. */
  termSeq: number;
}

export interface CompactionResult {
  /** Size of the file written. */
  bytes: number;
  /** Where each kept payment's line is in the new file. */
  index: IdIndex;
  /** Done payments kept. */
  done: number;
  /** Payments kept that are not done (running, or unknown waiting for reconciliation). */
  open: number;
}

const WRITE_BATCH_BYTES = 64 * 1024;

/**
 * Writes the compacted form of `source` to `target` (created or truncated)
 * and syncs it. `sourceIndex` is the index of `source` (every id at the
 * offset of its first line).
 */
export async function compactLedgerFile(source: string, target: string, sourceIndex: IdIndex, policy: CompactionPolicy): Promise<CompactionResult> {
  const census = await countSurvivors(source, sourceIndex, policy);
  const expected = Math.max(policy.maxPayments, census.survivors + census.open);
  const index = new IdIndex(expected);
  const out = await openLedgerFile(target, 'w');
  try {
    let bytes = 0;
    let batch: string[] = [];
    let batchBytes = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      await out.write(batch.join(''));
      batch = [];
      batchBytes = 0;
    };
    const write = async (record: LedgerRecord): Promise<void> => {
      const line = JSON.stringify(record) + '\n';
      index.add(record.id, bytes);
      const length = Buffer.byteLength(line);
      bytes += length;
      batch.push(line);
      batchBytes += length;
      if (batchBytes >= WRITE_BATCH_BYTES) await flush();
    };
    const header = headerLine(policy.termSeq);
    batch.push(header);
    bytes += header.length;

    let toDrop = Math.max(0, census.survivors + census.open - policy.maxPayments);
    let done = 0;
    const keepDone = async (record: LedgerRecord): Promise<void> => {
      if (policy.now - record.at > policy.retentionMs) return;
      if (toDrop > 0) {
        toDrop--; // the oldest done payments beyond maxPayments
        return;
      }
      await write(record);
      done++;
    };

    const pending = new Map<string, LedgerRecord>();
    for await (const { change } of changesOf(source)) {
      const merged = mergeChange(pending.get(change.id), change);
      if (isDone(merged) && !census.changedAfterDone.has(change.id)) {
        pending.delete(change.id);
        await keepDone(merged);
      } else {
        pending.set(change.id, merged);
      }
    }
    let open = 0;
    for (const record of pending.values()) {
      if (isDone(record)) {
        await keepDone(record);
      } else {
        await write(record);
        open++;
      }
    }
    await flush();
    await out.datasync();
    return { bytes, index, done, open };
  } finally {
    await out.close();
  }
}

interface Census {
  /** Done payments within retention. */
  survivors: number;
  /** Payments not done at the end of the file. */
  open: number;
  /** Ids with a change after they were done (voided approved payments, or a hash collision). */
  changedAfterDone: Set<string>;
}

async function countSurvivors(source: string, sourceIndex: IdIndex, policy: CompactionPolicy): Promise<Census> {
  const pending = new Map<string, LedgerRecord>();
  const changedAfterDone = new Set<string>();
  let survivors = 0;
  for await (const { change, offset } of changesOf(source)) {
    const previous = pending.get(change.id);
    if (previous === undefined && sourceIndex.candidates(change.id).some((first) => first < offset)) {
      changedAfterDone.add(change.id); // or a hash collision: either way pass 2 holds it to the end
      continue;
    }
    const merged = mergeChange(previous, change);
    if (isDone(merged)) {
      pending.delete(change.id);
      if (policy.now - merged.at <= policy.retentionMs) survivors++;
    } else {
      pending.set(change.id, merged);
    }
  }
  return { survivors, open: pending.size, changedAfterDone };
}
