/**
 * Preload for scripts/diag/startup-profile.ts (`node --import` it before
 * otcd's entry): time-stamps the steps of otcd's start-up from inside the
 * daemon without touching its code, by wrapping the Node functions each step
 * calls, and prints them once READY=1 has been handed to systemd-notify:
 *
 *   OTCD_STARTUP_MARKS {"marks":[["node booted", epochMs], ...], "cjs": [paths], "esm": [URLs]}
 *
 * Times are epoch ms with sub-ms precision (performance.timeOrigin + now()),
 * so the profiler can put them on its own clock. The wrappers cost a few
 * microseconds per call; only the first call of each kind is marked.
 */
import childProcess, { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';

export const MARKS_PREFIX = 'OTCD_STARTUP_MARKS ';
const LEDGER_FILE = 'ledger.jsonl';

const now = (): number => performance.timeOrigin + performance.now();
const marks: Array<[string, number]> = [['process start', performance.timeOrigin], ['node booted (preload runs)', now()]];
const seen = new Set<string>();
const mark = (name: string, once = true): void => {
  if (once && seen.has(name)) return;
  seen.add(name);
  marks.push([name, now()]);
};

const configIndex = process.argv.indexOf('--config');
const configPath = configIndex > 0 ? process.argv[configIndex + 1] : undefined;

const readFileSync = fs.readFileSync;
fs.readFileSync = function (this: unknown, ...args: Parameters<typeof readFileSync>) {
  if (configPath !== undefined && String(args[0]) === configPath) mark('config file read (modules loaded)');
  return readFileSync.apply(this, args);
} as typeof readFileSync;

const createSecureContext = tls.createSecureContext;
tls.createSecureContext = function (this: unknown, ...args: Parameters<typeof createSecureContext>) {
  mark('TLS context: start');
  const context = createSecureContext.apply(this, args);
  mark('TLS context: built');
  return context;
} as typeof createSecureContext;

const readFile = fsPromises.readFile;
fsPromises.readFile = function (this: unknown, ...args: Parameters<typeof readFile>) {
  if (String(args[0]).endsWith(LEDGER_FILE)) mark('ledger: read starts');
  return readFile.apply(this, args);
} as typeof readFile;

const open = fsPromises.open;
fsPromises.open = async function (this: unknown, ...args: Parameters<typeof open>) {
  const handle = await open.apply(this, args);
  if (String(args[0]).endsWith(LEDGER_FILE)) mark('ledger: open for append');
  return handle;
} as typeof open;

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  mark('socket: listen()');
  this.once('listening', () => mark('socket: listening'));
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
};

const spawn = childProcess.spawn;
childProcess.spawn = function (this: unknown, command: string, ...rest: unknown[]) {
  const argv = Array.isArray(rest[0]) ? (rest[0] as string[]) : [];
  const what = `${command} ${argv.map((a) => a.split('=')[0]).join(' ')}`;
  mark(`spawn ${what}`, false);
  const child = (spawn as (...a: unknown[]) => ChildProcess).call(this, command, ...rest);
  child.once('spawn', () => mark(`  spawned ${what}`, false));
  child.once('exit', () => {
    mark(`  exited ${what}`, false);
    if (argv.includes('READY=1')) report();
  });
  return child;
} as typeof spawn;

syncBuiltinESMExports();

function report(): void {
  // Files loaded so far: CommonJS from require's cache (packages such as pino are
  // CommonJS); ESM from startup-esm-hook.js's log when the profiler loaded it. Both
  // before anything after READY starts (the daemon awaits this child's 'close').
  const cjs = Object.keys(createRequire(import.meta.url).cache);
  const esmLog = process.env.OTCD_DIAG_ESM_LOG;
  const esm = esmLog === undefined ? [] : String(readFileSync(esmLog, 'utf8')).split('\n').filter(Boolean);
  process.stderr.write(`${MARKS_PREFIX}${JSON.stringify({ marks, cjs, esm })}\n`);
}
