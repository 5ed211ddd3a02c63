/**
 * The fuzz harness shared by the jest suite (test/fuzz/*.test.ts, a few
 * thousand cases) and the standalone runner (scripts/fuzz.ts, 100,000 cases
 * per target for CI).
 *
 * A target is a fast-check arbitrary of inputs plus a `run` that feeds one
 * input to the real parser and checks its contract. `run` throws
 * `PropertyFailure` when the contract is broken, and reports what the parser
 * did (accepted, or rejected with a code) through the `Tally`. The harness
 * adds what every target shares: one parser call must not take more than
 * SLOW_CASE_MS of CPU time, and Object.prototype / Array.prototype must be the same after
 * every case as before the run (no prototype pollution).
 */
import fc from 'fast-check';
import { OtcdError } from '../../drivers/errors.js';

/** A parser call using more CPU time than this (its case's fastest of a few re-runs) fails the run. */
export const SLOW_CASE_MS = 50;

/**
 * CPU time this process has used, in ms. Parser calls are timed by it rather
 * than by the wall clock: on a machine whose cores are shared with other jobs
 * a call waits for a core for tens of ms, which says nothing about the parser,
 * while a parser that takes super-linear time still burns the CPU.
 */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
/** Re-runs of a slow case; the fastest counts, so a GC pause is not a failure. */
export const SLOW_RETRIES = 3;
/** A new slowest call above this is re-timed, so the report shows a repeatable figure, not a GC pause. */
const RETIME_ABOVE_MS = 1;

/** A broken contract. The message names the rule, the counterexample is printed by the runner. */
export class PropertyFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PropertyFailure';
  }
}

export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new PropertyFailure(message);
}

/** What a target's run saw; counted per parse (a case may parse several lines or frames). */
export interface Tally {
  /** Runs one parser call and times it; only parser calls count towards SLOW_CASE_MS, not the checks around them. */
  time<R>(parse: () => R): R;
  accepted(label?: string): void;
  rejected(code: string): void;
  /** Length of a rejection's message, for the "longest error message" column. */
  message(length: number): void;
}

export interface FuzzTarget<T> {
  readonly name: string;
  readonly arbitrary: fc.Arbitrary<T>;
  /** Feeds one input to the parser(s), checks the contract, reports outcomes. */
  run(input: T, tally: Tally): void;
  /** The input as printable text (hex for bytes) for a counterexample. */
  show(input: T): string;
}

export interface FuzzOptions {
  cases: number;
  seed?: number;
  /** Whole-run bound; running out of time before `cases` is a failure. */
  timeLimitMs?: number;
}

export interface FuzzReport {
  target: string;
  seed: number;
  cases: number;
  accepted: number;
  /** Accepted parses by label (e.g. message kind); labels are target-defined. */
  acceptedBy: Record<string, number>;
  rejectedBy: Record<string, number>;
  longestMessage: number;
  slowestMs: number;
  slowestInput: string;
  totalMs: number;
  failure?: { message: string; counterexample: string; path?: string };
}

/**
 * Asserts that `err` is a typed rejection: an instance of `cls` (an
 * OtcdError subclass) with a code from `codes` and a non-empty message.
 * A TypeError, RangeError, SyntaxError or anything else leaking out fails.
 */
export function expectTypedError<E extends OtcdError>(
  err: unknown,
  cls: abstract new (...args: never[]) => E,
  codes: readonly string[],
): E {
  if (err instanceof PropertyFailure) throw err;
  const what = err instanceof Error ? `${err.constructor.name}: ${err.message}` : `a thrown ${typeof err}`;
  check(err instanceof OtcdError && err instanceof cls, `untyped exception leaked: ${what}`);
  check(codes.includes(err.code), `unexpected error code ${err.code} (known: ${codes.join(', ')})`);
  check(typeof err.message === 'string' && err.message.length > 0, `${err.code} without a message`);
  return err;
}

/** Longest hex shown for one buffer in a report; longer inputs are cut (with their length and how to replay). */
export const MAX_SHOWN_BYTES = 4096;

export function hex(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length <= MAX_SHOWN_BYTES) return buf.toString('hex');
  return `${buf.subarray(0, MAX_SHOWN_BYTES).toString('hex')}...(${buf.length} bytes)`;
}

/** Own property names and values of the prototypes a JSON parser could reach. */
function prototypeSnapshot(): Map<string, unknown> {
  const snap = new Map<string, unknown>();
  for (const [name, proto] of [['Object', Object.prototype], ['Array', Array.prototype]] as const) {
    for (const key of Reflect.ownKeys(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, key);
      snap.set(`${name}.${String(key)}`, d?.value ?? d?.get);
    }
  }
  return snap;
}

function samePrototypes(a: Map<string, unknown>, b: Map<string, unknown>): string | undefined {
  for (const [k, v] of b) if (!a.has(k) || a.get(k) !== v) return k;
  for (const k of a.keys()) if (!b.has(k)) return k;
  return undefined;
}

class Counts implements Tally {
  /** Slowest parser call of the current case. */
  slowest = 0;
  time<R>(parse: () => R): R {
    const t0 = cpuMs();
    try {
      return parse();
    } finally {
      const took = cpuMs() - t0;
      if (took > this.slowest) this.slowest = took;
    }
  }
  acceptedBy: Record<string, number> = {};
  rejectedBy: Record<string, number> = {};
  longestMessage = 0;
  accepted(label = 'accepted'): void {
    this.acceptedBy[label] = (this.acceptedBy[label] ?? 0) + 1;
  }
  rejected(code: string): void {
    this.rejectedBy[code] = (this.rejectedBy[code] ?? 0) + 1;
  }
  message(length: number): void {
    if (length > this.longestMessage) this.longestMessage = length;
  }
}

/** Times parser calls without counting outcomes: for re-running a slow case. */
class Timer extends Counts {
  override accepted(): void {}
  override rejected(): void {}
  override message(): void {}
}

/** Runs `opts.cases` cases of `target`; never throws for a property failure (see `failure`). */
export function runFuzz<T>(target: FuzzTarget<T>, opts: FuzzOptions): FuzzReport {
  const seed = opts.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const before = prototypeSnapshot();
  const counts = new Counts();
  let slowestMs = 0;
  let slowestInput = '';
  const started = performance.now();

  const property = fc.property(target.arbitrary, (input) => {
    counts.slowest = 0;
    target.run(input, counts);
    let took = counts.slowest;
    if (took > SLOW_CASE_MS || (took > slowestMs && took > RETIME_ABOVE_MS)) {
      // Re-time without counting: a GC pause is not the parser's fault. The slowest figure reported is the fastest of these re-runs.
      for (let i = 0; i < SLOW_RETRIES; i++) {
        const timer = new Timer();
        target.run(input, timer);
        took = Math.min(took, timer.slowest);
      }
    }
    if (took > slowestMs) {
      slowestMs = took;
      slowestInput = target.show(input);
    }
    check(took <= SLOW_CASE_MS, `one parser call took ${took.toFixed(1)} ms of CPU time (limit ${SLOW_CASE_MS} ms, fastest of ${SLOW_RETRIES + 1} runs)`);
    const changed = samePrototypes(before, prototypeSnapshot());
    check(changed === undefined, `prototype pollution: ${changed} changed`);
  });

  const details = fc.check(property, {
    numRuns: opts.cases,
    seed,
    ...(opts.timeLimitMs === undefined ? {} : { interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: true }),
  });
  const totalMs = performance.now() - started;
  const report: FuzzReport = {
    target: target.name,
    seed,
    cases: details.numRuns,
    accepted: Object.values(counts.acceptedBy).reduce((a, b) => a + b, 0),
    acceptedBy: counts.acceptedBy,
    rejectedBy: counts.rejectedBy,
    longestMessage: counts.longestMessage,
    slowestMs,
    slowestInput,
    totalMs,
  };
  if (details.failed) {
    const error = details.errorInstance;
    const message = details.interrupted && error === null
      ? `interrupted after ${details.numRuns} of ${opts.cases} cases (time limit ${opts.timeLimitMs} ms)`
      : error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    report.failure = {
      message,
      counterexample: details.counterexample ? target.show(details.counterexample[0]) : '(none)',
      ...(details.counterexamplePath ? { path: details.counterexamplePath } : {}),
    };
  }
  return report;
}
