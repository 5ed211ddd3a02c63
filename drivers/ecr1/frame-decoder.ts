/**
 * ecr1 receive state machine (terminal-protocol.md section 4, receiving).
 *
 * Assumptions, as in gpsd's packet.c: reads split and join frames at any
 * byte, and noise may come first or between frames. States:
 *
 *   IDLE  --STX--> BODY --ETX--> LRC --any byte--> IDLE (token out)
 *   IDLE: ACK/NAK are tokens, any other non-STX byte is noise (dropped).
 *   BODY: STX restarts the frame; other bytes are collected (bad ones are
 *         remembered so the finished frame is answered with NAK).
 *   LRC:  exactly one byte, whatever its value (it may equal STX/ETX/ACK/NAK).
 *   BODY/LRC: no byte for T_byte -> the partial frame is dropped silently.
 *
 * The timer comes from the injected Clock. It is re-armed once per chunk, not
 * per byte: bytes of one chunk arrived together.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { ACK, ETX, MAX_BODY_BYTES, NAK, STX, bodyProblem, isBodyByte, lrcOf, type FrameProblem } from './frame.js';

export const DEFAULT_BYTE_TIMEOUT_MS = 200;

export type FrameToken =
  | { kind: 'frame'; body: Buffer }
  | { kind: 'ack' }
  | { kind: 'nak' }
  | { kind: 'bad'; reason: FrameProblem };

export interface FrameDecoderOptions {
  clock?: Clock;
  /** T_byte: longest gap between two bytes of one frame. */
  byteTimeoutMs?: number;
}

const State = { Idle: 0, Body: 1, Lrc: 2 } as const;
type State = (typeof State)[keyof typeof State];

const ACK_TOKEN: FrameToken = Object.freeze({ kind: 'ack' });
const NAK_TOKEN: FrameToken = Object.freeze({ kind: 'nak' });

export class FrameDecoder extends Transform {
  private readonly clock: Clock;
  private readonly byteTimeoutMs: number;
  private state: State = State.Idle;
  /** Body bytes collected so far; never grows past MAX_BODY_BYTES. */
  private readonly body = Buffer.alloc(MAX_BODY_BYTES);
  /** Body length counted, possibly over MAX_BODY_BYTES (then not stored). */
  private length = 0;
  private badByte = false;
  private timer: Timer | undefined;
  /** Partial frames dropped by T_byte or by an STX restart. */
  droppedPartials = 0;

  constructor(opts: FrameDecoderOptions = {}) {
    super({ readableObjectMode: true });
    const byteTimeoutMs = opts.byteTimeoutMs ?? DEFAULT_BYTE_TIMEOUT_MS;
    if (!Number.isFinite(byteTimeoutMs) || byteTimeoutMs <= 0) {
      throw new TypeError(`byteTimeoutMs must be a positive number of milliseconds, got ${byteTimeoutMs}`);
    }
    this.clock = opts.clock ?? systemClock;
    this.byteTimeoutMs = byteTimeoutMs;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    for (let i = 0; i < chunk.length; i++) this.step(chunk[i]);
    this.armTimer();
    done();
  }

  override _flush(done: TransformCallback): void {
    this.reset();
    done();
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.reset();
    done(err);
  }

  private step(byte: number): void {
    switch (this.state) {
      case State.Idle:
        if (byte === STX) this.startFrame();
        else if (byte === ACK) this.push(ACK_TOKEN);
        else if (byte === NAK) this.push(NAK_TOKEN);
        // anything else outside a frame is noise (rule 1)
        return;
      case State.Body:
        if (byte === STX) {
          this.droppedPartials++;
          this.startFrame(); // rule 2
        } else if (byte === ETX) {
          this.state = State.Lrc;
        } else {
          if (!isBodyByte(byte)) this.badByte = true;
          if (this.length < MAX_BODY_BYTES) this.body[this.length] = byte;
          this.length++;
        }
        return;
      case State.Lrc:
        this.finishFrame(byte);
        return;
    }
  }

  private startFrame(): void {
    this.body.fill(0, 0, Math.min(this.length, MAX_BODY_BYTES));
    this.state = State.Body;
    this.length = 0;
    this.badByte = false;
  }

  private finishFrame(lrc: number): void {
    const stored = this.body.subarray(0, Math.min(this.length, MAX_BODY_BYTES));
    let token: FrameToken;
    if (this.length > MAX_BODY_BYTES) token = { kind: 'bad', reason: 'length' };
    else if (this.badByte) token = { kind: 'bad', reason: 'byte' };
    else if (lrcOf(stored) !== lrc) token = { kind: 'bad', reason: 'lrc' };
    else if (bodyProblem(stored)) token = { kind: 'bad', reason: 'header' };
    else token = { kind: 'frame', body: Buffer.from(stored) };
    stored.fill(0);
    this.state = State.Idle;
    this.length = 0;
    this.badByte = false;
    this.push(token);
  }

  private armTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.state === State.Idle) return;
    this.timer = this.clock.setTimeout(() => this.onByteTimeout(), this.byteTimeoutMs);
  }

  private onByteTimeout(): void {
    this.timer = undefined;
    if (this.state === State.Idle) return;
    this.droppedPartials++;
    this.body.fill(0);
    this.state = State.Idle;
    this.length = 0;
    this.badByte = false;
  }

  private reset(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.body.fill(0);
    this.state = State.Idle;
    this.length = 0;
  }
}

