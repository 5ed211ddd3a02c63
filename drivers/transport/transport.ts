/**
 * The byte pipe under a link: a serial port or a TCP connection. It knows
 * nothing about frames. `close` is reported exactly once, whatever the
 * underlying object emits (serialport may emit it twice).
 */
import { EventEmitter } from 'node:events';

export interface ByteTransport {
  /** The address it was opened with, for log lines. */
  readonly address: string;
  /** Milliseconds one byte takes on the wire (10 bits per byte at 8N1); 0 on TCP. */
  readonly byteTimeMs: number;
  /** Queues bytes for sending; never throws. A failed write closes the transport. */
  write(data: Buffer): void;
  /** Closes the pipe; resolves once closed (bounded by a timer). Safe to repeat. */
  close(): Promise<void>;
  get isOpen(): boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'close', listener: (reason: string) => void): this;
  off(event: 'data', listener: (chunk: Buffer) => void): this;
  off(event: 'close', listener: (reason: string) => void): this;
}

/** Shared bookkeeping: emit 'close' once, remember why. */
export abstract class TransportBase extends EventEmitter {
  private closedReason: string | undefined;

  get isOpen(): boolean {
    return this.closedReason === undefined;
  }

  protected reportClosed(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.emit('close', reason);
  }
}
