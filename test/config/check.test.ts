import { afterAll, describe, expect, test } from '@jest/globals';
import { parse } from 'smol-toml';
import { formatEffectiveConfig, HIDDEN, runCheckConfig } from '../../config/check.js';
import { loadConfig } from '../../config/load.js';
import { defaultConfig } from '../../config/schema.js';
import { ConfigDir } from './support.js';

const SHIPPED = new URL('../../config/otcd.toml', import.meta.url).pathname;
const dir = new ConfigDir();
afterAll(() => dir.remove());

function check(file: string, env: NodeJS.ProcessEnv = {}): { code: number; lines: string[]; text: string } {
  const lines: string[] = [];
  const code = runCheckConfig(file, (l) => lines.push(l), env);
  return { code, lines, text: lines.join('\n') };
}

describe('check-config', () => {
  test('the shipped file is valid: prints the effective configuration and returns 0', () => {
    const { code, lines, text } = check(SHIPPED);
    expect(code).toBe(0);
    expect(lines[0]).toBe(`# ${SHIPPED}: configuration is valid`);
    // the placeholder is valid but the technician is told to set it
    expect(text).toContain('# warning: provider.base_url is still the placeholder https://otc.provider.invalid');
    // the output is TOML that says what the daemon will use
    const printed = parse(text) as Record<string, Record<string, unknown>>;
    expect(printed.terminal.baud_rate).toBe(115200);
    expect(printed.socket.mode).toBe('0660');
    expect(printed.payment.window_s).toBe(180);
    expect(printed.provider.headers).toEqual({});
  });

  test('hides header values, from the file and the environment, and a proxy password', () => {
    const file = dir.write([
      '[provider]', 'base_url = "https://api.example.com"', 'proxy = "http://egress:pr0xypw@proxy.lan:3128"',
      '[provider.headers]', 'Authorization = "Basic ZmlsZXNlY3JldA=="',
    ].join('\n'));
    const { code, text } = check(file, { OTCD_PROVIDER_HEADERS_X_API_KEY: 'envsecret' });
    expect(code).toBe(0);
    expect(text).not.toContain('ZmlsZXNlY3JldA==');
    expect(text).not.toContain('envsecret');
    expect(text).not.toContain('pr0xypw');
    const printed = parse(text) as { provider: { proxy: string; headers: Record<string, string> } };
    expect(printed.provider.headers).toEqual({ Authorization: HIDDEN, 'X-API-KEY': HIDDEN });
    expect(printed.provider.proxy).toBe('http://egress:hidden@proxy.lan:3128');
    expect(text).not.toContain('# warning: provider.base_url');
  });

  test('shows environment overrides in the effective configuration', () => {
    const { code, text } = check(SHIPPED, { OTCD_TERMINAL_ADDRESS: 'tcp://10.0.0.5:4001', OTCD_PAYMENT_WINDOW_S: '60' });
    expect(code).toBe(0);
    const printed = parse(text) as Record<string, Record<string, unknown>>;
    expect(printed.terminal.address).toBe('tcp://10.0.0.5:4001');
    expect(printed.payment.window_s).toBe(60);
  });

  test('warns when the socket is open to every local user', () => {
    const { code, text } = check(dir.write('[socket]\nmode = "0666"\n'));
    expect(code).toBe(0);
    expect(text).toContain('# warning: socket.mode "0666" lets every local user connect');
  });

  test('prints every problem and returns 78', () => {
    const file = dir.write('[terminal]\nbaud_rate = 12345\n[daemon]\nlog_level = "loud"\n');
    const { code, lines } = check(file);
    expect(code).toBe(78);
    expect(lines).toEqual([
      `${file}: daemon.log_level = "loud" is not allowed; use one of trace, debug, info, warn, error, fatal, silent`,
      `${file}: terminal.baud_rate = 12345 is not allowed; use one of 9600, 19200, 38400, 57600, 115200`,
      `${file}: configuration is not valid (2 problems); otcd would exit with code 78`,
    ]);
  });

  test('says clearly that the file is missing, and returns 78', () => {
    const file = `${dir.dir}/nope.toml`;
    const { code, lines } = check(file);
    expect(code).toBe(78);
    expect(lines[0]).toMatch(new RegExp(`^${file}: no such file; otcd needs a configuration file`));
  });

  test('a syntax error returns 78 with line and column', () => {
    const file = dir.write('[terminal\n');
    const { code, lines } = check(file);
    expect(code).toBe(78);
    expect(lines[0]).toMatch(new RegExp(`^${file}: TOML syntax error at line 1, column \\d+: `));
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
