/**
 * The terminal as a technician meets it, with the real daemon: a port that
 * accepts and never answers shows as `not_answering` (health, with a hint
 * for a tcp:// terminal), and a payment then ends failed
 * TERMINAL_UNAVAILABLE after terminal_wait_s, having inquired nothing at the
 * provider; a terminal that is not there at all is `down`, the same.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { IntentClient } from '../../daemon/client/intent-client.js';
import { startStack, type Stack } from '../../scripts/testkit/stack.js';

interface Health { terminal: { link: string; hint?: string; counters: Record<string, number> } }

async function healthOf(client: IntentClient): Promise<Health> {
  return (await client.request({ op: 'health' })).health as Health;
}

async function waitForLink(client: IntentClient, link: string, timeoutMs = 30_000): Promise<Health> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const health = await healthOf(client);
    if (health.terminal.link === link) return health;
    if (Date.now() > until) throw new Error(`terminal link never became ${link}: ${JSON.stringify(health.terminal)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a terminal that is connected but silent', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let stack: Stack;
  let client: IntentClient;

  beforeAll(async () => {
    silent = createServer((socket) => { sockets.push(socket); socket.on('error', () => undefined); });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    stack = await startStack({ terminalAddress: `tcp://127.0.0.1:${port}`, config: { payment: ['terminal_wait_s = 4'], terminal: ['ping_interval_s = 2'] } });
    client = await stack.connect();
  });
  afterAll(async () => {
    client?.close();
    await stack?.stop();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  test('health says not_answering with a hint for a tcp:// terminal', async () => {
    const health = await waitForLink(client, 'not_answering');
    expect(health.terminal.hint).toMatch(/ecr1 port/);
    expect(health.terminal.hint).not.toMatch(/USB/);
    expect(health.terminal.counters.framesReceived).toBe(0);
  });

  test('a payment ends failed TERMINAL_UNAVAILABLE within the wait, and nothing is inquired', async () => {
    const id = `silent-${process.pid}`;
    const startedAt = Date.now();
    await client.request({ op: 'pay', intentId: id, authorizationId: 'AUTH-SILENT-1', amount: 12000, installment: 0 });
    const final = await client.finalEvent(id, 30_000);
    const tookMs = Date.now() - startedAt;
    expect(final).toMatchObject({ state: 'failed', code: 'TERMINAL_UNAVAILABLE' });
    expect(String(final.message)).toMatch(/nothing was inquired or charged/);
    expect(tookMs).toBeGreaterThanOrEqual(3_500);
    expect(tookMs).toBeLessThan(20_000);
    expect(await stack.standin.fetchInquiries()).toEqual([]);
    expect(client.received.filter((m) => m.type === 'event' && m.intentId === id).map((m) => m.state)).toEqual(['failed']);
  });
});

describe('a terminal that is not there', () => {
  let stack: Stack | undefined;
  let client: IntentClient | undefined;
  afterEach(async () => {
    client?.close();
    await stack?.stop();
  });

  test('health says down with a hint naming the device; a payment fails TERMINAL_UNAVAILABLE without an inquiry', async () => {
    stack = await startStack({ terminalAddress: '/dev/otcd-no-such-terminal', config: { payment: ['terminal_wait_s = 2'] } });
    client = await stack.connect();
    const health = await waitForLink(client, 'down');
    expect(health.terminal.hint).toMatch(/\/dev\/otcd-no-such-terminal/);
    const id = `absent-${process.pid}`;
    await client.request({ op: 'pay', intentId: id, authorizationId: 'AUTH-ABSENT-1', amount: 12000, installment: 0 });
    expect(await client.finalEvent(id, 30_000)).toMatchObject({ state: 'failed', code: 'TERMINAL_UNAVAILABLE' });
    expect(await stack.standin.fetchInquiries()).toEqual([]);
  });
});
