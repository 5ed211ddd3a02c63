import { describe, expect, test } from '@jest/globals';
import { runFuzz } from '../../scripts/fuzz/harness.js';
import { providerTarget } from '../../scripts/fuzz/provider.js';
import { formatReport } from '../../scripts/fuzz/report.js';

/** The full run (100,000 cases) is scripts/fuzz.ts; this keeps `npm test` fast. */
const CASES = 2_000;
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261127);

describe('fuzz: provider answers (parseOtcAnswer, decodeJsonObject)', () => {
  test(`${CASES} cases: spec model agrees, typed errors only, no slow call, no pollution`, () => {
    const report = runFuzz(providerTarget, { cases: CASES, seed: SEED });
    expect(report.failure ? formatReport(report) : undefined).toBeUndefined();
    expect(report.cases).toBe(CASES);
    expect(report.acceptedBy['0000']).toBeGreaterThan(0);
    for (const code of ['API_ERROR', 'HTTP_STATUS', 'BAD_ANSWER']) expect(report.rejectedBy[code]).toBeGreaterThan(0);
  });
});
