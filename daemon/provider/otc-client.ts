import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import iconv from 'iconv-lite';
import pino, { type Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../../drivers/clock.js';
import { OtcdError } from '../../drivers/errors.js';
import { ProviderError, type TimeoutPhase } from './errors.js';
import type { HttpsStack } from './https-stack.js';
import { PROVIDER_CHARSET, REQUEST_MAX_BYTES, eucKrByteLength, parseOtcAnswer, type OtcAnswer } from './otc-answer.js';

/** got, https, tls and hpagent: loaded on first use, so READY does not wait for them (https-stack.ts). */
let stackLoading: Promise<HttpsStack> | undefined;
function loadHttpsStack(): Promise<HttpsStack> {
  stackLoading ??= import('./https-stack.js').then((m) => m.httpsStack);
  return stackLoading;
}

export interface ProviderOptions {
  /** https://host[:port]; the client POSTs to {baseUrl}/easycheck/merchant-otcs.do */
  baseUrl: string;
  /** Defaults 5000 / 30000 / 35000 ms (the provider recommends a 30 s client timeout). */
  timeouts?: { connectMs?: number; responseMs?: number; totalMs?: number };
  /** Extra CA (PEM) added to the system CAs; client certificate and key (PEM) for mutual TLS. */
  caFile?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
  /** Extra request headers, e.g. Authorization: Basic base64(ServiceID). */
  headers?: Record<string, string>;
  /** Optional proxy URL (http:// or https://) through which to tunnel (CONNECT). */
  proxy?: string;
  /** Most retries for failures where the request cannot have reached the provider, default 2. */
  retries?: number;
  /** Exponential backoff between those retries, defaults 250 ms doubling up to 2000 ms. */
  backoff?: { initialMs?: number; maxMs?: number };
  clock?: Clock;
  logger?: Logger;
}

export interface InquireOptions {
  /** Monotonic ms (clock.now() scale) after which no retry may start. */
  deadline?: number;
  signal?: AbortSignal;
}

/** One finished inquiry, as a latency measurement sees it; no ids, no answer fields. */
export interface InquiryTiming {
  /** From just before the first request to the answer or the final failure, retries and backoff included. */
  ms: number;
  /** The ProviderError code of a failure; undefined for an answer with resCd "0000". */
  code?: string;
}

export const OTC_INQUIRY_PATH = '/easycheck/merchant-otcs.do';
export const REQUEST_CONTENT_TYPE = 'application/json; charset=euc-kr';

const DEFAULT_CONNECT_MS = 5_000;
const DEFAULT_RESPONSE_MS = 30_000;
const DEFAULT_TOTAL_MS = 35_000;
const DEFAULT_RETRIES = 2;
const DEFAULT_BACKOFF_INITIAL_MS = 250;
const DEFAULT_BACKOFF_MAX_MS = 2_000;
/** A valid answer is under 6 KB (field limits sum to 5.6 KB); anything far larger is not the provider. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Error codes of certificate and handshake failures (OpenSSL verify codes as
 * Node reports them, Node's own TLS codes, and EPROTO for "that was no TLS").
 */
function isTlsFailure(code: string): boolean {
  return /^(ERR_SSL_|ERR_TLS_|ERR_OSSL_)/.test(code)
    || /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT)|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED/.test(code)
    || code === 'EPROTO';
}

/**
 * The provider's OTC Inquiry over HTTPS (got, EUC-KR bodies, TLS 1.2+,
 * verification always on).
 *
 * Retries. The provider answers a repeated inquiry with a duplicate-request
 * error, and an inquiry that reached it has already spent the customer's OTC,
 * so a request that may have reached the provider is never repeated: the
 * caller must start over with a new authorization. A retry happens only when
 * the request cannot have left this machine in a form the provider could
 * read, i.e. before the TLS handshake with the provider completed (the
 * request is written only after it): connection refused, DNS failure,
 * network unreachable, a reset or a connect timeout during TCP/TLS set-up,
 * a proxy that refused the tunnel. Certificate and handshake errors are not
 * retried although nothing was sent: they are configuration faults that a
 * repeat cannot fix, and repeating them only burns the customer's 180 s.
 * Everything after the handshake (reset, response timeout, HTTP 5xx) is
 * final, with retryable = false. Retries start only while `deadline` (and
 * the total timeout) leaves room for the backoff delay.
 *
 * Timers. connectMs runs until the TLS handshake completes, responseMs from
 * then until the whole answer is in, totalMs over the whole inquire() call
 * including retries and backoff. All three come from the injected Clock and
 * abort the request through an AbortSignal (got's own timeouts use real
 * timers and are not used). Connections are not kept alive: one inquiry per
 * payment does not need it, and a stale kept-alive socket would turn a
 * harmless "could not connect" into an ambiguous "reset after sending".
 */
export class OtcClient {
  private readonly url: string;
  private readonly host: string;
  private readonly connectMs: number;
  private readonly responseMs: number;
  private readonly totalMs: number;
  private readonly retries: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly headers: Record<string, string>;
  private readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  private readonly proxy: string | undefined;
  private agentInstance: HttpsAgent | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private successAt: number | undefined;
  private failure: { code: string; message: string; at: number } | undefined;
  private readonly timingListeners: Array<(timing: InquiryTiming) => void> = [];

  constructor(opts: ProviderOptions) {
    const base = new URL(opts.baseUrl);
    if (base.protocol !== 'https:') throw new OtcdError('PROVIDER_CONFIG', `provider baseUrl must be https:// (got ${base.protocol})`);
    this.url = `${base.origin}${base.pathname.replace(/\/+$/, '')}${OTC_INQUIRY_PATH}`;
    this.host = base.host;
    this.connectMs = opts.timeouts?.connectMs ?? DEFAULT_CONNECT_MS;
    this.responseMs = opts.timeouts?.responseMs ?? DEFAULT_RESPONSE_MS;
    this.totalMs = opts.timeouts?.totalMs ?? DEFAULT_TOTAL_MS;
    this.retries = opts.retries ?? DEFAULT_RETRIES;
    this.backoffInitialMs = opts.backoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.backoffMaxMs = opts.backoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    // Ours last: the body is EUC-KR whatever extra headers say.
    this.headers = { 'user-agent': 'otcd', accept: 'application/json', ...opts.headers, 'content-type': REQUEST_CONTENT_TYPE };
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'provider' });

    // The PEM files are read now, so a missing or unreadable one stops the daemon
    // before READY; a client certificate and key are also parsed and matched now,
    // so a broken pair does too.
    this.tls = {
      ...(opts.caFile !== undefined ? { ca: readPem(opts.caFile, 'provider.ca_file') } : {}),
      ...(opts.clientCertFile !== undefined ? { cert: readPem(opts.clientCertFile, 'provider.client_cert_file') } : {}),
      ...(opts.clientKeyFile !== undefined ? { key: readPem(opts.clientKeyFile, 'provider.client_key_file') } : {}),
    };
    if (this.tls.cert !== undefined || this.tls.key !== undefined) checkClientPair(this.tls.cert, this.tls.key);
    this.proxy = opts.proxy;
  }

  /** The agent and its one TLS context (https-stack.ts), built on first use: prepare() right after READY, else the first inquiry. */
  private httpsAgent(stack: HttpsStack): HttpsAgent {
    this.agentInstance ??= stack.makeAgent(this.tls, this.proxy);
    return this.agentInstance;
  }

  /** Wall ms of the last inquiry answered "0000". */
  get lastSuccessAt(): number | undefined {
    return this.successAt;
  }

  /** The last inquiry's failure (code, message, wall ms). */
  get lastError(): { code: string; message: string; at: number } | undefined {
    return this.failure;
  }

  /**
   * Calls `listener` after each inquiry that got an answer or failed on its
   * own (not one its caller aborted: that measures the caller, not the provider).
   */
  onInquiryDone(listener: (timing: InquiryTiming) => void): void {
    this.timingListeners.push(listener);
  }

  private inquiryDone(started: number, code: string | undefined): void {
    const timing: InquiryTiming = { ms: this.clock.now() - started, ...(code !== undefined ? { code } : {}) };
    for (const listener of this.timingListeners) {
      try {
        listener(timing);
      } catch (err) {
        this.log.error({ err: { message: (err as Error).message } }, 'an inquiry timing listener failed');
      }
    }
  }

  /**
   * One OTC inquiry. Resolves only for resCd "0000" with an answer that keeps
   * the spec (fields, EUC-KR byte lengths, echoed authorizationId, a 256-byte
   * encOtc); rejects with ProviderError otherwise.
   */
  async inquire(authorizationId: string, publicKeyBase64: string, opts: InquireOptions = {}): Promise<OtcAnswer> {
    checkRequestField('authorizationId', authorizationId);
    checkRequestField('publicKey', publicKeyBase64);
    const body = iconv.encode(JSON.stringify({ authorizationId, publicKey: publicKeyBase64 }), PROVIDER_CHARSET);
    const started = this.clock.now();
    const totalDeadline = started + this.totalMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await this.attempt(body, authorizationId, totalDeadline, opts.signal);
        this.successAt = this.clock.wallNow();
        this.inquiryDone(started, undefined);
        this.log.info({ authorizationId, attempts: attempt, ms: Math.round(this.clock.now() - started) }, 'OTC inquiry answered');
        return answer;
      } catch (e) {
        const err = e instanceof ProviderError ? e : new ProviderError('BAD_ANSWER', 'The provider answer could not be handled', { cause: sanitise(e) });
        err.attempts = attempt;
        const delay = this.backoffDelay(attempt);
        const now = this.clock.now();
        const mayRetry = err.retryable
          && attempt <= this.retries
          && now + delay < totalDeadline
          && (opts.deadline === undefined || now + delay <= opts.deadline)
          && opts.signal?.aborted !== true;
        this.log.warn({ authorizationId, code: err.code, resCd: err.resCd, status: err.status, phase: err.phase, attempt, willRetry: mayRetry }, err.message);
        if (!mayRetry) {
          this.failure = { code: err.code, message: err.message, at: this.clock.wallNow() };
          if (err.code !== 'ABORTED') this.inquiryDone(started, err.code);
          throw err;
        }
        await this.sleep(delay, opts.signal);
      }
    }
  }

  private backoffDelay(attempt: number): number {
    const exp = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** (attempt - 1));
    // Half fixed, half jitter: kiosks behind one NAT should not retry in step.
    return Math.round(exp / 2 + Math.random() * (exp / 2));
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        timer.cancel();
        resolve();
      };
      const timer = this.clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Builds the TLS context and loads the HTTP client ahead of the first inquiry (the daemon calls it once READY). */
  async prepare(): Promise<void> {
    this.httpsAgent(await loadHttpsStack());
  }

  private async attempt(body: Buffer, authorizationId: string, totalDeadline: number, signal: AbortSignal | undefined): Promise<OtcAnswer> {
    const stack = await loadHttpsStack();
    const { got } = stack;
    if (signal?.aborted) throw aborted();
    const controller = new AbortController();
    let timedOut: TimeoutPhase | undefined;
    let externallyAborted = false;
    let tooLarge = false;
    let handshakeDone = false;
    let responseTimer: Timer | undefined;
    const abortFor = (phase: TimeoutPhase): void => {
      timedOut ??= phase;
      controller.abort();
    };
    const connectTimer = this.clock.setTimeout(() => abortFor('connect'), this.connectMs);
    const totalTimer = this.clock.setTimeout(() => abortFor('total'), totalDeadline - this.clock.now());
    const onExternalAbort = (): void => {
      externallyAborted = true;
      controller.abort();
    };
    signal?.addEventListener('abort', onExternalAbort, { once: true });
    const onHandshake = (): void => {
      if (handshakeDone) return;
      handshakeDone = true;
      connectTimer.cancel();
      responseTimer = this.clock.setTimeout(() => abortFor('response'), this.responseMs);
    };

    try {
      // on() returns the request itself (a promise), awaited below.
      const request = got.post(this.url, {
        body,
        headers: this.headers,
        responseType: 'buffer',
        throwHttpErrors: false,
        followRedirect: false,
        retry: { limit: 0 },
        agent: { https: this.httpsAgent(stack) },
        signal: controller.signal,
      }).on('request', (req: ClientRequest) => {
        req.once('socket', (socket: Socket) => {
          // A fresh socket (no keep-alive, and hpagent hands over the TLS
          // socket before its handshake) always reports secureConnect.
          if (stack.isTls(socket)) socket.once('secureConnect', onHandshake);
          else onHandshake();
        });
      }).on('downloadProgress', (progress: { transferred: number }) => {
        if (progress.transferred > MAX_ANSWER_BYTES) {
          tooLarge = true;
          controller.abort();
        }
      });
      let response;
      try {
        response = await request;
      } catch (e) {
        throw this.classify(e, { timedOut, externallyAborted, tooLarge, handshakeDone });
      }
      if (timedOut !== undefined || externallyAborted) throw this.classify(undefined, { timedOut, externallyAborted, tooLarge, handshakeDone });
      try {
        return parseOtcAnswer(response.statusCode, response.body, authorizationId);
      } finally {
        response.body.fill(0);
      }
    } finally {
      connectTimer.cancel();
      totalTimer.cancel();
      responseTimer?.cancel();
      signal?.removeEventListener('abort', onExternalAbort);
    }
  }

  private classify(
    e: unknown,
    state: { timedOut: TimeoutPhase | undefined; externallyAborted: boolean; tooLarge: boolean; handshakeDone: boolean },
  ): ProviderError {
    const cause = e === undefined ? undefined : sanitise(e);
    if (state.tooLarge) return new ProviderError('BAD_ANSWER', `The provider's answer is larger than ${MAX_ANSWER_BYTES} bytes`, { cause });
    if (state.timedOut !== undefined) {
      const phase = state.timedOut;
      const limit = phase === 'connect' ? this.connectMs : phase === 'response' ? this.responseMs : this.totalMs;
      const what = phase === 'connect' ? 'to connect to' : phase === 'response' ? 'for an answer from' : 'in total on';
      // A connect timeout fires before the handshake completed: nothing was sent.
      return new ProviderError('TIMEOUT', `Gave up after ${limit} ms waiting ${what} the provider at ${this.host}`, {
        phase, retryable: phase === 'connect' && !state.handshakeDone, cause,
      });
    }
    if (state.externallyAborted) return aborted();
    const code = typeof (e as { code?: unknown } | undefined)?.code === 'string' ? (e as { code: string }).code : 'UNKNOWN';
    if (isTlsFailure(code)) {
      return new ProviderError('TLS', `TLS with the provider at ${this.host} failed (${code}); check the CA file, the client certificate and the system time`, { cause });
    }
    return new ProviderError('UNREACHABLE', state.handshakeDone
      ? `The connection to the provider at ${this.host} failed after the request was sent (${code}); the inquiry may have reached it`
      : `Could not reach the provider at ${this.host} (${code}); check the network, DNS, firewall and proxy`, {
      retryable: !state.handshakeDone, cause,
    });
  }
}

function aborted(): ProviderError {
  return new ProviderError('ABORTED', 'The OTC inquiry was cancelled by its caller');
}

/**
 * got's errors carry the request options, headers included (Authorization):
 * only their code and message travel on as a cause, so a logged error cannot
 * leak them.
 */
function sanitise(e: unknown): Error {
  const code = typeof (e as { code?: unknown } | null)?.code === 'string' ? (e as { code: string }).code : undefined;
  const message = e instanceof Error ? e.message : String(e);
  return Object.assign(new Error(message), code !== undefined ? { code } : {});
}

function checkRequestField(field: keyof typeof REQUEST_MAX_BYTES, value: string): void {
  const bytes = typeof value === 'string' ? eucKrByteLength(value) : 0;
  if (bytes < 1 || bytes > REQUEST_MAX_BYTES[field]) {
    throw new OtcdError('INVALID_INQUIRY', `${field} must be 1..${REQUEST_MAX_BYTES[field]} bytes in EUC-KR`);
  }
}

/** `key` is the TOML key that names the file, so the message says what to fix. */
function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new OtcdError('PROVIDER_CONFIG', `${key} ${path} cannot be read: ${(e as Error).message}`);
  }
}

/** A client certificate and its key must both be there, parse, and belong together. */
function checkClientPair(cert: Buffer | undefined, key: Buffer | undefined): void {
  if (cert === undefined || key === undefined) {
    throw new OtcdError('PROVIDER_CONFIG', 'provider client_cert_file and client_key_file go together: set both or neither');
  }
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new OtcdError('PROVIDER_CONFIG', `the provider client certificate or key does not parse: ${(err as Error).message}`);
  }
  if (!matches) throw new OtcdError('PROVIDER_CONFIG', 'the provider client key does not belong to the client certificate');
}
