/**
 * Environment overrides: OTCD_<SECTION>_<KEY>, upper-case, e.g.
 * OTCD_TERMINAL_ADDRESS=tcp://10.0.0.5:4001 or OTCD_PAYMENT_WINDOW_S=60.
 *
 * - A value is read as the key's TOML type: integers and numbers as decimal
 *   text; anything that does not look like one stays a string, so the
 *   validator reports it as the wrong type, naming the variable.
 * - Provider headers: OTCD_PROVIDER_HEADERS_<NAME>, with `_` in NAME read as
 *   `-` (OTCD_PROVIDER_HEADERS_X_API_KEY sets X-API-KEY). Header names are
 *   case-insensitive, so it replaces a header of the file with the same name
 *   in any case. This is how a secret can come from a systemd credential or
 *   an EnvironmentFile instead of the configuration file.
 * - A variable under a section's prefix (OTCD_TERMINAL_...) that names no key
 *   is a problem: a misspelt override must not be silently ignored. Other
 *   OTCD_* variables (OTCD_CONFIG, the file's path) are not overrides.
 */
import { SECTION_NAMES, type SchemaEntry, schemaEntries } from './schema.js';
import type { GivenConfig } from './validate.js';
import { nearest } from './suggest.js';

export const ENV_PREFIX = 'OTCD_';
export const HEADER_ENV_PREFIX = 'OTCD_PROVIDER_HEADERS_';

export function envName(entry: Pick<SchemaEntry, 'section' | 'key'>): string {
  return `${ENV_PREFIX}${entry.section.toUpperCase()}_${entry.key.toUpperCase()}`;
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function parseAs(type: 'string' | 'integer' | 'number', text: string): string | number {
  const t = text.trim();
  if (type === 'integer' && INTEGER_TEXT.test(t)) return Number(t);
  if (type === 'number' && NUMBER_TEXT.test(t)) return Number(t);
  return text;
}

/** Writes the overrides found in `env` into `given`; returns the problems. */
export function applyEnvOverrides(given: GivenConfig, env: NodeJS.ProcessEnv, file: string): string[] {
  const problems: string[] = [];
  const scalars = new Map<string, SchemaEntry>();
  for (const e of schemaEntries()) if (e.spec.kind === 'scalar') scalars.set(envName(e), e);
  const sectionPrefixes = SECTION_NAMES.map((s) => `${ENV_PREFIX}${s.toUpperCase()}_`);

  for (const name of Object.keys(env).sort()) {
    const text = env[name];
    if (text === undefined) continue;
    if (name.startsWith(HEADER_ENV_PREFIX) && name.length > HEADER_ENV_PREFIX.length) {
      const header = name.slice(HEADER_ENV_PREFIX.length).replace(/_/g, '-');
      const existing = [...given.headers.keys()].find((h) => h.toLowerCase() === header.toLowerCase());
      given.headers.set(existing ?? header, { value: text, from: name });
      continue;
    }
    const entry = scalars.get(name);
    if (entry !== undefined && entry.spec.kind === 'scalar') {
      given.keys.set(entry.name, { value: parseAs(entry.spec.type, text), from: name });
      continue;
    }
    if (sectionPrefixes.some((p) => name.startsWith(p))) {
      const near = nearest(name, [...scalars.keys(), `${HEADER_ENV_PREFIX}<NAME>`]);
      problems.push(`${file}: environment variable ${name} names no configuration key; `
        + (near ? `did you mean ${near}?` : `overrides are named ${ENV_PREFIX}<SECTION>_<KEY>, e.g. OTCD_TERMINAL_ADDRESS`));
    }
  }
  return problems;
}
