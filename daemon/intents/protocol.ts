/**
 * Intent protocol v1 messages (shared/spec/intent-protocol.md): one line in,
 * a typed request out; replies, events and errors back to lines.
 *
 * Validation is strict on the fields a request uses and lenient on the rest:
 * - Unknown extra fields are ignored, so a v1 daemon still serves a newer
 *   client that sends optional fields it does not know (forward compatibility).
 * - An absent optional field takes its default; `null` is not "absent" and is
 *   refused as a wrong type (a client sending null has a bug worth seeing).
 * - Integers are JSON numbers with an integral value: `12000`, `12000.0` and
 *   `1.2e4` are the same number once parsed and are all accepted; strings,
 *   fractions, negatives and values over the maximum are refused.
 * - If `req` itself is invalid the error carries no `req` (echoing a value we
 *   just refused would put unchecked bytes on the wire).
 * - `op: "terminal.ping"` is an additive op for the technicians' tool.
 * - `op: "void"` reverses an approved payment (intent-protocol.md `void`).
 */
import type { IntentErrorCode, IntentEvent, IntentView, HealthView, PayParams } from '../payments/model.js';
import { IntentError } from '../payments/model.js';

export const MAX_REQ_LENGTH = 64;
export const MAX_INTENT_ID_LENGTH = 64;
export const MAX_AUTHORIZATION_ID_LENGTH = 60;
export const MAX_AMOUNT = 999_999_999_999;
export const MAX_INSTALLMENT = 36;

export const OPS = ['pay', 'cancel', 'void', 'get', 'health', 'terminal.ping'] as const;
/** A void's reason: kept with the payment, never sent to the terminal. */
export const MAX_VOID_REASON_LENGTH = 80;
export type Op = (typeof OPS)[number];

/** A request's own correlation id: printable ASCII, space included. */
const REQ_PATTERN = /^[\x20-\x7E]{1,64}$/;
const INTENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const VOID_REASON_PATTERN = /^[\x20-\x7E]{0,80}$/;
/** Printable ASCII without space. */
const AUTHORIZATION_ID_PATTERN = /^[\x21-\x7E]{1,60}$/;
/** An unknown op is echoed in the error only when it is short and plain. */
const ECHOABLE_OP = /^[\x20-\x7E]{1,32}$/;

/** A request line that cannot be served as sent. `req` is set when it was valid. */
export class ProtocolError extends IntentError {
  readonly req?: string;
  constructor(code: IntentErrorCode, message: string, req?: string) {
    super(code, message);
    if (req !== undefined) this.req = req;
  }
}

export interface PayRequest { op: 'pay'; req?: string; params: PayParams }
export interface CancelRequest { op: 'cancel'; req?: string; intentId: string }
export interface VoidRequest { op: 'void'; req?: string; intentId: string; reason?: string }
export interface GetRequest { op: 'get'; req?: string; intentId: string; follow: boolean }
export interface HealthRequest { op: 'health'; req?: string }
export interface PingRequest { op: 'terminal.ping'; req?: string }
export type IntentRequest = PayRequest | CancelRequest | VoidRequest | GetRequest | HealthRequest | PingRequest;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses one line (without its newline). Throws `ProtocolError`. */
export function parseRequest(line: Buffer | string): IntentRequest {
  const text = typeof line === 'string' ? line : decodeUtf8(line);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('BAD_REQUEST', 'line is not valid JSON: send one JSON object per line');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('BAD_REQUEST', 'line must be a JSON object with an "op" field');
  }
  const obj = value as Record<string, unknown>;
  const req = readReq(obj);
  const fields = new Fields(obj, req);

  const op = obj.op;
  if (op === undefined) throw fields.bad(`op is required: one of ${OPS.join(', ')}`);
  if (typeof op !== 'string') throw fields.bad(`op must be a string: one of ${OPS.join(', ')}`);
  const base = req === undefined ? {} : { req };
  switch (op) {
    case 'pay':
      return {
        op, ...base,
        params: {
          intentId: fields.intentId(),
          authorizationId: fields.authorizationId(),
          amount: fields.integer('amount', 1, MAX_AMOUNT),
          installment: fields.integer('installment', 0, MAX_INSTALLMENT, 0),
        },
      };
    case 'cancel':
      return { op, ...base, intentId: fields.intentId() };
    case 'void': {
      const intentId = fields.intentId();
      const reason = fields.voidReason();
      return { op, ...base, intentId, ...(reason === undefined ? {} : { reason }) };
    }
    case 'get':
      return { op, ...base, intentId: fields.intentId(), follow: fields.boolean('follow', false) };
    case 'health':
    case 'terminal.ping':
      return { op, ...base };
    default: {
      const shown = ECHOABLE_OP.test(op) ? ` "${op}"` : '';
      throw new ProtocolError('UNKNOWN_OP', `unknown op${shown}: expected one of ${OPS.join(', ')}`, req);
    }
  }
}

function decodeUtf8(line: Buffer): string {
  try {
    return utf8.decode(line);
  } catch {
    throw new ProtocolError('BAD_REQUEST', 'line is not valid UTF-8: send UTF-8 JSON');
  }
}

function readReq(obj: Record<string, unknown>): string | undefined {
  const req = obj.req;
  if (req === undefined) return undefined;
  if (typeof req !== 'string' || !REQ_PATTERN.test(req)) {
    throw new ProtocolError('BAD_REQUEST', `req must be a string of 1 to ${MAX_REQ_LENGTH} printable ASCII characters (0x20 to 0x7E)`);
  }
  return req;
}

/** Field readers that throw BAD_REQUEST naming the field and what it allows. */
class Fields {
  constructor(private readonly obj: Record<string, unknown>, private readonly req: string | undefined) {}

  bad(message: string): ProtocolError {
    return new ProtocolError('BAD_REQUEST', message, this.req);
  }

  intentId(): string {
    const v = this.obj.intentId;
    if (typeof v !== 'string' || !INTENT_ID_PATTERN.test(v)) {
      throw this.bad(`intentId must be 1 to ${MAX_INTENT_ID_LENGTH} characters of A-Z a-z 0-9 . _ : -`);
    }
    return v;
  }

  authorizationId(): string {
    const v = this.obj.authorizationId;
    if (typeof v !== 'string' || !AUTHORIZATION_ID_PATTERN.test(v)) {
      throw this.bad(`authorizationId must be 1 to ${MAX_AUTHORIZATION_ID_LENGTH} printable ASCII characters without spaces (0x21 to 0x7E)`);
    }
    return v;
  }

  voidReason(): string | undefined {
    const v = this.obj.reason;
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !VOID_REASON_PATTERN.test(v)) {
      throw this.bad(`reason must be 0 to ${MAX_VOID_REASON_LENGTH} printable ASCII characters (0x20 to 0x7E)`);
    }
    return v;
  }

  integer(name: string, min: number, max: number, fallback?: number): number {
    const v = this.obj[name];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw this.bad(`${name} must be an integer from ${min} to ${max}`);
    }
    return v + 0; // -0 becomes 0
  }

  boolean(name: string, fallback: boolean): boolean {
    const v = this.obj[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw this.bad(`${name} must be true or false`);
    return v;
  }
}

/** Result of `terminal.ping` (additive to v1). */
export interface PingResult {
  terminalId: string;
  state: string;
  rttMs: number;
}

/** The body of a `reply`: exactly one of these keys. */
export type ReplyBody = { intent: IntentView } | { health: HealthView } | { ping: PingResult };

export function encodeReply(req: string | undefined, body: ReplyBody): string {
  return JSON.stringify({ type: 'reply', ...(req === undefined ? {} : { req }), ...body }) + '\n';
}

export function encodeEvent(event: IntentEvent): string {
  // `type` first, as in the spec's examples, whatever order the engine built.
  const { type: _type, ...rest } = event;
  return JSON.stringify({ type: 'event', ...rest }) + '\n';
}

export function encodeError(code: IntentErrorCode, message: string, req?: string): string {
  return JSON.stringify({ type: 'error', ...(req === undefined ? {} : { req }), code, message }) + '\n';
}
