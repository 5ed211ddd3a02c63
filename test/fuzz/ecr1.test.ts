import { describe, expect, test } from '@jest/globals';
import { ecr1Target } from '../../scripts/fuzz/ecr1.js';
import { runFuzz } from '../../scripts/fuzz/harness.js';
import { formatReport } from '../../scripts/fuzz/report.js';

/** The full run (100,000 cases) is scripts/fuzz.ts; this keeps `npm test` fast. */
const CASES = 2_000;
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261127);

describe('fuzz: ecr1 frames and messages (FrameDecoder, ecr1Dialect.decode)', () => {
  test(`${CASES} cases: spec models agree, typed errors only, no slow call, no pollution`, () => {
    const report = runFuzz(ecr1Target, { cases: CASES, seed: SEED });
    expect(report.failure ? formatReport(report) : undefined).toBeUndefined();
    expect(report.cases).toBe(CASES);
    for (const cmd of ['PONG', 'PROG', 'RSLT']) expect(report.acceptedBy[cmd]).toBeGreaterThan(0);
    for (const reason of ['lrc', 'byte', 'length', 'header']) expect(report.rejectedBy[`BAD_FRAME:${reason}`]).toBeGreaterThan(0);
    expect(Object.keys(report.rejectedBy).filter((k) => k.startsWith('BAD_MESSAGE:')).length).toBeGreaterThan(3);
  });
});
