/**
 * Fuzz target 2: ecr1 frames and messages (shared/spec/terminal-protocol.md).
 *
 * Two kinds of case:
 * - `stream`: bytes (vector frames from shared/vectors/ecr1-frames.json,
 *   generated terminal frames, their bit flips, truncations, STX/ETX/ACK/NAK
 *   insertions, noise, over-long bodies) cut into arbitrary chunks, with a
 *   gap of time after each chunk, through the real `FrameDecoder`; every good
 *   frame's body then goes to `ecr1Dialect.decode`;
 * - `body`: one body (valid terminal messages with a field mutated, missing
 *   or added; random bytes) straight into `ecr1Dialect.decode`.
 *
 * Properties: the decoder never throws nor emits 'error', gives exactly the
 * tokens a byte-level model of spec section 4 gives (same ACK/NAK/frame
 * sequence, frame bodies byte for byte, a `bad` reason the frame really has,
 * the same count of dropped partial frames), whatever the chunking and gaps,
 * and leaves no timer behind; every frame body it emits obeys the body rules.
 * `decode` returns exactly the message a model of spec section 5 reads (and
 * that message re-encodes to the same body), or throws MessageError
 * BAD_MESSAGE.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { Clock, Timer } from '../../drivers/clock.js';
import { FrameDecoder, DEFAULT_BYTE_TIMEOUT_MS, type FrameToken } from '../../drivers/ecr1/frame-decoder.js';
import { ecr1Dialect } from '../../drivers/ecr1/messages.js';
import { MessageError } from '../../drivers/ecr1/errors.js';
import type { TerminalMessage } from '../../drivers/ecr1/dialect.js';
import { check, expectTypedError, hex, type FuzzTarget, type Tally } from './harness.js';
import { cutsArb, mutate, mutationArb, randomBytesArb, split } from './mutate.js';
import { frameVectors } from './vectors.js';

// Spec section 2 and 3, written out again here rather than imported: the model is independent.
const STX = 0x02;
const ETX = 0x03;
const ACK = 0x06;
const NAK = 0x15;
const FS = 0x1c;
const FS_CHAR = '\x1c';
const MAX_BODY = 1024;
const T_BYTE_MS = DEFAULT_BYTE_TIMEOUT_MS;

export type Ecr1Input =
  | { kind: 'body'; body: Buffer }
  | { kind: 'stream'; stream: Buffer; cuts: number[]; gaps: number[] };

/** A Clock whose time moves only by `advance`, synchronously: the decoder's timer callback is synchronous. */
class StepClock implements Clock {
  private t = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number { return this.t; }
  wallNow(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): Timer {
    const timer = { at: this.t + Math.max(0, ms), fn, live: true };
    this.timers.push(timer);
    return { cancel: () => { timer.live = false; } };
  }
  sleep(ms: number): Promise<void> { return new Promise((resolve) => this.setTimeout(resolve, ms)); }
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= this.t).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      due.fn();
    }
    this.timers = this.timers.filter((x) => x.live);
  }
  get live(): number { return this.timers.filter((x) => x.live).length; }
}

// ---- spec section 4 (receiving), as a model --------------------------------

type Problem = 'lrc' | 'byte' | 'length' | 'header';
type ModelToken = { kind: 'ack' } | { kind: 'nak' } | { kind: 'frame'; body: Buffer } | { kind: 'bad'; problems: Set<Problem> };

const isBodyByte = (b: number): boolean => (b >= 0x20 && b <= 0x7e) || b === FS;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

function frameProblems(body: number[], lrc: number): Set<Problem> {
  const problems = new Set<Problem>();
  if (body.length > MAX_BODY) problems.add('length');
  if (!body.every(isBodyByte)) problems.add('byte');
  if (body.reduce((x, b) => x ^ b, ETX) !== lrc) problems.add('lrc');
  if (body.length < 3 || !isDigit(body[0]) || !isDigit(body[1]) || body[2] !== FS) problems.add('header');
  return problems;
}

function modelTokens(chunks: Buffer[], gaps: number[]): { tokens: ModelToken[]; dropped: number } {
  const tokens: ModelToken[] = [];
  let state: 'idle' | 'body' | 'lrc' = 'idle';
  let body: number[] = [];
  let dropped = 0;
  chunks.forEach((chunk, i) => {
    for (const b of chunk) {
      if (state === 'idle') {
        if (b === STX) { state = 'body'; body = []; }
        else if (b === ACK) tokens.push({ kind: 'ack' });
        else if (b === NAK) tokens.push({ kind: 'nak' });
      } else if (state === 'body') {
        if (b === STX) { dropped++; body = []; }
        else if (b === ETX) state = 'lrc';
        else body.push(b);
      } else {
        const problems = frameProblems(body, b);
        tokens.push(problems.size === 0 ? { kind: 'frame', body: Buffer.from(body) } : { kind: 'bad', problems });
        state = 'idle';
        body = [];
      }
    }
    // Rule 3: no byte for T_byte drops the partial frame.
    if (state !== 'idle' && gapAfter(gaps, i) >= T_BYTE_MS) { dropped++; state = 'idle'; body = []; }
  });
  return { tokens, dropped };
}

const gapAfter = (gaps: number[], i: number): number => (gaps.length === 0 ? 0 : gaps[i % gaps.length]);

function showToken(t: FrameToken | ModelToken): string {
  switch (t.kind) {
    case 'frame': return `frame(${hex(t.body)})`;
    case 'bad': return 'reason' in t ? `bad(${t.reason})` : `bad(${[...t.problems].join('|')})`;
    default: return t.kind;
  }
}

function runStream(input: Extract<Ecr1Input, { kind: 'stream' }>, tally: Tally): void {
  const chunks = split(input.stream, input.cuts);
  const clock = new StepClock();
  const decoder = new FrameDecoder({ clock });
  let streamError: unknown;
  decoder.on('error', (err) => { streamError = err; });
  const tokens: FrameToken[] = [];
  chunks.forEach((chunk, i) => {
    tally.time(() => decoder.write(chunk));
    for (let t = decoder.read() as FrameToken | null; t !== null; t = decoder.read() as FrameToken | null) tokens.push(t);
    clock.advance(gapAfter(input.gaps, i));
  });
  const model = modelTokens(chunks, input.gaps);
  check(streamError === undefined, `FrameDecoder emitted error: ${String(streamError)}`);
  check(tokens.length === model.tokens.length && tokens.every((t, k) => sameToken(t, model.tokens[k])),
    `tokens [${tokens.map(showToken).join(' ')}], spec model [${model.tokens.map(showToken).join(' ')}]`);
  check(decoder.droppedPartials === model.dropped, `droppedPartials ${decoder.droppedPartials}, spec model ${model.dropped}`);
  decoder.destroy();
  check(clock.live === 0, `${clock.live} timer(s) left after destroy`);
  for (const t of tokens) {
    if (t.kind === 'frame') {
      check(t.body.length >= 3 && t.body.length <= MAX_BODY && t.body.every(isBodyByte), `emitted a frame that breaks the body rules: ${hex(t.body)}`);
      decodeOne(t.body, tally);
    } else if (t.kind === 'bad') {
      tally.rejected(`BAD_FRAME:${t.reason}`); // answered with NAK
    }
  }
}

function sameToken(t: FrameToken, m: ModelToken): boolean {
  if (t.kind !== m.kind) return false;
  if (t.kind === 'frame' && m.kind === 'frame') return t.body.equals(m.body);
  if (t.kind === 'bad' && m.kind === 'bad') return m.problems.has(t.reason);
  return true;
}

// ---- spec section 5 (terminal to host), as a model -------------------------

const REF_RE = /^[A-Za-z0-9_-]{1,20}$/;
const PRINTABLE_RE = /^[\x20-\x7e]*$/;

function maskedPanOk(s: string): boolean {
  if (s === '') return true;
  if (s.length < 12 || s.length > 19 || !/^[0-9*]+$/.test(s)) return false;
  return s.slice(6, s.length - 4).split('').every((c) => c === '*');
}

/** The message spec section 5 reads from a body, or undefined when it is not valid. */
export function specMessage(body: Buffer): TerminalMessage | undefined {
  const [seq, cmd, ...f] = body.toString('latin1').split(FS_CHAR);
  if (!/^[0-9]{2}$/.test(seq) || cmd === undefined) return undefined;
  const text = (s: string, min: number, max: number): boolean => s.length >= min && s.length <= max && PRINTABLE_RE.test(s);
  if (cmd === 'PONG' && f.length === 2) {
    const [terminalId, state] = f;
    return text(terminalId, 1, 16) && (state === 'IDLE' || state === 'BUSY') ? { cmd, terminalId, state } : undefined;
  }
  if (cmd === 'PROG' && f.length === 2) {
    const [ref, stage] = f;
    return REF_RE.test(ref) && (stage === 'RCVD' || stage === 'SENT') ? { cmd, ref, stage } : undefined;
  }
  if (cmd === 'RSLT' && f.length === 5) {
    const [ref, code, approvalNo, maskedPan, message] = f;
    const refOk = code === 'IV' ? ref === '' : REF_RE.test(ref);
    return refOk && text(code, 2, 2) && text(approvalNo, 0, 12) && maskedPanOk(maskedPan) && text(message, 0, 80)
      ? { cmd, ref, code, approvalNo, maskedPan, message } : undefined;
  }
  return undefined;
}

function fieldsOf(m: TerminalMessage): string[] {
  switch (m.cmd) {
    case 'PONG': return [m.terminalId, m.state];
    case 'PROG': return [m.ref, m.stage];
    case 'RSLT': return [m.ref, m.code, m.approvalNo, m.maskedPan, m.message];
  }
}

function decodeOne(body: Buffer, tally: Tally): void {
  const expected = specMessage(body);
  let got: TerminalMessage;
  try {
    got = tally.time(() => ecr1Dialect.decode(body));
  } catch (err) {
    const e = expectTypedError(err, MessageError, ['BAD_MESSAGE']);
    check(expected === undefined, `refused (${e.field}: ${e.message}) a body the spec reads as ${JSON.stringify(expected)}`);
    tally.rejected(`${e.code}:${e.field}`);
    tally.message(e.message.length);
    return;
  }
  check(expected !== undefined, `decoded ${JSON.stringify(got)} from a body the spec refuses`);
  check(isDeepStrictEqual(got, expected), `decoded ${JSON.stringify(got)}, spec reads ${JSON.stringify(expected)}`);
  const again = Buffer.from([body.toString('latin1', 0, 2), got.cmd, ...fieldsOf(got)].join(FS_CHAR), 'latin1');
  check(again.equals(body), `re-encodes to ${hex(again)}, not the body it came from`);
  tally.accepted(got.cmd);
}

// ---- arbitraries ----------------------------------------------------------

const chars = (s: string): fc.Arbitrary<string> => fc.constantFrom(...s.split(''));
const printableChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const anyChar = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));
const REF_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const seqArb = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, '0')) },
  { weight: 1, arbitrary: fc.constantFrom('', '0', '100', 'a1', ' 1', '1\x1c') });
const refArb = fc.oneof({ weight: 6, arbitrary: fc.string({ unit: chars(REF_CHARS), minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(21), 'a b', 'a.b', 'é', 'p7Kq2-1') },
  { weight: 1, arbitrary: fc.string({ unit: printableChar, maxLength: 24 }) });
const textArb = (max: number): fc.Arbitrary<string> => fc.oneof({ weight: 6, arbitrary: fc.string({ unit: printableChar, maxLength: max }) },
  { weight: 1, arbitrary: fc.string({ unit: printableChar, minLength: max + 1, maxLength: max + 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: anyChar, maxLength: 8 }) });
const digits = (n: number): fc.Arbitrary<string> => fc.string({ unit: chars('0123456789'), minLength: n, maxLength: n });
const maskedPanArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 12, max: 19 }).chain((len) => fc.tuple(digits(6), digits(4)).map(([h, t]) => h + '*'.repeat(len - 10) + t)) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.integer({ min: 10, max: 21 }).chain((len) => fc.string({ unit: chars('0123456789*'), minLength: len, maxLength: len })) },
  { weight: 1, arbitrary: fc.constantFrom('9410123456789012', '941012******901X', '941012*****9012', '************', '941012*******9012345') },
);
const codeArb = fc.oneof(fc.constantFrom('00', 'CN', 'BY', 'NF', 'IV', 'TO', '51'), fc.string({ unit: printableChar, minLength: 1, maxLength: 3 }));

const fieldsArb: fc.Arbitrary<[string, string[]]> = fc.oneof(
  fc.tuple(fc.constant('PONG'), fc.tuple(textArb(16), fc.constantFrom('IDLE', 'BUSY', 'idle', 'BUSY ', ''))),
  fc.tuple(fc.constant('PROG'), fc.tuple(refArb, fc.constantFrom('RCVD', 'SENT', 'DONE', 'rcvd', ''))),
  fc.tuple(fc.constant('RSLT'), fc.tuple(refArb, codeArb, textArb(12), maskedPanArb, textArb(80))),
  fc.tuple(fc.constantFrom('RSLT', 'PING', 'AUTH', 'CNCL', 'LAST', 'PONGX', 'pong', 'RSL', 'XXXX', ''), fc.array(textArb(8), { maxLength: 6 })),
).map(([cmd, fields]) => [cmd, [...fields]] as [string, string[]]);

type FieldCountEdit = { drop: number } | { add: string } | null;
const fieldCountEditArb: fc.Arbitrary<FieldCountEdit> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.record({ drop: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ add: textArb(8) }) },
);

/** A terminal message body, mostly valid, sometimes with a field missing or added. */
const terminalBodyArb: fc.Arbitrary<Buffer> = fc.tuple(seqArb, fieldsArb, fieldCountEditArb).map(([seq, [cmd, fields], edit]) => {
  const f = [...fields];
  if (edit && 'drop' in edit && f.length > 0) f.splice(edit.drop % f.length, 1);
  if (edit && 'add' in edit) f.push(edit.add);
  return Buffer.from([seq, cmd, ...f].join(FS_CHAR), 'latin1');
});

const VECTORS = frameVectors();
const frameSpecial = [STX, ETX, ACK, NAK, FS, 0x00, 0x1f, 0x7f, 0x80, 0xff];

function frameOf(body: Buffer, lrcFlip = 0): Buffer {
  const lrc = body.reduce((x, b) => x ^ b, ETX) ^ lrcFlip;
  return Buffer.concat([Buffer.from([STX]), body, Buffer.from([ETX, lrc])]);
}

const bodyArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 8, arbitrary: terminalBodyArb },
  { weight: 2, arbitrary: fc.constantFrom(...VECTORS.map((v) => v.body)) },
  { weight: 3, arbitrary: fc.tuple(fc.oneof(terminalBodyArb, fc.constantFrom(...VECTORS.map((v) => v.body))), fc.array(mutationArb(frameSpecial), { minLength: 1, maxLength: 3 })).map(([b, m]) => mutate(b, m)) },
  { weight: 1, arbitrary: randomBytesArb },
);

/** Bodies around the 1024-byte limit, with a valid header. */
const longBodyArb: fc.Arbitrary<Buffer> = fc.integer({ min: MAX_BODY - 4, max: MAX_BODY + 4 })
  .map((n) => Buffer.from(('00' + FS_CHAR + 'RSLT' + FS_CHAR).padEnd(n, 'x'), 'latin1'));

const segmentArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: bodyArb.map((b) => frameOf(b)) },
  { weight: 3, arbitrary: fc.constantFrom(...VECTORS.map((v) => v.frame)) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...VECTORS.map((v) => v.frame)), fc.array(mutationArb(frameSpecial), { minLength: 1, maxLength: 3 })).map(([f, m]) => mutate(f, m)) },
  { weight: 1, arbitrary: fc.tuple(terminalBodyArb, fc.integer({ min: 1, max: 255 })).map(([b, flip]) => frameOf(b, flip)) },
  { weight: 1, arbitrary: longBodyArb.map((b) => frameOf(b)) },
  { weight: 2, arbitrary: fc.constantFrom(...[STX, ETX, ACK, NAK].map((b) => Buffer.from([b]))) },
  { weight: 1, arbitrary: randomBytesArb },
);

const gapArb = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constantFrom(T_BYTE_MS - 1, T_BYTE_MS, T_BYTE_MS + 1, 5000) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 400 }) });

export const ecr1InputArb: fc.Arbitrary<Ecr1Input> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('body' as const), body: bodyArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('stream' as const),
      stream: fc.array(segmentArb, { minLength: 1, maxLength: 8 }).map((s) => Buffer.concat(s)),
      cuts: cutsArb,
      gaps: fc.oneof({ weight: 3, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(gapArb, { maxLength: 8 }) }),
    }),
  },
);

export const ecr1Target: FuzzTarget<Ecr1Input> = {
  name: 'ecr1',
  arbitrary: ecr1InputArb,
  run(input, tally) {
    if (input.kind === 'body') decodeOne(input.body, tally);
    else runStream(input, tally);
  },
  show(input) {
    if (input.kind === 'body') return `ecr1Dialect.decode(hex ${hex(input.body)})`;
    const chunks = split(input.stream, input.cuts);
    const shown = chunks.length > 64 ? `${chunks.length} small chunks of ${hex(input.stream)}` : `chunks [${chunks.map(hex).join(', ')}]`;
    return `FrameDecoder ${shown}, ms after each chunk [${input.gaps.join(', ') || 0}] (cyclic)`;
  },
};
