/**
 * A story's trace: what otcd did to its state directory (file-system steps)
 * and what the outside world saw (observations), in one order.
 *
 * File-system steps are placed where their call returned (the kernel had
 * applied them to the page cache by then); observations where their write
 * entered (the earliest a peer could have read them), so an observation is
 * never counted later than it happened. Paths are relative to the state
 * directory's parent: `state`, `state/ledger.jsonl`.
 */

/** Inodes are numbered in order of creation within a story. */
export type FsStep =
  | { kind: 'mkdir'; path: string }
  | { kind: 'create'; path: string; inode: number }
  | { kind: 'write'; inode: number; offset: number; data: Buffer }
  | { kind: 'truncate'; inode: number; length: number }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'unlink'; path: string }
  /** fsync or fdatasync of a file: its data up to here is on the medium. */
  | { kind: 'fsync'; inode: number }
  /** fsync of a directory: its entries up to here are on the medium. */
  | { kind: 'dirsync'; path: string };

export type Observation =
  /** A client read this event from the intent socket. */
  | { kind: 'event'; intentId: string; state: string }
  /** The terminal got an AUTH frame with this ref. */
  | { kind: 'auth'; ref: string };

export type TraceStep = FsStep | Observation;

export function isObservation(step: TraceStep): step is Observation {
  return step.kind === 'event' || step.kind === 'auth';
}

/** The directory an entry step changes (where a directory fsync makes it durable). */
export function dirOf(path: string): string {
  const at = path.lastIndexOf('/');
  return at < 0 ? '' : path.slice(0, at);
}

/** One line per step, for a person reading a failing case. */
export function describeStep(step: TraceStep): string {
  switch (step.kind) {
    case 'mkdir': return `mkdir ${step.path}`;
    case 'create': return `create ${step.path} (inode ${step.inode})`;
    case 'write': return `write inode ${step.inode} @${step.offset} +${step.data.length}`;
    case 'truncate': return `truncate inode ${step.inode} to ${step.length}`;
    case 'rename': return `rename ${step.from} -> ${step.to}`;
    case 'unlink': return `unlink ${step.path}`;
    case 'fsync': return `fsync inode ${step.inode}`;
    case 'dirsync': return `fsync dir ${step.path === '' ? '.' : step.path}`;
    case 'event': return `client got ${step.intentId} ${step.state}`;
    case 'auth': return `terminal got AUTH ${step.ref}`;
  }
}
