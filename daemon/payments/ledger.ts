/**
 * The payment ledger: an append-only file of payment state changes under the
 * state directory, so that a crash or a power cut loses no payment and never
 * lets an AUTH go to the terminal twice.
 *
 * Format (ledger-record.ts): one JSON object per line. Each line is a
 * *change* of one payment (`id` plus the fields that changed); replaying the
 * lines in order and merging them per `id` gives every payment's latest
 * record. No card data is ever written.
 *
 * Memory: the ledger keeps in memory only the payments that can still change
 * (running, and unknown ones waiting for reconciliation) and the most recent
 * done ones. Older payments stay in the file and are found through a
 * fixed-size index of where their lines start (id-index.ts), read back on
 * `find`. So the daemon's memory is the same after 1,000 payments as after
 * 50,000 (`npm run bench`), where holding every retained payment would cost
 * about 1 KiB each.
 *
 * Durability: `append(change, { durable: true })` resolves only after
 * fdatasync, and is used before an AUTH goes to the terminal and when a
 * payment becomes final. Other changes ride along with the next sync.
 * A synced line is only as durable as the file's name: creating the state
 * directory, creating the file and every rename are followed by an fsync of
 * the directory that holds the new entry (`npm run crash-states` replays
 * power cuts to check it).
 *
 * A torn last line (power lost mid-write) or any line that does not parse is
 * skipped on replay and disappears at the compaction that `open()` then runs
 * (a clean file is not rewritten at start). Compaction (ledger-compaction.ts)
 * rewrites the file as one merged line per retained payment (temp file,
 * fsync, rename, fsync of the directory: the old file stays whole until the
 * new one is).
 */
import { rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OtcdError } from '../../drivers/errors.js';
import { IdIndex } from './id-index.js';
import { compactLedgerFile } from './ledger-compaction.js';
import { syncDirectory } from './fsync.js';
import { openLedgerFile, prepareStateDir } from './ledger-modes.js';
import { changesOf, readLines } from './ledger-lines.js';
import {
  LEDGER_FILE, changeLine, headerLine, isDone, isFinal, mayChangeAfterDone, mergeChange, parseLine, voidOutcomeUnknownSince, type LedgerChange, type LedgerRecord,
} from './ledger-record.js';

export { LEDGER_FILE, replayLedger, type LedgerChange, type LedgerRecord } from './ledger-record.js';

/** Done payments kept in memory besides the open ones: a kiosk asks about its latest payments, not last week's. */
export const RECENT_DONE_IN_MEMORY = 64;

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

export class Ledger {
  private handle: FileHandle | undefined;
  /** Payments that can still change: running, or unknown and waiting for reconciliation. */
  private readonly live = new Map<string, LedgerRecord>();
  /** The latest done payments, oldest first. */
  private readonly recent = new Map<string, LedgerRecord>();
  /** Open payments none of whose lines is in the file yet (the first write puts them in the index). */
  private readonly unindexed = new Set<string>();
  private index: IdIndex;
  /** Done payments in the file (kept by the last compaction, or done since). */
  private doneCount = 0;
  private queue: Promise<void> = Promise.resolve();
  private appendedSinceCompaction = 0;
  /** Size of the file right after the last compaction (or at open). */
  private compactedBytes = 0;
  private fileBytes = 0;
  private bytesWritten = 0;
  private skippedLines = 0;
  /** The highest terminal operation number (LedgerRecord.termSeq) the file holds. */
  private termSeq = 0;
  /** Payments in state `unknown` (few: each needs a person or a LAST answer), id -> created. */
  private readonly unknowns = new Map<string, number>();
  /**
   * Approved payments whose void's outcome is unknown (few, as above), id ->
   * wall ms the void's outcome became unknown (voidOutcomeUnknownSince): the
   * customer's money may or may not have gone back.
   */
  private readonly unknownVoids = new Map<string, number>();
  readonly path: string;

  constructor(private readonly opts: LedgerOptions) {
    this.path = join(opts.stateDir, LEDGER_FILE);
    this.index = new IdIndex(opts.maxPayments);
  }

  /** Reads the ledger (creating the state directory and file if needed), compacting it first when it needs it. */
  async open(): Promise<void> {
    await prepareStateDir(this.opts.stateDir, this.opts.logger);
    const replay = await this.replay();
    this.skippedLines = replay.skipped;
    if (replay.skipped > 0) {
      this.opts.logger.warn({ skipped: replay.skipped, path: this.path },
        'payment ledger had unreadable lines (a torn write after power loss?); they were skipped and will be compacted away');
    }
    // Compact now only when the file needs it: a torn or unreadable line (the next
    // append must not be glued to it), a change to a payment after it was done, payments
    // past retention or beyond maxPayments, or more superseded change lines than the
    // compaction policy lets a running daemon keep. A clean file is appended to as it is,
    // which keeps two fsyncs and a rewrite off the start-up path.
    const payments = this.doneCount + this.live.size;
    const superseded = replay.lines > 0 ? Math.round(replay.bytes * (replay.lines - payments) / replay.lines) : 0;
    if (replay.skipped > 0 || replay.changedAfterDone || replay.expired > 0 || payments > this.opts.maxPayments
      || superseded >= Math.max(this.opts.compactAfterBytes, replay.bytes - superseded)) {
      await this.compactNow();
      if (replay.changedAfterDone) await this.replay(); // the compacted file has each payment whole
    } else {
      this.handle = await openLedgerFile(this.path, 'a');
      if (replay.bytes === 0) {
        // A new (or empty) file: its header and its directory entry go to the medium
        // before any payment is written to it, or a synced payment line could sit in
        // a file a power cut leaves without a name. A file with lines needs neither.
        await this.handle.write(headerLine(this.termSeq));
        await this.handle.datasync();
        await syncDirectory(this.opts.stateDir);
      }
      this.compactedBytes = this.fileBytes = (await this.handle.stat()).size;
    }
  }

  /** Payments that can still change (running, or unknown and waiting for reconciliation), oldest first. */
  get openPayments(): ReadonlyMap<string, LedgerRecord> {
    return this.live;
  }

  /** A payment held in memory (open or recent); `find` also reads older ones from the file. */
  peek(id: string): LedgerRecord | undefined {
    return this.live.get(id) ?? this.recent.get(id);
  }

  /**
   * Puts a done payment read back with `find` into memory again, whole, so
   * that a change to it (a void of an approved payment) merges into it: an
   * `append` for an id not in memory would start a new record.
   */
  hold(record: LedgerRecord): LedgerRecord {
    const held = this.peek(record.id);
    if (held !== undefined) return held;
    this.remember(record);
    return record;
  }

  /** Any payment the ledger holds. Resolves at once for one in memory or one the file certainly lacks. */
  async find(id: string): Promise<LedgerRecord | undefined> {
    const held = this.peek(id);
    if (held !== undefined || !this.index.mayHave(id)) return held;
    // In the write queue: the file and the index do not change under the read (a compaction swaps both).
    const found = this.queue.then(() => this.readFromFile(id));
    this.queue = found.then(() => undefined, () => undefined);
    return found.then((record) => this.peek(id) ?? record, (err: unknown) => {
      throw new LedgerError('STORAGE_ERROR', `cannot read the payment ledger ${this.path}: ${(err as Error).message}`, { cause: err });
    });
  }

  /** Number for the next AUTH or VOID frame (LedgerRecord.termSeq); durable once a change carrying it is. */
  nextTerminalSeq(): number {
    return ++this.termSeq;
  }

  /** The terminal operation number of the latest frame otcd recorded. */
  get terminalSeq(): number {
    return this.termSeq;
  }

  /** Payments whose outcome is `unknown` (kept as long as the ledger keeps them), and the oldest of them. */
  unresolved(): UnresolvedCount {
    return countWithOldest(this.unknowns);
  }

  /** Approved payments whose void's outcome is unknown (kept as long as the ledger keeps them), and the oldest of them. */
  unresolvedVoids(): UnresolvedCount {
    return countWithOldest(this.unknownVoids);
  }

  get stats(): { bytesWritten: number; skippedLines: number; payments: number; inMemory: number; indexBytes: number } {
    return {
      bytesWritten: this.bytesWritten, skippedLines: this.skippedLines, payments: this.doneCount + this.live.size,
      inMemory: this.live.size + this.recent.size, indexBytes: this.index.bytes,
    };
  }

  /**
   * Records a change. Resolves when the line is written (and, with
   * `durable`, synced to the medium). Changes are written in call order.
   * The change is merged into memory at once: `peek` sees it before the
   * write resolves. Only a new payment or one in memory can change: an id
   * not in memory starts a new record (see `hold` for voiding an old one).
   */
  append(change: LedgerChange, options: { durable?: boolean } = {}): Promise<LedgerRecord> {
    const merged = this.merge(change);
    const line = changeLine(change);
    const durable = options.durable === true || isFinal(merged);
    const write = this.queue.then(async () => {
      const handle = this.requireOpen();
      const bytes = Buffer.from(line, 'utf8');
      const offset = this.fileBytes;
      const { bytesWritten } = await handle.write(bytes);
      if (bytesWritten !== bytes.length) {
        // A full disk can take part of a line without an error: cut it off, or the
        // next line would be glued to it and both lost on replay.
        await handle.truncate(offset).catch(() => undefined);
        throw new Error(`short write (${bytesWritten} of ${bytes.length} bytes): the disk is full`);
      }
      this.fileBytes += bytes.length;
      if (this.unindexed.delete(change.id)) this.index.add(change.id, offset);
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
    this.queue = write.catch(async () => {
      // The file may have taken part of it (or been cut back): know its size again.
      this.fileBytes = await stat(this.path).then((s) => s.size, () => this.fileBytes);
    });
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

  /**
   * Every payment in the file, merged, in first-appearance order: for tests
   * and diagnostics (it holds them all in memory; the daemon never calls it).
   */
  async readAll(): Promise<Map<string, LedgerRecord>> {
    await this.flush();
    const all = new Map<string, LedgerRecord>();
    for await (const { change } of changesOf(this.path)) all.set(change.id, mergeChange(all.get(change.id), change));
    return all;
  }

  private async compactNow(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const policy = { now: this.opts.wallNow(), retentionMs: this.opts.retentionMs, maxPayments: this.opts.maxPayments, termSeq: this.termSeq };
    const result = await compactLedgerFile(this.path, tmp, this.index, policy);
    await this.handle?.close();
    this.handle = undefined;
    await rename(tmp, this.path);
    await syncDirectory(this.opts.stateDir);
    this.handle = await openLedgerFile(this.path, 'a');
    this.index = result.index;
    this.doneCount = result.done;
    // A recent payment the compaction dropped (past retention, beyond the bound) is gone.
    for (const id of this.recent.keys()) if (!this.index.mayHave(id)) this.recent.delete(id);
    for (const id of this.unknowns.keys()) if (!this.index.mayHave(id)) this.unknowns.delete(id);
    for (const id of this.unknownVoids.keys()) if (!this.index.mayHave(id)) this.unknownVoids.delete(id);
    this.bytesWritten += result.bytes;
    this.compactedBytes = this.fileBytes = result.bytes;
    this.appendedSinceCompaction = 0;
  }

  /**
   * Streams the file once: the open payments and the latest done ones into
   * memory, every payment's first line into the index.
   */
  private async replay(): Promise<{ lines: number; bytes: number; skipped: number; expired: number; changedAfterDone: boolean }> {
    this.live.clear();
    this.recent.clear();
    this.unindexed.clear();
    this.unknowns.clear();
    this.unknownVoids.clear();
    this.termSeq = 0;
    this.index = new IdIndex(this.opts.maxPayments);
    this.doneCount = 0;
    const now = this.opts.wallNow();
    let lines = 0;
    let bytes = 0;
    let skipped = 0;
    let expired = 0;
    let changedAfterDone = false;
    try {
      for await (const line of readLines(this.path)) {
        bytes = line.offset + line.bytes.length + (line.complete ? 1 : 0);
        const parsed = line.complete ? parseLine(line.bytes.toString('utf8')) : { kind: 'invalid' as const };
        if (parsed.kind === 'invalid') skipped++;
        if (parsed.kind === 'header') this.termSeq = Math.max(this.termSeq, parsed.termSeq);
        if (parsed.kind !== 'change') continue;
        lines++;
        const { change } = parsed;
        const previous = this.live.get(change.id);
        if (previous === undefined) {
          if (this.index.mayHave(change.id) && await this.readFromFile(change.id) !== undefined) {
            // A change to a payment after it was done (a void of an approved payment, or a
            // file otcd did not write): open() compacts, which merges such a payment whole,
            // and replays again.
            changedAfterDone = true;
            continue;
          }
          // New here (a match in the index was another id's hash).
          this.index.add(change.id, line.offset);
        }
        const merged = mergeChange(previous, change);
        this.noteTerminalUse(merged);
        if (isDone(merged)) {
          this.live.delete(change.id);
          this.doneCount++;
          if (now - merged.at > this.opts.retentionMs) expired++;
          this.remember(merged);
        } else {
          this.live.set(change.id, merged);
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return { lines, bytes, skipped, expired, changedAfterDone };
  }

  /** Reads a payment that is no longer in memory back from the file. */
  private async readFromFile(id: string): Promise<LedgerRecord | undefined> {
    const key = Buffer.from(`"id":${JSON.stringify(id)}`);
    for (const offset of this.index.candidates(id)) {
      let record: LedgerRecord | undefined;
      for await (const line of readLines(this.path, offset)) {
        // Most lines are other payments': look for the id in the bytes before parsing.
        if (!line.complete || line.bytes.indexOf(key) < 0) {
          if (line.offset === offset) break; // the candidate line is another id's: a hash collision
          continue;
        }
        const parsed = parseLine(line.bytes.toString('utf8'));
        if (parsed.kind !== 'change' || parsed.change.id !== id) {
          if (line.offset === offset) break;
          continue;
        }
        record = mergeChange(record, parsed.change);
        // A done payment has no later lines, except an approved one, which may be voided.
        if (isDone(record) && !mayChangeAfterDone(record)) break;
      }
      if (record !== undefined) return record;
    }
    return undefined;
  }

  private merge(change: LedgerChange): LedgerRecord {
    const previous = this.peek(change.id);
    const merged = mergeChange(previous, change);
    this.noteTerminalUse(merged);
    if (previous === undefined) this.unindexed.add(change.id);
    if (isDone(merged)) {
      if (previous === undefined || !isDone(previous)) this.doneCount++;
      this.live.delete(change.id);
      this.remember(merged);
    } else {
      if (previous !== undefined && isDone(previous)) this.doneCount--;
      this.recent.delete(change.id);
      this.live.set(change.id, merged);
    }
    return merged;
  }

  /** Keeps the terminal operation number and the sets of unknown payments and voids up to date with a merged record. */
  private noteTerminalUse(record: LedgerRecord): void {
    if (typeof record.termSeq === 'number') this.termSeq = Math.max(this.termSeq, record.termSeq);
    if (typeof record.vtermSeq === 'number') this.termSeq = Math.max(this.termSeq, record.vtermSeq);
    if (record.st === 'unknown') this.unknowns.set(record.id, record.created);
    else this.unknowns.delete(record.id);
    const voidUnknownSince = voidOutcomeUnknownSince(record);
    if (voidUnknownSince === undefined) this.unknownVoids.delete(record.id);
    else this.unknownVoids.set(record.id, voidUnknownSince);
  }

  /** Keeps a done payment among the recent ones, dropping the oldest beyond RECENT_DONE_IN_MEMORY. */
  private remember(record: LedgerRecord): void {
    this.recent.delete(record.id);
    this.recent.set(record.id, record);
    if (this.recent.size > RECENT_DONE_IN_MEMORY) this.recent.delete(this.recent.keys().next().value as string);
  }

  private requireOpen(): FileHandle {
    if (!this.handle) throw new LedgerError('STORAGE_ERROR', 'the payment ledger is not open');
    return this.handle;
  }
}

export interface UnresolvedCount {
  count: number;
  /** The one that has waited longest, with the wall ms it started waiting. */
  oldest?: { id: string; since: number };
}

function countWithOldest(since: ReadonlyMap<string, number>): UnresolvedCount {
  let oldest: { id: string; since: number } | undefined;
  for (const [id, at] of since) if (oldest === undefined || at < oldest.since) oldest = { id, since: at };
  return { count: since.size, ...(oldest ? { oldest } : {}) };
}
