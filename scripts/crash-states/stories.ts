/**
 * The payment stories whose traces the power-cut exploration replays. Together
 * they make otcd write every kind of ledger line: a payment accepted,
 * inquiring, delivering, processing, sent, and ending approved, declined,
 * unknown, cancelled; an unknown resolved by LAST when the terminal is back; a
 * re-inquiry after a lost window; a restart's recovery of a payment whose AUTH
 * was out; a compaction (at open, of a file with a torn tail); a retention drop.
 *
 * Amounts pick the simulator's scenarios (terminal-sim --help): ...000
 * approve, ...051 decline, ...066 silent after AUTH, ...077 slow.
 */
import type { StackOptions } from '../testkit/stack.js';
import type { StoryRun } from './story-run.js';

export interface Story {
  name: string;
  what: string;
  stack: StackOptions;
  /** otcd reaches the terminal through a relay the story can cut (StoryRun.link). */
  cuttableLink?: boolean;
  /** Payments the story lets pass their retention: the ledger may drop them. */
  expires?: string[];
  run(s: StoryRun): Promise<void>;
}

const FAST_SIM = ['--prog-sent-delay', '50', '--result-delay', '50'];
const PAYMENT = ['window_s = 5', 'send_margin_s = 2', 'cancel_margin_s = 1', 'max_inquiries = 2', 'payment_limit_s = 20', 'result_timeout_s = 2'];
const TERMINAL = ['reconnect_initial_ms = 100', 'reconnect_max_ms = 300'];

function stack(simArgs: string[] = [], payment: string[] = []): StackOptions {
  return { simArgs: [...FAST_SIM, ...simArgs], config: { payment: [...PAYMENT, ...payment], terminal: TERMINAL } };
}

function mustEnd(what: string, got: unknown, want: string): void {
  if (got !== want) throw new Error(`story step: ${what} ended ${String(got)}, not ${want}`);
}

export const STORIES: Story[] = [
  {
    name: 'approve',
    what: 'two payments approved',
    stack: stack(),
    run: async (s) => {
      mustEnd('pay a1', (await s.pay('a1', 1000)).state, 'approved');
      mustEnd('pay a2', (await s.pay('a2', 2000)).state, 'approved');
    },
  },
  {
    name: 'decline',
    what: 'a payment declined (51), then one approved',
    stack: stack(),
    run: async (s) => {
      mustEnd('pay d1', (await s.pay('d1', 12051)).state, 'declined');
      mustEnd('pay d2', (await s.pay('d2', 1000)).state, 'approved');
    },
  },
  {
    name: 'unknown',
    what: 'the terminal takes the AUTH and never answers: unknown, waiting for reconciliation',
    stack: stack(),
    run: async (s) => {
      mustEnd('pay u1', (await s.pay('u1', 12066)).state, 'unknown');
    },
  },
  {
    name: 'resolution',
    what: 'the link to the terminal is cut while it runs a payment, which ends unknown; the link comes back and LAST resolves it approved',
    stack: stack(['--prog-sent-delay', '1500']),
    cuttableLink: true,
    run: async (s) => {
      const link = s.link!;
      const final = await s.pay('r1', 1000, {
        onEvent: (m) => {
          if (m.state === 'processing') link.cut();
        },
        timeoutMs: 60_000,
      });
      mustEnd('pay r1 with the link cut', final.state, 'unknown');
      link.restore();
      await s.waitForState('r1', ['approved'], 90_000);
      mustEnd('pay r2', (await s.pay('r2', 2000)).state, 'approved');
    },
  },
  {
    name: 'reinquiry',
    what: 'the first AUTH is slow, its window is lost (CNCL before SENT), a fresh inquiry goes through',
    stack: stack(['--slow-first', '1', '--slow-ms', '8000']),
    run: async (s) => {
      mustEnd('pay q1', (await s.pay('q1', 1000)).state, 'approved');
    },
  },
  {
    name: 'cancel',
    what: 'the client cancels a slow payment before the card data goes upstream',
    stack: stack(['--slow-ms', '8000']),
    run: async (s) => {
      const final = await s.pay('c1', 12077, {
        onEvent: (m, client) => {
          if (m.state === 'processing') void client.request({ op: 'cancel', intentId: 'c1' });
        },
      });
      mustEnd('pay c1', final.state, 'cancelled');
    },
  },
  {
    name: 'restart',
    what: 'otcd is killed while the terminal holds a slow payment; the restart recovers it with LAST',
    stack: stack(['--slow-ms', '1500']),
    run: async (s) => {
      const client = await s.connect();
      const reply = await client.request({ op: 'pay', intentId: 'k1', amount: 12077, installment: 0, authorizationId: 'CRASH-k1' });
      if (reply.type !== 'reply') throw new Error(`pay k1: ${JSON.stringify(reply)}`);
      await client.next((m) => m.type === 'event' && m.intentId === 'k1' && m.state === 'processing', 15_000);
      await s.restart({ kill: true });
      await s.waitForState('k1', ['approved'], 30_000);
      mustEnd('pay k2', (await s.pay('k2', 1000)).state, 'approved');
    },
  },
  {
    name: 'compaction',
    what: 'two payments, a torn tail left by a power cut, a restart that compacts the ledger, one more payment',
    stack: stack(),
    run: async (s) => {
      mustEnd('pay p1', (await s.pay('p1', 1000)).state, 'approved');
      mustEnd('pay p2', (await s.pay('p2', 12051)).state, 'declined');
      await s.stopDaemon();
      await s.appendToLedger(Buffer.from('{"id":"p3","st":"accepted","at":17'));
      await s.restart();
      mustEnd('pay p4', (await s.pay('p4', 2000)).state, 'approved');
    },
  },
  {
    name: 'retention',
    what: 'a payment, then a restart two days later (retention 1 day): the compaction at start drops it; one more payment',
    stack: stack([], ['retention_days = 1']),
    expires: ['t1'],
    run: async (s) => {
      mustEnd('pay t1', (await s.pay('t1', 1000)).state, 'approved');
      await s.restart({ fakeTime: '+2d' });
      mustEnd('pay t2', (await s.pay('t2', 2000)).state, 'approved');
    },
  },
];
