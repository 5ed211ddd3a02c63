/**
 * A pair of linked pseudo-terminals made by socat: bytes written to one end
 * come out of the other, like two ends of a null-modem cable.
 * `unplug()` kills socat (the link files disappear, open ports get EIO or a
 * disconnect), as pulling a USB adapter does; `replug()` starts it again on
 * the same link paths.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface PtyPair {
  a: string;
  b: string;
  unplug(): Promise<void>;
  replug(): Promise<void>;
  close(): Promise<void>;
}

const LINK_WAIT_MS = 5000;
const POLL_MS = 10;

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + LINK_WAIT_MS;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export async function ptyPair(): Promise<PtyPair> {
  const dir = await mkdtemp(path.join(tmpdir(), 'otcd-pty-'));
  const a = path.join(dir, 'ttyA');
  const b = path.join(dir, 'ttyB');
  let proc: ChildProcess | undefined;

  const startSocat = async (): Promise<void> => {
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    proc = child;
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    await waitFor(async () => {
      if (exited) throw new Error('socat exited before creating the ptys');
      return (await exists(a)) && (await exists(b));
    }, 'socat pty links');
  };

  const stopSocat = async (): Promise<void> => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
    // socat removes its links on SIGTERM; make sure before a replug.
    await waitFor(async () => !(await exists(a)) && !(await exists(b)), 'socat links removed');
  };

  await startSocat();
  return {
    a,
    b,
    unplug: stopSocat,
    replug: startSocat,
    close: async () => {
      await stopSocat();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
