/**
 * Loads /etc/otcd/otcd.toml and its drop-ins: read, parse, merge, apply
 * OTCD_* environment overrides, validate, freeze.
 *
 * Drop-ins: every `*.toml` in the directory beside the file named after it
 * plus `.d` (/etc/otcd/otcd.toml.d/), read in name order after the main file;
 * a later file wins key by key, and [provider.headers] merges by header name
 * (case-insensitive). The package ships otcd.toml and never a drop-in, so a
 * site's settings in a drop-in survive every upgrade without a conffile
 * question, and the shipped file never needs a local edit. Other names in
 * the directory (README, *.dpkg-old, editor backups) are not read.
 *
 * A missing file is an error, not "use the defaults": the defaults cannot
 * know the provider's API domain, and a kiosk that silently starts on a
 * placeholder would fail every payment. The shipped config/otcd.toml is the
 * starting point; install it and set provider.base_url.
 *
 * The daemon exits with CONFIG_EXIT_CODE (78, EX_CONFIG from sysexits.h) on a
 * ConfigError; the systemd unit's RestartPreventExitStatus=78 stops systemd
 * from restarting it in a loop until somebody fixes the file.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TomlError, parse } from 'smol-toml';
import { OtcdError } from '../drivers/errors.js';
import { applyEnvOverrides } from './env.js';
import { type OtcdConfig, schemaEntries } from './schema.js';
import { type GivenConfig, collectDocument, validate } from './validate.js';

export const CONFIG_EXIT_CODE = 78;
export const DEFAULT_CONFIG_PATH = '/etc/otcd/otcd.toml';
/** Environment variable naming the configuration file. */
export const CONFIG_PATH_ENV = 'OTCD_CONFIG';

/** Everything wrong with one configuration, one line per problem. */
export class ConfigError extends OtcdError {
  readonly file: string;
  readonly problems: string[];

  constructor(file: string, problems: string[]) {
    const message = problems.length === 1
      ? problems[0]
      : `${problems.length} problems in the configuration ${file}:\n  ${problems.join('\n  ')}`;
    super('CONFIG', message);
    this.file = file;
    this.problems = problems;
  }
}

function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT'
      ? 'no such file; otcd needs a configuration file (install the shipped otcd.toml there and set provider.base_url in a drop-in, or pass --config FILE)'
      : code === 'EACCES'
        ? 'cannot be read: permission denied (the file must be readable by the otcd user)'
        : code === 'EISDIR'
          ? 'is a directory, not a configuration file'
          : `cannot be read (${code ?? String(err)})`;
    throw new ConfigError(file, [`${file}: ${why}`]);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(file, [`${file}: is not UTF-8 text; save it as UTF-8`]);
  }
}

function parseToml(file: string, text: string): Record<string, unknown> {
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof TomlError) {
      const what = err.message.split('\n')[0].replace(/^Invalid TOML document:\s*/, '');
      throw new ConfigError(file, [`${file}: TOML syntax error at line ${err.line}, column ${err.column}: ${what}`]);
    }
    throw err;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Where a key's value came from: a file's path, an OTCD_* variable, or the default. */
export const DEFAULT_SOURCE = 'default';

export interface LoadedConfig {
  readonly config: OtcdConfig;
  /** The files read, main file first, then the drop-ins in the order applied. */
  readonly files: readonly string[];
  /**
   * By section.key, and by provider.headers.<name>: the file or environment
   * variable that set it, or DEFAULT_SOURCE.
   */
  readonly sources: ReadonlyMap<string, string>;
}

/** The drop-in directory of configuration file `file`. */
export function dropInDir(file: string): string {
  return `${file}.d`;
}

/** The drop-in files of `file`, in the order they apply; problems when the directory cannot be listed. */
export function dropInFiles(file: string): { files: string[]; problems: string[] } {
  const dir = dropInDir(file);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { files: [], problems: [] };
    const why = code === 'ENOTDIR'
      ? 'is not a directory; drop-in files go in a directory of that name (mkdir it, move the file into it)'
      : code === 'EACCES'
        ? 'cannot be listed: permission denied (the directory must be readable by the otcd user: chmod 0755)'
        : `cannot be listed (${code ?? String(err)})`;
    return { files: [], problems: [`${dir}: ${why}`] };
  }
  // Byte order, as `ls` in the C locale shows them: 10-vendor.toml before 50-site.toml.
  const files = names.filter((n) => n.endsWith('.toml') && !n.startsWith('.'))
    .sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))))
    .map((n) => join(dir, n));
  return { files, problems: [] };
}

/** Puts what `next` (a later file) says over what `into` holds: key by key, headers by name in any case. */
function mergeGiven(into: GivenConfig, next: GivenConfig): void {
  for (const [name, g] of next.keys) into.keys.set(name, g);
  for (const [name, g] of next.headers) {
    for (const [old, was] of into.headers) {
      // A repeat within one file stays a problem for the validator to report.
      if (old.toLowerCase() === name.toLowerCase() && was.file !== g.file) into.headers.delete(old);
    }
    into.headers.set(name, g);
  }
}

/**
 * The validated, frozen configuration from `file`, its drop-ins and `env`,
 * with where each value came from.
 * @throws ConfigError listing every problem found, each naming the file that holds it.
 */
export function loadConfigFiles(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const problems: string[] = [];
  const given: GivenConfig = { keys: new Map(), headers: new Map() };
  const dropIns = dropInFiles(file);
  problems.push(...dropIns.problems);
  const files = [file, ...dropIns.files];
  for (const f of files) {
    try {
      const collected = collectDocument(parseToml(f, readText(f)), f);
      problems.push(...collected.problems);
      mergeGiven(given, collected.given);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  problems.push(...applyEnvOverrides(given, env, file));
  const result = validate(given, file);
  problems.push(...result.problems);
  if (problems.length > 0 || result.config === undefined) throw new ConfigError(file, problems);

  const sources = new Map<string, string>();
  for (const e of schemaEntries()) {
    if (e.spec.kind === 'table') continue;
    const g = given.keys.get(e.name);
    sources.set(e.name, g === undefined ? DEFAULT_SOURCE : (g.from ?? g.file ?? file));
  }
  for (const [name, g] of given.headers) sources.set(`provider.headers.${name}`, g.from ?? g.file ?? file);
  return { config: deepFreeze(result.config), files, sources };
}

/**
 * The validated, frozen configuration from `file`, its drop-ins and `env`.
 * @throws ConfigError listing every problem found.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): OtcdConfig {
  return loadConfigFiles(file, env).config;
}

/**
 * The configuration file to use: `--config FILE` (or `--config=FILE`)
 * anywhere in `argv`; else the FILE after `check-config`; else $OTCD_CONFIG;
 * else DEFAULT_CONFIG_PATH. `argv` is the arguments after the program
 * (process.argv.slice(2)).
 * @throws ConfigError when --config has no value.
 */
export function resolveConfigPath(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--config') {
      const value = argv[i + 1];
      if (value === undefined || value === '' || value.startsWith('-')) {
        throw new ConfigError('--config', ['--config needs a file name: otcd --config /etc/otcd/otcd.toml']);
      }
      return value;
    }
    if (arg.startsWith('--config=')) {
      const value = arg.slice('--config='.length);
      if (value === '') throw new ConfigError('--config', ['--config needs a file name: otcd --config=/etc/otcd/otcd.toml']);
      return value;
    }
  }
  const check = argv.indexOf('check-config');
  if (check >= 0 && argv[check + 1] !== undefined && !argv[check + 1].startsWith('-')) return argv[check + 1];
  const fromEnv = env[CONFIG_PATH_ENV];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_CONFIG_PATH;
}
