import { describe, expect, test } from '@jest/globals';
import { runFuzz } from '../../scripts/fuzz/harness.js';
import { intentsTarget } from '../../scripts/fuzz/intents.js';
import { formatReport } from '../../scripts/fuzz/report.js';

/** The full run (100,000 cases) is scripts/fuzz.ts; this keeps `npm test` fast. */
const CASES = 2_000;
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261127);

describe('fuzz: intent socket lines (parseRequest, LineReader)', () => {
  test(`${CASES} cases: spec model agrees, typed errors only, no slow case, no pollution`, () => {
    const report = runFuzz(intentsTarget, { cases: CASES, seed: SEED });
    expect(report.failure ? formatReport(report) : undefined).toBeUndefined();
    expect(report.cases).toBe(CASES);
    // The inputs reach every outcome, not only the parser's first refusal.
    for (const op of ['pay', 'cancel', 'void', 'get', 'health', 'terminal.ping']) expect(report.acceptedBy[op]).toBeGreaterThan(0);
    for (const code of ['BAD_REQUEST', 'UNKNOWN_OP', 'LINE_TOO_LONG']) expect(report.rejectedBy[code]).toBeGreaterThan(0);
  });
});
