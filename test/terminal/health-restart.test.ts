/**
 * An otcd restarted within T_dup (5 s) whose first PING draws the same SEQ as
 * its predecessor's last frame (1 in 100 restarts): the terminal, here the
 * independent simulator over a real pty, takes it for a retransmission
 * (terminal-protocol.md section 4, rule 5), ACKs it and answers nothing. The
 * health supervision asks again, and the link stays `up` with nothing logged
 * at warning or above. Before, the link showed `not_answering` with an error
 * line for one ping interval (15 s): a CI bench run found it.
 * Needs `npm run build` (the simulator runs from dist/).
 */
import { afterEach, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { systemClock } from '../../drivers/clock.js';
import { Terminal } from '../../drivers/terminal/terminal.js';
import { TerminalHealth, type LinkState } from '../../daemon/terminal/health.js';
import { ptyPair } from '../../scripts/testkit/pty.js';
import { startTerminalSim } from '../../scripts/testkit/terminal-sim.js';

const SAME_FIRST_SEQ = 42;
/** Short, so the story takes a second; the protocol's default is 3000. */
const ANSWER_TIMEOUT_MS = 500;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function terminalOn(address: string): Terminal {
  const terminal = new Terminal({ address, answerTimeoutMs: ANSWER_TIMEOUT_MS, link: { firstSeq: SAME_FIRST_SEQ } });
  cleanups.push(() => terminal.stop());
  return terminal;
}

function up(terminal: Terminal): Promise<void> {
  return new Promise((resolve) => terminal.once('up', () => resolve()));
}

test('the first PING after a quick restart, taken for a retransmission, is asked again: the link stays up', async () => {
  const pty = await ptyPair();
  cleanups.push(() => pty.close());
  const sim = await startTerminalSim({ port: pty.b, args: ['--terminal-id', 'KIOSK-T01'] });
  cleanups.push(() => sim.stop());

  // The otcd before the restart: its PING is answered, then it stops.
  const before = terminalOn(pty.a);
  const beforeUp = up(before);
  before.start();
  await beforeUp;
  await expect(before.ping()).resolves.toMatchObject({ terminalId: 'KIOSK-T01' });
  await before.stop();

  // The restarted otcd: same first SEQ, same PING body, well within T_dup.
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as { level: number; msg: string }); } });
  const after = terminalOn(pty.a);
  const health = new TerminalHealth({ terminal: after, clock: systemClock, logger, pingIntervalMs: 60_000, mayPing: () => true });
  cleanups.push(async () => health.stop());
  const changes: LinkState[] = [];
  health.on('change', (s) => changes.push(s));
  health.start();
  after.start();

  await sim.waitFor((e) => e.ev === 'rx' && e.cmd === 'PING' && e.dup === true);
  const until = Date.now() + 10_000;
  while (after.lastPongAt === undefined && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(after.lastPongAt).toBeDefined();
  expect(health.state).toBe('up');
  expect(changes).toEqual(['up']);
  expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  expect(lines.map((l) => l.msg)).toContain('PING acknowledged but not answered; asking once more');
  const pings = sim.events.filter((e) => e.ev === 'rx' && e.cmd === 'PING');
  expect(pings.map((e) => e.dup)).toEqual([false, true, false]);
});
