/**
 * provider-standin: the provider's OTC Inquiry on loopback, for tests,
 * benchmarks and demos. See scripts/provider-standin/server.ts.
 *
 * stdout carries one JSON line per event:
 *   {"ev":"ready","port":N,"caFile":"...","baseUrl":"https://127.0.0.1:N"}
 *   {"ev":"inquiry","authorizationId":"..","receivedAt":<epoch ms>,"scenario":"ok","status":200}
 * The track 2 it hands out is never printed.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_TRACK2, SCENARIOS, isScenario, startStandinServer } from './provider-standin/server.js';
import { makeSelfSignedCertificate } from './provider-standin/x509.js';

const HELP = `Usage: provider-standin [options]

An HTTPS stand-in for the provider's OTC Inquiry (POST /easycheck/merchant-otcs.do)
on 127.0.0.1, with a self-signed certificate (CN=localhost, SAN localhost, 127.0.0.1)
made at start. Prints JSON lines on stdout; exits 0 on SIGTERM or SIGINT.

Options:
  --port N               port to listen on (default 0: a free port)
  --cert-dir DIR         where to write cert.pem (the client's caFile) and key.pem
                         (default: a new temporary directory)
  --scenario NAME        default scenario (default ok); one of:
                         ${SCENARIOS.join(', ')}
                         An authorizationId "SCN-<name>-..." picks <name> for that inquiry.
  --slow-ms N            delay of the 'slow' scenario (default 3000)
  --track2 T2            track 2 to return (default: a made-up test track 2)
  --track2-for ID=T2     track 2 for one authorizationId (repeatable)
  --once-per-authorization
                         refuse a second inquiry for an authorizationId already
                         answered with an OTC (R103), as a provider might
  --help                 this text

GET /_standin/inquiries lists the inquiries received (JSON).
`;

function fail(message: string): never {
  process.stderr.write(`provider-standin: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '0' },
        'cert-dir': { type: 'string' },
        scenario: { type: 'string', default: 'ok' },
        'slow-ms': { type: 'string', default: '3000' },
        track2: { type: 'string', default: DEFAULT_TRACK2 },
        'track2-for': { type: 'string', multiple: true, default: [] },
        'once-per-authorization': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be 0..65535');
  const slowMs = Number(values['slow-ms']);
  if (!Number.isInteger(slowMs) || slowMs < 0) fail('--slow-ms must be a whole number of ms');
  const scenario = values.scenario;
  if (!isScenario(scenario)) fail(`unknown scenario '${scenario}'; one of ${SCENARIOS.join(', ')}`);
  const track2ByAuthorizationId = new Map<string, string>();
  for (const pair of values['track2-for']) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail('--track2-for takes ID=TRACK2');
    track2ByAuthorizationId.set(pair.slice(0, eq), pair.slice(eq + 1));
  }

  const certDir = values['cert-dir'] ?? mkdtempSync(join(tmpdir(), 'provider-standin-'));
  mkdirSync(certDir, { recursive: true });
  const { certPem, keyPem } = makeSelfSignedCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const caFile = join(certDir, 'cert.pem');
  writeFileSync(caFile, certPem);
  writeFileSync(join(certDir, 'key.pem'), keyPem, { mode: 0o600 });

  const emit = (line: object): void => {
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  // Signals are taken before the ready line: a SIGTERM right after it must find
  // the handler (without one, the default action kills with no exit code).
  const running: { close?: () => Promise<void> } = {};
  const stop = (): void => {
    void (running.close?.() ?? Promise.resolve()).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const server = await startStandinServer({
    port, host: '127.0.0.1', certPem, keyPem, scenario, slowMs, track2: values.track2, track2ByAuthorizationId,
    onceOnly: values['once-per-authorization'],
    onInquiry: (r) => emit({ ev: 'inquiry', ...r }),
  });
  running.close = () => server.close();
  emit({ ev: 'ready', port: server.port, caFile, baseUrl: `https://127.0.0.1:${server.port}` });
}

main().catch((e: unknown) => fail((e as Error).message));
