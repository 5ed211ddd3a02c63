/**
 * One crash state put to the test: its files are laid out in a fresh state
 * directory, the real otcd starts on it (ledger open, start-up recovery,
 * against the same terminal simulator the story ran on), runs until its
 * recovery is over, and stops; then `otcctl payments` reads the ledger.
 *
 * What must hold (issue: power-cut proof):
 *   - every payment whose durable event a client read is there, in that state
 *     (an `unknown` may since have been resolved, as the terminal says);
 *   - every AUTH the terminal got has its `delivering` line (its ref) on the medium;
 *   - recovery sends no AUTH at all (so never a second one for a ref), starts
 *     on any torn file, never crashes, and never invents a payment or a state:
 *     a payment's state afterwards is the one on the medium, or for one still
 *     open there, one the terminal's outcome for its refs allows;
 *   - `otcctl payments --json` reads the ledger afterwards.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IntentClient } from '../../daemon/client/intent-client.js';
import { LEDGER_FILE, replayLedger, type LedgerRecord } from '../../daemon/payments/ledger.js';
import type { RunningSim } from '../testkit/terminal-sim.js';
import { simView, stateForOutcome } from '../chaos/sim-view.js';
import { startDaemon, waitForSocket } from '../testkit/stack.js';
import { repoRoot } from '../lib/repo-root.js';
import type { CrashState } from './crash-model.js';

export interface RecoveryEnv {
  /** The story's configuration text (state_dir and socket path are replaced). */
  configText: string;
  /** The story's state directory, relative to its parent (`state`). */
  stateDirPath: string;
  /** A scratch folder of this check's own. */
  scratch: string;
  sim: RunningSim;
  /** Bound for the daemon's recovery to finish. */
  settleMs: number;
  /** Payments the story let expire: retention may drop them, and their AUTHs' lines with them. */
  expired: ReadonlySet<string>;
  /** Which payment each ref belongs to (from every ledger line the story wrote). */
  refOwner: ReadonlyMap<string, string>;
}

const FINAL = new Set(['approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown']);

export interface RecoveryResult {
  violations: string[];
  /** Where the time went, ms: start (to the socket), settle (recovery), stop, otcctl. */
  phases: Record<string, number>;
}

/** The violations of one crash state (none: it passed). */
export async function checkRecovery(state: CrashState, env: RecoveryEnv): Promise<RecoveryResult> {
  const violations: string[] = [];
  const phases: Record<string, number> = {};
  let mark = Date.now();
  const phase = (name: string): void => {
    const now = Date.now();
    phases[name] = now - mark;
    mark = now;
  };
  await rm(env.scratch, { recursive: true, force: true });
  await mkdir(env.scratch, { recursive: true });
  for (const dir of state.dirs) await mkdir(join(env.scratch, dir), { recursive: true });
  for (const [path, bytes] of state.files) await writeFile(join(env.scratch, path), bytes);
  const stateDir = join(env.scratch, env.stateDirPath);
  const socketPath = join(env.scratch, 'otcd.sock');
  const configPath = join(env.scratch, 'otcd.toml');
  await writeFile(configPath, env.configText
    .replace(/^state_dir = .*$/m, `state_dir = ${JSON.stringify(stateDir)}`)
    .replace(/^path = .*$/m, `path = ${JSON.stringify(socketPath)}`));

  const before = await ledgerRecords(stateDir);

  // Every AUTH the terminal got before the cut has its ref on the medium.
  const refsOnMedium = new Set<string>();
  for (const r of before.values()) for (const ref of [...(r.refs ?? []), ...(r.ref ? [r.ref] : [])]) refsOnMedium.add(ref);
  for (const obs of state.seen) {
    const dropped = env.expired.has(env.refOwner.get(obs.kind === 'auth' ? obs.ref : '') ?? '');
    if (obs.kind === 'auth' && !refsOnMedium.has(obs.ref) && !dropped) violations.push(`the terminal got AUTH ${obs.ref} but no ledger line on the medium has that ref`);
  }

  const simMark = env.sim.events.length;
  const daemon = startDaemon(configPath, { logFormat: 'json' });
  try {
    await waitForSocket(socketPath, daemon, 20_000);
  } catch (err) {
    violations.push(`otcd did not start on this state: ${lastLines((err as Error).message)}`);
    await daemon.kill();
    return { violations, phases };
  }
  phase('start');
  const settled = await waitForRecovery(socketPath, env.settleMs);
  phase('settle');
  if (!settled) violations.push(`otcd's recovery did not finish within ${env.settleMs} ms (a payment still running, or the terminal link down)`);
  const code = await daemon.stop();
  phase('stop');
  if (code !== 0) violations.push(`otcd exited ${String(code)} on SIGTERM after recovery: ${lastLines(daemon.log.join('\n'))}`);
  const logged = daemon.log.filter((l) => /"level":(50|60)/.test(l) && /uncaught|unhandled|internal error|failed unexpectedly/i.test(l));
  if (logged.length > 0) violations.push(`otcd logged an internal failure during recovery: ${logged[0]!.slice(0, 300)}`);

  // Recovery sends no AUTH: a payment's AUTH may only be asked about (LAST).
  for (const e of env.sim.events.slice(simMark)) {
    if (e.ev === 'rx' && e.cmd === 'AUTH') violations.push(`recovery sent an AUTH to the terminal (ref ${String(e.ref)})`);
  }

  // otcctl reads the ledger afterwards.
  const otcctl = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'daemon', 'otcctl.js'), 'payments', '--state-dir', stateDir, '--json', '--last', '100000'], { encoding: 'utf8' });
  phase('otcctl');
  let rows = new Map<string, { state: string }>();
  if (otcctl.status !== 0) {
    violations.push(`otcctl payments exited ${String(otcctl.status)}: ${otcctl.stderr.trim().slice(0, 300)}`);
  } else {
    rows = new Map((JSON.parse(otcctl.stdout) as { payments: Array<{ intentId: string; state: string }> }).payments.map((p) => [p.intentId, p]));
  }

  const outcomes = simView(env.sim.events).outcomeByRef;
  const allowedAfterOpen = (record: LedgerRecord): Set<string> => {
    const refs = [...new Set([...(record.refs ?? []), ...(record.ref ? [record.ref] : [])])];
    if (refs.length === 0) return new Set(['failed']); // no AUTH recorded: nothing may have been charged
    const allowed = new Set(['unknown']);
    let decided = false;
    for (const ref of refs) {
      const code = outcomes.get(ref);
      if (code === undefined) continue;
      decided = true;
      for (const s of stateForOutcome(code)) allowed.add(s);
    }
    if (!decided || refs.some((ref) => outcomes.get(ref) === undefined)) for (const s of ['failed', 'cancelled', 'expired']) allowed.add(s);
    return allowed;
  };

  // Every payment whose durable event a client read is there, in that state.
  const lastEvent = new Map<string, string>();
  for (const obs of state.seen) if (obs.kind === 'event') lastEvent.set(obs.intentId, obs.state);
  for (const [id, seenState] of lastEvent) {
    const row = rows.get(id);
    const record = before.get(id);
    if (!row && env.expired.has(id) && !record) continue; // past retention and dropped: allowed
    if (!row) {
      violations.push(`a client read ${id} ${seenState}, but after recovery the ledger has no such payment`);
      continue;
    }
    if (seenState === 'delivering') continue; // its outcome is checked below, against the terminal
    if (seenState === 'unknown') {
      if (row.state !== 'unknown' && !(record && allowedAfterOpen(record).has(row.state))) {
        violations.push(`a client read ${id} unknown; after recovery it is ${row.state}, which the terminal's outcome does not allow`);
      }
      continue;
    }
    if (row.state !== seenState) violations.push(`a client read ${id} ${seenState}; after recovery it is ${row.state}`);
  }

  // Recovery invents neither a payment nor a state.
  for (const [id, row] of rows) {
    const record = before.get(id);
    if (!record) {
      violations.push(`after recovery the ledger has ${id} (${row.state}), which was not on the medium`);
      continue;
    }
    const open = !FINAL.has(record.st) || record.reconcile === true;
    if (!open && row.state !== record.st) violations.push(`${id} was ${record.st} on the medium; recovery made it ${row.state}`);
    if (open && row.state !== record.st && !allowedAfterOpen(record).has(row.state)) {
      violations.push(`${id} was ${record.st} (refs ${(record.refs ?? []).join(',') || 'none'}) on the medium; recovery made it ${row.state}, which the terminal's outcome does not allow`);
    }
  }
  for (const id of before.keys()) if (rows.size > 0 && !rows.has(id)) violations.push(`${id} was on the medium and is gone after recovery`);
  return { violations, phases };
}

async function ledgerRecords(stateDir: string): Promise<Map<string, LedgerRecord>> {
  try {
    return replayLedger(await readFile(join(stateDir, LEDGER_FILE), 'utf8')).records;
  } catch {
    return new Map();
  }
}

/** Resolves true once the terminal link is up and no payment runs (the recovery's LASTs are done). */
async function waitForRecovery(socketPath: string, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  const client = await IntentClient.connect(socketPath);
  try {
    while (Date.now() < until) {
      const reply = await client.request({ op: 'health' });
      const health = reply.health as { terminal?: { link?: string }; payment?: unknown } | undefined;
      if (health?.terminal?.link === 'up' && health.payment === undefined) {
        // Unknown payments are asked about (LAST) once the link is up: give that round a moment.
        await new Promise((r) => setTimeout(r, 300));
        return true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  } finally {
    client.close();
  }
}

function lastLines(text: string): string {
  return text.split('\n').slice(-6).join(' | ').slice(0, 800);
}
