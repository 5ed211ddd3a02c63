/**
 * The shape of an otcctl command and what every command shares: option
 * parsing with node:util parseArgs (a parse error is a usage error, exit
 * 64), `--help`, and where output goes.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

export interface Output {
  /** A line (or lines) for stdout; `\n` added. */
  out(text: string): void;
  /** A line for stderr; `\n` added. */
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => { process.stdout.write(`${text}\n`); },
  err: (text) => { process.stderr.write(`${text}\n`); },
};

export interface CommandContext {
  values: Values;
  output: Output;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  /** As typed: "status", "terminal ping". */
  name: string;
  /** One line for `otcctl --help`. */
  summary: string;
  /** The full text of `otcctl <name> --help`. */
  help: string;
  options: Options;
  /** Resolves with the exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** Options every daemon command takes. */
export const SOCKET_OPTIONS: Options = {
  socket: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const SOCKET_OPTIONS_HELP = `  --socket PATH           otcd's socket (default: socket.path of the configuration,
                          else /run/otcd/otcd.sock if the configuration cannot be read)
  --config FILE           configuration file (default: $OTCD_CONFIG, else /etc/otcd/otcd.toml)
  --json                  one JSON document on stdout instead of text for people
  -h, --help              this help`;

/** Parses a command's arguments strictly; anything unexpected is a UsageError. */
export function parseCommandArgs(command: Command, args: string[]): Values {
  try {
    const { values, positionals } = parseArgs({ args, options: command.options, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, command.name);
    return values as Values;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes and a readable message.
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(message, command.name);
  }
}

/** A string option as a whole number in [min, max], else a UsageError naming the option. */
export function intOption(name: string, value: string | boolean | undefined, min: number, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) {
    throw new UsageError(`--${name} needs a whole number from ${min} to ${max}${typeof value === 'string' ? `, not "${value}"` : ''}`);
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be from ${min} to ${max}, not ${value}`);
  return n;
}
