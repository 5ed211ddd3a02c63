/**
 * The ecr1 message codec (terminal-protocol.md section 5):
 * `SEQ FS CMD [FS FIELD]...`. Encoding checks every field the host sends;
 * decoding checks every field the terminal sends, so a malformed answer (a
 * full PAN where a masked one belongs, say) stops here.
 */
import { FS, MAX_BODY_BYTES } from './frame.js';
import { MessageError } from './errors.js';
import { RESULT_INVALID, type Dialect, type HostMessage, type TerminalMessage } from './dialect.js';

const REF_RE = /^[A-Za-z0-9_-]{1,20}$/;
const AMOUNT_MAX = 999_999_999_999; // 12 digits
const INSTALLMENT_MAX = 36;
const PRINTABLE_RE = /^[\x20-\x7e]*$/;
const TERMINAL_ID_MAX = 16;
const APPROVAL_NO_MAX = 12;
const MESSAGE_MAX = 80;
const CODE_RE = /^[\x20-\x7e]{2}$/;
const PAN_MIN = 12;
const PAN_MAX = 19;
const MASK_CLEAR_HEAD = 6;
const MASK_CLEAR_TAIL = 4;
const TRACK2_MAX = 37;
const EXPIRY_DIGITS = 4;
const SERVICE_CODE_DIGITS = 3;
const CHAR_0 = 0x30;
const CHAR_9 = 0x39;
const CHAR_EQUALS = 0x3d;
const SEQ_MAX = 99;

/** Field counts after CMD. */
const FIELD_COUNT = { PONG: 2, PROG: 2, RSLT: 5 } as const;

export function isValidRef(ref: string): boolean {
  return REF_RE.test(ref);
}

function isDigitByte(b: number): boolean {
  return b >= CHAR_0 && b <= CHAR_9;
}

/**
 * ISO/IEC 7813 track 2 without sentinels and LRC: PAN(12..19) '=' (YYMM | '=')
 * service code(3) discretionary digits; <= 37 chars of 0-9 and '='.
 * Checked on the bytes: the value never becomes a JS string.
 */
export function isValidTrack2(t: Uint8Array): boolean {
  if (t.length > TRACK2_MAX) return false;
  let i = 0;
  while (i < t.length && isDigitByte(t[i])) i++;
  if (i < PAN_MIN || i > PAN_MAX || t[i] !== CHAR_EQUALS) return false;
  i++;
  if (t[i] === CHAR_EQUALS) {
    i++; // expiry absent
  } else {
    for (let k = 0; k < EXPIRY_DIGITS; k++, i++) if (i >= t.length || !isDigitByte(t[i])) return false;
  }
  for (let k = 0; k < SERVICE_CODE_DIGITS; k++, i++) if (i >= t.length || !isDigitByte(t[i])) return false;
  for (; i < t.length; i++) if (!isDigitByte(t[i])) return false;
  return true;
}

/** Empty, or PAN-length digits with everything but the first 6 and last 4 masked. */
export function isValidMaskedPan(s: string): boolean {
  if (s.length === 0) return true;
  if (s.length < PAN_MIN || s.length > PAN_MAX || !/^[0-9*]+$/.test(s)) return false;
  for (let i = MASK_CLEAR_HEAD; i < s.length - MASK_CLEAR_TAIL; i++) if (s[i] !== '*') return false;
  return true;
}

function badField(field: string, what: string): MessageError {
  return new MessageError('BAD_FIELD', field, `${field} ${what}`);
}

function checkRef(ref: string): void {
  if (typeof ref !== 'string' || !isValidRef(ref)) throw badField('ref', 'must be 1..20 characters of A-Z a-z 0-9 - _');
}

function checkAmount(amount: number): void {
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > AMOUNT_MAX) throw badField('amount', 'must be a whole number of KRW, 1..999999999999');
}

function seqText(seq: number): string {
  if (!Number.isInteger(seq) || seq < 0 || seq > SEQ_MAX) throw badField('seq', 'must be 0..99');
  return seq < 10 ? `0${seq}` : String(seq);
}

/** Writes latin1 text fields separated by FS into a new body Buffer. */
function textBody(fields: string[]): Buffer {
  return Buffer.from(fields.join(String.fromCharCode(FS)), 'latin1');
}

function encodeAuth(msg: Extract<HostMessage, { cmd: 'AUTH' }>, seq: string): Buffer {
  checkRef(msg.ref);
  checkAmount(msg.amount);
  if (!Number.isInteger(msg.installment) || msg.installment < 0 || msg.installment > INSTALLMENT_MAX) throw badField('installment', 'must be 0..36');
  if (!Buffer.isBuffer(msg.track2) || !isValidTrack2(msg.track2)) throw badField('track2', 'is not ISO/IEC 7813 track-2 data (PAN=YYMM service code, digits and = only, at most 37)');
  const installment = msg.installment < 10 ? `0${msg.installment}` : String(msg.installment);
  // Everything but track 2 is ASCII text; track 2 is copied byte for byte into
  // the body so that it never exists as an (unzeroable) JS string.
  const head = Buffer.from([seq, 'AUTH', msg.ref, String(msg.amount), installment, ''].join(String.fromCharCode(FS)), 'latin1');
  const body = Buffer.alloc(head.length + msg.track2.length);
  head.copy(body, 0);
  msg.track2.copy(body, head.length);
  return body;
}

function encodeVoid(msg: Extract<HostMessage, { cmd: 'VOID' }>, seq: string): Buffer {
  checkRef(msg.ref);
  if (typeof msg.origRef !== 'string' || !isValidRef(msg.origRef)) throw badField('origRef', 'must be 1..20 characters of A-Z a-z 0-9 - _');
  checkAmount(msg.amount);
  return textBody([seq, 'VOID', msg.ref, msg.origRef, String(msg.amount)]);
}

function splitFields(body: Buffer): string[] {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i === body.length || body[i] === FS) {
      fields.push(body.toString('latin1', start, i));
      start = i + 1;
    }
  }
  return fields;
}

function badMessage(field: string, what: string): MessageError {
  return new MessageError('BAD_MESSAGE', field, `terminal sent ${what}`);
}

function printable(field: string, value: string, min: number, max: number): string {
  if (value.length < min || value.length > max || !PRINTABLE_RE.test(value)) {
    throw badMessage(field, `a ${field} that is not ${min}..${max} printable characters`);
  }
  return value;
}

export const ecr1Dialect: Dialect = {
  name: 'ecr1',

  encode(msg: HostMessage, seqNumber: number): Buffer {
    const seq = seqText(seqNumber);
    let body: Buffer;
    switch (msg.cmd) {
      case 'PING':
        body = textBody([seq, 'PING']);
        break;
      case 'CNCL':
      case 'LAST':
        checkRef(msg.ref);
        body = textBody([seq, msg.cmd, msg.ref]);
        break;
      case 'AUTH':
        body = encodeAuth(msg, seq);
        break;
      case 'VOID':
        body = encodeVoid(msg, seq);
        break;
      default:
        throw badField('cmd', 'is not a host command');
    }
    if (body.length > MAX_BODY_BYTES) throw badField('body', 'is longer than 1024 bytes');
    return body;
  },

  decode(body: Buffer): TerminalMessage {
    const [seq, cmd, ...fields] = splitFields(body);
    if (!/^[0-9]{2}$/.test(seq ?? '')) throw badMessage('seq', 'a body without a two-digit SEQ');
    if (cmd === undefined || !/^[A-Z]{4}$/.test(cmd)) throw badMessage('cmd', 'a body without a four-letter CMD');
    if (!(cmd in FIELD_COUNT)) throw badMessage('cmd', `an unknown command ${cmd}`);
    const expected = FIELD_COUNT[cmd as keyof typeof FIELD_COUNT];
    if (fields.length !== expected) throw badMessage('fields', `${cmd} with ${fields.length} fields, expected ${expected}`);
    switch (cmd) {
      case 'PONG': {
        const [terminalId, state] = fields;
        printable('terminalId', terminalId, 1, TERMINAL_ID_MAX);
        if (state !== 'IDLE' && state !== 'BUSY') throw badMessage('state', 'a PONG state that is not IDLE or BUSY');
        return { cmd: 'PONG', terminalId, state };
      }
      case 'PROG': {
        const [ref, stage] = fields;
        if (!isValidRef(ref)) throw badMessage('ref', 'a PROG with a malformed ref');
        if (stage !== 'RCVD' && stage !== 'SENT') throw badMessage('stage', 'a PROG stage that is not RCVD or SENT');
        return { cmd: 'PROG', ref, stage };
      }
      default: {
        const [ref, code, approvalNo, maskedPan, message] = fields;
        if (!CODE_RE.test(code)) throw badMessage('code', 'a RSLT code that is not two printable characters');
        // An IV answer has an empty ref (spec section 5); every other RSLT names one.
        if (code === RESULT_INVALID ? ref !== '' : !isValidRef(ref)) throw badMessage('ref', 'a RSLT with a malformed ref');
        printable('approvalNo', approvalNo, 0, APPROVAL_NO_MAX);
        if (!isValidMaskedPan(maskedPan)) throw badMessage('maskedPan', 'a maskedPan that is not masked (at most first 6 and last 4 digits in clear)');
        printable('message', message, 0, MESSAGE_MAX);
        return { cmd: 'RSLT', ref, code, approvalNo, maskedPan, message };
      }
    }
  },
};
