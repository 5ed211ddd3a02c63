// ecr1 link layer, terminal side (spec 4): ACK/NAK, duplicate detection, one
// frame in flight with T_ack and 3 retransmissions, plus the faults a
// simulator injects on purpose (NAKed, unACKed, corrupted frames, noise).
import { createHash, randomInt } from 'node:crypto';
import type { EventLog } from './events.js';
import {
  ACK, NAK, STX, encodeBody, encodeFrame, FrameReceiver, type LinkToken,
} from './frame.js';

export const T_ACK_MS = 1000;
export const T_DUP_MS = 5000;
export const MAX_RETRANSMISSIONS = 3;
const SEQ_MODULO = 100;
const MAX_NOISE_BYTES = 4;

/** The byte pipe under the link: a serial port or a TCP connection. */
export interface Wire {
  isOpen(): boolean;
  write(bytes: Buffer): void;
  /** Write these bytes, then break the connection (the drop-mid-frame fault). */
  writeThenDrop(bytes: Buffer): Promise<void>;
}

export interface LinkFaults {
  nakFirst: number;
  swallowAcks: number;
  /** Like swallowAcks, for the first N frames that carry a VOID (its retransmissions included). */
  swallowVoidAcks: number;
  lrcErrors: number;
  noise: boolean;
}

/** A frame to send. `meta` goes into the tx event (never card data). */
export interface Outgoing {
  cmd: string;
  fields: string[];
  meta: Record<string, string>;
}

interface InFlight {
  out: Outgoing;
  seq: number;
  frame: Buffer;
  sends: number;
  timer: NodeJS.Timeout | undefined;
}

interface LastGood {
  seq: string;
  digest: string;
  firstAt: number;
}

export type FrameHandler = (body: Buffer, dup: boolean) => void;

function seqText(seq: number): string {
  return String(seq).padStart(2, '0');
}

/** Noise is any byte the peer must drop: not STX, and not ACK/NAK (link replies). */
function noiseBytes(): Buffer {
  const n = randomInt(1, MAX_NOISE_BYTES + 1);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    let b: number;
    do b = randomInt(0, 256); while (b === STX || b === ACK || b === NAK);
    out[i] = b;
  }
  return out;
}

export class TerminalLink {
  private readonly receiver: FrameReceiver;
  private nextSeq: number;
  private readonly queue: Outgoing[] = [];
  private inFlight: InFlight | undefined;
  private lastGood: LastGood | undefined;
  private readonly faults: LinkFaults;
  private onFrame: FrameHandler = () => undefined;

  constructor(
    private readonly wire: Wire,
    private readonly events: EventLog,
    faults: LinkFaults,
    startSeq?: number,
  ) {
    this.faults = { ...faults };
    // A side that (re)starts picks a random starting SEQ (spec 3).
    this.nextSeq = startSeq ?? randomInt(0, SEQ_MODULO);
    this.receiver = new FrameReceiver((t) => this.onToken(t));
  }

  setFrameHandler(handler: FrameHandler): void {
    this.onFrame = handler;
  }

  /** Bytes from the wire; zeroed once read, as they may carry track 2. */
  receive(chunk: Buffer): void {
    this.receiver.push(chunk);
    chunk.fill(0);
  }

  linkOpened(): void {
    this.receiver.reset();
    this.events.emit({ ev: 'link-open' });
    this.pump();
  }

  /**
   * The wire is gone. Whatever was queued or in flight is dropped: a terminal
   * cannot know when a host that went away comes back, and the host asks LAST
   * after a reopen. Outcomes stay recorded above this layer.
   */
  linkClosed(): void {
    this.receiver.reset();
    this.events.emit({ ev: 'link-closed' });
    if (this.inFlight) {
      this.stopAckTimer(this.inFlight);
      this.dropped(this.inFlight.out);
      this.inFlight = undefined;
    }
    for (const out of this.queue.splice(0)) this.dropped(out);
  }

  /** Queue a frame; `urgent` puts it ahead of queued frames (not of the one in flight). */
  send(out: Outgoing, urgent = false): void {
    if (!this.wire.isOpen()) {
      this.dropped(out);
      return;
    }
    if (urgent) this.queue.unshift(out);
    else this.queue.push(out);
    this.pump();
  }

  /** The drop-mid-frame fault: half a new frame, then the wire breaks. */
  async sendHalfThenDrop(out: Outgoing): Promise<void> {
    const seq = this.takeSeq();
    const frame = encodeFrame(encodeBody(seq, out.cmd, out.fields));
    const half = frame.subarray(0, Math.floor(frame.length / 2));
    this.events.emit({ ev: 'tx-partial', seq: seqText(seq), cmd: out.cmd, ...out.meta, bytes: half.length, of: frame.length });
    await this.wire.writeThenDrop(Buffer.from(half));
  }

  private takeSeq(): number {
    const seq = this.nextSeq;
    this.nextSeq = (this.nextSeq + 1) % SEQ_MODULO;
    return seq;
  }

  private pump(): void {
    if (this.inFlight || !this.wire.isOpen()) return;
    const out = this.queue.shift();
    if (!out) return;
    const seq = this.takeSeq();
    this.inFlight = { out, seq, frame: encodeFrame(encodeBody(seq, out.cmd, out.fields)), sends: 0, timer: undefined };
    this.transmit(this.inFlight);
  }

  private transmit(f: InFlight): void {
    f.sends++;
    if (this.faults.noise) this.wire.write(noiseBytes());
    let bytes = f.frame;
    let lrcError = false;
    if (this.faults.lrcErrors > 0) {
      this.faults.lrcErrors--;
      bytes = Buffer.from(f.frame);
      bytes[bytes.length - 1] ^= 0xff;
      lrcError = true;
    }
    this.wire.write(bytes);
    this.events.emit({
      ev: 'tx', seq: seqText(f.seq), cmd: f.out.cmd, ...f.out.meta, attempt: f.sends,
      ...(lrcError ? { lrcError: true } : {}),
    });
    f.timer = setTimeout(() => {
      f.timer = undefined;
      this.events.emit({ ev: 'ack-timeout', seq: seqText(f.seq), cmd: f.out.cmd });
      this.retryOrGiveUp(f);
    }, T_ACK_MS);
  }

  private retryOrGiveUp(f: InFlight): void {
    if (this.inFlight !== f) return;
    if (f.sends <= MAX_RETRANSMISSIONS) {
      this.transmit(f);
      return;
    }
    this.events.emit({ ev: 'send-failed', seq: seqText(f.seq), cmd: f.out.cmd, ...f.out.meta });
    this.inFlight = undefined;
    this.pump();
  }

  private stopAckTimer(f: InFlight): void {
    if (f.timer) clearTimeout(f.timer);
    f.timer = undefined;
  }

  private dropped(out: Outgoing): void {
    this.events.emit({ ev: 'tx-dropped', cmd: out.cmd, ...out.meta });
  }

  private onToken(t: LinkToken): void {
    switch (t.kind) {
      case 'ack':
      case 'nak': {
        const f = this.inFlight;
        this.events.emit({ ev: t.kind === 'ack' ? 'ack-rx' : 'nak-rx', ...(f ? { seq: seqText(f.seq) } : { unexpected: true }) });
        if (!f) return;
        this.stopAckTimer(f);
        if (t.kind === 'ack') {
          this.inFlight = undefined;
          this.pump();
        } else {
          this.retryOrGiveUp(f);
        }
        return;
      }
      case 'dropped':
        this.events.emit({ ev: 'frame-dropped', why: t.why });
        return;
      case 'bad':
        this.nak(t.reason);
        return;
      case 'frame':
        this.onGoodFrame(t.body);
        return;
    }
  }

  private nak(reason: string): void {
    this.wire.write(Buffer.of(NAK));
    this.events.emit({ ev: 'nak-sent', reason });
  }

  private onGoodFrame(body: Buffer): void {
    try {
      if (this.faults.nakFirst > 0) {
        this.faults.nakFirst--;
        this.nak('nak-first');
        return;
      }
      const dup = this.isDuplicate(body);
      if (this.faults.swallowAcks > 0) {
        this.faults.swallowAcks--;
        this.events.emit({ ev: 'ack-swallowed' });
      } else if (this.faults.swallowVoidAcks > 0 && isVoidBody(body)) {
        this.faults.swallowVoidAcks--;
        this.events.emit({ ev: 'ack-swallowed', cmd: 'VOID' });
      } else {
        this.wire.write(Buffer.of(ACK));
        this.events.emit({ ev: 'ack-sent' });
      }
      this.onFrame(body, dup);
    } finally {
      body.fill(0); // may carry track 2
    }
  }

  /**
   * Spec 4 rule 5: same SEQ and same whole BODY as the last good frame, less
   * than T_dup after its first copy. Only a digest of the body is kept, so no
   * card data outlives the frame.
   */
  private isDuplicate(body: Buffer): boolean {
    const seq = body.toString('latin1', 0, 2);
    const digest = createHash('sha256').update(body).digest('hex');
    const now = performance.now();
    const last = this.lastGood;
    if (last && last.seq === seq && last.digest === digest && now - last.firstAt < T_DUP_MS) return true;
    this.lastGood = { seq, digest, firstAt: now };
    return false;
  }
}

const VOID_CMD = Buffer.from('VOID', 'latin1');
const CMD_OFFSET = 3; // after SEQ (2 digits) and FS

/** Whether a frame body's CMD is VOID (the link peeks only for the --swallow-void-acks fault). */
function isVoidBody(body: Buffer): boolean {
  return body.length >= CMD_OFFSET + VOID_CMD.length && body.subarray(CMD_OFFSET, CMD_OFFSET + VOID_CMD.length).equals(VOID_CMD);
}
