/**
 * Reads a ledger file line by line from a byte offset, a chunk at a time, so
 * reading a ledger of 50,000 payments costs one chunk of memory, not the file.
 */
import { open } from 'node:fs/promises';
import { parseLine, type LedgerChange } from './ledger-record.js';

const CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

export interface FileLine {
  /** Byte offset of the line's first byte in the file. */
  offset: number;
  /** The line without its newline. */
  bytes: Buffer;
  /** False for a last line with no newline: a write cut short (power lost mid-line). */
  complete: boolean;
}

/** Yields the lines of `path` from `start` (a line start) to the end of the file as it is now. */
export async function* readLines(path: string, start = 0): AsyncGenerator<FileLine> {
  const handle = await open(path, 'r');
  try {
    let position = start;
    let carry: Buffer | undefined;
    let carryOffset = start;
    for (;;) {
      // A fresh buffer each read: a yielded line may still be in use when the next chunk comes.
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      let data = chunk.subarray(0, bytesRead);
      let dataOffset = position - bytesRead;
      if (carry) {
        data = Buffer.concat([carry, data]);
        dataOffset = carryOffset;
        carry = undefined;
      }
      let from = 0;
      for (let nl = data.indexOf(NEWLINE, from); nl >= 0; nl = data.indexOf(NEWLINE, from)) {
        yield { offset: dataOffset + from, bytes: data.subarray(from, nl), complete: true };
        from = nl + 1;
      }
      if (from < data.length) {
        carry = data.subarray(from);
        carryOffset = dataOffset + from;
      }
    }
    if (carry && carry.length > 0) yield { offset: carryOffset, bytes: carry, complete: false };
  } finally {
    await handle.close();
  }
}

/** The change lines of a ledger file in order, with their offsets; a torn or unreadable line is left out. */
export async function* changesOf(path: string): AsyncGenerator<{ change: LedgerChange; offset: number }> {
  for await (const line of readLines(path)) {
    if (!line.complete) continue;
    const parsed = parseLine(line.bytes.toString('utf8'));
    if (parsed.kind === 'change') yield { change: parsed.change, offset: line.offset };
  }
}
