/**
 * The 180-second policy, story by story: the real engine and a real ledger,
 * scripted ports, and a ManualClock. Times are monotonic ms since the pay.
 * Policy: window 180 s, send margin 30 s (no AUTH after 150 s), cancel margin
 * 10 s (CNCL at 170 s), 3 inquiries, 600 s overall, 60 s for a RSLT after
 * SENT, 3 s for a CNCL/LAST answer.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { allZero, makeHarness, MASKED_PAN, PAY, states, TRACK2, type Harness } from './harness.js';

let h: Harness;
afterEach(async () => {
  await h.close();
});

/** Pays, answers the inquiry at `answerAt`, and returns the ref of the AUTH. */
async function payAndDeliver(answerAt = 1_000, opts: Parameters<typeof makeHarness>[0] = {}): Promise<string> {
  h = await makeHarness(opts);
  await h.engine.pay(PAY, h.listen());
  await h.at(answerAt);
  h.provider.last.answer();
  await h.drain();
  const auth = h.terminal.sent.find((c) => c.cmd === 'AUTH');
  if (!auth) throw new Error('no AUTH was sent');
  return auth.ref;
}

describe('approval', () => {
  test('inquiring -> delivering -> processing -> approved; AUTH carries the card data; track 2 zeroed after the ACK', async () => {
    h = await makeHarness();
    h.terminal.authMode = 'hold';
    const sub = await h.engine.pay(PAY, h.listen());
    expect(sub.view).toMatchObject({ intentId: PAY.intentId, state: 'accepted', attempt: 0, amount: 12000, installment: 0 });
    await h.drain();
    expect(h.provider.calls).toHaveLength(1);
    expect(h.provider.last).toMatchObject({ authorizationId: PAY.authorizationId, publicKeyBase64: 'pk-1', at: 0, deadline: 150_000 });

    await h.at(2_000);
    h.provider.last.answer();
    await h.drain();
    expect(h.terminal.log).toEqual([expect.stringMatching(/^AUTH [A-Za-z0-9_-]{1,20}$/)]);
    const ref = h.terminal.sent[0].ref;
    expect(h.terminal.authRequests[0]).toEqual({ ref, amount: 12000, installment: 0 });
    expect(h.terminal.track2Seen[0]).toBe(TRACK2);
    const track2 = h.terminal.track2Given[0];
    expect(track2).toBe(h.keys.handedOut[0].decrypted); // the same Buffer: no copy left behind
    expect(h.record()).toMatchObject({ st: 'delivering', ref, refs: [ref] });

    h.terminal.ackAuth();
    await h.drain();
    expect(allZero(track2)).toBe(true);
    expect(h.keys.handedOut[0].destroyed).toBeGreaterThan(0);
    expect(h.record()).toMatchObject({ st: 'processing', acked: true });

    h.terminal.progress(ref, 'RCVD');
    h.terminal.progress(ref, 'SENT');
    await h.drain();
    expect(h.record().sent).toBe(true);
    h.terminal.result(ref, '00', { approvalNo: '30012345', maskedPan: MASKED_PAN, message: 'OK' });
    await h.drain();

    expect(states(h.events)).toEqual(['inquiring', 'delivering', 'processing', 'approved']);
    expect(h.events[0]).toMatchObject({ attempt: 1, deadline: new Date(h.clock.wallNow() - 2_000 + 180_000).toISOString() });
    const final = h.events[3];
    expect(final).toEqual({
      type: 'event', intentId: PAY.intentId, state: 'approved', at: expect.any(String), attempt: 1,
      approvalNo: '30012345', maskedPan: MASKED_PAN,
    });
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
    expect(allZero(track2)).toBe(true);
    expect(h.engine.idle).toBe(true);
    expect((await h.engine.get(PAY.intentId)).view).toMatchObject({ state: 'approved', approvalNo: '30012345', maskedPan: MASKED_PAN });
  });
});

describe('the window counts from the moment the inquiry was sent', () => {
  test.each([149_000, 150_000])('an OTC that arrives %i ms after the inquiry still gets an AUTH', async (answerAt) => {
    const ref = await payAndDeliver(answerAt);
    expect(h.terminal.sent).toEqual([{ cmd: 'AUTH', ref, at: answerAt }]);
    expect(h.provider.calls).toHaveLength(1);
  });

  test('an OTC that arrives after 151 s gets no AUTH: track 2 is zeroed and a fresh inquiry (new key pair) starts', async () => {
    h = await makeHarness();
    await h.engine.pay(PAY, h.listen());
    await h.at(151_000);
    h.provider.last.answer();
    await h.drain();
    expect(h.terminal.sent).toEqual([]);
    expect(allZero(h.keys.handedOut[0].decrypted as Buffer)).toBe(true);
    expect(h.keys.handedOut[0].destroyed).toBeGreaterThan(0);
    expect(h.provider.calls).toHaveLength(2);
    expect(h.provider.calls[1]).toMatchObject({ at: 151_000, publicKeyBase64: 'pk-2', deadline: 151_000 + 150_000 });
    expect(states(h.events)).toEqual(['inquiring', 'inquiring']);
    expect(h.events.map((e) => e.attempt)).toEqual([1, 2]);

    await h.at(152_000);
    h.provider.last.answer();
    await h.drain();
    expect(h.terminal.sent).toEqual([{ cmd: 'AUTH', ref: expect.any(String), at: 152_000 }]);
  });
});

describe('CNCL when the window is about to close', () => {
  test('CNCL exactly at deadline - cancelMargin; CN -> re-inquiry with a new ref and key pair; maxInquiries exhausted -> expired', async () => {
    const ref1 = await payAndDeliver(1_000);
    h.terminal.onCancel = (ref, t) => t.result(ref, 'CN');
    await h.at(169_999);
    expect(h.terminal.log).toEqual([`AUTH ${ref1}`]);
    await h.at(170_000);
    expect(h.terminal.sent[1]).toEqual({ cmd: 'CNCL', ref: ref1, at: 170_000 });
    expect(h.provider.calls).toHaveLength(2);
    expect(h.provider.calls[1]).toMatchObject({ at: 170_000, publicKeyBase64: 'pk-2' });

    await h.at(171_000);
    h.provider.last.answer();
    await h.drain();
    const ref2 = h.terminal.sent[2].ref;
    expect(ref2).not.toBe(ref1);
    await h.at(339_999);
    expect(h.terminal.sent).toHaveLength(3);
    await h.at(340_000); // 170 s after the second inquiry
    expect(h.terminal.sent[3]).toEqual({ cmd: 'CNCL', ref: ref2, at: 340_000 });

    await h.at(341_000);
    h.provider.last.answer();
    await h.drain();
    const ref3 = h.terminal.sent[4].ref;
    await h.at(510_000);
    expect(h.terminal.log).toEqual([`AUTH ${ref1}`, `CNCL ${ref1}`, `AUTH ${ref2}`, `CNCL ${ref2}`, `AUTH ${ref3}`, `CNCL ${ref3}`]);
    expect(new Set([ref1, ref2, ref3]).size).toBe(3);
    expect(h.keys.handedOut.map((k) => k.publicKeyBase64)).toEqual(['pk-1', 'pk-2', 'pk-3']);
    expect(h.provider.calls).toHaveLength(3);
    expect(states(h.events)).toEqual([
      'inquiring', 'delivering', 'processing',
      'inquiring', 'delivering', 'processing',
      'inquiring', 'delivering', 'processing',
      'expired',
    ]);
    expect(h.events[9]).toMatchObject({ attempt: 3, code: 'WINDOW_EXPIRED' });
    expect(h.record().refs).toEqual([ref1, ref2, ref3]);
    for (const buf of h.terminal.track2Given) expect(allZero(buf)).toBe(true);
  });

  test('the overall payment limit cuts the attempts short of maxInquiries', async () => {
    const ref1 = await payAndDeliver(1_000, { policy: { paymentLimitMs: 400_000 } });
    h.terminal.onCancel = (ref, t) => t.result(ref, 'CN');
    await h.at(170_000);
    await h.at(171_000);
    h.provider.last.answer();
    await h.drain();
    const ref2 = h.terminal.sent[2].ref;
    await h.at(340_000); // 60 s left of 400 s: less than a window
    expect(h.terminal.log).toEqual([`AUTH ${ref1}`, `CNCL ${ref1}`, `AUTH ${ref2}`, `CNCL ${ref2}`]);
    expect(h.provider.calls).toHaveLength(2);
    expect(h.events[h.events.length - 1]).toMatchObject({ state: 'expired', attempt: 2, code: 'WINDOW_EXPIRED' });
  });

  test('PROG SENT before cancelAt: no CNCL; the RSLT is the outcome', async () => {
    const ref = await payAndDeliver(1_000);
    await h.at(150_000);
    h.terminal.progress(ref, 'RCVD');
    h.terminal.progress(ref, 'SENT');
    await h.drain();
    await h.at(179_000);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
    h.terminal.result(ref, '00', { approvalNo: '77', maskedPan: MASKED_PAN });
    await h.drain();
    expect(states(h.events)).toEqual(['inquiring', 'delivering', 'processing', 'approved']);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
  });

  test('CNCL answered PROG SENT (too late): the real outcome follows', async () => {
    const ref = await payAndDeliver(1_000);
    h.terminal.onCancel = (r, t) => t.progress(r, 'SENT');
    await h.at(170_000);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`, `CNCL ${ref}`]);
    await h.at(175_000);
    h.terminal.result(ref, '51', { message: 'insufficient funds', maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.events[h.events.length - 1]).toMatchObject({ state: 'declined', code: '51', message: 'insufficient funds' });
    expect(h.provider.calls).toHaveLength(1);
  });

  test('a wall-clock step of +/- 1 h during the payment does not move the CNCL', async () => {
    const ref = await payAndDeliver(1_000);
    h.terminal.onCancel = (r, t) => t.result(r, 'CN');
    await h.at(50_000);
    h.clock.stepWall(+3_600_000);
    await h.at(100_000);
    h.clock.stepWall(-2 * 3_600_000);
    await h.at(169_999);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
    await h.at(170_000);
    expect(h.terminal.sent[1]).toEqual({ cmd: 'CNCL', ref, at: 170_000 });
  });
});

describe('no RSLT after SENT', () => {
  test('LAST after resultTimeoutMs; a RSLT answering it is the outcome', async () => {
    const ref = await payAndDeliver(1_000);
    await h.at(10_000);
    h.terminal.progress(ref, 'SENT');
    await h.drain();
    h.terminal.onLast = (r, t) => t.result(r, '51', { message: 'insufficient funds', maskedPan: MASKED_PAN });
    await h.at(69_999);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
    await h.at(70_000);
    expect(h.terminal.sent[1]).toEqual({ cmd: 'LAST', ref, at: 70_000 });
    expect(h.events[h.events.length - 1]).toEqual({
      type: 'event', intentId: PAY.intentId, state: 'declined', at: expect.any(String), attempt: 1,
      code: '51', message: 'insufficient funds', maskedPan: MASKED_PAN,
    });
  });

  test('LAST with no answer -> unknown, kept for reconciliation', async () => {
    const ref = await payAndDeliver(1_000);
    await h.at(10_000);
    h.terminal.progress(ref, 'SENT');
    await h.drain();
    await h.at(70_000);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`, `LAST ${ref}`]);
    expect(h.events[h.events.length - 1].state).toBe('processing');
    await h.at(73_000); // the LAST's answer time
    expect(h.events[h.events.length - 1]).toMatchObject({ state: 'unknown', code: 'NO_OUTCOME' });
    expect(h.record()).toMatchObject({ st: 'unknown', reconcile: true, sent: true, ref });
    expect(h.terminal.log).toEqual([`AUTH ${ref}`, `LAST ${ref}`]);
  });

  test('LAST answered PROG (still open), then nothing -> unknown after one more resultTimeoutMs', async () => {
    const ref = await payAndDeliver(1_000);
    await h.at(10_000);
    h.terminal.progress(ref, 'SENT');
    await h.drain();
    h.terminal.onLast = (r, t) => t.progress(r, 'SENT');
    await h.at(70_000);
    await h.at(129_999);
    expect(h.events[h.events.length - 1].state).toBe('processing');
    await h.at(130_000);
    expect(h.events[h.events.length - 1]).toMatchObject({ state: 'unknown', code: 'NO_OUTCOME' });
    expect(h.terminal.log).toEqual([`AUTH ${ref}`, `LAST ${ref}`]);
  });
});

describe('AUTH not acknowledged (link error)', () => {
  async function unacked(): Promise<string> {
    h = await makeHarness();
    h.terminal.authMode = 'hold';
    await h.engine.pay(PAY, h.listen());
    await h.at(1_000);
    h.provider.last.answer();
    await h.drain();
    const ref = h.terminal.sent[0].ref;
    h.terminal.goDown();
    h.terminal.failAuth();
    await h.drain();
    expect(allZero(h.terminal.track2Given[0])).toBe(true);
    return ref;
  }

  test('link back, LAST -> NF: the terminal never had it; fresh inquiry', async () => {
    const ref = await unacked();
    h.terminal.onLast = (r, t) => t.result(r, 'NF');
    await h.at(30_000);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
    h.terminal.comeUp();
    await h.drain();
    expect(h.terminal.sent[1]).toEqual({ cmd: 'LAST', ref, at: 30_000 });
    expect(h.provider.calls).toHaveLength(2);
    expect(h.provider.calls[1]).toMatchObject({ at: 30_000, publicKeyBase64: 'pk-2' });
    expect(states(h.events)).toEqual(['inquiring', 'delivering', 'inquiring']);
  });

  test('link back, LAST -> RSLT 00: approved', async () => {
    const ref = await unacked();
    h.terminal.onLast = (r, t) => t.result(r, '00', { approvalNo: '5', maskedPan: MASKED_PAN });
    await h.at(30_000);
    h.terminal.comeUp();
    await h.drain();
    expect(h.terminal.log).toEqual([`AUTH ${ref}`, `LAST ${ref}`]);
    expect(states(h.events)).toEqual(['inquiring', 'delivering', 'approved']);
    expect(h.events[2]).toMatchObject({ approvalNo: '5', maskedPan: MASKED_PAN });
  });

  test('link back, LAST -> PROG: followed like an ACKed AUTH (CNCL at 170 s, CN -> re-inquiry)', async () => {
    const ref = await unacked();
    h.terminal.onLast = (r, t) => t.progress(r, 'RCVD');
    h.terminal.onCancel = (r, t) => t.result(r, 'CN');
    await h.at(30_000);
    h.terminal.comeUp();
    await h.drain();
    expect(states(h.events)).toEqual(['inquiring', 'delivering', 'processing']);
    await h.at(169_999);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`, `LAST ${ref}`]);
    await h.at(170_000);
    expect(h.terminal.sent[2]).toEqual({ cmd: 'CNCL', ref, at: 170_000 });
    expect(h.provider.calls).toHaveLength(2);
  });

  test('link never back before the deadline: unknown, kept for reconciliation', async () => {
    const ref = await unacked();
    await h.at(179_999);
    expect(h.events[h.events.length - 1].state).toBe('delivering');
    await h.at(180_000);
    expect(h.events[h.events.length - 1]).toMatchObject({ state: 'unknown', code: 'TERMINAL_UNAVAILABLE' });
    expect(h.record()).toMatchObject({ st: 'unknown', reconcile: true, ref });
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
    expect(h.provider.calls).toHaveLength(1);
  });
});

describe('client cancel', () => {
  test('while inquiring: the inquiry is aborted through its signal -> cancelled, nothing sent to the terminal', async () => {
    h = await makeHarness();
    await h.engine.pay(PAY, h.listen());
    await h.at(5_000);
    const view = await h.engine.cancel(PAY.intentId);
    expect(view.state).toBe('inquiring');
    await h.drain();
    expect(h.provider.calls[0].signal?.aborted).toBe(true);
    expect(states(h.events)).toEqual(['inquiring', 'cancelled']);
    expect(h.events[1]).toMatchObject({ code: 'CANCELLED' });
    expect(h.terminal.sent).toEqual([]);
    expect(h.provider.calls).toHaveLength(1);
    expect(h.keys.handedOut[0].destroyed).toBeGreaterThan(0);
  });

  test('processing before SENT: CNCL at once, CN -> cancelled, no re-inquiry', async () => {
    const ref = await payAndDeliver(1_000);
    h.terminal.onCancel = (r, t) => t.result(r, 'CN');
    await h.at(10_000);
    expect((await h.engine.cancel(PAY.intentId)).state).toBe('processing');
    await h.drain();
    expect(h.terminal.sent).toEqual([{ cmd: 'AUTH', ref, at: 1_000 }, { cmd: 'CNCL', ref, at: 10_000 }]);
    expect(states(h.events)).toEqual(['inquiring', 'delivering', 'processing', 'cancelled']);
    expect(h.provider.calls).toHaveLength(1);
  });

  test('after SENT: no CNCL; the final state is the real outcome', async () => {
    const ref = await payAndDeliver(1_000);
    await h.at(5_000);
    h.terminal.progress(ref, 'SENT');
    await h.drain();
    expect((await h.engine.cancel(PAY.intentId)).state).toBe('processing');
    await h.at(8_000);
    h.terminal.result(ref, '00', { approvalNo: '9', maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
    expect(h.events[h.events.length - 1]).toMatchObject({ state: 'approved', approvalNo: '9' });
  });
});

describe('RSLT codes', () => {
  const cases: { code: string; fields: Record<string, string>; expected: Record<string, unknown> }[] = [
    { code: '00', fields: { approvalNo: '30012345', maskedPan: MASKED_PAN }, expected: { state: 'approved', approvalNo: '30012345', maskedPan: MASKED_PAN } },
    { code: '51', fields: { message: 'insufficient funds', maskedPan: MASKED_PAN }, expected: { state: 'declined', code: '51', message: 'insufficient funds', maskedPan: MASKED_PAN } },
    { code: 'TO', fields: {}, expected: { state: 'unknown', code: 'TERMINAL_TIMEOUT' } },
    { code: 'BY', fields: {}, expected: { state: 'failed', code: 'TERMINAL_BUSY' } },
  ];
  test.each(cases)('RSLT $code -> $expected.state', async ({ code, fields, expected }) => {
    const ref = await payAndDeliver(1_000);
    h.terminal.result(ref, code, fields);
    await h.drain();
    const final = h.events[h.events.length - 1];
    expect(final).toMatchObject({ ...expected, attempt: 1 });
    expect(Object.keys(final).filter((k) => !['type', 'intentId', 'state', 'at', 'attempt'].includes(k)).sort())
      .toEqual(Object.keys(expected).filter((k) => k !== 'state' && k !== 'message').concat(final.message !== undefined ? ['message'] : []).sort());
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
    expect(h.provider.calls).toHaveLength(1);
  });

  test('IV (empty ref) after the AUTH -> failed TERMINAL_REJECTED', async () => {
    const ref = await payAndDeliver(1_000);
    h.terminal.invalid('field 4 out of format');
    await h.drain();
    expect(h.events[h.events.length - 1]).toMatchObject({ state: 'failed', code: 'TERMINAL_REJECTED' });
    expect(h.events[h.events.length - 1].message).toContain('field 4 out of format');
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);
  });

  test('a repeated RSLT for the same ref counts once', async () => {
    const ref = await payAndDeliver(1_000);
    const second: typeof h.events = [];
    await h.engine.pay(PAY, h.listen(second)); // a second follower of the same payment
    h.terminal.onCancel = (r, t) => t.result(r, '00', { approvalNo: '1', maskedPan: MASKED_PAN });
    await h.at(170_000); // CNCL: answered by the RSLT again (event + answer)
    h.terminal.result(ref, '00', { approvalNo: '1', maskedPan: MASKED_PAN });
    h.terminal.result(ref, '51', { message: 'not a new outcome' });
    await h.drain();
    expect(states(h.events)).toEqual(['inquiring', 'delivering', 'processing', 'approved']);
    expect(states(second)).toEqual(['approved']);
    expect(h.record()).toMatchObject({ st: 'approved', approvalNo: '1' });
  });

  test('a RSLT for another ref is ignored', async () => {
    const ref = await payAndDeliver(1_000);
    h.terminal.result('someone-else', '00', { approvalNo: '1' });
    await h.drain();
    expect(h.events[h.events.length - 1].state).toBe('processing');
    h.terminal.result(ref, '51', { message: 'no' });
    await h.drain();
    expect(h.events[h.events.length - 1].state).toBe('declined');
  });
});

describe('the terminal is checked before the OTC is inquired', () => {
  test('down at pay and not back within terminal_wait: failed TERMINAL_UNAVAILABLE, nothing inquired', async () => {
    h = await makeHarness();
    h.terminal.isUp = false;
    await h.engine.pay(PAY, h.listen());
    await h.at(9_999);
    expect(h.record().st).toBe('accepted');
    await h.at(10_000);
    expect(h.record()).toMatchObject({ st: 'failed', code: 'TERMINAL_UNAVAILABLE' });
    expect(h.record().message).toMatch(/nothing was inquired or charged/);
    expect(h.provider.calls).toHaveLength(0);
    expect(h.terminal.sent).toEqual([]);
  });

  test('down at pay, back within the wait: the payment goes on', async () => {
    h = await makeHarness();
    h.terminal.isUp = false;
    await h.engine.pay(PAY, h.listen());
    await h.at(4_000);
    expect(h.provider.calls).toHaveLength(0);
    h.terminal.comeUp();
    await h.at(5_000);
    expect(h.provider.calls).toHaveLength(1);
    h.provider.last.answer();
    await h.drain();
    h.terminal.result(h.terminal.sent[0].ref, '00', { approvalNo: '1', maskedPan: MASKED_PAN });
    await h.drain();
    expect(states(h.events)).toEqual(['inquiring', 'delivering', 'processing', 'approved']);
  });

  test('connected but silent (PING unanswered): failed TERMINAL_UNAVAILABLE, nothing inquired', async () => {
    h = await makeHarness();
    h.terminal.answersPing = false;
    await h.engine.pay(PAY, h.listen());
    await h.at(15_000);
    expect(h.record()).toMatchObject({ st: 'failed', code: 'TERMINAL_UNAVAILABLE' });
    expect(h.provider.calls).toHaveLength(0);
    expect(h.terminal.pings).toBeGreaterThanOrEqual(2);
  });

  test('a client cancel during the wait ends it cancelled at once', async () => {
    h = await makeHarness();
    h.terminal.isUp = false;
    await h.engine.pay(PAY, h.listen());
    await h.at(2_000);
    await h.engine.cancel(PAY.intentId);
    await h.drain();
    expect(h.record()).toMatchObject({ st: 'cancelled', code: 'CANCELLED' });
    expect(h.provider.calls).toHaveLength(0);
  });
});
