/**
 * Why a `terminal.ping` failed, as an error of the intent socket. Each known
 * condition of the terminal driver has its own code and a message saying
 * what to check (fitting the transport): it is not a fault of the daemon.
 * Codes added to v1's error codes (an additive extension, README):
 * - TERMINAL_UNAVAILABLE: the link is down (port not open, or lost);
 * - TERMINAL_NOT_ANSWERING: the port is open but the terminal sent no ACK or
 *   no PONG in time;
 * - TERMINAL_REJECTED: the terminal called the PING not valid.
 */
import { isOtcdError } from '../../drivers/errors.js';
import { linkHint, silenceHint } from '../../drivers/transport/open-transport.js';
import { IntentError } from '../payments/model.js';

export function pingFailure(err: unknown, address: string): IntentError | undefined {
  if (!isOtcdError(err)) return undefined;
  switch (err.code) {
    case 'LINK_DOWN':
      return new IntentError('TERMINAL_UNAVAILABLE', `the terminal link is down at ${address} (otcd keeps reconnecting): ${linkHint(address)}`);
    case 'LINK_FAILED':
    case 'NO_ANSWER':
      return new IntentError('TERMINAL_NOT_ANSWERING', `the terminal at ${address} did not answer the PING (the port is open; ${lowerFirst(err.message)}): ${silenceHint(address)}`);
    case 'INVALID':
      return new IntentError('TERMINAL_REJECTED', `the terminal at ${address} refused the PING as not valid (${err.message}): its protocol may not be ecr1`);
    case 'LINK_CLOSED':
      return new IntentError('SHUTTING_DOWN', 'otcd is stopping: the terminal driver is closed');
    default:
      return undefined;
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
