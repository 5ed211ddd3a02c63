// The terminal simulator as a black box on a real pty pair: the test is the
// host and checks the terminal's exact bytes against the shared vectors.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { ptyPair, type PtyPair } from '../../scripts/testkit/pty.js';
import { startTerminalSim, type RunningSim } from '../../scripts/testkit/terminal-sim.js';
import { RawHost, frame } from './raw-host.js';
import { allVectors, vectorFrame } from './vectors.js';

const TRACK2 = '9410123456789012=30121011234567890123';

let pty: PtyPair;
let sim: RunningSim | undefined;
let host: RawHost | undefined;

beforeEach(async () => {
  pty = await ptyPair();
});

afterEach(async () => {
  await host?.close();
  await sim?.stop();
  await pty.close();
  host = undefined;
  sim = undefined;
});

async function run(args: string[]): Promise<RawHost> {
  sim = await startTerminalSim({ port: pty.a, args });
  await sim.waitFor((e) => e.ev === 'link-open');
  host = await RawHost.overSerial(pty.b);
  return host;
}

describe('the test host frames like the vectors', () => {
  test('every vector body frames to its vector bytes', () => {
    for (const v of allVectors()) expect(frame(v.body).toString('hex')).toBe(v.frame.toString('hex'));
  });
});

describe('terminal-sim on a pty', () => {
  test('PING, AUTH approval and LAST give the vector frames byte for byte', async () => {
    const h = await run(['--start-seq', '0', '--terminal-id', 'KIOSK-T01', '--approval-no', '30012345']);
    h.send(vectorFrame('host PING'));
    expect(await h.next()).toEqual({ kind: 'ACK' });
    expect((await h.nextFrame()).raw).toEqual(vectorFrame('terminal PONG'));

    h.send(vectorFrame('host AUTH'));
    expect((await h.next()).kind).toBe('ACK');
    expect((await h.nextFrame()).raw).toEqual(vectorFrame('terminal PROG RCVD'));
    expect((await h.nextFrame()).raw).toEqual(vectorFrame('terminal PROG SENT'));
    expect((await h.nextFrame()).raw).toEqual(vectorFrame('terminal RSLT approved'));

    // LAST after final: the same RSLT again (under the terminal's next SEQ).
    h.send(vectorFrame('host LAST'));
    expect((await h.next()).kind).toBe('ACK');
    expect((await h.nextFrame()).body).toBe('04|RSLT|p7Kq2-1|00|30012345|941012******9012|APPROVED');
    const s = sim!;
    await s.waitFor((e) => e.ev === 'ack-rx' && e.seq === '04');
    // Card data never reaches the output; the masked PAN does.
    const out = JSON.stringify(s.events);
    expect(out).not.toContain('9410123456789012');
    expect(out).not.toContain('30121011234567890123');
    expect(out).toContain('941012******9012');
  });

  test('amount ...051 declines 51 and an unknown ref gets NF, as in the vectors', async () => {
    const h = await run(['--start-seq', '4', '--omit-prog']);
    h.send(frame(`01|AUTH|p7Kq2-2|12051|00|${TRACK2}`));
    expect((await h.next()).kind).toBe('ACK');
    expect((await h.nextFrame()).raw).toEqual(vectorFrame('terminal RSLT declined, empty approvalNo'));
    h.send(frame('02|LAST|zz'));
    expect((await h.next()).kind).toBe('ACK');
    expect((await h.nextFrame()).raw).toEqual(vectorFrame('terminal RSLT not found, trailing empty fields'));
  });

  test('a bad LRC is NAKed and not acted on; the repaired frame is', async () => {
    const h = await run([]);
    const bad = Buffer.from(vectorFrame('host PING'));
    bad[bad.length - 1] ^= 0x01;
    h.send(bad);
    expect(await h.next()).toEqual({ kind: 'NAK' });
    expect(await h.quietFor(600)).toBe(true);
    h.send(vectorFrame('host PING'));
    expect(await h.next()).toEqual({ kind: 'ACK' });
    expect((await h.nextFrame()).fields.slice(1)).toEqual(['PONG', 'SIM-T01', 'IDLE']);
    await sim!.waitFor((e) => e.ev === 'nak-sent' && e.reason === 'lrc');
  });

  test('an invalid message is answered RSLT IV with an empty ref and nothing done', async () => {
    const h = await run([]);
    h.send(frame('07|AUTH|r1|12000|00')); // three fields, AUTH takes four
    expect((await h.next()).kind).toBe('ACK');
    const iv = await h.nextFrame();
    expect(iv.fields.slice(1, 5)).toEqual(['RSLT', '', 'IV', '']);
    expect(iv.fields[5]).toBe('');
    expect(iv.fields[6]).toMatch(/AUTH takes 4 fields/);
    h.send(frame('08|AUTH|r1|12000|00|941012345678901=3013101')); // month 13
    expect((await h.next()).kind).toBe('ACK');
    expect((await h.nextFrame()).fields.slice(1, 4)).toEqual(['RSLT', '', 'IV']);
    h.send(frame('09|WHAT'));
    expect((await h.next()).kind).toBe('ACK');
    const unknown = await h.nextFrame();
    expect(unknown.fields[3]).toBe('IV');
    expect(unknown.fields[6]).toBe('unknown command WHAT');
    // Nothing was started for r1.
    h.send(frame('10|LAST|r1'));
    expect((await h.next()).kind).toBe('ACK');
    expect((await h.nextFrame()).fields.slice(1, 4)).toEqual(['RSLT', 'r1', 'NF']);
  });

  test('unplugged and replugged, the simulator reopens the port and answers again', async () => {
    const h = await run([]);
    h.send(vectorFrame('host PING'));
    await h.nextFrame();
    await h.close();
    host = undefined;
    const s = sim!;
    await pty.unplug();
    await s.waitFor((e) => e.ev === 'link-closed');
    await pty.replug();
    await s.waitFor((e) => e.ev === 'link-open' && s.events.filter((x) => x.ev === 'link-open').length === 2);
    host = await RawHost.overSerial(pty.b);
    host.send(frame('50|PING'));
    expect(await host.next()).toEqual({ kind: 'ACK' });
    expect((await host.nextFrame()).fields[1]).toBe('PONG');
  });

  test('--drop-mid-frame sends half a PROG RCVD, then exits 3', async () => {
    const h = await run(['--drop-mid-frame']);
    h.send(vectorFrame('host AUTH'));
    expect(await h.next()).toEqual({ kind: 'ACK' });
    expect(await sim!.exited).toBe(3);
    expect(sim!.events.find((e) => e.ev === 'tx-partial')).toMatchObject({ cmd: 'PROG', ref: 'p7Kq2-1', stage: 'RCVD' });
    expect(await h.quietFor(300)).toBe(true);
    expect(h.received.some((r) => r.kind === 'frame')).toBe(false);
  });

  test('noise between frames does not disturb a host that drops it', async () => {
    const h = await run(['--noise', '--start-seq', '0', '--terminal-id', 'KIOSK-T01']);
    h.send(vectorFrame('host PING'));
    expect((await h.nextFrame()).raw).toEqual(vectorFrame('terminal PONG'));
    expect(h.received.filter((r) => r.kind === 'NAK')).toEqual([]);
  });
});
