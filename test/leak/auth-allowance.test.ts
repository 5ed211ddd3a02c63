/**
 * The one allowance of the leak scan: card data inside one ecr1 AUTH frame
 * written to the terminal link (a pty, or the terminal's TCP connection).
 * The frame is the shared vector's (shared/vectors/ecr1-frames.json); the
 * same bytes anywhere else, or anything that is not exactly one AUTH frame,
 * count as a leak.
 */
import { describe, expect, test } from '@jest/globals';
import { captureControls, LeakReport, scanWrite } from '../../scripts/leak-hunt/capture-scan.js';
import { isAuthFrame, targetKind } from '../../scripts/leak-hunt/auth-frame.js';
import { NeedleMatcher } from '../../scripts/leak-hunt/matcher.js';
import { needlesFor } from '../../scripts/leak-hunt/needles.js';
import { StraceLogParser, type TracedWrite } from '../../scripts/leak-hunt/strace-log.js';
import { SUITE_CARDS } from '../../scripts/leak-hunt/test-cards.js';
import { frameVectors } from '../drivers/vectors.js';
import { writeLine, writevLine } from './fake-strace.js';

const matcher = new NeedleMatcher(needlesFor(SUITE_CARDS));
const AUTH = frameVectors.find((v) => v.note === 'host AUTH')!.frame;
const ACK = Buffer.from([0x06]);
const PEERS = { stateDir: '/tmp/s/state', terminalPort: 4001, providerPort: 8443 };
const TERMINAL_TCP = 'TCP:[127.0.0.1:50812->127.0.0.1:4001]';

function parse(line: string): TracedWrite {
  const w = new StraceLogParser().parseLine(line, 1);
  if (!w) throw new Error('no write');
  return w;
}

function scan(line: string): LeakReport {
  const report = new LeakReport();
  scanWrite(parse(line), 'test', matcher, report, PEERS);
  return report;
}

describe('isAuthFrame', () => {
  test('the shared AUTH vector is one; the other vectors are not', () => {
    expect(isAuthFrame(AUTH)).toBe(true);
    for (const v of frameVectors.filter((f) => f.note !== 'host AUTH')) expect(isAuthFrame(v.frame)).toBe(false);
  });
  test('a wrong LRC, a byte more, two frames or a cut frame is not', () => {
    const badLrc = Buffer.from(AUTH);
    badLrc[badLrc.length - 1]! ^= 0x01;
    expect(isAuthFrame(badLrc)).toBe(false);
    expect(isAuthFrame(Buffer.concat([AUTH, ACK]))).toBe(false);
    expect(isAuthFrame(Buffer.concat([ACK, AUTH]))).toBe(false);
    expect(isAuthFrame(Buffer.concat([AUTH, AUTH]))).toBe(false);
    expect(isAuthFrame(AUTH.subarray(0, AUTH.length - 1))).toBe(false);
  });
});

describe('targetKind', () => {
  test('tells the terminal link from the provider, the log, the ledger and the intent socket', () => {
    expect(targetKind(20, '/dev/pts/7', PEERS)).toBe('terminal link: pty');
    expect(targetKind(20, '/dev/pts/2<char 136:2>', PEERS)).toBe('terminal link: pty');
    expect(targetKind(20, '/dev/ttyUSB0<char 188:0>', PEERS)).toBe('terminal link: pty');
    expect(targetKind(20, '/dev/pts/2/../../tmp/x', PEERS)).toBe('other file');
    expect(targetKind(19, TERMINAL_TCP, PEERS)).toBe('terminal link: TCP');
    expect(targetKind(21, 'TCP:[127.0.0.1:46980->127.0.0.1:8443]', PEERS)).toBe('provider: TCP (TLS)');
    expect(targetKind(22, 'TCP:[127.0.0.1:46980->127.0.0.1:9999]', PEERS)).toBe('TCP (other)');
    expect(targetKind(2, 'UNIX-STREAM:[567440->567439]', PEERS)).toBe('stdout/stderr');
    expect(targetKind(25, 'UNIX-STREAM:[566990->566989,"/tmp/s/otcd.sock"]', PEERS)).toBe('intent socket (UNIX stream)');
    expect(targetKind(18, '/tmp/s/state/ledger.jsonl', PEERS)).toBe('ledger file');
    expect(targetKind(18, '/tmp/s/state/ledger.jsonl.tmp', PEERS)).toBe('ledger file');
    expect(targetKind(18, '/tmp/s/state/other', PEERS)).toBe('state dir (other files)');
  });
});

describe('the AUTH allowance', () => {
  test('an AUTH frame written to a pty is allowed, and counts as the positive control', () => {
    const report = scan(writeLine(9, 20, '/dev/pts/2<char 136:2>', AUTH));
    expect(report.hitCount).toBe(0);
    expect(report.kind('terminal link: pty').allowed).toBeGreaterThan(0);
    expect(report.authFramesWithTrack2).toBe(1);
  });

  test('an AUTH frame written to the terminal TCP connection is allowed', () => {
    const report = scan(writeLine(9, 19, TERMINAL_TCP, AUTH));
    expect(report.hitCount).toBe(0);
    expect(report.authFramesWithTrack2).toBe(1);
  });

  test('an ACK and an AUTH frame as two iovecs of one writev to the pty: allowed (each iovec is one buffer)', () => {
    const report = scan(writevLine(9, 20, '/dev/pts/7', [ACK, AUTH]));
    expect(report.hitCount).toBe(0);
    expect(report.authFramesWithTrack2).toBe(1);
  });

  const elsewhere: Array<[string, number, string]> = [
    ['the ledger', 18, '/tmp/s/state/ledger.jsonl'],
    ['stderr (the log)', 2, 'UNIX-STREAM:[567440->567439]'],
    ['the intent socket', 25, 'UNIX-STREAM:[566990->566989,"/tmp/s/otcd.sock"]'],
    ['the provider connection', 21, 'TCP:[127.0.0.1:46980->127.0.0.1:8443]'],
    ['an unknown TCP peer', 21, 'TCP:[127.0.0.1:46980->127.0.0.1:9999]'],
    ['a pipe', 7, 'pipe:[5]'],
  ];
  for (const [what, fd, target] of elsewhere) {
    test(`the same AUTH frame written to ${what} is a hit`, () => {
      const report = scan(writeLine(9, fd, target, AUTH));
      expect(report.hitCount).toBeGreaterThan(0);
      expect(report.authFramesWithTrack2).toBe(0);
    });
  }

  test('on the terminal link, an AUTH frame with a byte more, or a frame split over two iovecs, is a hit', () => {
    expect(scan(writeLine(9, 20, '/dev/pts/7', Buffer.concat([AUTH, ACK]))).hitCount).toBeGreaterThan(0);
    expect(scan(writevLine(9, 20, '/dev/pts/7', [AUTH.subarray(0, 30), AUTH.subarray(30)])).hitCount).toBeGreaterThan(0);
  });

  test('a track 2 in any other frame (a PING carrying it) on the terminal link is a hit', () => {
    const body = Buffer.from(`05\x1cPING\x1c${SUITE_CARDS[0]!.track2}`, 'latin1');
    let lrc = 0x03;
    for (const b of body) lrc ^= b;
    const frame = Buffer.concat([Buffer.from([0x02]), body, Buffer.from([0x03, lrc])]);
    expect(scan(writeLine(9, 20, '/dev/pts/7', frame)).hitCount).toBeGreaterThan(0);
  });
});

describe('the capture controls', () => {
  test('an empty capture, or one without ledger, socket or AUTH writes, proves nothing', () => {
    expect(captureControls(new LeakReport(), 1)).toHaveLength(5);
    const report = new LeakReport();
    report.logs = report.daemons = 1;
    for (const line of [
      writeLine(9, 20, '/dev/pts/7', AUTH),
      writeLine(9, 18, '/tmp/s/state/ledger.jsonl', Buffer.from('{"v":1}\n')),
      writeLine(9, 25, 'UNIX-STREAM:[1->2,"/tmp/s/otcd.sock"]', Buffer.from('{"type":"reply"}\n')),
    ]) scanWrite(parse(line), 'test', matcher, report, PEERS);
    expect(captureControls(report, 1)).toEqual([]);
    expect(captureControls(report, 2)).toEqual([expect.stringContaining('fewer than 2')]);
  });
});
