// ecr1 framing, written for the terminal simulator on its own: the simulator is
// an independent second implementation of shared/spec/terminal-protocol.md, so
// it must not share code with the host driver in drivers/.

export const STX = 0x02;
export const ETX = 0x03;
export const ACK = 0x06;
export const NAK = 0x15;
export const FS = 0x1c;

export const MAX_BODY = 1024;
/** T_byte: a frame whose next byte is this late is dropped without a NAK. */
export const T_BYTE_MS = 200;

const PRINTABLE_MIN = 0x20;
const PRINTABLE_MAX = 0x7e;
/** BODY starts with SEQ (two ASCII digits) then FS. */
const SEQ_LENGTH = 2;
const HEADER_LENGTH = SEQ_LENGTH + 1;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

export function isBodyByte(b: number): boolean {
  return (b >= PRINTABLE_MIN && b <= PRINTABLE_MAX) || b === FS;
}

/** XOR of every BODY byte and ETX (STX excluded). */
export function lrcOf(body: Uint8Array): number {
  let lrc = 0;
  for (const b of body) lrc ^= b;
  return lrc ^ ETX;
}

export function encodeFrame(body: Buffer): Buffer {
  const frame = Buffer.alloc(body.length + 3);
  frame[0] = STX;
  body.copy(frame, 1);
  frame[body.length + 1] = ETX;
  frame[body.length + 2] = lrcOf(body);
  return frame;
}

/** Body "SEQ FS CMD [FS FIELD]..." from text parts (no card data goes through here). */
export function encodeBody(seq: number, cmd: string, fields: readonly string[]): Buffer {
  const parts = [String(seq).padStart(SEQ_LENGTH, '0'), cmd, ...fields];
  return Buffer.from(parts.join(String.fromCharCode(FS)), 'latin1');
}

export type BadFrameReason = 'lrc' | 'byte' | 'length' | 'header';

export type LinkToken =
  | { kind: 'ack' }
  | { kind: 'nak' }
  /** A good frame. `body` is a private copy the consumer must zero when done. */
  | { kind: 'frame'; body: Buffer }
  | { kind: 'bad'; reason: BadFrameReason }
  /** A partial frame dropped: T_byte ran out, or a new STX started over. */
  | { kind: 'dropped'; why: 'timeout' | 'restart' };

function hasHeader(body: Buffer): boolean {
  return (
    body.length >= HEADER_LENGTH &&
    body[0] >= DIGIT_0 && body[0] <= DIGIT_9 &&
    body[1] >= DIGIT_0 && body[1] <= DIGIT_9 &&
    body[SEQ_LENGTH] === FS
  );
}

/**
 * Receiving state machine (spec 4, "Receiving"). Reads split and join frames
 * arbitrarily, and garbage may come first. Outside a frame ACK/NAK are tokens
 * and other non-STX bytes are noise. Inside a frame every byte is collected up
 * to ETX (even bad ones: the frame is NAKed as a whole once complete), then
 * exactly one LRC byte follows, whatever its value. The body buffer is
 * preallocated and reused so card data never lands in a growing array; it is
 * zeroed after every frame.
 */
export class FrameReceiver {
  private state: 'idle' | 'body' | 'lrc' = 'idle';
  private readonly buf = Buffer.alloc(MAX_BODY);
  private length = 0;
  private overflow = false;
  private badByte = false;
  private byteTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly onToken: (t: LinkToken) => void,
    private readonly tByteMs = T_BYTE_MS,
  ) {}

  push(chunk: Buffer): void {
    for (const b of chunk) this.byte(b);
    if (this.state !== 'idle') this.armByteTimer();
  }

  /** Forget a partial frame (link closed or reopened). */
  reset(): void {
    this.clearByteTimer();
    this.startOver('idle');
  }

  private byte(b: number): void {
    if (this.state === 'lrc') {
      this.finish(b);
      return;
    }
    if (b === STX) {
      if (this.state === 'body') this.onToken({ kind: 'dropped', why: 'restart' });
      this.startOver('body');
      return;
    }
    if (this.state === 'idle') {
      if (b === ACK) this.onToken({ kind: 'ack' });
      else if (b === NAK) this.onToken({ kind: 'nak' });
      return; // noise
    }
    if (b === ETX) {
      this.state = 'lrc';
      return;
    }
    if (!isBodyByte(b)) this.badByte = true;
    if (this.length < MAX_BODY) this.buf[this.length++] = b;
    else this.overflow = true;
  }

  private finish(lrc: number): void {
    this.clearByteTimer();
    const body = this.buf.subarray(0, this.length);
    let token: LinkToken;
    if (this.overflow) token = { kind: 'bad', reason: 'length' };
    else if (this.badByte) token = { kind: 'bad', reason: 'byte' };
    else if (lrcOf(body) !== lrc) token = { kind: 'bad', reason: 'lrc' };
    else if (!hasHeader(body)) token = { kind: 'bad', reason: 'header' };
    else token = { kind: 'frame', body: Buffer.from(body) };
    this.startOver('idle');
    this.onToken(token);
  }

  private startOver(state: 'idle' | 'body'): void {
    this.buf.fill(0, 0, this.length);
    this.length = 0;
    this.overflow = false;
    this.badByte = false;
    this.state = state;
  }

  private armByteTimer(): void {
    this.clearByteTimer();
    this.byteTimer = setTimeout(() => {
      this.byteTimer = undefined;
      this.startOver('idle');
      this.onToken({ kind: 'dropped', why: 'timeout' });
    }, this.tByteMs);
  }

  private clearByteTimer(): void {
    if (this.byteTimer) clearTimeout(this.byteTimer);
    this.byteTimer = undefined;
  }
}
