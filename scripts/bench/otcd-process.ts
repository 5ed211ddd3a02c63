/**
 * The real daemon started as systemd starts it: NOTIFY_SOCKET pointing at our
 * listener and, for the long-lived run, WATCHDOG_USEC as otcd.service sets it
 * (WatchdogSec=30s), so READY, STATUS= and the watchdog pings cost what they
 * cost on a kiosk. (scripts/lib/stack.ts clears NOTIFY_SOCKET; this does not.)
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { DaemonProcess } from '../lib/stack.js';
import { repoRoot } from '../lib/repo-root.js';

/** otcd.service: WatchdogSec=30s. */
export const UNIT_WATCHDOG_USEC = 30_000_000;

export interface SpawnOptions {
  notifySocket: string;
  watchdogUsec?: number;
  onLog?: (line: string) => void;
}

export function spawnOtcd(configPath: string, opts: SpawnOptions): DaemonProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: opts.notifySocket, JOURNAL_STREAM: '' };
  delete env.WATCHDOG_PID;
  if (opts.watchdogUsec !== undefined) env.WATCHDOG_USEC = String(opts.watchdogUsec);
  else delete env.WATCHDOG_USEC;
  const child = spawn(process.execPath, [join(repoRoot(), 'dist', 'daemon', 'main.js'), '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'], env,
  });
  const log: string[] = [];
  let partial = '';
  const onChunk = (chunk: Buffer): void => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      // Keep the tail only: a 10,000-payment run would otherwise hold every line.
      if (log.push(line) > 200) log.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout.on('data', onChunk);
  child.stderr.on('data', onChunk);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const wait = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  return { process: child, log, exited, stop: () => wait('SIGTERM'), kill: async () => { await wait('SIGKILL'); } };
}

/** performance.now() at the first successful connect to `path`, polled every `everyMs`. */
export async function socketAcceptingAt(path: string, daemon: DaemonProcess, timeoutMs: number, everyMs = 2): Promise<number> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (daemon.process.exitCode !== null || daemon.process.signalCode !== null) {
      throw new Error(`otcd exited before its socket was up:\n${daemon.log.join('\n')}`);
    }
    const at = await new Promise<number | undefined>((resolve) => {
      const socket = connect(path);
      socket.once('connect', () => { const t = performance.now(); socket.destroy(); resolve(t); });
      socket.once('error', () => resolve(undefined));
    });
    if (at !== undefined) return at;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`otcd's socket ${path} did not accept within ${timeoutMs} ms:\n${daemon.log.join('\n')}`);
}
