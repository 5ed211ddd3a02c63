/**
 * Link rules on a real pty pair (socat), the far end driven byte by byte.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { ptyPair, type PtyPair } from '../../scripts/testkit/pty.js';
import { Terminal, type TerminalResult } from '../../drivers/terminal/terminal.js';
import { ACK_BYTE, NAK_BYTE, RawPeer } from './raw-peer.js';

const TRACK2 = '9410123456789012=30121011234567890123';

let pty: PtyPair;
let peer: RawPeer;
let terminal: Terminal;

function upOnce(t: Terminal): Promise<void> {
  return new Promise((resolve) => t.once('up', () => resolve()));
}

beforeEach(async () => {
  pty = await ptyPair();
  peer = await RawPeer.open(pty.b);
  terminal = new Terminal({ address: pty.a, reconnect: { initialMs: 100, maxMs: 400 } });
  const up = upOnce(terminal);
  terminal.start();
  await up;
});

afterEach(async () => {
  await terminal.stop();
  await peer.close();
  await pty.close();
});

describe('ecr1 link over a pty', () => {
  test('an AUTH is on the wire as the spec frame, and the driver zeroes only its own copy', async () => {
    const track2 = Buffer.from(TRACK2, 'latin1');
    await terminal.authorize({ ref: 'p7Kq2-1', amount: 12000, installment: 0, track2 });
    expect(peer.frames).toHaveLength(1);
    expect(peer.frames[0].body.slice(2).replaceAll('\x1c', '|')).toBe(`|AUTH|p7Kq2-1|12000|00|${TRACK2}`);
    expect(track2.toString('latin1')).toBe(TRACK2); // the caller's buffer is the caller's
  });

  test('NAK then success: the same frame (same SEQ) is sent again at once', async () => {
    let naks = 1;
    peer.onFrame = (_f, p) => p.write([naks-- > 0 ? NAK_BYTE : ACK_BYTE]);
    await terminal.authorize({ ref: 'r-nak', amount: 5000, installment: 3, track2: Buffer.from(TRACK2) });
    expect(peer.frames).toHaveLength(2);
    expect(peer.frames[1].body).toBe(peer.frames[0].body);
    expect(peer.frames[1].at - peer.frames[0].at).toBeLessThan(500);
    expect(terminal.counters()).toMatchObject({ naksReceived: 1, retransmissions: 1, framesSent: 1 });
  });

  test('no ACK: exactly 4 sends about T_ack apart, then LINK_FAILED', async () => {
    peer.onFrame = () => undefined;
    const started = Date.now();
    const err = await terminal.authorize({ ref: 'r-lost', amount: 5000, installment: 0, track2: Buffer.from(TRACK2) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LINK_FAILED' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3900);
    await new Promise((r) => setTimeout(r, 1500)); // nothing more comes
    expect(peer.frames).toHaveLength(4);
    expect(new Set(peer.frames.map((f) => f.body)).size).toBe(1);
    for (let i = 1; i < 4; i++) expect(peer.frames[i].at - peer.frames[i - 1].at).toBeGreaterThanOrEqual(900);
    expect(terminal.counters()).toMatchObject({ framesSent: 1, retransmissions: 3, ackTimeouts: 4 });
  });

  test('a frame repeated with the same SEQ (lost ACK) is ACKed twice and acted on once', async () => {
    const results: TerminalResult[] = [];
    terminal.on('result', (r) => results.push(r));
    peer.sendFrame('42|RSLT|r-dup|00|30012345|941012******9012|APPROVED');
    peer.sendFrame('42|RSLT|r-dup|00|30012345|941012******9012|APPROVED');
    await peer.until(() => peer.controls.filter((b) => b === ACK_BYTE).length === 2);
    // a new frame with the same SEQ but another body is new (the peer restarted)
    peer.sendFrame('42|RSLT|r-dup2|51||941012******9012|DECLINED');
    await peer.until(() => peer.controls.length === 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(results.map((r) => r.ref)).toEqual(['r-dup', 'r-dup2']);
    expect(terminal.counters()).toMatchObject({ duplicates: 1, framesReceived: 2 });
  });

  test('damaged frames are NAKed; the ACK for a good frame comes within 50 ms', async () => {
    const sentAt = Date.now();
    peer.sendFrame('07|PROG|r1|RCVD');
    await peer.until(() => peer.controls.length === 1);
    expect(peer.controls[0]).toBe(ACK_BYTE);
    expect(Date.now() - sentAt).toBeLessThan(50 + 50); // + scheduling slack on a busy CI
    peer.write(Buffer.from([0x02, 0x30, 0x38, 0x1c, 0x50, 0x03, 0x00])); // wrong LRC
    await peer.until(() => peer.controls.length === 2);
    expect(peer.controls[1]).toBe(NAK_BYTE);
    expect(terminal.counters()).toMatchObject({ lrcErrors: 1, naksSent: 1 });
  });

  test('unplug mid-AUTH: LINK_DOWN at once, down/up events, reconnect counted, ping works after replug', async () => {
    peer.onFrame = () => undefined; // the AUTH stays unacknowledged
    const events: string[] = [];
    terminal.on('down', () => events.push('down'));
    terminal.on('up', () => events.push('up'));
    const auth = terminal.authorize({ ref: 'r-unplug', amount: 5000, installment: 0, track2: Buffer.from(TRACK2) }).catch((e: unknown) => e);
    await peer.until(() => peer.frames.length === 1);
    const unpluggedAt = Date.now();
    await pty.unplug();
    const err = await auth;
    expect(err).toMatchObject({ code: 'LINK_DOWN' });
    expect(Date.now() - unpluggedAt).toBeLessThan(900); // before the first T_ack would have expired
    expect(terminal.isUp).toBe(false);
    await expect(terminal.ping()).rejects.toMatchObject({ code: 'LINK_DOWN' });

    await new Promise((r) => setTimeout(r, 700)); // several reopen attempts hit ENOENT
    expect(events).toEqual(['down']);
    await peer.close();
    await pty.replug();
    peer = await RawPeer.open(pty.b);
    peer.onFrame = (f, p) => {
      p.write([ACK_BYTE]);
      if (f.body.endsWith('PING')) p.sendFrame('10|PONG|RAW-T1|IDLE');
    };
    await new Promise<void>((resolve) => (terminal.isUp ? resolve() : terminal.once('up', () => resolve())));
    expect(events).toEqual(['down', 'up']);
    expect(terminal.counters().reconnects).toBe(1);
    const pong = await terminal.ping();
    expect(pong).toMatchObject({ terminalId: 'RAW-T1', state: 'IDLE' });
    expect(terminal.terminalId).toBe('RAW-T1');
  });

  test('answers: IV rejects the latest command with INVALID, silence gives NO_ANSWER, PROG/RSLT are events too', async () => {
    await terminal.stop();
    terminal = new Terminal({ address: pty.a, answerTimeoutMs: 300 });
    const up = upOnce(terminal);
    terminal.start();
    await up;
    const invalid: string[] = [];
    const progress: string[] = [];
    terminal.on('invalid', (iv) => invalid.push(iv.message));
    terminal.on('progress', (p) => progress.push(`${p.ref}:${p.stage}`));
    let seq = 20;
    peer.onFrame = (f, p) => {
      p.write([ACK_BYTE]);
      if (f.body.includes('CNCL')) p.sendFrame(`${seq++}|RSLT||IV|||ref 9410123456789012 unknown`);
      if (f.body.includes('LAST\x1cr-open')) p.sendFrame(`${seq++}|PROG|r-open|SENT`);
    };
    const err = await terminal.cancel('r-iv').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID' });
    expect((err as Error).message).not.toContain('9410123456789012'); // a PAN-like run is masked
    expect(invalid).toHaveLength(1);
    await expect(terminal.last('r-open')).resolves.toEqual({ kind: 'progress', ref: 'r-open', stage: 'SENT' });
    expect(progress).toEqual(['r-open:SENT']);
    await expect(terminal.last('r-silent')).rejects.toMatchObject({ code: 'NO_ANSWER' });
  });

  test('VOID: the spec frame on the wire, resolved on its ACK; its RSLT is an event, CNCL and LAST answer for its ref', async () => {
    const results: TerminalResult[] = [];
    terminal.on('result', (r) => results.push(r));
    let seq = 40;
    peer.onFrame = (f, p) => {
      p.write([ACK_BYTE]);
      if (f.body.includes('VOID')) {
        p.sendFrame(`${seq++}|PROG|vd-7Qm2|RCVD`);
        p.sendFrame(`${seq++}|RSLT|vd-7Qm2|00|30012399|941012******9012|VOIDED`);
      }
      if (f.body.includes('LAST\x1cvd-7Qm2') || f.body.includes('CNCL\x1cvd-7Qm2')) p.sendFrame(`${seq++}|RSLT|vd-7Qm2|00|30012399|941012******9012|VOIDED`);
      if (f.body.includes('LAST\x1cvd-8Kx1')) p.sendFrame(`${seq++}|PROG|vd-8Kx1|SENT`);
    };
    await terminal.void({ ref: 'vd-7Qm2', origRef: '5_0w0g1dbvsz_pc2', amount: 12000 });
    expect(peer.frames[0].body.slice(2).replaceAll('\x1c', '|')).toBe('|VOID|vd-7Qm2|5_0w0g1dbvsz_pc2|12000');
    await peer.until(() => peer.controls.filter((b) => b === ACK_BYTE).length >= 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(results).toEqual([{ kind: 'result', ref: 'vd-7Qm2', code: '00', approvalNo: '30012399', maskedPan: '941012******9012', message: 'VOIDED' }]);
    await expect(terminal.last('vd-7Qm2')).resolves.toMatchObject({ kind: 'result', code: '00', approvalNo: '30012399' });
    await expect(terminal.cancel('vd-7Qm2')).resolves.toMatchObject({ kind: 'result', code: '00' });
    await expect(terminal.last('vd-8Kx1')).resolves.toEqual({ kind: 'progress', ref: 'vd-8Kx1', stage: 'SENT' });
  });

  test('VOID with a bad field never reaches the wire', async () => {
    await expect(terminal.void({ ref: 'vd-1', origRef: 'no spaces', amount: 100 })).rejects.toMatchObject({ code: 'BAD_FIELD', field: 'origRef' });
    await new Promise((r) => setTimeout(r, 100));
    expect(peer.frames).toHaveLength(0);
  });
});
