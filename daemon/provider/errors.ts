import { OtcdError } from '../../drivers/errors.js';

/**
 * Stable codes of a failed OTC inquiry. `retryable` is true only when the
 * request cannot have reached the provider (see otc-client.ts): the provider
 * answers a repeated inquiry with a duplicate-request error, so a request that
 * may have arrived is never sent again blindly.
 */
export type ProviderErrorCode =
  | 'API_ERROR'
  | 'HTTP_STATUS'
  | 'TIMEOUT'
  | 'UNREACHABLE'
  | 'TLS'
  | 'BAD_ANSWER'
  | 'ABORTED';

/** Which timer ran out: getting connected (DNS+TCP+TLS), waiting for the answer, or the whole inquiry. */
export type TimeoutPhase = 'connect' | 'response' | 'total';

export interface ProviderErrorDetails {
  retryable?: boolean;
  resCd?: string;
  resMsg?: string;
  status?: number;
  phase?: TimeoutPhase;
  attempts?: number;
  cause?: unknown;
}

/** A failed inquiry. Never carries encOtc, keys or track 2 in its message or fields. */
export class ProviderError extends OtcdError {
  override readonly code: ProviderErrorCode;
  readonly retryable: boolean;
  readonly resCd?: string;
  readonly resMsg?: string;
  readonly status?: number;
  readonly phase?: TimeoutPhase;
  /** How many HTTP attempts this inquiry made (1 + retries). Set by OtcClient.inquire. */
  attempts: number;

  constructor(code: ProviderErrorCode, message: string, details: ProviderErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.retryable = details.retryable ?? false;
    if (details.resCd !== undefined) this.resCd = details.resCd;
    if (details.resMsg !== undefined) this.resMsg = details.resMsg;
    if (details.status !== undefined) this.status = details.status;
    if (details.phase !== undefined) this.phase = details.phase;
    this.attempts = details.attempts ?? 1;
  }
}

/**
 * The one and only message for any failure to turn an encOtc into a usable
 * track 2: bad Base64, wrong length, bad PKCS#1 v1.5 padding, a plaintext that
 * is not a track 2, a destroyed key. PKCS#1 v1.5 unpadding in JavaScript
 * (pkcs1.ts) cannot promise constant time; telling "bad padding" apart from
 * "bad track 2" (by message, code, or a field) would hand out a
 * Bleichenbacher/Marvin padding oracle. So there is one code and one message.
 */
export const BAD_OTC_MESSAGE = 'The OTC from the provider could not be used; start a new payment (new inquiry)';

export class BadOtcError extends OtcdError {
  override readonly code = 'BAD_OTC' as const;

  constructor() {
    super('BAD_OTC', BAD_OTC_MESSAGE);
  }
}
