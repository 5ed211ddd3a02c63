import { describe, expect, test } from '@jest/globals';
import { isValidTrack2, maskPan, normaliseTrack2 } from '../../daemon/provider/index.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('normaliseTrack2', () => {
  test.each([
    ['9410123456789012=30121011234567890123', '9410123456789012=30121011234567890123'],
    [';9410123456789012=30121011234567890123?', '9410123456789012=30121011234567890123'],
    [';9410123456789012=30121011234567890123?7', '9410123456789012=30121011234567890123'],
    ['9410123456789012=30121011234567890123?', '9410123456789012=30121011234567890123'],
    [';9410123456789012=30121011234567890123', '9410123456789012=30121011234567890123'],
    // Two bytes after '?' are no LRC: left alone, for validation to reject.
    [';9410123456789012=3012101?12', '9410123456789012=3012101?12'],
    ['', ''],
  ])('%j -> %j', (input, expected) => {
    expect(normaliseTrack2(b(input)).toString('latin1')).toBe(expected);
  });

  test('returns a fresh buffer and zeroes its input', () => {
    const src = b(';9410123456789012=30121011234567890123?');
    const out = normaliseTrack2(src);
    expect(out.buffer).not.toBe(src.buffer);
    expect(src.every((x) => x === 0)).toBe(true);
    expect(out.toString('latin1')).toBe('9410123456789012=30121011234567890123');
  });

  test('zeroes a view onto a larger buffer (as node-rsa results are) without touching bytes outside it', () => {
    const backing = Buffer.from('XX4000000000000002=2912201YY', 'latin1');
    const view = Buffer.from(backing.buffer, backing.byteOffset + 2, 24);
    const out = normaliseTrack2(view);
    expect(out.toString('latin1')).toBe('4000000000000002=2912201');
    expect(backing.toString('latin1', 0, 2)).toBe('XX');
    expect(backing.subarray(2, 26).every((x) => x === 0)).toBe(true);
    expect(backing.toString('latin1', 26)).toBe('YY');
  });
});

describe('isValidTrack2', () => {
  test.each([
    ['9410123456789012=30121011234567890123', true, '16-digit PAN, expiry, service code, discretionary: 37 chars'],
    ['4000000000000002=2912201', true, 'no discretionary data'],
    ['123456789012=3012101', true, '12-digit PAN'],
    ['1234567890123456789=3012101', true, '19-digit PAN'],
    ['9410123456789012==101123', true, 'no expiry date'],
    ['9440987654321098765=3106101000000000000', false, '39 characters'],
    ['94101234567890123=301210112345678901234', false, '38 characters'],
    ['12345678901=3012101', false, '11-digit PAN'],
    ['12345678901234567890=3012101', false, '20-digit PAN'],
    ['9410123456789012', false, 'no separator'],
    ['9410123456789012=3012', false, 'no service code'],
    ['9410123456789012=301210', false, 'short service code'],
    ['9410123456789012=3013101', false, 'month 13'],
    ['9410123456789012=3000101', false, 'month 00'],
    ['9410123456789012D30121011234567890123', false, "'D' separator"],
    [';9410123456789012=30121011234567890123?', false, 'sentinels not stripped'],
    ['9410123456789012=3012101=123', false, 'second separator in discretionary data'],
    ['9410 23456789012=3012101', false, 'space'],
    ['', false, 'empty'],
  ])('%s -> %s (%s)', (t2, valid) => {
    expect(isValidTrack2(b(t2))).toBe(valid);
  });
});

describe('maskPan', () => {
  test.each([
    ['9410123456789012=30121011234567890123', '941012******9012'],
    [';4000000000000002=2912201?', '400000******0002'],
    ['1234567890123456789=3012101', '123456*********6789'],
    ['123456789=3012101', '****'],
    ['12345X7890123=3012101', '****'],
  ])('%s -> %s', (t2, masked) => {
    expect(maskPan(b(t2))).toBe(masked);
  });
});
