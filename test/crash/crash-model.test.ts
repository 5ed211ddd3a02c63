/**
 * The power-cut state generator (scripts/crash-states/crash-model.ts) and the
 * reading of strace logs into a story's trace (trace-builder.ts): given small
 * synthetic traces, exactly the expected states, in the expected order.
 */
import { describe, expect, test } from '@jest/globals';
import { crashStates, tornAt, type CrashState } from '../../scripts/crash-states/crash-model.js';
import { parseSyscalls } from '../../scripts/crash-states/syscall-log.js';
import { TraceBuilder } from '../../scripts/crash-states/trace-builder.js';
import { describeStep, type TraceStep } from '../../scripts/crash-states/trace.js';
import { xx } from '../leak/fake-strace.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** A state as [cut, dirs, files as text, what was seen] for comparison. */
function brief(state: CrashState): [number, string[], Record<string, string>, string[]] {
  const files: Record<string, string> = {};
  for (const [path, bytes] of state.files) files[path] = bytes.toString('latin1');
  return [state.cut, state.dirs, files, state.seen.map((o) => describeStep(o))];
}

const all = (steps: TraceStep[]): Array<ReturnType<typeof brief>> => [...crashStates(steps, { torn: 'all' })].map(brief);

describe('crash states of a trace', () => {
  test('a new file without directory fsyncs: the directory, the file and its unsynced data may each be missing; a state is produced once, at its latest cut', () => {
    const steps: TraceStep[] = [
      { kind: 'mkdir', path: 'state' },
      { kind: 'create', path: 'state/l', inode: 1 },
      { kind: 'write', inode: 1, offset: 0, data: b('ab\n') },
      { kind: 'fsync', inode: 1 },
      { kind: 'event', intentId: 'x', state: 'approved' },
      { kind: 'write', inode: 1, offset: 3, data: b('cd\n') },
    ];
    const seen = ['client got x approved'];
    expect(all(steps)).toEqual([
      // The end of the trace: 'ab\n' is synced, 'cd\n' is not; no entry is synced.
      [6, [], {}, seen],
      [6, ['state'], {}, seen],
      [6, ['state'], { 'state/l': 'ab\n' }, seen],
      [6, ['state'], { 'state/l': 'ab\nc' }, seen],
      [6, ['state'], { 'state/l': 'ab\ncd' }, seen],
      [6, ['state'], { 'state/l': 'ab\ncd\n' }, seen],
      // Just before the fsync returned: nothing synced yet, nothing seen.
      [3, ['state'], { 'state/l': '' }, []],
      [3, ['state'], { 'state/l': 'a' }, []],
      [3, ['state'], { 'state/l': 'ab' }, []],
    ]);
  });

  test('directory fsyncs make the entries durable: only data varies', () => {
    const steps: TraceStep[] = [
      { kind: 'mkdir', path: 'state' },
      { kind: 'dirsync', path: '' },
      { kind: 'create', path: 'state/l', inode: 1 },
      { kind: 'dirsync', path: 'state' },
      { kind: 'write', inode: 1, offset: 0, data: b('ab') },
      { kind: 'fsync', inode: 1 },
    ];
    expect(all(steps)).toEqual([
      [6, ['state'], { 'state/l': 'ab' }, []],
      [5, ['state'], { 'state/l': '' }, []],
      [5, ['state'], { 'state/l': 'a' }, []],
      [3, ['state'], {}, []],
      [1, [], {}, []],
    ]);
  });

  test('a rename with no directory fsync after it may not have happened; the temporary file may not exist either', () => {
    const steps: TraceStep[] = [
      { kind: 'create', path: 'l', inode: 1 },
      { kind: 'write', inode: 1, offset: 0, data: b('o') },
      { kind: 'fsync', inode: 1 },
      { kind: 'dirsync', path: '' },
      { kind: 'create', path: 'l.tmp', inode: 2 },
      { kind: 'write', inode: 2, offset: 0, data: b('n') },
      { kind: 'fsync', inode: 2 },
      { kind: 'rename', from: 'l.tmp', to: 'l' },
    ];
    expect(all(steps)).toEqual([
      [8, [], { l: 'o' }, []],
      [8, [], { l: 'o', 'l.tmp': 'n' }, []],
      [8, [], { l: 'n' }, []],
      [6, [], { l: 'o', 'l.tmp': '' }, []],
      [3, [], {}, []],
      [2, [], { l: '' }, []],
    ]);
    // With the directory synced after the rename, the rename is durable.
    const synced = [...crashStates([...steps, { kind: 'dirsync', path: '' }], { torn: 'all' })].map(brief);
    expect(synced[0]).toEqual([9, [], { l: 'n' }, []]);
    expect(synced.filter((s) => s[0] === 9)).toHaveLength(1);
  });

  test('a write past a synced one persists as a prefix: never a later write without an earlier one', () => {
    const steps: TraceStep[] = [
      { kind: 'create', path: 'l', inode: 1 },
      { kind: 'dirsync', path: '' },
      { kind: 'write', inode: 1, offset: 0, data: b('A') },
      { kind: 'write', inode: 1, offset: 1, data: b('B') },
      { kind: 'truncate', inode: 1, length: 1 },
    ];
    // 'A' comes by two routes (A persisted; A and B persisted, then the truncation): one state.
    expect(all(steps).filter((s) => s[0] === 5).map((s) => s[2].l)).toEqual(['', 'A', 'AB']);
  });
});

describe('where a write may be torn', () => {
  test('every byte of a short write, and of any write with `all`', () => {
    expect(tornAt(b('0123456789'), 'lines')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(tornAt(b('x'.repeat(40)), 'all')).toHaveLength(39);
    expect(tornAt(b('x'), 'lines')).toEqual([]);
  });

  test('in a long write of lines: one byte in, the middle, the byte before each newline, and each line boundary', () => {
    const data = b(`${'a'.repeat(19)}\n${'b'.repeat(9)}\n`); // newlines at 19 and 29, 30 bytes
    expect(tornAt(data, 'lines')).toEqual([1, 9, 19, 20, 21, 24, 29]);
  });
});

describe('a story trace read from strace', () => {
  const root = '/tmp/story';
  const path = (p: string): string => xx(`${root}/${p}`);
  const sock = `UNIX-STREAM:[5->6,"${xx(`${root}/otcd.sock`)}"]`;
  const log = [
    `10 mkdir("${path('state')}", 0750) = 0`,
    `11 openat(AT_FDCWD<${xx(root)}>, "${path('state/ledger.jsonl')}", O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, 0640) = 20<${path('state/ledger.jsonl')}>`,
    `12 write(20<${path('state/ledger.jsonl')}>, "${xx('{"v":1}\n')}", 8 <unfinished ...>`,
    `13 write(21<${sock}>, "${xx('{"type":"event","intentId":"a","state":"inquiring"}\n')}", 52) = 52`,
    `12 <... write resumed>) = 8`,
    `14 fdatasync(20<${path('state/ledger.jsonl')}>) = 0`,
    `13 write(21<${sock}>, "${xx('{"type":"event","intentId":"a",')}", 31) = 31`,
    `13 write(21<${sock}>, "${xx('"state":"approved"}\n')}", 20) = 20`,
    `13 write(22<TCP:[127.0.0.1:1->127.0.0.1:4000]>, "${xx(authFrame('R1'))}", 40) = 40`,
    `11 openat(AT_FDCWD<${xx(root)}>, "${path('state/ledger.jsonl.tmp')}", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0640) = 23<${path('state/ledger.jsonl.tmp')}>`,
    `12 write(23<${path('state/ledger.jsonl.tmp')}>, "${xx('x\n')}", 2) = 2`,
    `12 close(20<${path('state/ledger.jsonl')}>) = 0`,
    `12 rename("${path('state/ledger.jsonl.tmp')}", "${path('state/ledger.jsonl')}") = 0`,
    `11 openat(AT_FDCWD<${xx(root)}>, "${path('state')}", O_RDONLY|O_CLOEXEC) = 24<${path('state')}>`,
    `14 fsync(24<${path('state')}>) = 0`,
    `12 write(23<${path('state/ledger.jsonl')}>, "${xx('y\n')}", 2) = 2`,
    `12 ftruncate(23<${path('state/ledger.jsonl')}>, 3) = 0`,
    `13 write(2<UNIX-STREAM:[7->8]>, "${xx('{"type":"event","intentId":"b","state":"approved"}\n')}", 51) = 51`,
    '+++ exited with 0 +++',
  ].join('\n');

  test('file steps where their calls returned, events and AUTHs where their writes began', () => {
    const builder = new TraceBuilder({ stateDir: `${root}/state`, socketPath: `${root}/otcd.sock`, terminalPort: 4000 });
    builder.addRun(parseSyscalls(log));
    expect(builder.steps.map(describeStep)).toEqual([
      'mkdir state',
      'create state/ledger.jsonl (inode 1)',
      'write inode 1 @0 +8',
      'fsync inode 1',
      'client got a approved',
      'terminal got AUTH R1',
      'create state/ledger.jsonl.tmp (inode 2)',
      'write inode 2 @0 +2',
      'rename state/ledger.jsonl.tmp -> state/ledger.jsonl',
      'fsync dir state',
      'write inode 2 @2 +2',
      'truncate inode 2 to 3',
    ]);
  });
});

/** An ecr1 AUTH frame: STX, SEQ FS AUTH FS ref FS amount FS inst FS track2, ETX, LRC. */
function authFrame(ref: string): Buffer {
  const body = b(['01', 'AUTH', ref, '1000', '00', '9410123456789012=3012'].join('\x1c'));
  let lrc = 0x03;
  for (const x of body) lrc ^= x;
  return Buffer.concat([b('\x02'), body, b('\x03'), Buffer.from([lrc])]);
}
