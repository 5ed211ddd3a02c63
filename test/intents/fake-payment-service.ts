/**
 * An in-memory PaymentService for the socket layer's tests (the real engine
 * lives in daemon/payments/ and is exercised by the end-to-end suite). It
 * keeps the engine's contract: listeners get only events after the view they
 * were given, the final event ends a subscription, errors are IntentErrors.
 * The test moves payments with `emit()`.
 */
import type {
  HealthView, IntentEvent, IntentListener, IntentView, OutcomeDetails, PayParams, PaymentService, PaymentState, Subscription,
} from '../../daemon/payments/model.js';
import { IntentError, isFinalState, isVoidPending } from '../../daemon/payments/model.js';

interface Entry {
  params: PayParams;
  view: IntentView;
  listeners: Set<IntentListener>;
}

const AT = '2026-11-27T10:00:00.000Z';

export class FakePaymentService implements PaymentService {
  readonly intents = new Map<string, Entry>();
  /** When set, `pay` waits for it after subscribing and before answering. */
  payGate: Promise<void> | undefined;
  /** Called inside `pay` after subscribing (events emitted here precede the reply). */
  onPaySubscribed: ((intentId: string) => void) | undefined;
  /** The next call throws this. */
  failNext: Error | undefined;
  calls: string[] = [];

  async pay(params: PayParams, listener?: IntentListener): Promise<Subscription> {
    this.calls.push(`pay ${params.intentId}`);
    this.maybeFail();
    const known = this.intents.get(params.intentId);
    if (known !== undefined) {
      const p = known.params;
      if (p.authorizationId !== params.authorizationId || p.amount !== params.amount || p.installment !== params.installment) {
        throw new IntentError('CONFLICT', `intent ${params.intentId} exists with other fields`);
      }
      return this.subscribe(known, listener);
    }
    for (const e of this.intents.values()) {
      if (!isFinalState(e.view.state)) throw new IntentError('BUSY', `payment ${e.view.intentId} is running`);
    }
    const entry: Entry = {
      params,
      view: {
        intentId: params.intentId, state: 'accepted', attempt: 1, amount: params.amount, installment: params.installment,
        createdAt: AT, updatedAt: AT,
      },
      listeners: new Set(),
    };
    this.intents.set(params.intentId, entry);
    const sub = this.subscribe(entry, listener);
    this.onPaySubscribed?.(params.intentId);
    if (this.payGate !== undefined) await this.payGate;
    return sub;
  }

  async cancel(intentId: string): Promise<IntentView> {
    this.calls.push(`cancel ${intentId}`);
    this.maybeFail();
    const entry = this.find(intentId);
    if (entry.view.state === 'accepted' || entry.view.state === 'inquiring') this.emit(intentId, 'cancelled');
    return { ...entry.view };
  }

  /** Starts a void of an approved payment (the test ends it with `emit`); a voided one answers as it is. */
  async void(intentId: string, reason: string | undefined, listener?: IntentListener): Promise<Subscription> {
    this.calls.push(`void ${intentId}`);
    this.maybeFail();
    const entry = this.find(intentId);
    if (entry.view.state !== 'approved' && entry.view.state !== 'voided') {
      throw new IntentError('NOT_VOIDABLE', `payment ${intentId} is ${entry.view.state}; only an approved payment can be voided`);
    }
    if (entry.view.state === 'approved' && !isVoidPending(entry.view.void)) {
      entry.view = { ...entry.view, void: { state: 'voiding' }, ...(reason === undefined ? {} : { voidReason: reason }) };
    }
    return this.subscribe(entry, listener);
  }

  async get(intentId: string, listener?: IntentListener): Promise<Subscription> {
    this.calls.push(`get ${intentId}`);
    this.maybeFail();
    return this.subscribe(this.find(intentId), listener);
  }

  health(): HealthView {
    this.calls.push('health');
    this.maybeFail();
    return {
      version: '0.1.0-test', uptimeS: 1,
      terminal: { link: 'up', address: '/dev/ttyFAKE', counters: {} },
      provider: { baseUrl: 'https://127.0.0.1:1' },
      keys: { ready: 2 },
      unresolved: { count: 0 },
      unresolvedVoids: { count: 0 },
    };
  }

  /** Moves a payment to `state` and tells its listeners. */
  emit(intentId: string, state: PaymentState, details: OutcomeDetails = {}, attempt?: number): IntentEvent {
    const entry = this.find(intentId);
    const at = new Date(Date.parse(AT) + entry.listeners.size + this.seq++).toISOString();
    entry.view = { ...entry.view, ...details, state, updatedAt: at, attempt: attempt ?? entry.view.attempt };
    const event: IntentEvent = { type: 'event', intentId, state, at, attempt: entry.view.attempt, ...details };
    for (const listener of [...entry.listeners]) listener(event);
    if (isFinalState(state) && !isVoidPending(entry.view.void)) entry.listeners.clear();
    return event;
  }

  listenerCount(intentId: string): number {
    return this.intents.get(intentId)?.listeners.size ?? 0;
  }

  private seq = 0;

  private subscribe(entry: Entry, listener?: IntentListener): Subscription {
    const view = { ...entry.view };
    if (listener !== undefined && (!isFinalState(view.state) || isVoidPending(view.void))) entry.listeners.add(listener);
    return { view, unsubscribe: () => { if (listener !== undefined) entry.listeners.delete(listener); } };
  }

  private find(intentId: string): Entry {
    const entry = this.intents.get(intentId);
    if (entry === undefined) throw new IntentError('NOT_FOUND', `no intent ${intentId}`);
    return entry;
  }

  private maybeFail(): void {
    const err = this.failNext;
    this.failNext = undefined;
    if (err !== undefined) throw err;
  }
}
