/**
 * Bare Node on the same machine, measured the way otcd is: the yardstick each
 * otcd figure is printed beside. Also "otcd's code alone", which says how much
 * of a start-up or a resident set is just loading code: for time, the bundle
 * the unit runs, with the unit's node flags, printing its version; for memory,
 * a node with those flags that imports the daemon's modules and idles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DAEMON_NODE_FLAGS, DAEMON_SCRIPT } from '../../daemon/node-flags.js';
import { repoRoot } from '../lib/repo-root.js';
import { readMemory, type Memory } from './proc.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `node ARGS`: ms from spawn to exit. */
async function timeToExit(args: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (exitCode !== 0) throw new Error(`node ${args.join(' ')} exited ${exitCode}`);
  return performance.now() - started;
}

export function daemonModulesImport(): string {
  return `import(${JSON.stringify(pathToFileURL(join(repoRoot(), 'dist', 'daemon', 'daemon.js')).href)})`;
}

/** spawn -> exit of `node -e 0`, `runs` times. */
export async function bareStartTimes(runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timeToExit(['-e', '0']));
  return times;
}

/** spawn -> exit of `node <otcd's flags> dist/daemon/otcd.js --version`: the whole bundle loaded, no config, no I/O. */
export async function moduleLoadTimes(runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timeToExit([...DAEMON_NODE_FLAGS, join(repoRoot(), DAEMON_SCRIPT), '--version']));
  return times;
}

/** VmHWM/VmRSS of a node (with `flags`) that runs `code` and then idles, read after `settleMs`. */
async function idleMemory(code: string, settleMs: number, flags: readonly string[] = []): Promise<Memory> {
  const child = spawn(process.execPath, [...flags, '-e', `${code};setTimeout(()=>{},${settleMs * 4})`], { stdio: 'ignore' });
  try {
    await sleep(settleMs);
    return readMemory(child.pid ?? -1);
  } finally {
    child.kill('SIGKILL');
  }
}

export const bareMemory = (): Promise<Memory> => idleMemory('0', 1000);
export const moduleLoadMemory = (): Promise<Memory> => idleMemory(daemonModulesImport(), 2000, DAEMON_NODE_FLAGS);

/** A bare node with a timer pending and nothing else: the idle-CPU yardstick. */
export function spawnIdleNode(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
}
