/**
 * Reads the log that `strace -f -yy -xx -o FILE` writes (see strace-capture.ts)
 * back into the bytes of each traced write: which process wrote, to which fd,
 * what that fd was (-yy), and the buffers handed to the kernel (one for
 * write/pwrite64/sendto, one per iovec for the vectored calls).
 *
 * Line forms (PID first, because of -f with one output file):
 *   PID write(FD<TARGET>, "BYTES", N) = N
 *   PID writev(FD<TARGET>, [{iov_base="BYTES", iov_len=N}, ...], CNT) = N
 *   PID sendmsg(FD<TARGET>, {msg_name=..., msg_iov=[{iov_base="BYTES", ...}], ...}, FLAGS) = N
 *   PID write(FD<TARGET>, "BYTES", N <unfinished ...>     another thread ran in between;
 *   PID <... write resumed>) = N                            the bytes are on the first line
 *   +++ / --- lines                                         exits and signals, not writes
 * A string followed by "..." was cut at -s bytes; it is kept and flagged.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface TracedWrite {
  /** 1-based line number in the log, for pointing at a hit. */
  line: number;
  pid: number;
  syscall: string;
  fd: number;
  /** What -yy printed for the fd, decoded: "/path", "/dev/pts/3", "UNIX-STREAM:[...]", "TCP:[...]". */
  target: string;
  /** The buffers as the program handed them over (one per iovec). */
  chunks: Buffer[];
  /** Some buffer was longer than strace's -s and was cut. */
  truncated: boolean;
  /** The call's return value when on this line (-1 for an error); undefined when unfinished. */
  result?: number;
}

/** A line that is neither a write nor one of strace's known non-write lines. */
export interface UnparsedLine {
  line: number;
  text: string;
}

/** Syscalls whose bytes strace prints as the string right after the fd. */
const FLAT_WRITES = new Set(['write', 'pwrite64', 'sendto']);
/** Syscalls whose bytes are the iov_base strings of their iovecs. */
const VECTOR_WRITES = new Set(['writev', 'pwritev', 'pwritev2', 'sendmsg', 'sendmmsg']);
/** Syscalls that move bytes strace cannot show; seeing one makes a capture incomplete. */
export const OPAQUE_SYSCALLS = new Set(['sendfile', 'copy_file_range', 'splice', 'io_uring_setup']);

const ENTRY = /^(\d+) +([a-z0-9_]+)\((.*)$/s;
const RESUMED = /^(\d+) +<\.\.\. ([a-z0-9_]+) resumed>(.*)$/s;
const RESULT = /\) += (-?\d+)(?: [A-Z]+.*)?$/;
const UNFINISHED = ' <unfinished ...>';
/** What -xx prints: every byte as \xNN (the fast path of decodeEscapes). */
const ALL_HEX_ESCAPES = /^(?:\\x[0-9a-f]{2})*$/;

/** Decodes strace's C-style string escapes (-xx gives only \xNN; the rest for safety). */
export function decodeEscapes(text: string): Buffer {
  if (ALL_HEX_ESCAPES.test(text)) return Buffer.from(text.replaceAll('\\x', ''), 'hex');
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x5c /* \ */) {
      out.push(c & 0xff);
      continue;
    }
    const next = text[++i];
    if (next === 'x') {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (next !== undefined && next >= '0' && next <= '7') {
      let j = i;
      while (j < i + 3 && text[j] !== undefined && text[j]! >= '0' && text[j]! <= '7') j++;
      out.push(parseInt(text.slice(i, j), 8) & 0xff);
      i = j - 1;
    } else {
      const simple: Record<string, number> = { n: 0x0a, t: 0x09, r: 0x0d, v: 0x0b, f: 0x0c, '\\': 0x5c, '"': 0x22 };
      out.push(simple[next ?? ''] ?? (next ?? '').charCodeAt(0));
    }
  }
  return Buffer.from(out);
}

interface QuotedString {
  /** Index of the opening quote. */
  start: number;
  /** Index just past the closing quote (and past "..." when cut). */
  end: number;
  bytes: Buffer;
  truncated: boolean;
}

/** The quoted strings of an argument list, in order. */
function quotedStrings(text: string): QuotedString[] {
  const found: QuotedString[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '"') continue;
    const j = closingQuote(text, i + 1);
    const bytes = decodeEscapes(text.slice(i + 1, j));
    const truncated = text.startsWith('...', j + 1);
    found.push({ start: i, end: j + 1 + (truncated ? 3 : 0), bytes, truncated });
    i = found[found.length - 1]!.end - 1;
  }
  return found;
}

/** The index of the '"' that ends a string opened before `from` (one not escaped by a backslash); text.length if none. */
function closingQuote(text: string, from: number): number {
  for (let j = text.indexOf('"', from); j >= 0; j = text.indexOf('"', j + 1)) {
    let backslashes = 0;
    while (text[j - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return j;
  }
  return text.length;
}

/** `FD<TARGET>` at the start of the arguments; TARGET ends at a '>' followed by ',' ')' or the end. */
function fdAndTarget(args: string): { fd: number; target: string; rest: string } | undefined {
  const m = /^(-?\d+)/.exec(args);
  if (!m) return undefined;
  const fd = Number(m[1]);
  let at = m[1]!.length;
  if (args[at] !== '<') return { fd, target: '', rest: args.slice(at) };
  let end = at + 1;
  for (;;) {
    end = args.indexOf('>', end);
    if (end < 0) return undefined;
    const after = args[end + 1];
    if (after === undefined || after === ',' || after === ')' || after === ' ') break;
    end++;
  }
  const target = decodeEscapes(args.slice(at + 1, end)).toString('latin1');
  at = end + 1;
  return { fd, target, rest: args.slice(at) };
}

function dataStrings(syscall: string, rest: string): QuotedString[] {
  const strings = quotedStrings(rest);
  if (FLAT_WRITES.has(syscall)) {
    // the buffer is the argument right after the fd: `, "..."`
    const first = strings[0];
    return first && rest.slice(0, first.start).trim() === ',' ? [first] : [];
  }
  if (VECTOR_WRITES.has(syscall)) return strings.filter((s) => rest.slice(Math.max(0, s.start - 9), s.start) === 'iov_base=');
  return [];
}

/** Turns one log line into a write, or says what else it was. */
export class StraceLogParser {
  private readonly unfinished = new Map<number, { syscall: string; fd: number; target: string }>();
  readonly unparsed: UnparsedLine[] = [];
  /** Calls of OPAQUE_SYSCALLS: their bytes are not in the capture. */
  readonly opaque: TracedWrite[] = [];

  parseLine(text: string, line: number): TracedWrite | undefined {
    if (text === '' || /^(\d+ +)?(\+\+\+|---) /.test(text)) return undefined;
    const entry = ENTRY.exec(text);
    if (entry) {
      const pid = Number(entry[1]);
      const syscall = entry[2]!;
      let args = entry[3]!;
      const unfinished = args.endsWith(UNFINISHED);
      if (unfinished) args = args.slice(0, -UNFINISHED.length);
      const head = fdAndTarget(args);
      if (!head) {
        this.unparsed.push({ line, text });
        return undefined;
      }
      if (unfinished) this.unfinished.set(pid, { syscall, fd: head.fd, target: head.target });
      return this.toWrite(line, pid, syscall, head.fd, head.target, head.rest, unfinished ? undefined : resultOf(args));
    }
    const resumed = RESUMED.exec(text);
    if (resumed) {
      const pid = Number(resumed[1]);
      const started = this.unfinished.get(pid);
      this.unfinished.delete(pid);
      if (!started || started.syscall !== resumed[2]) {
        this.unparsed.push({ line, text });
        return undefined;
      }
      if (OPAQUE_SYSCALLS.has(started.syscall)) return undefined; // counted on its first line
      // Data printed on exit (sendmmsg's msg_len, for instance) may carry iovecs here too.
      const write = this.toWrite(line, pid, started.syscall, started.fd, started.target, resumed[3]!, resultOf(resumed[3]!));
      return write && write.chunks.length > 0 ? write : undefined;
    }
    this.unparsed.push({ line, text });
    return undefined;
  }

  private toWrite(line: number, pid: number, syscall: string, fd: number, target: string, rest: string, result: number | undefined): TracedWrite | undefined {
    const strings = dataStrings(syscall, rest);
    const write: TracedWrite = { line, pid, syscall, fd, target, chunks: strings.map((s) => s.bytes), truncated: strings.some((s) => s.truncated), result };
    if (OPAQUE_SYSCALLS.has(syscall)) {
      // A call that failed moved nothing (the capture refuses io_uring_setup on purpose).
      if (result === undefined || result >= 0) this.opaque.push(write);
      return undefined;
    }
    if (!FLAT_WRITES.has(syscall) && !VECTOR_WRITES.has(syscall)) {
      this.unparsed.push({ line, text: `${pid} ${syscall}(...)` });
      return undefined;
    }
    return write;
  }
}

function resultOf(text: string): number | undefined {
  const m = RESULT.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Every write in a log file, streamed (a capture can be hundreds of MB). */
export async function* readStraceLog(path: string, parser = new StraceLogParser()): AsyncGenerator<TracedWrite> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'latin1' }), crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    const write = parser.parseLine(text, ++n);
    if (write) yield write;
  }
}
