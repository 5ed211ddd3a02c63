/**
 * Fuzzes the three parsers that take outside bytes: intent socket lines,
 * ecr1 frames and messages, provider answers. The targets and their
 * properties are in scripts/fuzz/; test/fuzz/ runs a few thousand cases of each.
 *
 *   npm run build && node dist/scripts/fuzz.js [--cases N] [--seed S] [--target intents|ecr1|provider|all]
 *                                              [--time-limit SECONDS] [--path P]
 *
 * N cases per target (default 100000), each target bounded by --time-limit
 * (default 900 s; running out of time is a failure). Prints, per target,
 * cases, accepted parses, rejections by error code, the longest error
 * message, the slowest parser call and the total time. Exits 1 on any
 * property failure, printing the seed, the fast-check path and the
 * counterexample in hex; `--seed S --path P --target T` replays it.
 * The inputs are synthetic: no card data is printed.
 */
import fc from 'fast-check';
import { ecr1Target } from './fuzz/ecr1.js';
import { runFuzz, type FuzzReport, type FuzzTarget, type Tally } from './fuzz/harness.js';
import { intentsTarget } from './fuzz/intents.js';
import { providerTarget } from './fuzz/provider.js';
import { formatReport } from './fuzz/report.js';

const DEFAULT_CASES = 100_000;
const DEFAULT_TIME_LIMIT_S = 900;
const TARGETS: Record<string, FuzzTarget<never>> = {
  intents: intentsTarget as FuzzTarget<never>,
  ecr1: ecr1Target as FuzzTarget<never>,
  provider: providerTarget as FuzzTarget<never>,
};
const USAGE = 'usage: node dist/scripts/fuzz.js [--cases N] [--seed S] [--target intents|ecr1|provider|all] [--time-limit SECONDS] [--path P]';

interface Args {
  cases: number;
  seed: number;
  targets: string[];
  timeLimitS: number;
  path?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { cases: DEFAULT_CASES, seed: (Date.now() ^ (Math.random() * 0x7fffffff)) | 0, targets: Object.keys(TARGETS), timeLimitS: DEFAULT_TIME_LIMIT_S };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const int = (min: number): number => {
      const n = Number(value);
      if (value === undefined || !Number.isSafeInteger(n) || n < min) throw new Error(`${flag} needs an integer >= ${min}`);
      i++;
      return n;
    };
    switch (flag) {
      case '--cases': args.cases = int(1); break;
      case '--seed': args.seed = int(-(2 ** 31)) | 0; break;
      case '--time-limit': args.timeLimitS = int(1); break;
      case '--path':
        if (value === undefined) throw new Error('--path needs a value');
        args.path = value;
        i++;
        break;
      case '--target':
        if (value !== 'all' && !(value in TARGETS)) throw new Error(`--target must be one of ${[...Object.keys(TARGETS), 'all'].join(', ')}`);
        args.targets = value === 'all' ? Object.keys(TARGETS) : [value];
        i++;
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  return args;
}

/** Replays one recorded counterexample (fast-check's seed + path) and prints its failure. */
function replay(target: FuzzTarget<never>, seed: number, path: string): boolean {
  const quiet: Tally = { time: <R>(parse: () => R): R => parse(), accepted: () => {}, rejected: () => {}, message: () => {} };
  const details = fc.check(fc.property(target.arbitrary, (input) => target.run(input, quiet)), { seed, path, numRuns: 1, endOnFailure: true });
  if (details.failed) {
    const err = details.errorInstance;
    console.log(`${target.name}: replayed failure: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    console.log(`  counterexample: ${details.counterexample ? target.show(details.counterexample[0]) : '(none)'}`);
    return false;
  }
  console.log(`${target.name}: the case at seed ${seed} path ${path} passes now`);
  return true;
}

function main(): number {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`fuzz: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  // A parser that starts async work and fails later must not pass unnoticed.
  let unhandled: unknown;
  process.on('unhandledRejection', (reason) => { unhandled ??= reason; });
  process.on('uncaughtException', (err) => { unhandled ??= err; });

  if (args.path !== undefined) {
    if (args.targets.length !== 1) {
      console.error('fuzz: --path replays one target: give --target too');
      return 2;
    }
    return replay(TARGETS[args.targets[0]], args.seed, args.path) ? 0 : 1;
  }

  console.log(`fuzz: ${args.cases} cases per target, seed ${args.seed}, node ${process.version}`);
  const reports: FuzzReport[] = [];
  for (const name of args.targets) {
    const report = runFuzz(TARGETS[name], { cases: args.cases, seed: args.seed, timeLimitMs: args.timeLimitS * 1000 });
    reports.push(report);
    console.log(formatReport(report));
  }
  const failed = reports.filter((r) => r.failure !== undefined);
  console.log('');
  console.log('target     cases     accepted  rejected  slowest ms  total ms');
  for (const r of reports) {
    const rejected = Object.values(r.rejectedBy).reduce((a, b) => a + b, 0);
    console.log(`${r.target.padEnd(10)} ${String(r.cases).padStart(8)}  ${String(r.accepted).padStart(8)}  ${String(rejected).padStart(8)}  ${r.slowestMs.toFixed(2).padStart(10)}  ${r.totalMs.toFixed(0).padStart(8)}`);
  }
  if (unhandled !== undefined) {
    console.log(`fuzz: FAILED: unhandled ${unhandled instanceof Error ? `${unhandled.name}: ${unhandled.message}` : String(unhandled)}`);
    return 1;
  }
  console.log(failed.length === 0 ? `fuzz: ok, ${reports.length} target(s), seed ${args.seed}` : `fuzz: FAILED: ${failed.map((r) => r.target).join(', ')} (seed ${args.seed})`);
  return failed.length === 0 ? 0 : 1;
}

// Let pending microtasks and stream callbacks run before deciding the exit code.
const code = main();
setImmediate(() => { process.exitCode = code; });
