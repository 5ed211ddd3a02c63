/**
 * Exclusive ownership of the state directory: one otcd per ledger.
 *
 * Two daemons on one ledger lose payments: the second one's recovery ends the
 * first one's running payment `failed`, and its compaction renames the file
 * the first one keeps appending to. So the daemon takes this lock first thing
 * at start, before any ledger I/O, and holds it for its whole life; a second
 * otcd gives up (after a bounded wait, for a restart whose old process is
 * still stopping) without touching anything.
 *
 * The lock is flock(2) on `<stateDir>/otcd.lock`: the kernel drops it when
 * the holder dies, however it dies (kill -9, a power cut leaves nothing to
 * clean). Node has no flock, so the `flock` command of util-linux (Essential
 * in Debian, so on every kiosk image) takes it on our own open file: the
 * child gets that file as its fd 3, and a flock lock belongs to the open file
 * description, not to the process, so it stays held by our descriptor after
 * the child exits. The smallest sound alternative to a native addon; one
 * short process at start. The file holds the holder's PID, for the message a
 * second otcd prints; readers (otcctl) never take the lock.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../drivers/clock.js';
import { OtcdError } from '../../drivers/errors.js';

export const LOCK_FILE = 'otcd.lock';
/** EX_TEMPFAIL (sysexits.h): another otcd holds the state directory; a later start may succeed. */
export const STATE_DIR_BUSY_EXIT_CODE = 75;

const FLOCK_COMMAND = 'flock';
/** What `flock --nonblock` exits with when the lock is held elsewhere (its --conflict-exit-code). */
const CONFLICT_EXIT = 75;
const RETRY_INTERVAL_MS = 200;

export class StateLockError extends OtcdError {}

export interface StateLock {
  readonly path: string;
  /** Releases the lock (closing the file is what releases it). */
  release(): Promise<void>;
}

export interface LockOptions {
  /** How long to wait for a holder that is still stopping. */
  waitMs: number;
  clock?: Clock;
  /** Told once, at the first failed attempt, who holds the lock (so a person is not left guessing while we wait). */
  onWait?: (holderPid: string | undefined) => void;
}

/**
 * Takes the state directory's lock, creating the directory if needed.
 * @throws StateLockError `STATE_DIR_BUSY` naming the holder's PID, or
 *   `STATE_DIR_LOCK` when the lock cannot be taken at all.
 */
export async function lockStateDir(stateDir: string, opts: LockOptions): Promise<StateLock> {
  const clock = opts.clock ?? systemClock;
  const path = join(stateDir, LOCK_FILE);
  await mkdir(stateDir, { recursive: true, mode: 0o750 });
  let handle: FileHandle;
  try {
    // O_RDWR|O_CREAT without O_TRUNC: the holder's PID stays readable until we own the lock.
    handle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o640);
  } catch (err) {
    throw new StateLockError('STATE_DIR_LOCK', `cannot open the lock file ${path}: ${(err as Error).message}; the state directory must be writable by the otcd user`, { cause: err });
  }
  try {
    const giveUpAt = clock.now() + opts.waitMs;
    let told = false;
    while (!(await tryFlock(handle, path))) {
      if (!told) {
        told = true;
        opts.onWait?.(await holderPid(path));
      }
      if (clock.now() >= giveUpAt) {
        const holder = await holderPid(path);
        throw new StateLockError('STATE_DIR_BUSY',
          `the state directory ${stateDir} is in use by another otcd${holder ? ` (PID ${holder})` : ''}; `
          + 'only one otcd may run on a ledger. If otcd.service is running, use it (systemctl status otcd, otcctl); '
          + 'to run a second otcd by hand, give it another daemon.state_dir and socket.path');
      }
      await clock.sleep(RETRY_INTERVAL_MS);
    }
    await handle.truncate(0);
    // The PID only serves a second otcd's message: a full disk must not stop a start over it.
    await handle.write(`${process.pid}\n`, 0).catch(() => undefined);
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  return {
    path,
    release: async () => {
      await handle.close();
    },
  };
}

/** One non-blocking attempt: true when the lock is ours. */
function tryFlock(handle: FileHandle, path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(FLOCK_COMMAND, ['--nonblock', '--exclusive', '--conflict-exit-code', String(CONFLICT_EXIT), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', handle.fd],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(new StateLockError('STATE_DIR_LOCK', err.code === 'ENOENT'
        ? `cannot lock ${path}: the flock command (util-linux) is not installed`
        : `cannot lock ${path}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code) => {
      if (code === 0) resolve(true);
      else if (code === CONFLICT_EXIT) resolve(false);
      else reject(new StateLockError('STATE_DIR_LOCK', `cannot lock ${path}: flock exited ${String(code)}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

async function holderPid(path: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = text.trim();
  return /^\d{1,10}$/.test(pid) ? pid : undefined;
}
