/**
 * `node dist/scripts/bench-pay.js [--payments N] [--back-to-back]`: time from
 * `pay` received to the AUTH frame written, over N payments (default 200)
 * through the real daemon, the provider stand-in (HTTPS on loopback) and the
 * terminal simulator (TCP). The provider round trip is shown apart, and
 * subtracted. (`npm run bench` prints the same p50/p99 among its figures;
 * this one shows every milestone.)
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
import { approvedTiming, authWrittenExcludingProvider, pay, waitUntilWarm, type PayTiming } from './bench/payments.js';
import { startStack } from './testkit/stack.js';
import { fmtMs, percentile, table } from './lib/stats.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { payments: { type: 'string', default: '200' }, 'back-to-back': { type: 'boolean', default: false } } });
  const n = Number(values.payments);
  const timings: PayTiming[] = [];
  const stack = await startStack({
    simArgs: ['--prog-sent-delay', '0', '--result-delay', '0', '--quiet'],
    onDaemonLog: (line) => {
      const timing = approvedTiming(line);
      if (timing) timings.push(timing);
    },
  });
  try {
    const client = await stack.connect();
    await waitUntilWarm(client, 1, 15_000);
    const started = Date.now();
    await pay(client, 0, n, { runId: String(started), waitForKey: !values['back-to-back'] });
    client.close();
    await new Promise((r) => setTimeout(r, 200));
    const col = (f: (t: PayTiming) => number): string[] => {
      const v = timings.map(f);
      return [fmtMs(percentile(v, 50)), fmtMs(percentile(v, 99)), fmtMs(Math.max(...v))];
    };
    const mode = values['back-to-back'] ? 'back to back (key pool may be empty)' : 'each with a key pair ready';
    console.log(`${timings.length} approved payments, ${mode}, in ${((Date.now() - started) / 1000).toFixed(1)} s (node ${process.version}, ${process.arch})\n`);
    console.log(table(['from pay received to', 'p50', 'p99', 'max'], [
      ['inquiry sent (key pair taken)', ...col((t) => t.inquirySent)],
      ['provider round trip (HTTPS, EUC-KR)', ...col((t) => t.inquiryAnswered - t.inquirySent)],
      ['AUTH frame written', ...col((t) => t.authWritten)],
      ['AUTH frame written, provider excluded', ...col(authWrittenExcludingProvider)],
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
