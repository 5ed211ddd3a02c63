/**
 * Keeps the metrics file up to date: written whole and atomically (a temporary
 * file in the same directory, then rename), so node_exporter never reads half
 * a file; at once when something a fleet alerts on changed (a payment's final
 * state, the terminal link), and at most every `minIntervalMs` for the rest
 * (link counters, latencies, key pairs). Nothing runs while nothing changes:
 * the only timer is the one a change starts.
 *
 * No fsync: the file is rebuilt from the daemon's state at every write, so a
 * power cut can cost at most one stale file, and an SD card is spared a flush
 * per payment.
 */
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../drivers/clock.js';

/** node_exporter runs as user prometheus: the file must be world-readable whatever otcd's umask (the unit sets 0077). */
const FILE_MODE = 0o644;

export interface MetricsTextfileOptions {
  path: string;
  /** The whole exposition text, read at each write. */
  render: () => string;
  clock: Clock;
  logger: Logger;
  /** Least time between two writes for changes that are not urgent. */
  minIntervalMs: number;
}

export class MetricsTextfile {
  private readonly tmpPath: string;
  private readonly log: Logger;
  private timer: Timer | undefined;
  private writing: Promise<void> | undefined;
  private writeAgain = false;
  private lastWriteAt: number | undefined;
  private lastText: string | undefined;
  private failure: string | undefined;
  private stopped = false;

  constructor(private readonly opts: MetricsTextfileOptions) {
    // Not ending in .prom: the textfile collector reads *.prom only.
    this.tmpPath = `${opts.path}.tmp`;
    this.log = opts.logger.child({ module: 'metrics' });
  }

  /** Something a fleet alerts on changed: write now (after a write under way). */
  changed(): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.request();
  }

  /** Something changed that may wait: written within `minIntervalMs` of the last write. */
  touched(): void {
    if (this.stopped || this.timer !== undefined || this.writeAgain) return;
    const since = this.lastWriteAt === undefined ? Infinity : this.opts.clock.now() - this.lastWriteAt;
    const delay = Math.max(0, this.opts.minIntervalMs - since);
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      this.request();
    }, delay);
  }

  /** A last write with the final counters; no write after it. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.request();
    this.stopped = true;
    while (this.writing) await this.writing;
  }

  /** Resolves when no write is under way (for tests and stop). */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private request(): void {
    if (this.writing) {
      this.writeAgain = true;
      return;
    }
    this.writing = this.writeOnce().finally(() => {
      this.writing = undefined;
      if (this.writeAgain) {
        this.writeAgain = false;
        this.request();
      }
    });
  }

  private async writeOnce(): Promise<void> {
    this.lastWriteAt = this.opts.clock.now();
    let text: string;
    try {
      text = this.opts.render();
    } catch (err) {
      this.log.error({ err: { message: (err as Error).message } }, 'cannot build the metrics text');
      return;
    }
    if (text === this.lastText) return;
    try {
      const file = await open(this.tmpPath, 'w', FILE_MODE);
      try {
        await file.writeFile(text);
        await file.chmod(FILE_MODE);
      } finally {
        await file.close();
      }
      await rename(this.tmpPath, this.opts.path);
      this.lastText = text;
      if (this.failure !== undefined) this.log.info({ path: this.opts.path }, 'metrics file written again');
      this.failure = undefined;
    } catch (err) {
      await unlink(this.tmpPath).catch(() => undefined);
      this.reportFailure(err as NodeJS.ErrnoException);
    }
  }

  /** One log line per kind of failure, not one per write. */
  private reportFailure(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'UNKNOWN';
    if (code === this.failure) return;
    this.failure = code;
    const dir = dirname(this.opts.path);
    if (code === 'ENOENT') {
      this.log.info({ path: this.opts.path },
        `metrics not written: ${dir} does not exist; install prometheus-node-exporter, or set [metrics] textfile to another path or "" for none`);
    } else if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      this.log.warn({ path: this.opts.path, code },
        `metrics not written: user otcd may not create files in ${dir} (${code}); see the README's "Fleet metrics" for the access it needs, or set [metrics] textfile to "" to turn metrics off`);
    } else {
      this.log.warn({ path: this.opts.path, code }, `metrics not written to ${basename(this.opts.path)} in ${dir}: ${err.message}`);
    }
  }
}
