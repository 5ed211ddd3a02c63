/**
 * Runs the compiled provider stand-in (dist/scripts/provider-standin.js) as a
 * child process for a test: real HTTPS on loopback, a fresh self-signed CA.
 * Needs `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import got from 'got';
import { repoRoot } from '../lib/repo-root.js';

export interface StandinInquiry {
  authorizationId: string;
  receivedAt: number;
  scenario: string;
  status: number;
}

export interface RunningStandin {
  baseUrl: string;
  caFile: string;
  /** Inquiries as reported on the stand-in's stdout so far (these lines may trail the HTTP answers). */
  inquiries(): StandinInquiry[];
  /** The stand-in's own list (GET /_standin/inquiries): complete for every answer already received. */
  fetchInquiries(): Promise<StandinInquiry[]>;
  waitForInquiries(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const DEFAULT_WAIT_MS = 10_000;

export function standinScriptPath(): string {
  return join(repoRoot(), 'dist', 'scripts', 'provider-standin.js');
}

async function fetchInquiries(baseUrl: string, caFile: string): Promise<StandinInquiry[]> {
  const agent = new HttpsAgent({ ca: readFileSync(caFile), keepAlive: false });
  return got.get(`${baseUrl}/_standin/inquiries`, { agent: { https: agent }, retry: { limit: 0 } }).json<StandinInquiry[]>();
}

export function startProviderStandin(opts: { args?: string[] } = {}): Promise<RunningStandin> {
  const script = standinScriptPath();
  if (!existsSync(script)) return Promise.reject(new Error(`${script} is missing: run npm run build first`));
  const child: ChildProcess = spawn(process.execPath, [script, '--port', '0', ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seen: StandinInquiry[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return new Promise((resolve, reject) => {
    const readyTimer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`provider stand-in not ready within ${READY_TIMEOUT_MS} ms: ${stderr}`));
    }, READY_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(readyTimer);
      reject(new Error(`provider stand-in exited (${code}) before ready: ${stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ev = JSON.parse(line) as { ev: string } & Record<string, unknown>;
      if (ev.ev === 'inquiry') {
        const { authorizationId, receivedAt, scenario, status } = ev as unknown as StandinInquiry;
        seen.push({ authorizationId, receivedAt, scenario, status });
        for (const w of waiters.splice(0)) w();
      } else if (ev.ev === 'ready') {
        clearTimeout(readyTimer);
        resolve({
          baseUrl: ev['baseUrl'] as string,
          caFile: ev['caFile'] as string,
          inquiries: () => [...seen],
          fetchInquiries: () => fetchInquiries(ev['baseUrl'] as string, ev['caFile'] as string),
          waitForInquiries: (n, timeoutMs = DEFAULT_WAIT_MS) => new Promise<void>((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`stand-in saw ${seen.length} inquiries, not ${n}, within ${timeoutMs} ms`)), timeoutMs);
            const check = (): void => {
              if (seen.length >= n) {
                clearTimeout(timer);
                ok();
              } else waiters.push(check);
            };
            check();
          }),
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
  });
}
