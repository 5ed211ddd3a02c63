import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { OtcClient, ProviderError, RsaOtcKeyPair } from '../../daemon/provider/index.js';
import { startProviderStandin, type RunningStandin } from '../../scripts/testkit/provider-standin.js';

/** A minimal CONNECT proxy, as a partner's egress proxy would be; refuses tunnels to port 1. */
function startProxy(): Promise<{ server: Server; url: string; tunnels: string[]; destroyTunnels: () => void }> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    sockets.add(client);
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    if (port === '1') {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    sockets.add(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  // A tunnel leaves the HTTP server's hands (closeAllConnections does not see it) and a
  // keep-alive TLS session can hold it open: close() would wait for it.
  const destroyTunnels = (): void => sockets.forEach((s) => s.destroy());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ server, url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`, tunnels, destroyTunnels });
  }));
}

let standin: RunningStandin;
let proxy: Awaited<ReturnType<typeof startProxy>>;
beforeAll(async () => {
  [standin, proxy] = await Promise.all([startProviderStandin(), startProxy()]);
});
afterAll(async () => {
  proxy.destroyTunnels();
  proxy.server.closeAllConnections();
  await new Promise((r) => proxy.server.close(r));
  await standin.stop();
});

describe('OtcClient through an egress proxy (hpagent, CONNECT)', () => {
  test('inquires through the tunnel with TLS verified end to end', async () => {
    const key = await RsaOtcKeyPair.generate();
    const c = new OtcClient({ baseUrl: standin.baseUrl, caFile: standin.caFile, proxy: proxy.url });
    const answer = await c.inquire(`PROXY-${process.pid}-1`, key.publicKeyBase64);
    expect(key.decryptTrack2(answer.encOtc).toString('latin1')).toBe('9410123456789012=30121011234567890123');
    expect(proxy.tunnels).toContain(new URL(standin.baseUrl).host);
  });

  test('the response timer starts only after the TLS handshake through the tunnel', async () => {
    const key = await RsaOtcKeyPair.generate();
    const c = new OtcClient({ baseUrl: standin.baseUrl, caFile: standin.caFile, proxy: proxy.url, timeouts: { connectMs: 3000, responseMs: 300, totalMs: 5000 } });
    const err = await c.inquire(`SCN-hang-proxy-${process.pid}`, key.publicKeyBase64).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ code: 'TIMEOUT', phase: 'response', retryable: false, attempts: 1 });
  });

  test('a tunnel the proxy refuses: UNREACHABLE, retried (nothing reached the provider)', async () => {
    const key = await RsaOtcKeyPair.generate();
    const before = proxy.tunnels.length;
    const c = new OtcClient({ baseUrl: 'https://127.0.0.1:1', proxy: proxy.url, retries: 1, backoff: { initialMs: 10, maxMs: 10 } });
    const err = await c.inquire(`PROXY-${process.pid}-2`, key.publicKeyBase64).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNREACHABLE', retryable: true, attempts: 2 });
    expect(proxy.tunnels.length - before).toBe(2);
  });
});
