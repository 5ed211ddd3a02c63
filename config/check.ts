/**
 * `otcd check-config [FILE]`, in the manner of `sshd -t` and `nginx -t`:
 * prints the effective configuration (file + defaults + environment) as TOML
 * with secrets hidden and returns 0, or prints every problem and returns 78.
 * The output on success is itself valid TOML (notes are comments), so a
 * technician can diff it against the file or keep it with a support ticket.
 */
import { CONFIG_EXIT_CODE, ConfigError, loadConfig } from './load.js';
import { type FileValue, type OtcdConfig, PLACEHOLDER_BASE_URL, SECTION_NAMES, schemaEntries } from './schema.js';

export const HIDDEN = '<hidden>';

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

function tomlKey(name: string): string {
  return BARE_KEY.test(name) ? name : JSON.stringify(name);
}

/** JSON string escapes are valid TOML basic-string escapes. */
function tomlValue(v: FileValue): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** The configuration as TOML, secrets replaced by "<hidden>". */
export function formatEffectiveConfig(cfg: OtcdConfig): string {
  const lines: string[] = [];
  const tables: string[] = [];
  for (const section of SECTION_NAMES) {
    lines.push('', `[${section}]`);
    const values = cfg[section] as unknown as Record<string, unknown>;
    for (const e of schemaEntries().filter((x) => x.section === section)) {
      const spec = e.spec;
      if (spec.kind === 'table') {
        const table = (values[e.field] ?? {}) as Record<string, string>;
        tables.push('', `[${e.name}]`);
        for (const [name, value] of Object.entries(table)) {
          tables.push(`${tomlKey(name)} = ${tomlValue(spec.secret ? HIDDEN : value)}`);
        }
        continue;
      }
      const typed = values[e.field];
      const raw = spec.encode ? spec.encode(typed) : (typed as FileValue);
      const shown = spec.secret ? HIDDEN : spec.redact ? spec.redact(raw) : raw;
      lines.push(`${e.key} = ${tomlValue(shown)}`);
    }
    lines.push(...tables.splice(0));
  }
  return lines.slice(1).join('\n');
}

/** Things that are valid but probably not what a kiosk in the field wants. */
export function configWarnings(cfg: OtcdConfig): string[] {
  const warnings: string[] = [];
  if (cfg.provider.baseUrl === PLACEHOLDER_BASE_URL) {
    warnings.push(`provider.base_url is still the placeholder ${PLACEHOLDER_BASE_URL}; set it to the provider's API domain or every inquiry fails`);
  }
  if (cfg.socket.mode & 0o007) {
    warnings.push(`socket.mode "${cfg.socket.mode.toString(8).padStart(4, '0')}" lets every local user connect; "0660" limits it to socket.group`);
  }
  return warnings;
}

/**
 * Validates `file` with `env`, writes the result through `out` one line at a
 * time, and returns the exit code: 0, or CONFIG_EXIT_CODE (78).
 */
export function runCheckConfig(file: string, out: (line: string) => void, env: NodeJS.ProcessEnv = process.env): number {
  let cfg: OtcdConfig;
  try {
    cfg = loadConfig(file, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const problem of err.problems) out(problem);
    const n = err.problems.length;
    out(`${file}: configuration is not valid (${n} problem${n === 1 ? '' : 's'}); otcd would exit with code ${CONFIG_EXIT_CODE}`);
    return CONFIG_EXIT_CODE;
  }
  out(`# ${file}: configuration is valid`);
  out('# effective configuration (file, defaults and OTCD_* environment overrides; secrets hidden):');
  for (const w of configWarnings(cfg)) out(`# warning: ${w}`);
  for (const line of formatEffectiveConfig(cfg).split('\n')) out(line);
  return 0;
}
