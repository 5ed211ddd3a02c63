// VOID (spec 6a) against the terminal simulator on a real pty pair: the test
// is the host, writes raw frames and reads the terminal's exact answers.
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { ptyPair, type PtyPair } from '../../scripts/testkit/pty.js';
import { startTerminalSim, type RunningSim } from '../../scripts/testkit/terminal-sim.js';
import { RawHost, frame } from './raw-host.js';
import { vectorFrame } from './vectors.js';

const TRACK2 = '9410123456789012=30121011234567890123';
const PAN = '941012******9012';
const FAST = ['--prog-sent-delay', '40', '--result-delay', '40'];

let pty: PtyPair;
let sim: RunningSim | undefined;
let host: RawHost | undefined;
let hostSeq = 0;

beforeEach(async () => {
  pty = await ptyPair();
  hostSeq = 10;
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

/** Sends a host frame (body without SEQ, '|' for FS) under the next SEQ; expects its ACK. */
async function send(h: RawHost, body: string): Promise<void> {
  h.send(frame(`${String(hostSeq++ % 100).padStart(2, '0')}|${body}`));
  expect(await h.next()).toEqual({ kind: 'ACK' });
}

/** The terminal's frames up to and including the RSLT, as field lists after SEQ. */
async function untilResult(h: RawHost): Promise<string[][]> {
  const out: string[][] = [];
  for (;;) {
    const f = await h.nextFrame();
    out.push(f.fields.slice(1));
    if (f.fields[1] === 'RSLT') return out;
  }
}

async function approve(h: RawHost, ref: string, amount = 12000): Promise<string> {
  await send(h, `AUTH|${ref}|${amount}|00|${TRACK2}`);
  const frames = await untilResult(h);
  const r = frames[frames.length - 1];
  expect(r.slice(0, 3)).toEqual(['RSLT', ref, '00']);
  return r[3];
}

async function voidOf(h: RawHost, ref: string, origRef: string, amount = 12000): Promise<string[][]> {
  await send(h, `VOID|${ref}|${origRef}|${amount}`);
  return untilResult(h);
}

describe('terminal-sim VOID on a pty', () => {
  test('reverses an approval as in the vectors, byte for byte; a second VOID gets AV with the same number; LAST and a repeated ref repeat it', async () => {
    const h = await run(['--start-seq', '38', '--approval-no', '30012398', ...FAST]);
    expect(await approve(h, '5_0w0g1dbvsz_pc2')).toBe('30012398');
    h.send(vectorFrame('host VOID of an approved AUTH (ref, origRef, amount)'));
    expect(await h.next()).toEqual({ kind: 'ACK' });
    expect((await h.nextFrame()).body).toBe('41|PROG|vd-7Qm2|RCVD');
    expect((await h.nextFrame()).body).toBe('42|PROG|vd-7Qm2|SENT');
    expect((await h.nextFrame()).raw).toEqual(vectorFrame('terminal RSLT of a VOID: reversed'));

    // One reversal per approval: a new VOID (new ref) is answered AV, the earlier number.
    const again = await voidOf(h, 'vd-8Kx1', '5_0w0g1dbvsz_pc2');
    expect(again).toEqual([['RSLT', 'vd-8Kx1', 'AV', '30012399', PAN, 'ALREADY VOIDED']]);
    await send(h, 'LAST|vd-7Qm2');
    expect((await h.nextFrame()).fields.slice(1)).toEqual(['RSLT', 'vd-7Qm2', '00', '30012399', PAN, 'VOIDED']);
    // A VOID whose ref is known is not run again: answered as LAST.
    expect(await voidOf(h, 'vd-7Qm2', '5_0w0g1dbvsz_pc2')).toEqual([['RSLT', 'vd-7Qm2', '00', '30012399', PAN, 'VOIDED']]);
    expect(sim!.events.filter((e) => e.ev === 'reversed')).toEqual([{ ev: 'reversed', ref: 'vd-7Qm2', origRef: '5_0w0g1dbvsz_pc2', approvalNo: '30012399' }]);
  });

  test('order BY, NF, AV, AM: busy while an AUTH is open; unknown, declined or wrong origRef NF; wrong amount AM, then the right one reverses', async () => {
    const h = await run([...FAST, '--slow-ms', '1500']);
    await approve(h, 'p-1', 12000);
    await send(h, `AUTH|p-slow|12077|00|${TRACK2}`); // ...077: slow, stays open
    expect((await h.nextFrame()).fields.slice(1)).toEqual(['PROG', 'p-slow', 'RCVD']);
    expect(await voidOf(h, 'v-busy', 'p-1')).toEqual([['RSLT', 'v-busy', 'BY', '', PAN, 'TERMINAL BUSY']]);
    await untilResult(h); // the slow AUTH ends
    expect(await voidOf(h, 'v-nf', 'p-unknown')).toEqual([['RSLT', 'v-nf', 'NF', '', '', '']]);
    await send(h, `AUTH|p-declined|12051|00|${TRACK2}`);
    await untilResult(h);
    expect(await voidOf(h, 'v-nf2', 'p-declined', 12051)).toEqual([['RSLT', 'v-nf2', 'NF', '', '', '']]);
    expect(await voidOf(h, 'v-am', 'p-1', 11000)).toEqual([['RSLT', 'v-am', 'AM', '', PAN, 'AMOUNT MISMATCH']]);
    const ok = await voidOf(h, 'v-ok', 'p-1', 12000);
    expect(ok.map((f) => f.slice(0, 3))).toEqual([['PROG', 'v-ok', 'RCVD'], ['PROG', 'v-ok', 'SENT'], ['RSLT', 'v-ok', '00']]);
    // AV comes before AM: a reversed approval is AV whatever the amount.
    expect((await voidOf(h, 'v-av', 'p-1', 1))[0].slice(0, 4)).toEqual(['RSLT', 'v-av', 'AV', ok[2][3]]);
  });

  test('--void refuse with --void-first 1: the acquirer refuses, nothing reversed, the next VOID reverses', async () => {
    const h = await run([...FAST, '--void', 'refuse', '--void-refuse-code', 'S9', '--void-first', '1', '--omit-prog']);
    await approve(h, 'p-2');
    expect(await voidOf(h, 'v-1', 'p-2')).toEqual([['RSLT', 'v-1', 'S9', '', PAN, 'REVERSAL REFUSED']]);
    const second = await voidOf(h, 'v-2', 'p-2');
    expect(second[0].slice(0, 3)).toEqual(['RSLT', 'v-2', '00']);
    expect(second[0][3]).toMatch(/^[0-9]{8}$/);
  });

  test('--void timeout: TO, and a new VOID learns upstream went through (AV); --void timeout-lost: TO, and a new VOID reverses', async () => {
    const h = await run([...FAST, '--void', 'timeout', '--omit-prog']);
    await approve(h, 'p-3');
    expect(await voidOf(h, 'v-1', 'p-3')).toEqual([['RSLT', 'v-1', 'TO', '', PAN, 'TIMED OUT UPSTREAM']]);
    expect((await voidOf(h, 'v-2', 'p-3'))[0].slice(0, 3)).toEqual(['RSLT', 'v-2', 'AV']);
    expect(sim!.events.filter((e) => e.ev === 'reversed')).toHaveLength(1);
    await host!.close();
    await sim!.stop();

    const h2 = await run([...FAST, '--void', 'timeout-lost', '--void-first', '1', '--omit-prog']);
    await approve(h2, 'p-4');
    expect((await voidOf(h2, 'v-3', 'p-4'))[0].slice(0, 3)).toEqual(['RSLT', 'v-3', 'TO']);
    expect(sim!.events.filter((e) => e.ev === 'reversed')).toHaveLength(0);
    expect((await voidOf(h2, 'v-4', 'p-4'))[0].slice(0, 3)).toEqual(['RSLT', 'v-4', '00']);
  });

  test('--void silent: ACK, then nothing on its own; LAST finds the reversal', async () => {
    const h = await run([...FAST, '--void', 'silent']);
    await approve(h, 'p-5');
    await send(h, 'VOID|v-1|p-5|12000');
    expect(await h.quietFor(400)).toBe(true);
    await send(h, 'LAST|v-1');
    const r = (await h.nextFrame()).fields.slice(1);
    expect(r.slice(0, 3)).toEqual(['RSLT', 'v-1', '00']);
    expect(sim!.events.find((e) => e.ev === 'reversed')).toMatchObject({ ref: 'v-1', origRef: 'p-5', approvalNo: r[3] });
  });

  test('--void av, am, nf answer so whatever the VOID', async () => {
    const h = await run([...FAST, '--void', 'av', '--void-first', '1']);
    await approve(h, 'p-6');
    const av = await voidOf(h, 'v-1', 'p-6');
    expect(av[0].slice(0, 3)).toEqual(['RSLT', 'v-1', 'AV']);
    expect(av[0][3]).toMatch(/^[0-9]{8}$/);
    expect((await voidOf(h, 'v-2', 'p-6'))[0].slice(0, 4)).toEqual(['RSLT', 'v-2', 'AV', av[0][3]]); // stays reversed
    await host!.close();
    await sim!.stop();

    const h2 = await run([...FAST, '--void', 'am']);
    await approve(h2, 'p-7');
    expect(await voidOf(h2, 'v-3', 'p-7')).toEqual([['RSLT', 'v-3', 'AM', '', PAN, 'AMOUNT MISMATCH']]);
    await host!.close();
    await sim!.stop();

    const h3 = await run([...FAST, '--void', 'nf']);
    await approve(h3, 'p-8');
    expect(await voidOf(h3, 'v-4', 'p-8')).toEqual([['RSLT', 'v-4', 'NF', '', '', '']]);
  });

  test('CNCL before PROG SENT cancels a VOID (CN, nothing reversed); after SENT it is too late', async () => {
    const h = await run(['--prog-sent-delay', '800', '--result-delay', '800']);
    await approve(h, 'p-9');
    await send(h, 'VOID|v-1|p-9|12000');
    expect((await h.nextFrame()).fields.slice(1)).toEqual(['PROG', 'v-1', 'RCVD']);
    await send(h, 'CNCL|v-1');
    expect((await h.nextFrame()).fields.slice(1)).toEqual(['RSLT', 'v-1', 'CN', '', PAN, 'CANCELLED']);
    await send(h, 'VOID|v-2|p-9|12000');
    expect((await h.nextFrame()).fields.slice(1)).toEqual(['PROG', 'v-2', 'RCVD']);
    expect((await h.nextFrame(3000)).fields.slice(1)).toEqual(['PROG', 'v-2', 'SENT']);
    await send(h, 'CNCL|v-2');
    expect((await h.nextFrame()).fields.slice(1)).toEqual(['PROG', 'v-2', 'SENT']);
    expect((await h.nextFrame(3000)).fields.slice(1, 4)).toEqual(['RSLT', 'v-2', '00']);
  });

  test('a VOID with a bad field is IV and does nothing; a bad --void is a usage error', async () => {
    const h = await run(FAST);
    await approve(h, 'p-10');
    await send(h, 'VOID|v-1|p 10|12000');
    expect((await h.nextFrame()).fields.slice(1)).toEqual(['RSLT', '', 'IV', '', '', 'origRef must be 1..20 chars of A-Z a-z 0-9 - _']);
    await send(h, 'VOID|v-2|p-10|012000');
    expect((await h.nextFrame()).fields.slice(1, 4)).toEqual(['RSLT', '', 'IV']);
    await send(h, 'VOID|v-3|p-10');
    expect((await h.nextFrame()).fields[6]).toBe('VOID takes 3 fields (ref, origRef, amount), got 2');
    expect((await voidOf(h, 'v-4', 'p-10'))[2].slice(0, 3)).toEqual(['RSLT', 'v-4', '00']);
    await expect(startTerminalSim({ port: pty.a, args: ['--void', 'maybe'] })).rejects.toThrow(/--void needs one of reverse, refuse/);
    await expect(startTerminalSim({ port: pty.a, args: ['--void', 'refuse', '--void-refuse-code', 'AV'] })).rejects.toThrow(/--void-refuse-code/);
  });
});
