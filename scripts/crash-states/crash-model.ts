/**
 * Every state a power cut can leave on the medium, from a story's trace,
 * under the model of ext4 with data=ordered that ALICE (Pillai et al.,
 * OSDI 2014) and CrashMonkey/ACE (Mohan et al., OSDI 2018) use, taken on its
 * cautious side:
 *
 * - a file's data (writes, truncations) up to its last fsync/fdatasync is on
 *   the medium; its later data persisted as a prefix of those operations, the
 *   last of which may be torn at any byte (data=ordered never shows garbage:
 *   a torn append is a shorter file, not a longer one with zeros);
 * - a directory entry (creation, mkdir, rename, unlink) is on the medium once
 *   its directory was fsynced after it; the entries not yet synced persisted
 *   as a prefix of them, in the order they were made (the journal commits
 *   metadata in order). A file whose entry did not persist is not there, even
 *   if its data was fsynced; a file in a directory whose own entry did not
 *   persist is not there either.
 *
 * A power cut may come at any moment. Cuts are taken just before each sync
 * returns, and at the end: any state possible at an earlier moment between
 * two syncs is also possible at the later one (nothing became durable in
 * between), and by then the outside world has seen at least as much, so the
 * later cut is the stricter test. Cuts are walked from the last to the first
 * and a state already produced (same names, same bytes) is not produced
 * again: each distinct state is checked once, against the most the outside
 * world can have seen when it was possible.
 */
import { createHash } from 'node:crypto';
import { dirOf, isObservation, type FsStep, type Observation, type TraceStep } from './trace.js';

export interface CrashState {
  /** Steps [0, cut) had been issued when the power went. */
  cut: number;
  /** Directories that exist (relative paths; '' is the state directory's parent). */
  dirs: string[];
  /** Files that exist, with their bytes. */
  files: Map<string, Buffer>;
  /** What the outside world had seen by the cut. */
  seen: Observation[];
  /** How this state came about, for a person reading a violation. */
  how: string;
  /** Names and bytes, hashed: equal states have equal keys. */
  key: string;
}

export type TornBytes = 'all' | 'lines';

export interface CrashModelOptions {
  /**
   * Where a write may be torn: `all` at every byte; `lines` at every byte of
   * writes up to SHORT_WRITE_BYTES long, and in longer ones one byte into each
   * line, its middle, the byte before its newline and the line boundary.
   */
  torn: TornBytes;
}

export const SHORT_WRITE_BYTES = 16;

/** Every distinct crash state of a trace, latest cut first. */
export function* crashStates(steps: readonly TraceStep[], opts: CrashModelOptions): Generator<CrashState> {
  const seenKeys = new Set<string>();
  const cuts: number[] = [];
  steps.forEach((step, i) => {
    if (step.kind === 'fsync' || step.kind === 'dirsync') cuts.push(i);
  });
  cuts.push(steps.length);
  for (const cut of cuts.reverse()) {
    for (const state of statesAtCut(steps, cut, opts)) {
      if (seenKeys.has(state.key)) continue;
      seenKeys.add(state.key);
      yield state;
    }
  }
}

/** The states possible when the power goes with steps [0, cut) issued (duplicates included). */
export function* statesAtCut(steps: readonly TraceStep[], cut: number, opts: CrashModelOptions): Generator<CrashState> {
  const issued = steps.slice(0, cut);
  const seen = issued.filter(isObservation);
  const entryOps: Array<{ index: number; step: FsStep }> = [];
  const dataOps = new Map<number, Array<{ index: number; step: FsStep & ({ kind: 'write' } | { kind: 'truncate' }) }>>();
  const lastFsync = new Map<number, number>();
  const lastDirsync = new Map<string, number>();
  issued.forEach((step, index) => {
    switch (step.kind) {
      case 'mkdir': case 'create': case 'rename': case 'unlink':
        entryOps.push({ index, step });
        break;
      case 'write': case 'truncate': {
        const list = dataOps.get(step.inode) ?? [];
        list.push({ index, step });
        dataOps.set(step.inode, list);
        break;
      }
      case 'fsync': lastFsync.set(step.inode, index); break;
      case 'dirsync': lastDirsync.set(step.path, index); break;
      case 'event': case 'auth': break;
    }
  });
  const durableEntry = ({ index, step }: { index: number; step: FsStep }): boolean => entryDirs(step).every((dir) => (lastDirsync.get(dir) ?? -1) > index);
  const durable = entryOps.filter(durableEntry);
  const pending = entryOps.filter((op) => !durableEntry(op));

  const variantsOf = new Map<number, Array<{ bytes: Buffer; how: string }>>();
  const variants = (inode: number): Array<{ bytes: Buffer; how: string }> => {
    let list = variantsOf.get(inode);
    if (!list) {
      list = dataVariants(dataOps.get(inode) ?? [], lastFsync.get(inode) ?? -1, opts);
      variantsOf.set(inode, list);
    }
    return list;
  };

  for (let d = 0; d <= pending.length; d++) {
    const applied = [...durable, ...pending.slice(0, d)].sort((a, b) => a.index - b.index);
    const { dirs, files } = namespace(applied.map((op) => op.step));
    const paths = [...files.keys()].sort();
    const entryHow = pending.length === 0 ? 'all entries synced' : `${d} of ${pending.length} unsynced entries persisted`;
    // Every combination of each visible file's data variants.
    const combine = function* (i: number, chosen: Map<string, Buffer>, how: string[]): Generator<CrashState> {
      if (i === paths.length) {
        const filesNow = new Map(chosen);
        yield { cut, dirs, files: filesNow, seen, how: [entryHow, ...how].join('; '), key: keyOf(dirs, filesNow) };
        return;
      }
      const path = paths[i]!;
      for (const v of variants(files.get(path)!)) {
        chosen.set(path, v.bytes);
        yield* combine(i + 1, chosen, v.how === '' ? how : [...how, `${path}: ${v.how}`]);
      }
      chosen.delete(path);
    };
    yield* combine(0, new Map(), []);
  }
}

function entryDirs(step: FsStep): string[] {
  switch (step.kind) {
    case 'rename': return [...new Set([dirOf(step.from), dirOf(step.to)])];
    case 'mkdir': case 'create': case 'unlink': return [dirOf(step.path)];
    default: return [];
  }
}

/** The directory tree after some entry steps: only what hangs off the root. */
function namespace(steps: readonly FsStep[]): { dirs: string[]; files: Map<string, number> } {
  const dirs = new Set<string>(['']);
  const files = new Map<string, number>();
  for (const step of steps) {
    switch (step.kind) {
      case 'mkdir': dirs.add(step.path); break;
      case 'create': files.set(step.path, step.inode); break;
      case 'rename': {
        const inode = files.get(step.from);
        if (inode === undefined) break;
        files.delete(step.from);
        files.set(step.to, inode);
        break;
      }
      case 'unlink': files.delete(step.path); break;
      default: break;
    }
  }
  const reachable = (path: string): boolean => path === '' || (dirs.has(path) && reachable(dirOf(path)));
  for (const path of [...files.keys()]) if (!reachable(dirOf(path))) files.delete(path);
  return { dirs: [...dirs].filter((d) => d !== '' && reachable(d)).sort(), files };
}

/** The contents a file may have: its synced data, then each prefix of the rest, each write torn where opts say. */
export function dataVariants(
  ops: ReadonlyArray<{ index: number; step: FsStep & ({ kind: 'write' } | { kind: 'truncate' }) }>, syncedBefore: number, opts: CrashModelOptions,
): Array<{ bytes: Buffer; how: string }> {
  let bytes: Buffer = Buffer.alloc(0);
  const rest: Array<FsStep & ({ kind: 'write' } | { kind: 'truncate' })> = [];
  for (const { index, step } of ops) {
    if (index < syncedBefore) bytes = applyData(bytes, step);
    else rest.push(step);
  }
  const out = [{ bytes, how: rest.length === 0 ? '' : `0 of ${rest.length} unsynced writes` }];
  rest.forEach((step, j) => {
    if (step.kind === 'write') {
      for (const at of tornAt(step.data, opts.torn)) {
        out.push({ bytes: applyData(bytes, { ...step, data: step.data.subarray(0, at) }), how: `${j} of ${rest.length} unsynced writes, the next torn after ${at} of ${step.data.length} bytes` });
      }
    }
    bytes = applyData(bytes, step);
    out.push({ bytes, how: `${j + 1} of ${rest.length} unsynced writes` });
  });
  return out;
}

function applyData(bytes: Buffer, step: FsStep & ({ kind: 'write' } | { kind: 'truncate' })): Buffer {
  if (step.kind === 'truncate') {
    return step.length <= bytes.length ? Buffer.from(bytes.subarray(0, step.length)) : Buffer.concat([bytes, Buffer.alloc(step.length - bytes.length)]);
  }
  const end = step.offset + step.data.length;
  const out = Buffer.alloc(Math.max(bytes.length, end));
  bytes.copy(out);
  step.data.copy(out, step.offset);
  return out;
}

/** How many bytes of a write may have persisted when it is torn (never 0 or all: those are the prefixes). */
export function tornAt(data: Buffer, mode: TornBytes): number[] {
  const n = data.length;
  if (n < 2) return [];
  const every = (): number[] => Array.from({ length: n - 1 }, (_, i) => i + 1);
  if (mode === 'all' || n <= SHORT_WRITE_BYTES) return every();
  const at = new Set<number>();
  let start = 0;
  while (start < n) {
    const nl = data.indexOf(0x0a, start);
    const end = nl < 0 ? n : nl; // the line is [start, end), its newline at end
    at.add(start + 1);
    at.add(start + Math.floor((end - start) / 2));
    at.add(end);
    at.add(end + 1);
    start = end + 1;
  }
  return [...at].filter((b) => b >= 1 && b < n).sort((a, b) => a - b);
}

function keyOf(dirs: readonly string[], files: ReadonlyMap<string, Buffer>): string {
  const hash = createHash('sha256');
  for (const dir of dirs) hash.update(`d ${dir}\0`);
  for (const path of [...files.keys()].sort()) {
    const bytes = files.get(path)!;
    hash.update(`f ${path} ${bytes.length}\0`).update(bytes);
  }
  return hash.digest('hex');
}
