/**
 * The real daemon, as startDaemon starts it (otcd's node flags and
 * environment), plus a heap snapshot on SIGUSR2 written to a known folder,
 * keeping every byte it writes to stdout and stderr as raw Buffers: a leak
 * may not be valid UTF-8 text.
 */
import { startDaemon, type DaemonProcess } from '../testkit/stack.js';

export interface CapturedDaemon extends DaemonProcess {
  stdout: Buffer[];
  stderr: Buffer[];
}

export function startCapturedDaemon(configPath: string, diagnosticDir: string): CapturedDaemon {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const daemon = startDaemon(configPath, {
    nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${diagnosticDir}`],
    // The daemon's own default format (no OTCD_LOG_FORMAT), as a technician's run would have it.
    env: { OTCD_LOG_FORMAT: undefined },
    onOutput: (chunk, stream) => (stream === 'stdout' ? stdout : stderr).push(chunk),
  });
  return { ...daemon, stdout, stderr };
}
