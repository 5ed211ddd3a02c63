/**
 * The payment as the kiosk application sees it: states, views and events of
 * the intent protocol (shared/spec/intent-protocol.md), and the service the
 * socket layer talks to. No card data ever appears in these types.
 */
import { OtcdError } from '../../drivers/errors.js';

export const PAYMENT_STATES = [
  'accepted', 'inquiring', 'delivering', 'processing',
  'approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown',
] as const;
export type PaymentState = (typeof PAYMENT_STATES)[number];

const FINAL: ReadonlySet<PaymentState> = new Set(['approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown']);
export function isFinalState(state: PaymentState): boolean {
  return FINAL.has(state);
}

/**
 * Whether a view or event ends a client's follow of the payment: a final
 * state, unless it is an `unknown` one the daemon is still resolving (then
 * its resolution follows as one more event).
 */
export function followEnds(message: { state: PaymentState; resolving?: boolean }): boolean {
  return isFinalState(message.state) && message.resolving !== true;
}

/** What a `pay` asks for; its fields are the payment's identity for idempotency. */
export interface PayParams {
  intentId: string;
  authorizationId: string;
  amount: number;
  installment: number;
}

/** Detail fields a state may carry (final states mostly). */
export interface OutcomeDetails {
  approvalNo?: string;
  maskedPan?: string;
  code?: string;
  message?: string;
  resCd?: string;
  resMsg?: string;
  /** An `unknown` payment the daemon still asks the terminal about (LAST): its resolution may follow. */
  resolving?: boolean;
  /** The outcome of an `unknown` payment, learned later from the terminal; when (ISO). */
  resolved?: boolean;
  resolvedAt?: string;
}

/** The `intent` object of a reply. */
export interface IntentView extends OutcomeDetails {
  intentId: string;
  state: PaymentState;
  attempt: number;
  /** ISO time by which the card data must go upstream in this attempt. */
  deadline?: string;
  amount: number;
  installment: number;
  createdAt: string;
  updatedAt: string;
}

/** An `event` message, as sent on the socket. */
export interface IntentEvent extends OutcomeDetails {
  type: 'event';
  intentId: string;
  state: PaymentState;
  at: string;
  attempt: number;
  deadline?: string;
}

export type IntentListener = (event: IntentEvent) => void;

export interface Subscription {
  /** The state at the moment the call was taken. */
  view: IntentView;
  /** Stops events; harmless after the final event (which ends it anyway). */
  unsubscribe(): void;
}

/** Codes of the intent protocol's `error` message. */
export type IntentErrorCode =
  | 'BAD_REQUEST' | 'LINE_TOO_LONG' | 'UNKNOWN_OP' | 'BUSY' | 'CONFLICT'
  | 'NOT_FOUND' | 'SHUTTING_DOWN' | 'INTERNAL'
  // terminal.ping (daemon/intents/terminal-ping.ts)
  | 'TERMINAL_UNAVAILABLE' | 'TERMINAL_NOT_ANSWERING' | 'TERMINAL_REJECTED';

export class IntentError extends OtcdError {
  declare readonly code: IntentErrorCode;
  constructor(code: IntentErrorCode, message: string) {
    super(code, message);
  }
}

export interface HealthView {
  version: string;
  uptimeS: number;
  terminal: {
    /** `not_answering`: the port is open but the terminal answers nothing. */
    link: 'up' | 'down' | 'not_answering';
    /** What to check, for a link that is not up. */
    hint?: string;
    address: string;
    terminalId?: string;
    lastPong?: string;
    counters: Record<string, number>;
  };
  provider: {
    baseUrl: string;
    lastSuccess?: string;
    lastError?: { code: string; message: string; at: string };
  };
  keys: { ready: number };
  /** Payments whose outcome is `unknown`: reconcile them before charging their customers again. */
  unresolved: { count: number; oldest?: { intentId: string; at: string } };
  payment?: { intentId: string; state: PaymentState; attempt: number; deadline?: string };
}

/**
 * What the socket layer needs from the payment engine. Listeners receive
 * events that happen after `view` was taken, never before it; the final event
 * ends the subscription. Calls throw `IntentError`.
 */
export interface PaymentService {
  pay(params: PayParams, listener?: IntentListener): Promise<Subscription>;
  cancel(intentId: string): Promise<IntentView>;
  get(intentId: string, listener?: IntentListener): Promise<Subscription>;
  health(): HealthView;
}
