/**
 * Fuzz target 3: the provider's OTC Inquiry answers (shared/spec/otc-api.md).
 *
 * A case is an HTTP status, an EUC-KR body and the authorizationId that was
 * sent. Bodies are valid answers (Korean text in EUC-KR, a 256-byte encOtc)
 * with fields dropped, over-long in bytes (Korean text counts two bytes a
 * character), of the wrong type, non-Base64 or wrong-length encOtc, odd
 * resCd, duplicate and "__proto__"/"constructor" keys; the shared vectors
 * (response-ok/-error.euc-kr.json) byte-mutated, with invalid EUC-KR
 * sequences; random bytes; huge bodies.
 *
 * Properties: `decodeJsonObject` never throws and gives a plain JSON object
 * or undefined; `parseOtcAnswer` returns exactly the answer a model of the
 * spec accepts (every field a string within its byte limit, the same
 * authorizationId, encOtc Base64 of 256 bytes, nothing else) or throws a
 * ProviderError with the code the model expects (API_ERROR with the
 * provider's resCd/resMsg, HTTP_STATUS, BAD_ANSWER), never retryable, whose
 * message never quotes the encOtc.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { ProviderError } from '../../daemon/provider/errors.js';
import { decodeJsonObject, parseOtcAnswer, type OtcAnswer } from '../../daemon/provider/otc-answer.js';
import { check, expectTypedError, hex, type FuzzTarget, type Tally } from './harness.js';
import { mutate, mutationArb, randomBytesArb } from './mutate.js';
import { readVector } from './vectors.js';

export interface ProviderInput {
  status: number;
  body: Buffer;
  authorizationId: string;
}

// ---- the spec, as a model -------------------------------------------------

/** Response field limits in EUC-KR bytes (otc-api.md, Response), in the spec's order. */
const LIMITS: Record<keyof OtcAnswer, number> = {
  resCd: 4, resMsg: 1000, shopTransactionId: 60, shopOrderNo: 40, authorizationId: 60, encOtc: 400, shopParameter: 4000,
};
const FIELDS = Object.keys(LIMITS) as (keyof OtcAnswer)[];
const CIPHERTEXT_BYTES = 256; // RSA-2048
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

type Expected =
  | { ok: true; value: OtcAnswer }
  | { ok: false; code: 'BAD_ANSWER' | 'HTTP_STATUS' }
  | { ok: false; code: 'API_ERROR'; resCd: string; resMsg: string };

const eucKrBytes = (s: string): number => iconv.encode(s, 'euc-kr').length;

function base64Bytes(s: string): number | undefined {
  if (s.length % 4 !== 0 || !BASE64_RE.test(s)) return undefined;
  return Buffer.from(s, 'base64').length;
}

function cutToBytes(text: string, max: number): string {
  if (eucKrBytes(text) <= max) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = eucKrBytes(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

function expectedFor(input: ProviderInput): Expected {
  const success = input.status >= 200 && input.status <= 299;
  let value: unknown;
  try {
    value = JSON.parse(iconv.decode(input.body, 'euc-kr'));
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, code: success ? 'BAD_ANSWER' : 'HTTP_STATUS' };
  const obj = value as Record<string, unknown>;
  const own = (k: string): unknown => (Object.hasOwn(obj, k) ? obj[k] : undefined);
  const resCd = own('resCd');
  if (typeof resCd !== 'string') return { ok: false, code: success ? 'BAD_ANSWER' : 'HTTP_STATUS' };
  if (resCd !== '0000') {
    // Spec sizes hold on error answers too: resCd <= 4 bytes, resMsg cut to 1000 bytes.
    if (eucKrBytes(resCd) > LIMITS.resCd) return { ok: false, code: 'BAD_ANSWER' };
    const resMsg = own('resMsg');
    return { ok: false, code: 'API_ERROR', resCd, resMsg: typeof resMsg === 'string' ? cutToBytes(resMsg, LIMITS.resMsg) : '' };
  }
  const answer: Partial<OtcAnswer> = {};
  for (const f of FIELDS) {
    const v = own(f);
    if (typeof v !== 'string' || eucKrBytes(v) > LIMITS[f]) return { ok: false, code: 'BAD_ANSWER' };
    answer[f] = v;
  }
  if (answer.authorizationId !== input.authorizationId) return { ok: false, code: 'BAD_ANSWER' };
  if (base64Bytes(answer.encOtc as string) !== CIPHERTEXT_BYTES) return { ok: false, code: 'BAD_ANSWER' };
  return { ok: true, value: answer as OtcAnswer };
}

function encOtcOf(body: Buffer): string | undefined {
  const obj = decodeJsonObjectModel(body);
  const v = obj !== undefined && Object.hasOwn(obj, 'encOtc') ? obj['encOtc'] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function decodeJsonObjectModel(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(iconv.decode(body, 'euc-kr'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Same keys and same primitive values; nested values by type only (a deep compare would recurse past the stack on deep JSON). */
function sameShallow(a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (Object.getPrototypeOf(a) !== Object.prototype) return false;
  const keys = Object.keys(a);
  if (!isDeepStrictEqual(keys, Object.keys(b))) return false;
  return keys.every((k) => {
    const x = a[k];
    const y = b[k];
    return typeof x === 'object' && x !== null ? typeof y === 'object' && y !== null && Array.isArray(x) === Array.isArray(y) : Object.is(x, y);
  });
}

function runCase(input: ProviderInput, tally: Tally): void {
  const obj = tally.time(() => decodeJsonObject(input.body));
  const objModel = decodeJsonObjectModel(input.body);
  check(sameShallow(obj, objModel), 'decodeJsonObject disagrees with JSON.parse of the EUC-KR text');

  const expected = expectedFor(input);
  let got: OtcAnswer;
  try {
    got = tally.time(() => parseOtcAnswer(input.status, input.body, input.authorizationId));
  } catch (err) {
    const e = expectTypedError(err, ProviderError, ['API_ERROR', 'HTTP_STATUS', 'BAD_ANSWER']);
    check(!expected.ok, `refused (${e.code}: ${e.message}) an answer the spec accepts`);
    check(e.code === expected.code, `refused with ${e.code}, spec model expects ${expected.code}`);
    check(!e.retryable, `${e.code} marked retryable: the inquiry reached the provider`);
    if (expected.code === 'API_ERROR') {
      check(e.resCd === expected.resCd && e.resMsg === expected.resMsg, 'API_ERROR does not carry the provider\'s resCd/resMsg');
    } else {
      const encOtc = encOtcOf(input.body);
      check(encOtc === undefined || encOtc.length < 8 || !e.message.includes(encOtc), 'error message quotes the encOtc');
    }
    if (e.code === 'HTTP_STATUS' || e.code === 'API_ERROR') check(e.status === input.status, `${e.code} without the HTTP status`);
    tally.rejected(e.code);
    tally.message(e.message.length);
    return;
  }
  // Re-validate the contract on its own, then against the model.
  check(Object.getPrototypeOf(got) === Object.prototype, 'answer is not a plain object');
  check(isDeepStrictEqual(Object.keys(got).sort(), [...FIELDS].sort()), `answer keys ${Object.keys(got).join(',')}`);
  for (const f of FIELDS) check(typeof got[f] === 'string' && eucKrBytes(got[f]) <= LIMITS[f], `${f} over ${LIMITS[f]} bytes or not a string`);
  check(got.resCd === '0000', `accepted resCd ${JSON.stringify(got.resCd)}`);
  check(got.authorizationId === input.authorizationId, 'accepted another authorizationId');
  check(base64Bytes(got.encOtc) === CIPHERTEXT_BYTES, 'accepted an encOtc that is not Base64 of 256 bytes');
  check(expected.ok, `accepted an answer the spec model refuses (${expected.ok ? '' : expected.code})`);
  check(isDeepStrictEqual(got, expected.value), 'answer differs from the body\'s fields');
  tally.accepted('0000');
}

// ---- arbitraries ----------------------------------------------------------

type Raw = string;
const json = (v: unknown): Raw => JSON.stringify(v);
const AUTH_ID = 'AUTH-0001';

/** Korean syllables (two bytes each in EUC-KR), ASCII, and a character EUC-KR lacks. */
const hangulArb = fc.constantFrom(...'가나다라마바사아자차카타파하정상처리되었습니다한국어결제'.split(''));
const mixedTextArb = (maxChars: number): fc.Arbitrary<string> => fc.string({
  unit: fc.oneof({ weight: 3, arbitrary: hangulArb }, { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
    { weight: 1, arbitrary: fc.constantFrom('\u0000', '\n', '"', '\\', '\u00e9', '\ud83d\ude00', '\ufffd', '\u2028') }),
  maxLength: maxChars,
});
/** A string of exactly `bytes` EUC-KR bytes (Korean when `korean`). */
const sized = (bytes: number, korean: boolean): string => (korean ? '가'.repeat(Math.floor(bytes / 2)) + (bytes % 2 ? 'a' : '') : 'a'.repeat(bytes));

const encOtcArb: fc.Arbitrary<string> = fc.uint8Array({ minLength: CIPHERTEXT_BYTES, maxLength: CIPHERTEXT_BYTES })
  .map((b) => Buffer.from(b).toString('base64'));
const badEncOtcArb: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(encOtcArb, fc.nat(), fc.constantFrom(' ', '\n', '\r\n', '-', '_', '=', '.', '!', '\u0000', '가')).map(([s, at, c]) => s.slice(0, at % s.length) + c + s.slice(at % s.length)),
  encOtcArb.map((s) => s.replace(/=+$/, '')),
  encOtcArb.map((s) => s.replaceAll('+', '-').replaceAll('/', '_')),
  fc.integer({ min: 0, max: 300 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((b) => Buffer.from(b).toString('base64')),
  fc.constantFrom('', '====', 'AAAA', 'A'.repeat(400), 'A'.repeat(401), 'A'.repeat(344)),
);

const weirdRawArb: fc.Arbitrary<Raw> = fc.oneof(
  fc.constantFrom('null', 'true', '0', '0000', '-1', '1e400', '[]', '{}', '["0000"]', '{"__proto__":{"polluted":1}}', '""', '"0000 "', '" 0000"', '"0000\\u0000"', '"000"', '"00000"'),
  fc.jsonValue({ maxDepth: 2 }).map(json),
  mixedTextArb(20).map(json),
);

type Entries = [string, Raw][];

const validEntriesArb: fc.Arbitrary<Entries> = fc.record({
  resMsg: mixedTextArb(30), tx: fc.string({ maxLength: 60, unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
  order: fc.oneof(fc.string({ maxLength: 40 }), mixedTextArb(20)), encOtc: encOtcArb, param: mixedTextArb(60),
}).map(({ resMsg, tx, order, encOtc, param }): Entries => [
  ['resCd', json('0000')], ['resMsg', json(resMsg)], ['shopTransactionId', json(tx)], ['shopOrderNo', json(order)],
  ['authorizationId', json(AUTH_ID)], ['encOtc', json(encOtc)], ['shopParameter', json(param)],
]);

type Edit =
  | { kind: 'drop'; index: number }
  | { kind: 'set'; key: string; value: Raw }
  | { kind: 'dup'; index: number; value: Raw };

const fieldArb = fc.constantFrom(...FIELDS);
const editArb: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), index: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fieldArb, value: weirdRawArb }) },
  // Right at the byte limit, one byte over, and under it in characters but over it in bytes.
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('set' as const), key: fieldArb, over: fc.constantFrom(0, 1, 2), korean: fc.boolean() })
      .map(({ key, over, korean }): Edit => ({ kind: 'set', key, value: json(sized(LIMITS[key] + over, korean)) })),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.constant('encOtc'), value: badEncOtcArb.map(json) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.constant('authorizationId'), value: fc.constantFrom('AUTH-0002', 'auth-0001', 'AUTH-0001 ', '').map(json) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.constant('resCd'), value: fc.oneof(fc.constantFrom('R102', '9999', '', '0001', '00 0', 'x'.repeat(5000)), mixedTextArb(6)).map(json) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'), value: weirdRawArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dup' as const), index: fc.nat(), value: weirdRawArb }) },
);

function applyEdits(entries: Entries, edits: Edit[]): Entries {
  const out = [...entries];
  for (const e of edits) {
    if (e.kind === 'drop') {
      if (out.length > 0) out.splice(e.index % out.length, 1);
    } else if (e.kind === 'dup') {
      if (out.length > 0) out.push([out[e.index % out.length][0], e.value]);
    } else {
      const i = out.findIndex(([k]) => k === e.key);
      if (i >= 0) out[i] = [e.key, e.value];
      else out.push([e.key, e.value]);
    }
  }
  return out;
}

/** By hand: JSON.stringify of an object would turn "__proto__" into a prototype. */
const eucKrBody = (entries: Entries): Buffer =>
  iconv.encode('{' + entries.map(([k, v]) => `${json(k)}:${v}`).join(',') + '}', 'euc-kr');

const OK_VECTOR = readVector('response-ok.euc-kr.json');
const ERROR_VECTOR = readVector('response-error.euc-kr.json');
/** Lead bytes without a trail, trail bytes alone, bytes outside EUC-KR/CP949. */
const eucKrSpecial = [0x80, 0x81, 0xa1, 0xb0, 0xc8, 0xfe, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x00];

const bodyArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 16, arbitrary: fc.tuple(validEntriesArb, fc.array(editArb, { maxLength: 3 })).map(([e, edits]) => eucKrBody(applyEdits(e, edits))) },
  { weight: 1, arbitrary: fc.constantFrom(OK_VECTOR, ERROR_VECTOR) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(OK_VECTOR, ERROR_VECTOR), fc.array(mutationArb(eucKrSpecial), { minLength: 1, maxLength: 4 })).map(([b, m]) => mutate(b, m)) },
  { weight: 2, arbitrary: fc.tuple(validEntriesArb, fc.array(mutationArb(eucKrSpecial), { minLength: 1, maxLength: 3 })).map(([e, m]) => mutate(eucKrBody(e), m)) },
  { weight: 1, arbitrary: randomBytesArb },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '[]', '"0000"', '<html>502 Bad Gateway</html>', '{"resCd":"0000"', '\ufeff{}').map((s) => Buffer.from(s, 'utf8')) },
  // Huge bodies: OtcClient stops reading at 64 KiB; up to 4 times that here, to see any super-linear cost.
  {
    weight: 1,
    arbitrary: fc.record({ field: fc.constantFrom('shopParameter', 'resMsg', 'extra'), size: fc.oneof({ weight: 19, arbitrary: fc.integer({ min: 1001, max: 64 * 1024 }) }, { weight: 1, arbitrary: fc.integer({ min: 64 * 1024, max: 256 * 1024 }) }), resCd: fc.constantFrom('0000', 'R102'), korean: fc.boolean() })
      .chain(({ field, size, resCd, korean }) => validEntriesArb.map((e) => eucKrBody(applyEdits(e, [
        { kind: 'set', key: 'resCd', value: json(resCd) }, { kind: 'set', key: field, value: json(sized(size, korean)) },
      ])))),
  },
  { weight: 1, arbitrary: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 1, max: 64 * 1024 })).map((d) => Buffer.from(`{"resCd":"0000","x":${'['.repeat(d)}${']'.repeat(d)}}`)) },
);

const statusArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(200) },
  { weight: 3, arbitrary: fc.constantFrom(201, 204, 299, 300, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 999 }) },
);

export const providerInputArb: fc.Arbitrary<ProviderInput> = fc.record({
  status: statusArb,
  body: bodyArb,
  authorizationId: fc.oneof({ weight: 9, arbitrary: fc.constant(AUTH_ID) }, { weight: 1, arbitrary: fc.constantFrom('AUTH-0404', 'x') }),
});

export const providerTarget: FuzzTarget<ProviderInput> = {
  name: 'provider',
  arbitrary: providerInputArb,
  run: runCase,
  show: (input) => `parseOtcAnswer(status ${input.status}, body hex ${hex(input.body)}, authorizationId ${JSON.stringify(input.authorizationId)})`,
};
