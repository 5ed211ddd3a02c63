/**
 * The payment ledger: an append-only file of payment state changes under the
 * state directory, so that a crash or a power cut loses no payment and never
 * lets an AUTH go to the terminal twice.
 *
 * Format: one JSON object per line. Each line is a *change* of one payment
 * (`id` plus the fields that changed); replaying the lines in order and
 * merging them per `id` gives every payment's latest record. No card data is
 * ever written: amounts, refs, states, codes, a masked PAN, and a hash of the
 * authorizationId (enough to tell a repeated `pay` from a conflicting one).
 *
 * Durability: `append(change, { durable: true })` resolves only after
 * fdatasync, and is used before an AUTH goes to the terminal and when a
 * payment becomes final. Other changes ride along with the next sync.
 *
 * A torn last line (power lost mid-write) or any line that does not parse is
 * skipped on replay and disappears at the compaction that `open()` then runs
 * (a clean file is not rewritten at start). Compaction rewrites the
 * file as one merged line per retained payment (temp file, fsync, rename,
 * fsync of the directory: the old file stays whole until the new one is).
 */
import { mkdir, open, rename, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OtcdError } from '../../drivers/errors.js';
import type { PaymentState } from './model.js';

export const LEDGER_FILE = 'ledger.jsonl';
const LEDGER_VERSION = 1;

/** One payment as the ledger keeps it (merged from its change lines). */
export interface LedgerRecord {
  id: string;
  st: PaymentState;
  /** Wall ms of the first and the latest change. */
  created: number;
  at: number;
  amount: number;
  inst: number;
  /** sha256 of the authorizationId, hex, first 32 chars. */
  authHash: string;
  attempt: number;
  /** The ref of the latest AUTH that may have reached the terminal. */
  ref?: string;
  /** Every ref this payment has sent in an AUTH (never reused). */
  refs?: string[];
  /** True once the terminal ACKed the AUTH of `ref` (it holds the card data). */
  acked?: boolean;
  /** True once the terminal reported the card data upstream (PROG SENT or a result). */
  sent?: boolean;
  /** Wall ms of the current attempt's window end. */
  deadline?: number;
  code?: string;
  message?: string;
  approvalNo?: string;
  maskedPan?: string;
  resCd?: string;
  resMsg?: string;
  /** An `unknown` payment that still waits for a LAST answer from the terminal. */
  reconcile?: boolean;
}

export type LedgerChange = Partial<LedgerRecord> & { id: string };

export class LedgerError extends OtcdError {}

export interface LedgerOptions {
  stateDir: string;
  logger: Logger;
  /** Keep final payments at least this long (get must answer them). */
  retentionMs: number;
  /** Bound the file however many payments pass: oldest final ones go first. */
  maxPayments: number;
  /** Compact after this many bytes were appended since the last compaction (or the compacted size, if larger). */
  compactAfterBytes: number;
  wallNow: () => number;
}

const FINAL_STATES = new Set<PaymentState>(['approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown']);

export class Ledger {
  private handle: FileHandle | undefined;
  private readonly records = new Map<string, LedgerRecord>();
  private queue: Promise<void> = Promise.resolve();
  private appendedSinceCompaction = 0;
  /** Size of the file right after the last compaction. */
  private compactedBytes = 0;
  private bytesWritten = 0;
  private skippedLines = 0;
  readonly path: string;

  constructor(private readonly opts: LedgerOptions) {
    this.path = join(opts.stateDir, LEDGER_FILE);
  }

  /** Reads the ledger (creating the state directory and file if needed), then compacts it. */
  async open(): Promise<Map<string, LedgerRecord>> {
    await mkdir(this.opts.stateDir, { recursive: true, mode: 0o750 });
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.replay(text);
    const before = this.records.size;
    this.prune();
    const size = Buffer.byteLength(text);
    // Compact now only when the file needs it: a torn or unreadable line (the next
    // append must not be glued to it), a size past the threshold, or payments past
    // retention. A clean file is
    // appended to as it is, which keeps two fsyncs and a rewrite off the start-up path.
    if (this.skippedLines > 0 || (size > 0 && !text.endsWith('\n')) || size >= this.opts.compactAfterBytes || this.records.size < before) {
      await this.compact();
    } else {
      this.handle = await open(this.path, 'a', 0o640);
      if (size === 0) await this.handle.write(`${JSON.stringify({ v: LEDGER_VERSION })}\n`);
      this.compactedBytes = size;
    }
    return this.records;
  }

  /** Every payment the ledger holds, by intent id. */
  get all(): ReadonlyMap<string, LedgerRecord> {
    return this.records;
  }

  get stats(): { bytesWritten: number; skippedLines: number; payments: number } {
    return { bytesWritten: this.bytesWritten, skippedLines: this.skippedLines, payments: this.records.size };
  }

  /**
   * Records a change. Resolves when the line is written (and, with
   * `durable`, synced to the medium). Changes are written in call order.
   */
  append(change: LedgerChange, options: { durable?: boolean } = {}): Promise<LedgerRecord> {
    const merged = this.merge(change);
    // A field cleared with `undefined` is written as null, so replay clears it too.
    const line = JSON.stringify(change, (_key, value: unknown) => (value === undefined ? null : value)) + '\n';
    const durable = options.durable === true || FINAL_STATES.has(merged.st);
    const write = this.queue.then(async () => {
      const handle = this.requireOpen();
      const bytes = Buffer.from(line, 'utf8');
      const { size } = await handle.stat();
      const { bytesWritten } = await handle.write(bytes);
      if (bytesWritten !== bytes.length) {
        // A full disk can take part of a line without an error: cut it off, or the
        // next line would be glued to it and both lost on replay.
        await handle.truncate(size).catch(() => undefined);
        throw new Error(`short write (${bytesWritten} of ${bytes.length} bytes): the disk is full`);
      }
      this.bytesWritten += bytes.length;
      this.appendedSinceCompaction += bytes.length;
      if (durable) await handle.datasync();
      // Compact after max(compactAfterBytes, the compacted size) of appends: the rewrite
      // then costs at most as much as the appends it folds, and the file stays under
      // twice its compacted size. A fixed threshold alone rewrote 16 MiB per 1 MiB
      // appended once 50,000 payments were kept (`npm run bench`).
      if (this.appendedSinceCompaction >= Math.max(this.opts.compactAfterBytes, this.compactedBytes)) await this.compactNow();
    });
    // A failed write must not wedge the queue for later changes.
    this.queue = write.catch(() => undefined);
    return write.then(() => merged, (err: unknown) => {
      throw new LedgerError('STORAGE_ERROR', `cannot write the payment ledger ${this.path}: ${(err as Error).message}`, { cause: err });
    });
  }

  /** Waits for every queued write. */
  async flush(): Promise<void> {
    await this.queue;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.handle?.datasync().catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }

  /** Rewrites the file as one line per retained payment. */
  compact(): Promise<void> {
    const run = this.queue.then(() => this.compactNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async compactNow(): Promise<void> {
    this.prune();
    const lines = [JSON.stringify({ v: LEDGER_VERSION })];
    for (const record of this.records.values()) lines.push(JSON.stringify(record));
    const text = lines.join('\n') + '\n';
    const tmp = `${this.path}.tmp`;
    const out = await open(tmp, 'w', 0o640);
    try {
      await out.write(text);
      await out.datasync();
    } finally {
      await out.close();
    }
    await this.handle?.close();
    this.handle = undefined;
    await rename(tmp, this.path);
    await syncDirectory(this.opts.stateDir);
    this.handle = await open(this.path, 'a', 0o640);
    this.bytesWritten += Buffer.byteLength(text);
    this.compactedBytes = Buffer.byteLength(text);
    this.appendedSinceCompaction = 0;
  }

  /** Drops final payments past retention, then the oldest beyond maxPayments. */
  private prune(): void {
    const now = this.opts.wallNow();
    for (const [id, record] of this.records) {
      if (isDone(record) && now - record.at > this.opts.retentionMs) this.records.delete(id);
    }
    let excess = this.records.size - this.opts.maxPayments;
    if (excess <= 0) return;
    // Map iteration is insertion order: oldest payments first.
    for (const [id, record] of this.records) {
      if (excess <= 0) break;
      if (isDone(record)) {
        this.records.delete(id);
        excess--;
      }
    }
  }

  private replay(text: string): void {
    const { skippedLines } = replayLedger(text, this.records);
    this.skippedLines += skippedLines;
    if (this.skippedLines > 0) {
      this.opts.logger.warn({ skipped: this.skippedLines, path: this.path },
        'payment ledger had unreadable lines (a torn write after power loss?); they were skipped and will be compacted away');
    }
  }

  private merge(change: LedgerChange): LedgerRecord {
    return mergeChange(this.records, change);
  }

  private requireOpen(): FileHandle {
    if (!this.handle) throw new LedgerError('STORAGE_ERROR', 'the payment ledger is not open');
    return this.handle;
  }
}

/**
 * Replays ledger text into `into` (merged per id, in first-appearance order).
 * The one reading of the format: the daemon and `otcctl payments` both use it.
 */
export function replayLedger(text: string, into = new Map<string, LedgerRecord>()): { records: Map<string, LedgerRecord>; skippedLines: number } {
  let skippedLines = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      skippedLines++;
      continue;
    }
    if (!isChange(parsed)) {
      if (!isHeader(parsed)) skippedLines++;
      continue;
    }
    mergeChange(into, parsed);
  }
  return { records: into, skippedLines };
}

/** Merges one change line into its payment's record: null clears a field, refs accumulate. */
function mergeChange(records: Map<string, LedgerRecord>, change: LedgerChange): LedgerRecord {
  const previous = records.get(change.id);
  const merged = { ...previous, ...change } as Record<string, unknown>;
  for (const key of Object.keys(merged)) {
    if (merged[key] === null || merged[key] === undefined) delete merged[key];
  }
  // Every ref ever sent, from earlier changes, a compacted line's list, and this change.
  const refs = [...(previous?.refs ?? [])];
  for (const ref of [...(Array.isArray(change.refs) ? change.refs : []), ...(typeof change.ref === 'string' ? [change.ref] : [])]) {
    if (!refs.includes(ref)) refs.push(ref);
  }
  if (refs.length > 0) merged.refs = refs;
  const record = merged as unknown as LedgerRecord;
  records.set(change.id, record);
  return record;
}

function isDone(record: LedgerRecord): boolean {
  return FINAL_STATES.has(record.st) && record.reconcile !== true;
}

function isChange(value: unknown): value is LedgerChange {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string';
}

function isHeader(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { v?: unknown }).v === LEDGER_VERSION;
}

/** fsync of a directory makes a rename in it durable. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
