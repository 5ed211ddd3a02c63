/**
 * Splits a byte stream into lines with a hard bound on what it holds.
 *
 * Assumptions: reads split and join lines anywhere (even inside a UTF-8
 * sequence, so this works on bytes and never decodes); a line ends at `\n`;
 * one `\r` before the `\n` is part of the terminator, not the line (clients
 * written for CRLF protocols work unchanged); empty lines are skipped.
 *
 * The limit counts the line's bytes without its terminator. The overflow is
 * detected while accumulating: the reader never holds more than the limit
 * plus one byte (a possible `\r` whose `\n` has not arrived yet), however
 * long the client keeps sending without a newline.
 */
export const MAX_LINE_BYTES = 16_384;

const LF = 0x0a;
const CR = 0x0d;

export interface LineBatch {
  /** Complete lines, in order, without terminators. */
  lines: Buffer[];
  /** True when a line went over the limit after `lines`; the reader then stops. */
  overflow: boolean;
}

export class LineReader {
  private parts: Buffer[] = [];
  private held = 0;
  private overflowed = false;

  constructor(readonly maxLineBytes: number = MAX_LINE_BYTES) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new TypeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    }
  }

  /** Bytes of the unfinished line held now. */
  get pendingBytes(): number {
    return this.held;
  }

  push(chunk: Buffer): LineBatch {
    const lines: Buffer[] = [];
    if (this.overflowed) return { lines, overflow: true };
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, start);
      if (nl === -1) break;
      const line = this.take(chunk.subarray(start, nl));
      if (line === undefined) return this.overflow(lines);
      if (line.length > 0) lines.push(line);
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      this.held += rest.length;
      // Copy: the caller's chunk may be a slice of a pool reused later.
      this.parts.push(Buffer.from(rest));
      if (this.held > this.maxLineBytes + 1 || (this.held === this.maxLineBytes + 1 && rest[rest.length - 1] !== CR)) {
        return this.overflow(lines);
      }
    }
    return { lines, overflow: false };
  }

  /**
   * The unfinished last line at end of input, if any: a client that closes
   * its side after a final request without `\n` is still answered.
   */
  end(): Buffer | undefined {
    if (this.overflowed || this.held === 0) return undefined;
    const line = this.take(Buffer.alloc(0));
    return line !== undefined && line.length > 0 ? line : undefined;
  }

  /** Joins held bytes with `tail`, strips one `\r`; undefined if over the limit. */
  private take(tail: Buffer): Buffer | undefined {
    let line = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail]);
    this.parts = [];
    this.held = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    return line.length > this.maxLineBytes ? undefined : line;
  }

  private overflow(lines: Buffer[]): LineBatch {
    this.overflowed = true;
    this.parts = [];
    this.held = 0;
    return { lines, overflow: true };
  }
}
