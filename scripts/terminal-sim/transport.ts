// The byte pipes the simulated terminal can sit on: a serial device (or pty
// link) that it keeps reopening when it disappears, or a TCP server taking one
// host connection at a time (ser2net-style).
import { stat } from 'node:fs/promises';
import net from 'node:net';
import { SerialPort } from 'serialport';
// Platform plumbing, not protocol: the simulator shares no framing or link
// code with drivers/, but Node 26's stalled serialport reads hit it the same way.
import { wakeOnPollerEvents } from '../../drivers/transport/poller-wakeup.js';
import type { Wire } from './link.js';

export const REOPEN_INTERVAL_MS = 200;
/** A write callback may never fire on a vanished port (platform facts): bound it. */
const DRAIN_LIMIT_MS = 500;
/**
 * How often an open port's device is looked at. A reading port usually hears of
 * an unplug at once (a 'close'), but not always: on a pty whose socat was
 * killed, about one run in six heard nothing at all (test/sim). The device
 * node going away, or another device behind the same path, is the unplug.
 */
const PRESENCE_CHECK_MS = 250;

export interface WireHandlers {
  opened(): void;
  data(chunk: Buffer): void;
  closed(): void;
}

export interface Transport extends Wire {
  /** Resolves once the first link is usable (serial) or the server listens (TCP). */
  start(h: WireHandlers): Promise<{ port: string } | { tcpPort: number }>;
  close(): Promise<void>;
}

function bounded(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    void p.finally(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

export class SerialTransport implements Transport {
  private port: SerialPort | undefined;
  private handlers: WireHandlers | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private presenceTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private waitingReported = false;

  constructor(private readonly path: string, private readonly baudRate: number) {}

  start(h: WireHandlers): Promise<{ port: string }> {
    this.handlers = h;
    return new Promise((resolve) => this.tryOpen(() => resolve({ port: this.path })));
  }

  isOpen(): boolean {
    return this.port?.isOpen === true;
  }

  write(bytes: Buffer): void {
    const p = this.port;
    if (!p?.isOpen) return;
    p.write(bytes, (err) => {
      if (err) this.lost(p);
    });
  }

  async writeThenDrop(bytes: Buffer): Promise<void> {
    const p = this.port;
    if (!p) return;
    this.port = undefined; // nothing else goes out, and no reopen
    this.stopping = true;
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    await bounded(new Promise((resolve) => p.write(bytes, () => p.drain(() => resolve()))), DRAIN_LIMIT_MS);
    await bounded(new Promise((resolve) => p.close(() => resolve())), DRAIN_LIMIT_MS);
    this.handlers?.closed();
  }

  async close(): Promise<void> {
    this.stopping = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    const p = this.port;
    this.port = undefined;
    if (p?.isOpen) await bounded(new Promise((resolve) => p.close(() => resolve())), DRAIN_LIMIT_MS);
  }

  private tryOpen(onFirstOpen?: () => void): void {
    if (this.stopping) return;
    // 8N1, no flow control (spec 1). DTR/RTS are left alone: ptys refuse them.
    const p = new SerialPort({
      path: this.path, baudRate: this.baudRate, dataBits: 8, parity: 'none', stopBits: 1,
      rtscts: false, xon: false, xoff: false, autoOpen: false,
    });
    p.open((err) => {
      if (err || this.stopping) {
        if (err && !this.waitingReported) {
          this.waitingReported = true;
          process.stderr.write(`terminal-sim: waiting for ${this.path} (${err.message}); retrying every ${REOPEN_INTERVAL_MS} ms\n`);
        }
        if (!err) p.close();
        this.scheduleReopen(onFirstOpen);
        return;
      }
      this.waitingReported = false;
      wakeOnPollerEvents(p);
      this.port = p;
      p.on('data', (chunk: Buffer) => {
        if (this.port === p) this.handlers?.data(chunk);
      });
      // A vanished port sends 'error' then one or two 'close' events: only the
      // first one for the current port counts.
      p.on('close', () => this.lost(p));
      p.on('error', () => this.lost(p));
      this.watchPresence(p);
      onFirstOpen?.();
      this.handlers?.opened();
    });
  }

  private watchPresence(p: SerialPort): void {
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    let device: number | undefined;
    void stat(this.path).then((s) => { device = s.rdev; }, () => undefined);
    this.presenceTimer = setInterval(() => {
      stat(this.path).then((s) => {
        if (device !== undefined && s.rdev !== device) this.lost(p);
      }, () => this.lost(p));
    }, PRESENCE_CHECK_MS);
  }

  private lost(p: SerialPort): void {
    if (this.port !== p) return;
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    this.port = undefined;
    if (p.isOpen) p.close(() => undefined);
    this.handlers?.closed();
    this.scheduleReopen();
  }

  private scheduleReopen(onFirstOpen?: () => void): void {
    if (this.stopping) return;
    this.reopenTimer = setTimeout(() => this.tryOpen(onFirstOpen), REOPEN_INTERVAL_MS);
  }
}

export class TcpTransport implements Transport {
  private readonly server = net.createServer((s) => this.accept(s));
  private socket: net.Socket | undefined;
  private handlers: WireHandlers | undefined;

  constructor(private readonly host: string, private readonly port: number) {}

  start(h: WireHandlers): Promise<{ tcpPort: number }> {
    this.handlers = h;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        const addr = this.server.address();
        resolve({ tcpPort: typeof addr === 'object' && addr ? addr.port : this.port });
      });
    });
  }

  isOpen(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  write(bytes: Buffer): void {
    if (this.isOpen()) this.socket?.write(bytes);
  }

  async writeThenDrop(bytes: Buffer): Promise<void> {
    const s = this.socket;
    if (!s) return;
    await bounded(new Promise((resolve) => s.write(bytes, () => resolve())), DRAIN_LIMIT_MS);
    s.destroy(); // its 'close' reports link-closed
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await bounded(new Promise((resolve) => this.server.close(() => resolve())), DRAIN_LIMIT_MS);
  }

  /** One host at a time: a new connection replaces the old one (a link reopen). */
  private accept(s: net.Socket): void {
    const old = this.socket;
    if (old) {
      this.socket = undefined;
      old.destroy();
      this.handlers?.closed();
    }
    this.socket = s;
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      if (this.socket === s) this.handlers?.data(chunk);
    });
    s.on('error', () => undefined); // 'close' follows
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.handlers?.closed();
    });
    this.handlers?.opened();
  }
}
