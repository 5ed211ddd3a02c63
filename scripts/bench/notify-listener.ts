/**
 * A stand-in for systemd's notification socket: test/systemd/notify-listener.py
 * (a real AF_UNIX datagram socket, which Node cannot open) printing one JSON
 * line per datagram, and releasing systemd-notify's barrier at once.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../lib/repo-root.js';

export interface NotifyListener {
  path: string;
  /** Resolves at the next datagram whose text has `assignment` as a line (e.g. READY=1), with performance.now() at its arrival. */
  next(assignment: string, timeoutMs: number): Promise<number>;
  stop(): void;
}

export async function startNotifyListener(path: string): Promise<NotifyListener> {
  const child = spawn('python3', [join(repoRoot(), 'test', 'systemd', 'notify-listener.py'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let waiter: { assignment: string; resolve: (at: number) => void } | undefined;
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`notify-listener.py exited (${code}) before listening on ${path}`)));
    lines.once('line', () => resolve());
  });
  lines.on('line', (line) => {
    const at = performance.now();
    const { text } = JSON.parse(line) as { text: string };
    if (waiter && text.split('\n').includes(waiter.assignment)) {
      const { resolve } = waiter;
      waiter = undefined;
      resolve(at);
    }
  });
  return {
    path,
    next: (assignment, timeoutMs) => new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = undefined;
        reject(new Error(`no ${assignment} on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter = { assignment, resolve: (at) => { clearTimeout(timer); resolve(at); } };
    }),
    stop: () => { child.kill('SIGTERM'); },
  };
}
