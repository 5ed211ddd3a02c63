/**
 * otcctl without a daemon: --help on every command, usage errors (64),
 * configuration errors (78), and a daemon that is not there (3). Runs the
 * compiled tool as a child process.
 */
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCtl } from './run-otcctl.js';

const EXIT_CODE_LINES = ['0   ok; pay: approved', '2   pay: outcome unknown', '3   otcd not reachable', '64  usage error', '78  configuration error'];

describe('otcctl --help', () => {
  test.each([
    [['--help'], 'usage: otcctl <command>'],
    [['-h'], 'usage: otcctl <command>'],
    [['help'], 'usage: otcctl <command>'],
    [['status', '--help'], 'usage: otcctl status'],
    [['--help', 'status'], 'usage: otcctl status'],
    [['help', 'status'], 'usage: otcctl status'],
    [['terminal', '--help'], 'usage: otcctl terminal ping'],
    [['terminal', 'ping', '--help'], 'usage: otcctl terminal ping'],
    [['payments', '-h'], 'usage: otcctl payments'],
    [['pay', '--help'], 'usage: otcctl pay --amount N --authorization-id ID'],
    [['help', 'pay'], 'usage: otcctl pay --amount N --authorization-id ID'],
  ])('otcctl %j prints its help with the exit codes, exit 0', async (args, first) => {
    const r = await runCtl(args);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith(first)).toBe(true);
    for (const line of EXIT_CODE_LINES) expect(r.stdout).toContain(line);
  });

  test('the top help lists every command; --version prints the version', async () => {
    const help = await runCtl(['--help']);
    for (const name of ['status', 'terminal ping', 'payments', 'pay']) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    const version = await runCtl(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: 'otcctl 0.1.0\n' });
  });
});

describe('otcctl usage errors: exit 64, a message and where to find help', () => {
  test.each([
    [[], /no command given/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['status', '--bogus'], /Unknown option '--bogus'/],
    [['status', 'extra'], /unexpected argument "extra"/],
    [['status', '--socket'], /--socket/],
    [['terminal'], /"terminal" needs a subcommand: otcctl terminal ping/],
    [['terminal', 'pong'], /unknown command "terminal pong"/],
    [['help', 'nothing'], /no command "nothing"/],
    [['payments', '--last', '0'], /--last must be from 1 to 100000, not 0/],
    [['payments', '--last', 'ten'], /--last needs a whole number/],
    [['pay'], /--amount N is required/],
    [['pay', '--amount', '1,000', '--authorization-id', 'A'], /--amount needs a whole number from 1 to 999999999999, not "1,000"/],
    [['pay', '--amount', '0', '--authorization-id', 'A'], /--amount must be from 1/],
    [['pay', '--amount', '1000'], /--authorization-id ID is required/],
    [['pay', '--amount', '1000', '--authorization-id', 'has space'], /--authorization-id must be 1 to 60 printable/],
    [['pay', '--amount', '1000', '--authorization-id', 'A', '--installment', '37'], /--installment must be from 0 to 36/],
    [['pay', '--amount', '1000', '--authorization-id', 'A', '--intent-id', 'bad/id'], /--intent-id must be 1 to 64 characters/],
  ])('otcctl %j', async (args, message) => {
    const r = await runCtl(args);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/\(otcctl (\w+ )*--help for usage\)\n$/);
  });

  test('pay usage errors name pay --help', async () => {
    const r = await runCtl(['pay', '--amount', 'x', '--authorization-id', 'A']);
    expect(r.stderr).toContain('(otcctl pay --help for usage)');
  });
});

describe('otcctl when otcd is not there', () => {
  test('a socket path that does not exist: exit 3, the message as IntentClient words it', async () => {
    const r = await runCtl(['status', '--socket', '/nonexistent/otcd.sock']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('otcctl: no socket at /nonexistent/otcd.sock: is otcd running? (systemctl status otcd)\n');
  });

  test('--json puts the error on stdout as one JSON document too', async () => {
    const r = await runCtl(['terminal', 'ping', '--json', '--socket', '/nonexistent/otcd.sock']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'NOT_RUNNING', message: expect.stringContaining('no socket at /nonexistent/otcd.sock') } });
  });

  test('a stale socket file nobody listens on: exit 3, "nothing listens"', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'otcctl-'));
    const path = join(dir, 'stale.sock');
    try {
      // Bind and exit without unlinking: the file stays, nothing listens (as after a crash).
      execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', path]);
      const r = await runCtl(['pay', '--amount', '1000', '--authorization-id', 'A', '--socket', path]);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`otcctl: nothing listens on ${path}: otcd is not running (systemctl status otcd)\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an unreadable default configuration falls back to /run/otcd/otcd.sock, and says so once that fails', async () => {
    expect(existsSync('/run/otcd/otcd.sock')).toBe(false);
    const r = await runCtl(['status'], { env: { OTCD_CONFIG: '/nonexistent/otcd.toml' } });
    expect(r.code).toBe(3);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('otcctl: no socket at /run/otcd/otcd.sock: is otcd running? (systemctl status otcd)');
    expect(lines[1]).toMatch(/^otcctl: note: the configuration could not be used \(\/nonexistent\/otcd\.toml: no such file.*\), so otcctl tried the default \/run\/otcd\/otcd\.sock; pass --socket PATH or --config FILE$/);
  });

  test('payments with no ledger in the state directory: exit 78', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'otcctl-'));
    try {
      const r = await runCtl(['payments', '--state-dir', dir]);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain(`no payment ledger at ${join(dir, 'ledger.jsonl')}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('otcctl configuration errors: exit 78', () => {
  test('an explicit --config that does not exist', async () => {
    const r = await runCtl(['status', '--config', '/nonexistent/otcd.toml']);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/^otcctl: \/nonexistent\/otcd\.toml: no such file/);
  });

  test('an explicit --config that is not valid TOML', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'otcctl-'));
    const file = join(dir, 'otcd.toml');
    try {
      await writeFile(file, '[socket\npath = 1\n');
      const r = await runCtl(['payments', '--config', file]);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain(`${file}: TOML syntax error at line 1`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
