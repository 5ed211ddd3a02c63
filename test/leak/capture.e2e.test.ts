/**
 * The capture itself, end to end: a real daemon started by startDaemon with
 * OTCD_LEAK_CAPTURE_DIR set runs under strace -D (the pid the caller holds is
 * node's, so kill -9 reaches the daemon), takes a payment, and the scan of its
 * capture finds ledger, socket and terminal writes, the AUTH frame on the
 * terminal link, and no card data anywhere else.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureControls, LeakReport, scanCaptureDir, waitForTracers } from '../../scripts/leak-hunt/capture-scan.js';
import { NeedleMatcher } from '../../scripts/leak-hunt/matcher.js';
import { needlesFor } from '../../scripts/leak-hunt/needles.js';
import { CAPTURE_DIR_ENV, type CaptureMeta } from '../../scripts/leak-hunt/strace-capture.js';
import { SUITE_CARDS } from '../../scripts/leak-hunt/test-cards.js';
import { startStack, waitForTerminalLink, type Stack } from '../../scripts/testkit/stack.js';

describe('a daemon captured under strace', () => {
  let dir: string;
  let stack: Stack | undefined;
  let report: LeakReport;
  let exe = '';
  let signal: string | null = null;
  let approved = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'otcd-capture-'));
    // startDaemon reads the variable when it spawns: set it for this stack only
    // (the suite itself may run captured into another folder).
    const outer = process.env[CAPTURE_DIR_ENV];
    process.env[CAPTURE_DIR_ENV] = dir;
    try {
      stack = await startStack();
    } finally {
      if (outer === undefined) delete process.env[CAPTURE_DIR_ENV];
      else process.env[CAPTURE_DIR_ENV] = outer;
    }
    const pid = stack.daemon.process.pid!;
    exe = await readlink(`/proc/${pid}/exe`);
    const client = await stack.connect();
    await waitForTerminalLink(client);
    await client.request({ op: 'pay', intentId: 'cap-1', authorizationId: 'CAP-AUTH-1', amount: 12000, installment: 0 });
    approved = String((await client.finalEvent('cap-1', 60_000)).state);
    client.close();
    await stack.daemon.kill();
    signal = stack.daemon.process.signalCode;
    expect(await waitForTracers(dir, 20_000)).toEqual([]);
    report = await scanCaptureDir(dir, new NeedleMatcher(needlesFor(SUITE_CARDS)));
  });

  afterAll(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the process the caller holds is node itself, and kill -9 ends it', () => {
    expect(exe).toBe(process.execPath);
    expect(signal).toBe('SIGKILL');
    expect(approved).toBe('approved');
  });

  test('the capture holds ledger, intent socket, log and terminal link writes and the AUTH frame', async () => {
    expect(captureControls(report, 1)).toEqual([]);
    expect(report.daemons).toBe(1);
    for (const kind of ['ledger file', 'intent socket (UNIX stream)', 'stdout/stderr', 'terminal link: TCP', 'provider: TCP (TLS)']) {
      expect([kind, report.kind(kind).writes > 0]).toEqual([kind, true]);
    }
    expect(report.authFramesWithTrack2).toBeGreaterThanOrEqual(1);
    const metaFile = (await readdir(dir)).find((f) => f.endsWith('.json'))!;
    expect(JSON.parse(await readFile(join(dir, metaFile), 'utf8')) as CaptureMeta).toEqual(expect.objectContaining({ stateDir: stack!.stateDir, pid: stack!.daemon.process.pid }));
  });

  test('no card data outside the AUTH frame', () => {
    expect(report.hits.map((h) => `${h.kind} ${h.where} ${h.labels.join(' ')}`)).toEqual([]);
    expect(report.hitCount).toBe(0);
    expect(report.unparsed).toEqual([]);
  });
});
