/**
 * A file read in large chunks, each starting with the last `overlap` bytes of
 * the one before, so that a needle cut by a chunk boundary is still found
 * whole (once: a caller counts only matches that end past `carried`).
 */
import { open } from 'node:fs/promises';

const CHUNK_BYTES = 16 * 1024 * 1024;

export interface FileChunk {
  /** The chunk: `carried` bytes from the previous one, then `fresh` new ones. Valid until the next chunk. */
  bytes: Buffer;
  /** File offset of bytes[0]. */
  offset: number;
  carried: number;
  fresh: number;
}

export async function* fileChunks(path: string, overlap: number): AsyncGenerator<FileChunk> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK_BYTES + overlap);
    let position = 0;
    let carried = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, carried, CHUNK_BYTES, position);
      if (bytesRead === 0) break;
      const valid = carried + bytesRead;
      yield { bytes: buf.subarray(0, valid), offset: position - carried, carried, fresh: bytesRead };
      position += bytesRead;
      carried = Math.min(overlap, valid);
      buf.copy(buf, 0, valid - carried, valid);
    }
  } finally {
    await handle.close();
  }
}
