/**
 * A payment story run on a whole otcd installation (scripts/testkit/stack.ts),
 * every daemon run of it under strace, recording the calls that change the
 * state directory, the writes to intent-socket clients and those to the
 * terminal link; afterwards the story's trace (trace-builder.ts).
 *
 * strace flags: -D so that the process spawned is node itself (its pid,
 * signals, exit code); -f for libuv's worker threads, which do the file I/O;
 * -yy for each fd's path or socket; -xx so every byte is an escape;
 * --seccomp-bpf so only the traced calls stop the daemon.
 */
import { readFile, stat, appendFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { DaemonMessage, IntentClient } from '../../daemon/client/intent-client.js';
import { LEDGER_FILE } from '../../daemon/payments/ledger.js';
import { startDaemon, startStack, waitForSocket, waitForTerminalLink, type Stack, type StackOptions } from '../testkit/stack.js';
import { startTerminalSim, type RunningSim } from '../testkit/terminal-sim.js';
import { LinkCutter } from './link-cutter.js';
import { parseSyscalls } from './syscall-log.js';
import { TraceBuilder } from './trace-builder.js';
import type { TraceStep } from './trace.js';

export const TRACED_CALLS = [
  'open', 'openat', 'creat', 'close', 'write', 'writev', 'pwrite64', 'pwritev', 'pwritev2', 'sendto', 'sendmsg',
  'fsync', 'fdatasync', 'ftruncate', 'truncate', 'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat', 'mkdir', 'mkdirat',
];

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

type RunPart = { kind: 'daemon'; log: string } | { kind: 'append'; path: string; data: Buffer };

export interface StoryResult {
  steps: TraceStep[];
  configText: string;
  stateDirPath: string;
}

export class StoryRun {
  private readonly parts: RunPart[] = [];
  private runs = 0;
  private client: IntentClient | undefined;

  private constructor(readonly stack: Stack, private readonly logDir: string, readonly sim: RunningSim, readonly link: LinkCutter | undefined) {}

  /** With `cuttableLink`, otcd reaches the simulator through a LinkCutter (run.link). */
  static async start(logDir: string, opts: StackOptions, cuttableLink = false): Promise<StoryRun> {
    const first = join(logDir, 'run-1.strace');
    let sim: RunningSim | undefined;
    let link: LinkCutter | undefined;
    if (cuttableLink) {
      sim = await startTerminalSim({ listen: 'tcp://127.0.0.1:0', args: opts.simArgs ?? [] });
      link = await LinkCutter.start(sim.tcpPort ?? -1);
    }
    const stack = await startStack({
      ...opts, daemonSpawn: { commandPrefix: straceCommand(first) },
      ...(link ? { terminalAddress: `tcp://127.0.0.1:${link.port}` } : {}),
    });
    sim ??= stack.sim;
    if (!sim) throw new Error('the story has no terminal simulator');
    const run = new StoryRun(stack, logDir, sim, link);
    run.runs = 1;
    run.parts.push({ kind: 'daemon', log: first });
    return run;
  }

  async connect(): Promise<IntentClient> {
    if (!this.client) {
      this.client = await this.stack.connect();
      await waitForTerminalLink(this.client);
    }
    return this.client;
  }

  /** Pays and returns the payment's final event (events go to the same connection). */
  async pay(intentId: string, amount: number, opts: { onEvent?: (m: DaemonMessage, client: IntentClient) => void; timeoutMs?: number } = {}): Promise<DaemonMessage> {
    const client = await this.connect();
    if (opts.onEvent) client.onMessage = (m) => { if (m.type === 'event' && m.intentId === intentId) opts.onEvent?.(m, client); };
    const reply = await client.request({ op: 'pay', intentId, amount, installment: 0, authorizationId: `CRASH-${intentId}` });
    if (reply.type !== 'reply') throw new Error(`pay ${intentId}: ${JSON.stringify(reply)}`);
    const final = await client.finalEvent(intentId, opts.timeoutMs ?? 30_000);
    client.onMessage = undefined;
    return final;
  }

  /** Polls `get` until the payment is in one of `states`. */
  async waitForState(intentId: string, states: string[], timeoutMs = 30_000): Promise<string> {
    const client = await this.connect();
    const until = Date.now() + timeoutMs;
    for (;;) {
      const reply = await client.request({ op: 'get', intentId });
      const state = (reply.intent as { state?: string } | undefined)?.state ?? String(reply.state);
      if (states.includes(state)) return state;
      if (Date.now() > until) throw new Error(`${intentId} is ${state}, not ${states.join('/')}, after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the daemon (SIGTERM, or SIGKILL with `kill`) and starts it again, traced, with more environment (faketime). */
  async restart(opts: { kill?: boolean; fakeTime?: string } = {}): Promise<void> {
    await this.stopDaemon(opts.kill === true);
    const log = join(this.logDir, `run-${++this.runs}.strace`);
    const env: NodeJS.ProcessEnv = opts.fakeTime === undefined ? {} : { LD_PRELOAD: FAKETIME_LIB, FAKETIME: opts.fakeTime, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    this.stack.daemon = startDaemon(this.stack.configPath, { logFormat: 'json', commandPrefix: straceCommand(log), env });
    this.parts.push({ kind: 'daemon', log });
    await waitForSocket(this.stack.socketPath, this.stack.daemon);
  }

  /** With the daemon stopped: appends bytes to the ledger and syncs them (the tail a power cut leaves). */
  async appendToLedger(data: Buffer): Promise<void> {
    const path = join(this.stack.stateDir, LEDGER_FILE);
    await appendFile(path, data);
    const handle = await open(path, 'r+');
    await handle.datasync();
    await handle.close();
    this.parts.push({ kind: 'append', path: LEDGER_FILE, data });
  }

  async stopDaemon(kill = false): Promise<void> {
    this.client?.close();
    this.client = undefined;
    if (kill) await this.stack.daemon.kill();
    else await this.stack.daemon.stop();
    await logsSettled(this.parts.filter((p): p is RunPart & { kind: 'daemon' } => p.kind === 'daemon').map((p) => p.log));
  }

  /** Stops the whole installation, the simulator and the link relay included. */
  async stop(): Promise<void> {
    await this.stack.stop();
    await this.link?.stop();
    if (this.link) await this.sim.stop();
  }

  /** Stops the daemon and reads every run's trace (the simulator and provider keep running for the checks). */
  async finish(): Promise<StoryResult> {
    await this.stopDaemon();
    const terminalPort = this.link?.port ?? this.sim.tcpPort ?? -1;
    const builder = new TraceBuilder({ stateDir: this.stack.stateDir, socketPath: this.stack.socketPath, terminalPort });
    for (const part of this.parts) {
      if (part.kind === 'daemon') builder.addRun(parseSyscalls(await readFile(part.log, 'latin1')));
      else builder.appendExternal(`${builder.stateDirPath}/${part.path}`, part.data);
    }
    return { steps: builder.steps, configText: await readFile(this.stack.configPath, 'utf8'), stateDirPath: builder.stateDirPath };
  }
}

export function straceCommand(logPath: string): string[] {
  return ['strace', '-D', '-f', '--seccomp-bpf', '-qq', '-yy', '-xx', '-s', '1000000', '-e', 'signal=none', '-e', `trace=${TRACED_CALLS.join(',')}`, '-o', logPath];
}

/** strace runs detached and writes its log after the daemon is gone: wait until the logs stop growing. */
async function logsSettled(paths: string[]): Promise<void> {
  let last = '';
  for (let stable = 0; stable < 3;) {
    await new Promise((r) => setTimeout(r, 100));
    const sizes = (await Promise.all(paths.map((p) => stat(p).then((s) => s.size, () => -1)))).join(',');
    stable = sizes === last ? stable + 1 : 0;
    last = sizes;
  }
}


