/**
 * Voids end to end: the real otcd process, the provider stand-in over HTTPS
 * on loopback, the terminal simulator on a real pty pair (socat), a client
 * on the real intent socket, and otcctl as a technician runs it. One block
 * per row of intent-protocol.md's `void` section; each block starts the
 * simulator with the behaviour it rehearses (its approvals live in the
 * simulator process, so a block pays and voids against the same one).
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import type { DaemonMessage, IntentClient } from '../../daemon/client/intent-client.js';
import { startDaemon, startStack, waitForSocket, waitForTerminalLink, type Stack, type StackOptions } from '../../scripts/testkit/stack.js';
import { ptyPair, type PtyPair } from '../../scripts/testkit/pty.js';
import { startTerminalSim, type RunningSim, type SimEvent } from '../../scripts/testkit/terminal-sim.js';
import { runCtl } from '../cli/run-otcctl.js';

const FAST = ['--prog-sent-delay', '100', '--result-delay', '100'];

interface World {
  pty: PtyPair;
  sim: RunningSim;
  stack: Stack;
  client: IntentClient;
  simArgs: string[];
}

let world: World | undefined;
let seq = 0;

afterEach(async () => {
  const w = world;
  world = undefined;
  if (!w) return;
  w.client.close();
  await w.stack.stop();
  await w.sim.stop();
  await w.pty.close();
});

async function start(simArgs: string[], config: StackOptions['config'] = {}): Promise<World> {
  const pty = await ptyPair();
  const sim = await startTerminalSim({ port: pty.b, args: [...FAST, ...simArgs] });
  const stack = await startStack({
    terminalAddress: pty.a,
    config: { ...config, terminal: ['reconnect_initial_ms = 100', 'reconnect_max_ms = 500', ...(config.terminal ?? [])] },
  });
  const client = await stack.connect();
  await waitForTerminalLink(client);
  world = { pty, sim, stack, client, simArgs };
  return world;
}

/** Pays `amount` and waits for its final event; returns the intentId. */
async function approvedPayment(w: World, amount = 12000): Promise<string> {
  const intentId = `void-${process.pid}-${++seq}`;
  const reply = await w.client.request({ op: 'pay', intentId, authorizationId: 'AUTH-VOID-0001', amount, installment: 0 });
  expect(reply.type).toBe('reply');
  const final = await w.client.finalEvent(intentId, 60_000);
  expect(final.state).toBe('approved');
  return intentId;
}

/** The next event of `intentId` (on this client) that matches. */
function eventOf(client: IntentClient, intentId: string, pred: (m: DaemonMessage) => boolean, timeoutMs = 30_000): Promise<DaemonMessage> {
  return client.next((m) => m.type === 'event' && m.intentId === intentId && pred(m), timeoutMs);
}

const voidState = (m: DaemonMessage): string | undefined => (m.void as { state?: string } | undefined)?.state;
const voidsSent = (sim: RunningSim): SimEvent[] => sim.events.filter((e) => e.ev === 'rx' && e.cmd === 'VOID' && e.dup !== true);
const reversals = (sim: RunningSim): SimEvent[] => sim.events.filter((e) => e.ev === 'reversed');

/**
 * The daemon's JSON log lines about `intentId` whose message starts with
 * `msg`, once at least one has come (the log pipe may lag the socket).
 */
async function logLines(w: World, intentId: string, msg: string, timeoutMs = 10_000): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = w.stack.daemon.log.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.intentId === intentId && String(l.msg).startsWith(msg));
    if (found.length > 0 || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** At most one reversal per approval, ever (terminal-protocol.md 6a), as the simulator saw it. */
function expectOneReversalAtMost(sim: RunningSim): void {
  const perApproval = new Map<unknown, number>();
  for (const r of reversals(sim)) perApproval.set(r.origRef, (perApproval.get(r.origRef) ?? 0) + 1);
  for (const n of perApproval.values()) expect(n).toBe(1);
}

describe('void against the simulator on a pty', () => {
  test('reversed: voiding, then voided with the reversal number; again: its state, no second VOID; otcctl payments shows it', async () => {
    const w = await start([]);
    const id = await approvedPayment(w);
    const reply = await w.client.request({ op: 'void', intentId: id, reason: 'dispense failed' });
    expect(reply).toMatchObject({ type: 'reply', intent: { intentId: id, state: 'approved', void: { state: 'voiding' }, voidReason: 'dispense failed' } });
    const voided = await eventOf(w.client, id, (m) => m.state === 'voided');
    expect(voided).toMatchObject({ voidReason: 'dispense failed', maskedPan: '941012******9012' });
    expect(String(voided.voidApprovalNo)).toMatch(/^\d{8}$/);
    const vo = voidsSent(w.sim);
    expect(vo).toHaveLength(1);
    expect(reversals(w.sim)).toEqual([expect.objectContaining({ ref: vo[0].ref, origRef: vo[0].origRef, approvalNo: voided.voidApprovalNo })]);

    const again = await w.client.request({ op: 'void', intentId: id });
    expect(again).toMatchObject({ type: 'reply', intent: { state: 'voided', voidApprovalNo: voided.voidApprovalNo } });
    await new Promise((r) => setTimeout(r, 300));
    expect(voidsSent(w.sim)).toHaveLength(1);

    const table = await runCtl(['payments', '--state-dir', w.stack.stateDir]);
    expect(table.stdout).toMatch(new RegExp(`${id} .*voided .*reversal ${String(voided.voidApprovalNo)}, of approval \\d{8}`));
    const json = JSON.parse((await runCtl(['payments', '--json', '--state-dir', w.stack.stateDir])).stdout) as { payments: Array<Record<string, unknown>> };
    expect(json.payments.find((p) => p.intentId === id)).toMatchObject({ state: 'voided', voidApprovalNo: voided.voidApprovalNo, voidReason: 'dispense failed' });
  });

  test('NOT_VOIDABLE for a declined payment, NOT_FOUND, BUSY both ways while one terminal operation runs', async () => {
    const w = await start(['--slow-ms', '1500']);
    const declined = `void-${process.pid}-${++seq}`;
    await w.client.request({ op: 'pay', intentId: declined, authorizationId: 'AUTH-VOID-0001', amount: 12051, installment: 0 });
    expect((await w.client.finalEvent(declined, 60_000)).state).toBe('declined');
    expect(await w.client.request({ op: 'void', intentId: declined })).toMatchObject({ type: 'error', code: 'NOT_VOIDABLE', message: expect.stringContaining('declined') });
    expect(await w.client.request({ op: 'void', intentId: 'no-such-payment' })).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
    expect(await w.client.request({ op: 'void', intentId: declined, reason: 'x'.repeat(81) })).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });

    const id = await approvedPayment(w);
    const slow = `void-${process.pid}-${++seq}`;
    await w.client.request({ op: 'pay', intentId: slow, authorizationId: 'AUTH-VOID-0001', amount: 12077, installment: 0 });
    expect(await w.client.request({ op: 'void', intentId: id })).toMatchObject({ type: 'error', code: 'BUSY' });
    await w.client.finalEvent(slow, 60_000);
    expect(voidsSent(w.sim)).toHaveLength(0);

    await w.client.request({ op: 'void', intentId: id });
    expect(await w.client.request({ op: 'pay', intentId: `void-${process.pid}-${++seq}`, authorizationId: 'AUTH-VOID-0001', amount: 1000, installment: 0 }))
      .toMatchObject({ type: 'error', code: 'BUSY' });
    await eventOf(w.client, id, (m) => m.state === 'voided');
  });

  test('refused by the acquirer: stays approved with the code; a later void sends a new VOID and reverses', async () => {
    const w = await start(['--void', 'refuse', '--void-refuse-code', 'R8', '--void-first', '1']);
    const id = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: id });
    const refused = await eventOf(w.client, id, (m) => voidState(m) === 'refused');
    expect(refused).toMatchObject({ state: 'approved', void: { state: 'refused', code: 'R8', message: expect.stringContaining('acquirer refused') } });
    await w.client.request({ op: 'void', intentId: id });
    await eventOf(w.client, id, (m) => m.state === 'voided');
    const vo = voidsSent(w.sim);
    expect(vo).toHaveLength(2);
    expect(vo[0].ref).not.toBe(vo[1].ref);
    expectOneReversalAtMost(w.sim);
  });

  test.each([
    ['nf', 'NF'],
    ['am', 'AM'],
  ])('--void %s: refused %s, nothing reversed', async (mode, code) => {
    const w = await start(['--void', mode]);
    const id = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: id });
    expect(await eventOf(w.client, id, (m) => voidState(m) === 'refused')).toMatchObject({ state: 'approved', void: { code } });
    expect(reversals(w.sim)).toHaveLength(0);
    expect(await logLines(w, id, `void refused (${code}): `)).toEqual([expect.objectContaining({ level: 'warn', msg: expect.stringContaining('nothing was reversed') })]);
  });

  test('the terminal forgot the approval (restarted): NF; an AV from the terminal is voided', async () => {
    const w = await start([]);
    const id = await approvedPayment(w);
    await w.sim.stop();
    w.sim = await startTerminalSim({ port: w.pty.b, args: [...FAST, '--void', 'av'] });
    await w.client.request({ op: 'void', intentId: id });
    // The new simulator knows no approval: NF comes before its AV.
    expect(await eventOf(w.client, id, (m) => voidState(m) === 'refused')).toMatchObject({ void: { code: 'NF' } });
    const other = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: other });
    const voided = await eventOf(w.client, other, (m) => m.state === 'voided');
    expect(String(voided.voidApprovalNo)).toMatch(/^\d{8}$/);
    expect(w.sim.events.some((e) => e.ev === 'outcome' && e.code === 'AV')).toBe(true);
  });

  test('TO: unknown with code TO, which otcctl status calls degraded; a new VOID settles it: AV (it had gone through), voided, one reversal', async () => {
    const w = await start(['--void', 'timeout']);
    const id = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: id });
    expect(await eventOf(w.client, id, (m) => voidState(m) === 'unknown')).toMatchObject({ state: 'approved', void: { state: 'unknown', code: 'TO' } });
    const sock = ['--socket', w.stack.socketPath];
    const status = await runCtl(['status', ...sock]);
    expect(status.code).toBe(4);
    expect(status.stdout).toContain(`1 void(s) with an unknown outcome (the money may not have gone back); the oldest is ${id}`);
    expect(status.stdout).toContain(`otcctl void --intent-id ${id}`);
    // What `journalctl -u otcd -p warning` shows: the unknown void at error, with what to do.
    expect(await logLines(w, id, 'void final: outcome unknown')).toEqual([expect.objectContaining({ level: 'error', code: 'TO', msg: expect.stringContaining(`otcctl void --intent-id ${id}`) })]);
    await w.client.request({ op: 'void', intentId: id });
    await eventOf(w.client, id, (m) => m.state === 'voided');
    expect(await logLines(w, id, 'void final: reversed')).toEqual([expect.objectContaining({ level: 'info', voidApprovalNo: expect.stringMatching(/^\d{8}$/) })]);
    expect(await logLines(w, id, 'payment final')).toHaveLength(1); // the approval's, not the void's
    const settled = await runCtl(['status', '--json', ...sock]);
    expect(JSON.parse(settled.stdout)).toMatchObject({ health: { unresolvedVoids: { count: 0 } }, verdict: { state: 'ok' } });
    expect(settled.code).toBe(0);
    expect(voidsSent(w.sim)).toHaveLength(2);
    expect(reversals(w.sim)).toHaveLength(1);
    expect(w.sim.events.filter((e) => e.ev === 'outcome' && e.origRef !== undefined).map((e) => e.code)).toEqual(['TO', 'AV']);
  });

  test('TO that did not go through: the new VOID reverses now', async () => {
    const w = await start(['--void', 'timeout-lost', '--void-first', '1']);
    const id = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: id });
    await eventOf(w.client, id, (m) => voidState(m) === 'unknown');
    await w.client.request({ op: 'void', intentId: id });
    await eventOf(w.client, id, (m) => m.state === 'voided');
    expect(w.sim.events.filter((e) => e.ev === 'outcome' && e.origRef !== undefined).map((e) => e.code)).toEqual(['TO', '00']);
    expectOneReversalAtMost(w.sim);
  });

  test('a silent terminal: no RSLT within the result timeout, LAST tells: voided', async () => {
    const w = await start(['--void', 'silent'], { payment: ['result_timeout_s = 2'] });
    const id = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: id });
    const voided = await eventOf(w.client, id, (m) => m.state === 'voided');
    const ref = voidsSent(w.sim)[0].ref;
    expect(w.sim.events.filter((e) => e.ev === 'rx' && e.ref === ref && e.dup !== true).map((e) => e.cmd)).toEqual(['VOID', 'LAST']);
    expect(voided.resolved).toBeUndefined();
  });

  test('no answer at all (unplugged mid-void): unknown, LAST pending; a void sends nothing; replugged, LAST resolves it and followers hear resolved', async () => {
    const w = await start(['--void', 'silent', '--prog-sent-delay', '1500'], { payment: ['result_timeout_s = 2'], terminal: ['answer_timeout_ms = 500'] });
    const id = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: id, reason: 'locker jammed' });
    await w.sim.waitFor((e) => e.ev === 'rx' && e.cmd === 'VOID');
    await w.pty.unplug();
    const unknown = await eventOf(w.client, id, (m) => voidState(m) === 'unknown');
    expect(unknown).toMatchObject({ state: 'approved', void: { state: 'unknown', code: 'NO_ANSWER' } });

    const watcher = await w.stack.connect();
    const got = await watcher.request({ op: 'get', intentId: id, follow: true });
    expect(got).toMatchObject({ intent: { void: { state: 'unknown', code: 'NO_ANSWER' } } });
    const again = await w.client.request({ op: 'void', intentId: id });
    expect(again).toMatchObject({ type: 'reply', intent: { void: { state: 'unknown', code: 'NO_ANSWER' } } });
    expect(voidsSent(w.sim)).toHaveLength(1);

    await w.pty.replug();
    const resolved = await eventOf(w.client, id, (m) => m.state === 'voided', 60_000);
    expect(resolved).toMatchObject({ resolved: true, voidReason: 'locker jammed' });
    expect(String(resolved.resolvedAt)).toMatch(/^\d{4}-/);
    expect(await eventOf(watcher, id, (m) => m.state === 'voided')).toMatchObject({ resolved: true });
    watcher.close();
    expect(voidsSent(w.sim)).toHaveLength(1);
    expect(reversals(w.sim)).toHaveLength(1);
  });

  test('kill -9 after the VOID went out: after the restart LAST finds the reversal; one VOID, one reversal', async () => {
    const w = await start(['--prog-sent-delay', '800', '--result-delay', '800']);
    const id = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: id });
    await w.sim.waitFor((e) => e.ev === 'rx' && e.cmd === 'VOID');
    await w.stack.daemon.kill();
    w.client.close();
    w.stack.daemon = startDaemon(w.stack.configPath);
    await waitForSocket(w.stack.socketPath, w.stack.daemon);
    w.client = await w.stack.connect();
    const got = await w.client.request({ op: 'get', intentId: id, follow: true });
    const now = got.intent as { state: string };
    const final = now.state === 'voided' ? now : await eventOf(w.client, id, (m) => m.state === 'voided', 60_000);
    expect(final).toMatchObject({ state: 'voided' });
    const ref = voidsSent(w.sim)[0].ref;
    expect(w.sim.events.some((e) => e.ev === 'rx' && e.cmd === 'LAST' && e.ref === ref)).toBe(true);
    expect(voidsSent(w.sim)).toHaveLength(1);
    expect(reversals(w.sim)).toHaveLength(1);
  });

  test('cancel while the VOID has not gone upstream: CNCL, refused CN, nothing reversed', async () => {
    const w = await start(['--prog-sent-delay', '3000']);
    const id = await approvedPayment(w);
    await w.client.request({ op: 'void', intentId: id });
    await w.sim.waitFor((e) => e.ev === 'rx' && e.cmd === 'VOID');
    await w.client.request({ op: 'cancel', intentId: id });
    expect(await eventOf(w.client, id, (m) => voidState(m) === 'refused')).toMatchObject({ state: 'approved', void: { code: 'CN' } });
    expect(reversals(w.sim)).toHaveLength(0);
  });

  test('otcctl void: voided, exit 0; again exit 0 without a second VOID; a declined payment exit 1 NOT_VOIDABLE', async () => {
    const w = await start([]);
    const id = await approvedPayment(w);
    const sock = ['--socket', w.stack.socketPath];
    const r = await runCtl(['void', '--intent-id', id, '--reason', 'ticket printer jammed', ...sock]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/voiding .*\n.*approved +void voiding/);
    expect(r.stdout).toMatch(/voided +reversal \d{8}/);
    expect(r.stdout).toMatch(/VOIDED\n$/);
    const again = await runCtl(['void', '--intent-id', id, '--json', ...sock]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout.trim().split('\n')[0])).toMatchObject({ type: 'reply', intent: { state: 'voided' } });
    expect(voidsSent(w.sim)).toHaveLength(1);
    const declined = `void-${process.pid}-${++seq}`;
    await w.client.request({ op: 'pay', intentId: declined, authorizationId: 'AUTH-VOID-0001', amount: 12051, installment: 0 });
    await w.client.finalEvent(declined, 60_000);
    const no = await runCtl(['void', '--intent-id', declined, ...sock]);
    expect(no.code).toBe(1);
    expect(no.stderr).toContain('NOT_VOIDABLE');
  });

  test('otcctl void Ctrl-C: cancels the void before it goes upstream (exit 1, refused CN)', async () => {
    const w = await start(['--prog-sent-delay', '3000']);
    const id = await approvedPayment(w);
    let signalled = false;
    const r = await runCtl(['void', '--intent-id', id, '--socket', w.stack.socketPath], {
      onStdout: (soFar, child) => {
        if (!signalled && /void voiding/.test(soFar)) {
          signalled = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Ctrl-C: cancelling the void');
    expect(r.stdout).toMatch(/void refused +CN/);
    expect(reversals(w.sim)).toHaveLength(0);
  });
});
