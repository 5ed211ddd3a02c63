/**
 * What a leak of card data could look like in bytes: each test PAN and track 2
 * in every encoding the daemon's code could produce (ASCII, hex lower/upper,
 * Base64 and base64url at all three byte alignments, UTF-16LE/BE, and the
 * byte-reversed form a little-endian big number holds).
 */

export interface Needle {
  /** e.g. "PAN#1 base64+1"; never the secret itself. */
  label: string;
  /** Which secret (for grouping hits). */
  secret: string;
  encoding: string;
  bytes: Buffer;
}

export interface TestCard {
  /** Short name used in labels, e.g. "T2#1". */
  name: string;
  track2: string;
}

/** The PAN of a normalised track 2: the digits before '='. */
export function panOf(track2: string): string {
  const eq = track2.indexOf('=');
  return eq < 0 ? track2 : track2.slice(0, eq);
}

/**
 * The part of base64(prefix(k) + needle) that does not depend on the bytes
 * around the needle: whole 4-char groups made only of needle bytes.
 */
function base64Middle(needle: Buffer, shift: number): string {
  const shifted = Buffer.concat([Buffer.alloc(shift), needle]);
  const full = shifted.toString('base64');
  const from = shift === 0 ? 0 : 4;
  const to = Math.floor(shifted.length / 3) * 4;
  return full.slice(from, to);
}

function encodings(text: string): Array<{ encoding: string; bytes: Buffer }> {
  const ascii = Buffer.from(text, 'latin1');
  const out: Array<{ encoding: string; bytes: Buffer }> = [
    { encoding: 'ascii', bytes: ascii },
    { encoding: 'hex', bytes: Buffer.from(ascii.toString('hex'), 'latin1') },
    { encoding: 'HEX', bytes: Buffer.from(ascii.toString('hex').toUpperCase(), 'latin1') },
    { encoding: 'utf16le', bytes: Buffer.from(text, 'utf16le') },
    { encoding: 'utf16be', bytes: Buffer.from(text, 'utf16le').swap16() },
    // A big number's digits are stored least significant first (V8 BigInt words on a
    // little-endian CPU): an RSA plaintext held as a BigInt shows its bytes reversed.
    { encoding: 'ascii reversed', bytes: Buffer.from(ascii).reverse() },
  ];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = base64Middle(ascii, shift);
    out.push({ encoding: `base64+${shift}`, bytes: Buffer.from(b64, 'latin1') });
    const url = b64.replace(/\+/g, '-').replace(/\//g, '_');
    if (url !== b64) out.push({ encoding: `base64url+${shift}`, bytes: Buffer.from(url, 'latin1') });
  }
  return out;
}

/**
 * Needles for each card: its PAN, its full track 2, and the track 2 as the
 * stand-in's bad-track2 scenario mangles it ('=' -> 'D').
 */
export function needlesFor(cards: readonly TestCard[]): Needle[] {
  const needles: Needle[] = [];
  for (const card of cards) {
    const secrets: Array<[string, string]> = [
      [`${card.name} PAN`, panOf(card.track2)],
      [`${card.name} track2`, card.track2],
      [`${card.name} track2(D)`, card.track2.replace('=', 'D')],
    ];
    for (const [secret, text] of secrets) {
      for (const { encoding, bytes } of encodings(text)) needles.push({ label: `${secret} ${encoding}`, secret, encoding, bytes });
    }
  }
  return needles;
}
