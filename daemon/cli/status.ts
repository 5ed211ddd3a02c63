/** `otcctl status`: what otcd says about itself (the `health` op). */
import { SOCKET_OPTIONS, SOCKET_OPTIONS_HELP, type Command } from './command.js';
import { connectDaemon, daemonRefused, requestWithin } from './daemon-link.js';
import { CliError } from './errors.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { formatDuration, formatFields, formatGrid, formatWhen, printable } from './format.js';
import { socketTarget } from './target.js';
import { statusVerdict, type Verdict } from './status-verdict.js';
import { healthView, type StatusHealth } from './views.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'version, uptime, terminal link, provider, keys, running payment; exit 4 if degraded',
  help: `usage: otcctl status [--socket PATH] [--config FILE] [--json]

Asks otcd for its health: version and uptime; the terminal link (up, down or
not answering; terminal id, last PONG) and its counters; the provider API
(last success, last error); the RSA key pairs ready; the payment running
now, if any; then the verdict, like \`systemctl is-system-running\`:

  state OK        exit 0: nothing needs a person
  state DEGRADED  exit 4: otcd runs, but one or more of these needs a person,
                  each printed with what to do:
                  - the terminal link is down, or the terminal does not answer;
                  - the provider's last OTC inquiry failed and none has
                    succeeded since;
                  - payments with an unknown outcome wait for reconciliation
                    with the acquirer (otcctl payments --unresolved);
                  - voids with an unknown outcome: the money may not have
                    gone back (otcctl payments --unresolved)
  (otcd not reachable: exit 3)

options:
${SOCKET_OPTIONS_HELP}

--json prints {"socket": PATH, "health": {...}, "verdict": {"state": "ok"|"degraded",
"reasons": [{"code", "message"}]}}; reason codes: TERMINAL_DOWN,
TERMINAL_NOT_ANSWERING, PROVIDER_FAILING, UNRESOLVED_PAYMENTS,
UNRESOLVED_VOIDS.

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
      const verdict = statusVerdict(health);
      output.out(values.json ? JSON.stringify({ socket: target.path, health, verdict }) : renderStatus(health, Date.now(), verdict));
      return verdict.state === 'ok' ? EXIT.OK : EXIT.DEGRADED;
    } finally {
      client.close();
    }
  },
};

/** One label column for both blocks around the counters. */
const LABEL_WIDTH = 'last error'.length;

export function renderStatus(h: StatusHealth, nowMs: number, verdict: Verdict = statusVerdict(h)): string {
  const t = h.terminal;
  const link = t.link === 'up'
    ? `up, ${t.terminalId ? printable(t.terminalId) : 'terminal id not known yet'} at ${printable(t.address)}`
    : t.link === 'not_answering' ? `NOT ANSWERING (port open at ${printable(t.address)})` : `DOWN (${printable(t.address)})`;
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
      ...(h.unresolved ? [['unresolved', String(h.unresolved.count)] as [string, string]] : []),
      ...(h.unresolvedVoids ? [['voids', `${h.unresolvedVoids.count} with an unknown outcome`] as [string, string]] : []),
      ['state', verdict.state === 'ok' ? 'OK' : `DEGRADED (${verdict.reasons.length} thing(s) to fix)`],
    ], LABEL_WIDTH),
    ...verdict.reasons.map((r) => `  - ${printable(r.message)}`),
  ];
  return lines.filter((l) => l.length > 0).join('\n');
}
