import pino, { type Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../../drivers/clock.js';
import { OtcdError } from '../../drivers/errors.js';
import { RsaOtcKeyPair, type OtcKeyPair } from './key-pair.js';

export interface KeyPoolOptions {
  /** Key pairs kept ready, default 2 (one for the payment now, one for the next). */
  size?: number;
  clock?: Clock;
  logger?: Logger;
  /** Makes one key pair; default RsaOtcKeyPair.generate (native RSA-2048). Tests inject failures here. */
  generate?: () => Promise<OtcKeyPair>;
  /** Wait before trying again after a failed generation, default 1000 ms. */
  retryDelayMs?: number;
}

const DEFAULT_SIZE = 2;
const DEFAULT_RETRY_DELAY_MS = 1000;

/**
 * RSA-2048 key pairs made ahead of time, so key generation (0.2 s here,
 * seconds on a Pi) is never on a payment's critical path once warm.
 *
 * Keys are made one at a time: crypto.generateKeyPair runs in libuv's thread
 * pool, which DNS lookups (the provider's host name) and file I/O share, so a
 * burst of parallel generations must not starve the inquiry it prepares for.
 * Each key pair is handed out once; the caller destroys it after its inquiry.
 */
export class KeyPool {
  private readonly size: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly generate: () => Promise<OtcKeyPair>;
  private readonly retryDelayMs: number;
  private readonly ready: OtcKeyPair[] = [];
  private readonly waiters: Array<{ resolve: (k: OtcKeyPair) => void; reject: (e: Error) => void }> = [];
  private generating = false;
  private running = false;
  private retryTimer: Timer | undefined;
  private readonly readyListeners: Array<(ready: number) => void> = [];

  constructor(opts: KeyPoolOptions = {}) {
    const size = opts.size ?? DEFAULT_SIZE;
    if (!Number.isInteger(size) || size < 1) throw new TypeError('KeyPool size must be an integer >= 1');
    this.size = size;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'key-pool' });
    this.generate = opts.generate ?? (() => RsaOtcKeyPair.generate());
    this.retryDelayMs = opts.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  }

  /** Starts filling the pool in the background. */
  start(): void {
    this.running = true;
    this.fill();
  }

  /** Stops refilling, destroys the ready keys and fails pending take() calls. */
  stop(): void {
    this.running = false;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    for (const key of this.ready.splice(0)) key.destroy();
    for (const w of this.waiters.splice(0)) w.reject(new OtcdError('KEYPOOL_STOPPED', 'The RSA key pool was stopped'));
  }

  /** A key pair of its own: instant when warm, otherwise waits for the next generation. */
  take(): Promise<OtcKeyPair> {
    if (!this.running) this.start();
    const key = this.ready.shift();
    const promise = key !== undefined
      ? Promise.resolve(key)
      : new Promise<OtcKeyPair>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.fill();
    if (key !== undefined) this.readyChanged();
    return promise;
  }

  get readyCount(): number {
    return this.ready.length;
  }

  /** Calls `listener` with readyCount whenever a key pair is added to the ready ones or taken from them. */
  onReadyChange(listener: (ready: number) => void): void {
    this.readyListeners.push(listener);
  }

  private readyChanged(): void {
    for (const listener of this.readyListeners) {
      try {
        listener(this.ready.length);
      } catch (err) {
        this.log.error({ err: { message: (err as Error).message } }, 'a key pool listener failed');
      }
    }
  }

  private needed(): number {
    return this.size + this.waiters.length - this.ready.length;
  }

  private fill(): void {
    if (!this.running || this.generating || this.retryTimer !== undefined || this.needed() <= 0) return;
    this.generating = true;
    const started = this.clock.now();
    this.generate().then(
      (key) => {
        this.generating = false;
        if (!this.running) {
          key.destroy();
          return;
        }
        this.log.debug({ ms: Math.round(this.clock.now() - started) }, 'RSA key pair generated');
        const waiter = this.waiters.shift();
        if (waiter) waiter.resolve(key);
        else this.ready.push(key);
        this.fill();
        if (!waiter) this.readyChanged();
      },
      (err: unknown) => {
        this.generating = false;
        if (!this.running) return;
        this.log.error({ err }, `RSA key generation failed; trying again in ${this.retryDelayMs} ms`);
        this.retryTimer = this.clock.setTimeout(() => {
          this.retryTimer = undefined;
          this.fill();
        }, this.retryDelayMs);
      },
    );
  }
}
