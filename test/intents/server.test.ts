/**
 * The intent server over real Unix sockets in a temp dir, with the in-memory
 * PaymentService double (the real engine runs in the end-to-end suite).
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntentServer, IntentServerError, type IntentServerOptions } from '../../daemon/intents/server.js';
import { OtcdError } from '../../drivers/errors.js';
import { IntentError } from '../../daemon/payments/model.js';
import { FakePaymentService } from './fake-payment-service.js';
import { eventually, LineClient } from './line-client.js';

const PAY = { op: 'pay', intentId: 'order-1', authorizationId: 'AUTH1', amount: 12000, installment: 0 };

let dir: string;
let path: string;
let service: FakePaymentService;
const servers: IntentServer[] = [];
const clients: LineClient[] = [];

async function start(opts: Partial<IntentServerOptions> = {}): Promise<IntentServer> {
  const server = new IntentServer({ service, path, ...opts });
  await server.listen();
  servers.push(server);
  return server;
}

async function connect(): Promise<LineClient> {
  const client = await LineClient.connect(path);
  clients.push(client);
  return client;
}

async function listenError(server: IntentServer): Promise<OtcdError> {
  try {
    await server.listen();
  } catch (err) {
    expect(err).toBeInstanceOf(OtcdError);
    return err as OtcdError;
  }
  throw new Error('listen() should have failed');
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'otcd-intents-'));
  path = join(dir, 'run', 'otcd.sock');
  service = new FakePaymentService();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('binding the socket', () => {
  test('creates the missing directory 0755, the socket 0660 with the group, and removes it on close', async () => {
    const groupFile = join(dir, 'group');
    writeFileSync(groupFile, 'root:x:0:\nkiosk:x:4242:app\n');
    const umask = process.umask(0o022);
    const server = await start({ group: 'kiosk', groupFile });
    expect(process.umask(umask)).toBe(0o022); // restored after the bind
    expect(lstatSync(join(dir, 'run')).mode & 0o777).toBe(0o755);
    const st = lstatSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.gid).toBe(4242);
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  test('an explicit mode is applied', async () => {
    await start({ mode: 0o600 });
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
  });

  test('an unknown group name fails with GROUP_NOT_FOUND and leaves no socket', async () => {
    const groupFile = join(dir, 'group');
    writeFileSync(groupFile, 'root:x:0:\n');
    const err = await listenError(new IntentServer({ service, path, group: 'nokiosk', groupFile }));
    expect(err.code).toBe('GROUP_NOT_FOUND');
    expect(existsSync(path)).toBe(false);
  });

  test('a stale socket file from a crash is replaced', async () => {
    rmSync(dir, { recursive: true, force: true });
    // A process that binds and dies without closing leaves the socket file behind.
    const crashed = spawnSync(process.execPath, ['-e',
      `require('fs').mkdirSync(${JSON.stringify(join(dir, 'run'))},{recursive:true});` +
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(crashed.signal).toBe('SIGKILL');
    expect(lstatSync(path).isSocket()).toBe(true);
    await start();
    const client = await connect();
    expect(await client.request({ op: 'health', req: 'h' })).toMatchObject({ type: 'reply', req: 'h' });
  });

  test('a live daemon on the path is not stolen: ALREADY_RUNNING', async () => {
    await start();
    const second = new IntentServer({ service, path });
    const err = await listenError(second);
    expect(err).toBeInstanceOf(IntentServerError);
    expect(err.code).toBe('ALREADY_RUNNING');
    const client = await connect();
    expect(await client.request({ op: 'health', req: 'still-me' })).toMatchObject({ type: 'reply', req: 'still-me' });
  });

  test('a regular file at the path is refused and left alone', async () => {
    mkdirSync(join(dir, 'run'));
    writeFileSync(path, 'precious');
    const err = await listenError(new IntentServer({ service, path }));
    expect(err.code).toBe('NOT_A_SOCKET');
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });
});

describe('lines', () => {
  test('a line over 16 KiB gets LINE_TOO_LONG and the connection closes', async () => {
    await start();
    const client = await connect();
    client.send('x'.repeat(16385) + '\n');
    expect(await client.next()).toEqual({
      type: 'error', code: 'LINE_TOO_LONG', message: 'line longer than 16384 bytes; the connection is closed',
    });
    await client.waitClosed();
  });

  test('a long line is refused before its newline arrives, without waiting for more', async () => {
    await start();
    const client = await connect();
    client.send('{"op":"health","pad":"' + 'x'.repeat(20000));
    expect(await client.next()).toMatchObject({ type: 'error', code: 'LINE_TOO_LONG' });
    await client.waitClosed();
  });

  test('a request of exactly 16384 bytes is served', async () => {
    await start();
    const client = await connect();
    const head = '{"op":"health","req":"big","pad":"';
    const line = head + 'x'.repeat(16384 - head.length - 2) + '"}';
    expect(Buffer.byteLength(line)).toBe(16384);
    expect(await client.request(line + '\n')).toMatchObject({ type: 'reply', req: 'big' });
  });

  test('binary garbage gets BAD_REQUEST and the connection stays', async () => {
    await start();
    const client = await connect();
    client.send(Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a]));
    expect(await client.next()).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    client.send('not json\n');
    expect(await client.next()).toMatchObject({ type: 'error', code: 'BAD_REQUEST', message: 'line is not valid JSON: send one JSON object per line' });
    client.send({ op: 'refund', req: 'r' });
    expect(await client.next()).toMatchObject({ type: 'error', req: 'r', code: 'UNKNOWN_OP' });
    expect(await client.request({ op: 'health', req: 'after' })).toMatchObject({ type: 'reply', req: 'after' });
  });

  test('half a line, then the rest; two lines in one write; CRLF; empty lines', async () => {
    await start();
    const client = await connect();
    client.send('{"op":"health",');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.pending).toEqual([]);
    client.send('"req":"half"}\r\n\n{"op":"health","req":"second"}\n');
    const [a, b] = await client.take(2);
    expect(a).toMatchObject({ type: 'reply', req: 'half' });
    expect(b).toMatchObject({ type: 'reply', req: 'second' });
  });

  test('a client that closes its side after a request still gets the answer, then EOF', async () => {
    await start();
    const client = await connect();
    client.socket.end('{"op":"health","req":"last"}');
    expect(await client.next()).toMatchObject({ type: 'reply', req: 'last', health: { version: '0.1.0-test' } });
    await client.waitClosed();
  });
});

describe('requests', () => {
  test('pay: reply first, then events in order until final', async () => {
    await start();
    const client = await connect();
    const reply = await client.request({ ...PAY, req: 'p1' });
    expect(reply).toMatchObject({ type: 'reply', req: 'p1', intent: { intentId: 'order-1', state: 'accepted', amount: 12000 } });
    service.emit('order-1', 'inquiring');
    service.emit('order-1', 'delivering');
    service.emit('order-1', 'processing');
    service.emit('order-1', 'approved', { approvalNo: '30012345', maskedPan: '941012******9012' });
    const events = await client.take(4);
    expect(events.map((e) => [e.type, e.intentId, e.state])).toEqual([
      ['event', 'order-1', 'inquiring'], ['event', 'order-1', 'delivering'],
      ['event', 'order-1', 'processing'], ['event', 'order-1', 'approved'],
    ]);
    expect(events[3]).toMatchObject({ approvalNo: '30012345', maskedPan: '941012******9012' });
    expect(service.listenerCount('order-1')).toBe(0);
  });

  test('events delivered before the reply is written come after it', async () => {
    await start();
    let release!: () => void;
    service.payGate = new Promise((resolve) => { release = resolve; });
    service.onPaySubscribed = (id) => {
      service.emit(id, 'inquiring');
    };
    const client = await connect();
    client.send({ ...PAY, req: 'p1' });
    await eventually(() => service.intents.get('order-1')?.view.state === 'inquiring', 'the first event');
    service.emit('order-1', 'delivering');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(client.pending).toEqual([]);
    release();
    const messages = await client.take(3);
    expect(messages.map((m) => m.type === 'reply' ? 'reply' : m.state)).toEqual(['reply', 'inquiring', 'delivering']);
  });

  test('requests on one connection are answered in order: a slow pay is not overtaken', async () => {
    await start();
    service.intents.clear();
    let release!: () => void;
    service.payGate = new Promise((resolve) => { release = resolve; });
    const client = await connect();
    client.send({ ...PAY, req: 'slow' });
    client.send({ op: 'health', req: 'quick' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.pending).toEqual([]);
    release();
    const [a, b] = await client.take(2);
    expect([a.req, b.req]).toEqual(['slow', 'quick']);
  });

  test('get without follow: reply only; with follow: events until final', async () => {
    await start();
    const payer = await connect();
    await payer.request(PAY);
    const reader = await connect();
    expect(await reader.request({ op: 'get', req: 'g', intentId: 'order-1' }))
      .toMatchObject({ type: 'reply', req: 'g', intent: { state: 'accepted' } });
    expect(service.listenerCount('order-1')).toBe(1); // the payer only
    expect(await reader.request({ op: 'get', req: 'f', intentId: 'order-1', follow: true }))
      .toMatchObject({ type: 'reply', req: 'f', intent: { state: 'accepted' } });
    service.emit('order-1', 'declined', { code: '51', message: 'insufficient funds' });
    expect(await reader.next()).toMatchObject({ type: 'event', state: 'declined', code: '51' });
    expect(await payer.next()).toMatchObject({ type: 'event', state: 'declined' });
    expect(await reader.request({ op: 'get', req: 'g2', intentId: 'nope' }))
      .toEqual({ type: 'error', req: 'g2', code: 'NOT_FOUND', message: 'no intent nope' });
  });

  test('pay again on the same connection does not duplicate events', async () => {
    await start();
    const client = await connect();
    await client.request(PAY);
    expect(await client.request({ ...PAY, req: 'again' })).toMatchObject({ req: 'again', intent: { state: 'accepted' } });
    service.emit('order-1', 'failed', { code: 'TERMINAL_UNAVAILABLE', message: 'no terminal' });
    expect(await client.next()).toMatchObject({ state: 'failed' });
    expect(await client.request({ op: 'health', req: 'h' })).toMatchObject({ req: 'h' });
  });

  test('cancel: reply with the state, final state as an event', async () => {
    await start();
    const client = await connect();
    await client.request(PAY);
    service.emit('order-1', 'inquiring');
    expect(await client.next()).toMatchObject({ state: 'inquiring' });
    const other = await connect();
    expect(await other.request({ op: 'cancel', req: 'c', intentId: 'order-1' }))
      .toMatchObject({ type: 'reply', req: 'c', intent: { state: 'cancelled' } });
    expect(await client.next()).toMatchObject({ type: 'event', state: 'cancelled' });
    expect(await other.request({ op: 'health', req: 'h' })).toMatchObject({ type: 'reply', req: 'h' });
  });

  test('cancel too late: the reply has the state now, the outcome follows', async () => {
    await start();
    const payer = await connect();
    await payer.request(PAY);
    service.emit('order-1', 'processing');
    const other = await connect();
    expect(await other.request({ op: 'cancel', req: 'c', intentId: 'order-1' }))
      .toMatchObject({ req: 'c', intent: { state: 'processing' } });
    service.emit('order-1', 'approved', { approvalNo: '1', maskedPan: '941012******9012' });
    expect(await other.next()).toMatchObject({ type: 'event', state: 'approved' });
  });

  test('engine errors: an IntentError passes through, anything else is INTERNAL without details', async () => {
    await start();
    const client = await connect();
    await client.request(PAY);
    expect(await client.request({ ...PAY, intentId: 'order-2', req: 'b' }))
      .toMatchObject({ type: 'error', req: 'b', code: 'BUSY' });
    expect(await client.request({ ...PAY, amount: 1, req: 'c' }))
      .toMatchObject({ type: 'error', req: 'c', code: 'CONFLICT' });
    service.failNext = new Error('ENOENT /var/lib/otcd/ledger secret detail');
    const internal = await client.request({ op: 'get', req: 'i', intentId: 'order-1' });
    expect(internal).toEqual({ type: 'error', req: 'i', code: 'INTERNAL', message: 'get failed inside the daemon; see its log' });
    service.failNext = new Error('health blew up');
    expect(await client.request({ op: 'health', req: 'h' })).toMatchObject({ code: 'INTERNAL' });
    expect(await client.request({ op: 'health', req: 'h2' })).toMatchObject({ type: 'reply', req: 'h2' });
  });

  test('health reply', async () => {
    await start();
    const client = await connect();
    expect(await client.request({ op: 'health', req: 'h' })).toEqual({ type: 'reply', req: 'h', health: service.health() });
  });

  test('terminal.ping: result, driver failure, and absent', async () => {
    let fail: Error | undefined;
    await start({
      pingTerminal: async () => {
        if (fail !== undefined) throw fail;
        return { terminalId: 'T-1', state: 'idle', rttMs: 12 };
      },
    });
    const client = await connect();
    expect(await client.request({ op: 'terminal.ping', req: 'p' }))
      .toEqual({ type: 'reply', req: 'p', ping: { terminalId: 'T-1', state: 'idle', rttMs: 12 } });
    fail = new OtcdError('ACK_TIMEOUT', 'the terminal did not acknowledge within 1000 ms; check the cable');
    expect(await client.request({ op: 'terminal.ping', req: 'p2' })).toEqual({
      type: 'error', req: 'p2', code: 'INTERNAL',
      message: 'terminal ping failed: ACK_TIMEOUT: the terminal did not acknowledge within 1000 ms; check the cable',
    });
    fail = new TypeError('x is undefined');
    expect(await client.request({ op: 'terminal.ping', req: 'p3' }))
      .toEqual({ type: 'error', req: 'p3', code: 'INTERNAL', message: 'terminal.ping failed inside the daemon; see its log' });
    fail = new IntentError('BUSY', 'a payment is using the terminal');
    expect(await client.request({ op: 'terminal.ping', req: 'p4' })).toMatchObject({ code: 'BUSY' });

    await servers.pop()?.close();
    await start();
    const plain = await connect();
    expect(await plain.request({ op: 'terminal.ping', req: 'p' })).toMatchObject({ type: 'error', req: 'p', code: 'UNKNOWN_OP' });
  });

  test('shutting down: pay gets SHUTTING_DOWN; get, cancel and health are answered', async () => {
    const server = await start();
    const client = await connect();
    await client.request(PAY);
    server.setShuttingDown();
    expect(await client.request({ ...PAY, intentId: 'order-2', req: 's' })).toEqual({
      type: 'error', req: 's', code: 'SHUTTING_DOWN',
      message: 'the daemon is shutting down and takes no new payment; retry when it is back',
    });
    expect(await client.request({ op: 'get', req: 'g', intentId: 'order-1' })).toMatchObject({ type: 'reply', req: 'g' });
    expect(await client.request({ op: 'health', req: 'h' })).toMatchObject({ type: 'reply', req: 'h' });
    // The payer cancels: its reply first, then the event that ends its pay stream.
    client.send({ op: 'cancel', req: 'c', intentId: 'order-1' });
    const [reply, event] = await client.take(2);
    expect(reply).toMatchObject({ type: 'reply', req: 'c', intent: { state: 'cancelled' } });
    expect(event).toMatchObject({ type: 'event', state: 'cancelled' });
  });
});

describe('clients', () => {
  test('100 clients at once', async () => {
    const server = await start({ maxClients: 128 });
    const many = await Promise.all(Array.from({ length: 100 }, () => connect()));
    await eventually(() => server.clientCount === 100, '100 clients');
    const replies = await Promise.all(many.map((c, i) => c.request({ op: 'health', req: `c${i}` })));
    expect(replies.map((r) => r.req)).toEqual(many.map((_, i) => `c${i}`));
    for (const c of many) c.close();
    await eventually(() => server.clientCount === 0, 'all gone');
  });

  test('over maxClients: the new client is told why and closed; the others carry on', async () => {
    const server = await start({ maxClients: 2 });
    const a = await connect();
    const b = await connect();
    await eventually(() => server.clientCount === 2, 'two clients');
    const c = await connect();
    expect(await c.next()).toEqual({
      type: 'error', code: 'INTERNAL', message: 'too many clients (2 connected); close idle connections and retry',
    });
    await c.waitClosed();
    expect(server.clientCount).toBe(2);
    expect(await a.request({ op: 'health', req: 'a' })).toMatchObject({ req: 'a' });
    b.close();
    await eventually(() => server.clientCount === 1, 'b gone');
    const d = await connect();
    expect(await d.request({ op: 'health', req: 'd' })).toMatchObject({ req: 'd' });
  });

  test('a client that disconnects mid-payment is unsubscribed; the payment goes on', async () => {
    const server = await start();
    const client = await connect();
    await client.request(PAY);
    expect(service.listenerCount('order-1')).toBe(1);
    client.close();
    await eventually(() => server.clientCount === 0, 'disconnect seen');
    expect(service.listenerCount('order-1')).toBe(0);
    service.emit('order-1', 'approved', { approvalNo: '7', maskedPan: '941012******9012' });
    const later = await connect();
    expect(await later.request({ op: 'get', req: 'g', intentId: 'order-1' }))
      .toMatchObject({ intent: { state: 'approved', approvalNo: '7' } });
  });

  test('a client that disconnects while its pay is in flight is unsubscribed when pay returns', async () => {
    const server = await start();
    let release!: () => void;
    service.payGate = new Promise((resolve) => { release = resolve; });
    const client = await connect();
    client.send(PAY);
    await eventually(() => service.listenerCount('order-1') === 1, 'pay subscribed');
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 30));
    release();
    await eventually(() => service.listenerCount('order-1') === 0, 'unsubscribed');
    await eventually(() => server.clientCount === 0, 'connection closed');
    expect(service.intents.get('order-1')?.view.state).toBe('accepted');
  });

  test('a slow reader that never reads is dropped; another client is unaffected', async () => {
    const server = await start({ maxPendingOutputBytes: 64 * 1024 });
    const payer = await connect();
    await payer.request(PAY);
    const slow = await connect();
    await slow.request({ op: 'get', req: 'f', intentId: 'order-1', follow: true });
    slow.socket.pause();
    const fast = await connect();
    await eventually(() => server.clientCount === 3, 'three clients');
    const message = 'm'.repeat(4000);
    let sent = 0;
    // Far more than the kernel's socket buffer plus the 64 KiB cap.
    while (server.clientCount === 3 && sent < 2000) {
      service.emit('order-1', 'inquiring', { message }, 1);
      sent++;
      if (sent % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      if (sent % 50 === 0) await payer.take(50);
    }
    await eventually(() => server.clientCount === 2, 'the slow reader dropped');
    expect(sent).toBeLessThan(2000);
    expect(await fast.request({ op: 'health', req: 'fast' })).toMatchObject({ type: 'reply', req: 'fast' });
    service.emit('order-1', 'approved', { approvalNo: '1', maskedPan: '941012******9012' });
    await eventually(() => service.listenerCount('order-1') === 0, 'all streams ended');
  });
});
