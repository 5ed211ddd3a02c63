/**
 * What otcctl shows of the daemon's messages: only the fields it knows, each
 * checked for its type. otcd never sends card data; printing a whitelist
 * keeps it that way if a future daemon added a field this tool has not
 * reviewed, and keeps `--json` stable for scripts.
 */
import type { DaemonMessage } from '../client/intent-client.js';
import type { HealthView, IntentView, OutcomeDetails, PaymentState, VoidView } from '../payments/model.js';
import { PAYMENT_STATES, VOID_STATES } from '../payments/model.js';
import type { PingResult } from '../intents/protocol.js';
import { safeMaskedPan } from './format.js';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Copies `keys` of `from` whose value has the `type` given. */
function pick(from: Json, keys: readonly string[], type: 'string' | 'number' | 'boolean'): Json {
  const out: Json = {};
  for (const key of keys) {
    if (typeof from[key] === type) out[key] = from[key];
  }
  return out;
}

function state(value: unknown): PaymentState | undefined {
  return typeof value === 'string' && (PAYMENT_STATES as readonly string[]).includes(value) ? value as PaymentState : undefined;
}

const DETAIL_KEYS = ['approvalNo', 'code', 'message', 'resCd', 'resMsg', 'voidApprovalNo', 'voidedAt', 'voidReason'] as const;

function voidView(value: unknown): VoidView | undefined {
  if (!isObject(value) || typeof value.state !== 'string' || !(VOID_STATES as readonly string[]).includes(value.state)) return undefined;
  return { state: value.state as VoidView['state'], ...pick(value, ['code', 'message'], 'string') };
}

function details(from: Json): OutcomeDetails {
  const out: OutcomeDetails = pick(from, DETAIL_KEYS, 'string');
  const pan = safeMaskedPan(from.maskedPan);
  if (pan !== undefined) out.maskedPan = pan;
  const v = voidView(from.void);
  if (v !== undefined) out.void = v;
  if (from.resolved === true) (out as Json).resolved = true;
  if (typeof from.resolvedAt === 'string') (out as Json).resolvedAt = from.resolvedAt;
  return out;
}

export type IntentSummary = Partial<IntentView> & { intentId: string; state: PaymentState };

export function intentView(value: unknown): IntentSummary | undefined {
  if (!isObject(value) || typeof value.intentId !== 'string') return undefined;
  const st = state(value.state);
  if (st === undefined) return undefined;
  return {
    intentId: value.intentId,
    state: st,
    ...pick(value, ['attempt', 'amount', 'installment'], 'number'),
    ...pick(value, ['deadline', 'createdAt', 'updatedAt'], 'string'),
    ...details(value),
  };
}

export interface EventSummary extends OutcomeDetails {
  type: 'event';
  intentId: string;
  state: PaymentState;
  at?: string;
  attempt?: number;
  deadline?: string;
}

export function eventView(m: DaemonMessage): EventSummary | undefined {
  const st = state(m.state);
  if (m.type !== 'event' || typeof m.intentId !== 'string' || st === undefined) return undefined;
  return {
    type: 'event', intentId: m.intentId, state: st,
    ...pick(m, ['at', 'deadline'], 'string'),
    ...pick(m, ['attempt'], 'number'),
    ...details(m),
  };
}

export interface ErrorSummary { type: 'error'; req?: string; code: string; message: string }

export function errorView(m: DaemonMessage): ErrorSummary | undefined {
  if (m.type !== 'error') return undefined;
  return {
    type: 'error',
    ...(typeof m.req === 'string' ? { req: m.req } : {}),
    code: typeof m.code === 'string' ? m.code : 'UNKNOWN',
    message: typeof m.message === 'string' ? m.message : '(no message)',
  };
}

/** One daemon message as `pay --json` prints it; undefined for messages it does not know. */
export function messageView(m: DaemonMessage): Json | undefined {
  if (m.type === 'event') return eventView(m) as Json | undefined;
  if (m.type === 'error') return errorView(m) as Json | undefined;
  if (m.type === 'reply' && isObject(m.intent)) {
    const intent = intentView(m.intent);
    return intent && { type: 'reply', ...(typeof m.req === 'string' ? { req: m.req } : {}), intent };
  }
  return undefined;
}

/**
 * `health` as otcctl reads it: HealthView, and the fields a newer daemon adds
 * (the terminal's `not_answering` state and its hint, `unresolved`,
 * `unresolvedVoids`), each optional so that a daemon without them still reads
 * as fine.
 */
export type StatusHealth = Omit<HealthView, 'terminal' | 'unresolved' | 'unresolvedVoids'> & {
  terminal: Omit<HealthView['terminal'], 'link'> & { link: 'up' | 'down' | 'not_answering'; hint?: string };
  unresolved?: { count: number; oldest?: { intentId: string; at: string } };
  unresolvedVoids?: { count: number; oldest?: { intentId: string; at: string } };
};

const LINK_STATES = ['up', 'down', 'not_answering'] as const;

function unresolvedView(value: unknown): StatusHealth['unresolved'] {
  if (!isObject(value) || typeof value.count !== 'number' || !Number.isInteger(value.count) || value.count < 0) return undefined;
  const oldest = isObject(value.oldest) && typeof value.oldest.intentId === 'string' && typeof value.oldest.at === 'string'
    ? { intentId: value.oldest.intentId, at: value.oldest.at }
    : undefined;
  return { count: value.count, ...(oldest ? { oldest } : {}) };
}

export function healthView(value: unknown): StatusHealth | undefined {
  if (!isObject(value) || typeof value.version !== 'string' || !isObject(value.terminal) || !isObject(value.provider)) return undefined;
  const t = value.terminal;
  const p = value.provider;
  const counters: Record<string, number> = {};
  if (isObject(t.counters)) {
    for (const [k, v] of Object.entries(t.counters)) if (typeof v === 'number') counters[k] = v;
  }
  const lastError = isObject(p.lastError) ? pick(p.lastError, ['code', 'message', 'at'], 'string') : undefined;
  const payment = isObject(value.payment) ? intentView({ ...value.payment }) : undefined;
  return {
    version: value.version,
    uptimeS: typeof value.uptimeS === 'number' ? value.uptimeS : 0,
    terminal: {
      // a state this otcctl does not know is not "up"
      link: LINK_STATES.find((l) => l === t.link) ?? 'down',
      address: typeof t.address === 'string' ? t.address : '',
      ...pick(t, ['terminalId', 'lastPong', 'hint'], 'string'),
      counters,
    },
    provider: {
      baseUrl: typeof p.baseUrl === 'string' ? p.baseUrl : '',
      ...pick(p, ['lastSuccess'], 'string'),
      ...(lastError && typeof lastError.code === 'string' ? { lastError: lastError as { code: string; message: string; at: string } } : {}),
    },
    keys: { ready: isObject(value.keys) && typeof value.keys.ready === 'number' ? value.keys.ready : 0 },
    ...(unresolvedView(value.unresolved) ? { unresolved: unresolvedView(value.unresolved) } : {}),
    ...(unresolvedView(value.unresolvedVoids) ? { unresolvedVoids: unresolvedView(value.unresolvedVoids) } : {}),
    ...(payment ? {
      payment: {
        intentId: payment.intentId, state: payment.state, attempt: payment.attempt ?? 0,
        ...(payment.deadline !== undefined ? { deadline: payment.deadline } : {}),
      },
    } : {}),
  };
}

export function pingView(value: unknown): PingResult | undefined {
  if (!isObject(value) || typeof value.rttMs !== 'number') return undefined;
  return {
    terminalId: typeof value.terminalId === 'string' ? value.terminalId : '',
    state: typeof value.state === 'string' ? value.state : '',
    rttMs: value.rttMs,
  };
}
