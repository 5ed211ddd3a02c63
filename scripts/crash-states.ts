/**
 * `npm run crash-states`: power cuts, replayed. Each payment story
 * (crash-states/stories.ts) runs on the real daemon under strace; from its
 * trace every state ext4 (data=ordered) can leave after a power cut is built
 * (crash-states/crash-model.ts), and on each the real otcd recovers against
 * the terminal simulator and is checked (crash-states/recovery-check.ts).
 * Prints, per story, the crash states explored and the violations; exits 1
 * on any violation, keeping the evidence in a folder it names.
 *
 * The traces depend on timing (refs are random, threads interleave); for a
 * given trace the states and the sample drawn with --seed are always the same.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Random } from './chaos/random.js';
import { crashStates, type CrashState, type TornBytes } from './crash-states/crash-model.js';
import { checkRecovery } from './crash-states/recovery-check.js';
import { STORIES, type Story } from './crash-states/stories.js';
import { StoryRun } from './crash-states/story-run.js';
import { describeStep, type TraceStep } from './crash-states/trace.js';
import { parseLine } from '../daemon/payments/ledger-record.js';
import { printTable } from './lib/table.js';

const USAGE = `Usage: node dist/scripts/crash-states.js [options]

Runs payment stories on otcd under strace, builds every state a power cut can
leave in its state directory (ext4, data=ordered), starts the real otcd on
each and checks its recovery. Needs root-free strace and faketime.

  --story NAME     only this story (repeatable); stories: ${STORIES.map((s) => s.name).join(', ')}
  --sample N       check N states per story, drawn with --seed (default: all)
  --seed S         seed of the sample (default 1)
  --torn all|lines where writes are torn: every byte, or every byte of short
                   writes and the telling bytes of each line (default lines)
  --keep DIR       where evidence goes on a violation (default /tmp/otcd-crash-states-<seed>)
  --verbose        one line per state checked
  --trace          print each story's trace (file-system steps and what was seen)
  --help           this text
Exit: 0 no violation, 1 violations (listed), 2 bad command line.`;

interface StoryReport {
  story: string;
  states: number;
  checked: number;
  violations: number;
  seconds: number;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      story: { type: 'string', multiple: true },
      sample: { type: 'string' },
      seed: { type: 'string', default: '1' },
      torn: { type: 'string', default: 'lines' },
      keep: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seed = Number(values.seed);
  const sample = values.sample === undefined ? undefined : Number(values.sample);
  if (!Number.isInteger(seed) || (sample !== undefined && (!Number.isInteger(sample) || sample < 1))) {
    console.error(`--seed and --sample must be whole numbers (--sample at least 1)\n\n${USAGE}`);
    return 2;
  }
  if (values.torn !== 'all' && values.torn !== 'lines') {
    console.error(`--torn must be all or lines, got ${values.torn}`);
    return 2;
  }
  const torn: TornBytes = values.torn;
  const names = values.story ?? STORIES.map((s) => s.name);
  const unknownName = names.find((n) => !STORIES.some((s) => s.name === n));
  if (unknownName !== undefined) {
    console.error(`no story ${unknownName}; stories: ${STORIES.map((s) => s.name).join(', ')}`);
    return 2;
  }
  const keep = values.keep ?? `/tmp/otcd-crash-states-${seed}`;
  console.log(`crash-states: ${names.length} stories, ${sample === undefined ? 'every state' : `a sample of ${sample} states per story, seed ${seed}`}, torn writes: ${torn}`);

  const reports: StoryReport[] = [];
  let total = 0;
  for (const story of STORIES.filter((s) => names.includes(s.name))) {
    const report = await explore(story, { sample, seed, torn, keep, verbose: values.verbose, trace: values.trace });
    reports.push(report);
    console.log(`${story.name}: ${report.states} crash states, ${report.checked} checked, ${report.violations} violations (${report.seconds.toFixed(0)} s)`);
    total += report.violations;
  }
  printTable(['story', 'crash states', 'checked', 'violations', 'seconds'],
    reports.map((r) => [r.story, String(r.states), String(r.checked), String(r.violations), r.seconds.toFixed(0)]));
  console.log(total === 0 ? 'crash-states: 0 violations' : `crash-states: ${total} violations; evidence in ${keep}`);
  return total === 0 ? 0 : 1;
}

async function explore(story: Story, opts: { sample: number | undefined; seed: number; torn: TornBytes; keep: string; verbose: boolean; trace: boolean }): Promise<StoryReport> {
  const started = Date.now();
  const work = await mkdtemp(join(tmpdir(), `otcd-crash-${story.name}-`));
  const run = await StoryRun.start(work, story.stack, story.cuttableLink === true);
  try {
    await story.run(run);
    const trace = await run.finish();
    if (opts.trace) trace.steps.forEach((step, k) => console.log(`  ${story.name} ${k} ${describeStep(step)}`));
    const all: CrashState[] = [...crashStates(trace.steps, { torn: opts.torn })];
    const chosen = opts.sample === undefined || opts.sample >= all.length ? all : drawSample(all, opts.sample, new Random(opts.seed));
    const sim = run.sim;
    let violations = 0;
    const expired = new Set(story.expires ?? []);
    const refOwner = refOwners(trace.steps);
    for (const [i, state] of chosen.entries()) {
      const { violations: found, phases } = await checkRecovery(state, {
        configText: trace.configText, stateDirPath: trace.stateDirPath, scratch: join(work, 'check'), sim, settleMs: 30_000,
        expired, refOwner,
      });
      if (opts.verbose) {
        const ms = Object.entries(phases).map(([k, v]) => `${k} ${v}`).join(', ');
        console.log(`  ${story.name} ${i + 1}/${chosen.length} cut ${state.cut}: ${state.how}: ${found.length === 0 ? 'ok' : found.join('; ')} (ms: ${ms})`);
      }
      if (found.length === 0) continue;
      violations += found.length;
      const dir = join(opts.keep, story.name, `state-${i + 1}`);
      await mkdir(dir, { recursive: true });
      for (const [path, bytes] of state.files) {
        await mkdir(join(dir, 'files', path, '..'), { recursive: true });
        await writeFile(join(dir, 'files', path), bytes);
      }
      await writeFile(join(dir, 'what.txt'), [
        `story ${story.name}: ${story.what}`, `power cut before step ${state.cut}: ${state.how}`, '', 'violations:', ...found.map((v) => `  ${v}`),
        '', 'trace up to the cut:', ...trace.steps.slice(0, state.cut).map((s, k) => `  ${k} ${describeStep(s)}`),
      ].join('\n') + '\n');
      console.log(`  ${story.name}: violation at cut ${state.cut} (${state.how}):\n    ${found.join('\n    ')}\n    evidence: ${dir}`);
    }
    return { story: story.name, states: all.length, checked: chosen.length, violations, seconds: (Date.now() - started) / 1000 };
  } finally {
    await run.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

/** ref -> intentId, from every ledger line written in the trace. */
function refOwners(steps: readonly TraceStep[]): Map<string, string> {
  const owners = new Map<string, string>();
  for (const step of steps) {
    if (step.kind !== 'write') continue;
    for (const line of step.data.toString('utf8').split('\n')) {
      const parsed = parseLine(line);
      if (parsed.kind !== 'change') continue;
      for (const ref of [...(parsed.change.refs ?? []), ...(typeof parsed.change.ref === 'string' ? [parsed.change.ref] : [])]) owners.set(ref, parsed.change.id);
    }
  }
  return owners;
}

/** n states drawn without replacement, in the order they were generated. */
function drawSample<T>(items: readonly T[], n: number, rnd: Random): T[] {
  const picked = new Set<number>();
  while (picked.size < n) picked.add(rnd.int(0, items.length - 1));
  return [...picked].sort((a, b) => a - b).map((i) => items[i]!);
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`crash-states: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
