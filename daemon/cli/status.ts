/** `otcctl status`: what otcd says about itself (the `health` op). */
import type { HealthView } from '../payments/model.js';
import { SOCKET_OPTIONS, SOCKET_OPTIONS_HELP, type Command } from './command.js';
import { connectDaemon, daemonRefused, requestWithin } from './daemon-link.js';
import { CliError } from './errors.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { formatDuration, formatFields, formatGrid, formatWhen, printable } from './format.js';
import { socketTarget } from './target.js';
import { healthView } from './views.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'version, uptime, terminal link, provider, keys, running payment',
  help: `usage: otcctl status [--socket PATH] [--config FILE] [--json]

Asks otcd for its health: version and uptime; the terminal link (up/down,
terminal id, last PONG) and its counters; the provider API (last success,
last error); the RSA key pairs ready; the payment running now, if any.

options:
${SOCKET_OPTIONS_HELP}

--json prints {"socket": PATH, "health": {...}} with the daemon's health fields.

${EXIT_CODES_HELP}`,
  options: SOCKET_OPTIONS,
  async run({ values, output, env }) {
    const target = socketTarget(values, env);
    const client = await connectDaemon(target);
    try {
      const reply = await requestWithin(client, { op: 'health' });
      if (reply.type === 'error') throw daemonRefused(reply);
      const health = healthView(reply.health);
      if (!health) throw new CliError(EXIT.INTERNAL, 'BAD_REPLY', 'otcd answered "health" with something otcctl does not understand (version mismatch?)');
      output.out(values.json ? JSON.stringify({ socket: target.path, health }) : renderStatus(health, Date.now()));
      return EXIT.OK;
    } finally {
      client.close();
    }
  },
};

/** One label column for both blocks around the counters. */
const LABEL_WIDTH = 'last error'.length;

export function renderStatus(h: HealthView, nowMs: number): string {
  const t = h.terminal;
  const link = t.link === 'up'
    ? `up, ${t.terminalId ? printable(t.terminalId) : 'terminal id not known yet'} at ${printable(t.address)}`
    : `DOWN (${printable(t.address)})`;
  const counters = Object.entries(t.counters).map(([name, n]) => `${name} ${n}`);
  const p = h.provider;
  const lastError = p.lastError
    ? `${printable(p.lastError.code)}: ${printable(p.lastError.message)}, ${formatWhen(p.lastError.at, nowMs)}`
    : 'none';
  const payment = h.payment
    ? `${printable(h.payment.intentId)}: ${h.payment.state}, attempt ${h.payment.attempt}${h.payment.deadline ? `, window ends ${formatWhen(h.payment.deadline, nowMs)}` : ''}`
    : 'none';
  const lines = [
    formatFields([
      ['otcd', `${printable(h.version)}, up ${formatDuration(h.uptimeS)}`],
      ['terminal', link],
      ['last PONG', formatWhen(t.lastPong, nowMs)],
    ], LABEL_WIDTH),
    formatGrid(counters, '  '),
    formatFields([
      ['provider', printable(p.baseUrl)],
      ['last ok', formatWhen(p.lastSuccess, nowMs)],
      ['last error', lastError],
      ['keys', `${h.keys.ready} ready`],
      ['payment', payment],
    ], LABEL_WIDTH),
  ];
  return lines.filter((l) => l.length > 0).join('\n');
}
