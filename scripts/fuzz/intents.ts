/**
 * Fuzz target 1: intent socket lines (shared/spec/intent-protocol.md).
 *
 * Two kinds of case:
 * - `line`: one line straight into `parseRequest`, as a Buffer (what the
 *   connection passes) or a string;
 * - `stream`: bytes cut into arbitrary chunks through `LineReader`, every
 *   line it gives into `parseRequest`, as the connection does.
 *
 * Lines are valid requests of every op with fields mutated (wrong types,
 * huge and odd numbers, unicode, NUL, nested objects, duplicate keys,
 * "__proto__"/"constructor" keys), then sometimes byte-mutated; or random
 * JSON, random text, random bytes, deep nesting, long lines.
 *
 * Properties: `parseRequest` returns exactly what the spec model below says
 * (same op, fields and defaults, no extra keys) or throws a ProtocolError
 * whose code is one the model allows; `LineReader` gives the lines a byte-level
 * model gives, reports overflow in the same push, and never holds more than
 * the limit plus one byte.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { OPS, ProtocolError, parseRequest, type IntentRequest } from '../../daemon/intents/protocol.js';
import { LineReader, MAX_LINE_BYTES } from '../../daemon/intents/line-reader.js';
import { IntentError } from '../../daemon/payments/model.js';
import { check, expectTypedError, hex, type FuzzTarget, type Tally } from './harness.js';
import { cutsArb, mutate, mutationArb, randomBytesArb, split } from './mutate.js';

const PARSE_CODES = ['BAD_REQUEST', 'UNKNOWN_OP'] as const;
const LF = 0x0a;
const CR = 0x0d;

export type IntentInput =
  | { kind: 'line'; line: Buffer | string }
  | { kind: 'stream'; stream: Buffer; cuts: number[]; maxLineBytes: number; end: boolean };

// ---- the spec, as a model -------------------------------------------------

// Written out from the spec, not imported: the model must not move with the code.
const MAX_AMOUNT = 999_999_999_999;
const MAX_INSTALLMENT = 36;
const REQ_RE = /^[\x20-\x7E]{1,64}$/;
const INTENT_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;
const AUTHORIZATION_ID_RE = /^[\x21-\x7E]{1,60}$/;
/** A void's reason (intent-protocol.md `void`): 0..80 printable ASCII characters. */
const VOID_REASON_RE = /^[\x20-\x7E]{0,80}$/;

type Expected = { ok: true; value: IntentRequest } | { ok: false; codes: Set<string> };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What the spec says a line means: a request, or the error codes it may earn. */
export function expectedFor(line: Buffer | string): Expected {
  let text: string;
  try {
    text = typeof line === 'string' ? line : strictUtf8.decode(line);
  } catch {
    return { ok: false, codes: new Set(['BAD_REQUEST']) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, codes: new Set(['BAD_REQUEST']) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, codes: new Set(['BAD_REQUEST']) };
  const obj = value as Record<string, unknown>;
  const own = (k: string): unknown => (Object.hasOwn(obj, k) ? obj[k] : undefined);
  const codes = new Set<string>();
  const req = own('req');
  if (req !== undefined && (typeof req !== 'string' || !REQ_RE.test(req))) codes.add('BAD_REQUEST');
  const op = own('op');
  const str = (k: string, re: RegExp): string => {
    const v = own(k);
    if (typeof v === 'string' && re.test(v)) return v;
    codes.add('BAD_REQUEST');
    return '';
  };
  const int = (k: string, min: number, max: number, dflt?: number): number => {
    const v = own(k);
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v === 0 ? 0 : v;
    codes.add('BAD_REQUEST');
    return 0;
  };
  const base = typeof req === 'string' ? { req } : {};
  let result: IntentRequest | undefined;
  if (typeof op !== 'string') {
    codes.add('BAD_REQUEST');
  } else if (op === 'pay') {
    result = {
      op, ...base,
      params: {
        intentId: str('intentId', INTENT_ID_RE),
        authorizationId: str('authorizationId', AUTHORIZATION_ID_RE),
        amount: int('amount', 1, MAX_AMOUNT),
        installment: int('installment', 0, MAX_INSTALLMENT, 0),
      },
    };
  } else if (op === 'cancel') {
    result = { op, ...base, intentId: str('intentId', INTENT_ID_RE) };
  } else if (op === 'void') {
    const intentId = str('intentId', INTENT_ID_RE);
    const reason = own('reason');
    if (reason !== undefined && (typeof reason !== 'string' || !VOID_REASON_RE.test(reason))) codes.add('BAD_REQUEST');
    result = { op, ...base, intentId, ...(typeof reason === 'string' ? { reason } : {}) };
  } else if (op === 'get') {
    const follow = own('follow');
    if (follow !== undefined && typeof follow !== 'boolean') codes.add('BAD_REQUEST');
    result = { op, ...base, intentId: str('intentId', INTENT_ID_RE), follow: follow === true };
  } else if (op === 'health' || op === 'terminal.ping') {
    result = { op, ...base };
  } else {
    codes.add('UNKNOWN_OP');
  }
  return codes.size === 0 && result !== undefined ? { ok: true, value: result } : { ok: false, codes };
}

/** Re-validates an accepted request against the spec's field rules, independently of the model. */
function checkContract(r: IntentRequest): void {
  check(Object.getPrototypeOf(r) === Object.prototype, 'request is not a plain object');
  check((OPS as readonly string[]).includes(r.op), `accepted unknown op ${r.op}`);
  check(r.req === undefined || REQ_RE.test(r.req), 'accepted a malformed req');
  if (r.op === 'pay') {
    const p = r.params;
    check(INTENT_ID_RE.test(p.intentId), 'accepted a malformed intentId');
    check(AUTHORIZATION_ID_RE.test(p.authorizationId), 'accepted a malformed authorizationId');
    check(Number.isSafeInteger(p.amount) && p.amount >= 1 && p.amount <= MAX_AMOUNT && !Object.is(p.amount, -0), `accepted amount ${p.amount}`);
    check(Number.isInteger(p.installment) && p.installment >= 0 && p.installment <= MAX_INSTALLMENT && !Object.is(p.installment, -0), `accepted installment ${p.installment}`);
  } else if (r.op === 'cancel' || r.op === 'get' || r.op === 'void') {
    check(INTENT_ID_RE.test(r.intentId), 'accepted a malformed intentId');
    if (r.op === 'void') check(r.reason === undefined || VOID_REASON_RE.test(r.reason), 'accepted a malformed reason');
    if (r.op === 'get') check(typeof r.follow === 'boolean', 'follow is not a boolean');
  }
}

function parseOne(line: Buffer | string, tally: Tally): void {
  const expected = expectedFor(line);
  let got: IntentRequest;
  try {
    got = tally.time(() => parseRequest(line));
  } catch (err) {
    const e = expectTypedError(err, ProtocolError, PARSE_CODES);
    check(e instanceof IntentError, 'ProtocolError is not an IntentError');
    check(!expected.ok, `rejected (${e.code}: ${e.message}) a line the spec accepts`);
    check(expected.codes.has(e.code), `rejected with ${e.code}, spec expects ${[...expected.codes].join('/')}`);
    check(e.req === undefined || REQ_RE.test(e.req), 'error echoes a malformed req');
    tally.rejected(e.code);
    tally.message(e.message.length);
    return;
  }
  checkContract(got);
  check(expected.ok, `accepted a line the spec refuses (${expected.ok ? '' : [...expected.codes].join('/')})`);
  check(isDeepStrictEqual(got, expected.value), `parsed ${JSON.stringify(got)}, spec gives ${JSON.stringify(expected.value)}`);
  tally.accepted(got.op);
}

// ---- LineReader model -----------------------------------------------------

interface Push { lines: Buffer[]; overflow: boolean }

/** The line splitting the spec and line-reader.ts describe, byte by byte. */
function modelLines(chunks: Buffer[], max: number): Push[] {
  const out: Push[] = [];
  let cur: number[] = [];
  let dead = false;
  for (const chunk of chunks) {
    const push: Push = { lines: [], overflow: dead };
    out.push(push);
    if (dead) continue;
    for (const b of chunk) {
      if (b !== LF) {
        cur.push(b);
        continue;
      }
      const line = cur.length > 0 && cur[cur.length - 1] === CR ? cur.slice(0, -1) : cur;
      cur = [];
      if (line.length > max) {
        dead = true;
        break;
      }
      if (line.length > 0) push.lines.push(Buffer.from(line));
    }
    // Early detection: a partial line that can no longer fit.
    if (!dead && (cur.length > max + 1 || (cur.length === max + 1 && cur[cur.length - 1] !== CR))) dead = true;
    if (dead) {
      cur = [];
      push.overflow = true;
    }
  }
  return out;
}

function runStream(input: Extract<IntentInput, { kind: 'stream' }>, tally: Tally): void {
  const chunks = split(input.stream, input.cuts);
  const reader = new LineReader(input.maxLineBytes);
  const expected = modelLines(chunks, input.maxLineBytes);
  for (let i = 0; i < chunks.length; i++) {
    const batch = tally.time(() => reader.push(chunks[i]));
    check(reader.pendingBytes <= input.maxLineBytes + 1, `LineReader holds ${reader.pendingBytes} bytes (limit ${input.maxLineBytes} + 1)`);
    check(batch.overflow === expected[i].overflow, `chunk ${i}: overflow ${batch.overflow}, model ${expected[i].overflow}`);
    check(batch.lines.length === expected[i].lines.length && batch.lines.every((l, k) => l.equals(expected[i].lines[k])),
      `chunk ${i}: lines ${batch.lines.map(hex).join(',')} model ${expected[i].lines.map(hex).join(',')}`);
    for (const line of batch.lines) {
      check(line.length >= 1 && line.length <= input.maxLineBytes, `line of ${line.length} bytes`);
      parseOne(line, tally);
    }
    if (batch.overflow) {
      tally.rejected('LINE_TOO_LONG');
      return; // the connection answers and closes
    }
  }
  if (input.end) {
    const last = tally.time(() => reader.end());
    if (last !== undefined) {
      check(last.length >= 1 && last.length <= input.maxLineBytes, `end() line of ${last.length} bytes`);
      parseOne(last, tally);
    }
    check(reader.end() === undefined, 'end() gave a line twice');
  }
}

// ---- arbitraries ----------------------------------------------------------

const charsOf = (chars: string): fc.Arbitrary<string> => fc.constantFrom(...chars.split(''));
const printable = (from: number, to: number): fc.Arbitrary<string> =>
  fc.integer({ min: from, max: to }).map((c) => String.fromCharCode(c));
const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-';

const reqArb = fc.string({ unit: printable(0x20, 0x7e), minLength: 1, maxLength: 64 });
const intentIdArb = fc.oneof(
  fc.string({ unit: charsOf(ID_CHARS), minLength: 1, maxLength: 64 }),
  fc.constantFrom('order-8812', 'a', 'x'.repeat(64)),
);
const authIdArb = fc.string({ unit: printable(0x21, 0x7e), minLength: 1, maxLength: 60 });
const amountArb = fc.oneof(fc.constantFrom(1, 12000, MAX_AMOUNT), fc.integer({ min: 1, max: 2 ** 31 }), fc.double({ min: 1, max: MAX_AMOUNT }).map(Math.floor));

/** A JSON value as raw text, so that odd number spellings survive. */
type Raw = string;
const json = (v: unknown): Raw => JSON.stringify(v);

const oddNumbers: Raw[] = [
  '0', '-0', '0.0', '-1', '1.5', '12000.0', '1.2e4', '1.2E+4', '120000e-1', '1e308', '1e400', '-1e400', '5e-324',
  '9007199254740991', '9007199254740993', '999999999999', '1000000000000', '999999999999.5', '36', '37', '36.0000000000000001',
  '1' + '0'.repeat(400), '0.' + '0'.repeat(400) + '1',
];
const oddStrings: Raw[] = [
  '""', '" "', '"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"\\udfff\\ud800"', '"한국어"', '"\\u202e"', '"\\n"', '"pay "',
  '"PAY"', '"12000"', '"true"', '"__proto__"', '"constructor"', json('x'.repeat(65)), json('x'.repeat(61)), json('é'.repeat(10)),
];
const oddValues: Raw[] = [
  'null', 'true', 'false', '[]', '{}', '[1]', '{"op":"pay"}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}',
  '[[[[[[[[[[]]]]]]]]]]', ...oddNumbers, ...oddStrings,
];
const weirdRawArb: fc.Arbitrary<Raw> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...oddValues) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(json) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map(json) },
  { weight: 1, arbitrary: fc.double().map((d) => (Number.isFinite(d) ? String(d) : 'null')) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String) },
);

const OP_FIELDS = ['op', 'req', 'intentId', 'authorizationId', 'amount', 'installment', 'follow'];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf'];
const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...OP_FIELDS) },
  { weight: 2, arbitrary: fc.constantFrom(...PROTO_KEYS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);

type Entries = [string, Raw][];

const validEntriesArb: fc.Arbitrary<Entries> = fc.oneof(
  fc.record({ req: fc.option(reqArb), id: intentIdArb, auth: authIdArb, amount: amountArb, inst: fc.option(fc.integer({ min: 0, max: MAX_INSTALLMENT })) })
    .map(({ req, id, auth, amount, inst }): Entries => [
      ['op', json('pay')], ...(req === null ? [] : [['req', json(req)] as [string, Raw]]), ['intentId', json(id)],
      ['authorizationId', json(auth)], ['amount', String(amount)], ...(inst === null ? [] : [['installment', String(inst)] as [string, Raw]]),
    ]),
  fc.record({ req: fc.option(reqArb), id: intentIdArb }).map(({ req, id }): Entries => [
    ['op', json('cancel')], ...(req === null ? [] : [['req', json(req)] as [string, Raw]]), ['intentId', json(id)],
  ]),
  fc.record({ req: fc.option(reqArb), id: intentIdArb, reason: fc.option(fc.string({ unit: printable(0x20, 0x7e), maxLength: 80 })) })
    .map(({ req, id, reason }): Entries => [
      ['op', json('void')], ...(req === null ? [] : [['req', json(req)] as [string, Raw]]), ['intentId', json(id)],
      ...(reason === null ? [] : [['reason', json(reason)] as [string, Raw]]),
    ]),
  fc.record({ req: fc.option(reqArb), id: intentIdArb, follow: fc.option(fc.boolean()) }).map(({ req, id, follow }): Entries => [
    ['op', json('get')], ...(req === null ? [] : [['req', json(req)] as [string, Raw]]), ['intentId', json(id)],
    ...(follow === null ? [] : [['follow', json(follow)] as [string, Raw]]),
  ]),
  fc.record({ op: fc.constantFrom('health', 'terminal.ping'), req: fc.option(reqArb) }).map(({ op, req }): Entries => [
    ['op', json(op)], ...(req === null ? [] : [['req', json(req)] as [string, Raw]]),
  ]),
);

type FieldEdit =
  | { kind: 'set'; key: string; value: Raw }
  | { kind: 'drop'; index: number }
  | { kind: 'dup'; index: number; value: Raw }
  | { kind: 'op'; value: string };

/** Values at and just past each field's limits. */
const boundaryEditArb: fc.Arbitrary<FieldEdit> = fc.oneof(
  fc.constantFrom('0', '1', '999999999999', '1000000000000', '-1', '1.5', '999999999999.0').map((value): FieldEdit => ({ kind: 'set', key: 'amount', value })),
  fc.constantFrom('-1', '0', '35', '36', '37', '36.0', '-0', '0.5').map((value): FieldEdit => ({ kind: 'set', key: 'installment', value })),
  fc.constantFrom('x'.repeat(64), 'x'.repeat(65), '', 'a b', 'a/b', 'é', 'A.b_c:d-9').map((v): FieldEdit => ({ kind: 'set', key: 'intentId', value: json(v) })),
  fc.constantFrom('x'.repeat(60), 'x'.repeat(61), '', 'a b', '\x7f', '~!', 'é').map((v): FieldEdit => ({ kind: 'set', key: 'authorizationId', value: json(v) })),
  fc.constantFrom('x'.repeat(64), 'x'.repeat(65), '', ' ', '\x7f', '\u001f', 'é').map((v): FieldEdit => ({ kind: 'set', key: 'req', value: json(v) })),
);

const editArb: fc.Arbitrary<FieldEdit> = fc.oneof(
  { weight: 3, arbitrary: boundaryEditArb },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), key: keyArb, value: weirdRawArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dup' as const), index: fc.nat(), value: weirdRawArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('op' as const), value: fc.oneof(fc.constantFrom(...OPS, 'PAY', 'pay ', 'Pay', 'ping', 'x'.repeat(33)), fc.string({ unit: 'binary', maxLength: 40 })) }) },
);

function applyEdits(entries: Entries, edits: FieldEdit[]): Entries {
  const out = [...entries];
  for (const e of edits) {
    switch (e.kind) {
      case 'set': {
        const i = out.findIndex(([k]) => k === e.key);
        if (i >= 0) out[i] = [e.key, e.value];
        else out.push([e.key, e.value]);
        break;
      }
      case 'drop':
        if (out.length > 0) out.splice(e.index % out.length, 1);
        break;
      case 'dup':
        if (out.length > 0) out.push([out[e.index % out.length][0], e.value]);
        break;
      case 'op':
        out.push(['op', json(e.value)]);
        break;
    }
  }
  return out;
}

/** Serialises entries by hand: JSON.stringify of an object would turn "__proto__" into a prototype. */
const objectText = (entries: Entries, spaced: boolean): string =>
  '{' + entries.map(([k, v]) => `${json(k)}${spaced ? ' : ' : ':'}${v}`).join(spaced ? ' , ' : ',') + '}';

const lineSpecial = [0x00, 0x0a, 0x0d, 0x22, 0x5c, 0x7b, 0x7d, 0x3a, 0x2c, 0x80, 0xc0, 0xed, 0xef, 0xff];

const structuredTextArb: fc.Arbitrary<string> = fc
  .record({ entries: validEntriesArb, edits: fc.array(editArb, { maxLength: 3 }), spaced: fc.boolean() })
  .map(({ entries, edits, spaced }) => objectText(applyEdits(entries, edits), spaced));

/** One line's bytes, without a newline unless mutated into one. */
export const lineBytesArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 10, arbitrary: structuredTextArb.map((t) => Buffer.from(t, 'utf8')) },
  {
    weight: 4,
    arbitrary: fc.tuple(structuredTextArb, fc.array(mutationArb(lineSpecial), { minLength: 1, maxLength: 4 }))
      .map(([t, m]) => mutate(Buffer.from(t, 'utf8'), m)),
  },
  { weight: 1, arbitrary: fc.json({ maxDepth: 4 }).map((t) => Buffer.from(t, 'utf8')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).map((t) => Buffer.from(t, 'utf8')) },
  { weight: 1, arbitrary: randomBytesArb },
  { weight: 1, arbitrary: fc.constantFrom('\ufeff{"op":"health"}', '{"op":"health"}\u0000', ' {"op":"health"} ', '[', '"', '{', '{"op":', 'null', '[]', '{}', '1', '"pay"').map((t) => Buffer.from(t, 'utf8')) },
  {
    weight: 1,
    arbitrary: fc.record({ depth: fc.integer({ min: 1, max: 20_000 }), open: fc.constantFrom('[', '{"a":'), close: fc.boolean() })
      .map(({ depth, open, close }) => Buffer.from(`{"op":"health","x":${open.repeat(depth)}${close ? (open === '[' ? ']' : '}').repeat(depth) : ''}}`)),
  },
  {
    weight: 1,
    arbitrary: fc.record({ size: fc.integer({ min: 1, max: 70_000 }), field: fc.constantFrom('req', 'intentId', 'x', 'op') })
      .map(({ size, field }) => Buffer.from(`{"op":"get","intentId":"i","${field}":"${'x'.repeat(size)}"}`)),
  },
);

const terminatorArb = fc.constantFrom('\n', '\n', '\n', '\r\n', '\r', '', '\n\n', '\r\r\n');

export const intentInputArb: fc.Arbitrary<IntentInput> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('line' as const), line: lineBytesArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('line' as const), line: fc.oneof(structuredTextArb, fc.string({ unit: 'binary', maxLength: 80 })) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('stream' as const),
      stream: fc.array(fc.tuple(lineBytesArb, terminatorArb), { minLength: 1, maxLength: 6 })
        .map((parts) => Buffer.concat(parts.flatMap(([l, t]) => [l, Buffer.from(t)]))),
      cuts: cutsArb,
      maxLineBytes: fc.oneof(fc.constant(MAX_LINE_BYTES), fc.integer({ min: 1, max: 80 })),
      end: fc.boolean(),
    }),
  },
);

export const intentsTarget: FuzzTarget<IntentInput> = {
  name: 'intents',
  arbitrary: intentInputArb,
  run(input, tally) {
    if (input.kind === 'line') parseOne(input.line, tally);
    else runStream(input, tally);
  },
  show(input) {
    if (input.kind === 'line') {
      return typeof input.line === 'string'
        ? `parseRequest(string utf8 hex ${Buffer.from(input.line, 'utf8').toString('hex')}) json ${JSON.stringify(input.line)}`
        : `parseRequest(bytes hex ${hex(input.line)})`;
    }
    const chunks = split(input.stream, input.cuts);
    const shown = chunks.length > 64 ? `${chunks.length} chunks of 1 byte: ${hex(input.stream)}` : `chunks [${chunks.map(hex).join(', ')}]`;
    return `LineReader(max ${input.maxLineBytes}) ${shown} end ${input.end}`;
  },
};
