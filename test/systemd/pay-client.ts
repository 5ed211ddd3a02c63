/**
 * The kiosk application's side, for the systemd test: runs inside the
 * container, talks to otcd's intent socket, prints one JSON line per result.
 *
 *   pay-client.js SOCKET wait-terminal [TIMEOUT_MS]
 *   pay-client.js SOCKET pay INTENT_ID AUTHORIZATION_ID AMOUNT [TIMEOUT_MS]
 *   pay-client.js SOCKET flow SECONDS INTERVAL_MS PREFIX
 *   pay-client.js SOCKET get INTENT_ID
 * Exit 0 when the outcome is the expected one (approved; for get: found).
 */
import { IntentClient, type DaemonMessage } from '../../daemon/client/intent-client.js';

/** Ends in 000: the simulator approves it (other endings pick its fault scenarios). */
const FLOW_AMOUNT = 12000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const out = (o: unknown): void => console.log(JSON.stringify(o));

async function pay(socket: string, intentId: string, authorizationId: string, amount: number, timeoutMs: number): Promise<DaemonMessage & { ms: number }> {
  const started = Date.now();
  const client = await IntentClient.connect(socket);
  try {
    const reply = await client.request({ op: 'pay', intentId, authorizationId, amount, installment: 0 });
    if (reply.type === 'error') return { ...reply, state: 'refused', ms: Date.now() - started };
    const final = await client.finalEvent(intentId, timeoutMs);
    return { ...final, ms: Date.now() - started };
  } finally {
    client.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [socket, cmd, ...args] = argv;
  if (!socket || !cmd) throw new Error('usage: pay-client.js SOCKET wait-terminal|pay|flow|get ...');
  switch (cmd) {
    case 'wait-terminal': {
      const until = Date.now() + Number(args[0] ?? 30_000);
      while (Date.now() < until) {
        try {
          const client = await IntentClient.connect(socket);
          const reply = await client.request({ op: 'health' });
          client.close();
          const health = reply.health as { terminal?: { link?: string } } | undefined;
          if (health?.terminal?.link === 'up') {
            out({ terminal: 'up' });
            return 0;
          }
        } catch {
          // not up yet
        }
        await sleep(100);
      }
      out({ terminal: 'not up' });
      return 1;
    }
    case 'pay': {
      const [intentId, auth, amount, timeout] = args;
      const r = await pay(socket, intentId as string, auth as string, Number(amount), Number(timeout ?? 60_000));
      out({ intentId: r.intentId ?? intentId, state: r.state, code: r.code, ms: r.ms });
      return r.state === 'approved' ? 0 : 1;
    }
    case 'flow': {
      const [seconds, interval, prefix] = args;
      const until = Date.now() + Number(seconds) * 1000;
      const states: Record<string, number> = {};
      let n = 0;
      let worstMs = 0;
      while (Date.now() < until) {
        n += 1;
        let state: string;
        try {
          const r = await pay(socket, `${prefix}-${n}`, `${prefix.toUpperCase()}-AUTH-${n}`, FLOW_AMOUNT, 60_000);
          state = String(r.state);
          worstMs = Math.max(worstMs, r.ms);
        } catch (err) {
          state = `client-error:${(err as Error).message}`;
        }
        states[state] = (states[state] ?? 0) + 1;
        await sleep(Number(interval));
      }
      const approved = states.approved ?? 0;
      out({ payments: n, approved, states, worstMs });
      return approved === n ? 0 : 1;
    }
    case 'get': {
      const client = await IntentClient.connect(socket);
      const reply = await client.request({ op: 'get', intentId: args[0] });
      client.close();
      out(reply);
      return reply.type === 'reply' ? 0 : 1;
    }
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`pay-client: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
