/** Renders a FuzzReport as the runner's table rows and a failure block. */
import { SLOW_RETRIES, type FuzzReport } from './harness.js';

const byKey = (rec: Record<string, number>): string =>
  Object.entries(rec).sort(([, a], [, b]) => b - a).map(([k, n]) => `${k} ${n}`).join(', ') || '-';

export function formatReport(r: FuzzReport): string {
  const lines = [
    `${r.target}: ${r.failure ? 'FAILED' : 'ok'}`,
    `  cases            ${r.cases}`,
    `  seed             ${r.seed}`,
    `  accepted         ${r.accepted} (${byKey(r.acceptedBy)})`,
    `  rejected by code ${Object.values(r.rejectedBy).reduce((a, b) => a + b, 0)} (${byKey(r.rejectedBy)})`,
    `  longest error message ${r.longestMessage} chars`,
    `  slowest call     ${r.slowestMs.toFixed(2)} ms CPU (fastest of ${1 + SLOW_RETRIES} runs of that case)`,
    `  slowest input    ${r.slowestInput.length > 300 ? `${r.slowestInput.slice(0, 300)}...` : r.slowestInput}`,
    `  total            ${r.totalMs.toFixed(0)} ms`,
  ];
  if (r.failure) {
    lines.push(
      `  property failure: ${r.failure.message}`,
      `  replay:           --target ${r.target} --seed ${r.seed}${r.failure.path ? ` --path ${r.failure.path}` : ''}`,
      `  counterexample:   ${r.failure.counterexample}`,
    );
  }
  return lines.join('\n');
}
