/**
 * The metrics file on a real file system, with time driven by ManualClock:
 * urgent changes written at once, the rest at most every minIntervalMs, no
 * timer while nothing changes, atomic replacement, readable by node_exporter
 * whatever otcd's umask.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ManualClock } from '../../drivers/clock.js';
import { MetricsTextfile } from '../../daemon/metrics/textfile.js';

const INTERVAL = 5_000;

interface Rig {
  clock: ManualClock;
  file: MetricsTextfile;
  path: string;
  renders: () => number;
  set: (text: string) => void;
  logs: Array<{ level: number; msg: string }>;
}

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'otcd-metrics-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

function rig(path = join(dir, 'otcd.prom')): Rig {
  const clock = new ManualClock();
  let text = 'a 1\n';
  let renders = 0;
  const logs: Rig['logs'] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { logs.push(JSON.parse(chunk.toString()) as { level: number; msg: string }); cb(); } });
  const file = new MetricsTextfile({
    path, clock, minIntervalMs: INTERVAL, logger: pino({ level: 'debug' }, sink),
    render: () => { renders++; return text; },
  });
  return { clock, file, path, renders: () => renders, set: (t) => { text = t; }, logs };
}

describe('MetricsTextfile', () => {
  test('changed() writes at once, mode 0644 under umask 0077, and leaves no temporary file', async () => {
    const old = process.umask(0o077);
    try {
      const r = rig();
      r.file.changed();
      await r.file.idle();
      expect(await readFile(r.path, 'utf8')).toBe('a 1\n');
      expect((await stat(r.path)).mode & 0o777).toBe(0o644);
      expect(await readdir(dir)).toEqual(['otcd.prom']);
      expect(r.clock.pendingCount).toBe(0);
    } finally {
      process.umask(old);
    }
  });

  test('touched() waits out the interval since the last write; a burst is one write; then no timer', async () => {
    const r = rig();
    r.file.changed();
    await r.file.idle();
    r.set('a 2\n');
    for (let i = 0; i < 10; i++) r.file.touched();
    expect(r.clock.pendingCount).toBe(1);
    await r.clock.advance(INTERVAL - 1);
    await r.file.idle();
    expect(await readFile(r.path, 'utf8')).toBe('a 1\n');
    await r.clock.advance(1);
    await r.file.idle();
    expect(await readFile(r.path, 'utf8')).toBe('a 2\n');
    expect(r.renders()).toBe(2);
    expect(r.clock.pendingCount).toBe(0);
    // Long after the last write, a touch writes at once (its timer is due now).
    await r.clock.advance(60_000);
    r.set('a 3\n');
    r.file.touched();
    await r.clock.advance(0);
    await r.file.idle();
    expect(await readFile(r.path, 'utf8')).toBe('a 3\n');
  });

  test('changed() does not wait for a pending touch', async () => {
    const r = rig();
    r.file.changed();
    await r.file.idle();
    r.set('a 2\n');
    r.file.touched();
    expect(r.clock.pendingCount).toBe(1);
    r.set('a 3\n');
    r.file.changed();
    await r.file.idle();
    expect(await readFile(r.path, 'utf8')).toBe('a 3\n');
    expect(r.clock.pendingCount).toBe(0);
  });

  test('the same text is not written again (the file keeps its inode)', async () => {
    const r = rig();
    r.file.changed();
    await r.file.idle();
    const first = await stat(r.path);
    r.file.changed();
    await r.file.idle();
    expect(r.renders()).toBe(2);
    expect((await stat(r.path)).ino).toBe(first.ino);
    r.set('a 2\n');
    r.file.changed();
    await r.file.idle();
    expect((await stat(r.path)).ino).not.toBe(first.ino);
  });

  test('changes during a write lead to one more write with the newest text', async () => {
    const r = rig();
    r.file.changed();
    r.set('a 2\n');
    r.file.changed();
    r.set('a 3\n');
    r.file.changed();
    await r.file.idle();
    expect(await readFile(r.path, 'utf8')).toBe('a 3\n');
    expect(r.renders()).toBe(2);
  });

  test('a reader never sees a partial file: every read during rewrites is one whole version', async () => {
    const r = rig();
    const versions = Array.from({ length: 40 }, (_, i) => `v ${i}\n${'x'.repeat(200_000)}\n`);
    let reading = true;
    const seen: string[] = [];
    const reader = (async () => {
      while (reading) {
        const text = await readFile(r.path, 'utf8').catch(() => undefined);
        if (text !== undefined) seen.push(text);
      }
    })();
    for (const v of versions) {
      r.set(v);
      r.file.changed();
      await r.file.idle();
    }
    reading = false;
    await reader;
    expect(seen.length).toBeGreaterThan(0);
    for (const text of seen) expect(versions).toContain(text);
  });

  test('a missing directory is an info line once, and writing resumes when it appears', async () => {
    const r = rig(join(dir, 'node-exporter', 'otcd.prom'));
    r.file.changed();
    await r.file.idle();
    r.set('a 2\n');
    r.file.changed();
    await r.file.idle();
    const missing = r.logs.filter((l) => l.msg.includes('does not exist'));
    expect(missing).toHaveLength(1);
    expect(missing[0].level).toBe(30);
    await mkdir(join(dir, 'node-exporter'));
    r.file.changed();
    await r.file.idle();
    expect(await readFile(r.path, 'utf8')).toBe('a 2\n');
    expect(r.logs.at(-1)?.msg).toBe('metrics file written again');
  });

  test('a path through a file is a warning naming the path, and nothing throws', async () => {
    await writeFile(join(dir, 'plain'), 'x');
    const r = rig(join(dir, 'plain', 'otcd.prom'));
    r.file.changed();
    await r.file.idle();
    expect(r.logs.filter((l) => l.level === 40)).toHaveLength(1);
    expect(r.logs[0].msg).toContain(join(dir, 'plain'));
  });

  test('stop() writes the final text, cancels a pending touch, and nothing is written after it', async () => {
    const r = rig();
    r.file.changed();
    await r.file.idle();
    r.set('a 2\n');
    r.file.touched();
    await r.file.stop();
    expect(await readFile(r.path, 'utf8')).toBe('a 2\n');
    expect(r.clock.pendingCount).toBe(0);
    r.set('a 3\n');
    r.file.changed();
    r.file.touched();
    await r.clock.advance(INTERVAL * 2);
    await r.file.idle();
    expect(await readFile(r.path, 'utf8')).toBe('a 2\n');
  });
});
