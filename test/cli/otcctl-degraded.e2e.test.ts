/**
 * otcctl against the real daemon when something is wrong, as a technician
 * meets it: no terminal attached (a serial device that does not exist), a
 * TCP terminal address where nothing listens, and a TCP peer that accepts
 * and never answers. What otcd logs at start, what `otcctl terminal ping`
 * says and what `otcctl status` prints and exits with.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import net from 'node:net';
import { startStack, type Stack } from '../../scripts/testkit/stack.js';
import { runCtl } from './run-otcctl.js';

/** The first JSON log record of the daemon with this message, waiting for it. */
async function logRecord(stack: Stack, msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    for (const line of stack.daemon.log) {
      if (!line.startsWith('{')) continue;
      const record = JSON.parse(line) as Record<string, unknown>;
      if (record.msg === msg) return record;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`otcd did not log "${msg}" within ${timeoutMs} ms:\n${stack.daemon.log.join('\n')}`);
}

/** A TCP port that was free a moment ago: nothing listens on it. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('no terminal attached: the serial device does not exist', () => {
  let stack: Stack;
  const device = `/dev/otcd-e2e-missing-${process.pid}`;

  beforeAll(async () => {
    stack = await startStack({ terminalAddress: device });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('otcd logs why the port is not open: the errno and what to check, never an empty error', async () => {
    const record = await logRecord(stack, 'terminal port not open');
    expect(record.reason).toBe(`ENOENT: ${device} does not exist: the terminal's USB adapter is not plugged in, or the udev rule (99-otcd-terminal.rules, its USB ids) did not name it; check \`ls -l ${device}\` and \`lsusb\``);
    expect(record.level).toBe('warn');
    expect(stack.daemon.log.join('\n')).not.toContain('Error: "');
  });

  test('terminal ping: TERMINAL_UNAVAILABLE with the address and what to check, exit 1 (not INTERNAL)', async () => {
    const r = await runCtl(['terminal', 'ping', '--socket', stack.socketPath]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`otcctl: otcd: TERMINAL_UNAVAILABLE: the terminal link is down at ${device} (otcd keeps reconnecting): check the terminal's power and cable, that its USB adapter is plugged in, and \`ls -l ${device}\` (the udev rule 99-otcd-terminal.rules names it)\n`);
    process.stdout.write(`otcctl terminal ping, no terminal attached (exit ${r.code}):\n${r.stderr}`);
    const json = await runCtl(['terminal', 'ping', '--json', '--socket', stack.socketPath]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'TERMINAL_UNAVAILABLE' } });
  });

  test('status: DEGRADED, exit 4, the reason with what to do; --json carries the verdict', async () => {
    const r = await runCtl(['status', '--socket', stack.socketPath]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^terminal +DOWN \\(${device}\\)$`, 'm'));
    expect(r.stdout).toMatch(/^state +DEGRADED \(1 thing\(s\) to fix\)$/m);
    expect(r.stdout).toContain(`  - the terminal link is down at ${device}; payments fail until it is back: check the terminal's power and cable`);
    process.stdout.write(`otcctl status, no terminal attached (exit ${r.code}):\n${r.stdout}`);
    const json = await runCtl(['status', '--json', '--socket', stack.socketPath]);
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toMatchObject({ verdict: { state: 'degraded', reasons: [{ code: 'TERMINAL_DOWN' }] } });
  });
});

describe('a TCP terminal address where nothing listens', () => {
  let stack: Stack;
  let address: string;

  beforeAll(async () => {
    address = `tcp://127.0.0.1:${await freePort()}`;
    stack = await startStack({ terminalAddress: address });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  test('the log and status speak of host, port, network and ser2net, not of a USB adapter', async () => {
    const record = await logRecord(stack, 'terminal port not open');
    expect(record.reason).toBe(`ECONNREFUSED: nothing listens at ${address}: the terminal (or ser2net) is off, or listens on another port; check terminal.address`);
    const r = await runCtl(['status', '--socket', stack.socketPath]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`  - the terminal link is down at ${address}; payments fail until it is back: check that the terminal (or the ser2net serving it) is on and listening at ${address}, and the network and firewall between this kiosk and it`);
    expect(r.stdout + stack.daemon.log.join('\n')).not.toMatch(/USB|udev/);
  });
});

describe('a TCP peer that accepts and never answers', () => {
  let stack: Stack;
  let silent: net.Server;
  let address: string;
  const peers: net.Socket[] = [];

  beforeAll(async () => {
    silent = net.createServer((socket) => {
      peers.push(socket);
      socket.resume(); // reads everything, answers nothing
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    address = `tcp://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    stack = await startStack({ terminalAddress: address });
    const client = await stack.connect();
    try {
      // The port opens (up), then the first PING gets no answer (not_answering).
      for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
        const health = (await client.request({ op: 'health' })).health as { terminal: { link: string } };
        if (health.terminal.link === 'not_answering') break;
      }
    } finally {
      client.close();
    }
  });

  test('status: DEGRADED, the terminal not answering, with what to check; exit 4', async () => {
    const r = await runCtl(['status', '--socket', stack.socketPath]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`the terminal at ${address} does not answer (the port is open); payments fail until it does: check that the terminal is switched on`);
    process.stdout.write(`otcctl status, silent TCP peer (exit ${r.code}):\n${r.stdout}`);
  });
  afterAll(async () => {
    await stack?.stop();
    for (const p of peers) p.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  test('terminal ping: TERMINAL_NOT_ANSWERING, the port is open, what to check; exit 1', async () => {
    const r = await runCtl(['terminal', 'ping', '--socket', stack.socketPath], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^otcctl: otcd: TERMINAL_NOT_ANSWERING: the terminal at ${address.replace(/[.]/g, '\\.')} did not answer the PING \\(the port is open; terminal did not acknowledge PING after 4 sends .*\\): check that the terminal is switched on and that what listens at ${address.replace(/[.]/g, '\\.')} is the terminal's ecr1 port \\(ser2net: with the terminal's baud rate\\)\\n$`));
    process.stdout.write(`otcctl terminal ping, silent TCP peer (exit ${r.code}):\n${r.stderr}`);
  }, 60_000);
});
