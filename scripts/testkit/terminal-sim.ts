// Runs the terminal simulator (scripts/terminal-sim.ts, compiled under dist/)
// as a child process and collects its JSON-line events. Tests that spawn it
// need `npm run build` first. Exit is taken from the child's close event, so
// every line printed before exiting has been collected by then.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../lib/repo-root.js';

export interface SimEvent {
  ev: string;
  [k: string]: unknown;
}

export interface RunningSim {
  /** Every event so far, in order (the ready line included). */
  events: SimEvent[];
  /** First event, already collected or still to come, that matches. Default timeout 10 s. */
  waitFor(pred: (e: SimEvent) => boolean, timeoutMs?: number): Promise<SimEvent>;
  tcpPort?: number;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process is gone. */
  stop(): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal) when the sim exits. */
  exited: Promise<number | null>;
}

const DEFAULT_WAIT_MS = 10_000;
const READY_LIMIT_MS = 20_000;
const KILL_AFTER_MS = 3_000;

export function simScriptPath(): string {
  return join(repoRoot(), 'dist', 'scripts', 'terminal-sim.js');
}

export function startTerminalSim(opts: { port?: string; listen?: string; args?: string[] }): Promise<RunningSim> {
  const script = simScriptPath();
  if (!existsSync(script)) return Promise.reject(new Error(`${script} is missing: run npm run build first`));
  const argv = [script];
  if (opts.port !== undefined) argv.push('--port', opts.port);
  if (opts.listen !== undefined) argv.push('--listen', opts.listen);
  argv.push(...(opts.args ?? []));

  const child: ChildProcess = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: SimEvent[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      exitCode = code;
      resolve(code);
      for (const l of [...listeners]) l();
    });
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderr += s;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let e: SimEvent;
    try {
      e = JSON.parse(line) as SimEvent;
    } catch {
      e = { ev: 'stdout', line };
    }
    events.push(e);
    for (const l of [...listeners]) l();
  });

  const waitFor = (pred: (e: SimEvent) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<SimEvent> =>
    new Promise((resolve, reject) => {
      let seen = 0;
      const check = (): void => {
        for (; seen < events.length; seen++) {
          if (pred(events[seen])) {
            done();
            resolve(events[seen]);
            return;
          }
        }
        if (exitCode !== undefined) {
          done();
          reject(new Error(`terminal-sim exited (code ${exitCode}) without the awaited event; stderr: ${stderr.trim()}; last events: ${JSON.stringify(events.slice(-8))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`terminal-sim: no matching event within ${timeoutMs} ms; last events: ${JSON.stringify(events.slice(-8))}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  const stop = async (): Promise<void> => {
    if (exitCode !== undefined) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    await exited;
    clearTimeout(killer);
  };

  return waitFor((e) => e.ev === 'ready', READY_LIMIT_MS).then(
    (ready) => {
      const sim: RunningSim = { events, waitFor, stop, exited };
      if (typeof ready.tcpPort === 'number') sim.tcpPort = ready.tcpPort;
      return sim;
    },
    async (err: Error) => {
      await stop();
      throw new Error(`terminal-sim did not become ready: ${stderr.trim() || err.message}`);
    },
  );
}
