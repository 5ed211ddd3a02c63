/**
 * Talking to otcd for one command: connect with the messages IntentClient
 * gives (daemon not running, permission denied: shown as they are, exit 3),
 * and requests that cannot hang on a stuck daemon.
 */
import { systemClock, type Clock } from '../../drivers/clock.js';
import { ClientError, IntentClient, type DaemonMessage } from '../client/intent-client.js';
import { CliError } from './errors.js';
import { EXIT } from './exit-codes.js';
import type { Target } from './target.js';

/** How long a health or ping answer may take; otcd answers health at once. */
export const REQUEST_TIMEOUT_MS = 10_000;

export async function connectDaemon(target: Target): Promise<IntentClient> {
  try {
    return await IntentClient.connect(target.path);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof ClientError ? err.code : 'CONNECT_FAILED';
    throw new CliError(EXIT.UNREACHABLE, code, target.note ? `${message}\n${target.note}` : message, { cause: err });
  }
}

/** One request and its reply (or error message), or exit 3 if otcd does not answer in time. */
export async function requestWithin(client: IntentClient, body: Record<string, unknown>, timeoutMs = REQUEST_TIMEOUT_MS, clock: Clock = systemClock): Promise<DaemonMessage> {
  let timer: { cancel(): void } | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(new CliError(EXIT.UNREACHABLE, 'NO_ANSWER',
      `otcd did not answer "${String(body.op)}" within ${timeoutMs / 1000} s: is it stuck? (journalctl -u otcd)`)), timeoutMs);
  });
  try {
    return await Promise.race([client.request(body), timeout]);
  } catch (err) {
    if (err instanceof ClientError) throw new CliError(EXIT.UNREACHABLE, err.code, `${err.message} before answering "${String(body.op)}"`, { cause: err });
    throw err;
  } finally {
    timer?.cancel();
  }
}

/** An `error` message from otcd as the command's failure (exit 1). */
export function daemonRefused(m: DaemonMessage): CliError {
  const code = typeof m.code === 'string' ? m.code : 'ERROR';
  const message = typeof m.message === 'string' ? m.message : 'otcd answered with an error';
  return new CliError(EXIT.NOT_APPROVED, code, `otcd: ${code}: ${message}`);
}
