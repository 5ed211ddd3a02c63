import { constants, createPrivateKey, createPublicKey, generateKeyPair as generateKeyPairCb, privateDecrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { BadOtcError } from './errors.js';
import { pkcs1Type2MessageOffset } from './pkcs1.js';
import { isValidTrack2, normaliseTrack2 } from './track2.js';

/**
 * One RSA-2048 key pair for one OTC inquiry.
 *
 * Decryption: the provider encrypts with RSA/ECB/PKCS1Padding (PKCS#1 v1.5).
 * Node 20.11.1+ refuses `crypto.privateDecrypt` with RSA_PKCS1_PADDING
 * (CVE-2023-46809, the Marvin timing attack), and `--security-revert` is
 * Node-20-only and refused in NODE_OPTIONS.
 *
 * Why not node-rsa, which the design card names for this: it decrypts in
 * JavaScript and leaves copies of the plaintext behind that nobody can zero
 * (the padded block in `toBuffer()` and `encUnPad()` slices, a string of the
 * message, the decrypted BigInteger's digits). `scripts/leak-hunt.ts` found
 * the track 2 in a core image of the daemon long after its payments ended.
 * So the RSA operation runs natively (`privateDecrypt` with RSA_NO_PADDING:
 * OpenSSL, blinded, its buffers cleansed), the padding is removed by
 * `pkcs1.ts` without branching on secret bytes, and every buffer that held
 * the plaintext is zeroed here. node-rsa stays in the tests, as an
 * independent second implementation that checks ours against the Java vectors.
 *
 * Every failure is the same BadOtcError (one code, one message, no cause): a
 * party that can submit ciphertexts must learn nothing about why one failed.
 * Each key also decrypts exactly one answer and is then destroyed, so there
 * is no oracle to query repeatedly. The private key is a native KeyObject,
 * never in the JavaScript heap; the PKCS#8 DER of an imported key is zeroed.
 */
export interface OtcKeyPair {
  /** X.509 SubjectPublicKeyInfo DER, Base64: what Java's getPublic().getEncoded() gives (392 chars). */
  readonly publicKeyBase64: string;
  /** encOtc -> normalised, validated track 2 in a fresh Buffer the caller zeroes; BadOtcError on any failure. */
  decryptTrack2(encOtcBase64: string): Buffer;
  /** Drops the private key: one inquiry per key pair. */
  destroy(): void;
}

export const RSA_MODULUS_BITS = 2048;
export const RSA_PUBLIC_EXPONENT = 65537;
/** A 2048-bit modulus gives 256-byte ciphertexts (344 Base64 characters). */
export const RSA_CIPHERTEXT_BYTES = RSA_MODULUS_BITS / 8;
/** SPKI DER of an RSA-2048 key is 294 bytes, 392 Base64 characters. */
export const SPKI_BASE64_CHARS = 392;

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes canonical Base64 only (Buffer.from(..., 'base64') silently skips junk). */
export function decodeStrictBase64(s: string): Buffer | undefined {
  if (!STRICT_BASE64.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}

const generateKeyPairAsync = promisify(generateKeyPairCb);

export class RsaOtcKeyPair implements OtcKeyPair {
  readonly publicKeyBase64: string;
  private privateKey: KeyObject | undefined;

  private constructor(privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'rsa' || privateKey.asymmetricKeyDetails?.modulusLength !== RSA_MODULUS_BITS) {
      throw new TypeError(`the key must be RSA-${RSA_MODULUS_BITS}`);
    }
    this.privateKey = privateKey;
    this.publicKeyBase64 = createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
  }

  /**
   * Builds a key pair from a PKCS#8 private key in DER (what Java's
   * getPrivate().getEncoded() gives), and zeroes `pkcs8Der` afterwards.
   */
  static fromPkcs8Der(pkcs8Der: Buffer): RsaOtcKeyPair {
    try {
      return new RsaOtcKeyPair(createPrivateKey({ key: pkcs8Der, format: 'der', type: 'pkcs8' }));
    } finally {
      pkcs8Der.fill(0);
    }
  }

  /** A fresh RSA-2048 key pair from Node's native generator (in the libuv thread pool, off the event loop). */
  static async generate(): Promise<RsaOtcKeyPair> {
    const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: RSA_MODULUS_BITS, publicExponent: RSA_PUBLIC_EXPONENT });
    return new RsaOtcKeyPair(privateKey);
  }

  decryptTrack2(encOtcBase64: string): Buffer {
    const key = this.privateKey;
    const cipher = typeof encOtcBase64 === 'string' ? decodeStrictBase64(encOtcBase64) : undefined;
    if (key === undefined || cipher === undefined || cipher.length !== RSA_CIPHERTEXT_BYTES) {
      cipher?.fill(0);
      throw new BadOtcError();
    }
    let block: Buffer | undefined;
    let message: Buffer | undefined;
    try {
      block = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, cipher);
      const offset = pkcs1Type2MessageOffset(block);
      if (offset < 0) throw new BadOtcError();
      message = Buffer.alloc(block.length - offset);
      block.copy(message, 0, offset);
    } catch {
      // OpenSSL's or our own reason: it must not travel further.
      message?.fill(0);
      throw new BadOtcError();
    } finally {
      cipher.fill(0);
      block?.fill(0);
    }
    // normaliseTrack2 copies into a fresh Buffer and zeroes `message`.
    const track2 = normaliseTrack2(message);
    if (!isValidTrack2(track2)) {
      track2.fill(0);
      throw new BadOtcError();
    }
    return track2;
  }

  destroy(): void {
    this.privateKey = undefined;
  }
}
