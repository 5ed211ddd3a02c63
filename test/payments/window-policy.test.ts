/**
 * The 180-second rule as the timeline of terminal-protocol.md section 7, with
 * the shipped margins (send_margin_s 30, cancel_margin_s 10, max_inquiries 3,
 * payment_limit_s 600). Times are seconds after the inquiry was sent.
 */
import { describe, expect, test } from '@jest/globals';
import { afterLostWindow, cancelAnswerBy, mayStartAuth, mustCancel, openWindow, type HeldAuth } from '../../daemon/payments/window-policy.js';

const RULES = { windowMs: 180_000, sendMarginMs: 30_000, cancelMarginMs: 10_000, maxInquiries: 3, paymentLimitMs: 600_000 };
const SENT_AT = 1_000_000; // monotonic ms of the inquiry
const at = (s: number): number => SENT_AT + s * 1000;
const window = openWindow(RULES, SENT_AT);

describe('one window', () => {
  test('its marks: AUTH until 150 s, CNCL from 170 s, over at 180 s', () => {
    expect(window).toEqual({ opensAt: at(0), sendBy: at(150), cancelAt: at(170), deadline: at(180) });
  });

  const startAuth: Array<[number, boolean]> = [
    // seconds after the inquiry, may the AUTH start?
    [0.4, true], // the usual: the provider answered within a second
    [149.999, true],
    [150, true], // the last moment
    [150.001, false], // too late: the window is lost before anything went to the terminal
    [181, false],
  ];
  test.each(startAuth)('card data in hand at %p s: AUTH may start = %p', (s, expected) => {
    expect(mayStartAuth(window, at(s))).toBe(expected);
  });

  const held: Array<[number, HeldAuth, boolean, string]> = [
    [10, { sent: false, cancelSent: false, clientCancel: false }, false, 'terminal working, window young: wait'],
    [169.999, { sent: false, cancelSent: false, clientCancel: false }, false, 'just before the cancel mark: wait'],
    [170, { sent: false, cancelSent: false, clientCancel: false }, true, 'cancel mark reached, not SENT: CNCL'],
    [175, { sent: true, cancelSent: false, clientCancel: false }, false, 'SENT: in time, wait for RSLT'],
    [175, { sent: false, cancelSent: true, clientCancel: false }, false, 'CNCL already sent: never a second'],
    [20, { sent: false, cancelSent: false, clientCancel: true }, true, 'the client cancels: CNCL at once'],
    [20, { sent: true, cancelSent: false, clientCancel: true }, false, 'the client cancels too late: SENT wins'],
  ];
  test.each(held)('terminal holds the AUTH at %p s (%j): CNCL now = %p (%s)', (s, facts, expected) => {
    expect(mustCancel(window, at(s), facts)).toBe(expected);
  });

  test('a CNCL is answered by the window\'s end, or within the answer time when later', () => {
    expect(cancelAnswerBy(window, at(170), 3_000)).toBe(at(180));
    expect(cancelAnswerBy(window, at(179), 3_000)).toBe(at(182));
  });
});

describe('after a window is lost with the card data not upstream', () => {
  const limitAt = at(600);
  const cases: Array<[number, number, 'reinquire' | 'expire', string]> = [
    [1, 180, 'reinquire', 'first window lost: a fresh inquiry, a new window'],
    [2, 360, 'reinquire', 'second lost: the third and last inquiry'],
    [3, 540, 'expire', 'max_inquiries used up'],
    [1, 420, 'reinquire', 'exactly a window left in the payment limit: it fits'],
    [1, 420.001, 'expire', 'less than a window left in the payment limit'],
  ];
  test.each(cases)('attempt %p lost at %p s: %p (%s)', (attempt, s, expected) => {
    expect(afterLostWindow(RULES, { attempt, now: at(s), limitAt })).toBe(expected);
  });
});
