import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from '@jest/globals';
import { isOtcdError, OtcdError } from '../../drivers/errors.js';
import {
  CONFIG_EXIT_CODE,
  ConfigError,
  DEFAULT_CONFIG_PATH,
  loadConfig,
  resolveConfigPath,
} from '../../config/load.js';
import { defaultConfig, PLACEHOLDER_BASE_URL, schemaEntries } from '../../config/schema.js';
import { formatEffectiveConfig } from '../../config/check.js';
import { ConfigDir, configErrorOf } from './support.js';

const SHIPPED = new URL('../../config/otcd.toml', import.meta.url).pathname;
const dir = new ConfigDir();
afterAll(() => dir.remove());

describe('the shipped config/otcd.toml', () => {
  test('loads and equals defaultConfig()', () => {
    const cfg = loadConfig(SHIPPED, {});
    expect(cfg).toEqual(defaultConfig());
    expect(cfg.provider.baseUrl).toBe(PLACEHOLDER_BASE_URL);
    expect(cfg.socket.mode).toBe(0o660);
    expect(cfg.provider.caFile).toBeUndefined();
    expect(cfg.provider.headers).toEqual({});
  });

  test('documents every key with a comment above it and sets it', () => {
    const lines = readFileSync(SHIPPED, 'utf8').split('\n');
    const sectionOf = new Map<number, string>();
    let section = '';
    lines.forEach((line, i) => {
      const m = /^\[([a-z.]+)\]$/.exec(line);
      if (m) section = m[1];
      sectionOf.set(i, section);
    });
    for (const e of schemaEntries()) {
      if (e.spec.kind === 'table') {
        const at = lines.indexOf(`[${e.name}]`);
        expect(at).toBeGreaterThan(0);
        expect(lines[at - 1].startsWith('#')).toBe(true);
        continue;
      }
      const at = lines.findIndex((l, i) => l.startsWith(`${e.key} = `) && sectionOf.get(i) === e.section);
      expect({ key: e.name, found: at >= 0 }).toEqual({ key: e.name, found: true });
      // the comment block above may cover a pair of keys (client cert + key, reconnect initial + max)
      const above = lines.slice(Math.max(0, at - 3), at).some((l) => l.startsWith('#'));
      expect({ key: e.name, commented: above }).toEqual({ key: e.name, commented: true });
    }
  });

  test('the result is frozen, all the way down', () => {
    const cfg = loadConfig(SHIPPED, {});
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.terminal)).toBe(true);
    expect(Object.isFrozen(cfg.provider.headers)).toBe(true);
    expect(() => {
      (cfg.terminal as { baudRate: number }).baudRate = 9600;
    }).toThrow(TypeError);
    expect(() => {
      (cfg.provider.headers as Record<string, string>).X = 'y';
    }).toThrow(TypeError);
  });
});

describe('defaults', () => {
  test('an empty file gives every default', () => {
    expect(loadConfig(dir.write(''), {})).toEqual(defaultConfig());
  });

  test('missing keys take their defaults next to the given ones', () => {
    const cfg = loadConfig(dir.write('[terminal]\naddress = "tcp://10.0.0.5:4001"\n[payment]\nwindow_s = 4.5\nsend_margin_s = 2\ncancel_margin_s = 1\n'), {});
    expect(cfg.terminal).toEqual({ ...defaultConfig().terminal, address: 'tcp://10.0.0.5:4001' });
    expect(cfg.payment).toEqual({ ...defaultConfig().payment, windowS: 4.5, sendMarginS: 2, cancelMarginS: 1 });
    expect(cfg.daemon).toEqual(defaultConfig().daemon);
  });

  test('defaultConfig() returns a fresh, valid object each time', () => {
    const a = defaultConfig();
    a.terminal.baudRate = 9600;
    expect(defaultConfig().terminal.baudRate).toBe(115200);
    // its printed form is a valid file that loads back to the same object
    expect(loadConfig(dir.write(formatEffectiveConfig(defaultConfig())), {})).toEqual(defaultConfig());
  });

  test('values are decoded to the typed object', () => {
    const cfg = loadConfig(dir.write([
      '[socket]', 'mode = "0600"', 'group = ""',
      '[provider]', 'base_url = "https://api.example.com/v1//"', 'ca_file = "/etc/otcd/ca.pem"', 'proxy = "http://user:pw@proxy.lan:3128"',
      'client_cert_file = "/etc/otcd/c.pem"', 'client_key_file = "/etc/otcd/k.pem"',
      '[provider.headers]', 'Authorization = "Basic c2VydmljZQ=="', '"X-Trace.Id" = "a b"',
    ].join('\n')), {});
    expect(cfg.socket.mode).toBe(0o600);
    expect(cfg.socket.group).toBe('');
    expect(cfg.provider.baseUrl).toBe('https://api.example.com/v1');
    expect(cfg.provider.caFile).toBe('/etc/otcd/ca.pem');
    expect(cfg.provider.proxy).toBe('http://user:pw@proxy.lan:3128');
    expect(cfg.provider.clientCertFile).toBe('/etc/otcd/c.pem');
    expect(cfg.provider.clientKeyFile).toBe('/etc/otcd/k.pem');
    expect(cfg.provider.headers).toEqual({ Authorization: 'Basic c2VydmljZQ==', 'X-Trace.Id': 'a b' });
  });
});

describe('environment overrides', () => {
  const file = dir.write('[provider.headers]\nAuthorization = "Basic ZmlsZQ=="\n[provider]\nca_file = "/etc/otcd/ca.pem"\n');

  test('apply with the key\'s type and win over the file', () => {
    const cfg = loadConfig(file, {
      OTCD_TERMINAL_ADDRESS: 'tcp://10.0.0.5:4001',
      OTCD_TERMINAL_BAUD_RATE: '9600',
      OTCD_PAYMENT_WINDOW_S: '4.5',
      OTCD_PAYMENT_SEND_MARGIN_S: '2',
      OTCD_PAYMENT_CANCEL_MARGIN_S: '0.5',
      OTCD_SOCKET_MODE: '0600',
      OTCD_DAEMON_LOG_LEVEL: 'debug',
      OTCD_PROVIDER_CA_FILE: '',
      OTCD_PROVIDER_BASE_URL: 'https://127.0.0.1:8443',
    });
    expect(cfg.terminal.address).toBe('tcp://10.0.0.5:4001');
    expect(cfg.terminal.baudRate).toBe(9600);
    expect(cfg.payment.windowS).toBe(4.5);
    expect(cfg.payment.sendMarginS).toBe(2);
    expect(cfg.payment.cancelMarginS).toBe(0.5);
    expect(cfg.socket.mode).toBe(0o600);
    expect(cfg.daemon.logLevel).toBe('debug');
    expect(cfg.provider.caFile).toBeUndefined();
    expect(cfg.provider.baseUrl).toBe('https://127.0.0.1:8443');
  });

  test('OTCD_PROVIDER_HEADERS_<NAME> sets a header, "_" read as "-", replacing the file\'s in any case', () => {
    const cfg = loadConfig(file, {
      OTCD_PROVIDER_HEADERS_AUTHORIZATION: 'Basic ZW52',
      OTCD_PROVIDER_HEADERS_X_API_KEY: 'k1',
    });
    expect(cfg.provider.headers).toEqual({ Authorization: 'Basic ZW52', 'X-API-KEY': 'k1' });
  });

  test('OTCD_CONFIG and OTCD_* variables outside the sections are not overrides', () => {
    expect(loadConfig(file, { OTCD_CONFIG: '/elsewhere.toml', OTCD_SOMETHING: 'x', PATH: '/bin' }).terminal)
      .toEqual(defaultConfig().terminal);
  });
});

interface ProblemCase {
  what: string;
  toml: string;
  env?: NodeJS.ProcessEnv;
  /** Each must appear in the one problem reported. */
  says: string[];
}

const PROBLEMS: ProblemCase[] = [
  { what: 'unknown section with suggestion', toml: '[termnal]\naddress = "/dev/x"', says: ['unknown section [termnal]', 'did you mean [terminal]?'] },
  { what: 'unknown key with suggestion', toml: '[terminal]\nbaud_rat = 9600', says: ['unknown key terminal.baud_rat', 'did you mean terminal.baud_rate?'] },
  { what: 'truncated key with suggestion', toml: '[terminal]\nbaud = 9600', says: ['unknown key terminal.baud', 'did you mean terminal.baud_rate?'] },
  { what: 'key in the wrong section', toml: '[daemon]\nbaud_rate = 9600', says: ['unknown key daemon.baud_rate', 'did you mean terminal.baud_rate?'] },
  { what: 'key outside any section', toml: 'log_level = "info"', says: ['unknown key log_level outside any section', 'daemon.log_level'] },
  { what: 'misspelt header table', toml: '[provider.header]\nX = "y"', says: ['unknown key provider.header', 'did you mean provider.headers?'] },
  { what: 'section that is not a table', toml: 'terminal = 5', says: ['terminal must be a section ([terminal])'] },
  { what: 'string for an integer', toml: '[terminal]\nbaud_rate = "115200"', says: ['terminal.baud_rate has the wrong type: expected an integer, got a string ("115200")'] },
  { what: 'float for an integer', toml: '[terminal]\nack_timeout_ms = 1.5', says: ['terminal.ack_timeout_ms has the wrong type: expected an integer, got a float (1.5)'] },
  { what: 'integer for a string', toml: '[terminal]\naddress = 5', says: ['terminal.address has the wrong type: expected a string in quotes, got an integer (5)'] },
  { what: 'boolean for a number', toml: '[payment]\nwindow_s = true', says: ['payment.window_s has the wrong type: expected a number, got a boolean (true)'] },
  { what: 'baud rate the driver cannot use', toml: '[terminal]\nbaud_rate = 12345', says: ['terminal.baud_rate = 12345 is not allowed; use one of 9600, 19200, 38400, 57600, 115200'] },
  { what: 'log level', toml: '[daemon]\nlog_level = "loud"', says: ['daemon.log_level = "loud" is not allowed; use one of trace, debug, info'] },
  { what: 'zero timeout', toml: '[provider]\nconnect_timeout_ms = 0', says: ['provider.connect_timeout_ms = 0 is not allowed; use a whole number of milliseconds from 1 to 600000'] },
  { what: 'negative timeout', toml: '[terminal]\nanswer_timeout_ms = -5', says: ['terminal.answer_timeout_ms = -5 is not allowed'] },
  { what: 'zero seconds', toml: '[terminal]\nping_interval_s = 0', says: ['terminal.ping_interval_s = 0 is not allowed; use a number of seconds more than 0 and at most 3600'] },
  { what: 'infinite seconds', toml: '[payment]\nresult_timeout_s = inf', says: ['payment.result_timeout_s = Infinity is not allowed'] },
  { what: 'window longer than the provider allows', toml: '[payment]\nwindow_s = 181', says: ['payment.window_s = 181 is not allowed; use a number of seconds more than 0 and at most 180'] },
  { what: 'pool size out of range', toml: '[keys]\npool_size = 9', says: ['keys.pool_size = 9 is not allowed; use a whole number from 1 to 8'] },
  { what: 'max_inquiries out of range', toml: '[payment]\nmax_inquiries = 0', says: ['payment.max_inquiries = 0 is not allowed; use a whole number from 1 to 10'] },
  { what: 'cancel margin not below send margin', toml: '[payment]\ncancel_margin_s = 30', says: ['payment.cancel_margin_s = 30 is not allowed; it must be less than payment.send_margin_s = 30'] },
  { what: 'send margin not below window', toml: '[payment]\nwindow_s = 20\ncancel_margin_s = 5', says: ['payment.send_margin_s = 30 is not allowed; it must be less than payment.window_s = 20'] },
  { what: 'payment limit below window', toml: '[payment]\npayment_limit_s = 179.5', says: ['payment.payment_limit_s = 179.5 is not allowed; it must be at least payment.window_s = 180'] },
  { what: 'dup window too short', toml: '[terminal]\ndup_window_ms = 4000', says: ['terminal.dup_window_ms = 4000 is not allowed; it must be more than (terminal.retries + 1) x terminal.ack_timeout_ms = (3 + 1) x 1000 = 4000'] },
  { what: 'reconnect initial above max', toml: '[terminal]\nreconnect_initial_ms = 20000', says: ['terminal.reconnect_initial_ms = 20000 is not allowed; it must be at most terminal.reconnect_max_ms = 10000'] },
  { what: 'client cert without key', toml: '[provider]\nclient_cert_file = "/etc/otcd/c.pem"', says: ['provider.client_cert_file and provider.client_key_file must be set together'] },
  { what: 'mode not octal', toml: '[socket]\nmode = "0680"', says: ['socket.mode = "0680" is not allowed; use an octal permission string'] },
  { what: 'mode with bits outside 0777', toml: '[socket]\nmode = "4755"', says: ['socket.mode = "4755" is not allowed; use permission bits only'] },
  { what: 'mode as a bare number', toml: '[socket]\nmode = 0o660', says: ['socket.mode has the wrong type: expected a string in quotes, got an integer', 'such as "0660"'] },
  { what: 'group name with a space', toml: '[socket]\ngroup = "kiosk users"', says: ['socket.group = "kiosk users" is not allowed'] },
  { what: 'relative socket path', toml: '[socket]\npath = "otcd.sock"', says: ['socket.path = "otcd.sock" is not allowed; use an absolute path'] },
  { what: 'socket path over the sun_path limit', toml: `[socket]\npath = "/run/${'x'.repeat(110)}"`, says: ['socket.path', 'at most 107 bytes'] },
  { what: 'relative state dir', toml: '[daemon]\nstate_dir = "var/lib/otcd"', says: ['daemon.state_dir = "var/lib/otcd" is not allowed; use an absolute path'] },
  { what: 'base_url over http', toml: '[provider]\nbase_url = "http://api.example.com"', says: ['provider.base_url = "http://api.example.com" is not allowed; use an https:// URL'] },
  { what: 'base_url over http on loopback', toml: '[provider]\nbase_url = "http://127.0.0.1:8080"', says: ['provider.base_url = "http://127.0.0.1:8080" is not allowed; use an https:// URL'] },
  { what: 'base_url that is no URL', toml: '[provider]\nbase_url = "api.example.com"', says: ['provider.base_url = "api.example.com" is not allowed'] },
  { what: 'base_url with credentials', toml: '[provider]\nbase_url = "https://u:p@api.example.com"', says: ['provider.base_url', 'no user, query or fragment'] },
  { what: 'proxy with a wrong scheme', toml: '[provider]\nproxy = "socks5://p:1080"', says: ['provider.proxy = "socks5://p:1080" is not allowed'] },
  { what: 'relative ca_file', toml: '[provider]\nca_file = "ca.pem"', says: ['provider.ca_file = "ca.pem" is not allowed; use an absolute path starting with /, or "" for none'] },
  { what: 'terminal address neither path nor tcp', toml: '[terminal]\naddress = "ttyUSB0"', says: ['terminal.address = "ttyUSB0" is not allowed; use an absolute device path (e.g. /dev/ttyUSB0) or tcp://host:port'] },
  { what: 'tcp address without port', toml: '[terminal]\naddress = "tcp://10.0.0.5"', says: ['terminal.address = "tcp://10.0.0.5" is not allowed'] },
  { what: 'tcp address with port 0', toml: '[terminal]\naddress = "tcp://10.0.0.5:0"', says: ['terminal.address = "tcp://10.0.0.5:0" is not allowed'] },
  { what: 'udp address', toml: '[terminal]\naddress = "udp://10.0.0.5:4001"', says: ['terminal.address = "udp://10.0.0.5:4001" is not allowed'] },
  { what: 'header name invalid for HTTP', toml: '[provider.headers]\n"X Key" = "v"', says: ['provider.headers.X Key is not allowed; use an HTTP header name'] },
  { what: 'header otcd sets itself', toml: '[provider.headers]\ncontent-type = "text/plain"', says: ['provider.headers.content-type is not allowed; content-type is set by otcd itself'] },
  { what: 'header value with a line break', toml: '[provider.headers]\nAuthorization = "Basic a\\r\\nX-Evil: 1"', says: ['provider.headers.Authorization = <hidden> is not allowed; use printable ASCII'] },
  { what: 'header value not a string', toml: '[provider.headers]\nX-Id = 5', says: ['provider.headers.X-Id has the wrong type: expected a string in quotes, got an integer'] },
  { what: 'header given twice in different case', toml: '[provider.headers]\nX-Id = "a"\nx-id = "b"', says: ['provider.headers.x-id repeats provider.headers.X-Id'] },
  { what: 'headers not a table', toml: '[provider]\nheaders = "Authorization: x"', says: ['provider.headers has the wrong type: expected a table'] },
  { what: 'env override of an unknown key', toml: '', env: { OTCD_TERMINAL_BAUDRATE: '9600' }, says: ['environment variable OTCD_TERMINAL_BAUDRATE names no configuration key; did you mean OTCD_TERMINAL_BAUD_RATE?'] },
  { what: 'env override with the wrong type', toml: '', env: { OTCD_KEYS_POOL_SIZE: 'two' }, says: ['keys.pool_size (from OTCD_KEYS_POOL_SIZE) has the wrong type: expected an integer, got a string ("two")'] },
  { what: 'env override out of range', toml: '', env: { OTCD_TERMINAL_BAUD_RATE: '12345' }, says: ['terminal.baud_rate = 12345 (from OTCD_TERMINAL_BAUD_RATE) is not allowed; use one of'] },
  { what: 'env override breaking a relation', toml: '', env: { OTCD_PAYMENT_WINDOW_S: '20', OTCD_PAYMENT_CANCEL_MARGIN_S: '5' }, says: ['payment.send_margin_s = 30 is not allowed; it must be less than payment.window_s = 20', '[payment.window_s from OTCD_PAYMENT_WINDOW_S]'] },
  { what: 'env header with a bad value', toml: '', env: { OTCD_PROVIDER_HEADERS_AUTHORIZATION: '' }, says: ['provider.headers.AUTHORIZATION = <hidden> (from OTCD_PROVIDER_HEADERS_AUTHORIZATION) is not allowed'] },
];

describe('each problem is reported once, naming the file, the key and what is allowed', () => {
  test.each(PROBLEMS)('$what', ({ toml, env, says }) => {
    const file = dir.write(toml);
    const err = configErrorOf(file, env);
    expect(err.code).toBe('CONFIG');
    expect(isOtcdError(err, 'CONFIG')).toBe(true);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0].startsWith(`${file}: `)).toBe(true);
    for (const s of says) expect(err.problems[0]).toContain(s);
    expect(err.message).toBe(err.problems[0]);
  });
});

describe('files that cannot be read or parsed', () => {
  test('a TOML syntax error names file, line and column', () => {
    const file = dir.write('[daemon]\nlog_level = "info"\nstate_dir = = "/x"\n');
    const err = configErrorOf(file);
    expect(err.problems).toEqual([`${file}: TOML syntax error at line 3, column 13: invalid value`]);
  });

  test('a key given twice is a syntax error with its position', () => {
    const file = dir.write('[keys]\npool_size = 2\npool_size = 3\n');
    expect(configErrorOf(file).problems[0]).toMatch(new RegExp(`^${file}: TOML syntax error at line 3, column 1: `));
  });

  test('a missing file is an error that says so, not a reason to use defaults', () => {
    const file = `${dir.dir}/absent.toml`;
    const err = configErrorOf(file);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toContain(`${file}: no such file`);
  });

  test('a directory is not a configuration file', () => {
    expect(configErrorOf(dir.dir).problems[0]).toBe(`${dir.dir}: is a directory, not a configuration file`);
  });

  test('bytes that are not UTF-8 are reported', () => {
    const file = dir.write('');
    writeFileSync(file, Buffer.from([0x5b, 0x64, 0xff, 0x5d, 0x0a]));
    expect(configErrorOf(file).problems).toEqual([`${file}: is not UTF-8 text; save it as UTF-8`]);
  });
});

describe('several problems at once', () => {
  test('are all reported, in one error', () => {
    const file = dir.write([
      '[daemon]', 'log_level = "loud"',
      '[socket]', 'mode = "1777"',
      '[terminal]', 'baud_rate = 12345', 'address = "COM3"', 'baud = 1',
      '[payment]', 'cancel_margin_s = 40',
      '[provider.headers]', 'Authorization = "Basic s3cr3t\\n"',
      '[termnal]',
    ].join('\n'));
    const err = configErrorOf(file, { OTCD_KEYS_POOL_SIZE: '0', OTCD_KEYS_POOLSIZE: '1' });
    const keys = ['daemon.log_level', 'socket.mode', 'terminal.baud_rate', 'terminal.address', 'terminal.baud',
      'payment.cancel_margin_s', 'provider.headers.Authorization', '[termnal]', 'keys.pool_size', 'OTCD_KEYS_POOLSIZE'];
    expect(err.problems).toHaveLength(keys.length);
    for (const k of keys) expect(err.problems.some((p) => p.includes(k) && p.startsWith(`${file}: `))).toBe(true);
    expect(err.message).toContain(`${keys.length} problems in the configuration ${file}:`);
    // the secret is never repeated, not even in a message about it
    expect(err.message).not.toContain('s3cr3t');
  });
});

describe('exports', () => {
  test('ConfigError is an OtcdError with code CONFIG; the exit code is EX_CONFIG', () => {
    const err = new ConfigError('/f', ['/f: x']);
    expect(err).toBeInstanceOf(OtcdError);
    expect(err.name).toBe('ConfigError');
    expect(err.code).toBe('CONFIG');
    expect(CONFIG_EXIT_CODE).toBe(78);
    expect(DEFAULT_CONFIG_PATH).toBe('/etc/otcd/otcd.toml');
  });
});

describe('resolveConfigPath', () => {
  test.each([
    { argv: [], env: {}, path: '/etc/otcd/otcd.toml' },
    { argv: [], env: { OTCD_CONFIG: '/env.toml' }, path: '/env.toml' },
    { argv: [], env: { OTCD_CONFIG: '' }, path: '/etc/otcd/otcd.toml' },
    { argv: ['--config', '/a.toml'], env: { OTCD_CONFIG: '/env.toml' }, path: '/a.toml' },
    { argv: ['--config=/b.toml'], env: {}, path: '/b.toml' },
    { argv: ['check-config'], env: { OTCD_CONFIG: '/env.toml' }, path: '/env.toml' },
    { argv: ['check-config', '/c.toml'], env: { OTCD_CONFIG: '/env.toml' }, path: '/c.toml' },
    { argv: ['check-config', '--config', '/d.toml'], env: {}, path: '/d.toml' },
  ])('$argv with $env -> $path', ({ argv, env, path }) => {
    expect(resolveConfigPath(argv, env)).toBe(path);
  });

  test('--config without a file is a ConfigError', () => {
    expect(() => resolveConfigPath(['--config'], {})).toThrow(ConfigError);
    expect(() => resolveConfigPath(['--config='], {})).toThrow('--config needs a file name');
  });
});
