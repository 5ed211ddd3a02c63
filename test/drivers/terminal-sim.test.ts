/**
 * The Terminal against the independent simulator (scripts/terminal-sim.ts),
 * over a real pty and over TCP. Needs `npm run build` (the sim runs from dist/).
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { ptyPair, type PtyPair } from '../../scripts/testkit/pty.js';
import { startTerminalSim, type RunningSim } from '../../scripts/testkit/terminal-sim.js';
import { Terminal, type TerminalAnswer, type TerminalResult } from '../../drivers/terminal/terminal.js';

const TRACK2 = '9410123456789012=30121011234567890123';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function onPty(args: string[] = []): Promise<{ pty: PtyPair; sim: RunningSim; terminal: Terminal }> {
  const pty = await ptyPair();
  cleanups.push(() => pty.close());
  const sim = await startTerminalSim({ port: pty.b, args });
  cleanups.push(() => sim.stop());
  const terminal = await started(new Terminal({ address: pty.a, reconnect: { initialMs: 100, maxMs: 400 } }));
  return { pty, sim, terminal };
}

async function started(terminal: Terminal): Promise<Terminal> {
  cleanups.push(() => terminal.stop());
  const up = new Promise<void>((resolve) => terminal.once('up', () => resolve()));
  terminal.start();
  await up;
  return terminal;
}

function nextResult(terminal: Terminal, ref: string): Promise<TerminalResult> {
  return new Promise((resolve) => {
    const on = (r: TerminalResult): void => {
      if (r.ref !== ref) return;
      terminal.off('result', on);
      resolve(r);
    };
    terminal.on('result', on);
  });
}

async function approval(terminal: Terminal, ref: string): Promise<{ stages: string[]; result: TerminalResult }> {
  const stages: string[] = [];
  terminal.on('progress', (p) => {
    if (p.ref === ref) stages.push(p.stage);
  });
  const result = nextResult(terminal, ref);
  const track2 = Buffer.from(TRACK2, 'latin1');
  await terminal.authorize({ ref, amount: 12000, installment: 0, track2 });
  track2.fill(0);
  return { stages, result: await result };
}

describe('Terminal with the simulator on a pty', () => {
  test('ping, then an approval: AUTH ACKed, PROG RCVD, PROG SENT, RSLT 00', async () => {
    const { terminal, sim } = await onPty(['--terminal-id', 'KIOSK-T01', '--prog-sent-delay', '50', '--result-delay', '50']);
    const pong = await terminal.ping();
    expect(pong).toMatchObject({ terminalId: 'KIOSK-T01', state: 'IDLE' });
    expect(terminal.lastPongAt).toBeGreaterThan(0);
    const { stages, result } = await approval(terminal, 'pty-ok-1');
    expect(stages).toEqual(['RCVD', 'SENT']);
    expect(result).toMatchObject({ kind: 'result', ref: 'pty-ok-1', code: '00', maskedPan: '941012******9012' });
    expect(result.approvalNo).toMatch(/^\d{8}$/);
    await sim.waitFor((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.ref === 'pty-ok-1');
    expect(sim.events.filter((e) => e.ev === 'rx' && e.cmd === 'AUTH')).toHaveLength(1);
    // LAST for a final ref answers that RSLT again; it is emitted as an event too
    const events: TerminalAnswer[] = [];
    terminal.on('result', (r) => events.push(r));
    await expect(terminal.last('pty-ok-1')).resolves.toMatchObject({ kind: 'result', code: '00', approvalNo: result.approvalNo });
    expect(events).toHaveLength(1);
  });

  test('the simulator NAKs the first 2 frames: the AUTH still goes through, acted on once', async () => {
    const { terminal, sim } = await onPty(['--nak-first', '2', '--prog-sent-delay', '20', '--result-delay', '20']);
    const { result } = await approval(terminal, 'pty-nak-1');
    expect(result.code).toBe('00');
    expect(terminal.counters()).toMatchObject({ naksReceived: 2, retransmissions: 2 });
    expect(sim.events.filter((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.dup === false)).toHaveLength(1);
  });

  test('the simulator does not ACK our first AUTH: it is resent, and the copy is taken as a duplicate, not run twice', async () => {
    const { terminal, sim } = await onPty(['--swallow-acks', '1', '--prog-sent-delay', '20', '--result-delay', '20']);
    const { result } = await approval(terminal, 'pty-swallow-1');
    expect(result.code).toBe('00');
    expect(terminal.counters()).toMatchObject({ ackTimeouts: 1, retransmissions: 1 });
    await sim.waitFor((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.dup === true);
    expect(sim.events.filter((e) => e.ev === 'rx' && e.cmd === 'AUTH' && e.dup === false)).toHaveLength(1);
  });

  test('cancel before SENT gets CN; LAST of an unknown ref gets NF', async () => {
    const { terminal } = await onPty(['--slow-ms', '5000']);
    await terminal.authorize({ ref: 'pty-slow-1', amount: 12077, installment: 0, track2: Buffer.from(TRACK2) });
    await expect(terminal.cancel('pty-slow-1')).resolves.toMatchObject({ kind: 'result', code: 'CN' });
    await expect(terminal.last('never-sent')).resolves.toMatchObject({ kind: 'result', ref: 'never-sent', code: 'NF' });
  });

  test('simulator port lost mid-frame (--drop-mid-frame): down, then up again once the port is back', async () => {
    const { terminal, pty } = await onPty(['--drop-mid-frame']);
    const down = new Promise<string>((resolve) => terminal.once('down', resolve));
    await terminal.authorize({ ref: 'pty-drop-1', amount: 12000, installment: 0, track2: Buffer.from(TRACK2) });
    // The sim closes its end and exits; our pty stays (socat lives), so kill socat as the unplug.
    await pty.unplug();
    await down;
    await pty.replug();
    const sim2 = await startTerminalSim({ port: pty.b, args: ['--terminal-id', 'SIM-2'] });
    cleanups.push(() => sim2.stop());
    await new Promise<void>((resolve) => (terminal.isUp ? resolve() : terminal.once('up', () => resolve())));
    expect(terminal.counters().reconnects).toBe(1);
    await expect(terminal.ping()).resolves.toMatchObject({ terminalId: 'SIM-2' });
  });
});

describe('Terminal with the simulator over TCP', () => {
  test('the same approval over tcp://', async () => {
    const sim = await startTerminalSim({ listen: 'tcp://127.0.0.1:0', args: ['--terminal-id', 'TCP-T1', '--prog-sent-delay', '20', '--result-delay', '20'] });
    cleanups.push(() => sim.stop());
    const terminal = await started(new Terminal({ address: `tcp://127.0.0.1:${sim.tcpPort}` }));
    await expect(terminal.ping()).resolves.toMatchObject({ terminalId: 'TCP-T1' });
    const { stages, result } = await approval(terminal, 'tcp-ok-1');
    expect(stages).toEqual(['RCVD', 'SENT']);
    expect(result).toMatchObject({ code: '00', ref: 'tcp-ok-1' });
  });

  test('the TCP peer closing is a loss: down, reconnect, up', async () => {
    const sim = await startTerminalSim({ listen: 'tcp://127.0.0.1:0', args: ['--drop-mid-frame'] });
    cleanups.push(() => sim.stop());
    const terminal = await started(new Terminal({ address: `tcp://127.0.0.1:${sim.tcpPort}`, reconnect: { initialMs: 100, maxMs: 400 } }));
    const down = new Promise<string>((resolve) => terminal.once('down', resolve));
    await terminal.authorize({ ref: 'tcp-drop-1', amount: 12000, installment: 0, track2: Buffer.from(TRACK2) });
    await down;
    await new Promise<void>((resolve) => terminal.once('up', () => resolve()));
    expect(terminal.counters().reconnects).toBe(1);
    await expect(terminal.ping()).resolves.toMatchObject({ terminalId: 'SIM-T01' });
  });
});
