// Runs the compiled otcctl (dist/daemon/otcctl.js, so `npm run build` first)
// as a child process, as a technician would, and collects what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/lib/repo-root.js';
import { forNobody, removeCopiesForNobody } from '../../scripts/testkit/for-nobody.js';

export const OTCCTL = join(repoRoot(), 'dist', 'daemon', 'otcctl.js');

/** otcctl for an unprivileged user (scripts/testkit/for-nobody.ts). */
function otcctlForNobody(): string {
  return forNobody(OTCCTL);
}

/** Removes nobody's copy of otcctl, if one was made (a suite's afterAll). */
export function removeOtcctlForNobody(): void {
  removeCopiesForNobody();
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
