// The terminal simulator as a black box over TCP: scenarios chosen by flag and
// by amount, the link rules under injected faults, and one host at a time.
import { afterEach, describe, expect, test } from '@jest/globals';
import { startTerminalSim, type RunningSim } from '../../scripts/testkit/terminal-sim.js';
import { RawHost, frame } from './raw-host.js';

const TRACK2 = '9410123456789012=30121011234567890123';
const auth = (seq: string, ref: string, amount: number): Buffer => frame(`${seq}|AUTH|${ref}|${amount}|00|${TRACK2}`);

let sim: RunningSim | undefined;
const hosts: RawHost[] = [];

afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
  await sim?.stop();
  sim = undefined;
});

async function run(args: string[]): Promise<{ s: RunningSim; h: RawHost }> {
  const s = await startTerminalSim({ listen: 'tcp://127.0.0.1:0', args });
  sim = s;
  const h = await connect(s);
  return { s, h };
}

async function connect(s: RunningSim): Promise<RawHost> {
  const opened = s.events.filter((e) => e.ev === 'link-open').length;
  const h = await RawHost.overTcp(s.tcpPort!);
  hosts.push(h);
  await s.waitFor(() => s.events.filter((e) => e.ev === 'link-open').length > opened);
  return h;
}

/** Terminal frames' CMD and fields after SEQ, e.g. ['RSLT', 'r1', '00', ...]. */
async function nextMessage(h: RawHost, timeoutMs?: number): Promise<string[]> {
  return (await h.nextFrame(timeoutMs)).fields.slice(1);
}

describe('terminal-sim over TCP', () => {
  test('an AUTH while another is open gets BY; PONG says BUSY meanwhile', async () => {
    const { h } = await run(['--prog-sent-delay', '2000', '--result-delay', '500']);
    h.send(auth('10', 'first', 5000));
    expect(await nextMessage(h)).toEqual(['PROG', 'first', 'RCVD']);
    h.send(frame('11|PING'));
    expect(await nextMessage(h)).toEqual(['PONG', 'SIM-T01', 'BUSY']);
    h.send(auth('12', 'second', 5000));
    expect(await nextMessage(h)).toEqual(['RSLT', 'second', 'BY', '', '', 'TERMINAL BUSY']);
    expect(await nextMessage(h)).toEqual(['PROG', 'first', 'SENT']);
    expect((await nextMessage(h)).slice(0, 3)).toEqual(['RSLT', 'first', '00']);
    // LAST of a BY ref repeats its BY.
    h.send(frame('13|LAST|second'));
    expect((await nextMessage(h)).slice(0, 3)).toEqual(['RSLT', 'second', 'BY']);
  });

  test('--busy and amount ...099 answer BY', async () => {
    const { h } = await run(['--busy']);
    h.send(auth('20', 'b1', 1000));
    expect((await nextMessage(h)).slice(0, 3)).toEqual(['RSLT', 'b1', 'BY']);
    await sim!.stop();
    const again = await run([]);
    again.h.send(auth('21', 'b2', 12099));
    expect((await nextMessage(again.h)).slice(0, 3)).toEqual(['RSLT', 'b2', 'BY']);
  });

  test('CNCL before SENT (slow amount ...077) wins with CN; the AUTH is dropped', async () => {
    const { s, h } = await run(['--slow-ms', '60000']);
    h.send(auth('30', 'slow1', 20077));
    expect(await nextMessage(h)).toEqual(['PROG', 'slow1', 'RCVD']);
    h.send(frame('31|CNCL|slow1'));
    expect(await nextMessage(h)).toEqual(['RSLT', 'slow1', 'CN', '', '941012******9012', 'CANCELLED']);
    h.send(frame('32|PING'));
    expect(await nextMessage(h)).toEqual(['PONG', 'SIM-T01', 'IDLE']);
    // CNCL of a final ref repeats its RSLT.
    h.send(frame('33|CNCL|slow1'));
    expect((await nextMessage(h)).slice(0, 3)).toEqual(['RSLT', 'slow1', 'CN']);
    expect(s.events.filter((e) => e.ev === 'outcome' && e.ref === 'slow1')).toHaveLength(1);
  });

  test('CNCL after SENT is too late: PROG SENT, then the real RSLT', async () => {
    const { h } = await run(['--prog-sent-delay', '100', '--result-delay', '3000']);
    h.send(auth('40', 'late1', 3000));
    expect(await nextMessage(h)).toEqual(['PROG', 'late1', 'RCVD']);
    expect(await nextMessage(h)).toEqual(['PROG', 'late1', 'SENT']);
    h.send(frame('41|CNCL|late1'));
    expect(await nextMessage(h)).toEqual(['PROG', 'late1', 'SENT']);
    expect((await nextMessage(h)).slice(0, 3)).toEqual(['RSLT', 'late1', '00']);
  });

  test('CNCL and LAST of an unknown ref get NF; an AUTH with a known ref is answered as LAST', async () => {
    const { s, h } = await run(['--omit-prog']);
    h.send(frame('50|CNCL|nobody'));
    expect(await nextMessage(h)).toEqual(['RSLT', 'nobody', 'NF', '', '', '']);
    h.send(auth('51', 'k1', 7000));
    const first = await nextMessage(h);
    expect(first.slice(0, 3)).toEqual(['RSLT', 'k1', '00']);
    h.send(auth('52', 'k1', 7000));
    expect(await nextMessage(h)).toEqual(first);
    expect(s.events.filter((e) => e.ev === 'stage' && e.ref === 'k1' && e.stage === 'RCVD')).toHaveLength(1);
  });

  test('a retransmitted frame is ACKed again and acted on once', async () => {
    const { s, h } = await run(['--omit-prog']);
    h.autoAck = false;
    const f = auth('60', 'dup1', 8000);
    h.send(f);
    expect(await h.next()).toEqual({ kind: 'ACK' });
    h.send(f); // as if our ACK had been lost
    expect(await h.next()).toEqual({ kind: 'ACK' });
    const r = await h.nextFrame();
    h.send(Buffer.of(0x06));
    expect(r.fields.slice(1, 4)).toEqual(['RSLT', 'dup1', '00']);
    expect(await h.quietFor(1500)).toBe(true);
    const rx = s.events.filter((e) => e.ev === 'rx' && e.ref === 'dup1');
    expect(rx.map((e) => e.dup)).toEqual([false, true]);
    expect(s.events.filter((e) => e.ev === 'outcome')).toHaveLength(1);
  });

  test('--swallow-acks 1: the host retransmits, the duplicate is ACKed and not run twice', async () => {
    const { s, h } = await run(['--swallow-acks', '1', '--omit-prog']);
    h.autoAck = false;
    const f = auth('61', 'sw1', 8000);
    h.send(f);
    const firstRslt = await h.next(5000);
    expect(firstRslt.kind).toBe('frame'); // no ACK came for the AUTH, but it ran
    h.send(Buffer.of(0x06));
    h.send(f);
    expect(await h.next()).toEqual({ kind: 'ACK' });
    expect(await h.quietFor(1500)).toBe(true);
    expect(s.events.filter((e) => e.ev === 'outcome' && e.ref === 'sw1')).toHaveLength(1);
  });

  test('--nak-first 1 NAKs the first good frame and acts on its retransmission', async () => {
    const { h } = await run(['--nak-first', '1']);
    h.send(frame('70|PING'));
    expect(await h.next()).toEqual({ kind: 'NAK' });
    h.send(frame('70|PING'));
    expect(await h.next()).toEqual({ kind: 'ACK' });
    expect((await nextMessage(h))[0]).toBe('PONG');
  });

  test('--lrc-errors 1: the NAKed frame comes again with the same SEQ and a good LRC', async () => {
    const faulty = await run(['--lrc-errors', '1']);
    faulty.h.send(frame('81|PING'));
    const first = await faulty.h.nextFrame();
    expect(first.lrcOk).toBe(false); // the host NAKed it
    const second = await faulty.h.nextFrame();
    expect(second.lrcOk).toBe(true);
    expect(second.fields[0]).toBe(first.fields[0]);
    expect(second.fields[1]).toBe('PONG');
    await faulty.s.waitFor((e) => e.ev === 'nak-rx');
  });

  test('an unACKed frame is sent 4 times in all, T_ack apart, then given up', async () => {
    const { s, h } = await run([]);
    h.autoAck = false;
    h.send(frame('90|PING'));
    const sends = [await h.nextFrame(), await h.nextFrame(3000), await h.nextFrame(3000), await h.nextFrame(3000)];
    expect(new Set(sends.map((f) => f.raw.toString('hex'))).size).toBe(1);
    await s.waitFor((e) => e.ev === 'send-failed', 5000);
    expect(await h.quietFor(1500)).toBe(true);
    expect(s.events.filter((e) => e.ev === 'tx').map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
  });

  test('amount ...044 ends TO, ...033 sends no PROG, ...066 stays silent but answers LAST with PROG RCVD', async () => {
    const { h } = await run(['--prog-sent-delay', '50', '--result-delay', '50']);
    h.send(auth('01', 'to1', 10044));
    expect(await nextMessage(h)).toEqual(['PROG', 'to1', 'RCVD']);
    expect(await nextMessage(h)).toEqual(['PROG', 'to1', 'SENT']);
    expect(await nextMessage(h)).toEqual(['RSLT', 'to1', 'TO', '', '941012******9012', 'TIMED OUT UPSTREAM']);
    h.send(auth('02', 'np1', 10033));
    expect((await nextMessage(h)).slice(0, 3)).toEqual(['RSLT', 'np1', '00']);
    h.send(auth('03', 'si1', 10066));
    expect(await h.next()).toEqual({ kind: 'ACK' });
    expect(await h.quietFor(800)).toBe(true);
    h.send(frame('04|LAST|si1'));
    expect(await nextMessage(h)).toEqual(['PROG', 'si1', 'RCVD']);
    h.send(frame('05|CNCL|si1'));
    expect(await nextMessage(h)).toEqual(['PROG', 'si1', 'RCVD']);
  });

  test('a new connection replaces the old one (link reopen)', async () => {
    const { s, h } = await run([]);
    const second = await connect(s);
    await s.waitFor((e) => e.ev === 'link-closed');
    second.send(frame('01|PING'));
    expect((await nextMessage(second))[0]).toBe('PONG');
    expect(h.received.filter((r) => r.kind === 'frame')).toHaveLength(0);
  });
});

describe('terminal-sim as a program', () => {
  test('SIGTERM exits 0; --quiet prints only the ready line', async () => {
    const s = await startTerminalSim({ listen: 'tcp://127.0.0.1:0', args: ['--quiet'] });
    const h = await RawHost.overTcp(s.tcpPort!);
    h.send(frame('01|PING'));
    expect((await h.nextFrame()).fields[1]).toBe('PONG');
    await h.close();
    await s.stop();
    expect(await s.exited).toBe(0);
    expect(s.events.map((e) => e.ev)).toEqual(['ready']);
  });

  test('a bad command line is refused before ready, with the reason', async () => {
    await expect(startTerminalSim({ listen: 'tcp://127.0.0.1:0', args: ['--decline', '00'] }))
      .rejects.toThrow(/--decline needs a two-char code other than 00/);
    await expect(startTerminalSim({ args: [] })).rejects.toThrow(/exactly one of --port/);
  });
});
