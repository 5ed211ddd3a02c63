import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import iconv from 'iconv-lite';
import { ProviderError, decodeJsonObject, eucKrByteLength, parseOtcAnswer } from '../../daemon/provider/index.js';

const vector = (name: string): Buffer => readFileSync(new URL(`../../../shared/vectors/${name}`, import.meta.url));
const okBody = vector('response-ok.euc-kr.json');
const okFields = decodeJsonObject(okBody)!;
const encode = (obj: object): Buffer => iconv.encode(JSON.stringify(obj), 'euc-kr');

function failure(fn: () => unknown): ProviderError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProviderError);
    return e as ProviderError;
  }
  throw new Error('expected a ProviderError');
}

describe('EUC-KR answer vectors', () => {
  test('the OK answer parses with its Korean text intact', () => {
    const answer = parseOtcAnswer(200, okBody, 'AUTH-0001');
    expect(answer.resCd).toBe('0000');
    expect(answer.resMsg).toBe('정상처리되었습니다');
    expect(answer.shopParameter).toBe('키오스크 3번');
    expect(answer.shopTransactionId).toBe('TX-20261127-0001');
    expect(answer.shopOrderNo).toBe('ORD-0001');
    expect(answer.authorizationId).toBe('AUTH-0001');
    expect(Buffer.from(answer.encOtc, 'base64')).toHaveLength(256);
  });

  test('the error answer becomes API_ERROR with its Korean resMsg', () => {
    const err = failure(() => parseOtcAnswer(200, vector('response-error.euc-kr.json'), 'AUTH-0404'));
    expect(err.code).toBe('API_ERROR');
    expect(err.resCd).toBe('R102');
    expect(err.resMsg).toBe('거래인증 정보가 존재하지 않습니다');
    expect(err.message).toContain('거래인증 정보가 존재하지 않습니다');
    expect(err.retryable).toBe(false);
  });

  test('resCd is read from a JSON answer whatever its status', () => {
    const err = failure(() => parseOtcAnswer(500, vector('response-error.euc-kr.json'), 'AUTH-0404'));
    expect(err.code).toBe('API_ERROR');
    expect(err.status).toBe(500);
  });
});

describe('answers that break the spec', () => {
  test.each([
    ['a non-JSON body with 200', 200, Buffer.from('<html>ok</html>'), 'BAD_ANSWER'],
    ['a non-JSON body with 502', 502, Buffer.from('<html>Bad Gateway</html>'), 'HTTP_STATUS'],
    ['a JSON array', 200, Buffer.from('[1,2]'), 'BAD_ANSWER'],
    ['a JSON object without resCd, 200', 200, Buffer.from('{"a":1}'), 'BAD_ANSWER'],
    ['a JSON object without resCd, 404', 404, Buffer.from('{"error":"not found"}'), 'HTTP_STATUS'],
    ['truncated JSON', 200, okBody.subarray(0, 60), 'BAD_ANSWER'],
  ])('%s', (_name, status, body, code) => {
    const err = failure(() => parseOtcAnswer(status, body, 'AUTH-0001'));
    expect(err.code).toBe(code);
    if (code === 'HTTP_STATUS') expect(err.status).toBe(status);
  });

  test.each([
    ['shopOrderNo', 'shopOrderNo'],
    ['encOtc', 'encOtc'],
    ['resMsg', 'resMsg'],
  ])('missing %s', (field) => {
    const { [field]: _gone, ...rest } = okFields;
    const err = failure(() => parseOtcAnswer(200, encode(rest), 'AUTH-0001'));
    expect(err.code).toBe('BAD_ANSWER');
    expect(err.message).toContain(field);
  });

  test('byte length counts EUC-KR bytes, not characters', () => {
    const twentyHangul = '주'.repeat(20);
    expect(eucKrByteLength(twentyHangul)).toBe(40);
    expect(parseOtcAnswer(200, encode({ ...okFields, shopOrderNo: twentyHangul }), 'AUTH-0001').shopOrderNo).toBe(twentyHangul);
    const err = failure(() => parseOtcAnswer(200, encode({ ...okFields, shopOrderNo: '주'.repeat(21) }), 'AUTH-0001'));
    expect(err.code).toBe('BAD_ANSWER');
    expect(err.message).toContain('shopOrderNo is longer than 40 bytes');
  });

  test('authorizationId not echoed', () => {
    const err = failure(() => parseOtcAnswer(200, okBody, 'AUTH-0002'));
    expect(err.code).toBe('BAD_ANSWER');
    expect(err.message).toContain('authorizationId');
  });

  test.each([
    ['not Base64', 'not base64!'],
    ['128 bytes', Buffer.alloc(128, 7).toString('base64')],
  ])('encOtc %s; the message does not carry it', (_name, encOtc) => {
    const err = failure(() => parseOtcAnswer(200, encode({ ...okFields, encOtc }), 'AUTH-0001'));
    expect(err.code).toBe('BAD_ANSWER');
    expect(err.message).not.toContain(encOtc);
    expect(JSON.stringify(err)).not.toContain(encOtc);
  });

  test('a valid answer never puts encOtc into an error', () => {
    const err = failure(() => parseOtcAnswer(200, okBody, 'AUTH-9999'));
    expect(`${err.message}${JSON.stringify(err)}`).not.toContain(okFields['encOtc'] as string);
  });
});

describe('error answers are held to the spec sizes (found by fuzzing)', () => {
  const body = (obj: object): Buffer => iconv.encode(JSON.stringify(obj), 'euc-kr');
  test('a resCd over 4 bytes is BAD_ANSWER', () => {
    expect(() => parseOtcAnswer(200, body({ resCd: '9'.repeat(60_000), resMsg: 'x' }), 'AUTH-1')).toThrow(expect.objectContaining({ code: 'BAD_ANSWER' }));
  });
  test('a resMsg over 1000 bytes is cut to 1000 bytes without splitting a Korean character', () => {
    let err: unknown;
    try {
      parseOtcAnswer(200, body({ resCd: 'R102', resMsg: '가'.repeat(700) }), 'AUTH-1');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'API_ERROR', resCd: 'R102' });
    expect((err as { resMsg: string }).resMsg).toBe('가'.repeat(500));
  });
});
