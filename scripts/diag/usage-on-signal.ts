/**
 * Preload for scripts/diag/rss-breakdown.ts (`node --import` it): on SIGUSR2
 * the process writes one line to stderr, `otcd-diag-usage {json}`, with
 * process.memoryUsage() and V8's per-space committed sizes, so the real
 * daemon can be measured from outside without a diagnostic in its own code.
 */
import { getHeapSpaceStatistics } from 'node:v8';

process.on('SIGUSR2', () => {
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { committed: s.physical_space_size, used: s.space_used_size }]));
  process.stderr.write(`otcd-diag-usage ${JSON.stringify({ usage: process.memoryUsage(), spaces })}\n`);
});
