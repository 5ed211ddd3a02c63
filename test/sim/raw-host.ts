// The host side of the simulator tests, kept deliberately naive and separate
// from the simulator's own code: it writes raw bytes and cuts what comes back
// into link replies and frames, checking each LRC itself.
import net from 'node:net';
import { SerialPort } from 'serialport';
import { wakeOnPollerEvents } from '../../drivers/transport/poller-wakeup.js';

export const STX = 0x02;
export const ETX = 0x03;
export const ACK = 0x06;
export const NAK = 0x15;
export const FS = '\x1c';

export type Rx =
  | { kind: 'ACK' }
  | { kind: 'NAK' }
  /** `body` with FS shown as '|' for readable assertions. */
  | { kind: 'frame'; raw: Buffer; body: string; fields: string[]; lrcOk: boolean };

export function lrc(body: Buffer): number {
  let x = ETX;
  for (const b of body) x ^= b;
  return x;
}

/** Frame from a body written with '|' for FS. */
export function frame(body: string): Buffer {
  const b = Buffer.from(body.replaceAll('|', FS), 'latin1');
  return Buffer.concat([Buffer.of(STX), b, Buffer.of(ETX, lrc(b))]);
}

interface ByteLink {
  write(b: Buffer): void;
  close(): Promise<void>;
}

export class RawHost {
  readonly received: Rx[] = [];
  private pending = Buffer.alloc(0);
  private waiters = new Set<() => void>();
  private taken = 0;
  /** ACK every good frame from the terminal, as a well-behaved host would. */
  autoAck = true;

  private constructor(private link: ByteLink | undefined) {}

  static async overSerial(path: string): Promise<RawHost> {
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    wakeOnPollerEvents(port);
    const host = new RawHost({
      write: (b) => void port.write(b),
      close: () => new Promise((r) => (port.isOpen ? port.close(() => r()) : r())),
    });
    port.on('data', (d: Buffer) => host.onBytes(d));
    port.on('error', () => undefined);
    return host;
  }

  static async overTcp(tcpPort: number): Promise<RawHost> {
    const s = net.connect(tcpPort, '127.0.0.1');
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    s.setNoDelay(true);
    s.on('error', () => undefined);
    const host = new RawHost({
      write: (b) => void s.write(b),
      close: () => new Promise((r) => {
        if (s.destroyed) r();
        else s.end(() => { s.destroy(); r(); });
      }),
    });
    s.on('data', (d: Buffer) => host.onBytes(d));
    return host;
  }

  send(bytes: Buffer): void {
    this.link?.write(bytes);
  }

  async close(): Promise<void> {
    await this.link?.close();
    this.link = undefined;
  }

  /** The next item not yet taken by next(); waits up to timeoutMs. */
  async next(timeoutMs = 5_000): Promise<Rx> {
    if (this.taken < this.received.length) return this.received[this.taken++];
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`no byte from the terminal within ${timeoutMs} ms`));
      }, timeoutMs);
      const w = (): void => {
        clearTimeout(t);
        this.waiters.delete(w);
        resolve();
      };
      this.waiters.add(w);
    });
    return this.received[this.taken++];
  }

  /** The next frame, skipping link replies. */
  async nextFrame(timeoutMs = 5_000): Promise<Extract<Rx, { kind: 'frame' }>> {
    for (;;) {
      const r = await this.next(timeoutMs);
      if (r.kind === 'frame') return r;
    }
  }

  /** Nothing at all arrives within ms. */
  async quietFor(ms: number): Promise<boolean> {
    const before = this.received.length;
    await new Promise((r) => setTimeout(r, ms));
    return this.received.length === before;
  }

  private onBytes(d: Buffer): void {
    this.pending = Buffer.concat([this.pending, d]);
    for (;;) {
      // Link replies and noise outside a frame.
      while (this.pending.length > 0 && this.pending[0] !== STX) {
        if (this.pending[0] === ACK) this.push({ kind: 'ACK' });
        else if (this.pending[0] === NAK) this.push({ kind: 'NAK' });
        this.pending = this.pending.subarray(1);
      }
      const etx = this.pending.indexOf(ETX);
      if (this.pending.length === 0 || etx < 0 || etx + 1 >= this.pending.length) return;
      const raw = Buffer.from(this.pending.subarray(0, etx + 2));
      this.pending = this.pending.subarray(etx + 2);
      const body = raw.subarray(1, etx);
      const lrcOk = lrc(body) === raw[etx + 1];
      const text = body.toString('latin1');
      if (this.autoAck) this.send(Buffer.of(lrcOk ? ACK : NAK));
      this.push({ kind: 'frame', raw, body: text.replaceAll(FS, '|'), fields: text.split(FS), lrcOk });
    }
  }

  private push(r: Rx): void {
    this.received.push(r);
    for (const w of [...this.waiters]) w();
  }
}
