/**
 * The real daemon started with extra node flags (a heap snapshot on SIGUSR2,
 * written to a known folder), keeping every byte it writes to stdout and
 * stderr as raw Buffers: a leak may not be valid UTF-8 text.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { DaemonProcess } from '../lib/stack.js';
import { repoRoot } from '../lib/repo-root.js';

export interface CapturedDaemon extends DaemonProcess {
  stdout: Buffer[];
  stderr: Buffer[];
}

export function startCapturedDaemon(configPath: string, diagnosticDir: string): CapturedDaemon {
  const child = spawn(process.execPath, [
    '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${diagnosticDir}`,
    join(repoRoot(), 'dist', 'daemon', 'main.js'), '--config', configPath,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: '', JOURNAL_STREAM: '' } });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const log: string[] = [];
  child.stdout.on('data', (b: Buffer) => {
    stdout.push(b);
    log.push(...b.toString('utf8').split('\n').filter((l) => l.length > 0));
  });
  child.stderr.on('data', (b: Buffer) => {
    stderr.push(b);
    log.push(...b.toString('utf8').split('\n').filter((l) => l.length > 0));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const wait = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  return { process: child, log, exited, stdout, stderr, stop: () => wait('SIGTERM'), kill: async () => { await wait('SIGKILL'); } };
}
