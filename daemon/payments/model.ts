/**
 * The payment as the kiosk application sees it: states, views and events of
 * the intent protocol (shared/spec/intent-protocol.md), and the service the
 * socket layer talks to. No card data ever appears in these types.
 */
import { OtcdError } from '../../drivers/errors.js';

export const PAYMENT_STATES = [
  'accepted', 'inquiring', 'delivering', 'processing',
  'approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown', 'voided',
] as const;
export type PaymentState = (typeof PAYMENT_STATES)[number];

const FINAL: ReadonlySet<PaymentState> = new Set(['approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown', 'voided']);
export function isFinalState(state: PaymentState): boolean {
  return FINAL.has(state);
}

/** The `void` sub-object of an approved payment (intent-protocol.md `void`). */
export const VOID_STATES = ['voiding', 'refused', 'unknown'] as const;
export type VoidState = (typeof VOID_STATES)[number];

export interface VoidView {
  state: VoidState;
  code?: string;
  message?: string;
}

/**
 * Codes of an unknown void whose outcome otcd is still asking the terminal
 * (LAST) about: no answer came (NO_ANSWER), or otcd stopped after recording
 * the VOID (INTERRUPTED). Any other code of an unknown void (TO, FORGOTTEN)
 * lets the client void again: the terminal answers AV if the first went through.
 */
export const VOID_ASKING_CODES: readonly string[] = ['NO_ANSWER', 'INTERRUPTED'];

/** True while a void's events still come: it runs, or otcd asks LAST for its outcome. */
export function isVoidPending(v: VoidView | undefined): boolean {
  return v !== undefined && (v.state === 'voiding' || (v.state === 'unknown' && VOID_ASKING_CODES.includes(v.code ?? '')));
}

/**
 * Whether a view or event ends a client's follow of the payment: a final
 * state, unless it is an `unknown` one the daemon is still resolving (then
 * its resolution follows as one more event), or a void of it still runs or
 * waits for LAST (then the void's end follows).
 */
export function followEnds(message: { state: PaymentState; resolving?: boolean; void?: VoidView }): boolean {
  return isFinalState(message.state) && message.resolving !== true && !isVoidPending(message.void);
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
  /** An approved payment's void, while it is not `voided`. */
  void?: VoidView;
  /** A voided payment: the reversal's number and when otcd learned of it (ISO). */
  voidApprovalNo?: string;
  voidedAt?: string;
  /** The client's reason for the void, as given. */
  voidReason?: string;
  /** An `unknown` payment the daemon still asks the terminal about (LAST): its resolution may follow. */
  resolving?: boolean;
  /**
   * The outcome of an `unknown` payment, or of a void whose outcome was
   * unknown, learned later from the terminal; when (ISO).
   */
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
  | 'NOT_FOUND' | 'NOT_VOIDABLE' | 'SHUTTING_DOWN' | 'INTERNAL'
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
  /**
   * Approved payments whose void's outcome is unknown (an addition to the
   * spec's health): the money may or may not have gone back. otcd asks LAST
   * about those without any answer (void code NO_ANSWER, INTERRUPTED); for
   * the others (TO, FORGOTTEN) a new void settles it. `at`: when the void's
   * outcome became unknown.
   */
  unresolvedVoids: { count: number; oldest?: { intentId: string; at: string } };
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
  /** Reverses an approved payment at the terminal; events follow until the void ends. */
  void(intentId: string, reason: string | undefined, listener?: IntentListener): Promise<Subscription>;
  get(intentId: string, listener?: IntentListener): Promise<Subscription>;
  health(): HealthView;
}
