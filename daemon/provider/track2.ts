/**
 * Track 2 (ISO/IEC 7813) as the provider's OTC carries it, handled as bytes.
 *
 * Everything here works on Buffers, never on strings: a JavaScript string
 * cannot be zeroed, so turning track 2 into one would leave the card number in
 * the heap until the garbage collector happens to overwrite it.
 *
 * Layout after normalisation: PAN (12..19 digits) '=' expiry (YYMM, or '='
 * when absent) service code (3 digits) discretionary data (digits), at most
 * 37 characters from '0'-'9' and '='.
 */

const START_SENTINEL = 0x3b; // ';'
const END_SENTINEL = 0x3f; // '?'
const FIELD_SEPARATOR = 0x3d; // '='
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

export const TRACK2_MAX_CHARS = 37;
const PAN_MIN_DIGITS = 12;
const PAN_MAX_DIGITS = 19;
const EXPIRY_DIGITS = 4;
const SERVICE_CODE_DIGITS = 3;
/** A reader may append the longitudinal redundancy check character after '?'. */
const LRC_CHARS_AFTER_END_SENTINEL = 1;

const PAN_CLEAR_HEAD = 6;
const PAN_CLEAR_TAIL = 4;

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= DIGIT_0 && b <= DIGIT_9;
}

/**
 * Strips the ';' start sentinel and the '?' end sentinel (with the LRC
 * character a reader may put after it), copying the rest into a fresh Buffer,
 * and zeroes `plain`. The provider does not document whether its track 2
 * carries sentinels, so both forms are accepted. Anything else is left as it
 * is for isValidTrack2 to judge (more than one byte after '?' is not an LRC:
 * the '?' stays and validation rejects it).
 */
export function normaliseTrack2(plain: Buffer): Buffer {
  let start = 0;
  let end = plain.length;
  if (plain[0] === START_SENTINEL) start = 1;
  const endSentinel = plain.indexOf(END_SENTINEL, start);
  if (endSentinel >= 0 && plain.length - endSentinel - 1 <= LRC_CHARS_AFTER_END_SENTINEL) end = endSentinel;
  const out = Buffer.alloc(end - start);
  plain.copy(out, 0, start, end);
  plain.fill(0);
  return out;
}

/** True when `t` is a normalised track 2 (see the layout above). */
export function isValidTrack2(t: Buffer): boolean {
  if (t.length === 0 || t.length > TRACK2_MAX_CHARS) return false;
  for (const b of t) if (!isDigit(b) && b !== FIELD_SEPARATOR) return false;

  const panLength = t.indexOf(FIELD_SEPARATOR);
  if (panLength < PAN_MIN_DIGITS || panLength > PAN_MAX_DIGITS) return false;

  let i = panLength + 1;
  if (t[i] === FIELD_SEPARATOR) {
    i += 1; // no expiry date
  } else {
    for (let k = 0; k < EXPIRY_DIGITS; k++) if (!isDigit(t[i + k])) return false;
    const month = (t[i + 2]! - DIGIT_0) * 10 + (t[i + 3]! - DIGIT_0);
    if (month < 1 || month > 12) return false;
    i += EXPIRY_DIGITS;
  }
  for (let k = 0; k < SERVICE_CODE_DIGITS; k++) if (!isDigit(t[i + k])) return false;
  i += SERVICE_CODE_DIGITS;
  // Discretionary data: digits only (the character check above already
  // allowed '=', so reject a further separator here).
  for (; i < t.length; i++) if (!isDigit(t[i])) return false;
  return true;
}

/**
 * The PAN with only its first 6 and last 4 digits in clear (PCI DSS), e.g.
 * "941012******9012". A track 2 without a plausible PAN gives "****".
 */
export function maskPan(track2: Buffer): string {
  const start = track2[0] === START_SENTINEL ? 1 : 0;
  let end = track2.indexOf(FIELD_SEPARATOR, start);
  if (end < 0) end = track2.length;
  const length = end - start;
  if (length < PAN_CLEAR_HEAD + PAN_CLEAR_TAIL) return '****';
  for (let i = start; i < end; i++) if (!isDigit(track2[i])) return '****';
  const head = track2.toString('latin1', start, start + PAN_CLEAR_HEAD);
  const tail = track2.toString('latin1', end - PAN_CLEAR_TAIL, end);
  return head + '*'.repeat(length - PAN_CLEAR_HEAD - PAN_CLEAR_TAIL) + tail;
}
