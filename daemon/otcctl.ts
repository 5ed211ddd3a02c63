#!/usr/bin/env node
/**
 * `otcctl`: the field technicians' tool for otcd. Only wiring: find the
 * command, parse its options, run it, turn failures into messages and exit
 * codes. The commands live in daemon/cli/, one file each.
 *
 *   otcctl status | terminal ping | payments [--last N] | pay --amount N --authorization-id ID
 *   otcctl void --intent-id ID [--reason TEXT]
 *   otcctl help [COMMAND] | --help | --version
 */
import { CONFIG_EXIT_CODE, ConfigError } from '../config/load.js';
import { processOutput, parseCommandArgs, type Command, type Output } from './cli/command.js';
import { CliError, UsageError } from './cli/errors.js';
import { EXIT, EXIT_CODES_HELP } from './cli/exit-codes.js';
import { printable } from './cli/format.js';
import { payCommand } from './cli/pay.js';
import { paymentsCommand } from './cli/payments.js';
import { statusCommand } from './cli/status.js';
import { terminalPingCommand } from './cli/terminal-ping.js';
import { voidCommand } from './cli/void.js';
import { readVersion } from './version.js';

const COMMANDS: readonly Command[] = [statusCommand, terminalPingCommand, paymentsCommand, payCommand, voidCommand];

const USAGE = `usage: otcctl <command> [options]

The field technicians' tool for otcd, the kiosk payment daemon. Talks to otcd
over its socket; "payments" reads the ledger file and works without otcd.

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(15)} ${c.summary}`).join('\n')}
  help [COMMAND]  this text, or a command's (same as otcctl COMMAND --help)

Every command takes --help and --json. The socket is --socket PATH, else
socket.path of the configuration (--config FILE, else $OTCD_CONFIG, else
/etc/otcd/otcd.toml), else /run/otcd/otcd.sock. Times are local.
Permission denied? add your user to group otcd (usermod -aG otcd $USER).

  otcctl status
  otcctl terminal ping
  otcctl payments --last 5
  otcctl pay --amount 1004 --authorization-id A1B2C3
  otcctl void --intent-id order-8812 --reason "dispense failed"

${EXIT_CODES_HELP}`;

/** Options that take a value, so their value is not mistaken for a command word. */
const VALUE_OPTIONS = new Set(COMMANDS.flatMap((c) => Object.entries(c.options)
  .filter(([, o]) => o.type === 'string')
  .flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])])));

/** Splits argv into command words and the command's options (options may come before the command). */
function splitWords(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('-') && arg !== '-') {
      rest.push(arg);
      if (VALUE_OPTIONS.has(arg) && i + 1 < argv.length) rest.push(argv[++i]);
    } else if (words.length < 2 && (words.length === 0 || words[0] === 'terminal' || words[0] === 'help')) {
      words.push(arg);
    } else {
      rest.push(arg);
    }
  }
  return { words, rest };
}

function findCommand(words: string[]): Command | undefined {
  return COMMANDS.find((c) => c.name === words.join(' '));
}

const wantsHelp = (args: readonly string[]): boolean => args.includes('--help') || args.includes('-h');

async function main(argv: readonly string[], output: Output): Promise<number> {
  const { words, rest } = splitWords(argv);
  if (words.length === 0) {
    if (rest.includes('--version')) {
      output.out(`otcctl ${readVersion()}`);
      return EXIT.OK;
    }
    if (wantsHelp(rest)) {
      output.out(USAGE);
      return EXIT.OK;
    }
    throw new UsageError(rest.length === 0 ? 'no command given' : `no command given (before ${rest[0]})`);
  }
  if (words[0] === 'help') {
    const about = words.slice(1);
    const target = about.length === 0 ? undefined : findCommand(about[0] === 'terminal' ? ['terminal', 'ping'] : about);
    if (about.length > 0 && !target) throw new UsageError(`no command "${about.join(' ')}"`);
    output.out(target ? target.help : USAGE);
    return EXIT.OK;
  }
  if (words[0] === 'terminal' && words.length === 1) {
    if (wantsHelp(rest)) {
      output.out(terminalPingCommand.help);
      return EXIT.OK;
    }
    throw new UsageError('"terminal" needs a subcommand: otcctl terminal ping', 'terminal ping');
  }
  const command = findCommand(words);
  if (!command) throw new UsageError(`unknown command "${words.join(' ')}"`);
  if (wantsHelp(rest)) {
    output.out(command.help);
    return EXIT.OK;
  }
  const values = parseCommandArgs(command, rest);
  try {
    return await command.run({ values, output, env: process.env });
  } catch (err) {
    if (err instanceof UsageError && err.helpCommand === '') throw new UsageError(err.message, command.name);
    throw err;
  }
}

/** Failures as one stderr message (and, with --json, one JSON document on stdout). */
function report(err: unknown, json: boolean, output: Output): number {
  let exitCode: number = EXIT.INTERNAL;
  let code = 'INTERNAL';
  let message: string;
  if (err instanceof UsageError) {
    exitCode = err.exitCode;
    code = err.code;
    message = `${err.message}\n(otcctl ${err.helpCommand ? `${err.helpCommand} ` : ''}--help for usage)`;
  } else if (err instanceof ConfigError) {
    exitCode = CONFIG_EXIT_CODE;
    code = err.code;
    message = err.message;
  } else if (err instanceof CliError) {
    exitCode = err.exitCode;
    code = err.code;
    message = err.message;
  } else {
    message = `internal error (a bug in otcctl; please report it): ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
  }
  output.err(message.split('\n').map((line) => `otcctl: ${printable(line)}`).join('\n'));
  if (json && exitCode !== EXIT.USAGE) output.out(JSON.stringify({ error: { code, message } }));
  return exitCode;
}

// EPIPE on stdout (otcctl payments | head) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

const argv = process.argv.slice(2);
main(argv, processOutput).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.exitCode = report(err, argv.includes('--json'), processOutput); },
);
