/**
 * All needles found in one pass over a buffer. The suite's card list gives
 * more than a thousand needles (scripts/leak-hunt/test-cards.ts x needles.ts),
 * too many for one Buffer.indexOf pass each over a capture of many MB: needles
 * are bucketed by their first four bytes, and a two-byte bitmap skips most
 * positions before any Map lookup.
 */
import type { Needle } from './needles.js';

export interface Match {
  needle: Needle;
  at: number;
}

/** The shortest needle it accepts: a PAN has at least 12 characters, so every encoding has more. */
const KEY_BYTES = 4;
/** Bytes of surroundings printed on each side of a hit. */
export const CONTEXT_BYTES = 48;

export class NeedleMatcher {
  readonly needles: readonly Needle[];
  private readonly byKey = new Map<number, Needle[]>();
  private readonly firstTwo = new Uint8Array(1 << 16);
  /** The longest needle less one: what a streamed scan must carry over between chunks. */
  readonly overlap: number;

  constructor(needles: readonly Needle[]) {
    // Equal byte strings (the same PAN inside two track 2s) are searched once; the first label names them.
    const unique = new Map<string, Needle>();
    for (const n of needles) {
      if (n.bytes.length < KEY_BYTES) throw new Error(`needle ${n.label} is shorter than ${KEY_BYTES} bytes`);
      const id = n.bytes.toString('latin1');
      if (!unique.has(id)) unique.set(id, n);
    }
    this.needles = [...unique.values()];
    for (const n of this.needles) {
      const key = n.bytes.readUInt32BE(0);
      const list = this.byKey.get(key);
      if (list) list.push(n);
      else this.byKey.set(key, [n]);
      this.firstTwo[n.bytes.readUInt16BE(0)] = 1;
    }
    this.overlap = Math.max(...this.needles.map((n) => n.bytes.length)) - 1;
  }

  /** Every needle occurrence in `buf` (overlapping ones too), by position. */
  find(buf: Buffer): Match[] {
    const out: Match[] = [];
    const last = buf.length - KEY_BYTES;
    for (let i = 0; i <= last; i++) {
      if (this.firstTwo[(buf[i]! << 8) | buf[i + 1]!] === 0) continue;
      const list = this.byKey.get(buf.readUInt32BE(i));
      if (!list) continue;
      for (const needle of list) {
        const end = i + needle.bytes.length;
        if (end <= buf.length && buf.compare(needle.bytes, 0, needle.bytes.length, i, end) === 0) out.push({ needle, at: i });
      }
    }
    return out;
  }
}

/**
 * The bytes around a match in hex, with every needle occurrence in that window
 * (not only this one: a PAN's neighbour is the rest of its track 2) shown as
 * "[needle N bytes]", so no card data is printed.
 */
export function maskedContext(buf: Buffer, match: Match, all: readonly Match[]): string {
  const from = Math.max(0, match.at - CONTEXT_BYTES);
  const to = Math.min(buf.length, match.at + match.needle.bytes.length + CONTEXT_BYTES);
  const masked = all
    .map((m) => ({ start: m.at, end: m.at + m.needle.bytes.length }))
    .filter((r) => r.end > from && r.start < to)
    .sort((a, b) => a.start - b.start);
  // merge overlapping ranges
  const ranges: Array<{ start: number; end: number }> = [];
  for (const r of masked) {
    const prev = ranges[ranges.length - 1];
    if (prev && r.start <= prev.end) prev.end = Math.max(prev.end, r.end);
    else ranges.push({ ...r });
  }
  let out = '';
  let at = from;
  for (const r of ranges) {
    const start = Math.max(r.start, from);
    const end = Math.min(r.end, to);
    if (start > at) out += buf.subarray(at, start).toString('hex');
    out += ` [needle ${r.end - r.start} bytes] `;
    at = Math.max(at, end);
  }
  if (to > at) out += buf.subarray(at, to).toString('hex');
  return out.trim();
}
