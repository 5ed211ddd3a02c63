/**
 * `otcd check-config [FILE]`, in the manner of `sshd -t` and `nginx -t`:
 * checks everything a start would check (the file and its drop-ins, then the
 * machine: host-checks.ts) as the user the service runs as, and prints the
 * effective configuration (files + defaults + environment) as TOML with
 * secrets hidden, each key followed by a comment naming the file or variable
 * that set it, and returns 0; or prints every problem and returns 78. The
 * output on success is itself valid TOML (notes are comments), so a
 * technician can diff it against the files or keep it with a support ticket.
 */
import { resolve } from 'node:path';
import { userInfo } from 'node:os';
import { checkHost } from './host-checks.js';
import { CONFIG_EXIT_CODE, ConfigError, type LoadedConfig, loadConfigFiles } from './load.js';
import { type FileValue, type OtcdConfig, SECTION_NAMES, schemaEntries } from './schema.js';
import { SERVICE_USER, lookupUser, runAsUser, shouldCheckAs, unitWritablePaths } from './service-user.js';

export const HIDDEN = '<hidden>';

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

function tomlKey(name: string): string {
  return BARE_KEY.test(name) ? name : JSON.stringify(name);
}

/** JSON string escapes are valid TOML basic-string escapes. */
function tomlValue(v: FileValue): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * The configuration as TOML, secrets replaced by "<hidden>"; with `sources`,
 * each key ends with a comment naming where its value came from.
 */
export function formatEffectiveConfig(cfg: OtcdConfig, sources?: ReadonlyMap<string, string>): string {
  const lines: string[] = [];
  const tables: string[] = [];
  const from = (name: string): string => {
    const source = sources?.get(name);
    return source === undefined ? '' : `  # ${source}`;
  };
  for (const section of SECTION_NAMES) {
    lines.push('', `[${section}]`);
    const values = cfg[section] as unknown as Record<string, unknown>;
    for (const e of schemaEntries().filter((x) => x.section === section)) {
      const spec = e.spec;
      if (spec.kind === 'table') {
        const table = (values[e.field] ?? {}) as Record<string, string>;
        tables.push('', `[${e.name}]`);
        for (const [name, value] of Object.entries(table)) {
          tables.push(`${tomlKey(name)} = ${tomlValue(spec.secret ? HIDDEN : value)}${from(`${e.name}.${name}`)}`);
        }
        continue;
      }
      const typed = values[e.field];
      const raw = spec.encode ? spec.encode(typed) : (typed as FileValue);
      const shown = spec.secret ? HIDDEN : spec.redact ? spec.redact(raw) : raw;
      lines.push(`${e.key} = ${tomlValue(shown)}${from(e.name)}`);
    }
    lines.push(...tables.splice(0));
  }
  return lines.slice(1).join('\n');
}

/** Things that are valid but probably not what a kiosk in the field wants. */
export function configWarnings(cfg: OtcdConfig): string[] {
  const warnings: string[] = [];
  if (cfg.socket.mode & 0o007) {
    warnings.push(`socket.mode "${cfg.socket.mode.toString(8).padStart(4, '0')}" lets every local user connect; "0660" limits it to socket.group`);
  }
  return warnings;
}

export interface CheckConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** The user to check as when run by root; default otcd.service's User=, otcd. */
  serviceUser?: string;
  /** The otcd script to re-execute as that user; default this process's. */
  script?: string;
  /** For tests; default /etc/group. */
  groupFile?: string;
}

function describeSelf(): string {
  const uid = process.getuid?.();
  let name = `uid ${uid}`;
  try {
    name = `user ${userInfo().username} (uid ${uid})`;
  } catch {
    // a uid with no passwd entry: the number says it
  }
  return name;
}

/**
 * Checks `file` (with its drop-ins and `env`) and this machine, writes the
 * result through `out` one line at a time, and returns the exit code: 0, or
 * CONFIG_EXIT_CODE (78). Run by root while the service user exists, the
 * check runs as that user in a child process (service-user.ts), whose
 * output lines come through `out` and whose exit code is returned.
 */
export async function runCheckConfig(file: string, out: (line: string) => void, opts: CheckConfigOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const userName = opts.serviceUser ?? SERVICE_USER;
  const user = lookupUser(userName);
  let asWho = `${describeSelf()}`;
  if (shouldCheckAs(user)) {
    const code = runAsUser(user, opts.script ?? process.argv[1], ['check-config', resolve(file)], out, env);
    if (code !== undefined) return code;
    asWho += `; could not switch to user ${userName} (no setpriv), so files root can read may still be unreadable to the service`;
  } else if (process.getuid?.() === 0) {
    asWho += `; there is no user ${userName}, so files were checked as root`;
  }

  let loaded: LoadedConfig;
  try {
    loaded = loadConfigFiles(file, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const problem of err.problems) out(problem);
    const n = err.problems.length;
    out(`${file}: configuration is not valid (${n} problem${n === 1 ? '' : 's'}); otcd would exit with code ${CONFIG_EXIT_CODE}`);
    return CONFIG_EXIT_CODE;
  }
  // Outside the unit, ask systemd what the unit lets otcd write (a read-only file system it would meet only there).
  const insideUnit = env.INVOCATION_ID !== undefined && env.STATE_DIRECTORY !== undefined;
  const host = await checkHost(loaded.config, {
    sources: loaded.sources, groupFile: opts.groupFile, serviceWritable: insideUnit ? undefined : unitWritablePaths(),
  });
  if (host.problems.length > 0) {
    for (const problem of host.problems) out(problem);
    const n = host.problems.length;
    out(`${file}: otcd would not start (${n} problem${n === 1 ? '' : 's'}, checked as ${asWho}); it would exit with code ${CONFIG_EXIT_CODE}`);
    return CONFIG_EXIT_CODE;
  }
  out(`# ${file}: configuration is valid`);
  out(`# files read, later ones winning: ${loaded.files.join(', ')}`);
  out(`# files, group and state directory checked as ${asWho}`);
  out('# effective configuration (files, defaults and OTCD_* environment overrides; secrets hidden):');
  for (const w of [...configWarnings(loaded.config), ...host.warnings]) out(`# warning: ${w}`);
  for (const line of formatEffectiveConfig(loaded.config, loaded.sources).split('\n')) out(line);
  return 0;
}
