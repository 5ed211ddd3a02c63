/**
 * serialport reads stay prompt on the Node running the suite (20 to 26): see
 * drivers/transport/poller-wakeup.ts. The echo runs in a child process of
 * this Node (process.execPath) that has no timer of its own while it
 * measures, because any timer hides the stall: on Node 26.10 without the
 * wakeup each byte there took 8 to 30 s; with it, about 1 ms.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { ptyPair, type PtyPair } from '../../scripts/testkit/pty.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const ROUND_TRIPS = 20;

// Opens both ends, echoes on B, sends one byte at a time from A and prints
// the total time. Nothing but the ports' own I/O is pending meanwhile.
const ECHO_CHILD = `
import { SerialPort } from 'serialport';
const { wakeOnPollerEvents } = await import(${JSON.stringify(pathToFileURL(path.join(REPO, 'dist/drivers/transport/poller-wakeup.js')).href)});
const [a, b, n] = process.argv.slice(1);
const open = (p) => new Promise((res, rej) => {
  const s = new SerialPort({ path: p, baudRate: 115200, autoOpen: false });
  s.open((e) => { if (e) return rej(e); wakeOnPollerEvents(s); res(s); });
});
(async () => {
  const pa = await open(a), pb = await open(b);
  pb.on('data', (d) => pb.write(d));
  const t0 = performance.now();
  for (let i = 0; i < Number(n); i++) {
    await new Promise((r) => { pa.once('data', r); pa.write(Buffer.from([0x06])); });
  }
  process.stdout.write(String(Math.round(performance.now() - t0)));
  pa.close(); pb.close();
})().catch((e) => { console.error(e); process.exit(1); });
`;

let pty: PtyPair;
beforeEach(async () => {
  pty = await ptyPair();
});
afterEach(async () => {
  await pty.close();
});

test(`${ROUND_TRIPS} one-byte echoes over a pty take well under a second each on ${process.version}`, async () => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', ECHO_CHILD, pty.a, pty.b, String(ROUND_TRIPS)], { cwd: REPO });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  // Well inside jest's 60 s: a stall ends as this test's failure, not as a timeout.
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(killer);
  expect({ code, err }).toEqual({ code: 0, err: '' });
  // A stall costs 8 s or more per byte; a busy 2-core CI costs milliseconds.
  expect(Number(out)).toBeLessThan(5000);
});
