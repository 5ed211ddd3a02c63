/**
 * Socket activation with a real passed fd: this process binds and listens,
 * hands the listening socket to a child as fd 3 with LISTEN_FDS=1, and a
 * shell sets LISTEN_PID to its own pid before exec'ing node (so the pid is
 * the child's without the child setting it). The child serves the socket it
 * was given, unsets the variables, and leaves the socket file alone on close.
 *
 * Runs the compiled fixture under dist/ (`npm run build` first).
 */
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LineClient } from './line-client.js';

const CHILD = resolve('dist/test/intents/fixtures/activated-child.js');

let dir: string;
let child: ChildProcess | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'otcd-activation-'));
});

afterEach(async () => {
  const proc = child;
  child = undefined;
  if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise((resolveExit) => proc.once('exit', resolveExit));
    proc.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolveListen());
  });
}

/** The fd of a listening net.Server (internal handle; typed here, not `any`). */
function listeningFd(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('no fd on the listening server');
  return fd;
}

function readLine(proc: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolveLine, reject) => {
    let text = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`no line from the child; stderr: ${stderr}`)), 10_000);
    proc.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    const onData = (d: Buffer): void => {
      text += d.toString();
      const nl = text.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      proc.stdout?.off('data', onData);
      resolveLine(JSON.parse(text.slice(0, nl)) as Record<string, unknown>);
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`child exited (${code}); stderr: ${stderr}`)));
  });
}

test('serves a socket passed as fd 3 and leaves its file in place on close', async () => {
  expect(existsSync(CHILD)).toBe(true);
  const path = join(dir, 'otcd.sock');
  const parent = createServer(() => { throw new Error('the parent must not serve'); });
  await listen(parent, path);

  child = spawn('sh', ['-c', 'LISTEN_PID=$$ exec "$0" "$1" "$2"', process.execPath, CHILD, join(dir, 'not-bound.sock')], {
    // The listening socket's fd becomes the child's fd 3 (Node dups it).
    stdio: ['ignore', 'pipe', 'pipe', listeningFd(parent)],
    env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'otcd.sock' },
  });
  const status = readLine(child);

  // The parent now lets go of its copy. libuv unlinks a bound pipe's path
  // when its handle closes, so the file is moved aside for that moment.
  renameSync(path, `${path}.aside`);
  await new Promise<void>((resolveClose) => parent.close(() => resolveClose()));
  renameSync(`${path}.aside`, path);

  expect(await status).toEqual({
    serving: true, pid: child.pid, env: { LISTEN_PID: null, LISTEN_FDS: null, LISTEN_FDNAMES: null },
  });
  expect(existsSync(join(dir, 'not-bound.sock'))).toBe(false);

  const client = await LineClient.connect(path);
  try {
    expect(await client.request({ op: 'health', req: 'activated' }))
      .toMatchObject({ type: 'reply', req: 'activated', health: { version: '0.1.0-test' } });
    const closed = readLine(child);
    child.kill('SIGTERM');
    expect(await closed).toEqual({ closed: true });
    await client.waitClosed();
  } finally {
    client.close();
  }
  // The socket belongs to systemd: closing the server must not remove it.
  expect(lstatSync(path).isSocket()).toBe(true);
});

test('LISTEN_PID of another process: the variables are ignored and the path is bound', async () => {
  const path = join(dir, 'own.sock');
  child = spawn(process.execPath, [CHILD, path], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: '1' },
  });
  expect(await readLine(child)).toMatchObject({ serving: true, env: { LISTEN_PID: null, LISTEN_FDS: null } });
  const client = await LineClient.connect(path);
  try {
    expect(await client.request({ op: 'health', req: 'bound' })).toMatchObject({ type: 'reply', req: 'bound' });
    expect(lstatSync(path).mode & 0o777).toBe(0o660);
  } finally {
    client.close();
  }
});
