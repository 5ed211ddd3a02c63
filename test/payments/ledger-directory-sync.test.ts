/**
 * The ledger's directory entries are durable: a real process opens a Ledger
 * under strace, and the power-cut model (scripts/crash-states/crash-model.ts)
 * says which states a power cut could leave. After a durable append returned,
 * every one of them must hold the state directory, the file and the line,
 * however deep the directory `mkdir -p` had to make. Opening a clean existing
 * file must cost no sync at all (the normal start path).
 * Needs `npm run build` (the child imports dist/) and strace.
 */
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { statesAtCut } from '../../scripts/crash-states/crash-model.js';
import { straceCommand } from '../../scripts/crash-states/story-run.js';
import { parseSyscalls } from '../../scripts/crash-states/syscall-log.js';
import { TraceBuilder } from '../../scripts/crash-states/trace-builder.js';
import { describeStep } from '../../scripts/crash-states/trace.js';
import { repoRoot } from '../../scripts/lib/repo-root.js';

/** A child that opens a Ledger in argv[2], appends one durable payment line (`id` argv[3]) unless told not to, and closes it. */
const CHILD = `
import { pino } from 'pino';
import { Ledger } from ${JSON.stringify(join(repoRoot(), 'dist/daemon/payments/ledger.js'))};
const [stateDir, id] = process.argv.slice(2);
const ledger = new Ledger({ stateDir, logger: pino({ level: 'silent' }), retentionMs: 1e12, maxPayments: 100, compactAfterBytes: 1 << 20, wallNow: () => Date.now() });
await ledger.open();
if (id !== '-') await ledger.append({ id, st: 'approved', created: Date.now(), at: Date.now(), amount: 1000, inst: 0, authHash: 'a'.repeat(32), attempt: 1 }, { durable: true });
await ledger.close();
`;

async function traced(work: string, stateDir: string, id: string, run: number): Promise<ReturnType<typeof parseSyscalls>> {
  const script = join(repoRoot(), 'dist', `ledger-dirsync-child-${process.pid}.mjs`);
  await writeFile(script, CHILD);
  const log = join(work, `run-${run}.strace`);
  const [cmd, ...args] = [...straceCommand(log), process.execPath, script, stateDir, id];
  const child = spawnSync(cmd!, args, { encoding: 'utf8', env: { ...process.env, UV_USE_IO_URING: '0' } });
  await rm(script, { force: true });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  // strace -D writes from a detached tracer: give it a moment to finish the log.
  let last = -1;
  for (let stable = 0; stable < 3;) {
    await new Promise((r) => setTimeout(r, 100));
    const size = (await readFile(log)).length;
    stable = size === last ? stable + 1 : 0;
    last = size;
  }
  return parseSyscalls(await readFile(log, 'latin1'));
}

describe('the ledger makes its directory entries durable', () => {
  test('after the first durable append, every power-cut state has the directories, the file and the line', async () => {
    const work = await mkdtemp(join(tmpdir(), 'otcd-dirsync-'));
    try {
      // Two levels for mkdir -p to make: the parent of the first one exists.
      const stateDir = join(work, 'var', 'state');
      const builder = new TraceBuilder({ stateDir: join(work, 'var'), socketPath: join(work, 'none.sock'), terminalPort: -1 });
      builder.addRun(await traced(work, stateDir, 'p1', 1));
      const steps = builder.steps;
      expect(steps.map(describeStep)).toEqual(expect.arrayContaining(['mkdir var/state', 'create var/state/ledger.jsonl (inode 1)', 'fsync dir var']));
      const states = [...statesAtCut(steps, steps.length, { torn: 'all' })];
      expect(states.length).toBeGreaterThan(0);
      for (const state of states) {
        expect(state.dirs).toContain('var/state');
        const text = state.files.get('var/state/ledger.jsonl')?.toString('utf8');
        expect(text).toMatch(/^\{"v":1\}\n.*"id":"p1"[^\n]*\n$/s);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  test('a clean existing ledger is opened without any sync', async () => {
    const work = await mkdtemp(join(tmpdir(), 'otcd-dirsync-'));
    try {
      const stateDir = join(work, 'state');
      const builder = new TraceBuilder({ stateDir, socketPath: join(work, 'none.sock'), terminalPort: -1 });
      builder.addRun(await traced(work, stateDir, 'p1', 1));
      const before = builder.steps.length;
      builder.addRun(await traced(work, stateDir, '-', 2));
      // close() syncs the file once; opening it syncs nothing, neither file nor directory.
      expect(builder.steps.slice(before).map(describeStep)).toEqual(['fsync inode 1']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
