/**
 * The 180-second rule, decided in one place (terminal-protocol.md section 7).
 *
 * The provider declines an approval that reaches it more than `window` after
 * the OTC inquiry was *sent*, so each attempt's window counts from the moment
 * before the request goes out, on the monotonic clock:
 *
 *   inquiry sent          sendBy                cancelAt      deadline
 *   |---------------------|---------------------|-------------|
 *   AUTH may start        no new AUTH           CNCL if not   window over
 *   (window - sendMargin)                       yet SENT
 *
 * A window lost before the card data went upstream (the terminal confirms it
 * with RSLT CN/BY/NF) is followed by a fresh inquiry, up to `maxInquiries`
 * and while a whole window still fits in the payment's overall limit;
 * otherwise the payment ends `expired`.
 *
 * Pure: times and facts in, a decision out. payment-run.ts asks and carries
 * the answers out; test/payments/window-policy.test.ts reads like the timeline.
 */

export interface WindowRules {
  windowMs: number;
  sendMarginMs: number;
  cancelMarginMs: number;
  maxInquiries: number;
  paymentLimitMs: number;
}

/** One attempt's window, in monotonic ms. */
export interface Window {
  /** The moment before the inquiry was sent: the earliest the provider can have started its clock. */
  opensAt: number;
  /** The last moment an AUTH may start. */
  sendBy: number;
  /** From here, an AUTH the terminal has not sent upstream is cancelled. */
  cancelAt: number;
  /** The provider's limit. */
  deadline: number;
}

export function openWindow(rules: WindowRules, inquirySentAt: number): Window {
  const deadline = inquirySentAt + rules.windowMs;
  return { opensAt: inquirySentAt, sendBy: deadline - rules.sendMarginMs, cancelAt: deadline - rules.cancelMarginMs, deadline };
}

/** With the card data in hand: may the AUTH go to the terminal? */
export function mayStartAuth(window: Window, now: number): boolean {
  return now <= window.sendBy;
}

/** What the terminal has told of the AUTH it holds, and what the client asked. */
export interface HeldAuth {
  /** The terminal reported the card data upstream (PROG SENT or a result). */
  sent: boolean;
  cancelSent: boolean;
  clientCancel: boolean;
}

/** While the terminal holds the AUTH: must a CNCL go now? */
export function mustCancel(window: Window, now: number, held: HeldAuth): boolean {
  return !held.sent && !held.cancelSent && (held.clientCancel || now >= window.cancelAt);
}

/**
 * How long a CNCL's answer is waited for: normally within the terminal's
 * answer time, and past the window's end nothing the terminal does can still
 * be in time.
 */
export function cancelAnswerBy(window: Window, now: number, answerTimeoutMs: number): number {
  return Math.max(window.deadline, now + answerTimeoutMs);
}

/** A window was lost with the card data confirmed not upstream: a fresh inquiry, or the end. */
export function afterLostWindow(rules: WindowRules, facts: { attempt: number; now: number; limitAt: number }): 'reinquire' | 'expire' {
  if (facts.attempt >= rules.maxInquiries) return 'expire';
  return facts.limitAt - facts.now < rules.windowMs ? 'expire' : 'reinquire';
}
