/**
 * `node dist/scripts/chaos.js [--kills N] [--seed S]`: kill -9 the real
 * daemon at random moments of random payments, restart it, and check after
 * every restart that
 *   - no ref ever went to the terminal in two AUTHs (the simulator's count of
 *     AUTH frames acted on, per ref, is at most 1), and every ref the
 *     terminal got is in the ledger under exactly one intent (recorded
 *     durably before it left);
 *   - every payment made so far reaches a final state within a bounded wait,
 *     and a final state never changes, except `unknown` resolved by LAST;
 *   - every final state agrees with what the terminal decided for the
 *     payment's refs (approved only if it approved, never "nothing charged"
 *     when it approved or declined);
 *   - an `unknown` whose ref the terminal has decided is resolved by LAST;
 *     one the terminal never decided (silent) or timed out upstream (TO) is
 *     legitimately unknown and counted apart;
 *   - the ledger parses: every complete line is JSON, only a last line
 *     without its newline may be torn;
 *   - voids (a share of the cycles void an approved payment and kill the
 *     daemon at a random moment of the void): at most one reversal per
 *     approval, ever; every VOID the terminal got is in the ledger (recorded
 *     before it left) under the payment whose AUTH it names; `voided` only
 *     if the terminal reversed it, and a reversal the terminal made is never
 *     reported as nothing reversed; a void whose outcome was unknown for want
 *     of an answer is resolved by LAST.
 * Prints the counts and exits 1 on any violation, keeping the evidence
 * (ledger, daemon logs, simulator events) in a folder it names.
 */
import { mkdir, writeFile, cp } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DaemonMessage, IntentClient } from '../daemon/client/intent-client.js';
import { isFinal } from '../daemon/client/intent-client.js';
import { readLedger } from './chaos/ledger-file.js';
import { Random } from './chaos/random.js';
import { simView, stateForOutcome, type SimView } from './chaos/sim-view.js';
import { startDaemon, startStack, waitForSocket, type Stack } from './testkit/stack.js';

const USAGE = `Usage: node dist/scripts/chaos.js [options]

Kills otcd with SIGKILL at random moments of random payments and checks, after
every restart, that no ref is sent twice, every payment ends final and agrees
with the terminal, unknowns are reconciled, and the ledger parses.

  --kills N          daemon kills (default 50)
  --void-share F     share of the cycles that void an approved payment instead of paying (default 0.3)
  --seed S           seed of the random choices (default: time-based, printed)
  --max-delay-ms N   longest random delay from pay to kill (default 1500)
  --settle-ms N      bound for every payment to be final after a restart (default 40000)
  --final-wait-ms N  at the end, bound for resolvable unknowns to be reconciled (default 70000:
                     the daemon asks LAST on link-up and every 60 s)
  --keep DIR         where evidence goes on a violation (default /tmp/otcd-chaos-<seed>)
  --verbose          one line per kill
  --help             this text
Exit: 0 all checks held, 1 a violation (listed), 2 bad command line.`;

const FINAL_OR_UNKNOWN = (s: unknown): boolean => isFinal(s);

/** Amount endings the simulator reads as scenarios (terminal-sim --help). */
const SCENARIOS = [
  ['approve', 0, 40],
  ['decline', 51, 12],
  ['busy', 99, 8],
  ['timeout', 44, 8],
  ['slow', 77, 6],
  ['silent', 66, 4],
] as const;
const PROVIDER_SLOW_SHARE = 0.1;
const CANCEL_SHARE = 0.25;
const STOP_LIMIT_MS = 15_000;
/** Codes of an unknown void otcd still asks LAST about (daemon/payments/model.ts VOID_ASKING_CODES). */
const VOID_ASKING = new Set(['NO_ANSWER', 'INTERRUPTED']);

interface Payment {
  id: string;
  amount: number;
  scenario: string;
  providerSlow: boolean;
  cancelSent: boolean;
  /** Latest state seen with get. */
  state?: string;
  code?: string;
  /** First final state seen that was not `unknown`. */
  settled?: string;
  wasUnknown: boolean;
  /** The void sub-object last seen (approved payments), and whether a void was ever asked for. */
  voidState?: string;
  voidCode?: string;
  voidAsked: boolean;
  voidWasAsking: boolean;
}

function voidPending(p: Payment): boolean {
  return p.voidState === 'voiding' || (p.voidState === 'unknown' && VOID_ASKING.has(p.voidCode ?? ''));
}

interface Counts {
  kills: number;
  payments: number;
  cancels: number;
  killModes: Record<string, number>;
  byState: Record<string, number>;
  unknownResolved: number;
  unknownTerminalTimeout: number;
  unknownTerminalSilent: number;
  unknownTerminalNeverGotAuth: number;
  unknownTerminalForgot: number;
  ledgerTornTails: number;
  ledgerBadLines: number;
  maxAuthPerRef: number;
  refsSent: number;
  busyRetries: number;
  voids: number;
  voidUnknownResolved: number;
  maxReversalsPerApproval: number;
  reversals: number;
  voidRefsSent: number;
}

class Violations {
  readonly list: string[] = [];
  add(cycle: number, what: string): void {
    this.list.push(`kill ${cycle}: ${what}`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: '50' },
      seed: { type: 'string' },
      'max-delay-ms': { type: 'string', default: '1500' },
      'void-share': { type: 'string', default: '0.3' },
      'settle-ms': { type: 'string', default: '40000' },
      'final-wait-ms': { type: 'string', default: '70000' },
      keep: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got ${String(v)}`);
    return n;
  };
  const kills = num('kills', values.kills);
  const seed = values.seed === undefined ? Date.now() % 1_000_000_007 : num('seed', values.seed);
  const maxDelay = num('max-delay-ms', values['max-delay-ms']);
  const voidShare = Number(values['void-share']);
  if (!(voidShare >= 0 && voidShare <= 1)) throw new UsageError(`--void-share must be a number from 0 to 1, got ${String(values['void-share'])}`);
  const settleMs = num('settle-ms', values['settle-ms']);
  const finalWaitMs = num('final-wait-ms', values['final-wait-ms']);
  const keep = values.keep ?? `/tmp/otcd-chaos-${seed}`;
  const rnd = new Random(seed);
  console.log(`chaos: ${kills} kills, seed ${seed} (repeat with --seed ${seed})`);

  const started = Date.now();
  const daemonLogs: string[] = [];
  const stack = await startStack({
    simArgs: ['--prog-sent-delay', '150', '--result-delay', '150', '--slow-ms', '8000'],
    standinArgs: ['--slow-ms', '1500'],
    config: {
      payment: ['window_s = 5', 'send_margin_s = 2', 'cancel_margin_s = 1', 'max_inquiries = 2', 'payment_limit_s = 20', 'result_timeout_s = 2'],
      terminal: ['reconnect_initial_ms = 100', 'reconnect_max_ms = 500'],
    },
    onDaemonLog: (line) => daemonLogs.push(line),
  });
  const violations = new Violations();
  const counts: Counts = {
    kills: 0, payments: 0, cancels: 0, killModes: {}, byState: {}, unknownResolved: 0,
    unknownTerminalTimeout: 0, unknownTerminalSilent: 0, unknownTerminalNeverGotAuth: 0, unknownTerminalForgot: 0,
    ledgerTornTails: 0, ledgerBadLines: 0, maxAuthPerRef: 0, refsSent: 0, busyRetries: 0,
    voids: 0, voidUnknownResolved: 0, maxReversalsPerApproval: 0, reversals: 0, voidRefsSent: 0,
  };
  const payments: Payment[] = [];
  const ledgerPath = join(stack.stateDir, 'ledger.jsonl');
  let exit = 0;

  const restart = async (): Promise<void> => {
    stack.daemon = startDaemon(stack.configPath, { onLog: (line) => daemonLogs.push(line) });
    await waitForSocket(stack.socketPath, stack.daemon);
  };

  try {
    let client = await stack.connect();
    await waitForLink(client, 20_000);
    for (let cycle = 1; cycle <= kills; cycle++) {
      const cycleStart = Date.now();
      if (rnd.chance(0.7)) await waitForLink(client, 20_000).catch(() => undefined);
      const voidable = payments.filter((x) => x.state === 'approved' && !voidPending(x));
      const voiding = voidable.length > 0 && rnd.chance(voidShare);
      const p = voiding ? rnd.pick(voidable.map((x) => [x, 1] as const)) : newPayment(rnd, cycle, seed);
      if (voiding) {
        counts.voids++;
        p.voidAsked = true;
        const sent = await voidWithRetry(client, p, counts);
        if (!sent) violations.add(cycle, `void of ${p.id} was refused BUSY for 20 s after every payment was final`);
      } else {
        payments.push(p);
        counts.payments++;
        const paid = await payWithRetry(client, p, counts);
        if (!paid) violations.add(cycle, `pay ${p.id} was refused BUSY for 20 s after every payment was final`);
      }

      if (!voiding && rnd.chance(CANCEL_SHARE)) {
        p.cancelSent = true;
        counts.cancels++;
        const at = rnd.int(0, maxDelay);
        setTimeout(() => {
          client.request({ op: 'cancel', intentId: p.id }).catch(() => undefined);
        }, at);
      }
      const mode = voiding ? `void-${await killMoment(rnd, stack, client, p, maxDelay, true)}` : await killMoment(rnd, stack, client, p, maxDelay);
      counts.killModes[mode] = (counts.killModes[mode] ?? 0) + 1;
      await stack.daemon.kill();
      counts.kills++;
      client.close();

      // The ledger as the crash left it.
      checkLedger(await readLedger(ledgerPath), cycle, counts, violations);

      await restart();
      client = await stack.connect();
      await settle(client, payments, settleMs, cycle, counts, violations);
      const ledger = await readLedger(ledgerPath);
      checkLedger(ledger, cycle, counts, violations);
      checkAgainstTerminal(simView(stack.sim?.events ?? []), ledger.refs, payments, cycle, counts, violations, false);
      checkVoids(simView(stack.sim?.events ?? []), ledger, payments, cycle, counts, violations);
      if (values.verbose) {
        console.log(`kill ${cycle}: ${voiding ? 'void of ' : ''}${p.scenario}${p.providerSlow ? '+provider-slow' : ''}${p.cancelSent ? '+cancel' : ''} at ${mode} -> ${p.state ?? '?'}${p.code ? ` ${p.code}` : ''} (${Date.now() - cycleStart} ms)`);
      } else if (cycle % 50 === 0) {
        console.log(`  ${cycle} kills, ${((Date.now() - started) / 1000).toFixed(0)} s, ${violations.list.length} violations`);
      }
    }

    // Unknowns the terminal has decided must be reconciled (on link-up or the daemon's periodic LAST).
    const finalWaitStart = Date.now();
    const pendingResolvable = (): Payment[] => {
      const sim = simView(stack.sim?.events ?? []);
      return payments.filter((p) => p.state === 'unknown' && resolvable(sim, latestRef(p.id)));
    };
    const ledgerRefs = (await readLedger(ledgerPath)).refs;
    const latestRef = (id: string): string | undefined => ledgerRefs.get(id)?.at(-1);
    let pending = pendingResolvable();
    const pendingAtEnd = pending.length;
    while (pending.length > 0 && Date.now() - finalWaitStart < finalWaitMs) {
      await new Promise((r) => setTimeout(r, 500));
      await getAll(client, pending, counts);
      pending = pendingResolvable();
    }
    const finalWaitTook = Date.now() - finalWaitStart;
    client.close();
    // A graceful stop after all this must still work (systemd's TimeoutStopSec would SIGKILL).
    const logMark = daemonLogs.length;
    const stopStart = Date.now();
    const stopped = await Promise.race([stack.daemon.stop().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), STOP_LIMIT_MS))]);
    if (!stopped) {
      violations.add(kills + 1, `otcd did not exit within ${STOP_LIMIT_MS} ms of SIGTERM; its log since:\n      ${daemonLogs.slice(logMark).join('\n      ')}`);
      await stack.daemon.kill();
    } else {
      console.log(`graceful stop (SIGTERM) took ${Date.now() - stopStart} ms`);
    }
    const ledger = await readLedger(ledgerPath);
    checkLedger(ledger, kills + 1, counts, violations);
    checkAgainstTerminal(simView(stack.sim?.events ?? []), ledger.refs, payments, kills + 1, counts, violations, true);
    checkVoids(simView(stack.sim?.events ?? []), ledger, payments, kills + 1, counts, violations);

    for (const p of payments) counts.byState[p.state ?? 'none'] = (counts.byState[p.state ?? 'none'] ?? 0) + 1;
    const took = (Date.now() - started) / 1000;
    console.log('');
    console.log(`kills                       ${counts.kills}  (moments: ${Object.entries(counts.killModes).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    console.log(`payments                    ${counts.payments}  (cancel sent for ${counts.cancels}; BUSY retries ${counts.busyRetries})`);
    console.log(`by final state              ${Object.entries(counts.byState).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`unknown resolved by LAST    ${counts.unknownResolved}`);
    console.log(`unknown, legitimately       terminal TO ${counts.unknownTerminalTimeout}, terminal never decided (silent) ${counts.unknownTerminalSilent}, terminal never got the AUTH ${counts.unknownTerminalNeverGotAuth}, terminal forgot the ref ${counts.unknownTerminalForgot}`);
    console.log(`resolvable unknowns at end  ${pendingAtEnd}, reconciled after ${finalWaitTook} ms, left ${pending.length}`);
    console.log(`refs sent in an AUTH        ${counts.refsSent}; max AUTH per ref ${counts.maxAuthPerRef}`);
    console.log(`voids asked                 ${counts.voids}; VOIDs the terminal got ${counts.voidRefsSent}; reversals ${counts.reversals}; max reversals per approval ${counts.maxReversalsPerApproval}`);
    console.log(`void outcomes               ${Object.entries(voidOutcomes(payments)).sort().map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; unknown voids resolved by LAST ${counts.voidUnknownResolved}`);
    console.log(`ledger lines skipped        torn last line ${counts.ledgerTornTails}, unparsable complete lines ${counts.ledgerBadLines}`);
    console.log(`time                        ${took.toFixed(1)} s (${(took / Math.max(1, counts.kills)).toFixed(2)} s per kill)`);
    if (violations.list.length > 0) {
      exit = 1;
      console.log(`\n${violations.list.length} VIOLATION(S):`);
      for (const v of violations.list.slice(0, 40)) console.log(`  ${v}`);
      await keepEvidence(keep, stack, daemonLogs, payments);
      console.log(`evidence: ${keep}`);
    } else {
      console.log('\nall checks held');
    }
  } catch (err) {
    await keepEvidence(keep, stack, daemonLogs, payments).catch(() => undefined);
    console.error(`chaos run broke: ${(err as Error).stack ?? String(err)}\nevidence: ${keep}`);
    exit = 1;
  } finally {
    await stack.stop();
  }
  return exit;
}

class UsageError extends Error {}

function newPayment(rnd: Random, cycle: number, seed: number): Payment {
  const [scenario, ending] = rnd.pick(SCENARIOS.map(([name, end, w]) => [[name, end] as const, w] as const));
  const amount = rnd.int(1, 999) * 1000 + ending;
  return {
    id: `chaos-${seed}-${cycle}`, amount, scenario,
    providerSlow: rnd.chance(PROVIDER_SLOW_SHARE), cancelSent: false, wasUnknown: false, voidAsked: false, voidWasAsking: false,
  };
}

function voidOutcomes(payments: Payment[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of payments) {
    if (!p.voidAsked) continue;
    const key = p.state === 'voided' ? 'voided' : `${p.voidState ?? 'none'}${p.voidCode ? ` ${p.voidCode}` : ''}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

async function voidWithRetry(client: IntentClient, p: Payment, counts: Counts): Promise<boolean> {
  const until = Date.now() + 20_000;
  for (;;) {
    const reply = await client.request({ op: 'void', intentId: p.id, reason: 'chaos' });
    if (reply.type === 'reply') return true;
    if (reply.code !== 'BUSY') throw new Error(`void ${p.id}: ${JSON.stringify(reply)}`);
    if (Date.now() > until) return false;
    counts.busyRetries++;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function payWithRetry(client: IntentClient, p: Payment, counts: Counts): Promise<boolean> {
  const until = Date.now() + 20_000;
  for (;;) {
    const reply = await client.request({
      op: 'pay', intentId: p.id, amount: p.amount, installment: 0,
      authorizationId: p.providerSlow ? `SCN-slow-${p.id}` : `CHAOS-${p.id}`,
    });
    if (reply.type === 'reply') return true;
    if (reply.code !== 'BUSY') throw new Error(`pay ${p.id}: ${JSON.stringify(reply)}`);
    if (Date.now() > until) return false;
    counts.busyRetries++;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits for a random moment of the payment and names it. */
async function killMoment(rnd: Random, stack: Stack, client: IntentClient, p: Payment, maxDelay: number, voiding = false): Promise<string> {
  const mode = rnd.pick([['delay', 5], ['event', voiding ? 0 : 3], ['terminal-stage', 2]] as const);
  if (mode === 'delay') {
    const ms = rnd.int(0, maxDelay);
    await new Promise((r) => setTimeout(r, ms));
    return ms < maxDelay / 3 ? 'delay-early' : ms < (2 * maxDelay) / 3 ? 'delay-mid' : 'delay-late';
  }
  if (mode === 'event') {
    const state = rnd.pick([['inquiring', 1], ['delivering', 2], ['processing', 2]] as const);
    await client.next((m: DaemonMessage) => m.type === 'event' && m.intentId === p.id && (m.state === state || FINAL_OR_UNKNOWN(m.state)), 15_000)
      .catch(() => undefined);
    const extra = rnd.int(0, 20);
    if (extra > 0) await new Promise((r) => setTimeout(r, extra));
    return `on-${state}`;
  }
  const stage = rnd.pick([['RCVD', 1], ['SENT', 1]] as const);
  const from = stack.sim?.events.length ?? 0;
  // waitFor hands over every event once, in order: counting gives its index.
  let index = 0;
  await stack.sim?.waitFor((e) => index++ >= from && e.ev === 'stage' && e.stage === stage, 10_000)
    .catch(() => undefined);
  return `terminal-${stage}`;
}

async function waitForLink(client: IntentClient, withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    const reply = await client.request({ op: 'health' });
    if ((reply.health as { terminal: { link: string } } | undefined)?.terminal.link === 'up') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`terminal link not up within ${withinMs} ms`);
}

/** Reads every payment (pipelined) and records its state; checks finals never change but by reconciliation. */
async function getAll(client: IntentClient, list: Payment[], counts: Counts, violations?: Violations, cycle = 0): Promise<void> {
  const replies = await Promise.all(list.map((p) => client.request({ op: 'get', intentId: p.id })));
  list.forEach((p, i) => {
    const reply = replies[i]!;
    if (reply.type !== 'reply') {
      violations?.add(cycle, `get ${p.id}: ${JSON.stringify(reply)}`);
      return;
    }
    const intent = reply.intent as { state: string; code?: string; void?: { state?: string; code?: string } };
    const previous = p.state;
    const wasAsking = voidPending(p) && p.voidState === 'unknown';
    p.state = intent.state;
    p.code = intent.code;
    p.voidState = intent.void?.state;
    p.voidCode = intent.void?.code;
    if (voidPending(p) && p.voidState === 'unknown') p.voidWasAsking = true;
    if (wasAsking && !voidPending(p)) counts.voidUnknownResolved++;
    if (p.settled === 'approved' && intent.state === 'voided') p.settled = 'voided'; // the one change a void makes
    if (!isFinal(intent.state)) return;
    if (intent.state === 'unknown') {
      if (p.settled !== undefined) violations?.add(cycle, `${p.id} went from ${p.settled} back to unknown`);
      p.wasUnknown = true;
      return;
    }
    if (p.settled === undefined) {
      p.settled = intent.state;
      if (previous === 'unknown') counts.unknownResolved++;
    } else if (p.settled !== intent.state) {
      violations?.add(cycle, `${p.id} changed its final state from ${p.settled} to ${intent.state}`);
    }
  });
}

async function settle(client: IntentClient, payments: Payment[], settleMs: number, cycle: number, counts: Counts, violations: Violations): Promise<void> {
  const until = Date.now() + settleMs;
  await getAll(client, payments, counts, violations, cycle);
  const running = (p: Payment): boolean => !isFinal(p.state) || voidPending(p);
  let open = payments.filter(running);
  while (open.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    await getAll(client, open, counts, violations, cycle);
    open = open.filter(running);
  }
  for (const p of open) violations.add(cycle, `${p.id} (${p.scenario}) still ${p.state ?? '?'}${p.voidState ? ` (void ${p.voidState} ${p.voidCode ?? ''})` : ''} ${settleMs} ms after the restart`);
}

function checkLedger(ledger: Awaited<ReturnType<typeof readLedger>>, cycle: number, counts: Counts, violations: Violations): void {
  if (ledger.tornTail) counts.ledgerTornTails++;
  counts.ledgerBadLines += ledger.badLines.length;
  for (const line of ledger.badLines) violations.add(cycle, `ledger line is not JSON (and not a torn last line): ${line}`);
}

/** Would LAST for this ref give the daemon a definite answer? */
function resolvable(sim: SimView, ref: string | undefined): boolean {
  if (ref === undefined) return false;
  const outcome = sim.outcomeByRef.get(ref);
  return outcome !== undefined && outcome !== 'TO';
}

/** One reversal per approval, every VOID recorded before it left, and void states that agree with the terminal. */
function checkVoids(sim: SimView, ledger: Awaited<ReturnType<typeof readLedger>>, payments: Payment[], cycle: number, counts: Counts, violations: Violations): void {
  counts.voidRefsSent = sim.voidsByRef.size;
  counts.reversals = [...sim.reversalsByOrigRef.values()].reduce((a, b) => a + b, 0);
  for (const [origRef, n] of sim.reversalsByOrigRef) {
    counts.maxReversalsPerApproval = Math.max(counts.maxReversalsPerApproval, n);
    if (n > 1) violations.add(cycle, `the approval of ref ${origRef} was reversed ${n} times`);
  }
  const intentOfVoid = new Map<string, string>();
  for (const [id, vrefs] of ledger.vrefs) for (const v of vrefs) intentOfVoid.set(v, id);
  for (const [vref, n] of sim.voidsByRef) {
    if (n > 1) violations.add(cycle, `VOID ref ${vref} was acted on ${n} times`);
    const id = intentOfVoid.get(vref);
    if (id === undefined) {
      violations.add(cycle, `the terminal got a VOID with ref ${vref} the ledger does not hold (sent before it was durable?)`);
      continue;
    }
    const origRef = sim.origRefOfVoid.get(vref);
    if (origRef === undefined || !(ledger.refs.get(id) ?? []).includes(origRef)) violations.add(cycle, `VOID ${vref} of ${id} names ref ${String(origRef)}, not one of its AUTHs`);
  }
  for (const p of payments) {
    if (!p.voidAsked || voidPending(p)) continue;
    const reversed = (ledger.refs.get(p.id) ?? []).some((r) => (sim.reversalsByOrigRef.get(r) ?? 0) > 0);
    if (p.state === 'voided' && !reversed) violations.add(cycle, `${p.id} is voided but the terminal reversed none of its approvals`);
    if (p.state === 'approved' && reversed && p.voidState !== 'unknown') {
      violations.add(cycle, `${p.id} was reversed at the terminal but otcd says its void is ${p.voidState ?? 'absent'} ${p.voidCode ?? ''}`);
    }
  }
}

function checkAgainstTerminal(
  sim: SimView, refsByIntent: Map<string, string[]>, payments: Payment[], cycle: number,
  counts: Counts, violations: Violations, atEnd: boolean,
): void {
  const intentOfRef = new Map<string, string>();
  for (const [id, refs] of refsByIntent) {
    for (const ref of refs) {
      const other = intentOfRef.get(ref);
      if (other !== undefined && other !== id) violations.add(cycle, `ref ${ref} recorded for ${other} and ${id}`);
      intentOfRef.set(ref, id);
    }
  }
  counts.refsSent = sim.authsByRef.size;
  for (const [ref, n] of sim.authsByRef) {
    counts.maxAuthPerRef = Math.max(counts.maxAuthPerRef, n);
    if (n > 1) violations.add(cycle, `ref ${ref} was sent in ${n} AUTHs`);
    if (!intentOfRef.has(ref)) violations.add(cycle, `the terminal got an AUTH with ref ${ref} the ledger does not hold (AUTH sent before its ref was durable?)`);
  }
  for (const p of payments) {
    if (!isFinal(p.state)) continue;
    const refs = refsByIntent.get(p.id) ?? [];
    const outcomes = refs.map((r) => sim.outcomeByRef.get(r)).filter((o): o is string => o !== undefined);
    const amounts = new Set(refs.map((r) => sim.amountByRef.get(r)).filter((a) => a !== undefined));
    for (const a of amounts) if (a !== p.amount) violations.add(cycle, `${p.id}: the terminal got amount ${a}, the payment is ${p.amount}`);
    // Only one attempt can have gone upstream: a fresh attempt follows only a CN/BY/NF.
    const upstream = outcomes.filter((o) => o === '00' || o === '51' || o === 'TO');
    if (upstream.length > 1) violations.add(cycle, `${p.id}: more than one AUTH went upstream (${outcomes.join(',')})`);
    const state = p.state!;
    if (state === 'unknown') {
      const ref = refs.at(-1);
      if (!atEnd) continue;
      if (ref === undefined || !sim.authsByRef.has(ref)) counts.unknownTerminalNeverGotAuth++;
      else if (sim.outcomeByRef.get(ref) === 'TO') counts.unknownTerminalTimeout++;
      else if (!sim.outcomeByRef.has(ref)) counts.unknownTerminalSilent++;
      else violations.add(cycle, `${p.id} is still unknown though the terminal decided ${sim.outcomeByRef.get(ref)} for ref ${ref}`);
      continue;
    }
    if (upstream.length === 1) {
      const want = stateForOutcome(upstream[0]!);
      if (!want.includes(state)) violations.add(cycle, `${p.id} is ${state} but the terminal decided ${upstream[0]} (refs ${refs.join(',')})`);
    } else if (state === 'approved' || state === 'declined') {
      violations.add(cycle, `${p.id} is ${state} but the terminal decided nothing upstream for it (outcomes: ${outcomes.join(',') || 'none'})`);
    }
  }
}

async function keepEvidence(dir: string, stack: Stack, daemonLogs: string[], payments: Payment[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await cp(stack.stateDir, join(dir, 'state'), { recursive: true }).catch(() => undefined);
  await writeFile(join(dir, 'daemon.log'), daemonLogs.join('\n') + '\n');
  await writeFile(join(dir, 'sim-events.jsonl'), (stack.sim?.events ?? []).map((e) => JSON.stringify(e)).join('\n') + '\n');
  await writeFile(join(dir, 'payments.json'), JSON.stringify(payments, null, 1));
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`chaos: ${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.error(err);
  process.exitCode = 1;
});
