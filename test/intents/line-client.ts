/**
 * A test client for the intent socket: real Unix-socket connection, messages
 * read as parsed JSON lines, every wait bounded.
 */
import { createConnection, type Socket } from 'node:net';

export type Message = Record<string, unknown>;

const WAIT_MS = 5000;

export class LineClient {
  readonly socket: Socket;
  private readonly received: Message[] = [];
  private buffered = '';
  private waiter: (() => void) | undefined;
  ended = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.buffered += text;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) !== -1) {
        this.received.push(JSON.parse(this.buffered.slice(0, nl)) as Message);
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
      resolve();
    }));
  }

  static connect(path: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  send(message: Message | string | Buffer): void {
    this.socket.write(typeof message === 'object' && !Buffer.isBuffer(message) ? JSON.stringify(message) + '\n' : message);
  }

  /** The next message; fails if none comes in time or the connection closes. */
  async next(): Promise<Message> {
    return (await this.take(1))[0];
  }

  async take(count: number): Promise<Message[]> {
    const deadline = Date.now() + WAIT_MS;
    while (this.received.length < count) {
      if (this.ended) throw new Error(`connection closed with ${this.received.length}/${count} messages: ${JSON.stringify(this.received)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.received.length}/${count} messages: ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(timer); resolve(); };
      });
    }
    return this.received.splice(0, count);
  }

  /** Sends and waits for one message. */
  async request(message: Message | string): Promise<Message> {
    this.send(message);
    return this.next();
  }

  /** Messages received and not taken yet. */
  get pending(): Message[] {
    return [...this.received];
  }

  async waitClosed(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('connection did not close')), WAIT_MS); });
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Polls `check` until it holds; bounded. */
export async function eventually(check: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
