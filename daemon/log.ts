/**
 * otcd's logger: pino, shaped for where the lines go.
 *
 * - journald (JOURNAL_STREAM names the device:inode of our output): one
 *   human line per record, prefixed with its syslog priority (`<3>` err,
 *   `<4>` warning, `<6>` info, `<7>` debug), no timestamp (the journal has
 *   one), so `journalctl -u otcd -p warning` selects by severity;
 * - a terminal: `HH:MM:SS.mmm LEVEL module: message key=value`;
 * - anything else (a file, a pipe, a log shipper): one JSON object per line.
 *
 * Card data must never reach a log line. The code that handles it does not
 * log it; this module is the second line of defence:
 * - any field whose name contains a card-data or secret name (track2, pan,
 *   encOtc, privateKey, publicKey, password, secret...) or is an
 *   Authorization header, at any depth, in bindings too, becomes
 *   "[redacted]" (pino's own `redact` covers the fixed paths as well);
 * - every string (message, field, error message and stack) has what looks
 *   like track 2 or a card number masked (see maskCardNumbers), except the
 *   value of an identifier field (intentId, ref, req, terminalId...: see
 *   isIdentifierFieldName), which a technician matches against `otcctl
 *   payments` and the kiosk's own records: an id such as
 *   `otcctl-20261206-101530-3a5ba6` or `order-20261206-000123` is kept as
 *   it is, digits and all, unless the whole value is a track 2 or a bare
 *   card number (see keepsIdentifier);
 * - Buffers are logged as their length only: track 2 lives in Buffers.
 */
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import pino, { type DestinationStream, type Logger } from 'pino';

export type LogFormat = 'journal' | 'pretty' | 'json';

export interface CreateLoggerOptions {
  level: string;
  env?: NodeJS.ProcessEnv;
  /** Where lines go; stderr (fd 2, written synchronously) by default. */
  stream?: NodeJS.WritableStream;
  /** Forces a format instead of detecting it from `env` and `stream`. */
  format?: LogFormat;
}

export const REDACTED = '[redacted]';

/** Names (lower case) that mark a field as secret wherever they appear in its name. */
const SECRET_NAME_PARTS = ['track2', 'track', 'encotc', 'privatekey', 'publickey', 'password', 'passphrase', 'secret', 'cvv', 'cvc'];
/**
 * Names secret only as the whole name: the HTTP header (any case or dashes),
 * not the kiosk's authorizationId, which a technician needs to see.
 */
const SECRET_WHOLE_NAMES = new Set(['authorization', 'proxyauthorization']);
/** Names that are secret only as a whole word of the field's name: "pan" but not "company". */
const SECRET_WORDS = new Set(['pan']);
/** pino's fixed redaction paths: the same names where we know they occur. */
const REDACT_PATHS = ['track2', 'pan', 'encOtc', 'privateKey', 'publicKey'].flatMap((k) => [k, `*.${k}`]).concat([
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
]);
const MAX_DEPTH = 8;

/** syslog priorities by pino level label. */
const SYSLOG_PRIORITY: Record<string, number> = { trace: 7, debug: 7, info: 6, warn: 4, error: 3, fatal: 2 };
/** Fields every record has, shown by the formats themselves. */
const RECORD_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'module']);

export function isSecretFieldName(name: string): boolean {
  // "enc_otc", "ENC-OTC" and "encOtc" are the same name
  const squashed = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (SECRET_WHOLE_NAMES.has(squashed) || SECRET_NAME_PARTS.some((part) => squashed.includes(part))) return true;
  return nameWords(name).some((w) => SECRET_WORDS.has(w));
}

/** "intentId" -> intent, id; "terminal_ref" -> terminal, ref. */
function nameWords(name: string): string[] {
  return name.split(/(?<=[a-z0-9])(?=[A-Z])|[^A-Za-z0-9]+/).filter((w) => w.length > 0).map((w) => w.toLowerCase());
}

/**
 * Words that, as the last word of a field's name, make it an identifier:
 * `id`, `intentId`, `paymentId`, `terminalId`, `authorizationId`, `ref`,
 * `req` (the client's correlation id). Not secret names: those win.
 */
const IDENTIFIER_LAST_WORDS = new Set(['id', 'ref', 'req']);

export function isIdentifierFieldName(name: string): boolean {
  const last = nameWords(name).at(-1);
  return last !== undefined && IDENTIFIER_LAST_WORDS.has(last) && !isSecretFieldName(name);
}

/**
 * What an identifier can be: intent ids are 1..64 of [A-Za-z0-9._:-], a
 * `req` 1..64 printable characters, an authorizationId 1..60 of 0x21..0x7E.
 * Anything longer, or with spaces or control characters, is text.
 */
const IDENTIFIER_VALUE = /^[\x21-\x7e]{1,64}$/;
/**
 * A track 2 in an identifier: a PAN and '=' anywhere ('=' is outside the
 * intent id alphabet), or the whole value with 'D' as the separator.
 */
const TRACK2_IN_ID = /\d{12,19}=|^;?\d{12,19}D[\d=]*\??$/;
/** A card number as the whole value: 13-19 digits, nothing else. */
const WHOLE_DIGITS = /^\d{13,19}$/;

/**
 * Whether an identifier field's value goes to the log unmasked: an id with
 * a card-number-like run of digits inside it is still an id. What stays
 * masked is a value that is nothing but a track 2 or a card number (by the
 * free-text rule: 15-19 digits, or 13-14 passing Luhn): that is what card
 * data put where an id belongs looks like, and no log line can tell the two
 * apart. A kiosk that names its intents with bare numbers that long sees
 * them masked; a prefix such as `order-` keeps them readable.
 */
export function keepsIdentifier(value: string): boolean {
  if (!IDENTIFIER_VALUE.test(value)) return false;
  if (TRACK2_IN_ID.test(value)) return false;
  return !(WHOLE_DIGITS.test(value) && isCardNumber(value));
}

/**
 * A card number as people write it: 13-19 digits in one run, or in the
 * groups cards print (4-4-4-4, 4-4-4-4-3, 4-4-4-1: groups of four; 4-6-5
 * and 4-6-4 for Amex and Diners) with one kind of separator, a space or a
 * dash. Other dashed digit groups are not a card: dates and counters in ids
 * such as `order-20261206-000123` or `otcctl-20261206-101530-3a5ba6`.
 */
const CARD_NUMBER_RUN = /(?<!\d)(?:\d{13,19}|\d{4}([ -])(?:\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?|\d{6}\1\d{4,5}))(?![\d])/g;

/**
 * Masks what looks like card data in free text: track 2 (PAN, separator `=`
 * or `D`, then digits), and card numbers (see CARD_NUMBER_RUN) of 13-19
 * digits that pass the Luhn check, or of 15-19 digits whether or not they
 * do (one-time card numbers need not pass it). Epoch milliseconds (13
 * digits) survive unless they happen to pass Luhn.
 */
export function maskCardNumbers(text: string): string {
  return text
    .replace(/;?(?<!\d)\d{12,19}[=D]\d*\??/g, '[track 2 masked]')
    .replace(CARD_NUMBER_RUN, (run) => {
      const digits = run.replace(/[ -]/g, '');
      return isCardNumber(digits) ? '[card number masked]' : run;
    });
}

/** 13-19 digits that pass the Luhn check, or 15-19 digits whether or not they do. */
function isCardNumber(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  return digits.length >= 15 || luhnValid(digits);
}

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** A copy of `value` safe to log: secret fields, card numbers and buffer contents removed. */
export function scrub(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return maskCardNumbers(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `[${value.length} bytes]`;
  seen.add(value);
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: maskCardNumbers(value.message) };
    for (const [k, v] of Object.entries(value)) out[k] = scrubField(k, v, depth, seen);
    if (value.stack) out.stack = maskCardNumbers(value.stack);
    if (value.cause !== undefined) out.cause = scrub(value.cause, depth + 1, seen);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubField(k, v, depth, seen);
  return out;
}

function scrubField(name: string, value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (isSecretFieldName(name)) return REDACTED;
  if (typeof value === 'string' && isIdentifierFieldName(name) && keepsIdentifier(value)) return value;
  return scrub(value, depth + 1, seen);
}

export function createLogger(opts: CreateLoggerOptions): Logger {
  const env = opts.env ?? process.env;
  const out: NodeJS.WritableStream | DestinationStream = opts.stream ?? pino.destination({ fd: 2, sync: true });
  const format = opts.format ?? detectFormat(env, out);
  const render = format === 'json' ? toJsonLine : format === 'journal' ? toJournalLines : toPrettyLine;
  const destination: DestinationStream = { write: (line: string) => void out.write(render(line)) };
  return pino(
    {
      level: opts.level,
      base: format === 'json' ? { pid: process.pid } : undefined,
      timestamp: format === 'journal' ? false : pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      // scrub() already turned errors into plain, cleaned objects.
      serializers: { err: (err: unknown) => err },
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => scrub(bindings) as Record<string, unknown>,
        log: (record) => scrub(record) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const cleaned = args.map((a) => (typeof a === 'string' ? maskCardNumbers(a) : a)) as Parameters<typeof method>;
          method.apply(this, cleaned);
        },
      },
    },
    destination,
  );
}

/**
 * $OTCD_LOG_FORMAT (journal, pretty or json) when set; else journald if our
 * output is the stream it handed us, a TTY's pretty lines, else JSON.
 */
export function detectFormat(env: NodeJS.ProcessEnv, out: unknown): LogFormat {
  const forced = env.OTCD_LOG_FORMAT;
  if (forced === 'journal' || forced === 'pretty' || forced === 'json') return forced;
  const fd = typeof (out as { fd?: unknown }).fd === 'number' ? (out as { fd: number }).fd : undefined;
  if (fd !== undefined && env.JOURNAL_STREAM) {
    try {
      const st = fstatSync(fd, { bigint: true });
      if (`${st.dev}:${st.ino}` === env.JOURNAL_STREAM) return 'journal';
    } catch {
      // not a file descriptor we can stat: not journald's
    }
  }
  if ((out as { isTTY?: boolean }).isTTY === true || (fd !== undefined && isatty(fd))) return 'pretty';
  return 'json';
}

/** One of pino's JSON log lines, parsed: the fields the journal and pretty formats print. */
interface PinoLine {
  level?: string;
  time?: string;
  msg?: string;
  module?: string;
  /** An Error as scrub() leaves it; a string when a caller logged a reason as `err`. */
  err?: string | { type?: string; message?: string; code?: string; stack?: string };
  [key: string]: unknown;
}

/**
 * The record pino wrote, scrubbed once more as a whole: pino applies the
 * `bindings` formatter to the root logger's bindings only, never to a
 * child's (`logger.child({ intentId })`), so this is where those fields get
 * the same treatment as the rest.
 */
function parse(line: string): PinoLine | undefined {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return undefined;
  }
  return typeof record === 'object' && record !== null && !Array.isArray(record) ? scrub(record) as PinoLine : undefined;
}

function toJsonLine(line: string): string {
  const record = parse(line);
  return record ? `${JSON.stringify(record)}\n` : maskCardNumbers(line);
}

/** `key=value` pairs for the fields beyond message and module. */
function fieldsText(record: PinoLine): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(record)) {
    if (RECORD_FIELDS.has(k) || k === 'err') continue;
    parts.push(`${k}=${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`);
  }
  const e = record.err;
  if (typeof e === 'string') {
    parts.push(`err=${JSON.stringify(e)}`);
  } else if (e) {
    // An error without a message is shown by its type alone, never as "Error: ".
    parts.push(`err=${JSON.stringify(e.message ? `${e.type ?? 'Error'}: ${e.message}` : (e.type ?? 'Error'))}`);
    if (e.code) parts.push(`code=${e.code}`);
  }
  return parts.join(' ');
}

function messageText(record: PinoLine): string {
  const fields = fieldsText(record);
  const head = record.module ? `${record.module}: ${record.msg ?? ''}` : (record.msg ?? '');
  return fields ? `${head} ${fields}` : head;
}

function stackFrames(record: PinoLine): string[] {
  return typeof record.err === 'object' ? (record.err.stack?.split('\n').slice(1) ?? []) : [];
}

function toJournalLines(line: string): string {
  const record = parse(line);
  if (!record) return `<6>${maskCardNumbers(line.trimEnd())}\n`;
  const prefix = `<${SYSLOG_PRIORITY[record.level ?? 'info'] ?? 6}>`;
  let text = `${prefix}${messageText(record)}\n`;
  // Stack frames as continuation lines: each journal line needs its own prefix.
  for (const frame of stackFrames(record)) text += `${prefix}  ${frame.trim()}\n`;
  return text;
}

function toPrettyLine(line: string): string {
  const record = parse(line);
  if (!record) return maskCardNumbers(line);
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const level = (record.level ?? 'info').toUpperCase().padEnd(5);
  let text = `${time} ${level} ${messageText(record)}\n`;
  for (const frame of stackFrames(record)) text += `    ${frame.trim()}\n`;
  return text;
}
