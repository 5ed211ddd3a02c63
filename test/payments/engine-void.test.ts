/**
 * The `void` op on the real engine and a real ledger, with a scripted
 * terminal and a ManualClock: every row of intent-protocol.md's `void`
 * section. Policy: 60 s for a RSLT, 3 s for a LAST answer.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { Ledger, LedgerRecord } from '../../daemon/payments/ledger.js';
import { hashAuthorization } from '../../daemon/payments/engine.js';
import type { IntentEvent } from '../../daemon/payments/model.js';
import { makeHarness, MASKED_PAN, PAY, type Harness } from './harness.js';

let h: Harness;
afterEach(async () => {
  await h.close();
});

const T0 = Date.UTC(2026, 10, 27, 9, 0, 0);
const AUTH_REF = 'auth-ref-1';
function stored(id: string, change: Partial<LedgerRecord>): LedgerRecord {
  return {
    id, st: 'approved', created: T0, at: T0, amount: PAY.amount, inst: PAY.installment,
    authHash: hashAuthorization(PAY.authorizationId), attempt: 1, ref: AUTH_REF, refs: [AUTH_REF], acked: true, sent: true,
    approvalNo: '30012345', maskedPan: MASKED_PAN, ...change,
  };
}
const seed = (...records: LedgerRecord[]) => async (ledger: Ledger): Promise<void> => {
  for (const r of records) await ledger.append(r);
};

/** A harness holding one approved payment (PAY.intentId, AUTH ref AUTH_REF). */
async function approved(extra: LedgerRecord[] = []): Promise<void> {
  h = await makeHarness({ prepare: seed(stored(PAY.intentId, {}), ...extra) });
  await h.engine.recover();
  await h.drain();
}

function lastVoid(): { ref: string; origRef: string; amount: number } {
  const v = h.terminal.voidRequests.at(-1);
  if (!v) throw new Error('no VOID was sent');
  return v;
}

describe('void', () => {
  test('reversed: durable voiding before the VOID leaves, then voided with the reversal number; a repeated void sends nothing', async () => {
    await approved();
    let fileAtVoid = '';
    const send = h.terminal.void.bind(h.terminal);
    h.terminal.void = (req) => {
      fileAtVoid = readFileSync(h.ledger.path, 'utf8');
      return send(req);
    };
    const events: IntentEvent[] = [];
    const sub = await h.engine.void(PAY.intentId, 'dispense failed', (e) => events.push(e));
    expect(sub.view).toMatchObject({ state: 'approved', approvalNo: '30012345', void: { state: 'voiding' }, voidReason: 'dispense failed' });
    await h.drain();
    const v = lastVoid();
    expect(v).toMatchObject({ origRef: AUTH_REF, amount: PAY.amount });
    expect(v.ref).not.toBe(AUTH_REF);
    const lines = fileAtVoid.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ id: PAY.intentId, vst: 'voiding', vref: v.ref, vreason: 'dispense failed' });
    await expect(h.engine.void(PAY.intentId, undefined)).resolves.toMatchObject({ view: { void: { state: 'voiding' } } });
    await expect(h.engine.pay({ ...PAY, intentId: 'order-2' })).rejects.toMatchObject({ code: 'BUSY' });

    h.terminal.progress(v.ref, 'RCVD');
    h.terminal.progress(v.ref, 'SENT');
    h.terminal.result(v.ref, '00', { approvalNo: '30012399', maskedPan: MASKED_PAN, message: 'VOIDED' });
    await h.drain();
    expect(events.at(-1)).toMatchObject({ state: 'voided', approvalNo: '30012345', voidApprovalNo: '30012399', voidReason: 'dispense failed' });
    expect(events.at(-1)?.voidedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(events.at(-1)?.void).toBeUndefined();
    expect(h.record()).toMatchObject({ st: 'voided', voidApprovalNo: '30012399', vref: v.ref });
    expect(h.record().vst).toBeUndefined();
    const again = await h.engine.void(PAY.intentId, undefined);
    expect(again.view).toMatchObject({ state: 'voided', voidApprovalNo: '30012399' });
    await h.drain();
    expect(h.terminal.voidRequests).toHaveLength(1);
    await expect(h.engine.pay({ ...PAY, intentId: 'order-2' })).resolves.toMatchObject({ view: { state: 'accepted' } });
  });

  test('AV: an earlier reversal went through: voided with its number', async () => {
    await approved();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    h.terminal.result(lastVoid().ref, 'AV', { approvalNo: '30012399', maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.record()).toMatchObject({ st: 'voided', voidApprovalNo: '30012399' });
  });

  test.each([
    ['NF', /no approval/],
    ['AM', /amount/],
    ['BY', /busy/],
    ['CN', /cancelled/],
    ['R1', /acquirer refused/],
  ])('refused %s: stays approved with the void refused; a later void sends a new VOID with a new ref', async (code, message) => {
    await approved();
    const events: IntentEvent[] = [];
    await h.engine.void(PAY.intentId, undefined, (e) => events.push(e));
    await h.drain();
    const first = lastVoid().ref;
    h.terminal.result(first, code, { maskedPan: code === 'NF' ? '' : MASKED_PAN, message: code === 'R1' ? 'AFTER SETTLEMENT' : '' });
    await h.drain();
    expect(events.at(-1)).toMatchObject({ state: 'approved', approvalNo: '30012345', void: { state: 'refused', code, message: expect.stringMatching(message) } });
    expect(h.record().vlast).toBeUndefined();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    expect(h.terminal.voidRequests).toHaveLength(2);
    expect(lastVoid().ref).not.toBe(first);
  });

  test('IV: refused; the VOID was called invalid', async () => {
    await approved();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    h.terminal.invalid('amount must be 1..12 digits');
    await h.drain();
    expect(h.record()).toMatchObject({ st: 'approved', vst: 'refused', vcode: 'IV' });
  });

  test('TO: unknown; a later void sends a new VOID, which the terminal answers AV: voided', async () => {
    await approved();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    const first = lastVoid().ref;
    h.terminal.result(first, 'TO', { maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.record()).toMatchObject({ st: 'approved', vst: 'unknown', vcode: 'TO' });
    expect(h.record().vlast).toBeUndefined();
    expect(h.engine.health().unresolvedVoids).toEqual({ count: 1, oldest: { intentId: PAY.intentId, at: new Date(h.record().at).toISOString() } });
    expect(h.engine.health().unresolved).toEqual({ count: 0 });
    const sub = await h.engine.void(PAY.intentId, undefined);
    expect(sub.view.void).toEqual({ state: 'voiding' });
    await h.drain();
    const second = lastVoid().ref;
    expect(second).not.toBe(first);
    h.terminal.result(second, 'AV', { approvalNo: '30012399', maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.record()).toMatchObject({ st: 'voided', voidApprovalNo: '30012399' });
    expect(h.engine.health().unresolvedVoids).toEqual({ count: 0 });
  });

  test('after TO, a retry refused before the terminal looked for the first reversal (link down, BY) leaves the void unknown, with its first time; AM settles it', async () => {
    await approved();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    h.terminal.result(lastVoid().ref, 'TO', { maskedPan: MASKED_PAN });
    await h.drain();
    const since = h.engine.health().unresolvedVoids;
    expect(since).toMatchObject({ count: 1, oldest: { intentId: PAY.intentId } });

    h.terminal.isUp = false;
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    expect(h.record()).toMatchObject({ vst: 'refused', vcode: 'TERMINAL_UNAVAILABLE' });
    expect(h.engine.health().unresolvedVoids).toEqual(since);

    h.terminal.isUp = true;
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    h.terminal.result(lastVoid().ref, 'BY');
    await h.drain();
    expect(h.record()).toMatchObject({ vst: 'refused', vcode: 'BY' });
    expect(h.engine.health().unresolvedVoids).toEqual(since);
    expect(h.warnings.at(-1)).toMatchObject({
      level: 50, intentId: PAY.intentId, code: 'BY',
      msg: expect.stringMatching(/^void refused \(BY\), and an earlier VOID's outcome is still unknown: .*otcctl void --intent-id /),
    });

    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    h.terminal.result(lastVoid().ref, 'AM', { maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.record()).toMatchObject({ st: 'approved', vst: 'refused', vcode: 'AM' });
    expect(h.engine.health().unresolvedVoids).toEqual({ count: 0 });
    expect(h.record().vunknownAt).toBeUndefined();
  });

  test('a void unknown for want of an answer, then refused BY by LAST: that VOID did nothing, nothing is unknown', async () => {
    await approved();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    const ref = lastVoid().ref;
    await h.at(60_000); // no RSLT: LAST, not answered either
    await h.at(63_000);
    expect(h.record()).toMatchObject({ vst: 'unknown', vlast: true, vunknownRef: ref });
    expect(h.engine.health().unresolvedVoids.count).toBe(1);
    h.terminal.onLast = (r, t) => t.result(r, 'BY');
    h.terminal.goDown();
    h.terminal.comeUp();
    await h.at(64_000);
    expect(h.record()).toMatchObject({ st: 'approved', vst: 'refused', vcode: 'BY' });
    expect(h.engine.health().unresolvedVoids).toEqual({ count: 0 });
  });

  test('health counts the voids whose outcome is unknown, read back from the ledger at start; refused and voided ones are not counted', async () => {
    const at = (min: number): number => T0 + min * 60_000;
    h = await makeHarness({
      prepare: seed(
        stored('to', {}), { ...stored('to', {}), at: at(5), vst: 'unknown', vref: 'v1', vcode: 'TO' },
        stored('asking', {}), { ...stored('asking', {}), at: at(3), vst: 'unknown', vref: 'v2', vcode: 'NO_ANSWER', vlast: true },
        stored('refused', {}), { ...stored('refused', {}), at: at(1), vst: 'refused', vref: 'v3', vcode: 'NF' },
        stored('voided', {}), { ...stored('voided', {}), st: 'voided', at: at(2), vref: 'v4', voidApprovalNo: '30012399' },
        // unknown since minute 0 (no answer), later FORGOTTEN: still since minute 0; a retry refused BY leaves it
        stored('retried', {}),
        { ...stored('retried', {}), at: at(0), vst: 'unknown', vref: 'v5', vcode: 'NO_ANSWER', vlast: true, vunknownAt: at(0), vunknownRef: 'v5' },
        { ...stored('retried', {}), at: at(4), vst: 'unknown', vref: 'v5', vcode: 'FORGOTTEN', vunknownAt: at(4), vunknownRef: 'v5' },
        { ...stored('retried', {}), at: at(6), vst: 'refused', vref: 'v6', vcode: 'BY' },
      ),
    });
    h.terminal.isUp = false; // LAST for 'asking' waits for the link
    await h.engine.recover();
    expect(h.engine.health().unresolvedVoids).toEqual({ count: 3, oldest: { intentId: 'retried', at: new Date(at(0)).toISOString() } });
    expect(h.record('retried')).toMatchObject({ vst: 'refused', vunknownAt: at(0), vunknownRef: 'v5' });
  });

  test('no RSLT: LAST after the result timeout tells the outcome', async () => {
    await approved();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    const ref = lastVoid().ref;
    h.terminal.onLast = (r, t) => t.result(r, '00', { approvalNo: '30012399', maskedPan: MASKED_PAN });
    await h.at(59_000);
    expect(h.terminal.log).toEqual([`VOID ${ref}`]);
    await h.at(60_000);
    expect(h.terminal.log).toEqual([`VOID ${ref}`, `LAST ${ref}`]);
    expect(h.record()).toMatchObject({ st: 'voided', voidApprovalNo: '30012399' });
  });

  test('no answer at all: unknown and LAST-pending; a void sends nothing; LAST when the link is back resolves it, announced with resolved', async () => {
    await approved();
    const events: IntentEvent[] = [];
    await h.engine.void(PAY.intentId, 'locker jammed', (e) => events.push(e));
    await h.drain();
    const ref = lastVoid().ref;
    await h.at(60_000); // no RSLT: LAST, which is not answered either
    await h.at(63_000);
    expect(h.record()).toMatchObject({ st: 'approved', vst: 'unknown', vcode: 'NO_ANSWER', vlast: true });
    expect(events.at(-1)).toMatchObject({ state: 'approved', void: { state: 'unknown', code: 'NO_ANSWER' } });
    const follower: IntentEvent[] = [];
    const again = await h.engine.void(PAY.intentId, undefined, (e) => follower.push(e));
    expect(again.view.void).toMatchObject({ state: 'unknown', code: 'NO_ANSWER' });
    await h.drain();
    expect(h.terminal.voidRequests).toHaveLength(1);
    await expect(h.engine.pay({ ...PAY, intentId: 'order-2' })).resolves.toMatchObject({ view: { state: 'accepted' } });
    await h.drain();
    h.provider.last.answer();
    await h.drain();
    const auth = h.terminal.sent.find((c) => c.cmd === 'AUTH');
    h.terminal.result(auth?.ref ?? '', '00', { approvalNo: '1', maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.record('order-2')).toMatchObject({ st: 'approved' });

    h.terminal.onLast = (r, t) => t.result(r, '00', { approvalNo: '30012399', maskedPan: MASKED_PAN });
    h.terminal.goDown();
    h.terminal.comeUp();
    await h.at(64_000);
    expect(h.terminal.log.filter((c) => c === `LAST ${ref}`).length).toBeGreaterThanOrEqual(2);
    expect(h.record()).toMatchObject({ st: 'voided', voidApprovalNo: '30012399', vreason: 'locker jammed' });
    for (const list of [events, follower]) {
      expect(list.at(-1)).toMatchObject({ state: 'voided', voidApprovalNo: '30012399', resolved: true });
      expect(list.at(-1)?.resolvedAt).toMatch(/^\d{4}-/);
    }
  });

  test('the VOID not acknowledged: LAST says NF, it never arrived: refused NOT_RECEIVED', async () => {
    await approved();
    h.terminal.voidMode = 'fail';
    h.terminal.onLast = (r, t) => t.result(r, 'NF');
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    await h.at(1_000);
    expect(h.record()).toMatchObject({ st: 'approved', vst: 'refused', vcode: 'NOT_RECEIVED' });
  });

  test('cancel while voiding: CNCL for the VOID; CN ends it refused', async () => {
    await approved();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    const ref = lastVoid().ref;
    h.terminal.onCancel = (r, t) => t.result(r, 'CN', { maskedPan: MASKED_PAN });
    await h.engine.cancel(PAY.intentId);
    await h.drain();
    expect(h.terminal.log).toEqual([`VOID ${ref}`, `CNCL ${ref}`]);
    expect(h.record()).toMatchObject({ st: 'approved', vst: 'refused', vcode: 'CN' });
  });

  test('only approved payments: NOT_VOIDABLE naming the state, NOT_FOUND, BUSY while a payment runs', async () => {
    await approved([stored('d', { st: 'declined', code: '51' }), stored('u', { st: 'unknown', reconcile: false, code: 'NO_OUTCOME' })]);
    await expect(h.engine.void('d', undefined)).rejects.toMatchObject({ code: 'NOT_VOIDABLE', message: expect.stringMatching(/declined/) });
    await expect(h.engine.void('u', undefined)).rejects.toMatchObject({ code: 'NOT_VOIDABLE', message: expect.stringMatching(/unknown/) });
    await expect(h.engine.void('nope', undefined)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await h.engine.pay({ ...PAY, intentId: 'running' });
    await expect(h.engine.void(PAY.intentId, undefined)).rejects.toMatchObject({ code: 'BUSY' });
    await h.drain();
    expect(h.terminal.voidRequests).toHaveLength(0);
  });

  test('an approved payment no longer in memory is voided whole: the VOID carries its ref and amount, the record keeps its fields', async () => {
    const others = Array.from({ length: 70 }, (_, i) => stored(`later-${i}`, { ref: `r-${i}`, refs: [`r-${i}`] }));
    await approved(others);
    expect(h.ledger.peek(PAY.intentId)).toBeUndefined();
    await h.engine.void(PAY.intentId, undefined);
    await h.drain();
    expect(lastVoid()).toMatchObject({ origRef: AUTH_REF, amount: PAY.amount });
    h.terminal.result(lastVoid().ref, '00', { approvalNo: '30012399', maskedPan: MASKED_PAN });
    await h.drain();
    expect(h.record()).toMatchObject({ st: 'voided', amount: PAY.amount, created: T0, approvalNo: '30012345', ref: AUTH_REF, voidApprovalNo: '30012399' });
    // After a restart the file says the same (the void lines come after the approval's).
    const dir = h.dir;
    await h.ledger.flush();
    const all = await h.ledger.readAll();
    expect(all.get(PAY.intentId)).toMatchObject({ st: 'voided', amount: PAY.amount, voidApprovalNo: '30012399' });
    expect(dir).toBeDefined();
  });

  test('crash after the VOID was recorded: unknown INTERRUPTED, then LAST resolves it', async () => {
    h = await makeHarness({ prepare: seed(stored(PAY.intentId, {}), { ...stored(PAY.intentId, {}), vst: 'voiding', vref: 'void-ref-1' }) });
    h.terminal.onLast = (r, t) => t.result(r, '00', { approvalNo: '30012399', maskedPan: MASKED_PAN });
    await h.engine.recover();
    await h.at(1);
    expect(h.terminal.log).toContain('LAST void-ref-1');
    expect(h.record()).toMatchObject({ st: 'voided', voidApprovalNo: '30012399' });
    expect(h.record().vresolvedAt).toBeDefined();
    expect(h.terminal.voidRequests).toHaveLength(0);
  });

  test.each([
    ['fewer than 16 frames since the VOID: it never arrived, refused NOT_RECEIVED', 38, { vst: 'refused', vcode: 'NOT_RECEIVED' }],
    ['16 or more frames since: the terminal may have forgotten it, unknown FORGOTTEN (void again)', 20, { vst: 'unknown', vcode: 'FORGOTTEN' }],
  ])('crash, then LAST answers NF for the VOID: %s', async (_label, vtermSeq, want) => {
    h = await makeHarness({
      prepare: seed(
        stored('other', { termSeq: 40 }),
        stored(PAY.intentId, {}), { ...stored(PAY.intentId, {}), vst: 'voiding', vref: 'void-ref-1', vtermSeq },
      ),
    });
    h.terminal.onLast = (r, t) => t.result(r, 'NF');
    await h.engine.recover();
    await h.at(1);
    expect(h.record()).toMatchObject({ st: 'approved', ...want });
    expect(h.record().vlast).toBeUndefined();
    const view = (await h.engine.get(PAY.intentId)).view;
    expect(view).toMatchObject({ void: { state: want.vst, code: want.vcode }, resolved: true });
  });
});
