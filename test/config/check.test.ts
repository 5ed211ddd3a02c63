import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, test } from '@jest/globals';
import { parse } from 'smol-toml';
import { formatEffectiveConfig, HIDDEN, runCheckConfig } from '../../config/check.js';
import { loadConfig } from '../../config/load.js';
import { defaultConfig } from '../../config/schema.js';
import { ConfigDir } from './support.js';

const SHIPPED = new URL('../../config/otcd.toml', import.meta.url).pathname;
const dir = new ConfigDir();
afterAll(() => dir.remove());

/**
 * What this machine needs for the host checks to pass: a provider address,
 * no socket group (the test machine has no group otcd), a state directory
 * that can be made. Tests of the host checks themselves are in host-checks.test.ts.
 */
const READY_TO_START = (stateDir: string): string =>
  `[provider]\nbase_url = "https://api.example.com"\n[socket]\ngroup = ""\n[daemon]\nstate_dir = "${stateDir}"\n`;

async function check(file: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; lines: string[]; text: string }> {
  const lines: string[] = [];
  const code = await runCheckConfig(file, (l) => lines.push(l), { env });
  return { code, lines, text: lines.join('\n') };
}

/** The shipped file with `dropIn` as its site drop-in, in a directory of their own. */
function shippedWith(dropIn: string): string {
  const main = dir.copy(SHIPPED);
  dir.dropIn(main, '50-site.toml', dropIn);
  return main;
}

describe('check-config', () => {
  test('the shipped file alone does not start: base_url is not configured, named with the file that set it', async () => {
    const main = dir.copy(SHIPPED);
    const { code, lines } = await check(main, { OTCD_SOCKET_GROUP: '' });
    expect(code).toBe(78);
    expect(lines[0]).toBe(`provider.base_url = "https://otc.provider.invalid" (set in ${main}): not configured: this is the shipped placeholder, `
      + 'which no payment can reach; set the provider\'s API domain in a drop-in, e.g. /etc/otcd/otcd.toml.d/50-site.toml: [provider] base_url = "https://api.provider.example"');
    expect(lines.at(-1)).toMatch(new RegExp(`^${main}: otcd would not start \\(1 problem, checked as .*\\); it would exit with code 78$`));
  });

  test('the shipped file with a site drop-in is valid: prints the effective configuration, each key with its source, and returns 0', async () => {
    const main = shippedWith(READY_TO_START(`${dir.dir}/state`));
    const site = `${main}.d/50-site.toml`;
    const { code, lines, text } = await check(main);
    expect(code).toBe(0);
    expect(lines[0]).toBe(`# ${main}: configuration is valid`);
    expect(lines[1]).toBe(`# files read, later ones winning: ${main}, ${site}`);
    expect(text).toContain(`base_url = "https://api.example.com"  # ${site}`);
    expect(text).toContain(`baud_rate = 115200  # ${main}`);
    // the output is TOML that says what the daemon will use
    const printed = parse(text) as Record<string, Record<string, unknown>>;
    expect(printed.terminal.baud_rate).toBe(115200);
    expect(printed.socket.mode).toBe('0660');
    expect(printed.payment.window_s).toBe(180);
    expect(printed.provider.headers).toEqual({});
  });

  test('hides header values, from the file and the environment, and a proxy password', async () => {
    const file = dir.write([
      `state_dir = "${dir.dir}/state"`,
      '[socket]', 'group = ""',
      '[provider]', 'base_url = "https://api.example.com"', 'proxy = "http://egress:pr0xypw@proxy.lan:3128"',
      '[provider.headers]', 'Authorization = "Basic ZmlsZXNlY3JldA=="',
    ].join('\n').replace(/^state_dir/, '[daemon]\nstate_dir'));
    const { code, text } = await check(file, { OTCD_PROVIDER_HEADERS_X_API_KEY: 'envsecret' });
    expect(code).toBe(0);
    expect(text).not.toContain('ZmlsZXNlY3JldA==');
    expect(text).not.toContain('envsecret');
    expect(text).not.toContain('pr0xypw');
    const printed = parse(text) as { provider: { proxy: string; headers: Record<string, string> } };
    expect(printed.provider.headers).toEqual({ Authorization: HIDDEN, 'X-API-KEY': HIDDEN });
    expect(printed.provider.proxy).toBe('http://egress:hidden@proxy.lan:3128');
    expect(text).toContain('X-API-KEY = "<hidden>"  # OTCD_PROVIDER_HEADERS_X_API_KEY');
  });

  test('shows environment overrides in the effective configuration, and names the variable as the source', async () => {
    const main = shippedWith(READY_TO_START(`${dir.dir}/state`));
    const { code, text } = await check(main, { OTCD_TERMINAL_ADDRESS: 'tcp://10.0.0.5:4001', OTCD_PAYMENT_WINDOW_S: '60' });
    expect(code).toBe(0);
    expect(text).toContain('address = "tcp://10.0.0.5:4001"  # OTCD_TERMINAL_ADDRESS');
    expect(text).toContain(`pool_size = 2  # ${main}`);
    const printed = parse(text) as Record<string, Record<string, unknown>>;
    expect(printed.terminal.address).toBe('tcp://10.0.0.5:4001');
    expect(printed.payment.window_s).toBe(60);
  });

  test('a key no file sets is shown as the default', async () => {
    const { code, text } = await check(dir.write(READY_TO_START(`${dir.dir}/state`)));
    expect(code).toBe(0);
    expect(text).toContain('baud_rate = 115200  # default');
  });

  test('warns when the socket is open to every local user', async () => {
    const { code, text } = await check(dir.write(READY_TO_START(`${dir.dir}/state`).replace('group = ""', 'group = ""\nmode = "0666"')));
    expect(code).toBe(0);
    expect(text).toContain('# warning: socket.mode "0666" lets every local user connect');
  });

  test('prints every problem and returns 78', async () => {
    const file = dir.write('[terminal]\nbaud_rate = 12345\n[daemon]\nlog_level = "loud"\n');
    const { code, lines } = await check(file);
    expect(code).toBe(78);
    expect(lines).toEqual([
      `${file}: daemon.log_level = "loud" is not allowed; use one of trace, debug, info, warn, error, fatal, silent`,
      `${file}: terminal.baud_rate = 12345 is not allowed; use one of 9600, 19200, 38400, 57600, 115200`,
      `${file}: configuration is not valid (2 problems); otcd would exit with code 78`,
    ]);
  });

  test('says clearly that the file is missing, and returns 78', async () => {
    const file = `${dir.dir}/nope.toml`;
    const { code, lines } = await check(file);
    expect(code).toBe(78);
    expect(lines[0]).toMatch(new RegExp(`^${file}: no such file; otcd needs a configuration file`));
  });

  test('a syntax error returns 78 with line and column', async () => {
    const file = dir.write('[terminal\n');
    const { code, lines } = await check(file);
    expect(code).toBe(78);
    expect(lines[0]).toMatch(new RegExp(`^${file}: TOML syntax error at line 1, column \\d+: `));
  });
});

describe('otcd check-config, the command', () => {
  test('a reader that goes away (| true, | head, | grep -q) costs no stack trace, and the exit code stays', () => {
    const otcd = new URL('../../dist/daemon/otcd.js', import.meta.url).pathname;
    const good = dir.write(READY_TO_START(`${dir.dir}/state`));
    const bad = dir.write('[terminal]\nbaud_rate = 12345\n');
    // `true` has exited long before node has started and written anything
    for (const [file, code] of [[good, '0'], [bad, '78']] as const) {
      const r = spawnSync('bash', ['-c', `"${process.execPath}" "${otcd}" check-config "${file}" | true; echo "rc=\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
      expect({ out: r.stdout.trim(), err: r.stderr }).toEqual({ out: `rc=${code}`, err: '' });
    }
  });
});

describe('formatEffectiveConfig', () => {
  test('prints every section, and loads back to the same configuration (secrets aside)', () => {
    const cfg = {
      ...defaultConfig(),
      provider: { ...defaultConfig().provider, caFile: '/etc/otcd/ca.pem', headers: { 'X-Trace.Id': 'v' } },
    };
    const text = formatEffectiveConfig(cfg);
    for (const s of ['[daemon]', '[socket]', '[provider]', '[provider.headers]', '[keys]', '[terminal]', '[payment]']) {
      expect(text).toContain(s);
    }
    expect(text).toContain('"X-Trace.Id" = "<hidden>"');
    const back = loadConfig(dir.write(text), {});
    expect({ ...back, provider: { ...back.provider, headers: {} } })
      .toEqual({ ...cfg, provider: { ...cfg.provider, headers: {} } });
  });
});
