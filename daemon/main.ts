#!/usr/bin/env node
/**
 * `otcd`: the daemon's command line. Only wiring: parse arguments, load the
 * configuration, build the daemon, map signals and failures to exit codes.
 *
 *   otcd [--config FILE]          run the daemon
 *   otcd check-config [FILE]      validate a configuration and print it (secrets hidden)
 *   otcd --version | --help
 *
 * Exit codes: 0 stopped cleanly; 1 failed at start or while running, where a
 * restart may cure it; 78 a problem a person must fix: the configuration, or
 * a file, group or directory it names (EX_CONFIG; the unit does not restart
 * on it); 75 the state directory is held by another otcd (EX_TEMPFAIL);
 * 64 usage error (EX_USAGE).
 */
import { runCheckConfig } from '../config/check.js';
import { checkHost } from '../config/host-checks.js';
import { CONFIG_EXIT_CODE, ConfigError, type LoadedConfig, loadConfigFiles, resolveConfigPath } from '../config/load.js';
import { isOtcdError } from '../drivers/errors.js';
import { Daemon } from './daemon.js';
import { STATE_DIR_BUSY_EXIT_CODE } from './payments/state-lock.js';
import { createLogger, detectFormat } from './log.js';
import { readVersion } from './version.js';

const EX_USAGE = 64;
/** Longer than the payment grace (SHUTDOWN_GRACE_MS, 15 s), shorter than the unit's TimeoutStopSec (30 s). */
const HARD_STOP_MS = 25_000;

const USAGE = `usage: otcd [--config FILE]        run the payment daemon
       otcd check-config [FILE]     validate a configuration file and print it with secrets hidden
       otcd --version

The configuration file is --config FILE, else $OTCD_CONFIG, else /etc/otcd/otcd.toml.
Any key can be overridden by OTCD_<SECTION>_<KEY>, e.g. OTCD_TERMINAL_ADDRESS=tcp://10.0.0.5:4001.
Site settings go in drop-ins: FILE.d/*.toml (/etc/otcd/otcd.toml.d/), read in name order after FILE.
Exit codes: 0 clean stop, 1 failure, 64 usage error, 75 another otcd holds the state
directory, 78 configuration error (a file, group or directory to fix).`;

/**
 * Start-up failures a restart cannot cure, by the code the daemon's parts
 * throw: the checks below normally find them first, but a file can change
 * between the check and its use.
 */
const PERSON_MUST_FIX = new Set(['GROUP_NOT_FOUND', 'PROVIDER_CONFIG', 'SOCKET_SETUP_FAILED']);

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`otcd ${readVersion()}\n`);
    return 0;
  }
  const unknown = argv.filter((a, i) => a.startsWith('-') && !a.startsWith('--config') && argv[i - 1] !== '--config');
  if (unknown.length > 0) {
    process.stderr.write(`otcd: unknown option ${unknown[0]}\n${USAGE}\n`);
    return EX_USAGE;
  }
  let file: string;
  try {
    file = resolveConfigPath(argv);
  } catch (err) {
    process.stderr.write(`otcd: ${(err as Error).message}\n`);
    return EX_USAGE;
  }
  if (argv[0] === 'check-config') {
    // `otcd check-config | head` closes the pipe early: stop writing, keep the exit code.
    let readerGone = false;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      readerGone = true;
    });
    return runCheckConfig(file, (line) => {
      if (!readerGone) process.stdout.write(`${line}\n`);
    });
  }
  if (argv.some((a, i) => !a.startsWith('-') && argv[i - 1] !== '--config')) {
    process.stderr.write(`otcd: unknown command ${argv.find((a) => !a.startsWith('-'))}\n${USAGE}\n`);
    return EX_USAGE;
  }
  return runDaemon(file);
}

/**
 * Writes `problems` and what to do, one line each, at priority err: under
 * journald the `<3>` prefix makes them so, and `journalctl -u otcd -p err`
 * and `systemctl status otcd` show them.
 */
function refuseStart(problems: readonly string[], advice: string): number {
  const prefix = detectFormat(process.env, process.stderr) === 'journal' ? '<3>' : '';
  for (const problem of problems) process.stderr.write(`${prefix}otcd: ${problem}\n`);
  process.stderr.write(`${prefix}otcd: not started: ${advice}\n`);
  return CONFIG_EXIT_CODE;
}

async function runDaemon(file: string): Promise<number> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfigFiles(file);
  } catch (err) {
    if (err instanceof ConfigError) return refuseStart(err.problems, `fix ${file} or its drop-ins (check with: otcd check-config ${file})`);
    throw err;
  }
  // The same checks as `otcd check-config`, as the user this process runs as.
  const host = await checkHost(loaded.config, { sources: loaded.sources, socketActivated: process.env.LISTEN_FDS !== undefined });
  if (host.problems.length > 0) return refuseStart(host.problems, `fix the above (check with: otcd check-config ${file})`);
  const config = loaded.config;
  const logger = createLogger({ level: config.daemon.logLevel });
  let daemon: Daemon;
  try {
    daemon = new Daemon({ config, logger, version: readVersion() });
  } catch (err) {
    if (isOtcdError(err) && PERSON_MUST_FIX.has(err.code)) {
      return refuseStart([`${err.code}: ${err.message}`], `fix the above (check with: otcd check-config ${file})`);
    }
    throw err;
  }

  let stopRequested: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => { stopRequested = resolve; });
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'signal received');
    stopRequested?.();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  try {
    await daemon.start();
  } catch (err) {
    if (isOtcdError(err, 'STATE_DIR_BUSY')) {
      // Nothing was opened, so there is nothing to stop: this otcd touched no ledger.
      logger.fatal({ code: err.code }, `otcd not started: ${err.message}`);
      return STATE_DIR_BUSY_EXIT_CODE;
    }
    await daemon.stop().catch(() => undefined);
    if (isOtcdError(err) && PERSON_MUST_FIX.has(err.code)) {
      return refuseStart([`${err.code}: ${err.message}`], `fix the above (check with: otcd check-config ${file})`);
    }
    logger.fatal({ err: isOtcdError(err) ? { code: err.code, message: err.message } : err }, 'otcd could not start');
    return 1;
  }
  await stopped;
  // A stop that hangs (a wedged device close, a stuck write) must still end before
  // systemd's TimeoutStopSec (30 s) turns it into a SIGKILL: every state that
  // matters is already durable in the ledger.
  const hardStop = setTimeout(() => {
    logger.error(`stop did not finish within ${HARD_STOP_MS / 1000} s; exiting anyway (payment states are durable in the ledger)`);
    process.exit(1);
  }, HARD_STOP_MS);
  hardStop.unref();
  await daemon.stop();
  clearTimeout(hardStop);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything was closed; should a stray handle remain, do not hang the stop.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`otcd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
