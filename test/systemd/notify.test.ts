// SystemdNotifier against a real AF_UNIX datagram socket standing in for
// systemd's (test/systemd/notify-listener.py), through the real
// systemd-notify command: the exact datagrams, their order, coalescing, the
// watchdog cadence, and what happens when the sender hangs or is missing.
import { describe, test, expect, afterEach } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { SystemdNotifier, sanitizeStatus } from '../../daemon/systemd/notify.js';

const LISTENER = join(process.cwd(), 'test/systemd/notify-listener.py');

interface Datagram {
  pid: number | null;
  text: string;
  fds: number;
}

class Listener {
  readonly datagrams: Datagram[] = [];
  private constructor(
    readonly path: string,
    private readonly proc: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(mode: 'release' | 'hold' = 'release'): Promise<Listener> {
    const dir = mkdtempSync(join(tmpdir(), 'otcd-notify-'));
    const path = join(dir, 'notify.sock');
    const proc = spawn('python3', [LISTENER, path, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    const listener = new Listener(path, proc, dir);
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      proc.on('error', reject);
      proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = JSON.parse(buf.slice(0, nl)) as Datagram & { listening?: string };
          buf = buf.slice(nl + 1);
          if (line.listening) resolve();
          else listener.datagrams.push(line);
        }
      });
    });
    return listener;
  }

  /** The notifications proper, without systemd-notify's BARRIER=1 datagrams. */
  get messages(): string[] {
    return this.datagrams.map((d) => d.text).filter((t) => t !== 'BARRIER=1');
  }

  stop(): void {
    this.proc.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function captureLogger(): { logger: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

let listener: Listener | undefined;
let notifier: SystemdNotifier | undefined;
afterEach(() => {
  notifier?.stop();
  listener?.stop();
  notifier = undefined;
  listener = undefined;
});

describe('outside systemd', () => {
  test('without NOTIFY_SOCKET nothing is sent, spawned or logged', async () => {
    const { logger, lines } = captureLogger();
    notifier = new SystemdNotifier({ env: { WATCHDOG_USEC: '3000000' }, logger, command: '/nonexistent/systemd-notify' });
    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogIntervalMs).toBeUndefined();
    await notifier.ready('Ready');
    notifier.status('x');
    notifier.startWatchdog(() => true);
    await notifier.stopping();
    await notifier.idle();
    expect(lines).toEqual([]);
  });
});

describe('messages through systemd-notify', () => {
  test('READY=1 with its status comes first; queued statuses collapse to the latest', async () => {
    listener = await Listener.start();
    notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: listener.path } });
    expect(notifier.enabled).toBe(true);
    const ready = notifier.ready('Ready; terminal not connected (/dev/otcd-terminal)');
    notifier.status('first');
    notifier.status('second');
    notifier.status('Ready; terminal connected');
    await ready;
    await notifier.idle();
    expect(listener.messages).toEqual(['READY=1\nSTATUS=Ready; terminal not connected (/dev/otcd-terminal)', 'STATUS=Ready; terminal connected']);
    // each message waited on its barrier: the manager had read it before the next went out
    expect(listener.datagrams.map((d) => d.text)).toEqual([
      'READY=1\nSTATUS=Ready; terminal not connected (/dev/otcd-terminal)',
      'BARRIER=1',
      'STATUS=Ready; terminal connected',
      'BARRIER=1',
    ]);
  });

  test('STOPPING=1 carries the last status; a status line cannot inject assignments', async () => {
    listener = await Listener.start();
    notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: listener.path } });
    notifier.status('line one\nREADY=1');
    await notifier.stopping('Stopping: 1 payment in flight');
    await notifier.idle();
    expect(listener.messages).toEqual(['STATUS=line one READY=1', 'STOPPING=1\nSTATUS=Stopping: 1 payment in flight']);
  });

  test('status text is one bounded printable line', () => {
    expect(sanitizeStatus('  a\tb\r\nc\u0007 ')).toBe('a b c');
    expect(sanitizeStatus('x'.repeat(500))).toHaveLength(200);
  });

  test('a hung sender is killed after the timeout and the queue moves on', async () => {
    listener = await Listener.start('hold');
    const { logger, lines } = captureLogger();
    notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: listener.path }, logger, sendTimeoutMs: 300 });
    const started = Date.now();
    await notifier.ready('Ready');
    await notifier.stopping('Stopping');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(3_000);
    expect(listener.messages).toEqual(['READY=1\nSTATUS=Ready', 'STOPPING=1\nSTATUS=Stopping']);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      'systemd notification not delivered: no answer from systemd-notify within 300 ms',
      'systemd notification not delivered: no answer from systemd-notify within 300 ms',
    ]);
  });

  test('a missing sender is reported, never thrown', async () => {
    const { logger, lines } = captureLogger();
    notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/nowhere/notify' }, logger, command: '/nonexistent/systemd-notify' });
    await expect(notifier.ready('Ready')).resolves.toBeUndefined();
    expect(lines.map((l) => l.msg)).toEqual([expect.stringContaining('cannot run /nonexistent/systemd-notify')]);
  });
});

describe('watchdog', () => {
  test('the interval is a third of WATCHDOG_USEC, and only for the process it names', () => {
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' };
    expect(new SystemdNotifier({ env }).watchdogIntervalMs).toBe(10_000);
    expect(new SystemdNotifier({ env: { ...env, WATCHDOG_PID: String(process.pid) } }).watchdogIntervalMs).toBe(10_000);
    expect(new SystemdNotifier({ env: { ...env, WATCHDOG_PID: '1' } }).watchdogIntervalMs).toBeUndefined();
    expect(new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/systemd/notify' } }).watchdogIntervalMs).toBeUndefined();
    expect(new SystemdNotifier({ env: { ...env, WATCHDOG_USEC: 'x' } }).watchdogIntervalMs).toBeUndefined();
  });

  test('pings while healthy, withholds pings while not (logged once), resumes after', async () => {
    listener = await Listener.start();
    const { logger, lines } = captureLogger();
    // 600 ms watchdog: a ping every 200 ms
    notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '600000' }, logger });
    expect(notifier.watchdogIntervalMs).toBe(200);
    let healthy = true;
    notifier.startWatchdog(() => healthy);
    const l = listener;
    const pings = (): number => l.messages.filter((m) => m === 'WATCHDOG=1').length;
    await until(() => pings() >= 3);

    healthy = false;
    await sleep(250); // let a ping already in flight land
    const frozen = pings();
    await sleep(700); // three intervals
    expect(pings()).toBe(frozen);
    const unhealthyLogs = lines.filter((x) => x.level === 50);
    expect(unhealthyLogs).toHaveLength(1);
    expect(unhealthyLogs[0]?.msg).toContain('withholding watchdog pings');

    healthy = true;
    await until(() => pings() >= frozen + 2);
    expect(lines.filter((x) => x.level === 40).map((x) => x.msg)).toEqual(['daemon healthy again; watchdog pings resumed']);

    notifier.stop();
    await notifier.idle();
    const final = pings();
    await sleep(500);
    expect(pings()).toBe(final);
    expect(l.messages.every((m) => m === 'WATCHDOG=1')).toBe(true);
  });

  test('a health check that throws counts as unhealthy', async () => {
    listener = await Listener.start();
    const { logger, lines } = captureLogger();
    notifier = new SystemdNotifier({ env: { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '300000' }, logger });
    notifier.startWatchdog(() => {
      throw new Error('ledger unreadable');
    });
    await sleep(400);
    expect(listener.messages).toEqual([]);
    expect(lines.map((x) => x.msg)).toContain('watchdog health check threw; withholding the watchdog ping');
  });
});
