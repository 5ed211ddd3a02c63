import { describe, expect, test } from '@jest/globals';
import { ecr1Dialect, isValidMaskedPan, isValidTrack2 } from '../../drivers/ecr1/messages.js';
import { encodeFrame } from '../../drivers/ecr1/frame.js';
import { MessageError } from '../../drivers/ecr1/errors.js';
import { frameVectors } from './vectors.js';

const vector = (note: string): Buffer => {
  const v = frameVectors.find((f) => f.note === note);
  if (!v) throw new Error(`no vector ${note}`);
  return v.body;
};

describe('encode', () => {
  test('reproduces the host vectors', () => {
    expect(ecr1Dialect.encode({ cmd: 'PING' }, 0).equals(vector('host PING'))).toBe(true);
    expect(ecr1Dialect.encode({ cmd: 'CNCL', ref: 'p7Kq2-2' }, 2).equals(vector('host CNCL'))).toBe(true);
    expect(ecr1Dialect.encode({ cmd: 'LAST', ref: 'p7Kq2-1' }, 3).equals(vector('host LAST'))).toBe(true);
    const track2 = Buffer.from('9410123456789012=30121011234567890123', 'latin1');
    expect(ecr1Dialect.encode({ cmd: 'AUTH', ref: 'p7Kq2-1', amount: 12000, installment: 0, track2 }, 1).equals(vector('host AUTH'))).toBe(true);
  });

  test.each([
    ['ref', { ref: '' }],
    ['ref', { ref: 'a'.repeat(21) }],
    ['ref', { ref: 'a b' }],
    ['amount', { amount: 0 }],
    ['amount', { amount: 1e12 }],
    ['amount', { amount: 1.5 }],
    ['installment', { installment: 37 }],
    ['installment', { installment: -1 }],
    ['track2', { track2: Buffer.from('94101234567=30121011234') }], // PAN 11
    ['track2', { track2: Buffer.from('94101234567890123456=3012101') }], // PAN 20
    ['track2', { track2: Buffer.from('9410123456789012=301210112345678901234') }], // 38
    ['track2', { track2: Buffer.from('9410123456789012=3012') }], // no service code
    ['track2', { track2: Buffer.from('9410123456789012D30121011') }],
  ])('AUTH refuses a bad %s with BAD_FIELD, naming no card data', (field, patch) => {
    const msg = { cmd: 'AUTH' as const, ref: 'r1', amount: 1000, installment: 0, track2: Buffer.from('9410123456789012=30121011234'), ...patch };
    let err: unknown;
    try {
      ecr1Dialect.encode(msg, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MessageError);
    expect(err).toMatchObject({ code: 'BAD_FIELD', field });
    expect((err as Error).message).not.toMatch(/9410/);
  });

  test('VOID: the spec vector, byte for byte, frame and LRC included', () => {
    const body = ecr1Dialect.encode({ cmd: 'VOID', ref: 'vd-7Qm2', origRef: '5_0w0g1dbvsz_pc2', amount: 12000 }, 17);
    expect(body.equals(vector('host VOID of an approved AUTH (ref, origRef, amount)'))).toBe(true);
    expect(encodeFrame(body).toString('hex')).toBe('0231371c564f49441c76642d37516d321c355f3077306731646276737a5f7063321c31323030300368');
  });

  test.each([
    ['ref', { ref: '' }],
    ['ref', { ref: 'v'.repeat(21) }],
    ['origRef', { origRef: '' }],
    ['origRef', { origRef: 'a/b' }],
    ['amount', { amount: 0 }],
    ['amount', { amount: 1e12 }],
    ['amount', { amount: 12.5 }],
  ])('VOID refuses a bad %s with BAD_FIELD', (field, patch) => {
    const msg = { cmd: 'VOID' as const, ref: 'vd-1', origRef: 'p-1', amount: 12000, ...patch };
    expect(() => ecr1Dialect.encode(msg, 1)).toThrow(expect.objectContaining({ code: 'BAD_FIELD', field }));
  });

  test('track 2 without expiry and amount of 12 digits are accepted', () => {
    expect(isValidTrack2(Buffer.from('9410123456789012==101'))).toBe(true);
    expect(ecr1Dialect.encode({ cmd: 'AUTH', ref: 'r', amount: 999999999999, installment: 36, track2: Buffer.from('941012345678==101') }, 99).toString('latin1')).toBe('99\x1cAUTH\x1cr\x1c999999999999\x1c36\x1c941012345678==101');
  });
});

describe('decode', () => {
  test('reads the terminal vectors', () => {
    expect(ecr1Dialect.decode(vector('terminal PONG'))).toEqual({ cmd: 'PONG', terminalId: 'KIOSK-T01', state: 'IDLE' });
    expect(ecr1Dialect.decode(vector('terminal PROG SENT'))).toEqual({ cmd: 'PROG', ref: 'p7Kq2-1', stage: 'SENT' });
    expect(ecr1Dialect.decode(vector('terminal RSLT approved'))).toEqual({ cmd: 'RSLT', ref: 'p7Kq2-1', code: '00', approvalNo: '30012345', maskedPan: '941012******9012', message: 'APPROVED' });
    expect(ecr1Dialect.decode(vector('terminal RSLT declined, empty approvalNo'))).toMatchObject({ code: '51', approvalNo: '' });
    expect(ecr1Dialect.decode(vector('terminal RSLT not found, trailing empty fields'))).toEqual({ cmd: 'RSLT', ref: 'zz', code: 'NF', approvalNo: '', maskedPan: '', message: '' });
    expect(ecr1Dialect.decode(vector('terminal RSLT of a VOID: reversed'))).toEqual({ cmd: 'RSLT', ref: 'vd-7Qm2', code: '00', approvalNo: '30012399', maskedPan: '941012******9012', message: 'VOIDED' });
    expect(ecr1Dialect.decode(vector('terminal RSLT of a VOID: already reversed'))).toEqual({ cmd: 'RSLT', ref: 'vd-8Kx1', code: 'AV', approvalNo: '30012399', maskedPan: '941012******9012', message: 'ALREADY VOIDED' });
    expect(ecr1Dialect.decode(Buffer.from('45\x1cRSLT\x1cvd-9\x1cAM\x1c\x1c941012******9012\x1cAMOUNT MISMATCH', 'latin1'))).toMatchObject({ code: 'AM', approvalNo: '' });
    expect(ecr1Dialect.decode(Buffer.from('01\x1cRSLT\x1c\x1cIV\x1c\x1c\x1cunknown CMD'))).toMatchObject({ ref: '', code: 'IV', message: 'unknown CMD' });
  });

  test.each([
    ['cmd', '01\x1cHELO'],
    ['cmd', '01\x1cpong\x1cT\x1cIDLE'],
    ['fields', '01\x1cPONG\x1cT'],
    ['state', '01\x1cPONG\x1cT\x1cidle'],
    ['terminalId', '01\x1cPONG\x1c\x1cIDLE'],
    ['terminalId', `01\x1cPONG\x1c${'T'.repeat(17)}\x1cIDLE`],
    ['stage', '01\x1cPROG\x1cr\x1cDONE'],
    ['ref', '01\x1cPROG\x1c\x1cRCVD'],
    ['ref', '01\x1cRSLT\x1c\x1c00\x1c\x1c\x1c'],
    ['ref', '01\x1cRSLT\x1cr1\x1cIV\x1c\x1c\x1c'],
    ['maskedPan', '01\x1cRSLT\x1cr1\x1c00\x1cA\x1c9410123456789012\x1cOK'],
    ['maskedPan', '01\x1cRSLT\x1cr1\x1c00\x1cA\x1c9410123*****9012\x1cOK'],
    ['approvalNo', `01\x1cRSLT\x1cr1\x1c00\x1c${'1'.repeat(13)}\x1c\x1cOK`],
    ['message', `01\x1cRSLT\x1cr1\x1c05\x1c\x1c\x1c${'x'.repeat(81)}`],
    ['code', '01\x1cRSLT\x1cr1\x1c0\x1c\x1c\x1c'],
  ])('refuses a bad %s with BAD_MESSAGE', (field, text) => {
    expect(() => ecr1Dialect.decode(Buffer.from(text, 'latin1'))).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE', field }));
  });

  test('masked PAN: at most first 6 and last 4 in clear', () => {
    expect(isValidMaskedPan('941012******9012')).toBe(true);
    expect(isValidMaskedPan('****************')).toBe(true);
    expect(isValidMaskedPan('9410121*****9012')).toBe(false);
    expect(isValidMaskedPan('94101*')).toBe(false);
  });
});
