// Runs the compiled otcctl (dist/daemon/otcctl.js, so `npm run build` first)
// as a child process, as a technician would, and collects what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { repoRoot } from '../../scripts/lib/repo-root.js';

export const OTCCTL = join(repoRoot(), 'dist', 'daemon', 'otcctl.js');

let nobodysCopy: string | undefined;

/**
 * otcctl for an unprivileged user: the checkout may sit where other users
 * cannot enter (/root/otcd, a mktemp -d directory: 0700), so `nobody` gets
 * dist/daemon/otcctl.js and its imports bundled into one file in a world-
 * readable temporary directory, beside a copy of package.json (its module
 * type and the version otcctl reads), laid out as in the checkout.
 */
function otcctlForNobody(): string {
  if (nobodysCopy !== undefined) return nobodysCopy;
  const dir = mkdtempSync(join(tmpdir(), 'otcd-otcctl-'));
  mkdirSync(join(dir, 'dist', 'daemon'), { recursive: true });
  copyFileSync(join(repoRoot(), 'package.json'), join(dir, 'package.json'));
  const script = join(dir, 'dist', 'daemon', 'otcctl.js');
  buildSync({ entryPoints: [OTCCTL], outfile: script, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
  for (const d of [dir, join(dir, 'dist'), join(dir, 'dist', 'daemon')]) chmodSync(d, 0o755);
  for (const f of [script, join(dir, 'package.json')]) chmodSync(f, 0o644);
  nobodysCopy = script;
  return script;
}

/** Removes nobody's copy of otcctl, if one was made (a suite's afterAll). */
export function removeOtcctlForNobody(): void {
  if (nobodysCopy === undefined) return;
  rmSync(join(nobodysCopy, '..', '..', '..'), { recursive: true, force: true });
  nobodysCopy = undefined;
}

export interface CtlResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface CtlOptions {
  env?: NodeJS.ProcessEnv;
  /** Run as this unprivileged user (tests run as root, which bypasses file permissions). */
  asNobody?: boolean;
  /** Run as user nobody with this primary group and these supplementary groups (numeric gids). */
  asNobodyIn?: { gid: number; groups?: number[] };
  /** Called with stdout so far on every chunk (e.g. to send a signal at the right moment). */
  onStdout?: (soFar: string, child: ChildProcess) => void;
  /** The same for stderr. */
  onStderr?: (soFar: string, child: ChildProcess) => void;
  timeoutMs?: number;
}

/** The environment otcctl gets: no OTCD_* from the test runner unless given. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTCD_') && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

export function runCtl(args: string[], opts: CtlOptions = {}): Promise<CtlResult> {
  if (!existsSync(OTCCTL)) throw new Error(`${OTCCTL} is missing: run npm run build first`);
  const groups = opts.asNobodyIn?.groups ?? [];
  const asNobody = opts.asNobodyIn !== undefined || opts.asNobody === true;
  const [cmd, argv] = opts.asNobodyIn
    ? ['setpriv', ['--reuid=nobody', `--regid=${opts.asNobodyIn.gid}`, groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups', process.execPath, otcctlForNobody(), ...args]]
    : opts.asNobody
      ? ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, otcctlForNobody(), ...args]]
      : [process.execPath, [OTCCTL, ...args]];
  // nobody starts outside the checkout too: its working directory may be closed to it.
  const cwd = asNobody ? tmpdir() : process.cwd();
  const child = spawn(cmd, argv, { cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; opts.onStdout?.(stdout, child); });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; opts.onStderr?.(stderr, child); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`otcctl ${args.join(' ')} did not end within ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
