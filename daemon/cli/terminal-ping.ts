/** `otcctl terminal ping`: one PING to the card terminal through otcd's link. */
import { SOCKET_OPTIONS, SOCKET_OPTIONS_HELP, type Command } from './command.js';
import { connectDaemon, daemonRefused, requestWithin } from './daemon-link.js';
import { CliError } from './errors.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { printable } from './format.js';
import { socketTarget } from './target.js';
import { pingView } from './views.js';

/** The daemon bounds the PING with its own ACK/answer timeouts; this only guards a stuck daemon. */
const PING_TIMEOUT_MS = 15_000;

export const terminalPingCommand: Command = {
  name: 'terminal ping',
  summary: 'PING the card terminal through otcd, with the round trip',
  help: `usage: otcctl terminal ping [--socket PATH] [--config FILE] [--json]

Sends a PING to the card terminal over otcd's own link (otcd owns the serial
line; nothing else may open it) and prints the terminal's id, its state and
the round-trip time. A terminal that does not answer ends with exit 1.

options:
${SOCKET_OPTIONS_HELP}

--json prints {"socket": PATH, "ping": {"terminalId", "state", "rttMs"}}.

${EXIT_CODES_HELP}`,
  options: SOCKET_OPTIONS,
  async run({ values, output, env }) {
    const target = socketTarget(values, env);
    const client = await connectDaemon(target);
    try {
      const reply = await requestWithin(client, { op: 'terminal.ping' }, PING_TIMEOUT_MS);
      if (reply.type === 'error') throw daemonRefused(reply);
      const ping = pingView(reply.ping);
      if (!ping) throw new CliError(EXIT.INTERNAL, 'BAD_REPLY', 'otcd answered "terminal.ping" with something otcctl does not understand (version mismatch?)');
      output.out(values.json
        ? JSON.stringify({ socket: target.path, ping })
        : `PONG from terminal ${printable(ping.terminalId) || '(no id)'} (state ${printable(ping.state) || '?'}) in ${ping.rttMs.toFixed(1)} ms`);
      return EXIT.OK;
    } finally {
      client.close();
    }
  },
};
