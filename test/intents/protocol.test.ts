import { describe, expect, test } from '@jest/globals';
import {
  encodeError, encodeEvent, encodeReply, parseRequest, ProtocolError, type IntentRequest,
} from '../../daemon/intents/protocol.js';
import { IntentError, type IntentView } from '../../daemon/payments/model.js';

const PAY = { op: 'pay', req: 'r1', intentId: 'order-8812', authorizationId: 'A1B2C3', amount: 12000, installment: 0 };

function parseObj(obj: Record<string, unknown>): IntentRequest {
  return parseRequest(JSON.stringify(obj));
}

function failure(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toBeInstanceOf(IntentError);
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

describe('parseRequest: accepted requests', () => {
  test.each<[string, Record<string, unknown>, IntentRequest]>([
    ['pay', PAY, { op: 'pay', req: 'r1', params: { intentId: 'order-8812', authorizationId: 'A1B2C3', amount: 12000, installment: 0 } }],
    ['pay without req, installment defaults to 0', { op: 'pay', intentId: 'a', authorizationId: '!', amount: 1 },
      { op: 'pay', params: { intentId: 'a', authorizationId: '!', amount: 1, installment: 0 } }],
    ['pay at the maxima', { ...PAY, intentId: 'x'.repeat(64), authorizationId: '~'.repeat(60), amount: 999999999999, installment: 36 },
      { op: 'pay', req: 'r1', params: { intentId: 'x'.repeat(64), authorizationId: '~'.repeat(60), amount: 999999999999, installment: 36 } }],
    ['pay with every intentId character', { ...PAY, intentId: 'AZaz09._:-' },
      { op: 'pay', req: 'r1', params: { intentId: 'AZaz09._:-', authorizationId: 'A1B2C3', amount: 12000, installment: 0 } }],
    ['unknown extra fields are ignored', { ...PAY, future: { x: 1 }, currency: 'KRW' },
      { op: 'pay', req: 'r1', params: { intentId: 'order-8812', authorizationId: 'A1B2C3', amount: 12000, installment: 0 } }],
    ['cancel', { op: 'cancel', req: 'r2', intentId: 'order-8812' }, { op: 'cancel', req: 'r2', intentId: 'order-8812' }],
    ['void with a reason', { op: 'void', req: 'r5', intentId: 'order-8812', reason: 'dispense failed' }, { op: 'void', req: 'r5', intentId: 'order-8812', reason: 'dispense failed' }],
    ['void without a reason', { op: 'void', intentId: 'o' }, { op: 'void', intentId: 'o' }],
    ['void with an empty reason and one of 80 characters', { op: 'void', intentId: 'o', reason: '' }, { op: 'void', intentId: 'o', reason: '' }],
    ['void reason at its maximum', { op: 'void', intentId: 'o', reason: '~'.repeat(80) }, { op: 'void', intentId: 'o', reason: '~'.repeat(80) }],
    ['get follow', { op: 'get', req: 'r3', intentId: 'o', follow: true }, { op: 'get', req: 'r3', intentId: 'o', follow: true }],
    ['get follow defaults to false', { op: 'get', intentId: 'o' }, { op: 'get', intentId: 'o', follow: false }],
    ['health', { op: 'health', req: 'r4' }, { op: 'health', req: 'r4' }],
    ['terminal.ping', { op: 'terminal.ping', req: 'p' }, { op: 'terminal.ping', req: 'p' }],
    ['req of 64 printable chars with spaces', { op: 'health', req: ' ~'.repeat(32) }, { op: 'health', req: ' ~'.repeat(32) }],
  ])('%s', (_name, input, expected) => {
    expect(parseObj(input)).toEqual(expected);
  });

  test('integral JSON number spellings are the same number', () => {
    for (const spelled of ['12000', '12000.0', '1.2e4']) {
      const line = `{"op":"pay","intentId":"o","authorizationId":"a","amount":${spelled}}`;
      expect(parseRequest(line)).toMatchObject({ params: { amount: 12000 } });
    }
  });

  test('takes a Buffer, and a -0 installment comes out as 0', () => {
    const r = parseRequest(Buffer.from('{"op":"pay","intentId":"o","authorizationId":"a","amount":5,"installment":-0}'));
    expect(r.op === 'pay' && Object.is(r.params.installment, 0)).toBe(true);
  });
});

const AMOUNT_MSG = 'amount must be an integer from 1 to 999999999999';
const INSTALLMENT_MSG = 'installment must be an integer from 0 to 36';
const INTENT_MSG = 'intentId must be 1 to 64 characters of A-Z a-z 0-9 . _ : -';
const AUTH_MSG = 'authorizationId must be 1 to 60 printable ASCII characters without spaces (0x21 to 0x7E)';

const REASON_MSG = 'reason must be 0 to 80 printable ASCII characters (0x20 to 0x7E)';

describe('parseRequest: refused field values (BAD_REQUEST naming the field, req echoed)', () => {
  test.each<[string, Record<string, unknown>, string]>([
    ['amount as a string', { ...PAY, amount: '12000' }, AMOUNT_MSG],
    ['amount fractional', { ...PAY, amount: 12000.5 }, AMOUNT_MSG],
    ['amount zero', { ...PAY, amount: 0 }, AMOUNT_MSG],
    ['amount negative', { ...PAY, amount: -1 }, AMOUNT_MSG],
    ['amount over the maximum', { ...PAY, amount: 1_000_000_000_000 }, AMOUNT_MSG],
    ['amount missing', { ...PAY, amount: undefined }, AMOUNT_MSG],
    ['amount null', { ...PAY, amount: null }, AMOUNT_MSG],
    ['amount boolean', { ...PAY, amount: true }, AMOUNT_MSG],
    ['installment 37', { ...PAY, installment: 37 }, INSTALLMENT_MSG],
    ['installment negative', { ...PAY, installment: -1 }, INSTALLMENT_MSG],
    ['installment fractional', { ...PAY, installment: 1.5 }, INSTALLMENT_MSG],
    ['installment as a string', { ...PAY, installment: '3' }, INSTALLMENT_MSG],
    ['installment null', { ...PAY, installment: null }, INSTALLMENT_MSG],
    ['void reason of 81 characters', { op: 'void', req: 'r1', intentId: 'o', reason: 'x'.repeat(81) }, REASON_MSG],
    ['void reason with a newline', { op: 'void', req: 'r1', intentId: 'o', reason: 'a\nb' }, REASON_MSG],
    ['void reason non-ASCII', { op: 'void', req: 'r1', intentId: 'o', reason: 'é' }, REASON_MSG],
    ['void reason null', { op: 'void', req: 'r1', intentId: 'o', reason: null }, REASON_MSG],
    ['void without intentId', { op: 'void', req: 'r1' }, INTENT_MSG],
    ['intentId missing', { ...PAY, intentId: undefined }, INTENT_MSG],
    ['intentId empty', { ...PAY, intentId: '' }, INTENT_MSG],
    ['intentId 65 chars', { ...PAY, intentId: 'x'.repeat(65) }, INTENT_MSG],
    ['intentId with a space', { ...PAY, intentId: 'order 1' }, INTENT_MSG],
    ['intentId with a slash', { ...PAY, intentId: 'a/b' }, INTENT_MSG],
    ['intentId non-ASCII', { ...PAY, intentId: 'order-é' }, INTENT_MSG],
    ['intentId a number', { ...PAY, intentId: 8812 }, INTENT_MSG],
    ['authorizationId empty', { ...PAY, authorizationId: '' }, AUTH_MSG],
    ['authorizationId 61 chars', { ...PAY, authorizationId: 'a'.repeat(61) }, AUTH_MSG],
    ['authorizationId with a space', { ...PAY, authorizationId: 'A1 B2' }, AUTH_MSG],
    ['authorizationId with DEL', { ...PAY, authorizationId: 'A1\x7f' }, AUTH_MSG],
    ['authorizationId missing', { ...PAY, authorizationId: undefined }, AUTH_MSG],
    ['cancel without intentId', { op: 'cancel', req: 'r1' }, INTENT_MSG],
    ['get with a bad intentId', { op: 'get', req: 'r1', intentId: 'a b' }, INTENT_MSG],
    ['get follow as a string', { op: 'get', req: 'r1', intentId: 'o', follow: 'yes' }, 'follow must be true or false'],
    ['op missing', { req: 'r1' }, 'op is required: one of pay, cancel, void, get, health, terminal.ping'],
    ['op a number', { op: 1, req: 'r1' }, 'op must be a string: one of pay, cancel, void, get, health, terminal.ping'],
  ])('%s', (_name, input, message) => {
    const err = failure(() => parseObj(input));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toBe(message);
    expect(err.req).toBe('r1');
  });
});

describe('parseRequest: refused lines', () => {
  const REQ_MSG = 'req must be a string of 1 to 64 printable ASCII characters (0x20 to 0x7E)';
  test.each<[string, string | Buffer, string, string]>([
    ['not JSON', 'hello', 'BAD_REQUEST', 'line is not valid JSON: send one JSON object per line'],
    ['truncated JSON', '{"op":"health"', 'BAD_REQUEST', 'line is not valid JSON: send one JSON object per line'],
    ['a JSON array', '[{"op":"health"}]', 'BAD_REQUEST', 'line must be a JSON object with an "op" field'],
    ['a JSON string', '"health"', 'BAD_REQUEST', 'line must be a JSON object with an "op" field'],
    ['JSON null', 'null', 'BAD_REQUEST', 'line must be a JSON object with an "op" field'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'BAD_REQUEST', 'line is not valid UTF-8: send UTF-8 JSON'],
    ['req empty', '{"op":"health","req":""}', 'BAD_REQUEST', REQ_MSG],
    ['req 65 chars', `{"op":"health","req":"${'r'.repeat(65)}"}`, 'BAD_REQUEST', REQ_MSG],
    ['req with a control char', '{"op":"health","req":"a\\tb"}', 'BAD_REQUEST', REQ_MSG],
    ['req non-ASCII', '{"op":"health","req":"é"}', 'BAD_REQUEST', REQ_MSG],
    ['req a number', '{"op":"health","req":7}', 'BAD_REQUEST', REQ_MSG],
    ['req invalid and op unknown: req wins', '{"op":"nope","req":""}', 'BAD_REQUEST', REQ_MSG],
  ])('%s', (_name, line, code, message) => {
    const err = failure(() => parseRequest(line));
    expect(err.code).toBe(code);
    expect(err.message).toBe(message);
    expect(err.req).toBeUndefined();
  });

  test('unknown op: UNKNOWN_OP, echoing a short printable op and the req', () => {
    const err = failure(() => parseObj({ op: 'refund', req: 'r5' }));
    expect(err.code).toBe('UNKNOWN_OP');
    expect(err.message).toBe('unknown op "refund": expected one of pay, cancel, void, get, health, terminal.ping');
    expect(err.req).toBe('r5');
  });

  test('unknown op: a long or odd op is not echoed', () => {
    for (const op of ['x'.repeat(33), 'a\nb', '']) {
      const err = failure(() => parseObj({ op }));
      expect(err.code).toBe('UNKNOWN_OP');
      expect(err.message).toBe('unknown op: expected one of pay, cancel, void, get, health, terminal.ping');
    }
  });

  test('a request for an inherited property name is still unknown', () => {
    expect(failure(() => parseObj({ op: 'toString' })).code).toBe('UNKNOWN_OP');
    expect(failure(() => parseRequest('{"__proto__":{"op":"health"}}')).code).toBe('BAD_REQUEST');
  });
});

describe('encoders', () => {
  const view: IntentView = {
    intentId: 'o', state: 'inquiring', attempt: 1, amount: 1, installment: 0, createdAt: 'c', updatedAt: 'u',
  };

  test('reply with and without req', () => {
    expect(encodeReply('r1', { intent: view })).toBe(`{"type":"reply","req":"r1","intent":${JSON.stringify(view)}}\n`);
    expect(encodeReply(undefined, { ping: { terminalId: 't', state: 'idle', rttMs: 3 } }))
      .toBe('{"type":"reply","ping":{"terminalId":"t","state":"idle","rttMs":3}}\n');
  });

  test('event puts type first', () => {
    const line = encodeEvent({ intentId: 'o', state: 'approved', at: 'a', attempt: 1, approvalNo: '1', type: 'event' });
    expect(line).toBe('{"type":"event","intentId":"o","state":"approved","at":"a","attempt":1,"approvalNo":"1"}\n');
  });

  test('error with and without req', () => {
    expect(encodeError('BUSY', 'busy', 'r9')).toBe('{"type":"error","req":"r9","code":"BUSY","message":"busy"}\n');
    expect(encodeError('BAD_REQUEST', 'bad')).toBe('{"type":"error","code":"BAD_REQUEST","message":"bad"}\n');
  });
});
