// ecr1 message layer, terminal side: parse and validate what a host sends
// (spec 5). Track 2 is checked as bytes and never turned into a string: only
// the masked PAN leaves this file.
import { FS } from './frame.js';

export type HostMessage =
  | { cmd: 'PING' }
  | { cmd: 'AUTH'; ref: string; amount: number; installment: string; maskedPan: string }
  | { cmd: 'CNCL'; ref: string }
  | { cmd: 'LAST'; ref: string }
  | { cmd: 'VOID'; ref: string; origRef: string; amount: number };

export type Parsed =
  | { ok: true; seq: string; msg: HostMessage }
  /** `cmd` is set only when it looks like a CMD, so no field content is ever echoed. */
  | { ok: false; seq: string; cmd?: string; problem: string };

const FIELD_COUNT: Record<HostMessage['cmd'], number> = { PING: 0, AUTH: 4, CNCL: 1, LAST: 1, VOID: 3 };
const FIELD_NAMES: Record<HostMessage['cmd'], string> = {
  PING: 'no fields',
  AUTH: '4 fields (ref, amount, installment, track2)',
  CNCL: '1 field (ref)',
  LAST: '1 field (ref)',
  VOID: '3 fields (ref, origRef, amount)',
};

const REF = /^[A-Za-z0-9_-]{1,20}$/;
const AMOUNT = /^[1-9][0-9]{0,11}$/;
const MAX_INSTALLMENT = 36;
const CMD_SHAPE = /^[A-Z]{4}$/;

const TRACK2_MAX = 37;
const PAN_MIN = 12;
const PAN_MAX = 19;
const EXPIRY_LENGTH = 4;
const SERVICE_CODE_LENGTH = 3;
const MASK_CLEAR_HEAD = 6;
const MASK_CLEAR_TAIL = 4;
const SEPARATOR = 0x3d; // '='
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= DIGIT_0 && b <= DIGIT_9;
}

function splitFields(body: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i === body.length || body[i] === FS) {
      parts.push(body.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

/**
 * ISO/IEC 7813 track 2 without sentinels and LRC: PAN (12..19 digits), '=',
 * expiry YYMM or '=' when absent, service code (3 digits), discretionary
 * digits; at most 37 chars of 0-9 and '='. Returns the PAN length, or
 * undefined when the data is not track 2. A YYMM month outside 01..12 is not
 * YYMM, so it is refused too.
 */
export function track2PanLength(t: Uint8Array): number | undefined {
  if (t.length > TRACK2_MAX) return undefined;
  let i = 0;
  while (isDigit(t[i])) i++;
  const pan = i;
  if (pan < PAN_MIN || pan > PAN_MAX || t[i] !== SEPARATOR) return undefined;
  i++;
  if (t[i] === SEPARATOR) {
    i++;
  } else {
    for (let k = 0; k < EXPIRY_LENGTH; k++) if (!isDigit(t[i + k])) return undefined;
    const month = (t[i + 2] - DIGIT_0) * 10 + (t[i + 3] - DIGIT_0);
    if (month < 1 || month > 12) return undefined;
    i += EXPIRY_LENGTH;
  }
  for (let k = 0; k < SERVICE_CODE_LENGTH; k++) if (!isDigit(t[i + k])) return undefined;
  i += SERVICE_CODE_LENGTH;
  for (; i < t.length; i++) if (!isDigit(t[i])) return undefined;
  return pan;
}

/** First 6 and last 4 digits of the PAN in clear, the rest '*'. */
export function maskPan(track2: Uint8Array, panLength: number): string {
  let out = '';
  for (let i = 0; i < panLength; i++) {
    out += i < MASK_CLEAR_HEAD || i >= panLength - MASK_CLEAR_TAIL ? String.fromCharCode(track2[i]) : '*';
  }
  return out;
}

/** `body` is a good frame's BODY (header already checked by the framing layer). */
export function parseHostMessage(body: Buffer): Parsed {
  const [seqPart, cmdPart, ...fields] = splitFields(body);
  const seq = seqPart.toString('latin1');
  const cmdText = (cmdPart ?? Buffer.alloc(0)).toString('latin1');
  if (!CMD_SHAPE.test(cmdText)) return { ok: false, seq, problem: 'CMD is not four upper-case letters' };
  if (!(cmdText in FIELD_COUNT)) return { ok: false, seq, cmd: cmdText, problem: `unknown command ${cmdText}` };
  const cmd = cmdText as HostMessage['cmd'];
  if (fields.length !== FIELD_COUNT[cmd]) {
    return { ok: false, seq, cmd, problem: `${cmd} takes ${FIELD_NAMES[cmd]}, got ${fields.length}` };
  }
  if (cmd === 'PING') return { ok: true, seq, msg: { cmd } };
  const ref = fields[0].toString('latin1');
  if (!REF.test(ref)) return { ok: false, seq, cmd, problem: 'ref must be 1..20 chars of A-Z a-z 0-9 - _' };
  if (cmd === 'CNCL' || cmd === 'LAST') return { ok: true, seq, msg: { cmd, ref } };
  if (cmd === 'VOID') {
    const origRef = fields[1].toString('latin1');
    if (!REF.test(origRef)) return { ok: false, seq, cmd, problem: 'origRef must be 1..20 chars of A-Z a-z 0-9 - _' };
    const voidAmount = fields[2].toString('latin1');
    if (!AMOUNT.test(voidAmount)) return { ok: false, seq, cmd, problem: 'amount must be 1..12 digits without a leading zero' };
    return { ok: true, seq, msg: { cmd, ref, origRef, amount: Number(voidAmount) } };
  }

  const amountText = fields[1].toString('latin1');
  if (!AMOUNT.test(amountText)) return { ok: false, seq, cmd, problem: 'amount must be 1..12 digits without a leading zero' };
  const installment = fields[2].toString('latin1');
  if (!/^[0-9]{2}$/.test(installment) || Number(installment) > MAX_INSTALLMENT) {
    return { ok: false, seq, cmd, problem: 'installment must be two digits 00..36' };
  }
  const track2 = fields[3];
  const panLength = track2PanLength(track2);
  if (panLength === undefined) return { ok: false, seq, cmd, problem: 'track2 is not ISO 7813 track 2 data' };
  return {
    ok: true,
    seq,
    msg: { cmd, ref, amount: Number(amountText), installment, maskedPan: maskPan(track2, panLength) },
  };
}
