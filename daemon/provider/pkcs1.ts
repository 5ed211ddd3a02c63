/**
 * PKCS#1 v1.5 encryption padding (RFC 8017 section 7.2.2), removed without
 * branching on secret bytes.
 *
 *   EM = 0x00 || 0x02 || PS (at least 8 non-zero bytes) || 0x00 || M
 *
 * Written in the manner of BoringSSL's RSA_padding_check_PKCS1_type_2: every
 * byte of the block is visited, the outcome is accumulated in masks, and the
 * only branch is on the final verdict. JavaScript gives no hard constant-time
 * guarantee (the JIT may do as it likes), so the daemon also never says *why*
 * a block was refused (one BAD_OTC) and uses each key for one answer only:
 * there is no oracle to ask twice.
 */

/** Smallest PS the standard allows. */
const MIN_PADDING_BYTES = 8;
/** 0x00 0x02 and at least 8 bytes of PS before the separator. */
const MIN_SEPARATOR_INDEX = 2 + MIN_PADDING_BYTES;

/** 1 when a === b, else 0, for bytes; no branch. */
function eqMask(a: number, b: number): number {
  return (((a ^ b) - 1) >>> 31) & 1;
}

/** 1 when a >= b, else 0, for small non-negative ints; no branch. */
function geMask(a: number, b: number): number {
  return (~((a - b) >> 31)) & 1;
}

/**
 * The offset of the message M inside the decrypted block `em`, or -1 when the
 * block is not a valid type-2 padding. Reads `em` only.
 */
export function pkcs1Type2MessageOffset(em: Uint8Array): number {
  let good = eqMask(em[0] ?? 1, 0x00) & eqMask(em[1] ?? 0, 0x02);
  let looking = 1;
  let separator = 0;
  for (let i = 2; i < em.length; i++) {
    const isZero = eqMask(em[i], 0x00);
    const take = looking & isZero;
    separator = (separator & (take - 1)) | (i & -take);
    looking &= isZero ^ 1;
  }
  good &= looking ^ 1;
  good &= geMask(separator, MIN_SEPARATOR_INDEX);
  return good === 1 ? separator + 1 : -1;
}
