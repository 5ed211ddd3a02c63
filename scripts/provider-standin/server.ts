/**
 * The provider's OTC Inquiry, as a stand-in on loopback: POST
 * /easycheck/merchant-otcs.do with EUC-KR JSON in, EUC-KR JSON out, the
 * track 2 encrypted with the caller's public key (RSA/ECB/PKCS1Padding), and
 * a set of misbehaviours to test the client against.
 *
 * A scenario is picked per inquiry: an authorizationId "SCN-<name>-..."
 * selects <name>, anything else takes the default (--scenario).
 *
 * The spec does not say whether the provider answers a second OTC inquiry
 * for the same authorizationId (the daemon re-inquires when a window is lost,
 * because a lost window makes the first OTC useless). By default the stand-in answers every inquiry; with
 * `onceOnly` (--once-per-authorization) a second inquiry for an
 * authorizationId already answered with an OTC is refused as a duplicate
 * request, to rehearse a provider that forbids it.
 */
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import iconv from 'iconv-lite';

export const SCENARIOS = [
  'ok', 'api-error', 'http-500', 'hang', 'slow', 'malformed-json', 'wrong-echo',
  'over-long', 'wrong-key', 'sentinels', 'bad-track2',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const INQUIRY_PATH = '/easycheck/merchant-otcs.do';
export const INQUIRIES_PATH = '/_standin/inquiries';
export const DEFAULT_TRACK2 = '9410123456789012=30121011234567890123';
const CHARSET = 'euc-kr';
const MAX_REQUEST_BYTES = 16 * 1024;
const MAX_AUTHORIZATION_ID_BYTES = 60;
const MAX_PUBLIC_KEY_BYTES = 512;
const RSA_BITS = 2048;
/** Status recorded for an inquiry that is never answered. */
export const NO_ANSWER = 0;

/** Korean messages as the provider would send them (EUC-KR on the wire). */
export const MESSAGES = {
  ok: '정상처리되었습니다',
  notFound: '거래인증 정보가 존재하지 않습니다',
  missingField: '필수 입력값이 누락되었습니다',
  badPublicKey: '공개키 형식이 올바르지 않습니다',
  duplicate: '중복된 요청입니다',
  badRequest: '요청 형식이 올바르지 않습니다',
  shopParameter: '키오스크 3번',
} as const;
export const RES_CD = { ok: '0000', notFound: 'R102', missingField: 'R001', badPublicKey: 'R002', duplicate: 'R103', badRequest: 'R000' } as const;

export interface InquiryRecord {
  authorizationId: string;
  receivedAt: number;
  scenario: string;
  status: number;
}

export interface StandinOptions {
  port: number;
  host: string;
  certPem: string;
  keyPem: string;
  scenario: Scenario;
  slowMs: number;
  track2: string;
  track2ByAuthorizationId: Map<string, string>;
  /** Refuse a second inquiry for an authorizationId already answered with an OTC. */
  onceOnly?: boolean;
  onInquiry?: (record: InquiryRecord) => void;
}

export interface RunningServer {
  port: number;
  inquiries: InquiryRecord[];
  close(): Promise<void>;
}

export function isScenario(name: string): name is Scenario {
  return (SCENARIOS as readonly string[]).includes(name);
}

function scenarioFor(authorizationId: string, fallback: Scenario): Scenario {
  // Longest name first, should one scenario name ever be a prefix of another.
  const named = SCENARIOS.filter((s) => authorizationId.startsWith(`SCN-${s}-`)).sort((a, b) => b.length - a.length)[0];
  return named ?? fallback;
}

function byteLength(s: string): number {
  return iconv.encode(s, CHARSET).length;
}

function isRsa2048Spki(publicKey: string): KeyObject | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(publicKey) || publicKey.length % 4 !== 0) return undefined;
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'rsa' && key.asymmetricKeyDetails?.modulusLength === RSA_BITS ? key : undefined;
  } catch {
    return undefined;
  }
}

function isEucKrJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [mediaType, ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  return mediaType === 'application/json' && params.some((p) => p.replace(/\s+/g, '') === 'charset=euc-kr' || p.replace(/\s+/g, '') === 'charset="euc-kr"');
}

export function startStandinServer(opts: StandinOptions): Promise<RunningServer> {
  const inquiries: InquiryRecord[] = [];
  const answered = new Set<string>();
  const sockets = new Set<Socket>();
  const pendingTimers = new Set<NodeJS.Timeout>();
  let serial = 0;
  // For 'wrong-key': a ciphertext the client's key cannot open.
  const otherKey = generateKeyPairSync('rsa', { modulusLength: RSA_BITS }).publicKey;

  const record = (authorizationId: string, scenario: string, status: number): void => {
    const r: InquiryRecord = { authorizationId, receivedAt: Date.now(), scenario, status };
    inquiries.push(r);
    opts.onInquiry?.(r);
  };

  const send = (res: ServerResponse, status: number, body: object | string, contentType = 'application/json; charset=euc-kr'): void => {
    const bytes = iconv.encode(typeof body === 'string' ? body : JSON.stringify(body), CHARSET);
    res.writeHead(status, { 'content-type': contentType, 'content-length': bytes.length });
    res.end(bytes);
  };

  const errorAnswer = (resCd: string, resMsg: string, authorizationId = ''): object => ({
    resCd, resMsg, shopTransactionId: '', shopOrderNo: '', authorizationId, encOtc: '', shopParameter: '',
  });

  const handleInquiry = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    if (!isEucKrJson(req.headers['content-type'])) {
      send(res, 415, 'Unsupported Media Type: application/json; charset=euc-kr expected', 'text/plain; charset=us-ascii');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(iconv.decode(raw, CHARSET));
    } catch {
      send(res, 200, errorAnswer(RES_CD.badRequest, MESSAGES.badRequest));
      return;
    }
    const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    const authorizationId = fields['authorizationId'];
    const publicKey = fields['publicKey'];
    if (typeof authorizationId !== 'string' || authorizationId.length === 0 || byteLength(authorizationId) > MAX_AUTHORIZATION_ID_BYTES) {
      send(res, 200, errorAnswer(RES_CD.missingField, MESSAGES.missingField));
      record(typeof authorizationId === 'string' ? authorizationId : '', 'invalid-request', 200);
      return;
    }
    const key = typeof publicKey === 'string' && byteLength(publicKey) <= MAX_PUBLIC_KEY_BYTES ? isRsa2048Spki(publicKey) : undefined;
    if (key === undefined) {
      send(res, 200, errorAnswer(RES_CD.badPublicKey, MESSAGES.badPublicKey, authorizationId));
      record(authorizationId, 'invalid-request', 200);
      return;
    }
    const scenario = scenarioFor(authorizationId, opts.scenario);
    if (opts.onceOnly === true && answered.has(authorizationId)) {
      send(res, 200, errorAnswer(RES_CD.duplicate, MESSAGES.duplicate, authorizationId));
      record(authorizationId, 'duplicate', 200);
      return;
    }

    const n = ++serial;
    const track2 = opts.track2ByAuthorizationId.get(authorizationId) ?? opts.track2;
    const plain = scenario === 'sentinels' ? `;${track2}?`
      : scenario === 'bad-track2' ? track2.replace('=', 'D')
        : track2;
    const plainBytes = Buffer.from(plain, 'latin1');
    const encOtc = publicEncrypt({ key: scenario === 'wrong-key' ? otherKey : key, padding: constants.RSA_PKCS1_PADDING }, plainBytes).toString('base64');
    plainBytes.fill(0);
    const ok = {
      resCd: RES_CD.ok,
      resMsg: MESSAGES.ok,
      shopTransactionId: `TX-STANDIN-${String(n).padStart(6, '0')}`,
      shopOrderNo: scenario === 'over-long' ? '주문'.repeat(11) : `ORD-${String(n).padStart(6, '0')}`, // 22 Hangul: 22 chars, 44 bytes > 40
      authorizationId: scenario === 'wrong-echo' ? `${authorizationId}X` : authorizationId,
      encOtc,
      shopParameter: MESSAGES.shopParameter,
    };

    switch (scenario) {
      case 'api-error':
        record(authorizationId, scenario, 200);
        send(res, 200, errorAnswer(RES_CD.notFound, MESSAGES.notFound, authorizationId));
        return;
      case 'http-500':
        record(authorizationId, scenario, 500);
        send(res, 500, '<html><body><h1>500 Internal Server Error</h1></body></html>', 'text/html; charset=euc-kr');
        return;
      case 'hang':
        // Never answers; the socket closes when the client gives up.
        record(authorizationId, scenario, NO_ANSWER);
        return;
      case 'malformed-json':
        record(authorizationId, scenario, 200);
        send(res, 200, JSON.stringify(ok).slice(0, 40));
        return;
      case 'slow': {
        record(authorizationId, scenario, 200);
        answered.add(authorizationId);
        const timer = setTimeout(() => {
          pendingTimers.delete(timer);
          if (!res.destroyed) send(res, 200, ok);
        }, opts.slowMs);
        pendingTimers.add(timer);
        return;
      }
      default:
        record(authorizationId, scenario, 200);
        answered.add(authorizationId);
        send(res, 200, ok);
    }
  };

  const server: Server = createServer({ cert: opts.certPem, key: opts.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    if (req.method === 'GET' && url.pathname === INQUIRIES_PATH) {
      const body = Buffer.from(JSON.stringify(inquiries), 'utf8');
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
      res.end(body);
      return;
    }
    if (url.pathname !== INQUIRY_PATH) {
      send(res, 404, 'Not Found', 'text/plain; charset=us-ascii');
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      send(res, 405, 'Method Not Allowed', 'text/plain; charset=us-ascii');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        send(res, 413, 'Payload Too Large', 'text/plain; charset=us-ascii');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size <= MAX_REQUEST_BYTES) handleInquiry(req, res, Buffer.concat(chunks));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A client that drops during the handshake (for example one that rejects
  // our certificate) is not the stand-in's problem.
  server.on('tlsClientError', () => undefined);

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : opts.port;
      resolve({
        port,
        inquiries,
        close: () => new Promise<void>((done) => {
          for (const t of pendingTimers) clearTimeout(t);
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}
