/**
 * The real daemon started as systemd starts it: NOTIFY_SOCKET pointing at our
 * listener and, for the long-lived run, WATCHDOG_USEC as otcd.service sets it
 * (WatchdogSec=30s), so READY, STATUS= and the watchdog pings cost what they
 * cost on a kiosk. (scripts/testkit/stack.ts clears NOTIFY_SOCKET; this does not.)
 */
import { connect } from 'node:net';
import { startDaemon, type DaemonProcess } from '../testkit/stack.js';

/** otcd.service: WatchdogSec=30s. */
export const UNIT_WATCHDOG_USEC = 30_000_000;

export interface SpawnOptions {
  notifySocket: string;
  watchdogUsec?: number;
  onLog?: (line: string) => void;
}

export function spawnOtcd(configPath: string, opts: SpawnOptions): DaemonProcess {
  return startDaemon(configPath, {
    onLog: opts.onLog,
    env: {
      NOTIFY_SOCKET: opts.notifySocket,
      WATCHDOG_PID: undefined,
      WATCHDOG_USEC: opts.watchdogUsec !== undefined ? String(opts.watchdogUsec) : undefined,
    },
  });
}

/** performance.now() at the first successful connect to `path`, polled every `everyMs`. */
export async function socketAcceptingAt(path: string, daemon: DaemonProcess, timeoutMs: number, everyMs = 2): Promise<number> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (daemon.process.exitCode !== null || daemon.process.signalCode !== null) {
      throw new Error(`otcd exited before its socket was up:\n${daemon.log.join('\n')}`);
    }
    const at = await new Promise<number | undefined>((resolve) => {
      const socket = connect(path);
      socket.once('connect', () => { const t = performance.now(); socket.destroy(); resolve(t); });
      socket.once('error', () => resolve(undefined));
    });
    if (at !== undefined) return at;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`otcd's socket ${path} did not accept within ${timeoutMs} ms:\n${daemon.log.join('\n')}`);
}
