/**
 * A whole otcd installation for fault tests: the real daemon, the provider
 * stand-in over HTTPS on loopback, and the terminal simulator on a real pty
 * pair (socat), with the handles a fault needs: swap the simulator for one
 * with other flags, unplug the line, restart or kill the daemon, rewrite its
 * configuration, read its ledger as the daemon would replay it, and count
 * the AUTHs the terminal took per amount across every simulator it ran.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DaemonMessage, IntentClient } from '../../daemon/client/intent-client.js';
import { isFinal } from '../../daemon/client/intent-client.js';
import { startDaemon, startStack, waitForSocket, type Stack, type StackOptions } from '../../scripts/testkit/stack.js';
import { ptyPair, type PtyPair } from '../../scripts/testkit/pty.js';
import { startTerminalSim, type RunningSim, type SimEvent } from '../../scripts/testkit/terminal-sim.js';

export type LedgerView = Map<string, Record<string, unknown>>;

export interface FaultStackOptions {
  simArgs?: string[];
  standinArgs?: string[];
  config?: StackOptions['config'];
}

/** Windows short enough that the 180-second stories take seconds. */
export const SHORT_WINDOW = [
  'window_s = 8', 'send_margin_s = 3', 'cancel_margin_s = 2', 'max_inquiries = 2', 'payment_limit_s = 40', 'result_timeout_s = 3',
];
export const FAST_RECONNECT = ['reconnect_initial_ms = 200', 'reconnect_max_ms = 1000'];
export const QUICK_TERMINAL = ['--prog-sent-delay', '100', '--result-delay', '100'];

let seq = 0;
export function intentId(label: string): string {
  return `${label}-${process.pid}-${++seq}`;
}

export function payLine(id: string, amount: number, authorizationId = 'AUTH-FAULT-0001'): Record<string, unknown> {
  return { op: 'pay', intentId: id, authorizationId, amount, installment: 0 };
}

export class FaultStack {
  private readonly pastSimEvents: SimEvent[][] = [];
  client!: IntentClient;

  private constructor(readonly stack: Stack, readonly pty: PtyPair, public sim: RunningSim, private simArgs: string[]) {}

  static async start(opts: FaultStackOptions = {}): Promise<FaultStack> {
    const pty = await ptyPair();
    const simArgs = opts.simArgs ?? QUICK_TERMINAL;
    const sim = await startTerminalSim({ port: pty.b, args: simArgs });
    let stack: Stack;
    try {
      stack = await startStack({
        standinArgs: opts.standinArgs,
        terminalAddress: pty.a,
        config: { ...opts.config, terminal: [...FAST_RECONNECT, ...(opts.config?.terminal ?? [])] },
      });
    } catch (err) {
      await sim.stop();
      await pty.close();
      throw err;
    }
    const fs = new FaultStack(stack, pty, sim, simArgs);
    fs.client = await stack.connect();
    await fs.waitForLink();
    return fs;
  }

  get daemonLog(): string[] {
    return this.stack.daemon.log;
  }

  /** Every simulator event this stack has seen (swapped-out simulators included). */
  simEvents(): SimEvent[] {
    return [...this.pastSimEvents.flat(), ...this.sim.events];
  }

  /** AUTHs the terminal took (not retransmissions) for this amount. */
  auths(amount: number): SimEvent[] {
    return this.simEvents().filter((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.dup !== true && e.amount === amount);
  }

  /** Most AUTHs the terminal took for any single ref of this amount (a second AUTH of one payment shows as 2). */
  maxAuthsPerRef(amount: number): number {
    const perRef = new Map<unknown, number>();
    for (const a of this.auths(amount)) perRef.set(a.ref, (perRef.get(a.ref) ?? 0) + 1);
    return Math.max(0, ...perRef.values());
  }

  /** Replaces the simulator by one with other flags, on the same pty (same line, different terminal behaviour). */
  async swapSim(args: string[] = this.simArgs): Promise<void> {
    await this.sim.stop();
    this.pastSimEvents.push(this.sim.events);
    this.simArgs = args;
    this.sim = await startTerminalSim({ port: this.pty.b, args });
  }

  /** Starts a new simulator after the old one exited on its own (e.g. --drop-mid-frame). */
  async replaceExitedSim(args: string[]): Promise<void> {
    await this.sim.exited;
    this.pastSimEvents.push(this.sim.events);
    this.simArgs = args;
    this.sim = await startTerminalSim({ port: this.pty.b, args });
  }

  async waitForLink(client = this.client, timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const reply = await client.request({ op: 'health' });
      if ((reply.health as { terminal: { link: string } } | undefined)?.terminal.link === 'up') return;
      await sleep(100);
    }
    throw new Error(`terminal link did not come up within ${timeoutMs} ms`);
  }

  /** Pays and follows to the final event. */
  async pay(id: string, amount: number, authorizationId?: string, client = this.client, timeoutMs = 60_000): Promise<{ reply: DaemonMessage; final: DaemonMessage; events: DaemonMessage[] }> {
    const reply = await client.request(payLine(id, amount, authorizationId));
    if (reply.type !== 'reply') throw new Error(`pay ${id} refused: ${JSON.stringify(reply)}`);
    const final = await client.finalEvent(id, timeoutMs);
    const events = client.received.filter((m) => m.type === 'event' && m.intentId === id);
    return { reply, final, events };
  }

  /** The final state of a payment read with get (following it if it is still open). */
  async settle(id: string, client = this.client, timeoutMs = 60_000): Promise<DaemonMessage> {
    const got = await client.request({ op: 'get', intentId: id, follow: true });
    if (got.type !== 'reply') return got;
    const intent = got.intent as { state: string };
    if (isFinal(intent.state)) return { ...got, ...intent };
    return client.finalEvent(id, timeoutMs);
  }

  /** A plain payment after the fault: it must be approved with one AUTH. */
  async nextPayment(amount: number): Promise<string> {
    const { final } = await this.pay(intentId('next'), amount);
    const auths = this.auths(amount).length;
    return final.state === 'approved' && auths === 1 ? 'approved' : `${String(final.state)} (${auths} AUTH)`;
  }

  /** The ledger as the daemon replays it: change lines merged per id, null clears, bad lines skipped. */
  async ledger(): Promise<LedgerView> {
    const text = await readFile(join(this.stack.stateDir, 'ledger.jsonl'), 'utf8');
    const records: LedgerView = new Map();
    for (const line of text.split('\n')) {
      if (line.trim().length === 0) continue;
      let change: Record<string, unknown>;
      try {
        change = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof change.id !== 'string') continue;
      const merged: Record<string, unknown> = { ...records.get(change.id), ...change };
      for (const key of Object.keys(merged)) if (merged[key] === null) delete merged[key];
      records.set(change.id, merged);
    }
    return records;
  }

  async ledgerState(id: string): Promise<string> {
    const record = (await this.ledger()).get(id);
    if (!record) return 'absent';
    return [record.st, record.code].filter((x) => x !== undefined).join(' ');
  }

  /** Kills (SIGKILL) or stops (SIGTERM) the daemon and starts it again on the same config; reconnects the client. */
  async restartDaemon(opts: { kill?: boolean; env?: Record<string, string> } = {}): Promise<void> {
    this.client.close();
    if (opts.kill === true) await this.stack.daemon.kill();
    else await this.stack.daemon.stop();
    this.startDaemonOnly(opts.env);
    await waitForSocket(this.stack.socketPath, this.stack.daemon);
    this.client = await this.stack.connect();
  }

  /** Starts the daemon process (the previous one must be gone), with extra environment if given. */
  startDaemonOnly(env: Record<string, string> = {}): void {
    // startDaemon spawns synchronously with a copy of process.env: set, spawn, restore.
    const saved: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    try {
      this.stack.daemon = startDaemon(this.stack.configPath);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  async editConfig(edit: (toml: string) => string): Promise<void> {
    const toml = await readFile(this.stack.configPath, 'utf8');
    await writeFile(this.stack.configPath, edit(toml));
  }

  /** The daemon log lines that match, for a report. */
  logMatching(pattern: RegExp, limit = 6): string[] {
    return this.daemonLog.filter((l) => pattern.test(l)).slice(-limit);
  }

  async stop(): Promise<void> {
    this.client?.close();
    // stack.stop() stops the daemon it started; a restarted one is stopped here.
    await this.stack.daemon.stop();
    await this.stack.stop();
    await this.sim.stop();
    await this.pty.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** "state code" of a final event or get reply. */
export function describeFinal(m: DaemonMessage): string {
  if (m.type === 'error') return `error ${String(m.code)}`;
  return [m.state, m.code].filter((x) => x !== undefined).map(String).join(' ');
}
