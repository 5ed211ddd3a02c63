/**
 * `node dist/scripts/leak-scan.js`: searches what the daemon wrote for card
 * data (every test PAN and track 2 of scripts/leak-hunt/test-cards.ts in every
 * encoding of scripts/leak-hunt/needles.ts).
 *
 *   --captures DIR  the strace captures written by startDaemon when the whole
 *                   suite ran with OTCD_LEAK_CAPTURE_DIR=DIR: every byte every
 *                   daemon wrote to any fd. Card data is allowed only inside
 *                   one ecr1 AUTH frame written to the terminal link (a pty or
 *                   a TCP socket); anywhere else it is a hit.
 *   --dir D / --file F  plain files (the systemd test's journal files,
 *                   `journalctl -o export`, the state directory): no allowance.
 *
 * The capture's own state directory is not read again: every byte in it was
 * written by the daemon through a traced write (the ledger is appended and
 * compacted with write/pwrite, then renamed), so the writes are a superset of
 * the files, including bytes later overwritten, truncated or deleted with
 * the test's temporary folder.
 *
 * Exit: 0 no hit; 1 hits (listed, card data masked); 2 no hit, but the scan
 * proves nothing (a control failed, or the card list is stale).
 */
import { parseArgs } from 'node:util';
import { captureControls, LeakReport, plainControls, scanCaptureDir, scanPlainPath, waitForTracers } from './leak-hunt/capture-scan.js';
import { NeedleMatcher } from './leak-hunt/matcher.js';
import { needlesFor } from './leak-hunt/needles.js';
import { SUITE_CARDS, unlistedTrack2s } from './leak-hunt/test-cards.js';
import { repoRoot } from './lib/repo-root.js';
import { printTable } from './lib/table.js';

const USAGE = `Usage: node dist/scripts/leak-scan.js --captures DIR [--min-daemons N]
       node dist/scripts/leak-scan.js (--dir DIR | --file FILE)... [--expect TEXT]...

Searches what otcd wrote for every test PAN and track 2 in every encoding.
  --captures DIR     strace captures from OTCD_LEAK_CAPTURE_DIR=DIR (AUTH frames to the terminal allowed)
  --min-daemons N    fail unless at least N daemons were captured (default 1)
  --dir DIR          plain files under DIR (no allowance); repeatable
  --file FILE        one plain file; repeatable
  --expect TEXT      a non-secret string that must be found in the plain files (proves they hold
                     what they should); repeatable
  --help             this text
Exit: 0 no hit, 1 hits, 2 no hit but the scan proves nothing (a control failed, stale card list).`;

/** Needle labels printed per hit; the rest are counted. */
const LABELS_SHOWN = 3;

/** How long to wait for strace tracers (detached, -D) still writing their logs. */
const TRACER_WAIT_MS = 30_000;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      captures: { type: 'string' },
      'min-daemons': { type: 'string', default: '1' },
      dir: { type: 'string', multiple: true, default: [] },
      file: { type: 'string', multiple: true, default: [] },
      expect: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || (!values.captures && values.dir.length === 0 && values.file.length === 0)) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const minDaemons = Number(values['min-daemons']);
  if (!Number.isInteger(minDaemons) || minDaemons < 0) {
    console.error('leak-scan: --min-daemons takes a whole number');
    return 2;
  }

  const stale = await unlistedTrack2s(repoRoot());
  if (stale.length > 0) {
    console.log('the card list is stale: these track-2-shaped strings are not in scripts/leak-hunt/test-cards.ts:');
    for (const s of stale) console.log(`  ${s.file}:${s.line} (${s.shape})`);
    return 2;
  }
  const needles = needlesFor(SUITE_CARDS);
  const matcher = new NeedleMatcher(needles);
  const started = Date.now();
  const report = new LeakReport();
  const problems: string[] = [];

  if (values.captures) {
    const live = await waitForTracers(values.captures, TRACER_WAIT_MS);
    if (live.length > 0) problems.push(`strace still running after ${TRACER_WAIT_MS / 1000} s (pids ${live.join(' ')}): the capture may be incomplete`);
    await scanCaptureDir(values.captures, matcher, report);
    problems.push(...captureControls(report, minDaemons));
  }
  if (values.dir.length + values.file.length > 0) {
    for (const text of values.expect) report.expected.set(text, 0);
    for (const path of [...values.dir, ...values.file]) await scanPlainPath(path, path, matcher, report);
    problems.push(...plainControls(report));
  }

  const rows = [...report.stats].sort(([a], [b]) => a.localeCompare(b)).map(([kind, s]) => [kind, String(s.writes), String(s.bytes), String(s.hits), String(s.allowed)]);
  if (values.captures) printTable(['capture target kind', 'writes', 'bytes', 'hits', 'allowed (needles in AUTH frames on the link)'], rows);
  else printTable(['file(s)', 'files', 'bytes', 'hits'], rows.map((r) => r.slice(0, 4)));
  console.log(`\nneedles: ${SUITE_CARDS.length} test track 2s x (PAN, track 2, track 2 with D) x encodings = ${needles.length} (${matcher.needles.length} distinct)`);
  if (values.captures) {
    console.log(`daemons captured: ${report.daemons} (${report.logs} capture logs)`);
    console.log(`AUTH frames with a test track 2 on the terminal link (allowed, the positive control): ${report.authFramesWithTrack2}`);
    if (report.unparsed.length > 0) console.log(`lines not understood (scanned as bytes): ${report.unparsed.length}, first at ${report.unparsed.slice(0, 5).join(', ')}`);
  }
  for (const [text, count] of report.expected) console.log(`control "${text}": found ${count} time(s)`);
  console.log(`time ${((Date.now() - started) / 1000).toFixed(1)} s`);

  if (report.hitCount > 0) {
    console.log(`\n${report.hitCount} HIT(S)${report.hits.length < report.hitCount ? ` (first ${report.hits.length} listed)` : ''}:`);
    for (const h of report.hits) {
      const more = h.labels.length > LABELS_SHOWN ? ` (+${h.labels.length - LABELS_SHOWN} more)` : '';
      console.log(`  ${h.kind} | ${h.where} | ${h.labels.slice(0, LABELS_SHOWN).join(', ')}${more}\n      ${h.context}`);
    }
  }
  if (problems.length > 0) {
    console.log(`\n${report.hitCount > 0 ? 'AND ' : ''}THE SCAN IS NOT CONCLUSIVE:`);
    for (const p of problems) console.log(`  ${p}`);
  }
  // A hit is a leak whatever else failed; a clean result counts only when the controls hold.
  if (report.hitCount > 0) return 1;
  if (problems.length > 0) return 2;
  console.log(values.captures ? '\nno card data outside AUTH frames on the terminal link' : '\nno card data in these files');
  return 0;
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  console.error(`leak-scan: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 2;
});
