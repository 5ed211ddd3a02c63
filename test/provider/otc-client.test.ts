import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Agent as HttpsAgent } from 'node:https';
import { readFileSync } from 'node:fs';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import got from 'got';
import pino from 'pino';
import { Writable } from 'node:stream';
import iconv from 'iconv-lite';
import { ManualClock } from '../../drivers/clock.js';
import { OtcClient, ProviderError, RsaOtcKeyPair, type OtcAnswer } from '../../daemon/provider/index.js';
import { makeSelfSignedCertificate } from '../../scripts/provider-standin/x509.js';
import { startProviderStandin, type RunningStandin } from '../../scripts/testkit/provider-standin.js';

const TRACK2 = '9410123456789012=30121011234567890123';
const OTHER_TRACK2 = '4000000000000002=2912201';
let standin: RunningStandin;
let key: RsaOtcKeyPair;
let seq = 0;
const id = (prefix = 'AUTH'): string => `${prefix}-${process.pid}-${++seq}`;

beforeAll(async () => {
  [standin, key] = await Promise.all([
    startProviderStandin({ args: ['--slow-ms', '1500', '--once-per-authorization', '--track2-for', `AUTH-special=${OTHER_TRACK2}`] }),
    RsaOtcKeyPair.generate(),
  ]);
});
afterAll(async () => {
  await standin.stop();
});

const client = (extra: Partial<ConstructorParameters<typeof OtcClient>[0]> = {}): OtcClient => new OtcClient({
  baseUrl: standin.baseUrl,
  caFile: standin.caFile,
  timeouts: { connectMs: 3000, responseMs: 5000, totalMs: 10_000 },
  backoff: { initialMs: 20, maxMs: 50 },
  ...extra,
});

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProviderError);
    return e as ProviderError;
  }
  throw new Error('expected the inquiry to fail');
}

/** What the stand-in itself recorded for one authorizationId (its HTTP list, not the trailing stdout lines). */
const seenFor = async (authorizationId: string): Promise<Array<{ scenario: string; status: number }>> =>
  (await standin.fetchInquiries()).filter((r) => r.authorizationId === authorizationId);

describe('OtcClient against the stand-in over HTTPS', () => {
  test('ok: answers, echoes, and the OTC decrypts to the track 2', async () => {
    const c = client();
    const authorizationId = id();
    const before = Date.now();
    const answer: OtcAnswer = await c.inquire(authorizationId, key.publicKeyBase64);
    expect(answer.resCd).toBe('0000');
    expect(answer.resMsg).toBe('정상처리되었습니다');
    expect(answer.shopParameter).toBe('키오스크 3번');
    expect(answer.authorizationId).toBe(authorizationId);
    expect(key.decryptTrack2(answer.encOtc).toString('latin1')).toBe(TRACK2);
    expect(c.lastSuccessAt).toBeGreaterThanOrEqual(before);
    expect(await seenFor(authorizationId)).toEqual([expect.objectContaining({ scenario: 'ok', status: 200 })]);
  });

  test('a per-authorizationId track 2', async () => {
    const pair = await RsaOtcKeyPair.generate();
    const answer = await client().inquire('AUTH-special', pair.publicKeyBase64);
    expect(pair.decryptTrack2(answer.encOtc).toString('latin1')).toBe(OTHER_TRACK2);
  });

  test('sentinels: the OTC decrypts and is normalised', async () => {
    const answer = await client().inquire(id('SCN-sentinels'), key.publicKeyBase64);
    expect(key.decryptTrack2(answer.encOtc).toString('latin1')).toBe(TRACK2);
  });

  test.each(['wrong-key', 'bad-track2'])('%s: the answer is fine, the OTC is BAD_OTC', async (scenario) => {
    const answer = await client().inquire(id(`SCN-${scenario}`), key.publicKeyBase64);
    expect(() => key.decryptTrack2(answer.encOtc)).toThrow(expect.objectContaining({ code: 'BAD_OTC' }));
  });

  test('api-error: API_ERROR with the Korean resMsg, not retried', async () => {
    const authorizationId = id('SCN-api-error');
    const c = client();
    const err = await rejection(c.inquire(authorizationId, key.publicKeyBase64));
    expect(err).toMatchObject({ code: 'API_ERROR', resCd: 'R102', resMsg: '거래인증 정보가 존재하지 않습니다', retryable: false, attempts: 1 });
    expect(c.lastError).toMatchObject({ code: 'API_ERROR' });
    expect(await seenFor(authorizationId)).toHaveLength(1);
  });

  test.each([
    ['http-500', 'HTTP_STATUS', { status: 500 }],
    ['malformed-json', 'BAD_ANSWER', {}],
    ['wrong-echo', 'BAD_ANSWER', {}],
    ['over-long', 'BAD_ANSWER', {}],
  ])('%s -> %s, not retried', async (scenario, code, fields) => {
    const authorizationId = id(`SCN-${scenario}`);
    const err = await rejection(client().inquire(authorizationId, key.publicKeyBase64));
    expect(err).toMatchObject({ code, retryable: false, attempts: 1, ...fields });
    expect(await seenFor(authorizationId)).toHaveLength(1);
  });

  test('slow within the response timeout: answered', async () => {
    const answer = await client().inquire(id('SCN-slow'), key.publicKeyBase64);
    expect(answer.resCd).toBe('0000');
  });

  test('slow beyond the response timeout: TIMEOUT (response), never repeated', async () => {
    const authorizationId = id('SCN-slow');
    const started = Date.now();
    const err = await rejection(client({ timeouts: { responseMs: 300 } }).inquire(authorizationId, key.publicKeyBase64));
    expect(err).toMatchObject({ code: 'TIMEOUT', phase: 'response', retryable: false, attempts: 1 });
    expect(Date.now() - started).toBeLessThan(1400);
    expect(await seenFor(authorizationId)).toHaveLength(1);
  });

  test('hang: TIMEOUT within the configured response timeout', async () => {
    const authorizationId = id('SCN-hang');
    const started = Date.now();
    const err = await rejection(client({ timeouts: { connectMs: 2000, responseMs: 400, totalMs: 5000 } }).inquire(authorizationId, key.publicKeyBase64));
    const elapsed = Date.now() - started;
    expect(err).toMatchObject({ code: 'TIMEOUT', phase: 'response', attempts: 1 });
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(3000);
    expect(await seenFor(authorizationId)).toEqual([expect.objectContaining({ scenario: 'hang', status: 0 })]);
  });

  test('hang: the timers run on the injected clock', async () => {
    const clock = new ManualClock();
    const authorizationId = id('SCN-hang');
    const pending = rejection(client({ clock, timeouts: { connectMs: 5000, responseMs: 30_000, totalMs: 35_000 } }).inquire(authorizationId, key.publicKeyBase64));
    await standin.waitForInquiries(standin.inquiries().length + 1);
    await clock.advance(29_999);
    expect(await seenFor(authorizationId)).toHaveLength(1);
    await clock.advance(1);
    expect(await pending).toMatchObject({ code: 'TIMEOUT', phase: 'response' });
  });

  test('the total timeout caps the inquiry', async () => {
    const err = await rejection(client({ timeouts: { connectMs: 2000, responseMs: 5000, totalMs: 300 } }).inquire(id('SCN-hang'), key.publicKeyBase64));
    expect(err).toMatchObject({ code: 'TIMEOUT', phase: 'total', retryable: false });
  });

  test('a repeated inquiry is refused by the stand-in as a duplicate (why the client never repeats one that may have arrived)', async () => {
    const authorizationId = id();
    await client().inquire(authorizationId, key.publicKeyBase64);
    const err = await rejection(client().inquire(authorizationId, key.publicKeyBase64));
    expect(err).toMatchObject({ code: 'API_ERROR', resCd: 'R103' });
  });

  test('an aborted inquiry rejects with ABORTED', async () => {
    const controller = new AbortController();
    const pending = rejection(client().inquire(id('SCN-hang'), key.publicKeyBase64, { signal: controller.signal }));
    await standin.waitForInquiries(standin.inquiries().length + 1);
    controller.abort();
    expect(await pending).toMatchObject({ code: 'ABORTED' });
  });

  test('inquiry timings: from before the request to the answer or failure, on the injected clock; none for an aborted one', async () => {
    const timings: Array<{ ms: number; code?: string }> = [];
    const ok = client();
    ok.onInquiryDone((t) => timings.push(t));
    await ok.inquire(id(), key.publicKeyBase64);
    expect(timings).toEqual([{ ms: expect.any(Number) }]);
    expect(timings[0].ms).toBeGreaterThan(0);

    const clock = new ManualClock();
    const hung = client({ clock, timeouts: { connectMs: 5000, responseMs: 30_000, totalMs: 35_000 } });
    hung.onInquiryDone((t) => timings.push(t));
    const hangId = id('SCN-hang');
    const pending = rejection(hung.inquire(hangId, key.publicKeyBase64));
    // Until the stand-in holds this very request (stdout lines of earlier tests may trail).
    while ((await seenFor(hangId)).length === 0) await new Promise((r) => setTimeout(r, 20));
    await clock.advance(30_000);
    expect(await pending).toMatchObject({ code: 'TIMEOUT' });
    expect(timings[1]).toEqual({ ms: 30_000, code: 'TIMEOUT' });

    const controller = new AbortController();
    const abortId = id('SCN-hang');
    const aborted = rejection(hung.inquire(abortId, key.publicKeyBase64, { signal: controller.signal }));
    while ((await seenFor(abortId)).length === 0) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    expect(await aborted).toMatchObject({ code: 'ABORTED' });
    expect(timings).toHaveLength(2);
  });

  test('the stand-in refuses a body without charset=euc-kr with 415', async () => {
    const res = await got.post(`${standin.baseUrl}/easycheck/merchant-otcs.do`, {
      body: JSON.stringify({ authorizationId: id(), publicKey: key.publicKeyBase64 }),
      headers: { 'content-type': 'application/json' },
      throwHttpErrors: false,
      retry: { limit: 0 },
      agent: { https: new HttpsAgent({ ca: readFileSync(standin.caFile) }) },
    });
    expect(res.statusCode).toBe(415);
  });

  test('the stand-in checks the request fields and answers in Korean', async () => {
    const err = await rejection(client().inquire(id(), Buffer.alloc(294, 1).toString('base64')));
    expect(err).toMatchObject({ code: 'API_ERROR', resCd: 'R002', resMsg: '공개키 형식이 올바르지 않습니다' });
  });
});

describe('OtcClient transport failures', () => {
  test('a server whose certificate is not trusted: TLS, not retried', async () => {
    const c = new OtcClient({ baseUrl: standin.baseUrl, retries: 2, backoff: { initialMs: 10 } });
    const authorizationId = id();
    const err = await rejection(c.inquire(authorizationId, key.publicKeyBase64));
    expect(err).toMatchObject({ code: 'TLS', retryable: false, attempts: 1 });
    expect(await seenFor(authorizationId)).toEqual([]);
  });

  test('a refused port: UNREACHABLE after 1 + retries attempts', async () => {
    const port = await freePort();
    const err = await rejection(new OtcClient({ baseUrl: `https://127.0.0.1:${port}`, retries: 3, backoff: { initialMs: 10, maxMs: 20 } }).inquire(id(), key.publicKeyBase64));
    expect(err).toMatchObject({ code: 'UNREACHABLE', retryable: true, attempts: 4 });
    expect(err.message).toContain('ECONNREFUSED');
  });

  test('the deadline stops retries', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const c = new OtcClient({ baseUrl: `https://127.0.0.1:${port}`, retries: 5, clock, backoff: { initialMs: 1000, maxMs: 1000 } });
    const err = await rejection(c.inquire(id(), key.publicKeyBase64, { deadline: clock.now() + 100 }));
    expect(err).toMatchObject({ code: 'UNREACHABLE', attempts: 1 });
  });

  test('retries wait out the backoff on the injected clock, while the deadline allows', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const c = new OtcClient({ baseUrl: `https://127.0.0.1:${port}`, retries: 5, clock, backoff: { initialMs: 1000, maxMs: 1000 } });
    let settled: ProviderError | undefined;
    void rejection(c.inquire(id(), key.publicKeyBase64, { deadline: clock.now() + 1400 })).then((e) => { settled = e; });
    // Each backoff is 500..1000 ms (half jitter): the first retry always fits
    // a 1400 ms deadline, a third attempt (at >= 1000 ms) leaves no room for another.
    for (let i = 0; i < 60 && settled === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      await clock.advance(100);
    }
    expect(settled).toMatchObject({ code: 'UNREACHABLE' });
    expect(settled!.attempts).toBeGreaterThanOrEqual(2);
    expect(settled!.attempts).toBeLessThanOrEqual(3);
    expect(clock.now()).toBeLessThanOrEqual(1400 + 100);
  });

  describe('servers that misbehave at the socket level', () => {
    let silent: NetServer;
    let resetter: TlsServer;
    let requestsSeenByResetter = 0;
    let handshakesAtSilent = 0;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      silent = createNetServer((s) => {
        handshakesAtSilent++;
        sockets.add(s); // accepts TCP, never speaks TLS
      });
      const { certPem, keyPem } = makeSelfSignedCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      resetter = createTlsServer({ cert: certPem, key: keyPem }, (s) => {
        s.once('data', () => {
          requestsSeenByResetter++;
          s.destroy();
        });
      });
      (resetter as unknown as { caPem: string }).caPem = certPem;
      await Promise.all([listen(silent), listen(resetter)]);
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([close(silent), close(resetter)]);
    });

    test('no TLS handshake: TIMEOUT (connect), retried because nothing was sent', async () => {
      const c = new OtcClient({ baseUrl: `https://127.0.0.1:${portOf(silent)}`, retries: 1, timeouts: { connectMs: 300, responseMs: 5000, totalMs: 5000 }, backoff: { initialMs: 10, maxMs: 10 } });
      const err = await rejection(c.inquire(id(), key.publicKeyBase64));
      expect(err).toMatchObject({ code: 'TIMEOUT', phase: 'connect', retryable: true, attempts: 2 });
      expect(handshakesAtSilent).toBe(2);
    });

    test('the connection dropped after the request was sent: UNREACHABLE, not retried', async () => {
      const { writeFileSync, mkdtempSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const caFile = join(mkdtempSync(join(tmpdir(), 'otc-reset-')), 'ca.pem');
      writeFileSync(caFile, (resetter as unknown as { caPem: string }).caPem);
      const c = new OtcClient({ baseUrl: `https://127.0.0.1:${portOf(resetter)}`, caFile, retries: 3, backoff: { initialMs: 10 } });
      const err = await rejection(c.inquire(id(), key.publicKeyBase64));
      expect(err).toMatchObject({ code: 'UNREACHABLE', retryable: false, attempts: 1 });
      expect(requestsSeenByResetter).toBe(1);
    });
  });
});

describe('secrets stay out of logs and errors', () => {
  test('log lines carry neither encOtc, track 2 nor the Authorization header', async () => {
    let logged = '';
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { logged += chunk.toString(); done(); } });
    const secret = 'Basic U0VDUkVULVNFUlZJQ0UtSUQ=';
    const logger = pino({ level: 'trace' }, sink);
    const c = client({ logger, headers: { Authorization: secret } });
    const answer = await c.inquire(id(), key.publicKeyBase64);
    const t2 = key.decryptTrack2(answer.encOtc);
    const failed = await rejection(c.inquire(id('SCN-wrong-echo'), key.publicKeyBase64));
    const port = await freePort();
    const unreachable = await rejection(new OtcClient({ baseUrl: `https://127.0.0.1:${port}`, logger, headers: { Authorization: secret }, retries: 0 }).inquire(id(), key.publicKeyBase64));
    logger.error({ err: unreachable }, 'as a caller would log it');
    logger.error({ err: failed }, 'as a caller would log it');
    expect(logged).toContain('OTC inquiry answered');
    expect(logged).toContain('ECONNREFUSED');
    for (const text of [logged, JSON.stringify(unreachable), JSON.stringify(failed)]) {
      expect(text).not.toContain(answer.encOtc);
      expect(text).not.toContain(t2.toString('latin1'));
      expect(text).not.toContain('U0VDUkVULVNFUlZJQ0UtSUQ');
    }
  });
});

describe('request encoding', () => {
  test('an authorizationId over 60 EUC-KR bytes is refused before sending', async () => {
    await expect(client().inquire('가'.repeat(31), key.publicKeyBase64)).rejects.toMatchObject({ code: 'INVALID_INQUIRY' });
    expect(iconv.encode('가'.repeat(30), 'euc-kr')).toHaveLength(60);
  });
});

function listen(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}
function close(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
function portOf(server: NetServer): number {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('not listening');
  return a.port;
}
async function freePort(): Promise<number> {
  const s = createNetServer();
  await listen(s);
  const port = portOf(s);
  await close(s);
  return port;
}
