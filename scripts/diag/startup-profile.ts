/**
 * Where otcd's start to READY goes, step by step, measured on this machine.
 *
 *   npm run build && node dist/scripts/diag/startup-profile.js [--runs 10] [--import-runs 10]
 *
 * 1. The daemon is started as `npm run bench` starts it (scripts/testkit/stack.ts
 *    startDaemon, NOTIFY_SOCKET on a datagram listener, the provider stand-in
 *    and the terminal simulator up), with scripts/diag/startup-marks.js
 *    preloaded to time-stamp each step inside it. Printed: the median time
 *    from spawn of each step, and READY=1's arrival on the notify socket.
 * 2. The files Node loads before READY, per package (an untimed run with a
 *    module hook, plus the CommonJS cache at READY).
 * 3. What importing each package alone costs: `node -e "await import(P)"`
 *    spawn to exit, minus bare `node -e 0`, medians.
 * The machine's other load shows up in every figure: repeat and compare.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { DAEMON_NODE_FLAGS, DAEMON_SCRIPT } from '../../daemon/node-flags.js';
import { startNotifyListener } from '../bench/notify-listener.js';
import { startDaemon, startStack } from '../testkit/stack.js';
import { repoRoot } from '../lib/repo-root.js';
import { fmtMs, median, table } from '../lib/stats.js';
import { MARKS_PREFIX } from './startup-marks.js';

const START_TIMEOUT_MS = 30_000;
/** The packages otcd's static import graph reaches (got and serialport load later, on first use), and Node's HTTPS stack. */
const PACKAGES = ['pino', 'smol-toml', 'iconv-lite', 'hpagent', 'node:https'];

const epochNow = (): number => performance.timeOrigin + performance.now();
const log = (text: string): void => { process.stderr.write(`startup-profile: ${text}\n`); };

interface Run { marks: Array<[string, number]>; cjs: string[]; esm: string[]; readyAt: number; spawnedAt: number }

function options(): { runs: number; importRuns: number } {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, 'import-runs': { type: 'string', default: '10' } } });
  const runs = Number(values.runs);
  const importRuns = Number(values['import-runs']);
  if (![runs, importRuns].every((n) => Number.isInteger(n) && n > 0)) throw new Error('usage: startup-profile.js [--runs N] [--import-runs N]');
  return { runs, importRuns };
}

async function runOnce(configPath: string, notifyPath: string, next: (timeoutMs: number) => Promise<number>,
  extra: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): Promise<Run> {
  let marks: Run | undefined;
  const ready = next(START_TIMEOUT_MS);
  ready.catch(() => undefined);
  const spawnedAt = epochNow();
  const daemon = startDaemon(configPath, {
    env: { NOTIFY_SOCKET: notifyPath, WATCHDOG_PID: undefined, WATCHDOG_USEC: undefined, ...extra.env },
    nodeArgs: [...(extra.nodeArgs ?? []), '--import', pathToFileURL(join(repoRoot(), 'dist', 'scripts', 'diag', 'startup-marks.js')).href],
    onLog: (line) => {
      if (line.startsWith(MARKS_PREFIX)) marks = { ...(JSON.parse(line.slice(MARKS_PREFIX.length)) as Pick<Run, 'marks' | 'cjs' | 'esm'>), readyAt: 0, spawnedAt };
    },
  });
  let readyAt: number;
  try {
    // The listener's clock is performance.now() of this process: put it on the epoch.
    readyAt = performance.timeOrigin + (await ready);
    // The marks line is written when systemd-notify exits, a moment after the datagram.
    const until = Date.now() + START_TIMEOUT_MS;
    while (marks === undefined && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
  } catch (err) {
    await daemon.kill();
    throw err;
  }
  const code = await daemon.stop();
  if (code !== 0) throw new Error(`otcd stopped with exit code ${code}:\n${daemon.log.join('\n')}`);
  if (marks === undefined) throw new Error(`no ${MARKS_PREFIX.trim()} line from otcd:\n${daemon.log.join('\n')}`);
  return { ...marks, readyAt };
}

function stepTable(runs: Run[]): string {
  const byName = new Map<string, number[]>();
  const add = (name: string, ms: number): void => { byName.set(name, [...(byName.get(name) ?? []), ms]); };
  for (const run of runs) {
    for (const [name, at] of run.marks) add(name, at - run.spawnedAt);
    add('READY=1 arrives on the notify socket', run.readyAt - run.spawnedAt);
  }
  const rows = [...byName].map(([name, ms]) => ({ name, at: median(ms), n: ms.length }))
    .sort((a, b) => a.at - b.at);
  let previous = 0;
  return table(['step', 'ms from spawn (median)', 'since previous row', 'runs seen'], rows.map((r) => {
    const row = [r.name, fmtMs(r.at), fmtMs(r.at - previous), `${r.n}/${runs.length}`];
    previous = r.at;
    return row;
  }));
}

function packageOf(path: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (m) return m[1];
  return `otcd ${relative(repoRoot(), path).split('/').slice(0, 2).join('/')}`;
}

/** Files loaded before READY, in a separate, untimed run: ESM through a loader hook, CommonJS from require's cache. */
async function fileCounts(configPath: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'otcd-startup-'));
  try {
    const esmLog = join(dir, 'esm.txt');
    await writeFile(esmLog, '');
    const listener = await startNotifyListener(join(dir, 'notify.sock'));
    let run: Run;
    try {
      run = await runOnce(configPath, listener.path, (t) => listener.next('READY=1', t), {
        env: { OTCD_DIAG_ESM_LOG: esmLog, NODE_NO_WARNINGS: '1' },
        nodeArgs: ['--experimental-loader', pathToFileURL(join(repoRoot(), 'dist', 'scripts', 'diag', 'startup-esm-hook.js')).href],
      });
    } finally {
      listener.stop();
    }
    const esm = run.esm.map((u) => new URL(u).pathname);
    const files = new Set([...esm, ...run.cjs]);
    const counts = new Map<string, number>();
    for (const file of files) counts.set(packageOf(file), (counts.get(packageOf(file)) ?? 0) + 1);
    const rows = [...counts].sort((a, b) => b[1] - a[1]).map(([pkg, n]) => [pkg, String(n)]);
    return `${table(['package (or otcd folder)', 'files loaded before READY'], rows)}\ntotal: ${files.size} files (${esm.length} through the ESM loader)`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function timeToExit(args: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: 'ignore', cwd: repoRoot() });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code}`);
  return performance.now() - started;
}

async function importCosts(runs: number): Promise<string> {
  const targets: Array<[string, string[]]> = [
    ['node -e 0 (bare)', ['-e', '0']],
    ...PACKAGES.map((p): [string, string[]] => [`import('${p}')`, ['--input-type=module', '-e', `await import(${JSON.stringify(p)})`]]),
    ['import dist/daemon/daemon.js (all of the above + otcd)', ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(repoRoot(), 'dist', 'daemon', 'daemon.js')).href)})`]],
  ];
  const times = new Map<string, number[]>(targets.map(([name]) => [name, []]));
  // Interleaved, so a burst of load elsewhere on the machine hits every target alike.
  for (let i = 0; i < runs; i++) for (const [name, args] of targets) times.get(name)?.push(await timeToExit([...DAEMON_NODE_FLAGS, ...args]));
  const bare = median(times.get(targets[0][0]) ?? []);
  return table(['spawn -> exit', 'median', 'minus bare node'], targets.map(([name]) => {
    const m = median(times.get(name) ?? []);
    return [name, fmtMs(m), name === targets[0][0] ? '-' : fmtMs(m - bare)];
  }));
}

async function main(): Promise<void> {
  const opts = options();
  const stack = await startStack({ simArgs: ['--prog-sent-delay', '0', '--result-delay', '0', '--quiet'] });
  await stack.daemon.stop();
  const listener = await startNotifyListener(join(stack.dir, 'notify.sock'));
  try {
    log(`otcd start x${opts.runs}`);
    const runs: Run[] = [];
    for (let i = 0; i < opts.runs; i++) runs.push(await runOnce(stack.configPath, listener.path, (t) => listener.next('READY=1', t)));
    console.log(`otcd start-up, median of ${opts.runs} (node ${DAEMON_NODE_FLAGS.join(' ')} ${DAEMON_SCRIPT}, as the unit runs it)\n`);
    console.log(stepTable(runs));
    log('files loaded');
    console.log(`\n${await fileCounts(stack.configPath)}`);
    log(`import costs x${opts.importRuns}`);
    console.log(`\nimport cost per package, median of ${opts.importRuns}\n`);
    console.log(await importCosts(opts.importRuns));
  } finally {
    listener.stop();
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`startup-profile: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
