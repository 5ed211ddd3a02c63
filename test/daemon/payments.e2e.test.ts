/**
 * The daemon's main job, end to end: the real otcd process, the provider
 * stand-in over HTTPS on loopback, the terminal simulator over TCP, and a
 * client on the real intent socket. Windows are configured short so the
 * 180-second stories take seconds.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DaemonMessage, IntentClient } from '../../daemon/client/intent-client.js';
import { startStack, startDaemon, waitForSocket, type Stack, waitForTerminalLink } from '../../scripts/testkit/stack.js';

let seq = 0;
function intentId(label: string): string {
  return `${label}-${process.pid}-${++seq}`;
}

function payLine(id: string, amount = 12000, authorizationId = 'AUTH-E2E-0001'): Record<string, unknown> {
  return { op: 'pay', intentId: id, authorizationId, amount, installment: 0 };
}

function authsFor(stack: Stack, amount?: number): number {
  return (stack.sim?.events ?? []).filter((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.dup !== true && (amount === undefined || e.amount === amount)).length;
}

async function pay(client: IntentClient, id: string, amount?: number, authorizationId?: string): Promise<{ reply: DaemonMessage; final: DaemonMessage; events: DaemonMessage[] }> {
  const reply = await client.request(payLine(id, amount, authorizationId));
  expect(reply.type).toBe('reply');
  const final = await client.finalEvent(id, 60_000);
  const events = client.received.filter((m) => m.type === 'event' && m.intentId === id);
  return { reply, final, events };
}

async function ledgerLines(stack: Stack): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(stack.stateDir, 'ledger.jsonl'), 'utf8');
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('payments with a well-behaved terminal', () => {
  let stack: Stack;
  let client: IntentClient;

  beforeAll(async () => {
    stack = await startStack({ simArgs: ['--prog-sent-delay', '100', '--result-delay', '100'] });
    client = await stack.connect();
    await waitForTerminalLink(client);
  });
  afterAll(async () => {
    client?.close();
    await stack?.stop();
  });

  test('approval: accepted -> inquiring -> delivering -> processing -> approved, one AUTH', async () => {
    const id = intentId('approve');
    const { reply, final, events } = await pay(client, id, 12000);
    expect((reply.intent as { state: string }).state).toBe('accepted');
    expect(events.map((e) => e.state)).toEqual(['inquiring', 'delivering', 'processing', 'approved']);
    expect(final).toMatchObject({ state: 'approved', attempt: 1, maskedPan: '941012******9012' });
    expect(String(final.approvalNo)).toMatch(/^\d{8}$/);
    expect(authsFor(stack, 12000)).toBe(1);
    expect(JSON.stringify(client.received)).not.toContain('9410123456789012');
  });

  test('decline carries the terminal code and message', async () => {
    const { final } = await pay(client, intentId('decline'), 12051);
    expect(final).toMatchObject({ state: 'declined', code: '51', message: 'INSUFFICIENT FUNDS' });
  });

  test('a terminal that answers BY ends the payment failed TERMINAL_BUSY', async () => {
    const { final } = await pay(client, intentId('busy'), 12099);
    expect(final).toMatchObject({ state: 'failed', code: 'TERMINAL_BUSY' });
  });

  test('a provider error carries resCd and the Korean resMsg; nothing reaches the terminal', async () => {
    const before = authsFor(stack);
    const { final } = await pay(client, intentId('api-error'), 15000, 'SCN-api-error-1');
    expect(final).toMatchObject({ state: 'failed', code: 'API_ERROR', resCd: 'R102' });
    expect(String(final.resMsg)).toMatch(/[가-힣]/);
    expect(authsFor(stack)).toBe(before);
  });

  test('a terminal timing out upstream (TO) ends unknown, never approved or declined', async () => {
    const { final } = await pay(client, intentId('to'), 12044);
    expect(final).toMatchObject({ state: 'unknown', code: 'TERMINAL_TIMEOUT' });
  });

  test('the same pay twice is one payment and one AUTH; other fields are a CONFLICT', async () => {
    const id = intentId('idem');
    await pay(client, id, 13000);
    const again = await client.request(payLine(id, 13000));
    expect(again).toMatchObject({ type: 'reply', intent: { intentId: id, state: 'approved' } });
    expect(authsFor(stack, 13000)).toBe(1);
    const conflict = await client.request(payLine(id, 13001));
    expect(conflict).toMatchObject({ type: 'error', code: 'CONFLICT' });
  });

  test('a second payment while one runs is BUSY', async () => {
    const id = intentId('first');
    const first = await client.request(payLine(id, 14000));
    expect(first.type).toBe('reply');
    const second = await client.request(payLine(intentId('second'), 14000));
    expect(second).toMatchObject({ type: 'error', code: 'BUSY' });
    await client.finalEvent(id, 60_000);
  });

  test('the client disconnecting mid-payment loses nothing: get reads the outcome later', async () => {
    const id = intentId('vanish');
    const other = await stack.connect();
    await other.request(payLine(id, 16000));
    await other.next((m) => m.type === 'event' && m.state === 'inquiring', 20_000);
    other.close();
    const until = Date.now() + 30_000;
    let state = '';
    while (Date.now() < until) {
      const got = await client.request({ op: 'get', intentId: id });
      state = (got.intent as { state: string }).state;
      if (state === 'approved') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(state).toBe('approved');
  });

  test('get with follow streams events until final; unknown ids are NOT_FOUND', async () => {
    const id = intentId('follow');
    await client.request(payLine(id, 17000));
    const watcher = await stack.connect();
    const got = await watcher.request({ op: 'get', intentId: id, follow: true });
    expect(got.type).toBe('reply');
    const final = await watcher.finalEvent(id, 60_000);
    expect(final.state).toBe('approved');
    watcher.close();
    await client.finalEvent(id, 60_000);
    expect(await client.request({ op: 'get', intentId: 'no-such-intent' })).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
  });

  test('the ledger holds every state change without card data', async () => {
    const lines = await ledgerLines(stack);
    const text = JSON.stringify(lines);
    expect(text).toContain('"st":"approved"');
    expect(text).not.toContain('9410123456789012');
    expect(text).not.toContain('AUTH-E2E-0001');
  });
});

describe('cancel', () => {
  let stack: Stack;
  let client: IntentClient;

  beforeAll(async () => {
    stack = await startStack({
      simArgs: ['--prog-sent-delay', '100', '--result-delay', '3000', '--slow-ms', '20000'],
      standinArgs: ['--slow-ms', '3000'],
    });
    client = await stack.connect();
    await waitForTerminalLink(client);
  });
  afterAll(async () => {
    client?.close();
    await stack?.stop();
  });

  test('cancel while inquiring: cancelled, no AUTH', async () => {
    const id = intentId('cancel-inq');
    const before = authsFor(stack);
    await client.request(payLine(id, 21000, 'SCN-slow-1'));
    await client.next((m) => m.type === 'event' && m.intentId === id && m.state === 'inquiring', 20_000);
    const reply = await client.request({ op: 'cancel', intentId: id });
    expect(reply).toMatchObject({ type: 'reply', intent: { intentId: id, state: 'inquiring' } });
    const final = await client.finalEvent(id, 30_000);
    expect(final.state).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 3500));
    expect(authsFor(stack)).toBe(before);
  });

  test('cancel while the terminal holds the AUTH before SENT: CNCL, cancelled', async () => {
    const id = intentId('cancel-proc');
    await client.request(payLine(id, 21077));
    await client.next((m) => m.type === 'event' && m.intentId === id && m.state === 'processing', 30_000);
    await client.request({ op: 'cancel', intentId: id });
    const final = await client.finalEvent(id, 30_000);
    expect(final.state).toBe('cancelled');
    await stack.sim?.waitFor((e) => e.ev === 'rx' && e.cmd === 'CNCL');
  });

  test('cancel after SENT is too late: the real outcome follows', async () => {
    const id = intentId('cancel-late');
    await client.request(payLine(id, 22000));
    await client.next((m) => m.type === 'event' && m.intentId === id && m.state === 'processing', 30_000);
    await stack.sim?.waitFor((e) => e.ev === 'tx' && e.cmd === 'PROG' && e.stage === 'SENT' && e.ref !== undefined, 20_000);
    const reply = await client.request({ op: 'cancel', intentId: id });
    expect((reply.intent as { state: string }).state).toBe('processing');
    const final = await client.finalEvent(id, 30_000);
    expect(final.state).toBe('approved');
  });
});

describe('the 180-second window, shortened to 8 s', () => {
  let stack: Stack;
  let client: IntentClient;

  beforeAll(async () => {
    stack = await startStack({
      simArgs: ['--prog-sent-delay', '100', '--result-delay', '100', '--slow-ms', '30000', '--slow-first', '1'],
      config: { payment: ['window_s = 8', 'send_margin_s = 3', 'cancel_margin_s = 2', 'max_inquiries = 2', 'payment_limit_s = 40', 'result_timeout_s = 3'] },
    });
    client = await stack.connect();
    await waitForTerminalLink(client);
  });
  afterAll(async () => {
    client?.close();
    await stack?.stop();
  });

  test('a window lost to a slow terminal, then a fresh inquiry that is approved', async () => {
    const id = intentId('reinquire');
    const inquiriesBefore = stack.standin.inquiries().length;
    const { final, events } = await pay(client, id, 31000);
    expect(final).toMatchObject({ state: 'approved', attempt: 2 });
    expect(events.map((e) => `${String(e.state)}/${String(e.attempt)}`)).toEqual([
      'inquiring/1', 'delivering/1', 'processing/1', 'inquiring/2', 'delivering/2', 'processing/2', 'approved/2',
    ]);
    expect(stack.standin.inquiries().length - inquiriesBefore).toBe(2);
    const auths = (stack.sim?.events ?? []).filter((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.dup !== true && e.amount === 31000);
    expect(auths).toHaveLength(2);
    expect(new Set(auths.map((a) => a.ref)).size).toBe(2);
    expect(stack.sim?.events.some((e) => e.ev === 'outcome' && e.code === 'CN')).toBe(true);
  });

  test('every inquiry lost to the window: expired', async () => {
    const id = intentId('expire');
    const { final, events } = await pay(client, id, 31077);
    expect(final).toMatchObject({ state: 'expired', code: 'WINDOW_EXPIRED' });
    expect(events.filter((e) => e.state === 'inquiring')).toHaveLength(2);
  });

  test('a terminal silent after taking the AUTH: CNCL, LAST, then unknown', async () => {
    const id = intentId('silent');
    const { final } = await pay(client, id, 31066);
    expect(final).toMatchObject({ state: 'unknown', code: 'NO_OUTCOME' });
    const auth = (stack.sim?.events ?? []).find((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.amount === 31066);
    const asked = (stack.sim?.events ?? []).filter((e) => e.ev === 'rx' && e.ref === auth?.ref && e.dup !== true).map((e) => e.cmd);
    expect(asked).toEqual(['AUTH', 'CNCL', 'LAST']);
  });
});

describe('the terminal link dropped mid-frame after taking the AUTH', () => {
  let stack: Stack;
  let client: IntentClient;

  beforeAll(async () => {
    stack = await startStack({
      simArgs: ['--prog-sent-delay', '300', '--result-delay', '300', '--drop-mid-frame'],
      config: {
        payment: ['window_s = 8', 'send_margin_s = 3', 'cancel_margin_s = 2', 'result_timeout_s = 3'],
        terminal: ['reconnect_initial_ms = 200', 'reconnect_max_ms = 1000'],
      },
    });
    client = await stack.connect();
    await waitForTerminalLink(client);
  });
  afterAll(async () => {
    client?.close();
    await stack?.stop();
  });

  test('the driver reconnects and the daemon learns the real outcome: approved, one AUTH', async () => {
    const id = intentId('drop');
    const { final } = await pay(client, id, 51000);
    expect(final.state).toBe('approved');
    expect(authsFor(stack, 51000)).toBe(1);
    expect(stack.sim?.events.filter((e) => e.ev === 'link-open').length).toBeGreaterThanOrEqual(2);
  });
});

describe('kill -9 of the daemon, then a restart', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      simArgs: ['--prog-sent-delay', '100', '--result-delay', '4000'],
      standinArgs: ['--slow-ms', '4000'],
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function restart(): Promise<IntentClient> {
    await stack.daemon.kill();
    stack.daemon = startDaemon(stack.configPath);
    await waitForSocket(stack.socketPath, stack.daemon);
    return stack.connect();
  }

  async function settle(client: IntentClient, id: string): Promise<DaemonMessage> {
    const got = await client.request({ op: 'get', intentId: id, follow: true });
    const intent = got.intent as { state: string };
    if (['approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown'].includes(intent.state)) return { ...got, ...intent };
    return client.finalEvent(id, 60_000);
  }

  test('killed while inquiring: failed INTERRUPTED after restart, no AUTH', async () => {
    let client = await stack.connect();
    await waitForTerminalLink(client);
    const id = intentId('kill-inq');
    const auths = authsFor(stack);
    await client.request(payLine(id, 41000, 'SCN-slow-1'));
    await client.next((m) => m.type === 'event' && m.intentId === id && m.state === 'inquiring', 20_000);
    client.close();
    client = await restart();
    const final = await settle(client, id);
    expect(final).toMatchObject({ state: 'failed', code: 'INTERRUPTED' });
    expect(authsFor(stack)).toBe(auths);
    client.close();
  });

  test('killed while the terminal processes: LAST after restart gives the real outcome, one AUTH', async () => {
    let client = await stack.connect();
    await waitForTerminalLink(client);
    const id = intentId('kill-proc');
    await client.request(payLine(id, 42000));
    await client.next((m) => m.type === 'event' && m.intentId === id && m.state === 'processing', 20_000);
    client.close();
    client = await restart();
    const final = await settle(client, id);
    expect(final.state).toBe('approved');
    expect(authsFor(stack, 42000)).toBe(1);
    await stack.sim?.waitFor((e) => e.ev === 'rx' && e.cmd === 'LAST');
    client.close();
  });

  test('killed the moment the AUTH is recorded: at most one AUTH, and the outcome matches what the terminal got', async () => {
    let client = await stack.connect();
    await waitForTerminalLink(client);
    const id = intentId('kill-deliv');
    await client.request(payLine(id, 44000));
    await client.next((m) => m.type === 'event' && m.intentId === id && m.state === 'delivering', 20_000);
    await stack.daemon.kill();
    client.close();
    client = await restart();
    const final = await settle(client, id);
    const auths = authsFor(stack, 44000);
    expect(auths).toBeLessThanOrEqual(1);
    if (auths === 0) expect(final).toMatchObject({ state: 'failed', code: 'INTERRUPTED' });
    else expect(final.state).toBe('approved');
    client.close();
  });

  test('killed after the final state: the outcome survives', async () => {
    let client = await stack.connect();
    await waitForTerminalLink(client);
    const id = intentId('kill-final');
    await pay(client, id, 43000);
    client.close();
    client = await restart();
    const got = await client.request({ op: 'get', intentId: id });
    expect(got).toMatchObject({ type: 'reply', intent: { state: 'approved' } });
    expect(authsFor(stack, 43000)).toBe(1);
    client.close();
  });
});
