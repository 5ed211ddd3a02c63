/**
 * The terminal's three visible states and their log lines, driven with a
 * ManualClock and the payment harness's terminal (which answers PING or not).
 */
import { describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { ManualClock } from '../../drivers/clock.js';
import { TerminalHealth, stateHint, type LinkState } from '../../daemon/terminal/health.js';
import { FakeTerminal } from '../payments/harness.js';

function setup(idle = true): { clock: ManualClock; terminal: FakeTerminal; health: TerminalHealth; changes: LinkState[]; lines: Array<{ level: number; msg: string }> } {
  const clock = new ManualClock();
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as { level: number; msg: string }); } });
  const terminal = new FakeTerminal(clock, 3_000);
  terminal.isUp = false;
  const health = new TerminalHealth({ terminal, clock, logger, pingIntervalMs: 15_000, mayPing: () => idle });
  const changes: LinkState[] = [];
  health.on('change', (s) => changes.push(s));
  health.start();
  return { clock, terminal, health, changes, lines };
}

describe('TerminalHealth', () => {
  test('down -> up -> not_answering (a PING unanswered twice) -> up (heard again) -> down, each logged once at its priority', async () => {
    const { clock, terminal, health, changes, lines } = setup();
    expect(health.state).toBe('down');
    expect(health.hint).toMatch(/^check the terminal's power and cable/);
    terminal.comeUp();
    await clock.advance(0);
    expect(health.state).toBe('up');
    expect(health.hint).toBeUndefined();
    expect(terminal.pings).toBe(1); // a PING at once when the port opens
    terminal.answersPing = false;
    await clock.advance(15_000);
    await clock.advance(3_000);
    expect(health.state).toBe('up'); // one unanswered PING is asked again
    expect(terminal.pings).toBe(3);
    await clock.advance(3_000);
    expect(health.state).toBe('not_answering');
    expect(health.hint).toMatch(/switched on.*baud_rate/);
    await clock.advance(15_000 * 4);
    expect(changes).toEqual(['up', 'not_answering']); // told once, however many PINGs fail
    terminal.answersPing = true;
    await clock.advance(6_000 + 15_000); // a round of two unanswered PINGs may be under way, then the interval
    expect(health.state).toBe('up');
    terminal.goDown();
    expect(changes).toEqual(['up', 'not_answering', 'up', 'down']);
    const logged = lines.filter((l) => l.msg.startsWith('terminal')).map((l) => [l.level, l.msg.split(';')[0]]);
    expect(logged).toEqual([
      [30, 'terminal link up'],
      [50, 'terminal on /dev/ttyFAKE is connected but not answering'],
      [30, 'terminal on /dev/ttyFAKE answers again'],
      [40, 'terminal link on /dev/ttyFAKE down (unplugged)'],
    ]);
  });

  test('a PING acknowledged but unanswered once (taken for a retransmission by the terminal) is asked again: still up, nothing logged', async () => {
    const { clock, terminal, health, changes, lines } = setup();
    terminal.pingsTakenForDuplicates = 1;
    terminal.comeUp();
    await clock.advance(0);
    await clock.advance(3_000);
    expect(terminal.pings).toBe(2);
    expect(health.state).toBe('up');
    expect(changes).toEqual(['up']);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    // A link that is down does not get the second PING.
    terminal.pingsTakenForDuplicates = 1;
    await clock.advance(15_000);
    terminal.goDown();
    await clock.advance(3_000);
    expect(terminal.pings).toBe(3);
    expect(changes).toEqual(['up', 'down']);
  });

  test('no PING of its own while a payment runs', async () => {
    const { clock, terminal } = setup(false);
    terminal.comeUp();
    await clock.advance(60_000);
    expect(terminal.pings).toBe(0);
  });

  test('waitAnswering: true at once for a terminal heard lately; asks with PING otherwise; false after the wait', async () => {
    const { clock, terminal, health } = setup(false);
    terminal.comeUp();
    await clock.advance(0);
    expect(await health.waitAnswering(10_000)).toBe(true); // not heard yet: a PING answers
    expect(terminal.pings).toBe(1);
    expect(await health.waitAnswering(10_000)).toBe(true); // heard lately: no PING
    expect(terminal.pings).toBe(1);
    terminal.answersPing = false;
    await clock.advance(40_000);
    const result = health.waitAnswering(5_000);
    await clock.advance(10_000);
    expect(await result).toBe(false);
    expect(health.state).toBe('not_answering');
  });

  test('hints fit the transport', () => {
    expect(stateHint('down', 'tcp://10.0.0.5:4001')).toMatch(/listening at tcp:\/\/10\.0\.0\.5:4001/);
    expect(stateHint('down', 'tcp://10.0.0.5:4001')).not.toMatch(/USB/);
    expect(stateHint('not_answering', 'tcp://10.0.0.5:4001')).toMatch(/ser2net/);
    expect(stateHint('down', '/dev/otcd-terminal')).toMatch(/USB adapter.*\/dev\/otcd-terminal/);
  });
});
