/**
 * Turns the traced system calls of otcd's runs into a story's trace
 * (trace.ts): the calls on the state directory become file-system steps
 * (following fds, append positions and renames as the kernel did), the
 * daemon's writes to intent-socket connections become the events clients
 * read, and its writes to the terminal link the AUTH frames the terminal got.
 *
 * Runs of one story share the directory (and its inodes); fds are per run.
 */
import { isAuthFrame } from '../leak-hunt/auth-frame.js';
import { ETX, FS, STX } from '../../drivers/ecr1/frame.js';
import { fdArg, quotedArgs, trailingNumber, type Syscall } from './syscall-log.js';
import type { FsStep, Observation, TraceStep } from './trace.js';

export interface TracePeers {
  /** Absolute path of otcd's state directory. */
  stateDir: string;
  /** Absolute path of the intent socket. */
  socketPath: string;
  /** TCP port of the terminal (the simulator). */
  terminalPort: number;
}

/** Events a client may rely on after a power cut: sent only once their change was synced. */
export const DURABLE_EVENT_STATES = new Set(['delivering', 'approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown']);

type Fd = { kind: 'file'; inode: number; append: boolean; pos: number } | { kind: 'dir'; path: string };

export class TraceBuilder {
  readonly steps: TraceStep[] = [];
  private readonly root: string;
  /** The directory as the running system saw it: relative path -> inode. */
  private readonly files = new Map<string, number>();
  private readonly dirs = new Set<string>(['']);
  private readonly sizes = new Map<number, number>();
  private nextInode = 1;

  constructor(private readonly peers: TracePeers) {
    this.root = peers.stateDir.slice(0, peers.stateDir.lastIndexOf('/'));
  }

  /** The relative path of the state directory (`state`). */
  get stateDirPath(): string {
    return this.rel(this.peers.stateDir) as string;
  }

  inodeAt(path: string): number | undefined {
    return this.files.get(path);
  }

  /** Bytes appended to a file and synced by someone other than otcd between runs (a story preparing a torn tail). */
  appendExternal(path: string, data: Buffer): void {
    const inode = this.files.get(path);
    if (inode === undefined) throw new Error(`${path} is not in the traced directory`);
    this.steps.push(this.apply({ kind: 'write', inode, offset: this.size(inode), data }), { kind: 'fsync', inode });
  }

  /** One daemon run's calls, as SyscallLog returned them (in order of return). */
  addRun(calls: readonly Syscall[]): void {
    const fds = new Map<number, Fd>();
    const socketBuffers = new Map<number, string>();
    const keyed: Array<{ key: number; step: TraceStep }> = [];
    const fs = (call: Syscall, step: FsStep): void => {
      keyed.push({ key: call.exit, step });
    };
    for (const call of calls) {
      if (call.ret < 0) continue;
      const head = fdArg(call.args);
      switch (call.name) {
        case 'open': case 'openat': case 'creat': {
          const opened = this.opened(call);
          if (opened === undefined) break;
          for (const step of opened.steps) fs(call, this.apply(step));
          fds.set(call.ret, opened.fd);
          break;
        }
        case 'close':
          if (head) {
            fds.delete(head.fd);
            socketBuffers.delete(head.fd); // the number may come back as another connection
          }
          break;
        case 'write': case 'writev': case 'pwrite64': case 'pwritev': case 'sendto': case 'sendmsg': {
          if (!head) break;
          const fd = fds.get(head.fd);
          if (fd?.kind === 'file') {
            const data = Buffer.concat(quotedArgs(head.rest)).subarray(0, call.ret);
            const offset = call.name.startsWith('pwrite') ? (trailingNumber(call.args) ?? 0) : fd.append ? this.size(fd.inode) : fd.pos;
            if (!call.name.startsWith('pwrite')) fd.pos = offset + data.length;
            fs(call, this.apply({ kind: 'write', inode: fd.inode, offset, data }));
          } else if (fd === undefined) {
            for (const obs of this.observations(head.fd, head.target, quotedArgs(head.rest), socketBuffers)) keyed.push({ key: call.entry, step: obs });
          }
          break;
        }
        case 'ftruncate': {
          const fd = head ? fds.get(head.fd) : undefined;
          if (fd?.kind === 'file') fs(call, this.apply({ kind: 'truncate', inode: fd.inode, length: trailingNumber(call.args) ?? 0 }));
          break;
        }
        case 'truncate': {
          const path = this.rel(quotedArgs(call.args)[0]?.toString('utf8'));
          const inode = path === undefined ? undefined : this.files.get(path);
          if (inode !== undefined) fs(call, this.apply({ kind: 'truncate', inode, length: trailingNumber(call.args) ?? 0 }));
          break;
        }
        case 'fsync': case 'fdatasync': {
          const fd = head ? fds.get(head.fd) : undefined;
          if (fd?.kind === 'file') fs(call, { kind: 'fsync', inode: fd.inode });
          if (fd?.kind === 'dir') fs(call, { kind: 'dirsync', path: fd.path });
          break;
        }
        case 'mkdir': case 'mkdirat': {
          const path = this.rel(this.pathArg(call, 0));
          if (path !== undefined && path !== '') fs(call, this.apply({ kind: 'mkdir', path }));
          break;
        }
        case 'unlink': case 'unlinkat': {
          const path = this.rel(this.pathArg(call, 0));
          if (path !== undefined && this.files.has(path)) fs(call, this.apply({ kind: 'unlink', path }));
          break;
        }
        case 'rename': case 'renameat': case 'renameat2': {
          const from = this.rel(this.pathArg(call, 0));
          const to = this.rel(this.pathArg(call, 1));
          if (from !== undefined && to !== undefined && this.files.has(from)) fs(call, this.apply({ kind: 'rename', from, to }));
          break;
        }
        default:
          break;
      }
    }
    keyed.sort((a, b) => a.key - b.key);
    for (const { step } of keyed) this.steps.push(step);
  }

  /** Applies a step to the running system's view of the directory and returns it. */
  private apply(step: FsStep): FsStep {
    switch (step.kind) {
      case 'mkdir': this.dirs.add(step.path); break;
      case 'create': this.files.set(step.path, step.inode); this.sizes.set(step.inode, 0); break;
      case 'write': this.sizes.set(step.inode, Math.max(this.size(step.inode), step.offset + step.data.length)); break;
      case 'truncate': this.sizes.set(step.inode, step.length); break;
      case 'rename': {
        const inode = this.files.get(step.from);
        this.files.delete(step.from);
        if (inode !== undefined) this.files.set(step.to, inode);
        break;
      }
      case 'unlink': this.files.delete(step.path); break;
      case 'fsync': case 'dirsync': break;
    }
    return step;
  }

  private size(inode: number): number {
    return this.sizes.get(inode) ?? 0;
  }

  /** What an open() under the state directory's parent did: the fd it gave and the steps it made. */
  private opened(call: Syscall): { fd: Fd; steps: FsStep[] } | undefined {
    const path = this.rel(call.retTarget ?? this.pathArg(call, 0));
    if (path === undefined) return undefined;
    if (this.dirs.has(path)) return { fd: { kind: 'dir', path }, steps: [] };
    const flags = call.name === 'creat' ? 'O_CREAT|O_TRUNC|O_WRONLY' : call.args;
    const steps: FsStep[] = [];
    let inode = this.files.get(path);
    if (inode === undefined) {
      if (!flags.includes('O_CREAT')) return undefined;
      inode = this.nextInode++;
      steps.push({ kind: 'create', path, inode });
    } else if (flags.includes('O_TRUNC')) {
      steps.push({ kind: 'truncate', inode, length: 0 });
    }
    return { fd: { kind: 'file', inode, append: flags.includes('O_APPEND'), pos: 0 }, steps };
  }

  /** The nth path argument of a call, made absolute against its dirfd (or the cwd). */
  private pathArg(call: Syscall, n: number): string | undefined {
    const path = quotedArgs(call.args)[n]?.toString('utf8');
    if (path === undefined || path.startsWith('/')) return path;
    const dirs = [...call.args.matchAll(/(?:^|, )(?:AT_FDCWD|-?\d+)<([^>]*)>/g)].map((m) => m[1]!);
    const base = dirs[n] ?? dirs[0];
    return base === undefined ? undefined : `${Buffer.from(base.replace(/\\x/g, ''), 'hex').toString('utf8')}/${path}`;
  }

  /** A path relative to the state directory's parent, or undefined outside the state directory. */
  private rel(abs: string | undefined): string | undefined {
    if (abs === undefined) return undefined;
    const clean = abs.replace(/ \(deleted\)$/, '');
    if (clean === this.root) return '';
    const state = this.peers.stateDir;
    if (clean !== state && !clean.startsWith(`${state}/`)) return undefined;
    return clean.slice(this.root.length + 1);
  }

  private observations(fd: number, target: string, chunks: Buffer[], buffers: Map<number, string>): Observation[] {
    if (target.startsWith('UNIX-STREAM:') && target.includes(`"${this.peers.socketPath}"`)) {
      const text = (buffers.get(fd) ?? '') + Buffer.concat(chunks).toString('utf8');
      const lines = text.split('\n');
      buffers.set(fd, lines.pop() ?? '');
      const out: Observation[] = [];
      for (const line of lines) {
        let message: unknown;
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        const m = message as { type?: unknown; intentId?: unknown; state?: unknown };
        if (m.type === 'event' && typeof m.intentId === 'string' && typeof m.state === 'string' && DURABLE_EVENT_STATES.has(m.state)) {
          out.push({ kind: 'event', intentId: m.intentId, state: m.state });
        }
      }
      return out;
    }
    const tcp = /^TCP(?:v6)?:\[.*->.*[:\]](\d+)\]$/.exec(target);
    if (tcp && Number(tcp[1]) === this.peers.terminalPort) return authRefs(Buffer.concat(chunks)).map((ref) => ({ kind: 'auth', ref }));
    return [];
  }
}

/** The refs of the whole AUTH frames in bytes written to the terminal link. */
export function authRefs(bytes: Buffer): string[] {
  const refs: string[] = [];
  for (let start = bytes.indexOf(STX); start >= 0; start = bytes.indexOf(STX, start + 1)) {
    const etx = bytes.indexOf(ETX, start);
    if (etx < 0 || etx + 1 >= bytes.length) break;
    const frame = bytes.subarray(start, etx + 2);
    if (!isAuthFrame(frame)) continue;
    const ref = frame.subarray(1, etx - start).toString('latin1').split(String.fromCharCode(FS))[2];
    if (ref !== undefined) refs.push(ref);
  }
  return refs;
}
