import { generateKeyPair as generateKeyPairCb, createPrivateKey, createPublicKey } from 'node:crypto';
import { promisify } from 'node:util';
import NodeRSA from 'node-rsa';
import { BadOtcError } from './errors.js';
import { isValidTrack2, normaliseTrack2 } from './track2.js';

/**
 * One RSA-2048 key pair for one OTC inquiry.
 *
 * Why node-rsa: the provider encrypts with RSA/ECB/PKCS1Padding (PKCS#1 v1.5),
 * and Node 20.11.1+ refuses `crypto.privateDecrypt` with RSA_PKCS1_PADDING
 * (CVE-2023-46809, the Marvin timing attack); the only way back,
 * `--security-revert`, is Node-20-only and refused in NODE_OPTIONS. node-rsa
 * 2 decrypts PKCS#1 v1.5 in its own JavaScript engine. Its unpadding is not
 * constant-time, which is why every failure below is the same BadOtcError
 * (one code, one message, no cause): an attacker who can submit ciphertexts
 * must learn nothing about why one failed. Each key also decrypts exactly one
 * answer and is then destroyed, so there is no oracle to query repeatedly.
 *
 * The private key lives only inside node-rsa (numbers the JavaScript heap
 * cannot zero); destroy() drops the reference. The PKCS#8 DER it was imported
 * from is zeroed right after import.
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
  private rsa: NodeRSA | undefined;

  private constructor(rsa: NodeRSA, publicKeyBase64: string) {
    this.rsa = rsa;
    this.publicKeyBase64 = publicKeyBase64;
  }

  /**
   * Builds a key pair from a PKCS#8 private key in DER (what Java's
   * getPrivate().getEncoded() gives), and zeroes `pkcs8Der` afterwards.
   * The pool uses this for the keys it generates, tests for the Java vector.
   */
  static fromPkcs8Der(pkcs8Der: Buffer): RsaOtcKeyPair {
    try {
      const publicDer = createPublicKey(createPrivateKey({ key: pkcs8Der, format: 'der', type: 'pkcs8' }))
        .export({ type: 'spki', format: 'der' });
      const rsa = new NodeRSA();
      rsa.setOptions({ encryptionScheme: 'pkcs1' });
      rsa.importKey(pkcs8Der, 'pkcs8-private-der');
      if (rsa.getKeySize() !== RSA_MODULUS_BITS) throw new TypeError(`the key must be RSA-${RSA_MODULUS_BITS}`);
      return new RsaOtcKeyPair(rsa, publicDer.toString('base64'));
    } finally {
      pkcs8Der.fill(0);
    }
  }

  /** A fresh RSA-2048 key pair from Node's native generator (in the libuv thread pool, off the event loop). */
  static async generate(): Promise<RsaOtcKeyPair> {
    const { privateKey } = await generateKeyPairAsync('rsa', {
      modulusLength: RSA_MODULUS_BITS,
      publicExponent: RSA_PUBLIC_EXPONENT,
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'der' },
    });
    return RsaOtcKeyPair.fromPkcs8Der(privateKey);
  }

  decryptTrack2(encOtcBase64: string): Buffer {
    const rsa = this.rsa;
    const cipher = typeof encOtcBase64 === 'string' ? decodeStrictBase64(encOtcBase64) : undefined;
    if (rsa === undefined || cipher === undefined || cipher.length !== RSA_CIPHERTEXT_BYTES) {
      cipher?.fill(0);
      throw new BadOtcError();
    }
    let plain: Uint8Array;
    try {
      plain = rsa.decrypt(cipher);
    } catch {
      // node-rsa's own message names the failure; it must not travel further.
      throw new BadOtcError();
    } finally {
      cipher.fill(0);
    }
    // A view, not a copy: normaliseTrack2 copies into a fresh Buffer and
    // zeroes this view, i.e. node-rsa's result itself.
    const track2 = normaliseTrack2(Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength));
    if (!isValidTrack2(track2)) {
      track2.fill(0);
      throw new BadOtcError();
    }
    return track2;
  }

  destroy(): void {
    this.rsa = undefined;
  }
}
