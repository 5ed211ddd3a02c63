/**
 * The far end of a pty driven byte by byte from a test: it parses frames
 * with its own few lines (not the driver's decoder) and writes exactly the
 * bytes a test tells it to, so link rules can be checked on the wire.
 */
import { SerialPort } from 'serialport';
import { wakeOnPollerEvents } from '../../drivers/transport/poller-wakeup.js';

const STX = 0x02;
const ETX = 0x03;
export const ACK_BYTE = 0x06;
export const NAK_BYTE = 0x15;

export interface WireFrame {
  body: string;
  at: number;
}

export class RawPeer {
  readonly frames: WireFrame[] = [];
  readonly controls: number[] = [];
  private pending: number[] | undefined;
  private lrcNext = false;
  private readonly waiters = new Set<() => void>();
  /** Called for every frame received; the default answers ACK. */
  onFrame: (f: WireFrame, peer: RawPeer) => void = (_f, peer) => peer.write([ACK_BYTE]);

  private constructor(private readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      for (const b of chunk) this.take(b);
    });
  }

  static open(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
      port.open((err) => {
        if (err) return reject(err);
        wakeOnPollerEvents(port);
        resolve(new RawPeer(port));
      });
    });
  }

  private take(b: number): void {
    if (this.lrcNext) {
      const body = Buffer.from(this.pending ?? []);
      this.lrcNext = false;
      this.pending = undefined;
      let lrc = ETX;
      for (const x of body) lrc ^= x;
      if (lrc !== b) throw new Error('raw peer: bad LRC from driver');
      const f = { body: body.toString('latin1'), at: Date.now() };
      this.frames.push(f);
      this.onFrame(f, this);
    } else if (this.pending) {
      if (b === ETX) this.lrcNext = true;
      else this.pending.push(b);
    } else if (b === STX) {
      this.pending = [];
    } else {
      this.controls.push(b);
    }
    for (const w of [...this.waiters]) w();
  }

  write(bytes: number[] | Buffer): void {
    this.port.write(Buffer.from(bytes));
  }

  /** Sends `body` (FS written as '|') as a frame with a correct LRC. */
  sendFrame(body: string): void {
    const b = Buffer.from(body.replaceAll('|', '\x1c'), 'latin1');
    let lrc = ETX;
    for (const x of b) lrc ^= x;
    this.write(Buffer.concat([Buffer.from([STX]), b, Buffer.from([ETX, lrc])]));
  }

  until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (cond()) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`raw peer: condition not met in ${timeoutMs} ms; frames ${JSON.stringify(this.frames.map((f) => f.body))}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.port.isOpen) return resolve();
      this.port.close(() => resolve());
    });
  }
}
