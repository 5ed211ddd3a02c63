/**
 * ecr1 link layer (terminal-protocol.md section 4): ACK/NAK, retransmission,
 * duplicate detection, SEQ numbering. It owns the byte transport while one is
 * attached and knows bodies only as bytes; what a body means is the message
 * layer's business.
 *
 * One frame is in flight per direction. Later frames wait in a queue. While
 * waiting for its own ACK the link still answers (ACKs/NAKs) frames from the
 * peer: ACKs and NAKs are written straight to the transport, never queued.
 */
import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../clock.js';
import type { ByteTransport } from '../transport/transport.js';
import { ACK_FRAME, NAK_FRAME, encodeFrame, seqOf } from './frame.js';
import { DEFAULT_BYTE_TIMEOUT_MS, FrameDecoder, type FrameToken } from './frame-decoder.js';
import { LinkError } from './errors.js';

export const LINK_DEFAULTS = Object.freeze({
  byteTimeoutMs: DEFAULT_BYTE_TIMEOUT_MS, // T_byte
  ackTimeoutMs: 1000, // T_ack
  dupWindowMs: 5000, // T_dup
  retries: 3, // retransmissions after the first send
});

export const SEQ_MODULUS = 100;

export interface LinkTimings {
  byteTimeoutMs: number;
  ackTimeoutMs: number;
  dupWindowMs: number;
  retries: number;
}

export interface LinkOptions extends Partial<LinkTimings> {
  clock?: Clock;
  logger?: Logger;
  /** First SEQ; random by default (spec section 3: a restarted side picks a random start). */
  firstSeq?: number;
}

/** What a technician needs to judge a line. */
export interface LinkCounters {
  /** New frames sent (first transmissions; see `retransmissions`). */
  framesSent: number;
  /** Good frames received and delivered (duplicates not included). */
  framesReceived: number;
  naksSent: number;
  naksReceived: number;
  /** T_ack expiries without ACK or NAK. */
  ackTimeouts: number;
  /** Frames NAKed for a wrong LRC. */
  lrcErrors: number;
  /** Frames NAKed for a bad byte, an over-long body or a bad header. */
  badFrames: number;
  retransmissions: number;
  /** Retransmitted frames from the peer that were ACKed again and not delivered. */
  duplicates: number;
  /** Transports attached after the first one. */
  reconnects: number;
}

export interface SendOptions {
  /** Log label: command and ref, never field values that may hold card data. */
  label: string;
  /**
   * Called synchronously when the ACK is read, before any later byte from the
   * peer is handled: an answer that follows the ACK on the wire cannot be
   * handled before the caller starts waiting for it.
   */
  onAcked?: () => void;
}

interface PendingFrame {
  readonly seq: number;
  /** Holds track 2 for an AUTH: zeroed when its exchange ends. */
  readonly frame: Buffer;
  readonly label: string;
  readonly onAcked: (() => void) | undefined;
  readonly resolve: () => void;
  readonly reject: (err: LinkError) => void;
  sends: number;
}

interface LastReceived {
  readonly seq: number;
  readonly body: Buffer;
  readonly firstAt: number;
}

export interface LinkEvents {
  frame: [body: Buffer];
}

export class Link extends EventEmitter<LinkEvents> {
  readonly timings: Readonly<LinkTimings>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly stats: LinkCounters = {
    framesSent: 0,
    framesReceived: 0,
    naksSent: 0,
    naksReceived: 0,
    ackTimeouts: 0,
    lrcErrors: 0,
    badFrames: 0,
    retransmissions: 0,
    duplicates: 0,
    reconnects: 0,
  };
  private nextSeq: number;
  private transport: ByteTransport | undefined;
  private detachTransport: (() => void) | undefined;
  private attachedBefore = false;
  private closed = false;
  private readonly queue: PendingFrame[] = [];
  private ackTimer: Timer | undefined;
  private lastReceived: LastReceived | undefined;

  constructor(opts: LinkOptions = {}) {
    super();
    const t: LinkTimings = {
      byteTimeoutMs: opts.byteTimeoutMs ?? LINK_DEFAULTS.byteTimeoutMs,
      ackTimeoutMs: opts.ackTimeoutMs ?? LINK_DEFAULTS.ackTimeoutMs,
      dupWindowMs: opts.dupWindowMs ?? LINK_DEFAULTS.dupWindowMs,
      retries: opts.retries ?? LINK_DEFAULTS.retries,
    };
    for (const name of ['byteTimeoutMs', 'ackTimeoutMs', 'dupWindowMs'] as const) {
      if (!Number.isFinite(t[name]) || t[name] <= 0) throw new TypeError(`${name} must be a positive number of milliseconds, got ${t[name]}`);
    }
    if (!Number.isInteger(t.retries) || t.retries < 0) throw new TypeError(`retries must be a whole number >= 0, got ${t.retries}`);
    // Spec section 4: otherwise a retransmission could arrive after the window
    // and be acted on twice.
    if (t.dupWindowMs <= (t.retries + 1) * t.ackTimeoutMs) {
      throw new TypeError(`dupWindowMs (${t.dupWindowMs}) must be longer than (retries + 1) x ackTimeoutMs (${(t.retries + 1) * t.ackTimeoutMs})`);
    }
    const firstSeq = opts.firstSeq ?? randomInt(SEQ_MODULUS);
    if (!Number.isInteger(firstSeq) || firstSeq < 0 || firstSeq >= SEQ_MODULUS) throw new TypeError(`firstSeq must be 0..99, got ${firstSeq}`);
    this.timings = Object.freeze(t);
    this.nextSeq = firstSeq;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'ecr1-link' });
  }

  get isAttached(): boolean {
    return this.transport !== undefined;
  }

  counters(): LinkCounters {
    return { ...this.stats };
  }

  /** Starts using a freshly opened transport (a link reopen, spec rule 6). */
  attach(transport: ByteTransport): void {
    if (this.closed) throw new LinkError('LINK_CLOSED', 'link is closed');
    if (this.transport) this.detach('replaced by a new transport');
    if (this.attachedBefore) this.stats.reconnects++;
    this.attachedBefore = true;
    const decoder = new FrameDecoder({ clock: this.clock, byteTimeoutMs: this.timings.byteTimeoutMs });
    const onData = (chunk: Buffer): void => {
      decoder.write(chunk);
    };
    const onToken = (token: FrameToken): void => this.onToken(token);
    transport.on('data', onData);
    decoder.on('data', onToken);
    this.transport = transport;
    this.detachTransport = () => {
      transport.off('data', onData);
      decoder.off('data', onToken);
      decoder.destroy();
    };
  }

  /**
   * The transport is gone: every frame waiting or in flight fails with
   * LINK_DOWN now (never hangs), its buffer zeroed.
   */
  detach(reason: string): void {
    if (!this.transport) return;
    this.detachTransport?.();
    this.detachTransport = undefined;
    this.transport = undefined;
    this.failAll(() => new LinkError('LINK_DOWN', `terminal link lost (${reason}); check the cable or the terminal's power`));
  }

  /** For good: pending and later sends fail with LINK_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detachTransport?.();
    this.detachTransport = undefined;
    this.transport = undefined;
    this.failAll(() => new LinkError('LINK_CLOSED', 'terminal driver stopped'));
    this.lastReceived = undefined;
  }

  /**
   * Sends one new frame. `makeBody(seq)` builds the body with the SEQ this
   * frame gets; its Buffer is zeroed once framed. Resolves on ACK; rejects
   * with LinkError LINK_FAILED after retries + 1 sends, LINK_DOWN, LINK_CLOSED.
   * Errors thrown by `makeBody` (bad fields) reject before anything is sent.
   */
  send(makeBody: (seq: number) => Buffer, opts: SendOptions): Promise<void> {
    if (this.closed) return Promise.reject(new LinkError('LINK_CLOSED', 'terminal driver stopped'));
    if (!this.transport) return Promise.reject(new LinkError('LINK_DOWN', 'terminal link is down (port not open)'));
    let frame: Buffer;
    const seq = this.nextSeq;
    try {
      const body = makeBody(seq);
      try {
        frame = encodeFrame(body);
      } finally {
        body.fill(0);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    this.nextSeq = (seq + 1) % SEQ_MODULUS;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ seq, frame, label: opts.label, onAcked: opts.onAcked, resolve, reject, sends: 0 });
      if (this.queue.length === 1) this.transmit(this.queue[0]);
    });
  }

  private transmit(p: PendingFrame): void {
    const transport = this.transport;
    if (!transport) return; // detach() fails the queue
    p.sends++;
    if (p.sends === 1) this.stats.framesSent++;
    else this.stats.retransmissions++;
    this.log.debug({ seq: p.seq, frame: p.label, bytes: p.frame.length, send: p.sends }, 'frame sent');
    transport.write(p.frame);
    // T_ack counts from the end of the frame on the wire: a 1 KiB frame takes
    // over a second at 9600 baud.
    const waitMs = this.timings.ackTimeoutMs + p.frame.length * transport.byteTimeMs;
    this.ackTimer = this.clock.setTimeout(() => this.onAckTimeout(p), waitMs);
  }

  private onAckTimeout(p: PendingFrame): void {
    if (this.queue[0] !== p) return;
    this.ackTimer = undefined;
    this.stats.ackTimeouts++;
    this.retryOrFail(p, 'no ACK');
  }

  private retryOrFail(p: PendingFrame, why: string): void {
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
    if (p.sends > this.timings.retries) {
      this.log.warn({ seq: p.seq, frame: p.label, sends: p.sends }, 'frame failed: terminal never acknowledged');
      this.finish(p, new LinkError('LINK_FAILED', `terminal did not acknowledge ${p.label} after ${p.sends} sends (last: ${why})`));
      return;
    }
    this.log.info({ seq: p.seq, frame: p.label, send: p.sends + 1, why }, 'frame resent');
    this.transmit(p);
  }

  /** Ends the exchange of the head frame; zeroes it; starts the next. */
  private finish(p: PendingFrame, err: LinkError | undefined): void {
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
    this.queue.shift();
    p.frame.fill(0);
    if (err) {
      p.reject(err);
    } else {
      p.onAcked?.();
      p.resolve();
    }
    const next = this.queue[0];
    if (next) this.transmit(next);
  }

  private failAll(makeError: () => LinkError): void {
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
    const pending = this.queue.splice(0);
    for (const p of pending) {
      p.frame.fill(0);
      p.reject(makeError());
    }
  }

  private onToken(token: FrameToken): void {
    switch (token.kind) {
      case 'ack': {
        const head = this.queue[0];
        if (head && head.sends > 0) this.finish(head, undefined);
        else this.log.debug('stray ACK ignored');
        return;
      }
      case 'nak': {
        this.stats.naksReceived++;
        const head = this.queue[0];
        if (head && head.sends > 0) this.retryOrFail(head, 'NAK');
        else this.log.debug('stray NAK ignored');
        return;
      }
      case 'bad':
        if (token.reason === 'lrc') this.stats.lrcErrors++;
        else this.stats.badFrames++;
        this.stats.naksSent++;
        this.transport?.write(NAK_FRAME);
        this.log.info({ reason: token.reason }, 'damaged frame answered with NAK');
        return;
      case 'frame':
        this.onFrame(token.body);
        return;
    }
  }

  private onFrame(body: Buffer): void {
    this.transport?.write(ACK_FRAME); // spec: within 50 ms, so before anything else
    const seq = seqOf(body);
    const now = this.clock.now();
    const last = this.lastReceived;
    if (last && last.seq === seq && now - last.firstAt < this.timings.dupWindowMs && last.body.equals(body)) {
      this.stats.duplicates++;
      this.log.info({ seq }, 'retransmitted frame ACKed again, not acted on');
      return;
    }
    this.lastReceived = { seq, body, firstAt: now };
    this.stats.framesReceived++;
    this.emit('frame', body);
  }
}
