/**
 * The PKCS#1 v1.5 unpadding otcd uses after a native raw RSA decryption,
 * checked against the standard's rules and against node-rsa, an independent
 * implementation, on the Java-made vectors.
 */
import { describe, expect, test } from '@jest/globals';
import { constants, createPrivateKey, privateDecrypt, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import NodeRSA from 'node-rsa';
import { RsaOtcKeyPair } from '../../daemon/provider/index.js';
import { pkcs1Type2MessageOffset } from '../../daemon/provider/pkcs1.js';

interface JavaVectors { privateKeyPkcs8Base64: string; cases: Array<{ plaintext: string; encOtc: string }> }
const vectors = JSON.parse(readFileSync(new URL('../../../shared/vectors/rsa-pkcs1-java.json', import.meta.url), 'utf8')) as JavaVectors;

/** A well-formed type-2 block of `size` bytes carrying `message`. */
function block(message: Buffer, size = 256): Buffer {
  const ps = Buffer.alloc(size - 3 - message.length);
  for (let i = 0; i < ps.length; i++) ps[i] = 1 + (randomBytes(1)[0] % 255);
  return Buffer.concat([Buffer.from([0x00, 0x02]), ps, Buffer.from([0x00]), message]);
}

describe('pkcs1Type2MessageOffset', () => {
  test('finds the message in every well-formed block, empty message and longest message included', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 256 - 11 }), (bytes) => {
      const message = Buffer.from(bytes);
      const em = block(message);
      expect(em.subarray(pkcs1Type2MessageOffset(em)).equals(message)).toBe(true);
    }), { numRuns: 2000 });
  });

  test.each([
    ['first byte not 0x00', (em: Buffer) => { em[0] = 0x01; }],
    ['block type 1, not 2', (em: Buffer) => { em[1] = 0x01; }],
    ['no separator at all', (em: Buffer) => { em.fill(0x55, 2); }],
    ['padding string of 7 bytes', (em: Buffer) => { em[9] = 0x00; }],
    ['separator right after the type', (em: Buffer) => { em[2] = 0x00; }],
  ])('refuses a block with %s', (_name, damage) => {
    const em = block(Buffer.from('9410123456789012=30121011234567890123'));
    damage(em);
    expect(pkcs1Type2MessageOffset(em)).toBe(-1);
  });

  test('accepts a padding string of exactly 8 bytes', () => {
    const em = block(Buffer.alloc(256 - 11, 0x31));
    expect(pkcs1Type2MessageOffset(em)).toBe(11);
  });

  test('agrees with node-rsa on every Java-made ciphertext (raw block from OpenSSL, unpadded by us)', () => {
    const der = Buffer.from(vectors.privateKeyPkcs8Base64, 'base64');
    const nodeRsa = new NodeRSA();
    nodeRsa.setOptions({ encryptionScheme: 'pkcs1' });
    nodeRsa.importKey(der, 'pkcs8-private-der');
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    for (const c of vectors.cases) {
      const cipher = Buffer.from(c.encOtc, 'base64');
      const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, cipher);
      const ours = em.subarray(pkcs1Type2MessageOffset(em)).toString('latin1');
      const theirs = Buffer.from(nodeRsa.decrypt(cipher)).toString('latin1');
      expect(ours).toBe(theirs);
      expect(ours).toBe(c.plaintext);
    }
  });
});

describe('RsaOtcKeyPair.decryptTrack2 zeroes what held the plaintext', () => {
  test('the block from OpenSSL is zeroed after the message is taken', () => {
    const pair = RsaOtcKeyPair.fromPkcs8Der(Buffer.from(vectors.privateKeyPkcs8Base64, 'base64'));
    const filled: Buffer[] = [];
    const originalFill = Buffer.prototype.fill;
    // Record every Buffer zeroed during the call: the 256-byte block must be among them.
    Buffer.prototype.fill = function (this: Buffer, ...args: Parameters<Buffer['fill']>) {
      if (args[0] === 0) filled.push(this);
      return originalFill.apply(this, args);
    } as Buffer['fill'];
    let track2: Buffer;
    try {
      track2 = pair.decryptTrack2(vectors.cases[0].encOtc);
    } finally {
      Buffer.prototype.fill = originalFill;
    }
    expect(track2.toString('latin1')).toBe(vectors.cases[0].plaintext);
    const block256 = filled.filter((b) => b.length === 256);
    expect(block256.length).toBeGreaterThanOrEqual(2); // the ciphertext and the decrypted block
    for (const b of block256) expect(b.every((x) => x === 0)).toBe(true);
    track2.fill(0);
  });
});
