/**
 * Who may read the ledger: the state directory is 0750 and the ledger 0640,
 * both group otcd, so `otcctl payments` works for the group's members (the
 * ledger holds no card data: masked numbers, ids, states). The unit runs
 * otcd with UMask=0077, which would make every file it creates 0600, so the
 * modes are set explicitly on the open file, whatever the umask.
 */
import { chmod, mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';

export const STATE_DIR_MODE = 0o750;
export const LEDGER_FILE_MODE = 0o640;
/** The state directory's mode under units before group otcd could read it (StateDirectoryMode=0700). */
const OLD_PRIVATE_DIR_MODE = 0o700;

/**
 * Creates the state directory 0750 if missing. One that is 0700 (left by an
 * older unit, as systemd keeps the mode of a directory that exists, or
 * created under the umask by the state lock just before) is opened to 0750;
 * any other mode is the administrator's choice and stays.
 */
export async function prepareStateDir(dir: string, logger: Logger): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: STATE_DIR_MODE });
  if (created !== undefined) {
    await chmod(dir, STATE_DIR_MODE);
    return;
  }
  const mode = (await stat(dir)).mode & 0o7777;
  if (mode !== OLD_PRIVATE_DIR_MODE) return;
  try {
    await chmod(dir, STATE_DIR_MODE);
    logger.info({ path: dir }, 'state directory was 0700 (an older unit, or the umask): opened to its group (0750) so that otcctl payments works for group otcd');
  } catch (err) {
    logger.warn({ path: dir, err }, 'cannot open the state directory to group otcd (chmod 0750); otcctl payments needs root until it is');
  }
}

/** Opens a ledger file and gives it LEDGER_FILE_MODE, also when it existed with another mode. */
export async function openLedgerFile(path: string, flags: 'a' | 'w'): Promise<FileHandle> {
  const handle = await open(path, flags, LEDGER_FILE_MODE);
  try {
    await handle.chmod(LEDGER_FILE_MODE);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}
