/**
 * Turns a parsed TOML document (plus environment overrides) into an
 * `OtcdConfig`, collecting every problem instead of stopping at the first:
 * a technician at a kiosk should fix the file once, not once per error.
 *
 * Every message starts with the file and names the key as section.key;
 * values of secret keys, and of keys that are not known (which may be a
 * misplaced secret), are never repeated in a message.
 */
import { TomlDate } from 'smol-toml';
import {
  CONFIG_RELATIONS,
  CONFIG_SCHEMA,
  SECTION_NAMES,
  type KeySpec,
  type OtcdConfig,
  type SchemaEntry,
  type SectionName,
  describeAllowed,
  schemaEntries,
} from './schema.js';
import { nearest } from './suggest.js';

/** One value given for a key, and where it came from. */
export interface GivenValue {
  readonly value: unknown;
  /** The environment variable that set it; undefined when from a file. */
  readonly from?: string;
  /** The file that set it (the main file or a drop-in); undefined when from the environment. */
  readonly file?: string;
}

/** What the file and environment say, before validation. */
export interface GivenConfig {
  /** By section.key. */
  readonly keys: Map<string, GivenValue>;
  /** provider.headers by header name as written. */
  readonly headers: Map<string, GivenValue>;
}

const ENTRIES = schemaEntries();
const BY_NAME = new Map(ENTRIES.map((e) => [e.name, e]));

export function entryByName(name: string): SchemaEntry | undefined {
  return BY_NAME.get(name);
}

function keysOf(section: SectionName): string[] {
  return ENTRIES.filter((e) => e.section === section).map((e) => e.key);
}

/** The known section.key a misspelt or misplaced key most likely meant. */
export function suggestKey(section: string | undefined, key: string): string | undefined {
  if (section !== undefined && (SECTION_NAMES as string[]).includes(section)) {
    const near = nearest(key, keysOf(section as SectionName));
    if (near !== undefined) return `${section}.${near}`;
  }
  const elsewhere = nearest(key, ENTRIES.map((e) => e.key));
  return elsewhere === undefined ? undefined : ENTRIES.find((e) => e.key === elsewhere)?.name;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof TomlDate);
}

export function describeType(v: unknown): string {
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'bigint') return 'an integer';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a float';
  if (typeof v === 'boolean') return 'a boolean';
  if (v instanceof TomlDate) return 'a date';
  if (Array.isArray(v)) return 'an array';
  return 'a table';
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof TomlDate) return v.toISOString();
  return describeType(v);
}

function fromText(g: GivenValue): string {
  return g.from === undefined ? '' : ` (from ${g.from})`;
}

/**
 * Sorts the parsed document into known keys and headers; anything else is a
 * problem (unknown section, unknown key, a section that is not a table).
 */
export function collectDocument(doc: Record<string, unknown>, file: string): { given: GivenConfig; problems: string[] } {
  const given: GivenConfig = { keys: new Map(), headers: new Map() };
  const problems: string[] = [];
  for (const [section, body] of Object.entries(doc)) {
    if (!(SECTION_NAMES as string[]).includes(section)) {
      if (!isTable(body)) {
        const hint = suggestKey(undefined, section);
        problems.push(`${file}: unknown key ${section} outside any section${hint ? `; did you mean ${hint} (under [${hint.split('.')[0]}])?` : ''}`);
        continue;
      }
      const near = nearest(section, SECTION_NAMES);
      problems.push(`${file}: unknown section [${section}]; ${near ? `did you mean [${near}]?` : `the sections are ${SECTION_NAMES.map((s) => `[${s}]`).join(', ')}`}`);
      continue;
    }
    if (!isTable(body)) {
      problems.push(`${file}: ${section} must be a section ([${section}]), not ${describeType(body)}`);
      continue;
    }
    for (const [key, value] of Object.entries(body)) {
      const name = `${section}.${key}`;
      const entry = BY_NAME.get(name);
      if (entry === undefined) {
        const hint = suggestKey(section, key);
        problems.push(`${file}: unknown key ${name}; ${hint ? `did you mean ${hint}?` : `the keys of [${section}] are ${keysOf(section as SectionName).join(', ')}`}`);
      } else if (entry.spec.kind === 'table') {
        collectTable(name, value, given.headers, file, problems);
      } else {
        given.keys.set(name, { value, file });
      }
    }
  }
  return { given, problems };
}

function collectTable(name: string, value: unknown, into: Map<string, GivenValue>, file: string, problems: string[]): void {
  if (!isTable(value)) {
    problems.push(`${file}: ${name} has the wrong type: expected a table ([${name}]), got ${describeType(value)}`);
    return;
  }
  for (const [entryName, entryValue] of Object.entries(value)) into.set(entryName, { value: entryValue, file });
}

/** The file a problem with `g` is reported against: the one that holds the key. */
function fileOf(g: GivenValue, mainFile: string): string {
  return g.file ?? mainFile;
}

function checkScalar(entry: SchemaEntry, spec: KeySpec<unknown>, g: GivenValue, mainFile: string): string | undefined {
  const file = fileOf(g, mainFile);
  const v = g.value;
  const shown = spec.secret ? '<hidden>' : show(v);
  const allowedHint = spec.allowed ? `; ${spec.allowed}` : '';
  const wrongType = (expected: string): string =>
    `${file}: ${entry.name}${fromText(g)} has the wrong type: expected ${expected}, got ${describeType(v)}${spec.secret ? '' : ` (${shown})`}${allowedHint}`;
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') return wrongType('a string in quotes');
      break;
    case 'integer':
      if (typeof v === 'bigint') return `${file}: ${entry.name} = ${shown}${fromText(g)} is not allowed; ${describeAllowed(spec)}`;
      if (typeof v !== 'number' || !Number.isInteger(v)) return wrongType('an integer');
      break;
    case 'number':
      if (typeof v === 'bigint') return `${file}: ${entry.name} = ${shown}${fromText(g)} is not allowed; ${describeAllowed(spec)}`;
      if (typeof v !== 'number') return wrongType('a number');
      if (!Number.isFinite(v)) return `${file}: ${entry.name} = ${shown}${fromText(g)} is not allowed; ${describeAllowed(spec)}`;
      break;
  }
  const value = v as string | number;
  const bad = (why: string): string => `${file}: ${entry.name} = ${shown}${fromText(g)} is not allowed; ${why}`;
  if (spec.oneOf && !spec.oneOf.includes(value)) return bad(describeAllowed(spec));
  if (typeof value === 'number') {
    if ((spec.min !== undefined && value < spec.min) || (spec.above !== undefined && value <= spec.above)
      || (spec.max !== undefined && value > spec.max)) {
      return bad(describeAllowed(spec));
    }
  }
  const why = spec.check?.(value);
  return why === undefined ? undefined : bad(why);
}

function checkHeaders(given: Map<string, GivenValue>, mainFile: string, problems: string[]): Record<string, string> {
  const spec = CONFIG_SCHEMA.provider.headers;
  const headers: Record<string, string> = {};
  const seen = new Map<string, string>();
  for (const [name, g] of given) {
    const file = fileOf(g, mainFile);
    const key = `provider.headers.${name}`;
    const badName = spec.checkName(name);
    if (badName !== undefined) {
      problems.push(`${file}: ${key}${fromText(g)} is not allowed; ${badName}`);
      continue;
    }
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) {
      problems.push(`${file}: ${key}${fromText(g)} repeats provider.headers.${first}; header names are case-insensitive, keep one`);
      continue;
    }
    seen.set(name.toLowerCase(), name);
    if (typeof g.value !== 'string') {
      problems.push(`${file}: ${key}${fromText(g)} has the wrong type: expected a string in quotes, got ${describeType(g.value)}`);
      continue;
    }
    const badValue = spec.checkValue(g.value);
    if (badValue !== undefined) {
      // The value is a secret: say what is wrong with it, never what it is.
      problems.push(`${file}: ${key} = <hidden>${fromText(g)} is not allowed; ${badValue}`);
      continue;
    }
    headers[name] = g.value;
  }
  return headers;
}

/**
 * Checks every key (given or default) and every relation between keys.
 * Returns the typed configuration only when there are no problems.
 */
export function validate(given: GivenConfig, file: string): { config?: OtcdConfig; problems: string[] } {
  const problems: string[] = [];
  const invalid = new Set<string>();
  const cfg: Record<string, Record<string, unknown>> = {};
  for (const entry of ENTRIES) {
    cfg[entry.section] ??= {};
    const spec = entry.spec;
    if (spec.kind === 'table') {
      const before = problems.length;
      cfg[entry.section][entry.field] = checkHeaders(given.headers, file, problems);
      if (problems.length > before) invalid.add(entry.name);
      continue;
    }
    const g = given.keys.get(entry.name);
    if (g === undefined) {
      if (spec.default !== undefined) cfg[entry.section][entry.field] = spec.default;
      continue;
    }
    const problem = checkScalar(entry, spec, g, file);
    if (problem !== undefined) {
      problems.push(problem);
      invalid.add(entry.name);
      continue;
    }
    const value = spec.decode ? spec.decode(g.value as string | number) : g.value;
    if (value !== undefined) cfg[entry.section][entry.field] = value;
  }
  const typed = cfg as unknown as OtcdConfig;
  for (const rule of CONFIG_RELATIONS) {
    if (rule.keys.some((k) => invalid.has(k))) continue;
    if (rule.holds(typed)) continue;
    // Reported against the file that set the key the message is about; where the
    // other keys came from is said in brackets when it is somewhere else.
    const first = given.keys.get(rule.keys[0]);
    const at = first === undefined ? file : fileOf(first, file);
    const elsewhere = rule.keys.flatMap((k) => {
      const g = given.keys.get(k);
      if (g === undefined) return [];
      const source = g.from ?? fileOf(g, file);
      return source === at ? [] : [`${k} from ${source}`];
    });
    problems.push(`${at}: ${rule.explain(typed)}${elsewhere.length > 0 ? ` [${elsewhere.join(', ')}]` : ''}`);
  }
  return problems.length === 0 ? { config: typed, problems } : { problems };
}
