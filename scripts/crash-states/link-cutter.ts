/**
 * A TCP relay between otcd and the terminal simulator that a story can cut
 * and restore: the cable pulled and plugged back while the terminal itself
 * (the simulator, with everything it decided) keeps running.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class LinkCutter {
  private readonly sockets = new Set<Socket>();
  private connected = true;
  private readonly server: Server;
  port = -1;

  private constructor(targetPort: number) {
    this.server = createServer((near) => this.relay(near, targetPort));
  }

  static async start(targetPort: number): Promise<LinkCutter> {
    const cutter = new LinkCutter(targetPort);
    await new Promise<void>((resolve) => cutter.server.listen(0, '127.0.0.1', resolve));
    const address = cutter.server.address();
    if (address === null || typeof address === 'string') throw new Error('the link relay has no TCP port');
    cutter.port = address.port;
    return cutter;
  }

  /** Drops every connection and refuses new ones until `restore`. */
  cut(): void {
    this.connected = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.connected = true;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(near: Socket, targetPort: number): void {
    if (!this.connected) {
      near.destroy();
      return;
    }
    const far = connect(targetPort, '127.0.0.1');
    const pair = [near, far];
    for (const s of pair) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        for (const other of pair) other.destroy();
      });
    }
    near.pipe(far);
    far.pipe(near);
  }
}
