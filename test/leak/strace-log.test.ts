/**
 * The strace log parser and the scan of traced writes: a track 2 planted in a
 * write, in every encoding the daemon's code could produce, must be found;
 * iovecs, unfinished/resumed lines and socket addresses must be read right;
 * and a real strace, run on a real node process, must give the same.
 */
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LeakReport, scanWrite } from '../../scripts/leak-hunt/capture-scan.js';
import { NeedleMatcher } from '../../scripts/leak-hunt/matcher.js';
import { needlesFor, panOf } from '../../scripts/leak-hunt/needles.js';
import { straceArgs } from '../../scripts/leak-hunt/strace-capture.js';
import { decodeEscapes, readStraceLog, StraceLogParser, type TracedWrite } from '../../scripts/leak-hunt/strace-log.js';
import { SUITE_CARDS } from '../../scripts/leak-hunt/test-cards.js';
import { sendmsgLine, writeLine, writevLine, xx } from './fake-strace.js';

const matcher = new NeedleMatcher(needlesFor(SUITE_CARDS));
/** The provider stand-in's default card, the one most tests pay with. */
const TRACK2 = SUITE_CARDS[0]!.track2;
const PAN = panOf(TRACK2);
const LEDGER = '/tmp/otcd-stack-x/state/ledger.jsonl';

function parseOne(line: string): TracedWrite {
  const parser = new StraceLogParser();
  const write = parser.parseLine(line, 1);
  expect(parser.unparsed).toEqual([]);
  if (!write) throw new Error('no write parsed');
  return write;
}

function scan(write: TracedWrite): LeakReport {
  const report = new LeakReport();
  scanWrite(write, 'test', matcher, report);
  return report;
}

/** Each form as Node itself produces it, with the needle label's encoding it must be found as. */
function plantedForms(): Array<{ encoding: string; bytes: Buffer }> {
  const t2 = Buffer.from(TRACK2, 'latin1');
  const forms = [
    { encoding: 'ascii', bytes: Buffer.from(`{"msg":"x","t":"${TRACK2}"}\n`, 'latin1') },
    { encoding: 'hex', bytes: Buffer.from(`hex=${t2.toString('hex')};`, 'latin1') },
    { encoding: 'HEX', bytes: Buffer.from(`HEX=${t2.toString('hex').toUpperCase()};`, 'latin1') },
    { encoding: 'utf16le', bytes: Buffer.from(`ab${TRACK2}cd`, 'utf16le') },
    { encoding: 'utf16be', bytes: Buffer.from(`ab${TRACK2}cd`, 'utf16le').swap16() },
    { encoding: 'ascii reversed', bytes: Buffer.concat([Buffer.from('zz'), Buffer.from(t2).reverse(), Buffer.from('zz')]) },
  ];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.from('\x01\x02\x03'.slice(0, k), 'latin1'), t2, Buffer.from('tail')]).toString('base64');
    forms.push({ encoding: `base64+${k}`, bytes: Buffer.from(`"${b64}"`, 'latin1') });
    const url = b64.replace(/\+/g, '-').replace(/\//g, '_');
    if (url !== b64) forms.push({ encoding: `base64url+${k}`, bytes: Buffer.from(url, 'latin1') });
  }
  return forms;
}

describe('decodeEscapes', () => {
  test('reads -xx output (every byte \\xNN) back into the same bytes', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(decodeEscapes(xx(all))).toEqual(all);
  });
  test('reads the other C escapes strace prints without -xx', () => {
    expect(decodeEscapes('a\\n\\t\\"\\\\\\0\\177\\x41')).toEqual(Buffer.from('a\n\t"\\\0\x7fA', 'latin1'));
  });
  test('a megabyte of -xx output decodes whole', () => {
    const big = Buffer.alloc(1_000_000, 0x41);
    expect(decodeEscapes(xx(big)).equals(big)).toBe(true);
  });
});

describe('a planted track 2 in a traced write', () => {
  for (const form of plantedForms()) {
    test(`is found as ${form.encoding}, and its context never shows it`, () => {
      const report = scan(parseOne(writeLine(4242, 18, LEDGER, form.bytes)));
      expect(report.hitCount).toBeGreaterThan(0);
      expect(report.hits.flatMap((h) => h.labels)).toContain(`T2#0 track2 ${form.encoding}`);
      expect(report.kind('ledger file').hits).toBe(report.hitCount);
      for (const h of report.hits) {
        for (const secret of [PAN, TRACK2]) {
          expect(h.context).not.toContain(Buffer.from(secret).toString('hex'));
          expect(h.context).not.toContain(secret);
        }
      }
    });
  }

  test('the PAN alone and the D-separated track 2 are found', () => {
    expect(scan(parseOne(writeLine(1, 1, 'pipe:[9]', Buffer.from(`pan ${PAN}.`)))).hitCount).toBeGreaterThan(0);
    const d = scan(parseOne(writeLine(1, 1, 'pipe:[9]', Buffer.from(TRACK2.replace('=', 'D')))));
    expect(d.hits.flatMap((h) => h.labels)).toContain('T2#0 track2(D) ascii');
  });

  test('every card of the suite list is found in ASCII', () => {
    for (const card of SUITE_CARDS) {
      expect(scan(parseOne(writeLine(1, 2, 'pipe:[9]', Buffer.from(`<${card.track2}>`)))).hitCount).toBeGreaterThan(0);
    }
  });

  test('clean bytes give no hit (a masked PAN, other digits)', () => {
    const masked = `${PAN.slice(0, 6)}${'*'.repeat(PAN.length - 10)}${PAN.slice(-4)}`;
    const report = scan(parseOne(writeLine(1, 2, 'pipe:[9]', Buffer.from(`{"maskedPan":"${masked}","amount":12000,"ts":1700000000000}`))));
    expect(report.hitCount).toBe(0);
    expect(report.kind('stdout/stderr').writes).toBe(1);
  });
});

describe('the strace line forms', () => {
  test('writev: each iovec is one chunk; a track 2 split across two iovecs is still found', () => {
    const t2 = Buffer.from(TRACK2);
    const w = parseOne(writevLine(7, 1, 'pipe:[1]', [Buffer.from('head'), t2.subarray(0, 10), Buffer.concat([t2.subarray(10), Buffer.from('\n')])]));
    expect(w.syscall).toBe('writev');
    expect(w.chunks.map((c) => c.length)).toEqual([4, 10, t2.length - 10 + 1]);
    expect(scan(w).hitCount).toBeGreaterThan(0);
  });

  test('sendmsg: the iovecs are data, the socket address is not', () => {
    const w = parseOne(sendmsgLine(7, 9, 'UNIX-DGRAM:[1->2]', `/run/${PAN}.sock`, [Buffer.from('READY=1')]));
    expect(w.chunks).toEqual([Buffer.from('READY=1')]);
    expect(w.target).toBe('UNIX-DGRAM:[1->2]');
  });

  test('an unfinished write keeps its bytes; the resumed line gives no second write', () => {
    const parser = new StraceLogParser();
    const first = parser.parseLine(writeLine(11, 19, 'TCP:[127.0.0.1:5->127.0.0.1:6]', Buffer.from(TRACK2), { unfinished: true }), 1);
    const other = parser.parseLine(writeLine(12, 16, 'anon_inode:[eventfd]', Buffer.alloc(8)), 2);
    const resumed = parser.parseLine('11    <... write resumed>)              = 37', 3);
    expect(first?.chunks).toEqual([Buffer.from(TRACK2)]);
    expect(first?.result).toBeUndefined();
    expect(first?.target).toBe('TCP:[127.0.0.1:5->127.0.0.1:6]');
    expect(other?.fd).toBe(16);
    expect(resumed).toBeUndefined();
    expect(parser.unparsed).toEqual([]);
  });

  test('pwrite64, exits, signals and plain (not -xx) fd names are read', () => {
    const parser = new StraceLogParser();
    const w = parser.parseLine(writeLine(3, 18, LEDGER, Buffer.from('{"v":1}\n'), { syscall: 'pwrite64' }), 1);
    expect(w?.target).toBe(LEDGER);
    expect(w?.result).toBe(8);
    expect(parser.parseLine('3     +++ killed by SIGKILL +++', 2)).toBeUndefined();
    expect(parser.parseLine('--- SIGTERM {si_signo=SIGTERM} ---', 3)).toBeUndefined();
    const plain = parser.parseLine('3  write(21<TCP:[127.0.0.1:50812->127.0.0.1:45401]>, "\\x06", 1) = 1', 4);
    expect(plain?.target).toBe('TCP:[127.0.0.1:50812->127.0.0.1:45401]');
    expect(plain?.chunks).toEqual([Buffer.from([6])]);
    expect(parser.unparsed).toEqual([]);
  });

  test('a buffer cut at -s is flagged; a line it cannot read is kept for a raw scan', () => {
    const parser = new StraceLogParser();
    const cut = parser.parseLine(`5  write(2<${xx('pipe:[1]')}>, "${xx('abc')}"..., 100000) = 100000`, 1);
    expect(cut?.truncated).toBe(true);
    expect(parser.parseLine('5  what is this', 2)).toBeUndefined();
    expect(parser.unparsed.map((u) => u.line)).toEqual([2]);
  });

  test('sendfile and io_uring_setup are noted as opaque, not as writes', () => {
    const parser = new StraceLogParser();
    expect(parser.parseLine(`5  sendfile(7<${xx('/tmp/a')}>, 8<${xx('/tmp/b')}>, NULL, 100) = 100`, 1)).toBeUndefined();
    expect(parser.parseLine('5  io_uring_setup(64, {flags=0}) = 4', 2)).toBeUndefined();
    expect(parser.opaque.map((o) => o.syscall)).toEqual(['sendfile', 'io_uring_setup']);
    // Refused by the capture (strace -e inject): no ring, nothing opaque.
    expect(parser.parseLine('5  io_uring_setup(256, {flags=0x10000 /* IORING_SETUP_??? */, sq_thread_cpu=0, sq_thread_idle=0}) = -1 ENOSYS (Function not implemented) (INJECTED)', 3)).toBeUndefined();
    expect(parser.opaque.map((o) => o.syscall)).toEqual(['sendfile', 'io_uring_setup']);
  });
});

describe('a real strace of a real node process', () => {
  test('file writes from the thread pool, writev and stdout all reach the scan with their targets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otcd-leak-strace-'));
    try {
      const log = join(dir, 'trace.strace');
      const script = `
        const fs = require('node:fs');
        const t2 = Buffer.from(process.env.T2, 'latin1');
        fs.writeFileSync(process.env.DIR + '/sync.txt', t2);
        const fd = fs.openSync(process.env.DIR + '/vec.txt', 'w');
        fs.writevSync(fd, [t2.subarray(0, 9), t2.subarray(9)]);
        fs.closeSync(fd);
        process.stdout.write(Buffer.concat([Buffer.from([1]), t2]).toString('base64'));
        fs.promises.writeFile(process.env.DIR + '/async.txt', Buffer.from(process.env.T2, 'utf16le'));`;
      const run = spawnSync('strace', [...straceArgs(log), process.execPath, '-e', script], {
        env: { ...process.env, T2: TRACK2, DIR: dir, UV_USE_IO_URING: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(run.status).toBe(0);
      const report = new LeakReport();
      const parser = new StraceLogParser();
      const targets: string[] = [];
      for await (const w of readStraceLog(log, parser)) {
        targets.push(w.target);
        scanWrite(w, 'real', matcher, report);
      }
      expect(parser.unparsed).toEqual([]);
      expect(parser.opaque).toEqual([]);
      expect(targets).toEqual(expect.arrayContaining([join(dir, 'sync.txt'), join(dir, 'vec.txt'), join(dir, 'async.txt')]));
      const file = (where: string): string => /\/(sync|vec|async)\.txt> @\d+$/.exec(where)?.[1] ?? 'stdout';
      const labels = report.hits.flatMap((h) => h.labels.map((l) => `${file(h.where)} ${l}`));
      expect(labels).toEqual(expect.arrayContaining(['sync T2#0 track2 ascii', 'vec T2#0 track2 ascii', 'async T2#0 track2 utf16le', 'stdout T2#0 track2 base64+1']));
      expect(report.kind('stdout/stderr').hits).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
