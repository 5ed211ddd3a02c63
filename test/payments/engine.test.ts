/**
 * The engine as the intent socket sees it: one payment at a time,
 * idempotent `pay`, errors with stable codes, shutdown, and recovery from
 * what the ledger says after a restart.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { Ledger, type LedgerRecord } from '../../daemon/payments/ledger.js';
import { hashAuthorization } from '../../daemon/payments/engine.js';
import { makeHarness, MASKED_PAN, PAY, states, type Harness } from './harness.js';

let h: Harness;
afterEach(async () => {
  await h.close();
});

const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);
function stored(id: string, change: Partial<LedgerRecord>): LedgerRecord {
  return {
    id, st: 'accepted', created: T0, at: T0, amount: PAY.amount, inst: PAY.installment,
    authHash: hashAuthorization(PAY.authorizationId), attempt: 1, ...change,
  };
}
const seed = (...records: LedgerRecord[]) => async (ledger: Ledger): Promise<void> => {
  for (const r of records) await ledger.append(r);
};

describe('pay, get, cancel', () => {
  test('BUSY while a payment runs; CONFLICT on different fields; an idempotent pay follows the same payment', async () => {
    h = await makeHarness();
    await h.engine.pay(PAY, h.listen());
    await h.drain();
    await expect(h.engine.pay({ ...PAY, intentId: 'order-2' })).rejects.toMatchObject({ name: 'IntentError', code: 'BUSY' });
    for (const other of [{ amount: 12001 }, { installment: 3 }, { authorizationId: 'OTHER' }]) {
      await expect(h.engine.pay({ ...PAY, ...other })).rejects.toMatchObject({ code: 'CONFLICT' });
    }
    const again: typeof h.events = [];
    const sub = await h.engine.pay(PAY, h.listen(again));
    expect(sub.view).toMatchObject({ intentId: PAY.intentId, state: 'inquiring', attempt: 1 });
    expect(sub.view.deadline).toBeDefined();
    h.provider.last.answer();
    await h.drain();
    const ref = h.terminal.sent[0].ref;
    h.terminal.result(ref, '00', { approvalNo: '42', maskedPan: MASKED_PAN });
    await h.drain();
    expect(states(again)).toEqual(['delivering', 'processing', 'approved']);
    expect(h.provider.calls).toHaveLength(1);
    expect(h.terminal.log).toEqual([`AUTH ${ref}`]);

    // Final: the same pay answers the outcome, inquires and sends nothing.
    const late: typeof h.events = [];
    const final = await h.engine.pay(PAY, h.listen(late));
    expect(final.view).toMatchObject({ state: 'approved', approvalNo: '42', maskedPan: MASKED_PAN });
    expect(final.view.deadline).toBeUndefined();
    await h.drain();
    expect(late).toEqual([]);
    expect(h.provider.calls).toHaveLength(1);
    // The terminal is free: the next payment is taken.
    await expect(h.engine.pay({ ...PAY, intentId: 'order-2' })).resolves.toMatchObject({ view: { state: 'accepted' } });
  });

  test('a payment no longer held in memory is still found: get, an idempotent pay, CONFLICT', async () => {
    // More done payments than the ledger keeps in memory: 'old-0' is read back from the file.
    const old = Array.from({ length: 200 }, (_, i) => stored(`old-${i}`, { st: 'approved', approvalNo: String(40_000_000 + i), maskedPan: MASKED_PAN }));
    h = await makeHarness({ prepare: seed(...old) });
    expect(h.ledger.peek('old-0')).toBeUndefined();
    await expect(h.engine.get('old-0')).resolves.toMatchObject({ view: { intentId: 'old-0', state: 'approved', approvalNo: '40000000' } });
    const again = await h.engine.pay({ ...PAY, intentId: 'old-0' });
    expect(again.view).toMatchObject({ intentId: 'old-0', state: 'approved', approvalNo: '40000000' });
    await expect(h.engine.pay({ ...PAY, intentId: 'old-0', amount: PAY.amount + 1 })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(h.engine.cancel('old-1')).resolves.toMatchObject({ state: 'approved' });
    await h.drain();
    expect(h.terminal.sent).toHaveLength(0);
    expect(h.provider.calls).toHaveLength(0);
  });

  test('NOT_FOUND for get and cancel of an unknown intent', async () => {
    h = await makeHarness();
    await expect(h.engine.get('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(h.engine.cancel('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  test('unsubscribe stops the events of that listener only', async () => {
    h = await makeHarness();
    const a: typeof h.events = [];
    const sub = await h.engine.pay(PAY, h.listen(a));
    const b: typeof h.events = [];
    await h.engine.get(PAY.intentId, h.listen(b));
    await h.drain();
    expect(states(a)).toEqual(['inquiring']);
    sub.unsubscribe();
    h.provider.last.answer();
    await h.drain();
    expect(states(a)).toEqual(['inquiring']);
    expect(states(b)).toEqual(['inquiring', 'delivering', 'processing']);
  });

  test('SHUTTING_DOWN for a new payment after shutdown(); an inquiring payment is stopped', async () => {
    h = await makeHarness();
    await h.engine.pay(PAY, h.listen());
    await h.drain();
    const stopping = h.engine.shutdown(15_000);
    await h.drain();
    await stopping;
    expect(h.provider.calls[0].signal?.aborted).toBe(true);
    // Not 'cancelled': the client did not cancel it; otcd stopped before the card data went anywhere.
    expect(h.record()).toMatchObject({ st: 'failed', code: 'INTERRUPTED' });
    await expect(h.engine.pay({ ...PAY, intentId: 'order-2' })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(h.terminal.sent).toEqual([]);
  });

  test('health names the running payment', async () => {
    h = await makeHarness();
    await h.engine.pay(PAY);
    await h.drain();
    expect(h.engine.health().payment).toMatchObject({ intentId: PAY.intentId, state: 'inquiring', attempt: 1 });
  });
});

describe('isStuck', () => {
  test('true only after paymentLimit + grace with the payment still running', async () => {
    h = await makeHarness();
    h.provider.honoursAbort = false; // a wedged inquiry that answers nothing, ever
    await h.engine.pay(PAY);
    await h.drain();
    expect(h.engine.isStuck(60_000)).toBe(false);
    await h.at(660_000);
    expect(h.engine.isStuck(60_000)).toBe(false);
    await h.at(660_001);
    expect(h.engine.isStuck(60_000)).toBe(true);
    expect(h.engine.idle).toBe(false);
    h.provider.last.fail(new Error('finally'));
    await h.drain();
  });
});

describe('recover()', () => {
  test('accepted and inquiring payments end failed INTERRUPTED; nothing goes to the terminal', async () => {
    h = await makeHarness({
      prepare: seed(stored('a', { st: 'accepted', attempt: 0 }), stored('b', { st: 'inquiring', deadline: T0 + 180_000 })),
    });
    await h.engine.recover();
    await h.drain();
    for (const id of ['a', 'b']) expect(h.record(id)).toMatchObject({ st: 'failed', code: 'INTERRUPTED' });
    expect(h.terminal.sent).toEqual([]);
    expect(h.engine.idle).toBe(true);
  });

  test('delivering: LAST for its ref, and the RSLT is the outcome', async () => {
    h = await makeHarness({ prepare: seed(stored('c', { st: 'delivering', ref: 'ref-c' })) });
    h.terminal.onLast = (r, t) => t.result(r, '00', { approvalNo: '7', maskedPan: MASKED_PAN });
    await h.engine.recover();
    await h.drain();
    expect(h.terminal.log).toEqual(['LAST ref-c']);
    expect(h.record('c')).toMatchObject({ st: 'approved', approvalNo: '7', maskedPan: MASKED_PAN });
    expect(h.engine.idle).toBe(true);
  });

  test('processing: LAST -> PROG (still open) -> the later RSLT is the outcome', async () => {
    h = await makeHarness({ prepare: seed(stored('d', { st: 'processing', ref: 'ref-d', acked: true })) });
    h.terminal.onLast = (r, t) => t.progress(r, 'SENT');
    await h.engine.recover();
    await h.drain();
    expect(h.engine.idle).toBe(false);
    await expect(h.engine.pay({ ...PAY, intentId: 'new' })).rejects.toMatchObject({ code: 'BUSY' });
    await h.at(20_000);
    h.terminal.result('ref-d', '51', { message: 'do not honour', maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.record('d')).toMatchObject({ st: 'declined', code: '51', message: 'do not honour' });
    expect(h.terminal.log).toEqual(['LAST ref-d']);
  });

  test('processing, LAST -> NF: the terminal never ran it -> failed INTERRUPTED', async () => {
    h = await makeHarness({ prepare: seed(stored('e', { st: 'processing', ref: 'ref-e', acked: true })) });
    h.terminal.onLast = (r, t) => t.result(r, 'NF');
    await h.engine.recover();
    await h.drain();
    expect(h.record('e')).toMatchObject({ st: 'failed', code: 'INTERRUPTED' });
  });

  test('an unknown payment is reconciled with LAST when the terminal comes up', async () => {
    h = await makeHarness({
      prepare: seed(stored('u', { st: 'unknown', reconcile: true, ref: 'ref-u', code: 'NO_OUTCOME', message: 'x' })),
    });
    h.terminal.isUp = false;
    h.terminal.onLast = (r, t) => t.result(r, '00', { approvalNo: '99', maskedPan: MASKED_PAN });
    await h.engine.recover();
    await h.drain();
    expect(h.terminal.sent).toEqual([]);
    h.terminal.comeUp();
    await h.at(0);
    expect(h.terminal.log).toEqual(['LAST ref-u']);
    expect(h.record('u')).toMatchObject({ st: 'approved', approvalNo: '99', reconcile: false });
    expect((await h.engine.get('u')).view).toMatchObject({ state: 'approved', approvalNo: '99', maskedPan: MASKED_PAN });
    // Reconciled: not asked again at the next round.
    await h.at(60_000);
    expect(h.terminal.log).toEqual(['LAST ref-u']);
  });

  test('reconciliation asks again every interval while the terminal does not answer', async () => {
    h = await makeHarness({ prepare: seed(stored('u', { st: 'unknown', reconcile: true, ref: 'ref-u' })) });
    await h.engine.recover();
    await h.at(60_000);
    expect(h.terminal.log).toEqual(['LAST ref-u']);
    await h.at(63_000); // no answer within the answer time
    expect(h.record('u')).toMatchObject({ st: 'unknown', reconcile: true });
    h.terminal.onLast = (r, t) => t.result(r, '51', { message: 'declined' });
    await h.at(123_000);
    expect(h.terminal.log).toEqual(['LAST ref-u', 'LAST ref-u']);
    expect(h.record('u')).toMatchObject({ st: 'declined', code: '51', reconcile: false });
  });

  describe('resolving unknown payments (intent-protocol.md, after the states table)', () => {
    test('a follower (get with follow) of an unknown payment receives its resolution, once, with resolved and resolvedAt', async () => {
      h = await makeHarness({ prepare: seed(stored('u', { st: 'unknown', reconcile: true, ref: 'ref-u', termSeq: 1, code: 'NO_OUTCOME', message: 'x' })) });
      h.terminal.isUp = false;
      h.terminal.onLast = (r, t) => t.result(r, '00', { approvalNo: '77', maskedPan: MASKED_PAN });
      await h.engine.recover();
      const followed: typeof h.events = [];
      const sub = await h.engine.get('u', h.listen(followed));
      expect(sub.view).toMatchObject({ state: 'unknown', resolving: true });
      expect(sub.view).not.toHaveProperty('resolved');
      expect(h.engine.health().unresolved).toEqual({ count: 1, oldest: { intentId: 'u', at: new Date(T0).toISOString() } });
      h.terminal.comeUp();
      await h.at(0);
      expect(followed).toHaveLength(1);
      expect(followed[0]).toMatchObject({ type: 'event', intentId: 'u', state: 'approved', approvalNo: '77', maskedPan: MASKED_PAN, resolved: true });
      expect(followed[0]).not.toHaveProperty('resolving');
      expect(followed[0]).not.toHaveProperty('code');
      expect(Date.parse(String(followed[0].resolvedAt))).toBe(h.clock.wallNow());
      expect(h.record('u')).toMatchObject({ st: 'approved', resolved: true, reconcile: false });
      expect(h.engine.health().unresolved).toEqual({ count: 0 });
      // Resolved for good: never asked again, its view says so, and a later follow ends at once.
      await h.at(120_000);
      expect(h.terminal.log).toEqual(['LAST ref-u']);
      const later: typeof h.events = [];
      const again = await h.engine.get('u', h.listen(later));
      expect(again.view).toMatchObject({ state: 'approved', resolved: true });
      expect(followed).toHaveLength(1);
    });

    test('NF while the terminal still remembers the ref (fewer than 16 frames since): resolved failed NOT_RUN', async () => {
      h = await makeHarness({ prepare: seed(
        stored('u', { st: 'unknown', reconcile: true, ref: 'ref-u', termSeq: 5 }),
        stored('later', { st: 'approved', ref: 'ref-l', termSeq: 20 }), // 15 frames after ref-u
      ) });
      h.terminal.onLast = (r, t) => t.result(r, 'NF');
      await h.engine.recover();
      const followed: typeof h.events = [];
      await h.engine.get('u', h.listen(followed));
      await h.at(60_000);
      expect(followed.map((e) => [e.state, e.code, e.resolved])).toEqual([['failed', 'NOT_RUN', true]]);
    });

    test('NF once 16 or more frames went to the terminal since: stays unknown, the asking ends and followers are told', async () => {
      h = await makeHarness({ prepare: seed(
        stored('u', { st: 'unknown', reconcile: true, ref: 'ref-u', termSeq: 4 }),
        stored('later', { st: 'approved', ref: 'ref-l', termSeq: 20 }), // 16 frames after ref-u
      ) });
      h.terminal.onLast = (r, t) => t.result(r, 'NF');
      await h.engine.recover();
      const followed: typeof h.events = [];
      await h.engine.get('u', h.listen(followed));
      await h.at(60_000);
      expect(followed.map((e) => [e.state, e.code, e.resolving, e.resolved])).toEqual([['unknown', 'NOT_REMEMBERED', undefined, undefined]]);
      expect(h.record('u')).toMatchObject({ st: 'unknown', reconcile: false });
      expect(h.engine.health().unresolved.count).toBe(1);
      await h.at(180_000);
      expect(h.terminal.log).toEqual(['LAST ref-u']);
    });

    test('TO to LAST: the terminal cannot tell either; stays unknown and the asking ends', async () => {
      h = await makeHarness({ prepare: seed(stored('u', { st: 'unknown', reconcile: true, ref: 'ref-u', termSeq: 1 })) });
      h.terminal.onLast = (r, t) => t.result(r, 'TO');
      await h.engine.recover();
      await h.at(60_000);
      await h.at(180_000);
      expect(h.terminal.log).toEqual(['LAST ref-u']);
      expect(h.record('u')).toMatchObject({ st: 'unknown', reconcile: false, code: 'TERMINAL_TIMEOUT' });
    });

    test('every AUTH is numbered in the ledger, and the number survives a compaction that drops the payments it was taken from', async () => {
      h = await makeHarness();
      for (let i = 0; i < 3; i++) {
        await h.engine.pay({ ...PAY, intentId: `p${i}` }, h.listen());
        await h.drain();
        h.provider.last.answer();
        await h.drain();
        h.terminal.result(h.terminal.sent[i].ref, '00', { approvalNo: String(i), maskedPan: MASKED_PAN });
        await h.drain();
      }
      expect([0, 1, 2].map((i) => h.record(`p${i}`).termSeq)).toEqual([1, 2, 3]);
      expect(h.ledger.terminalSeq).toBe(3);
      // Past retention, every payment goes at the next compaction; the number stays in the header.
      h.clock.stepWall(8 * 24 * 3_600_000);
      await h.ledger.compact();
      expect(await h.ledger.find('p2')).toBeUndefined();
      const reopened = new Ledger({
        stateDir: h.dir, logger: pino({ level: 'silent' }), retentionMs: 7 * 24 * 3_600_000, maxPayments: 1000,
        compactAfterBytes: 1 << 20, wallNow: () => h.clock.wallNow(),
      });
      await reopened.open();
      expect(reopened.terminalSeq).toBe(3);
      expect(reopened.nextTerminalSeq()).toBe(4);
      await reopened.close();
    });
  });
});
