/**
 * The one description of otcd's configuration.
 *
 * `OtcdConfig` is the typed object the daemon reads. `CONFIG_SCHEMA` says, for
 * every field of it, what the file may hold: TOML type, default, allowed
 * range or values, whether it is a secret, and a line of documentation.
 * Validation (validate.ts), defaults (`defaultConfig`), environment overrides
 * (load.ts) and check-config printing (check.ts) are all derived from it, so a
 * key cannot be added in one place and forgotten in another: the mapped type
 * `ConfigSchema` makes the compiler insist on a spec for every field.
 *
 * File keys are the snake_case spelling of the camelCase field names
 * (`baudRate` <-> `baud_rate`, `windowS` <-> `window_s`).
 */

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Line speeds the ecr1 driver supports (terminal-protocol.md section 1). */
export const BAUD_RATES = [9600, 19200, 38400, 57600, 115200] as const;

/**
 * A placeholder that passes validation but can never be reached: `.invalid`
 * is reserved by RFC 6761 and never resolves, so a kiosk shipped without the
 * provider's real API domain fails its first inquiry loudly instead of talking
 * to somebody else's host. check-config warns about it.
 */
export const PLACEHOLDER_BASE_URL = 'https://otc.provider.invalid';

/** Linux `sun_path` is 108 bytes including the terminating NUL. */
const UNIX_SOCKET_PATH_MAX_BYTES = 107;

/** Headers the HTTP client sets itself; overriding them would break the request. */
export const RESERVED_HEADERS = ['host', 'content-type', 'content-length', 'transfer-encoding', 'connection'] as const;

export interface OtcdConfig {
  daemon: { stateDir: string; logLevel: LogLevel };
  socket: { path: string; group: string; mode: number; maxClients: number };
  provider: {
    baseUrl: string;
    connectTimeoutMs: number;
    responseTimeoutMs: number;
    totalTimeoutMs: number;
    retries: number;
    caFile?: string;
    clientCertFile?: string;
    clientKeyFile?: string;
    proxy?: string;
    headers: Record<string, string>;
  };
  keys: { poolSize: number };
  terminal: {
    address: string;
    baudRate: number;
    byteTimeoutMs: number;
    ackTimeoutMs: number;
    dupWindowMs: number;
    retries: number;
    answerTimeoutMs: number;
    pingIntervalS: number;
    reconnectInitialMs: number;
    reconnectMaxMs: number;
  };
  payment: {
    windowS: number;
    sendMarginS: number;
    cancelMarginS: number;
    maxInquiries: number;
    paymentLimitS: number;
    resultTimeoutS: number;
    terminalWaitS: number;
    retentionDays: number;
  };
  metrics: { textfile?: string };
}

export type SectionName = keyof OtcdConfig;

/** A value as TOML holds it: what the file, an override and the printer deal in. */
export type FileValue = string | number;

/**
 * One scalar key. `check` and `decode` see a value that already has the right
 * TOML type and lies within min/max/oneOf.
 */
export interface KeySpec<T> {
  readonly kind: 'scalar';
  /** TOML type in the file. 'number' accepts integers and floats. */
  readonly type: 'string' | 'integer' | 'number';
  /** Default, as the typed object holds it. */
  readonly default: T;
  /** What the key is, for a field technician (one sentence). */
  readonly doc: string;
  readonly unit?: string;
  /** Inclusive bounds; `above` is an exclusive lower bound (for "more than 0"). */
  readonly min?: number;
  readonly above?: number;
  readonly max?: number;
  readonly oneOf?: readonly FileValue[];
  /** check-config prints "<hidden>" instead of the value. */
  readonly secret?: boolean;
  /** Says what is allowed, when min/max/oneOf do not say it well enough. */
  readonly allowed?: string;
  /** Returns undefined when the value is fine, otherwise why not. */
  readonly check?: (value: FileValue) => string | undefined;
  /** File value -> typed value (identity when absent). */
  readonly decode?: (value: FileValue) => T;
  /** Typed value -> file value (identity when absent). */
  readonly encode?: (value: T) => FileValue;
  /** How check-config prints a non-secret value that may carry a credential. */
  readonly redact?: (value: FileValue) => FileValue;
}

/** A table of free-form string entries (provider.headers). */
export interface TableSpec {
  readonly kind: 'table';
  readonly doc: string;
  readonly secret: boolean;
  readonly checkName: (name: string) => string | undefined;
  readonly checkValue: (value: string) => string | undefined;
}

export type FieldSpec<T> = [T] extends [Record<string, string>] ? TableSpec : KeySpec<T>;

export type ConfigSchema = {
  readonly [S in SectionName]: { readonly [K in keyof OtcdConfig[S]]-?: FieldSpec<OtcdConfig[S][K]> };
};

// ---------------------------------------------------------------- checkers

function isAbsolutePath(v: string): boolean {
  return v.startsWith('/') && !v.includes('\0');
}

function absolutePath(value: FileValue): string | undefined {
  return isAbsolutePath(String(value)) ? undefined : 'use an absolute path starting with /';
}

function optionalAbsolutePath(value: FileValue): string | undefined {
  return value === '' || isAbsolutePath(String(value)) ? undefined : 'use an absolute path starting with /, or "" for none';
}

function socketPath(value: FileValue): string | undefined {
  const v = String(value);
  if (!isAbsolutePath(v)) return 'use an absolute path starting with /';
  if (Buffer.byteLength(v) > UNIX_SOCKET_PATH_MAX_BYTES) {
    return `use a path of at most ${UNIX_SOCKET_PATH_MAX_BYTES} bytes (the Unix socket address limit)`;
  }
  return undefined;
}

const GROUP_NAME = /^([a-z_][a-z0-9_-]{0,31}|[0-9]+)$/i;

function groupName(value: FileValue): string | undefined {
  return value === '' || GROUP_NAME.test(String(value))
    ? undefined
    : 'use a group name (letters, digits, _ and -, starting with a letter or _), a numeric gid, or "" to leave the group alone';
}

const OCTAL = /^(0o)?[0-7]{1,4}$/;
const MODE_BITS = 0o777;

function fileMode(value: FileValue): string | undefined {
  const v = String(value);
  if (!OCTAL.test(v)) return 'use an octal permission string such as "0660"';
  if (parseMode(v) & ~MODE_BITS) return 'use permission bits only (at most "0777"; no setuid, setgid or sticky bit)';
  return undefined;
}

function parseMode(v: FileValue): number {
  return parseInt(String(v).replace(/^0o/, ''), 8);
}

function formatMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function parseUrl(v: string): URL | undefined {
  try {
    return new URL(v);
  } catch {
    return undefined;
  }
}

/**
 * The provider requires TLS, so https only, also for loopback: a test server
 * on 127.0.0.1 gets a self-signed certificate and `ca_file`. Credentials
 * belong in [provider.headers] (hidden by check-config), not in the URL
 * (which appears in logs); a query or fragment would be lost when paths are
 * appended.
 */
function baseUrl(value: FileValue): string | undefined {
  const u = parseUrl(String(value));
  const allowed = 'use an https:// URL with a host and no user, query or fragment, e.g. https://api.provider.example';
  if (!u || u.protocol !== 'https:' || u.hostname === '') return allowed;
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') return allowed;
  return undefined;
}

/** Drops trailing slashes so the client can append "/easycheck/...". */
function normaliseBaseUrl(value: FileValue): string {
  return String(value).replace(/\/+$/, '');
}

function proxyUrl(value: FileValue): string | undefined {
  if (value === '') return undefined;
  const u = parseUrl(String(value));
  if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.hostname === '' || (u.pathname !== '/' && u.pathname !== '')
    || u.search !== '' || u.hash !== '') {
    return 'use "" for no proxy, or http://host:port or https://host:port (user:password@ allowed)';
  }
  return undefined;
}

function redactUrlPassword(value: FileValue): FileValue {
  const u = parseUrl(String(value));
  if (!u || u.password === '') return value;
  u.password = 'hidden';
  return u.toString().replace(/\/$/, '');
}

const MAX_PORT = 65535;

/** A serial device path, or tcp://host:port for ser2net or a LAN terminal. */
function terminalAddress(value: FileValue): string | undefined {
  const v = String(value);
  const allowed = 'use an absolute device path (e.g. /dev/ttyUSB0) or tcp://host:port';
  if (v.startsWith('/')) return isAbsolutePath(v) ? undefined : allowed;
  if (!v.startsWith('tcp://')) return allowed;
  const u = parseUrl(v);
  if (!u || u.hostname === '' || u.port === '' || Number(u.port) < 1 || Number(u.port) > MAX_PORT) return allowed;
  if (u.pathname !== '' && u.pathname !== '/') return allowed;
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') return allowed;
  return undefined;
}

/** RFC 9110 token characters. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII with inner spaces/tabs; no CR, LF or NUL (header injection). */
const HTTP_FIELD_VALUE = /^[\x21-\x7e]([\t\x20-\x7e]*[\x21-\x7e])?$/;

function headerName(name: string): string | undefined {
  if (!HTTP_TOKEN.test(name)) return 'use an HTTP header name (letters, digits and !#$%&\'*+-.^_`|~)';
  if ((RESERVED_HEADERS as readonly string[]).includes(name.toLowerCase())) {
    return `${name} is set by otcd itself; remove it`;
  }
  return undefined;
}

function headerValue(value: string): string | undefined {
  return HTTP_FIELD_VALUE.test(value)
    ? undefined
    : 'use printable ASCII, not empty, with no line breaks and no leading or trailing space';
}

// ---------------------------------------------------------------- the schema

const MAX_TIMEOUT_MS = 600_000;

function ms(defaultValue: number, doc: string, max = MAX_TIMEOUT_MS): KeySpec<number> {
  return { kind: 'scalar', type: 'integer', default: defaultValue, unit: 'milliseconds', min: 1, max, doc };
}

function seconds(defaultValue: number, doc: string, max: number): KeySpec<number> {
  return { kind: 'scalar', type: 'number', default: defaultValue, unit: 'seconds', above: 0, max, doc };
}

function count(defaultValue: number, min: number, max: number, doc: string): KeySpec<number> {
  return { kind: 'scalar', type: 'integer', default: defaultValue, min, max, doc };
}

/** "" in the file means "not set": undefined in the typed object. */
function optionalString(doc: string, check: (v: FileValue) => string | undefined, extra: Partial<KeySpec<string | undefined>> = {}): KeySpec<string | undefined> {
  return {
    kind: 'scalar',
    type: 'string',
    default: undefined,
    doc,
    check,
    decode: (v) => (v === '' ? undefined : String(v)),
    encode: (v) => v ?? '',
    ...extra,
  };
}

/** Where Debian's prometheus-node-exporter reads text files (its --collector.textfile.directory default). */
export const DEFAULT_METRICS_TEXTFILE = '/var/lib/prometheus/node-exporter/otcd.prom';

/** node_exporter's textfile collector reads only files named *.prom. */
function metricsTextfile(value: FileValue): string | undefined {
  const v = String(value);
  if (v === '') return undefined;
  return isAbsolutePath(v) && v.endsWith('.prom') && !v.endsWith('/.prom')
    ? undefined
    : 'use an absolute path ending in .prom (node_exporter\'s textfile collector reads only *.prom files), or "" for no metrics';
}

/** The provider's 180-second rule (otc-api.md): no window may be longer. */
export const PROVIDER_WINDOW_S = 180;

export const CONFIG_SCHEMA: ConfigSchema = {
  daemon: {
    stateDir: {
      kind: 'scalar', type: 'string', default: '/var/lib/otcd', check: absolutePath,
      doc: 'Directory for the payment ledger and other state that must survive a restart.',
    },
    logLevel: {
      kind: 'scalar', type: 'string', default: 'info', oneOf: LOG_LEVELS,
      doc: 'How much goes to the journal.',
    },
  },
  socket: {
    path: {
      kind: 'scalar', type: 'string', default: '/run/otcd/otcd.sock', check: socketPath,
      doc: 'Unix socket the kiosk application connects to (ignored under systemd socket activation).',
    },
    group: {
      kind: 'scalar', type: 'string', default: 'otcd', check: groupName,
      doc: 'Group given to the socket file, so the kiosk application\'s group may connect; "" leaves the group alone.',
    },
    mode: {
      kind: 'scalar', type: 'string', default: 0o660, check: fileMode, decode: parseMode, encode: formatMode,
      allowed: 'use a quoted octal permission string such as "0660"',
      doc: 'Permissions of the socket file, as a quoted octal string.',
    },
    maxClients: count(64, 1, 1024, 'Most client connections open at once; further connections are refused.'),
  },
  provider: {
    baseUrl: {
      kind: 'scalar', type: 'string', default: PLACEHOLDER_BASE_URL, check: baseUrl, decode: normaliseBaseUrl,
      doc: 'The provider\'s API domain; otcd appends /easycheck/merchant-otcs.do.',
    },
    connectTimeoutMs: ms(5000, 'Longest wait for the TCP and TLS connection to the provider.'),
    responseTimeoutMs: ms(30_000, 'Longest wait for the provider\'s answer once the request is sent.'),
    totalTimeoutMs: ms(35_000, 'Longest time for one whole inquiry request, connection included.'),
    retries: count(2, 0, 10, 'Extra attempts after a request that failed before an answer arrived.'),
    caFile: optionalString('PEM file of CA certificates that sign the provider\'s certificate; "" uses the system store.', optionalAbsolutePath),
    clientCertFile: optionalString('PEM client certificate for mutual TLS; "" for none.', optionalAbsolutePath),
    clientKeyFile: optionalString('PEM private key of client_cert_file; "" for none.', optionalAbsolutePath),
    proxy: optionalString('Egress proxy for provider requests; "" connects directly.', proxyUrl, { redact: redactUrlPassword }),
    headers: {
      kind: 'table', secret: true, checkName: headerName, checkValue: headerValue,
      doc: 'Extra request headers, e.g. Authorization; values are secrets.',
    },
  },
  keys: {
    poolSize: count(2, 1, 8, 'RSA-2048 key pairs kept ready, so no payment waits for key generation.'),
  },
  terminal: {
    address: {
      kind: 'scalar', type: 'string', default: '/dev/otcd-terminal', check: terminalAddress,
      doc: 'Where the card terminal is: a serial device path, or tcp://host:port.',
    },
    baudRate: {
      kind: 'scalar', type: 'integer', default: 115200, oneOf: BAUD_RATES, unit: 'bits per second',
      doc: 'Serial line speed (8 data bits, no parity, 1 stop bit); ignored for tcp://.',
    },
    byteTimeoutMs: ms(200, 'T_byte: a frame whose next byte is this late is dropped.', 10_000),
    ackTimeoutMs: ms(1000, 'T_ack: wait this long for ACK/NAK before sending a frame again.', 60_000),
    dupWindowMs: ms(5000, 'T_dup: a repeated frame within this time is a retransmission.'),
    retries: count(3, 0, 10, 'Retransmissions of a frame before the link is declared failed.'),
    answerTimeoutMs: ms(3000, 'Longest wait for the terminal\'s answer (PONG, PROG, RSLT) to a command it ACKed.'),
    pingIntervalS: seconds(15, 'Time between PING health checks while idle.', 3600),
    reconnectInitialMs: ms(500, 'First wait before reopening a lost link; doubles up to reconnect_max_ms.'),
    reconnectMaxMs: ms(10_000, 'Longest wait between attempts to reopen a lost link.'),
  },
  payment: {
    windowS: seconds(PROVIDER_WINDOW_S, 'Time from sending the OTC inquiry until the approval must have reached the provider.', PROVIDER_WINDOW_S),
    sendMarginS: seconds(30, 'Card data is not sent to the terminal when less than this is left of the window.', PROVIDER_WINDOW_S),
    cancelMarginS: seconds(10, 'When this little is left and the terminal has not sent the approval upstream, it is cancelled.', PROVIDER_WINDOW_S),
    maxInquiries: count(3, 1, 10, 'OTC inquiries per payment (a new window each) before it expires.'),
    paymentLimitS: seconds(600, 'Longest life of a payment from accepted to final, all inquiries included.', 86_400),
    resultTimeoutS: seconds(120, 'Longest wait for the terminal\'s outcome after it took the card data; then the payment is recovered with LAST.', 3600),
    terminalWaitS: seconds(10, 'How long a new payment waits for a terminal that is down or not answering; then it ends failed TERMINAL_UNAVAILABLE without inquiring the OTC.', 120),
    retentionDays: { ...count(7, 1, 3650, 'Days a final payment stays readable with get before it is deleted.'), unit: 'days' },
  },
  metrics: {
    textfile: {
      kind: 'scalar', type: 'string', default: DEFAULT_METRICS_TEXTFILE, check: metricsTextfile,
      decode: (v) => (v === '' ? undefined : String(v)), encode: (v) => v ?? '',
      doc: 'Prometheus text file otcd keeps up to date for node_exporter\'s textfile collector; "" writes none.',
    },
  },
};

// ---------------------------------------------------------------- relations

/**
 * A rule between keys. Checked only when every key it names is valid on its
 * own, so one mistake gives one message.
 */
export interface Relation {
  /** section.key names involved; the first is the one the message is about. */
  readonly keys: readonly string[];
  readonly holds: (c: OtcdConfig) => boolean;
  /** The whole sentence after "file: ". */
  readonly explain: (c: OtcdConfig) => string;
}

export const CONFIG_RELATIONS: readonly Relation[] = [
  {
    keys: ['payment.cancel_margin_s', 'payment.send_margin_s'],
    holds: (c) => c.payment.cancelMarginS < c.payment.sendMarginS,
    explain: (c) => `payment.cancel_margin_s = ${c.payment.cancelMarginS} is not allowed; it must be less than `
      + `payment.send_margin_s = ${c.payment.sendMarginS} (a delivery is cancelled only after the last moment to send it)`,
  },
  {
    keys: ['payment.send_margin_s', 'payment.window_s'],
    holds: (c) => c.payment.sendMarginS < c.payment.windowS,
    explain: (c) => `payment.send_margin_s = ${c.payment.sendMarginS} is not allowed; it must be less than `
      + `payment.window_s = ${c.payment.windowS} (otherwise no card data could ever be sent)`,
  },
  {
    keys: ['payment.payment_limit_s', 'payment.window_s'],
    holds: (c) => c.payment.paymentLimitS >= c.payment.windowS,
    explain: (c) => `payment.payment_limit_s = ${c.payment.paymentLimitS} is not allowed; it must be at least `
      + `payment.window_s = ${c.payment.windowS} (a payment needs room for one whole window)`,
  },
  {
    keys: ['terminal.dup_window_ms', 'terminal.retries', 'terminal.ack_timeout_ms'],
    holds: (c) => c.terminal.dupWindowMs > (c.terminal.retries + 1) * c.terminal.ackTimeoutMs,
    explain: (c) => `terminal.dup_window_ms = ${c.terminal.dupWindowMs} is not allowed; it must be more than `
      + `(terminal.retries + 1) x terminal.ack_timeout_ms = (${c.terminal.retries} + 1) x ${c.terminal.ackTimeoutMs} = `
      + `${(c.terminal.retries + 1) * c.terminal.ackTimeoutMs} (so a late retransmission is never taken for a new frame)`,
  },
  {
    keys: ['terminal.reconnect_initial_ms', 'terminal.reconnect_max_ms'],
    holds: (c) => c.terminal.reconnectInitialMs <= c.terminal.reconnectMaxMs,
    explain: (c) => `terminal.reconnect_initial_ms = ${c.terminal.reconnectInitialMs} is not allowed; it must be at most `
      + `terminal.reconnect_max_ms = ${c.terminal.reconnectMaxMs}`,
  },
  {
    keys: ['provider.client_cert_file', 'provider.client_key_file'],
    holds: (c) => (c.provider.clientCertFile === undefined) === (c.provider.clientKeyFile === undefined),
    explain: () => 'provider.client_cert_file and provider.client_key_file must be set together (both paths, or both "")',
  },
];

// ---------------------------------------------------------------- derived helpers

export function snakeCase(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export const SECTION_NAMES = Object.keys(CONFIG_SCHEMA) as SectionName[];

/** Untyped view of one field spec, for code that walks the schema. */
export type AnyFieldSpec = KeySpec<unknown> | TableSpec;

export interface SchemaEntry {
  readonly section: SectionName;
  /** camelCase, as in OtcdConfig. */
  readonly field: string;
  /** snake_case, as in the file. */
  readonly key: string;
  /** section.key */
  readonly name: string;
  readonly spec: AnyFieldSpec;
}

/** Every field of the schema, in file order. */
export function schemaEntries(): SchemaEntry[] {
  const out: SchemaEntry[] = [];
  for (const section of SECTION_NAMES) {
    for (const [field, spec] of Object.entries(CONFIG_SCHEMA[section]) as [string, AnyFieldSpec][]) {
      const key = snakeCase(field);
      out.push({ section, field, key, name: `${section}.${key}`, spec });
    }
  }
  return out;
}

/** Says in words what a scalar key accepts. */
export function describeAllowed(spec: KeySpec<unknown>): string {
  if (spec.allowed) return spec.allowed;
  if (spec.oneOf) return `use one of ${spec.oneOf.join(', ')}`;
  const what = spec.type === 'integer' ? 'a whole number' : spec.type === 'number' ? 'a number' : 'a string';
  const unit = spec.unit ? ` of ${spec.unit}` : '';
  const low = spec.above !== undefined ? `more than ${spec.above}` : spec.min !== undefined ? `from ${spec.min}` : undefined;
  const high = spec.max !== undefined ? (spec.above !== undefined ? `at most ${spec.max}` : `to ${spec.max}`) : undefined;
  const range = [low, high].filter((s) => s !== undefined).join(spec.above !== undefined ? ' and ' : ' ');
  return `use ${what}${unit}${range ? ` ${range}` : ''}`;
}

/** All defaults, with the placeholder base_url. A fresh object each call. */
export function defaultConfig(): OtcdConfig {
  const cfg: Record<string, Record<string, unknown>> = {};
  for (const e of schemaEntries()) {
    cfg[e.section] ??= {};
    const value = e.spec.kind === 'table' ? {} : e.spec.default;
    if (value !== undefined) cfg[e.section][e.field] = value;
  }
  return cfg as unknown as OtcdConfig;
}
