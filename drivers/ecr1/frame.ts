/**
 * ecr1 framing: `STX | BODY | ETX | LRC` (terminal-protocol.md section 3).
 *
 * This file knows bytes only. It does not know what a SEQ or a CMD means
 * beyond the rule that every body starts with two digits and FS, which the
 * link layer needs for duplicate detection.
 */
import { OtcdError } from '../errors.js';

/** Control bytes (spec section 2). */
export const STX = 0x02;
export const ETX = 0x03;
export const ACK = 0x06;
export const NAK = 0x15;
export const FS = 0x1c;

/** Body limits (spec section 3). */
export const MAX_BODY_BYTES = 1024;
/** `SEQ FS` is the shortest possible body header. */
export const SEQ_DIGITS = 2;
export const MIN_BODY_BYTES = SEQ_DIGITS + 1;
export const PRINTABLE_FIRST = 0x20;
export const PRINTABLE_LAST = 0x7e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Bytes of framing around a body: STX, ETX, LRC. */
export const FRAME_OVERHEAD_BYTES = 3;

export const ACK_FRAME: Readonly<Buffer> = Buffer.from([ACK]);
export const NAK_FRAME: Readonly<Buffer> = Buffer.from([NAK]);

export type FrameProblem = 'lrc' | 'byte' | 'length' | 'header';

export class FrameError extends OtcdError {
  constructor(readonly problem: FrameProblem, message: string) {
    super('BAD_FRAME', message);
  }
}

/** LRC: XOR of every body byte and ETX (STX excluded). */
export function lrcOf(body: Uint8Array): number {
  let lrc = ETX;
  for (let i = 0; i < body.length; i++) lrc ^= body[i];
  return lrc;
}

export function isBodyByte(byte: number): boolean {
  return (byte >= PRINTABLE_FIRST && byte <= PRINTABLE_LAST) || byte === FS;
}

function isDigit(byte: number): boolean {
  return byte >= DIGIT_0 && byte <= DIGIT_9;
}

/**
 * Why a body may not travel in a frame, or undefined when it may.
 * Order: length, then bytes, then header, so the cheapest test answers first.
 */
export function bodyProblem(body: Uint8Array): Exclude<FrameProblem, 'lrc'> | undefined {
  if (body.length > MAX_BODY_BYTES) return 'length';
  for (let i = 0; i < body.length; i++) if (!isBodyByte(body[i])) return 'byte';
  if (body.length < MIN_BODY_BYTES || !isDigit(body[0]) || !isDigit(body[1]) || body[SEQ_DIGITS] !== FS) return 'header';
  return undefined;
}

/** The SEQ (0..99) of a body that passed `bodyProblem`. */
export function seqOf(body: Uint8Array): number {
  return (body[0] - DIGIT_0) * 10 + (body[1] - DIGIT_0);
}

/**
 * `STX body ETX LRC` in one new Buffer. Throws FrameError for a body that the
 * receiver would NAK; the message never quotes the body (it may hold track 2).
 */
export function encodeFrame(body: Buffer): Buffer {
  const problem = bodyProblem(body);
  if (problem) throw new FrameError(problem, `frame body refused (${problem}, ${body.length} bytes)`);
  const frame = Buffer.allocUnsafe(body.length + FRAME_OVERHEAD_BYTES);
  frame[0] = STX;
  body.copy(frame, 1);
  frame[body.length + 1] = ETX;
  frame[body.length + 2] = lrcOf(body);
  return frame;
}
