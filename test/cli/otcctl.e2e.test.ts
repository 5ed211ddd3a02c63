/**
 * otcctl against the real daemon: the provider stand-in over HTTPS, the
 * terminal simulator over TCP, otcd on a temporary socket, and the compiled
 * otcctl run as a child process, as a technician runs it. One stack for the
 * file (each start costs about a second).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmod, appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IntentClient } from '../../daemon/client/intent-client.js';
import { startStack, type Stack, waitForTerminalLink } from '../../scripts/testkit/stack.js';
import { removeOtcctlForNobody, runCtl } from './run-otcctl.js';

const FULL_PAN = '9410123456789012';
const AUTH = 'AUTH-OTCCTL-0001';

function authsOf(stack: Stack, amount: number): number {
  return (stack.sim?.events ?? []).filter((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.dup !== true && e.amount === amount).length;
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('otcctl with a running otcd', () => {
  let stack: Stack;
  let client: IntentClient;
  let sock: string[];

  beforeAll(async () => {
    stack = await startStack({ simArgs: ['--prog-sent-delay', '100', '--result-delay', '100'] });
    client = await stack.connect();
    await waitForTerminalLink(client);
    sock = ['--socket', stack.socketPath];
  });
  afterAll(async () => {
    client?.close();
    await stack?.stop();
    removeOtcctlForNobody();
  });

  test('status for people: version, uptime, link up with the terminal id, counters, provider, keys', async () => {
    const r = await runCtl(['status', ...sock]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^otcd +0\.1\.0, up \d+s$/m);
    expect(r.stdout).toMatch(/^terminal +up, SIM-T01 at tcp:\/\/127\.0\.0\.1:\d+$/m);
    expect(r.stdout).toMatch(/^last PONG +\d\d:\d\d:\d\d \(\d+s ago\)$/m);
    expect(r.stdout).toMatch(/framesSent \d+ +framesReceived \d+/);
    expect(r.stdout).toMatch(/^provider +https:\/\/127\.0\.0\.1:\d+$/m);
    expect(r.stdout).toMatch(/^keys +\d+ ready$/m);
    expect(r.stdout).toMatch(/^payment +none$/m);
    expect(r.stdout).not.toContain('{');
    process.stdout.write(`otcctl status (human form), from this run:\n${r.stdout}`);
  });

  test('status --json is one JSON document with the health fields; socket from --config', async () => {
    const r = await runCtl(['status', '--json', '--config', stack.configPath]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { socket: string; health: Record<string, unknown> };
    expect(doc.socket).toBe(stack.socketPath);
    expect(doc.health).toMatchObject({
      version: '0.1.0',
      terminal: { link: 'up', terminalId: 'SIM-T01', counters: { framesSent: expect.any(Number) } },
      provider: { baseUrl: stack.standin.baseUrl },
      keys: { ready: expect.any(Number) },
    });
    expect(typeof doc.health.uptimeS).toBe('number');
  });

  test('the socket comes from $OTCD_CONFIG too', async () => {
    const r = await runCtl(['status', '--json'], { env: { OTCD_CONFIG: stack.configPath } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ socket: stack.socketPath });
  });

  test('terminal ping prints the round-trip time; --json has rttMs as a number', async () => {
    const human = await runCtl(['terminal', 'ping', ...sock]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^PONG from terminal SIM-T01 \(state IDLE\) in \d+\.\d ms\n$/);
    const json = await runCtl(['terminal', 'ping', '--json', ...sock]);
    expect(json.code).toBe(0);
    const { ping } = JSON.parse(json.stdout) as { ping: { terminalId: string; state: string; rttMs: number } };
    expect(ping.terminalId).toBe('SIM-T01');
    expect(ping.rttMs).toBeGreaterThan(0);
    expect(ping.rttMs).toBeLessThan(5_000);
  });

  test('pay approved: exit 0, every event printed in order, masked card only', async () => {
    const r = await runCtl(['pay', '--amount', '12000', '--authorization-id', AUTH, ...sock]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^paying 12,000 KRW, lump sum; intent otcctl-\d{8}-\d{6}-[0-9a-f]{6}$/m);
    const states = [...r.stdout.matchAll(/^\d\d:\d\d:\d\d\.\d{3} {2}(\w+)/gm)].map((m) => m[1]);
    expect(states).toEqual(['accepted', 'inquiring', 'delivering', 'processing', 'approved']);
    expect(r.stdout).toMatch(/approved +approval \d{8} {2}card 941012\*{6}9012/);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('APPROVED');
    expect(r.stdout + r.stderr).not.toContain(FULL_PAN);
    expect(r.stdout + r.stderr).not.toContain(AUTH);
  });

  test('pay --json prints each message as a JSON line; a repeated pay with the same --intent-id is the same payment', async () => {
    const id = `ctl-json-${process.pid}`;
    const r = await runCtl(['pay', '--json', '--amount', '12000', '--authorization-id', AUTH, '--intent-id', id, ...sock]);
    expect(r.code).toBe(0);
    const lines = jsonLines(r.stdout);
    expect(lines[0]).toMatchObject({ type: 'reply', intent: { intentId: id, state: 'accepted', amount: 12000 } });
    expect(lines.slice(1).map((l) => l.state)).toEqual(['inquiring', 'delivering', 'processing', 'approved']);
    expect(lines.at(-1)).toMatchObject({ type: 'event', intentId: id, maskedPan: '941012******9012' });
    expect(r.stdout).not.toContain(FULL_PAN);

    const again = await runCtl(['pay', '--json', '--amount', '12000', '--authorization-id', AUTH, '--intent-id', id, ...sock]);
    expect(again.code).toBe(0);
    expect(jsonLines(again.stdout)).toEqual([expect.objectContaining({ type: 'reply', intent: expect.objectContaining({ intentId: id, state: 'approved' }) })]);
  });

  test('pay declined (amount 12051): exit 1 with the terminal code and message', async () => {
    const r = await runCtl(['pay', '--amount', '12051', '--authorization-id', AUTH, ...sock]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/declined +card 941012\*{6}9012 {2}51 {2}INSUFFICIENT FUNDS/);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('NOT APPROVED: declined');
  });

  test('Ctrl-C while processing (slow amount ...077, before SENT) sends cancel: cancelled, exit 1', async () => {
    let interrupted = false;
    const r = await runCtl(['pay', '--amount', '12077', '--authorization-id', AUTH, ...sock], {
      onStdout: (soFar, child) => {
        if (!interrupted && /processing/.test(soFar)) {
          interrupted = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(interrupted).toBe(true);
    expect(r.code).toBe(1);
    expect(r.signal).toBeNull();
    expect(r.stderr).toContain('Ctrl-C: cancelling');
    expect(r.stderr).toMatch(/cancel sent; otcd says: (processing|cancelled)/);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {2}cancelled/m);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe('NOT APPROVED: cancelled');
    // The simulator saw the cancel: no PROG SENT for that AUTH.
    expect(stack.sim?.events.some((e) => e.ev === 'rx' && e.cmd === 'CNCL')).toBe(true);
  });

  test('pay while another payment runs: BUSY, exit 1, nothing paid', async () => {
    const other = `ctl-busy-${process.pid}`;
    const first = await client.request({ op: 'pay', intentId: other, authorizationId: AUTH, amount: 13077, installment: 0 });
    expect(first.type).toBe('reply');
    try {
      const r = await runCtl(['pay', '--amount', '13000', '--authorization-id', AUTH, ...sock]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^otcd: BUSY: /m);
      expect(r.stdout).toMatch(/NOT PAID: otcd refused the payment \(BUSY: /);
    } finally {
      await client.request({ op: 'cancel', intentId: other });
      await client.finalEvent(other, 30_000);
    }
  });

  test('payments --last N: the newest N from the ledger, human and --json', async () => {
    const human = await runCtl(['payments', '--last', '3', '--config', stack.configPath]);
    expect(human.code).toBe(0);
    const rows = human.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^created +intent +amount +inst +state +try +outcome$/);
    expect(rows).toHaveLength(4);
    expect(rows[1]).toMatch(/12,051 KRW +0 +declined +1 +51 INSUFFICIENT FUNDS/);
    expect(rows[2]).toMatch(/12,077 KRW +0 +cancelled/);
    expect(rows[3]).toMatch(/13,077 KRW +0 +cancelled/);

    const json = await runCtl(['payments', '--last', '5', '--json', '--state-dir', stack.stateDir]);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as { ledger: string; skippedLines: number; payments: Array<Record<string, unknown>> };
    expect(doc.ledger).toBe(join(stack.stateDir, 'ledger.jsonl'));
    expect(doc.payments.map((p) => [p.amount, p.state])).toEqual([
      [12000, 'approved'], [12000, 'approved'], [12051, 'declined'], [12077, 'cancelled'], [13077, 'cancelled'],
    ]);
    expect(doc.payments[0]).toMatchObject({ maskedPan: '941012******9012', installment: 0, attempt: 1 });
    expect(Object.keys(doc.payments[0]).sort()).toEqual(
      ['amount', 'approvalNo', 'attempt', 'createdAt', 'installment', 'intentId', 'maskedPan', 'state', 'updatedAt'].sort());
    expect(json.stdout).not.toContain('authHash');
  });

  test('permission denied on the socket (run as nobody): exit 3 and the group hint', async () => {
    // The stack's dir is 0700; 0711 lets nobody reach the socket, whose own mode (0660, root) refuses it.
    await chmod(stack.dir, 0o711);
    try {
      const r = await runCtl(['status', ...sock], { asNobody: true });
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`otcctl: permission denied on ${stack.socketPath}: add your user to group otcd (usermod -aG otcd $USER, then log in again)\n`);
      expect(r.stdout).toBe('');
      const ledger = await runCtl(['payments', '--state-dir', stack.stateDir], { asNobody: true });
      expect(ledger.code).toBe(3);
      // the stack's state directory is root's (group root, 0750): the message names that group
      expect(ledger.stderr).toBe(`otcctl: permission denied on ${join(stack.stateDir, 'ledger.jsonl')}: you (nobody) are not in group root, which may read otcd's state directory ${stack.stateDir}: sudo usermod -aG root nobody, then log in again\n`);
    } finally {
      await chmod(stack.dir, 0o700);
    }
  });

  test('a second Ctrl-C stops waiting (exit 2); the same --intent-id follows the payment again; otcd dying mid-payment is exit 2', async () => {
    // ...066: the terminal goes silent after the AUTH, so the cancel cannot finish the payment.
    const id = `ctl-silent-${process.pid}`;
    const args = ['pay', '--amount', '14066', '--authorization-id', AUTH, '--intent-id', id, ...sock];
    let interrupts = 0;
    const first = await runCtl(args, {
      onStdout: (soFar, child) => {
        if (interrupts === 0 && /processing/.test(soFar)) {
          interrupts = 1;
          child.kill('SIGINT');
        }
      },
      onStderr: (soFar, child) => {
        if (interrupts === 1 && /cancel sent; otcd says: processing/.test(soFar)) {
          interrupts = 2;
          child.kill('SIGINT');
        }
      },
    });
    expect(interrupts).toBe(2);
    expect(first.code).toBe(2);
    expect(first.stderr).toContain(`stopped waiting: the payment ${id} goes on in otcd`);
    expect(first.stdout.trimEnd().split('\n').pop()).toBe('OUTCOME UNKNOWN: see otcctl payments');

    let killed = false;
    const again = await runCtl(args, {
      onStdout: (soFar) => {
        if (!killed && /processing/.test(soFar)) {
          killed = true;
          void stack.daemon.kill();
        }
      },
    });
    expect(killed).toBe(true);
    expect(again.code).toBe(2);
    expect(again.stdout).toMatch(/^ *\S* +processing/m);
    expect(again.stderr).toContain('lost otcd before the final state');
    expect(again.stderr).toContain(`--intent-id ${id}`);
    expect(authsOf(stack, 14066)).toBe(1);
  });

  test('with otcd dead, payments still reads the ledger and skips a torn last line; status is exit 3', async () => {
    const path = join(stack.stateDir, 'ledger.jsonl');
    await appendFile(path, '{"id":"torn-by-power-loss","st":"appro');
    expect((await readFile(path, 'utf8')).endsWith('"appro')).toBe(true);
    const list = await runCtl(['payments', '--last', '2', '--state-dir', stack.stateDir]);
    expect(list.code).toBe(0);
    const rows = list.stdout.trimEnd().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[2]).toMatch(new RegExp(`ctl-silent-${process.pid} +14,066 KRW +0 +processing`));
    expect(list.stdout).not.toContain('torn-by-power-loss');
    expect(list.stderr).toContain('1 unreadable line(s)');

    // SIGKILL leaves the socket file behind: nothing listens on it.
    const status = await runCtl(['status', ...sock]);
    expect(status.code).toBe(3);
    expect(status.stderr).toBe(`otcctl: nothing listens on ${stack.socketPath}: otcd is not running (systemctl status otcd)\n`);
  });
});
