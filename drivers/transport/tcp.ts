/**
 * A raw TCP byte stream (ser2net, a LAN terminal) as a ByteTransport.
 * Nagle is off: ACKs are single bytes that must go out at once.
 */
import net from 'node:net';
import { systemClock, type Clock } from '../clock.js';
import { TransportBase, type ByteTransport } from './transport.js';
import { TransportError } from './errors.js';

export interface TcpOptions {
  clock?: Clock;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
const KEEPALIVE_MS = 10_000;

export class TcpTransport extends TransportBase implements ByteTransport {
  readonly byteTimeMs = 0;

  private constructor(
    readonly address: string,
    private readonly socket: net.Socket,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {
    super();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.on('data', (chunk: Buffer) => this.emit('data', chunk));
    socket.on('error', (err) => this.lost(`connection error: ${err.message}`));
    socket.on('end', () => this.lost('peer closed the connection'));
    socket.on('close', () => this.reportClosed('connection closed'));
  }

  static open(address: string, host: string, port: number, opts: TcpOptions = {}): Promise<TcpTransport> {
    const clock = opts.clock ?? systemClock;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const fail = (err: Error): void => {
        timer.cancel();
        socket.destroy();
        reject(TransportError.fromConnect(address, err));
      };
      const timer = clock.setTimeout(() => fail(Object.assign(new Error(`no connection within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
      socket.once('error', fail);
      socket.once('connect', () => {
        timer.cancel();
        socket.off('error', fail);
        resolve(new TcpTransport(address, socket, clock, timeoutMs));
      });
    });
  }

  write(data: Buffer): void {
    if (!this.isOpen) return;
    this.socket.write(data);
  }

  close(): Promise<void> {
    if (this.socket.destroyed) {
      this.reportClosed('closed by driver');
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, this.timeoutMs);
      this.socket.once('close', () => {
        timer.cancel();
        resolve();
      });
      this.reportClosed('closed by driver');
      this.socket.end();
      this.socket.destroy();
    });
  }

  private lost(reason: string): void {
    this.reportClosed(reason);
    this.socket.destroy();
  }
}
