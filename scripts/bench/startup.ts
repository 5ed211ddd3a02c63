/**
 * Start to READY: spawn the daemon as systemd would (NOTIFY_SOCKET set) and
 * time spawn -> the READY=1 datagram on our socket, and spawn -> the intent
 * socket accepting a connection. The daemon is stopped (SIGTERM, waited for)
 * between runs; the state directory and its ledger carry over, as on a kiosk.
 */
import { spawnOtcd, socketAcceptingAt } from './otcd-process.js';
import type { NotifyListener } from './notify-listener.js';

export interface StartupTimes {
  readyMs: number[];
  socketMs: number[];
}

const START_TIMEOUT_MS = 30_000;

export async function measureStartup(configPath: string, socketPath: string, listener: NotifyListener, runs: number): Promise<StartupTimes> {
  const readyMs: number[] = [];
  const socketMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const ready = listener.next('READY=1', START_TIMEOUT_MS);
    ready.catch(() => undefined); // awaited below; a failure before then is reported once
    const started = performance.now();
    const daemon = spawnOtcd(configPath, { notifySocket: listener.path });
    let times: number[];
    try {
      times = await Promise.all([socketAcceptingAt(socketPath, daemon, START_TIMEOUT_MS), ready]);
    } catch (err) {
      await daemon.kill();
      throw err;
    }
    socketMs.push(times[0] - started);
    readyMs.push(times[1] - started);
    const code = await daemon.stop();
    if (code !== 0) throw new Error(`otcd stopped with exit code ${code} after start-up run ${i + 1}:\n${daemon.log.join('\n')}`);
  }
  return { readyMs, socketMs };
}
