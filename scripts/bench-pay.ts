/**
 * `node dist/scripts/bench-pay.js [--payments N]`: time from `pay` received to
 * the AUTH frame written, over N payments (default 200) through the real
 * daemon, the provider stand-in (HTTPS on loopback) and the terminal
 * simulator (TCP). The provider round trip is shown apart, and subtracted.
 *
 * By default each payment waits until the key pool has a key pair ready, as
 * on a kiosk where payments are tens of seconds apart; `--back-to-back`
 * pays without waiting, so key generation shows up in the figures.
 *
 * The milestones come from the daemon's own monotonic clock (its
 * "payment final" log line carries them), so process start-up and the
 * client's socket are not counted.
 */
import { parseArgs } from 'node:util';
import { startStack } from './lib/stack.js';
import { fmtMs, percentile, table } from './lib/stats.js';

interface Timing { inquirySent: number; inquiryAnswered: number; authWritten: number; authAcked: number }

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { payments: { type: 'string', default: '200' }, 'back-to-back': { type: 'boolean', default: false } } });
  const n = Number(values.payments);
  const timings: Timing[] = [];
  const stack = await startStack({
    simArgs: ['--prog-sent-delay', '0', '--result-delay', '0', '--quiet'],
    onDaemonLog: (line) => {
      if (!line.includes('"payment final"')) return;
      const parsed = JSON.parse(line) as { state: string; timingMs?: Timing };
      if (parsed.state === 'approved' && parsed.timingMs) timings.push(parsed.timingMs);
    },
  });
  try {
    const client = await stack.connect();
    for (let until = Date.now() + 15_000; Date.now() < until;) {
      const health = (await client.request({ op: 'health' })).health as { terminal: { link: string } };
      if (health.terminal.link === 'up') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const started = Date.now();
    for (let i = 0; i < n; i++) {
      while (!values['back-to-back']) {
        const health = (await client.request({ op: 'health' })).health as { keys: { ready: number } };
        if (health.keys.ready > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const intentId = `bench-${started}-${i}`;
      const reply = await client.request({ op: 'pay', intentId, authorizationId: `BENCH-${i}`, amount: 1000 + i * 1000, installment: 0 });
      if (reply.type !== 'reply') throw new Error(`pay ${i} refused: ${JSON.stringify(reply)}`);
      const final = await client.finalEvent(intentId, 60_000);
      if (final.state !== 'approved') throw new Error(`pay ${i} ended ${String(final.state)}`);
    }
    client.close();
    await new Promise((r) => setTimeout(r, 200));
    const col = (f: (t: Timing) => number): string[] => {
      const v = timings.map(f);
      return [fmtMs(percentile(v, 50)), fmtMs(percentile(v, 99)), fmtMs(Math.max(...v))];
    };
    const mode = values['back-to-back'] ? 'back to back (key pool may be empty)' : 'each with a key pair ready';
    console.log(`${timings.length} approved payments, ${mode}, in ${((Date.now() - started) / 1000).toFixed(1)} s (node ${process.version}, ${process.arch})\n`);
    console.log(table(['from pay received to', 'p50', 'p99', 'max'], [
      ['inquiry sent (key pair taken)', ...col((t) => t.inquirySent)],
      ['provider round trip (HTTPS, EUC-KR)', ...col((t) => t.inquiryAnswered - t.inquirySent)],
      ['AUTH frame written', ...col((t) => t.authWritten)],
      ['AUTH frame written, provider excluded', ...col((t) => t.authWritten - (t.inquiryAnswered - t.inquirySent))],
      ['  of which decrypt + validate + ledger fsync', ...col((t) => t.authWritten - t.inquiryAnswered)],
      ['AUTH ACKed by the terminal', ...col((t) => t.authAcked)],
    ]));
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
