/**
 * The intent socket: where it comes from (systemd socket activation or a
 * path we bind), who may connect (mode and group), and how many at once.
 * Each accepted client is an `IntentConnection`.
 *
 * Permissions window: the socket file is created by bind(2) inside
 * `server.listen()`, which Node runs synchronously. We set a umask of 0177
 * around that call, so the file is born 0600 (only the daemon's user can
 * connect), then chown it to the group and chmod it to `mode` with sync
 * calls before returning to the event loop. No accept runs before the final
 * permissions are in place, and at no moment can anyone else connect.
 * (`process.umask` is process-wide; nothing else runs during that
 * synchronous stretch.)
 *
 * A stale socket file (a crashed daemon) is probed before it is replaced:
 * connection refused means nobody listens and it is unlinked; a live
 * listener means another daemon runs (ALREADY_RUNNING) and nothing is
 * touched; a file that is not a socket is never deleted (NOT_A_SOCKET).
 * Between the unlink and the bind another process could bind the same path;
 * systemd runs one instance, and bind then fails with EADDRINUSE anyway.
 *
 * Over `maxClients`, a new client is accepted just long enough to be told
 * why (an `error` line, code INTERNAL, "too many clients"), then closed: a
 * kiosk developer sees the reason instead of a bare EOF, and the daemon
 * holds nothing for it.
 */
import { lstatSync, chmodSync, chownSync } from 'node:fs';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import { systemClock, type Clock } from '../../drivers/clock.js';
import { OtcdError } from '../../drivers/errors.js';
import type { PaymentService } from '../payments/model.js';
import { IntentConnection } from './connection.js';
import type { PingResult } from './protocol.js';
import { encodeError } from './protocol.js';
import { resolveGroupId } from '../../config/unix-group.js';

export const DEFAULT_SOCKET_MODE = 0o660;
export const DEFAULT_MAX_CLIENTS = 64;
/** First passed fd under the sd_listen_fds(3) convention. */
export const SD_LISTEN_FDS_START = 3;
/** Socket file mode while permissions are being set: owner only. */
const BIND_UMASK = 0o177;
const DIR_MODE = 0o755;
const STALE_PROBE_TIMEOUT_MS = 2000;
/** How long `close()` lets clients take their last bytes before cutting them. */
const CLOSE_GRACE_MS = 2000;
/** A refused client is cut if it has not taken its error line by then. */
const REFUSAL_TIMEOUT_MS = 1000;

export type IntentServerErrorCode = 'ALREADY_RUNNING' | 'NOT_A_SOCKET' | 'SOCKET_SETUP_FAILED';

export class IntentServerError extends OtcdError {
  declare readonly code: IntentServerErrorCode;
  constructor(code: IntentServerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface IntentServerOptions {
  service: PaymentService;
  path: string;
  /** Default 0o660. Not applied to an activated socket (systemd's SocketMode= is). */
  mode?: number;
  /** Group name or numeric gid for the socket file. */
  group?: string | number;
  maxClients?: number;
  logger?: Logger;
  clock?: Clock;
  /** Additive op `terminal.ping`; without it the op answers UNKNOWN_OP. */
  pingTerminal?: () => Promise<PingResult>;
  /** The terminal's address, named in the errors of `terminal.ping`. */
  terminalAddress?: string;
  /** Per-connection cap on output not yet taken by the kernel (default 1 MiB). */
  maxPendingOutputBytes?: number;
  /** For tests; default /etc/group. */
  groupFile?: string;
}

export interface ActivatedFds {
  fd: number;
  count: number;
  names: string[];
}

/**
 * sd_listen_fds(3) with unset_environment: the passed fds, if they are for
 * this process. The variables are removed either way, so children spawned
 * later do not take them for their own.
 */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): ActivatedFds | undefined {
  const listenPid = env.LISTEN_PID;
  const listenFds = env.LISTEN_FDS;
  const names = env.LISTEN_FDNAMES;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (listenPid === undefined || listenFds === undefined) return undefined;
  if (!/^\d+$/.test(listenPid) || Number(listenPid) !== pid) return undefined;
  const count = /^\d+$/.test(listenFds) ? Number(listenFds) : 0;
  if (count < 1) return undefined;
  return { fd: SD_LISTEN_FDS_START, count, names: names === undefined ? [] : names.split(':') };
}

export class IntentServer {
  private readonly opts: IntentServerOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly maxClients: number;
  private server: Server | undefined;
  private readonly connections = new Set<IntentConnection>();
  private shuttingDown = false;
  /** Inode of the socket file we bound; undefined when activated. */
  private boundIno: number | undefined;

  constructor(opts: IntentServerOptions) {
    this.opts = opts;
    this.logger = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'intents' });
    this.clock = opts.clock ?? systemClock;
    this.maxClients = opts.maxClients ?? DEFAULT_MAX_CLIENTS;
    if (!Number.isInteger(this.maxClients) || this.maxClients < 1) {
      throw new TypeError(`maxClients must be a positive integer, got ${this.maxClients}`);
    }
  }

  get clientCount(): number {
    return this.connections.size;
  }

  setShuttingDown(): void {
    this.shuttingDown = true;
  }

  async listen(): Promise<void> {
    if (this.server !== undefined) throw new IntentServerError('SOCKET_SETUP_FAILED', 'the intent server is already listening');
    const server = createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
    const activated = takeListenFds();
    if (activated !== undefined) {
      if (activated.count > 1) {
        this.logger.warn({ count: activated.count, names: activated.names }, 'more than one socket passed; serving the first');
      }
      await listening(server, () => server.listen({ fd: activated.fd }));
      this.logger.info({ fd: activated.fd, name: activated.names[0] }, 'serving the socket passed by systemd');
    } else {
      await this.bind(server);
      this.logger.info({ path: this.opts.path }, 'listening');
    }
    server.on('error', (err) => this.logger.error({ err }, 'intent socket error'));
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.connections) connection.end();
    const cut = this.clock.setTimeout(() => {
      for (const connection of this.connections) connection.destroy();
    }, CLOSE_GRACE_MS);
    await closed;
    cut.cancel();
    await this.removeSocketFile();
  }

  private async bind(server: Server): Promise<void> {
    const { path } = this.opts;
    await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
    await this.clearStale(path);
    const gid = this.opts.group === undefined ? undefined : await resolveGroupId(this.opts.group, this.opts.groupFile);
    const mode = this.opts.mode ?? DEFAULT_SOCKET_MODE;
    await listening(server, () => {
      const umask = process.umask(BIND_UMASK);
      try {
        server.listen(path);
      } finally {
        process.umask(umask);
      }
      if (!server.listening) return; // bind failed; the error event follows
      try {
        if (gid !== undefined) chownSync(path, -1, gid);
        chmodSync(path, mode);
        this.boundIno = lstatSync(path).ino;
      } catch (err) {
        server.close();
        throw new IntentServerError('SOCKET_SETUP_FAILED', `cannot set owner group or mode of ${path}: ${(err as Error).message}`, { cause: err });
      }
    }).catch((err: unknown) => {
      if (err instanceof OtcdError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new IntentServerError('SOCKET_SETUP_FAILED', `cannot listen on ${path} (${code}): check the directory and its permissions`, { cause: err });
    });
  }

  private async clearStale(path: string): Promise<void> {
    let isSocket: boolean;
    try {
      isSocket = (await lstat(path)).isSocket();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (!isSocket) {
      throw new IntentServerError('NOT_A_SOCKET', `${path} exists and is not a socket; it was left alone: remove it or choose another socket path`);
    }
    const probe = await probeSocket(path, this.clock);
    if (probe === 'live') {
      throw new IntentServerError('ALREADY_RUNNING', `another process is serving ${path}; stop it first (is otcd already running?)`);
    }
    if (probe !== 'stale') {
      throw new IntentServerError('SOCKET_SETUP_FAILED', `cannot tell whether ${path} is in use (${probe}); it was left alone`);
    }
    this.logger.info({ path }, 'replacing a stale socket file');
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  private onConnection(socket: Socket): void {
    if (this.connections.size >= this.maxClients) {
      this.logger.warn({ maxClients: this.maxClients }, 'too many clients; refusing one');
      const cut = this.clock.setTimeout(() => socket.destroy(), REFUSAL_TIMEOUT_MS);
      socket.on('error', () => undefined);
      socket.on('close', () => cut.cancel());
      socket.end(encodeError('INTERNAL', `too many clients (${this.maxClients} connected); close idle connections and retry`), () => socket.destroy());
      return;
    }
    const connection: IntentConnection = new IntentConnection(socket, {
      service: this.opts.service,
      logger: this.logger,
      clock: this.clock,
      isShuttingDown: () => this.shuttingDown,
      pingTerminal: this.opts.pingTerminal,
      terminalAddress: this.opts.terminalAddress,
      maxPendingOutputBytes: this.opts.maxPendingOutputBytes,
    }, () => this.connections.delete(connection));
    this.connections.add(connection);
  }

  /** Removes the socket file we bound, if it is still ours (not one bound since by another). */
  private async removeSocketFile(): Promise<void> {
    const ino = this.boundIno;
    this.boundIno = undefined;
    if (ino === undefined) return;
    try {
      if ((await lstat(this.opts.path)).ino === ino) await unlink(this.opts.path);
    } catch (err) {
      // libuv already unlinks a bound pipe when its handle closes.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Runs `start` and resolves once the server listens, or rejects with its error. */
function listening(server: Server, start: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    try {
      start();
    } catch (err) {
      server.off('error', onError);
      server.off('listening', onListening);
      reject(err);
    }
  });
}

type ProbeResult = 'live' | 'stale' | string;

/** Connects to an existing socket file to see whether anyone serves it. */
function probeSocket(path: string, clock: Clock): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    const socket = createConnection(path);
    const done = (result: ProbeResult): void => {
      timer.cancel();
      socket.destroy();
      resolve(result);
    };
    // A listener whose backlog is full leaves connect hanging: that is a live one.
    const timer = clock.setTimeout(() => done('live'), STALE_PROBE_TIMEOUT_MS);
    socket.once('connect', () => done('live'));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') done('stale');
      else if (err.code === 'EAGAIN') done('live');
      else done(err.code ?? err.message);
    });
  });
}
