/**
 * The daemon started under strace, so that every byte it writes to any file
 * descriptor (logs, ledger, socket replies, the terminal link, TLS records) is
 * kept for the leak scan (scripts/leak-scan.ts). Used by the one daemon
 * spawner, scripts/testkit/stack.ts startDaemon, when OTCD_LEAK_CAPTURE_DIR is set.
 *
 * Why each strace flag:
 *   -D            the tracer runs as a detached grandchild: the process the
 *                 caller spawned IS node, so its pid, its signals (SIGTERM,
 *                 the tests' kill -9) and its exit code are the daemon's own;
 *   -f            node writes from its worker threads (libuv's pool does the
 *                 file writes) and the daemon may fork;
 *   --seccomp-bpf only the traced syscalls stop the tracee: the daemon keeps
 *                 its timing closely enough for the timing-bound tests;
 *   -qq           no attach/exit chatter in the capture;
 *   -yy           each fd printed with what it is: a path, /dev/pts/N,
 *                 UNIX-STREAM:[...], TCP:[a->b], pipe:[...];
 *   -xx           every byte (data and fd names) as \xNN: nothing is lost to
 *                 strace's own escaping, and the parser has one form to read;
 *   -s 1000000    whole buffers (a writev of log lines is far below 1 MB);
 *   -e signal=none signals are not writes;
 *   -e trace=...  every syscall that hands bytes to the kernel. sendfile,
 *                 copy_file_range and splice move bytes strace cannot show,
 *                 io_uring_setup would mean file writes bypass syscalls: they
 *                 are traced so the scan can refuse a capture that is blind.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { DaemonPeers } from './auth-frame.js';

/** The environment variable that turns the capture on: the folder to write it to. */
export const CAPTURE_DIR_ENV = 'OTCD_LEAK_CAPTURE_DIR';

/** A capture's strace log is `otcd-<id>.strace`, its description `otcd-<id>.json`. */
export const CAPTURE_PREFIX = 'otcd-';
export const CAPTURE_LOG_SUFFIX = '.strace';
export const CAPTURE_META_SUFFIX = '.json';

export const TRACED_SYSCALLS: readonly string[] = [
  'write', 'pwrite64', 'writev', 'pwritev', 'pwritev2', 'sendto', 'sendmsg', 'sendmmsg',
  'sendfile', 'copy_file_range', 'splice', 'io_uring_setup',
];

export function straceArgs(logPath: string): string[] {
  return ['-D', '-f', '--seccomp-bpf', '-qq', '-yy', '-xx', '-s', '1000000', '-e', 'signal=none',
    '-e', `trace=${TRACED_SYSCALLS.join(',')}`, '-o', logPath];
}

/** What the scan needs to know about a captured daemon besides its writes. */
export interface CaptureMeta extends DaemonPeers {
  configPath: string;
  /** The pid of the traced node process (-D: the pid the caller got). */
  pid?: number;
  started: string;
}

export interface TracedCommand {
  command: string;
  args: string[];
  /** Extra environment for the traced daemon only. */
  env: NodeJS.ProcessEnv;
  logPath: string;
  metaPath: string;
}

let straceChecked = false;

/** `strace <flags> -o DIR/otcd-ID.strace node ARGS`, after making sure strace can run at all. */
export function tracedCommand(captureDir: string, nodePath: string, nodeArgs: readonly string[], configPath: string): TracedCommand {
  if (!straceChecked) {
    const probe = spawnSync('strace', ['-V'], { stdio: 'ignore' });
    if (probe.error || probe.status !== 0) {
      throw new Error(`${CAPTURE_DIR_ENV} is set but strace cannot run (${probe.error?.message ?? `exit ${String(probe.status)}`}): apt-get install -y strace`);
    }
    straceChecked = true;
  }
  const dir = resolve(captureDir);
  mkdirSync(dir, { recursive: true });
  // jest runs test files in several workers, each with its own module state: the
  // id must be unique without a shared counter.
  const id = `${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}`;
  const logPath = join(dir, `${CAPTURE_PREFIX}${id}${CAPTURE_LOG_SUFFIX}`);
  const metaPath = join(dir, `${CAPTURE_PREFIX}${id}${CAPTURE_META_SUFFIX}`);
  const meta: CaptureMeta = { configPath, ...peersOf(configPath), started: new Date().toISOString() };
  writeFileSync(metaPath, `${JSON.stringify(meta)}\n`);
  return {
    command: 'strace',
    args: [...straceArgs(logPath), nodePath, ...nodeArgs],
    // libuv 1.46 (Node 20.20) can do file writes through io_uring, which no
    // syscall tracer sees: measured here, UV_USE_IO_URING=1 makes the ledger's
    // writes vanish from the capture. Node 20.20 leaves it off by default
    // (measured: no io_uring_setup at all), but an inherited environment could
    // turn it on, so the traced daemon has it off explicitly. Only the traced
    // daemon: the untraced one runs exactly as installed.
    env: { UV_USE_IO_URING: '0' },
    logPath,
    metaPath,
  };
}

/** Adds the pid to the description once the process exists. */
export function recordPid(metaPath: string, pid: number | undefined): void {
  if (pid === undefined) return;
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as CaptureMeta;
  writeFileSync(metaPath, `${JSON.stringify({ ...meta, pid })}\n`);
}

/** The state directory and the peers' TCP ports, read from the daemon's configuration. */
function peersOf(configPath: string): DaemonPeers {
  let config: { daemon?: { state_dir?: unknown }; terminal?: { address?: unknown }; provider?: { base_url?: unknown } };
  try {
    config = parseToml(readFileSync(configPath, 'utf8')) as typeof config;
  } catch {
    // A test may start the daemon on a broken config on purpose: the capture still counts.
    return {};
  }
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const port = (url: string | undefined, defaultPort?: number): number | undefined => {
    if (url === undefined) return undefined;
    try {
      const u = new URL(url);
      return u.port !== '' ? Number(u.port) : defaultPort;
    } catch {
      return undefined;
    }
  };
  const stateDir = str(config.daemon?.state_dir);
  const address = str(config.terminal?.address);
  return {
    stateDir: stateDir === undefined ? undefined : resolve(stateDir),
    terminalPort: address?.startsWith('tcp://') ? port(address) : undefined,
    providerPort: port(str(config.provider?.base_url), 443),
  };
}
