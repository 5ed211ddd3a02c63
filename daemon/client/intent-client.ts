/**
 * A small client of the intent socket (shared/spec/intent-protocol.md), as a
 * kiosk application would write one: newline-delimited JSON over a Unix
 * socket. Used by `otcctl`, the demo and the end-to-end tests.
 */
import { connect, type Socket } from 'node:net';
import { OtcdError } from '../../drivers/errors.js';

export interface DaemonMessage {
  type: 'reply' | 'event' | 'error';
  req?: string;
  [key: string]: unknown;
}

export class ClientError extends OtcdError {}

export class IntentClient {
  private buffered = '';
  private readonly queue: DaemonMessage[] = [];
  private waiters: Array<{ accept: (m: DaemonMessage) => boolean; resolve: (m: DaemonMessage) => void; reject: (e: Error) => void }> = [];
  private closed: Error | undefined;
  private counter = 0;
  /** Every message received, in order (events too). */
  readonly received: DaemonMessage[] = [];
  onMessage: ((m: DaemonMessage) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    const end = (err?: Error): void => {
      this.closed = err ?? new ClientError('CLOSED', 'otcd closed the connection');
      for (const w of this.waiters) w.reject(this.closed);
      this.waiters = [];
    };
    socket.on('error', (err) => end(err));
    socket.on('close', () => end());
  }

  /** Connects, with errors a person can act on (daemon not running, permissions). */
  static connect(path: string): Promise<IntentClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => resolve(new IntentClient(socket)));
      socket.once('error', (err: NodeJS.ErrnoException) => reject(connectError(path, err)));
    });
  }

  /** Sends one request and resolves with its reply or error message. */
  async request(body: Record<string, unknown>): Promise<DaemonMessage> {
    const req = typeof body.req === 'string' ? body.req : `c${++this.counter}`;
    this.sendLine(JSON.stringify({ ...body, req }));
    return this.next((m) => m.req === req && (m.type === 'reply' || m.type === 'error'));
  }

  /** Writes a raw line (tests use it for bad input). */
  sendLine(line: string): void {
    if (this.closed) throw this.closed;
    this.socket.write(`${line}\n`);
  }

  /** The next message (already received or coming) that `accept` takes. */
  next(accept: (m: DaemonMessage) => boolean = () => true, timeoutMs = 0): Promise<DaemonMessage> {
    const index = this.queue.findIndex(accept);
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0]);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        accept,
        resolve: (m: DaemonMessage) => { if (timer) clearTimeout(timer); resolve(m); },
        reject: (e: Error) => { if (timer) clearTimeout(timer); reject(e); },
      };
      this.waiters.push(waiter);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new ClientError('TIMEOUT', `no matching message from otcd within ${timeoutMs} ms`));
        }, timeoutMs);
      }
    });
  }

  /** Resolves with the final event of an intent (events before it go to onMessage). */
  finalEvent(intentId: string, timeoutMs = 0): Promise<DaemonMessage> {
    return this.next((m) => m.type === 'event' && m.intentId === intentId && isFinal(m.state), timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      if (line.length === 0) continue;
      let message: DaemonMessage;
      try {
        message = JSON.parse(line) as DaemonMessage;
      } catch {
        continue;
      }
      this.received.push(message);
      this.onMessage?.(message);
      const waiter = this.waiters.find((w) => w.accept(message));
      if (waiter) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(message);
      } else {
        this.queue.push(message);
      }
    }
  }
}

const FINAL_STATES = new Set(['approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown', 'voided']);
export function isFinal(state: unknown): boolean {
  return typeof state === 'string' && FINAL_STATES.has(state);
}

function connectError(path: string, err: NodeJS.ErrnoException): ClientError {
  switch (err.code) {
    case 'ENOENT':
      return new ClientError('NOT_RUNNING', `no socket at ${path}: is otcd running? (systemctl status otcd)`);
    case 'ECONNREFUSED':
      return new ClientError('NOT_RUNNING', `nothing listens on ${path}: otcd is not running (systemctl status otcd)`);
    case 'EACCES':
    case 'EPERM':
      return new ClientError('PERMISSION_DENIED', `permission denied on ${path}: add your user to group otcd (usermod -aG otcd $USER, then log in again)`);
    default:
      return new ClientError('CONNECT_FAILED', `cannot connect to ${path}: ${err.message}`);
  }
}
