/**
 * Where otcd is: its socket and its state directory, from the options or
 * the configuration file.
 *
 * Reading of the brief, as documented in --help:
 * - `--socket PATH` (or `--state-dir DIR`) wins and the configuration is not read.
 * - An explicit `--config FILE` that cannot be loaded is a configuration error
 *   (exit 78): the technician named that file and must hear what is wrong.
 * - $OTCD_CONFIG or /etc/otcd/otcd.toml that cannot be read (often: not in
 *   group otcd) falls back to the built-in default. The reason is kept in
 *   `note` and printed only if the connection (or the ledger read) then fails.
 */
import { loadConfig, resolveConfigPath } from '../../config/load.js';
import type { OtcdConfig } from '../../config/schema.js';
import type { Values } from './command.js';

export const DEFAULT_SOCKET_PATH = '/run/otcd/otcd.sock';
export const DEFAULT_STATE_DIR = '/var/lib/otcd';

export interface Target {
  path: string;
  /** Why the default is used, when the configuration could not be read. */
  note?: string;
}

interface Loaded { config?: OtcdConfig; note?: string }

function load(values: Values, env: NodeJS.ProcessEnv): Loaded {
  const explicit = typeof values.config === 'string';
  const file = resolveConfigPath(explicit ? ['--config', values.config as string] : [], env);
  try {
    return { config: loadConfig(file, env) };
  } catch (err) {
    // ConfigError from an explicit --config goes up: exit 78.
    if (explicit) throw err;
    const first = (err as Error).message.split('\n')[0];
    return { note: `note: the configuration could not be used (${first}), so otcctl tried the default` };
  }
}

export function socketTarget(values: Values, env: NodeJS.ProcessEnv): Target {
  if (typeof values.socket === 'string') return { path: values.socket };
  const { config, note } = load(values, env);
  if (config) return { path: config.socket.path };
  return { path: DEFAULT_SOCKET_PATH, note: `${note} ${DEFAULT_SOCKET_PATH}; pass --socket PATH or --config FILE` };
}

export function stateDirTarget(values: Values, env: NodeJS.ProcessEnv): Target {
  if (typeof values['state-dir'] === 'string') return { path: values['state-dir'] };
  const { config, note } = load(values, env);
  if (config) return { path: config.daemon.stateDir };
  return { path: DEFAULT_STATE_DIR, note: `${note} ${DEFAULT_STATE_DIR}; pass --state-dir DIR or --config FILE` };
}
