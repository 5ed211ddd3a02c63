/**
 * An in-memory ByteTransport for ManualClock timing tests: the test reads
 * what the link wrote and feeds it the peer's bytes. (Real bytes on real
 * ptys are in link-pty.test.ts.)
 */
import { TransportBase, type ByteTransport } from '../../drivers/transport/transport.js';

export class MemoryTransport extends TransportBase implements ByteTransport {
  readonly address = 'memory';
  readonly byteTimeMs = 0;
  /** Copies of every write, in order (the link zeroes its own buffers). */
  readonly written: Buffer[] = [];

  write(data: Buffer): void {
    if (this.isOpen) this.written.push(Buffer.from(data));
  }

  feed(bytes: Buffer): void {
    this.emit('data', bytes);
  }

  drop(reason = 'unplugged'): void {
    this.reportClosed(reason);
  }

  close(): Promise<void> {
    this.reportClosed('closed');
    return Promise.resolve();
  }
}
