import iconv from 'iconv-lite';
import { ProviderError } from './errors.js';
import { RSA_CIPHERTEXT_BYTES, decodeStrictBase64 } from './key-pair.js';

/** The provider's answer to a successful inquiry (resCd "0000"). */
export interface OtcAnswer {
  resCd: string;
  resMsg: string;
  shopTransactionId: string;
  shopOrderNo: string;
  authorizationId: string;
  encOtc: string;
  shopParameter: string;
}

/** The provider's wire charset (iconv-lite's 'euc-kr' is cp949, a superset). */
export const PROVIDER_CHARSET = 'euc-kr';
export const SUCCESS_RES_CD = '0000';

/** Request field limits, in EUC-KR bytes (spec: otc-api.md, Request). */
export const REQUEST_MAX_BYTES = { authorizationId: 60, publicKey: 512 } as const;

/** Answer field limits, in EUC-KR bytes (spec: otc-api.md, Response). */
export const ANSWER_MAX_BYTES: Readonly<Record<keyof OtcAnswer, number>> = {
  resCd: 4,
  resMsg: 1000,
  shopTransactionId: 60,
  shopOrderNo: 40,
  authorizationId: 60,
  encOtc: 400,
  shopParameter: 4000,
};

/** resMsg may be 1000 bytes; an error message keeps the start of it. */
const MAX_RES_MSG_IN_MESSAGE = 200;

const ANSWER_FIELDS = Object.keys(ANSWER_MAX_BYTES) as Array<keyof OtcAnswer>;

export function eucKrByteLength(s: string): number {
  return iconv.encode(s, PROVIDER_CHARSET).length;
}

/** The longest prefix of `s` that fits `max` bytes in EUC-KR (never splits a character). */
function truncateToBytes(s: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = eucKrByteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** The JSON object in an EUC-KR body, or undefined when the body is not one. */
export function decodeJsonObject(body: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(iconv.decode(body, PROVIDER_CHARSET));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function badAnswer(why: string): ProviderError {
  // `why` names a field and a rule, never a value: encOtc must not reach a message.
  return new ProviderError('BAD_ANSWER', `The provider's answer breaks the OTC Inquiry spec: ${why}; call the provider's support`);
}

/**
 * Judges one HTTP answer. The set of error codes and the HTTP status that
 * comes with them are not public, so resCd/resMsg are read from any answer
 * whose body is a JSON object, whatever its status (a "0000" is accepted
 * even with an odd status: the customer has authenticated and the inquiry
 * cannot be repeated). A body that is not a JSON object is judged by its
 * status: HTTP_STATUS, or BAD_ANSWER when the status claimed success.
 */
export function parseOtcAnswer(status: number, body: Buffer, authorizationId: string): OtcAnswer {
  const obj = decodeJsonObject(body);
  if (obj === undefined) {
    if (isSuccessStatus(status)) throw badAnswer('the body is not a JSON object');
    throw new ProviderError('HTTP_STATUS', `The provider answered HTTP ${status} without a JSON body`, { status });
  }
  const resCd = obj['resCd'];
  if (typeof resCd !== 'string') {
    if (isSuccessStatus(status)) throw badAnswer('resCd is missing');
    throw new ProviderError('HTTP_STATUS', `The provider answered HTTP ${status} without a result code`, { status });
  }
  if (resCd !== SUCCESS_RES_CD) {
    // The error's resCd/resMsg travel on into events, the ledger and logs: hold them to the spec's sizes.
    if (eucKrByteLength(resCd) > ANSWER_MAX_BYTES.resCd) throw badAnswer(`resCd is longer than ${ANSWER_MAX_BYTES.resCd} bytes`);
    const rawMsg = typeof obj['resMsg'] === 'string' ? obj['resMsg'] : '';
    const resMsg = eucKrByteLength(rawMsg) > ANSWER_MAX_BYTES.resMsg ? truncateToBytes(rawMsg, ANSWER_MAX_BYTES.resMsg) : rawMsg;
    const shown = resMsg.length > MAX_RES_MSG_IN_MESSAGE ? `${resMsg.slice(0, MAX_RES_MSG_IN_MESSAGE)}...` : resMsg;
    throw new ProviderError('API_ERROR', `The provider refused the inquiry: ${resCd} ${shown}`.trimEnd(), { resCd, resMsg, status });
  }
  const answer: Partial<OtcAnswer> = {};
  for (const field of ANSWER_FIELDS) {
    const value = obj[field];
    if (typeof value !== 'string') throw badAnswer(`${field} is missing or not a string`);
    if (eucKrByteLength(value) > ANSWER_MAX_BYTES[field]) throw badAnswer(`${field} is longer than ${ANSWER_MAX_BYTES[field]} bytes`);
    answer[field] = value;
  }
  const complete = answer as OtcAnswer;
  if (complete.authorizationId !== authorizationId) throw badAnswer('authorizationId is not the one sent');
  const cipher = decodeStrictBase64(complete.encOtc);
  if (cipher === undefined) throw badAnswer('encOtc is not Base64');
  const cipherBytes = cipher.length;
  cipher.fill(0);
  if (cipherBytes !== RSA_CIPHERTEXT_BYTES) throw badAnswer(`encOtc is not ${RSA_CIPHERTEXT_BYTES} bytes`);
  return complete;
}

function isSuccessStatus(status: number): boolean {
  return status >= 200 && status < 300;
}
