/**
 * A serial port (8N1, no flow control) as a ByteTransport. Works with
 * /dev/ttyUSB*, /dev/serial/by-id/* links and pty links (socat).
 *
 * What this wraps (measured, platform-facts.md "Serial"): a reading port that
 * loses its device gets one `close` (DisconnectedError) within ~5 ms; a write
 * to a lost device fails with EIO, then `error` and two `close` events, and
 * a write callback may never fire. So close is reported once, write errors
 * close the transport, and nothing here waits on a write callback.
 */
import { stat } from 'node:fs';
import type { SerialPort } from 'serialport';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { TransportBase, type ByteTransport } from './transport.js';
import { TransportError } from './errors.js';
import { wakeOnPollerEvents } from './poller-wakeup.js';

/** 8N1: start bit, 8 data bits, stop bit. */
export const BITS_PER_BYTE = 10;
export const BAUD_RATES = [9600, 19200, 38400, 57600, 115200] as const;
export type BaudRate = (typeof BAUD_RATES)[number];
export const DEFAULT_BAUD_RATE: BaudRate = 115200;

export interface SerialOptions {
  baudRate?: number;
  clock?: Clock;
  /** Bound on open() and close(); a wedged USB driver must not hang the caller. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
/**
 * How often the device path is checked. An unplugged USB adapter loses its
 * /dev node (and by-id link); serialport normally reports the hangup at once,
 * but a port that was killed while its peer was closing was seen to stay
 * "open" silently on these machines, so presence is polled as a backstop.
 */
export const PRESENCE_CHECK_MS = 500;

export class SerialTransport extends TransportBase implements ByteTransport {
  readonly byteTimeMs: number;

  private constructor(
    readonly address: string,
    private readonly port: SerialPort,
    baudRate: number,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {
    super();
    this.byteTimeMs = (BITS_PER_BYTE * 1000) / baudRate;
    port.on('data', (chunk: Buffer) => this.emit('data', chunk));
    port.on('error', (err: Error) => this.lost(`port error: ${err.message}`));
    port.on('close', (err?: Error | null) => this.reportClosed(err ? `port closed: ${err.message}` : 'port closed'));
    this.once('close', () => this.presenceTimer?.cancel());
    this.checkPresence();
  }

  private presenceTimer: Timer | undefined;

  private checkPresence(): void {
    this.presenceTimer = this.clock.setTimeout(() => {
      if (!this.isOpen) return;
      stat(this.address, (err) => {
        if (err) this.lost(`device ${this.address} disappeared (${err.code ?? err.message})`);
        else this.checkPresence();
      });
    }, PRESENCE_CHECK_MS);
  }

  static async open(address: string, opts: SerialOptions = {}): Promise<SerialTransport> {
    const baudRate = opts.baudRate ?? DEFAULT_BAUD_RATE;
    if (!(BAUD_RATES as readonly number[]).includes(baudRate)) {
      throw new TypeError(`baudRate must be one of ${BAUD_RATES.join(', ')}, got ${baudRate}`);
    }
    // Loaded on first use: a TCP terminal never needs it, and start-up (READY) does not wait for it.
    const { SerialPort } = await import('serialport');
    const clock = opts.clock ?? systemClock;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const port = new SerialPort({
        path: address,
        baudRate,
        dataBits: 8,
        parity: 'none',
        stopBits: 1,
        rtscts: false,
        xon: false,
        xoff: false,
        autoOpen: false,
      });
      let settled = false;
      const timer = clock.setTimeout(() => {
        if (settled) return;
        settled = true;
        port.close(() => undefined);
        reject(new TransportError('OPEN_TIMEOUT', `opening ${address} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      port.open((err) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        if (err) {
          reject(TransportError.fromOpen(address, err));
          return;
        }
        wakeOnPollerEvents(port);
        resolve(new SerialTransport(address, port, baudRate, clock, timeoutMs));
      });
    });
  }

  write(data: Buffer): void {
    if (!this.isOpen) return;
    this.port.write(data, (err) => {
      if (err) this.lost(`write failed: ${err.message}`);
    });
  }

  close(): Promise<void> {
    if (!this.port.isOpen) {
      this.reportClosed('closed by driver');
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.reportClosed('closed by driver (close timed out)');
        resolve();
      }, this.timeoutMs);
      this.port.close(() => {
        timer.cancel();
        this.reportClosed('closed by driver');
        resolve();
      });
    });
  }

  private lost(reason: string): void {
    this.reportClosed(reason);
    if (this.port.isOpen) this.port.close(() => undefined);
  }
}
