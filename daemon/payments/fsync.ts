/**
 * The ledger's directory fsyncs. A file's data is made durable by its own
 * fsync (ledger.ts: fdatasync after a durable append); its *name* lives in
 * its directory, and only an fsync of the directory makes a creation or a
 * rename survive a power cut (ext4 data=ordered, and most file systems a
 * kiosk's SD card carries). `npm run crash-states` replays every crash state
 * these rules allow.
 */
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsync of a directory makes the creation, rename or removal of an entry in it durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * After `mkdir -p dir` created `created` (its first new component, as
 * mkdir's `recursive` returns it) and everything below: syncs the parent of
 * each new directory, so a power cut cannot take them (and every payment in
 * them) away.
 */
export async function syncNewDirectories(dir: string, created: string): Promise<void> {
  for (let made = dir; ; made = dirname(made)) {
    await syncDirectory(dirname(made));
    if (made === created || dirname(made) === made) return;
  }
}
