/**
 * Loads /etc/otcd/otcd.toml: read, parse, apply OTCD_* environment
 * overrides, validate, freeze.
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
import { readFileSync } from 'node:fs';
import { TomlError, parse } from 'smol-toml';
import { OtcdError } from '../drivers/errors.js';
import { applyEnvOverrides } from './env.js';
import type { OtcdConfig } from './schema.js';
import { collectDocument, validate } from './validate.js';

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
      ? 'no such file; otcd needs a configuration file (install the shipped otcd.toml there and set provider.base_url, or pass --config FILE)'
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

/**
 * The validated, frozen configuration from `file` and `env`.
 * @throws ConfigError listing every problem found.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): OtcdConfig {
  const doc = parseToml(file, readText(file));
  const { given, problems } = collectDocument(doc, file);
  problems.push(...applyEnvOverrides(given, env, file));
  const result = validate(given, file);
  problems.push(...result.problems);
  if (problems.length > 0 || result.config === undefined) throw new ConfigError(file, problems);
  return deepFreeze(result.config);
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
