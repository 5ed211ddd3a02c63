/**
 * Payments through the real daemon, one after another, as a kiosk makes them.
 * Each payment uses a fresh RSA-2048 key pair from the daemon's pool (never
 * reused), so their pace is bounded by key generation.
 *
 * The pay -> AUTH figures come from the daemon's own monotonic milestones in
 * its "payment final" log line, so the client's socket and process start-up
 * are not counted.
 */
import type { IntentClient } from '../../daemon/client/intent-client.js';

/** Milestones of one payment, ms after `pay` was received. */
export interface PayTiming { inquirySent: number; inquiryAnswered: number; authWritten: number; authAcked: number }

const FINAL_TIMEOUT_MS = 60_000;
const POLL_MS = 20;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The milestones of an approved payment's "payment final" log line; undefined for any other line. */
export function approvedTiming(line: string): PayTiming | undefined {
  if (!line.includes('"payment final"')) return undefined;
  const parsed = JSON.parse(line) as { state: string; timingMs?: PayTiming };
  return parsed.state === 'approved' ? parsed.timingMs : undefined;
}

/** pay -> AUTH frame written, minus the provider round trip: otcd's own share of a payment's latency. */
export function authWrittenExcludingProvider(t: PayTiming): number {
  return t.authWritten - (t.inquiryAnswered - t.inquirySent);
}

interface Health { terminal: { link: string }; keys: { ready: number } }

async function health(client: IntentClient): Promise<Health> {
  return (await client.request({ op: 'health' })).health as Health;
}

/** Waits until the terminal link is up and `keys` key pairs are ready. */
export async function waitUntilWarm(client: IntentClient, keys: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const h = await health(client);
    if (h.terminal.link === 'up' && h.keys.ready >= keys) return;
    if (Date.now() > until) throw new Error(`otcd not warm within ${timeoutMs} ms: ${JSON.stringify(h)}`);
    await sleep(POLL_MS * 5);
  }
}

export async function linkIsUp(client: IntentClient): Promise<boolean> {
  return (await health(client)).terminal.link === 'up';
}

export interface PayOptions {
  /** Unique per run, so intent ids never collide with a ledger's earlier payments. */
  runId: string;
  /** Wait for a ready key pair before each pay (a kiosk's pace); false pays back to back. */
  waitForKey: boolean;
}

/** Makes payments number `from` .. `to - 1`; each must end approved. */
export async function pay(client: IntentClient, from: number, to: number, opts: PayOptions): Promise<void> {
  for (let i = from; i < to; i++) {
    while (opts.waitForKey && (await health(client)).keys.ready === 0) await sleep(POLL_MS);
    const intentId = `bench-${opts.runId}-${i}`;
    const reply = await client.request({ op: 'pay', intentId, authorizationId: `BENCH-${opts.runId}-${i}`, amount: 1000 + (i % 1000) * 1000, installment: 0 });
    if (reply.type !== 'reply') throw new Error(`pay ${i} refused: ${JSON.stringify(reply)}`);
    const final = await client.finalEvent(intentId, FINAL_TIMEOUT_MS);
    if (final.state !== 'approved') throw new Error(`pay ${i} ended ${String(final.state)}: ${JSON.stringify(final)}`);
  }
}
