/**
 * The state directory's lock with real processes: flock(2) through the
 * util-linux command, held by our own open file, dropped by the kernel when
 * the holder dies.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOtcdError } from '../../drivers/errors.js';
import { LOCK_FILE, lockStateDir } from '../../daemon/payments/state-lock.js';

const dirs: string[] = [];
async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'otcd-lock-'));
  dirs.push(dir);
  return join(dir, 'state');
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('lockStateDir', () => {
  test('creates the directory, takes the lock and writes our PID', async () => {
    const dir = await stateDir();
    const lock = await lockStateDir(dir, { waitMs: 0 });
    expect(await readdir(dir)).toEqual([LOCK_FILE]);
    expect((await readFile(join(dir, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid));
    await lock.release();
  });

  test('a second taker gives up after the wait, naming the holder, having been told once who holds it', async () => {
    const dir = await stateDir();
    const first = await lockStateDir(dir, { waitMs: 0 });
    const told: Array<string | undefined> = [];
    const startedAt = Date.now();
    const second = await lockStateDir(dir, { waitMs: 600, onWait: (pid) => told.push(pid) }).then(() => 'taken', (err: unknown) => err);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(600);
    expect(isOtcdError(second, 'STATE_DIR_BUSY')).toBe(true);
    expect((second as Error).message).toContain(`PID ${process.pid}`);
    expect(told).toEqual([String(process.pid)]);
    // The loser wrote nothing: the holder's PID is still there.
    expect((await readFile(join(dir, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid));
    await first.release();
  });

  test('a waiting taker gets the lock as soon as the holder releases it', async () => {
    const dir = await stateDir();
    const first = await lockStateDir(dir, { waitMs: 0 });
    setTimeout(() => void first.release(), 300);
    const second = await lockStateDir(dir, { waitMs: 20_000 });
    expect((await readFile(join(dir, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid));
    await second.release();
  });

  test('the kernel drops the lock of a holder killed with SIGKILL', async () => {
    const dir = await stateDir();
    await mkdir(dir, { recursive: true });
    // Another process holds it: one shell process that locks fd 9 and becomes `sleep`, keeping the fd.
    const holder = spawn('sh', ['-c', `exec 9>>'${join(dir, LOCK_FILE)}'; flock --exclusive 9; exec sleep 60`], { stdio: 'ignore' });
    let busy: unknown;
    for (let i = 0; i < 50 && busy === undefined; i++) {
      busy = await lockStateDir(dir, { waitMs: 0 }).then(async (lock) => { await lock.release(); return undefined; }, (err: unknown) => err);
      if (busy === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(isOtcdError(busy, 'STATE_DIR_BUSY')).toBe(true);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    const lock = await lockStateDir(dir, { waitMs: 5_000 });
    await lock.release();
  });
});
