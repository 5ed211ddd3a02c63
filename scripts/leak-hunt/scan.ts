/**
 * Byte search of captures for the needles: buffers in memory, files read in
 * chunks (a core image is hundreds of MB) with an overlap so no hit is lost
 * on a chunk boundary.
 */
import { fileChunks } from './file-chunks.js';
import type { Needle } from './needles.js';

export interface Hit {
  needle: Needle;
  /** Where: a file name or a capture's own name. */
  where: string;
  offset: number;
  /** Bytes around the hit with the needle itself masked, hex (for telling where it comes from). */
  context: string;
}

const CONTEXT_BYTES = 48;
const HITS_KEPT_PER_NEEDLE = 20;

export class ScanResult {
  bytes = 0;
  readonly hits: Hit[] = [];
  count = 0;

  add(hit: Hit): void {
    this.count++;
    const same = this.hits.filter((h) => h.needle === hit.needle).length;
    if (same < HITS_KEPT_PER_NEEDLE) this.hits.push(hit);
  }
}

function contextOf(buf: Buffer, at: number, length: number): string {
  const before = buf.subarray(Math.max(0, at - CONTEXT_BYTES), at).toString('hex');
  const after = buf.subarray(at + length, at + length + CONTEXT_BYTES).toString('hex');
  return `${before} [needle ${length} bytes] ${after}`;
}

/**
 * Scans `buf`, whose first `carried` bytes are the end of the previous chunk:
 * a hit lying wholly inside them was counted there already.
 */
function scanChunk(buf: Buffer, base: number, carried: number, where: string, needles: readonly Needle[], into: ScanResult): void {
  for (const needle of needles) {
    let at = buf.indexOf(needle.bytes);
    while (at >= 0) {
      if (at + needle.bytes.length > carried) into.add({ needle, where, offset: base + at, context: contextOf(buf, at, needle.bytes.length) });
      at = buf.indexOf(needle.bytes, at + 1);
    }
  }
}

export function scanBuffer(buf: Buffer, where: string, needles: readonly Needle[], into: ScanResult): void {
  into.bytes += buf.length;
  scanChunk(buf, 0, 0, where, needles, into);
}

export async function scanFile(path: string, where: string, needles: readonly Needle[], into: ScanResult): Promise<void> {
  const overlap = Math.max(...needles.map((n) => n.bytes.length)) - 1;
  for await (const chunk of fileChunks(path, overlap)) {
    scanChunk(chunk.bytes, chunk.offset, chunk.carried, where, needles, into);
    into.bytes += chunk.fresh;
  }
}
