/**
 * otcctl against the real daemon when something is wrong, as a technician
 * meets it: no terminal attached (a serial device that does not exist), a
 * TCP terminal address where nothing listens, and a TCP peer that accepts
 * and never answers. What otcd logs at start, what `otcctl terminal ping`
 * says and what `otcctl status` prints and exits with.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import net from 'node:net';
import { startStack, type Stack, waitForTerminalLink } from '../../scripts/lib/stack.js';
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
    expect(r.stderr).toBe(`otcctl: otcd: TERMINAL_UNAVAILABLE: the terminal link is down at ${device} (otcd keeps reconnecting). Check the terminal's cable and power, the USB adapter, and that ${device} exists (the udev rule names it)\n`);
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
    expect(r.stdout).toContain(`  - the terminal link is down at ${device}; payments fail until it is back. Check the terminal's cable and power, the USB adapter, and that ${device} exists (the udev rule names it)\n`);
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

  test('the log and status speak of host, port, network and the serial server, not of a USB adapter', async () => {
    const record = await logRecord(stack, 'terminal port not open');
    expect(record.reason).toBe(`ECONNREFUSED: nothing listens at ${address}: the terminal (or ser2net) is off, or listens on another port; check terminal.address`);
    const r = await runCtl(['status', '--socket', stack.socketPath]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`  - the terminal link is down at ${address}; payments fail until it is back. Check that the terminal (or its serial server) is on and reachable at ${address.slice('tcp://'.length)} from this kiosk, and the network between them\n`);
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
      await waitForTerminalLink(client);
    } finally {
      client.close();
    }
  });
  afterAll(async () => {
    await stack?.stop();
    for (const p of peers) p.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  test('terminal ping: TERMINAL_NOT_ANSWERING, the port is open, what to check; exit 1', async () => {
    const r = await runCtl(['terminal', 'ping', '--socket', stack.socketPath], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`otcctl: otcd: TERMINAL_NOT_ANSWERING: the terminal at ${address} did not answer the PING (the port is open; terminal did not acknowledge PING after 4 sends (last: no ACK)). The connection is accepted but nothing answers: check that the terminal behind the serial server is powered and in ECR mode, and the server's serial settings\n`);
    process.stdout.write(`otcctl terminal ping, silent TCP peer (exit ${r.code}):\n${r.stderr}`);
  }, 60_000);

  test('status: NOT ANSWERING, DEGRADED, exit 4', async () => {
    const until = Date.now() + 30_000;
    let r = await runCtl(['status', '--socket', stack.socketPath]);
    while (r.code !== 4 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      r = await runCtl(['status', '--socket', stack.socketPath]);
    }
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^terminal +NOT ANSWERING \\(port open at ${address.replace(/[.]/g, '\\.')}\\)$`, 'm'));
    expect(r.stdout).toContain(`  - the terminal at ${address} does not answer (the port is open); payments fail until it does. The connection is accepted but nothing answers`);
    process.stdout.write(`otcctl status, silent TCP peer (exit ${r.code}):\n${r.stdout}`);
  }, 60_000);
});
