// The simulator's output: one JSON object per line on stdout, for tests and for
// a technician watching a rehearsal. The ready line is always the first line,
// so anything emitted while the transport comes up waits for it.

export interface SimEventOut {
  ev: string;
  [k: string]: unknown;
}

export class EventLog {
  private isReady = false;
  private readonly pending: SimEventOut[] = [];

  constructor(private readonly quiet: boolean) {}

  ready(where: { port: string } | { tcpPort: number }): void {
    this.write({ ev: 'ready', ...where });
    this.isReady = true;
    for (const e of this.pending.splice(0)) this.emit(e);
  }

  emit(e: SimEventOut): void {
    if (this.quiet) return;
    if (!this.isReady) {
      this.pending.push(e);
      return;
    }
    this.write(e);
  }

  private write(e: SimEventOut): void {
    // Pipes are written synchronously by Node on Linux, so a line emitted just
    // before process.exit() is not lost.
    process.stdout.write(`${JSON.stringify(e)}\n`);
  }
}
