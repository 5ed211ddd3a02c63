/**
 * Where each payment's lines start in the ledger file, found by a 32-bit hash
 * of its intent id: 8 bytes a slot in two typed arrays, sized once for the
 * ledger's bound (560 KiB for 50,000 payments), so memory does not grow with
 * the payments the file holds.
 * This is what lets the daemon keep only running and recent payments in
 * memory and still answer `get` for a week-old one and tell a repeated `pay`
 * from a new one.
 *
 * A hash match is a candidate, not an answer: the caller reads the line at
 * the offset and compares the id. A miss is definite: no candidate, no such
 * payment in the file. Open addressing with linear probing; no deletion (a
 * compaction builds a fresh index of the file it writes).
 */
const EMPTY = 0;
const MAX_LOAD = 0.7;
/** Offsets are 32-bit: compaction keeps the file at tens of MiB (README, `npm run bench`). */
const MAX_OFFSET = 0xffff_ffff;

export class IdIndex {
  private hashes: Uint32Array;
  private offsets: Uint32Array;
  private count = 0;

  /** Sized for `expected` ids without growing. */
  constructor(expected: number) {
    const capacity = Math.max(16, Math.ceil(expected / MAX_LOAD));
    this.hashes = new Uint32Array(capacity);
    this.offsets = new Uint32Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table (for the record of what memory goes where). */
  get bytes(): number {
    return this.hashes.byteLength + this.offsets.byteLength;
  }

  add(id: string, offset: number): void {
    if (offset > MAX_OFFSET) throw new RangeError(`ledger offset ${offset} is past 4 GiB: the file was not compacted`);
    if (this.count + 1 > this.hashes.length * MAX_LOAD) this.grow();
    this.place(hashId(id), offset);
    this.count++;
  }

  mayHave(id: string): boolean {
    const hash = hashId(id);
    for (let slot = hash % this.hashes.length; this.hashes[slot] !== EMPTY; slot = this.next(slot)) {
      if (this.hashes[slot] === hash) return true;
    }
    return false;
  }

  /** Offsets of every entry whose hash matches `id`'s, oldest first. */
  candidates(id: string): number[] {
    const hash = hashId(id);
    const out: number[] = [];
    for (let slot = hash % this.hashes.length; this.hashes[slot] !== EMPTY; slot = this.next(slot)) {
      if (this.hashes[slot] === hash) out.push(this.offsets[slot]);
    }
    return out;
  }

  private next(slot: number): number {
    return slot + 1 === this.hashes.length ? 0 : slot + 1;
  }

  private place(hash: number, offset: number): void {
    let slot = hash % this.hashes.length;
    while (this.hashes[slot] !== EMPTY) slot = this.next(slot);
    this.hashes[slot] = hash;
    this.offsets[slot] = offset;
  }

  /** Only when the ledger holds more than it was sized for (maxPayments lowered, many unreconciled). */
  private grow(): void {
    const { hashes, offsets } = this;
    this.hashes = new Uint32Array(hashes.length * 2);
    this.offsets = new Uint32Array(hashes.length * 2);
    for (let i = 0; i < hashes.length; i++) if (hashes[i] !== EMPTY) this.place(hashes[i], offsets[i]);
  }
}

/** FNV-1a over the UTF-16 code units, then murmur3's finalizer so that the slots spread; never EMPTY. */
export function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  h >>>= 0;
  return h === EMPTY ? 1 : h;
}
