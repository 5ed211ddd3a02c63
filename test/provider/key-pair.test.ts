import { readFileSync } from 'node:fs';
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import iconv from 'iconv-lite';
import { BAD_OTC_MESSAGE, BadOtcError, RsaOtcKeyPair, SPKI_BASE64_CHARS } from '../../daemon/provider/index.js';

interface JavaVector {
  publicKeyX509Base64: string;
  privateKeyPkcs8Base64: string;
  cases: Array<{ plaintext: string; encOtc: string; track2Valid: boolean; note: string }>;
}
const VECTORS = '../shared/vectors';
const java = JSON.parse(readFileSync(new URL(`../../${VECTORS}/rsa-pkcs1-java.json`, import.meta.url), 'utf8')) as JavaVector;
const javaKey = (): RsaOtcKeyPair => RsaOtcKeyPair.fromPkcs8Der(Buffer.from(java.privateKeyPkcs8Base64, 'base64'));

function expectBadOtc(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(BadOtcError);
  const err = thrown as BadOtcError;
  expect(err.code).toBe('BAD_OTC');
  // One message, no cause: nothing tells a padding failure from a bad track 2.
  expect(err.message).toBe(BAD_OTC_MESSAGE);
  expect(err.cause).toBeUndefined();
  expect(Object.keys(err).sort()).toEqual(['code', 'name']);
}

describe('RsaOtcKeyPair with the Java-made vector', () => {
  test('its SPKI is the Java public key, byte for byte', () => {
    expect(javaKey().publicKeyBase64).toBe(java.publicKeyX509Base64);
  });

  test('fromPkcs8Der zeroes the DER it was given', () => {
    const der = Buffer.from(java.privateKeyPkcs8Base64, 'base64');
    RsaOtcKeyPair.fromPkcs8Der(der);
    expect(der.every((x) => x === 0)).toBe(true);
  });

  for (const c of java.cases.filter((x) => x.track2Valid)) {
    test(`decrypts and validates: ${c.note}`, () => {
      const expected = c.plaintext.replace(/^;/, '').replace(/\?$/, '');
      expect(javaKey().decryptTrack2(c.encOtc).toString('latin1')).toBe(expected);
    });
  }

  for (const c of java.cases.filter((x) => !x.track2Valid)) {
    test(`decrypts but rejects as BAD_OTC: ${c.note}`, () => {
      expectBadOtc(() => javaKey().decryptTrack2(c.encOtc));
    });
  }

  test('the OTC in the EUC-KR answer vector decrypts with the same key', () => {
    const answer = JSON.parse(iconv.decode(readFileSync(new URL(`../../${VECTORS}/response-ok.euc-kr.json`, import.meta.url)), 'euc-kr')) as { encOtc: string };
    expect(javaKey().decryptTrack2(answer.encOtc).toString('latin1')).toBe('9410123456789012=30121011234567890123');
  });
});

describe('BAD_OTC on every failure', () => {
  test('a ciphertext made with another key', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const enc = publicEncrypt({ key: other, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(java.cases[0]!.plaintext)).toString('base64');
    expectBadOtc(() => javaKey().decryptTrack2(enc));
  });

  test.each([
    ['not Base64', '!!!!'],
    ['Base64 with junk inside', `${java.cases[0]!.encOtc.slice(0, 100)}*${java.cases[0]!.encOtc.slice(101)}`],
    ['255 bytes', Buffer.alloc(255, 1).toString('base64')],
    ['257 bytes', Buffer.alloc(257, 1).toString('base64')],
    ['empty', ''],
  ])('%s', (_name, enc) => {
    expectBadOtc(() => javaKey().decryptTrack2(enc));
  });

  test('after destroy()', () => {
    const key = javaKey();
    key.destroy();
    expectBadOtc(() => key.decryptTrack2(java.cases[0]!.encOtc));
  });

  test('a track 2 with bad syntax', () => {
    const key = createPublicKey({ key: Buffer.from(java.publicKeyX509Base64, 'base64'), format: 'der', type: 'spki' });
    const enc = publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('9410123456789012D30121011234567890123')).toString('base64');
    expectBadOtc(() => javaKey().decryptTrack2(enc));
  });
});

describe('generated keys', () => {
  test('SPKI is 392 Base64 chars and round-trips to the same DER, as Java encodes it', async () => {
    const pair = await RsaOtcKeyPair.generate();
    expect(pair.publicKeyBase64).toHaveLength(SPKI_BASE64_CHARS);
    const der = Buffer.from(pair.publicKeyBase64, 'base64');
    expect(der).toHaveLength(294);
    const reexported = createPublicKey({ key: der, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
    expect(Buffer.compare(reexported, der)).toBe(0);
    // Same structure as the Java key: identical 32-byte header (SEQUENCE, rsaEncryption OID, NULL, BIT STRING, SEQUENCE, INTEGER tag+len+0x00).
    const javaDer = Buffer.from(java.publicKeyX509Base64, 'base64');
    expect(der.subarray(0, 33)).toEqual(javaDer.subarray(0, 33));
    expect(der.subarray(-5)).toEqual(javaDer.subarray(-5)); // e = 65537
  });

  test('a Java-style PKCS#1 v1.5 ciphertext to our key decrypts', async () => {
    const pair = await RsaOtcKeyPair.generate();
    const key = createPublicKey({ key: Buffer.from(pair.publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
    const enc = publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(';4000000000000002=2912201?')).toString('base64');
    const t2 = pair.decryptTrack2(enc);
    expect(t2.toString('latin1')).toBe('4000000000000002=2912201');
    pair.destroy();
  });
});
