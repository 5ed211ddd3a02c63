/**
 * Reads the log of `strace -f -yy -xx` (see fs-capture.ts) into whole system
 * calls, in the order they completed, each with the position of its entry.
 *
 * With -xx every string and every fd description (`18<\x2f...>`) is printed
 * as \xNN escapes, so the only quotes and angle brackets left on a line are
 * strace's own: a regular expression can take a line apart safely.
 *
 * A call another thread interrupted is printed in two lines:
 *   PID name(ARGS <unfinished ...>
 *   PID <... name resumed>MORE) = RET
 * and is returned once, at its resumed line, with ARGS and MORE joined.
 */
import { decodeEscapes } from '../leak-hunt/strace-log.js';

export interface Syscall {
  /** 0-based index of the line where the call entered. */
  entry: number;
  /** 0-based index of the line where it returned (the same line when it was not interrupted). */
  exit: number;
  pid: number;
  name: string;
  /** The arguments as printed (escapes not decoded). */
  args: string;
  ret: number;
  /** What -yy printed after the return value (an opened fd's path), decoded. */
  retTarget?: string;
}

const COMPLETE = /^(\d+) +([a-z0-9_]+)\((.*)\) += (-?\d+)(?:<([^>]*)>)?(?: .*)?$/s;
const UNFINISHED = /^(\d+) +([a-z0-9_]+)\((.*) <unfinished \.\.\.>$/s;
const RESUMED = /^(\d+) +<\.\.\. ([a-z0-9_]+) resumed>(.*)\) += (-?\d+)(?:<([^>]*)>)?(?: .*)?$/s;

export class SyscallLog {
  private readonly open = new Map<number, { name: string; args: string; entry: number }>();
  private lineNo = -1;

  /** The call that this line completes, if any. */
  push(text: string): Syscall | undefined {
    const line = ++this.lineNo;
    const complete = COMPLETE.exec(text);
    if (complete) return syscall(line, line, complete[1]!, complete[2]!, complete[3]!, complete[4]!, complete[5]);
    const unfinished = UNFINISHED.exec(text);
    if (unfinished) {
      this.open.set(Number(unfinished[1]), { name: unfinished[2]!, args: unfinished[3]!, entry: line });
      return undefined;
    }
    const resumed = RESUMED.exec(text);
    if (resumed) {
      const started = this.open.get(Number(resumed[1]));
      this.open.delete(Number(resumed[1]));
      if (!started || started.name !== resumed[2]) return undefined;
      return syscall(started.entry, line, resumed[1]!, started.name, started.args + resumed[3]!, resumed[4]!, resumed[5]);
    }
    return undefined; // exits, signals, calls that never returned
  }
}

function syscall(entry: number, exit: number, pid: string, name: string, args: string, ret: string, target: string | undefined): Syscall {
  const call: Syscall = { entry, exit, pid: Number(pid), name, args, ret: Number(ret) };
  if (target !== undefined) call.retTarget = decodeEscapes(target).toString('utf8');
  return call;
}

/** Every complete call of a whole log text, in the order they returned. */
export function parseSyscalls(text: string): Syscall[] {
  const log = new SyscallLog();
  const calls: Syscall[] = [];
  for (const line of text.split('\n')) {
    const call = log.push(line);
    if (call) calls.push(call);
  }
  return calls;
}

/** The quoted strings of an argument list, decoded, in order. */
export function quotedArgs(args: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of args.matchAll(/"((?:\\x[0-9a-f]{2}|[^"\\]|\\.)*)"/g)) out.push(decodeEscapes(m[1]!));
  return out;
}

/**
 * The leading `FD<target>` of an argument list, and the arguments after it.
 * A socket's description is printed as is (`UNIX-STREAM:[1->2,"\\x2f..."]`):
 * the target ends at a '>' followed by ',' or the end, as in the leak scan.
 */
export function fdArg(args: string): { fd: number; target: string; rest: string } | undefined {
  const m = /^(-?\d+)/.exec(args);
  if (!m) return undefined;
  const fd = Number(m[1]);
  const at = m[1]!.length;
  if (args[at] !== '<') return { fd, target: '', rest: args.slice(at) };
  let end = at + 1;
  for (;;) {
    end = args.indexOf('>', end);
    if (end < 0) return undefined;
    const after = args[end + 1];
    if (after === undefined || after === ',' || after === ')') break;
    end++;
  }
  return { fd, target: decodeEscapes(args.slice(at + 1, end)).toString('utf8'), rest: args.slice(end + 1) };
}

/** The numbers among the top-level arguments after the quoted ones (a write's count, a truncate's length). */
export function trailingNumber(args: string): number | undefined {
  const m = /, (-?\d+)\s*$/.exec(args);
  return m ? Number(m[1]) : undefined;
}
