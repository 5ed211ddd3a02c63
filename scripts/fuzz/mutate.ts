/**
 * Byte-level mutations and chunkings shared by the targets. Positions are
 * drawn as plain naturals and taken modulo the buffer's length when applied,
 * so one mutation arbitrary fits a buffer of any size and shrinks well.
 */
import fc from 'fast-check';

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number };

const byteArb = fc.integer({ min: 0, max: 255 });

/** Mutations that favour `special` bytes (control bytes, separators) when inserting or setting. */
export function mutationArb(special: readonly number[]): fc.Arbitrary<Mutation> {
  const interesting = special.length > 0 ? fc.oneof(fc.constantFrom(...special), byteArb) : byteArb;
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: interesting }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(interesting, { minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );
}

export function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let buf = Buffer.from(input);
  for (const m of mutations) {
    const at = buf.length === 0 ? 0 : m.at % (buf.length + (m.kind === 'insert' ? 1 : 0));
    switch (m.kind) {
      case 'flip':
        if (buf.length > 0) buf[at] ^= 1 << m.bit;
        break;
      case 'set':
        if (buf.length > 0) buf[at] = m.byte;
        break;
      case 'insert':
        buf = Buffer.concat([buf.subarray(0, at), Buffer.from(m.bytes), buf.subarray(at)]);
        break;
      case 'delete':
        buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.count)]);
        break;
      case 'truncate':
        buf = buf.subarray(0, at);
        break;
    }
  }
  return buf;
}

/** A cut list of just this value splits into the smallest chunks: 1 byte, or len/MAX_TINY_CHUNKS for long streams. */
const TINY_CHUNKS = -1;
const MAX_TINY_CHUNKS = 512;

/** Cut points for splitting a stream into chunks (taken modulo its length). */
export const cutsArb: fc.Arbitrary<number[]> = fc.oneof(
  { weight: 2, arbitrary: fc.array(fc.nat(), { maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constant<number[]>([TINY_CHUNKS]) },
);

export function split(stream: Buffer, cuts: readonly number[]): Buffer[] {
  if (cuts.length === 1 && cuts[0] === TINY_CHUNKS) {
    const size = Math.max(1, Math.ceil(stream.length / MAX_TINY_CHUNKS));
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
    return chunks.length > 0 ? chunks : [stream];
  }
  if (stream.length === 0) return [stream];
  const at = [...new Set(cuts.map((c) => c % stream.length))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const c of at) {
    if (c > start) chunks.push(stream.subarray(start, c));
    start = Math.max(start, c);
  }
  chunks.push(stream.subarray(start));
  return chunks;
}

/** Random bytes, short mostly, sometimes long. */
export const randomBytesArb: fc.Arbitrary<Buffer> = fc
  .oneof(
    { weight: 8, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
  )
  .map((a) => Buffer.from(a));
