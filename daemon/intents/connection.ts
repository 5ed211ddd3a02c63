/**
 * One client on the intent socket: its lines, its requests in order, the
 * event streams it follows, and the bounds that keep it from hurting others.
 *
 * - Requests are served one at a time, in the order they arrived, so replies
 *   come back in request order (a slow `pay` is never overtaken by a `get`).
 *   At most MAX_QUEUED_LINES wait; beyond that the socket stops being read
 *   (kernel backpressure on the client) instead of queueing without bound.
 * - Events of a followed intent are written only after the reply that
 *   started the stream; any the engine delivers earlier are queued, then
 *   written after it. One stream per intent per connection: following an
 *   intent again does not duplicate its events.
 * - Output waiting in user space is capped; a client that stops reading is
 *   dropped rather than growing the daemon's memory.
 * - End of input from the client (it disconnected, or shut down its writing
 *   side like `socat` and `nc -N` do): requests already sent are still
 *   answered, then every stream is unsubscribed and the connection ends. A
 *   Unix socket cannot tell a half-close from a disconnect, and a client that
 *   is gone must not keep subscriptions alive. The payment itself goes on.
 * - Events of a stream the connection already follows are held while a
 *   request about the same intent is served, so the request's reply comes
 *   before them (e.g. the payer cancels: reply, then the `cancelled` event
 *   that ends its pay stream).
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Clock } from '../../drivers/clock.js';
import { isOtcdError } from '../../drivers/errors.js';
import type { IntentEvent, IntentListener, IntentView, PaymentService, Subscription } from '../payments/model.js';
import { IntentError, followEnds } from '../payments/model.js';
import { LineReader } from './line-reader.js';
import { pingFailure } from './terminal-ping.js';
import type { IntentRequest, PingResult, ReplyBody } from './protocol.js';
import { encodeError, encodeEvent, encodeReply, parseRequest, ProtocolError } from './protocol.js';

/** Default cap on bytes written but not yet taken by the kernel. */
export const MAX_PENDING_OUTPUT_BYTES = 1024 * 1024;
/** Lines waiting to be served before the socket stops being read. */
export const MAX_QUEUED_LINES = 32;
/** How long a client refused for a long line may take to read the error. */
const CLOSE_AFTER_ERROR_MS = 1000;

export interface ConnectionContext {
  service: PaymentService;
  logger: Logger;
  clock: Clock;
  isShuttingDown(): boolean;
  pingTerminal?: () => Promise<PingResult>;
  /** The terminal's address, for the messages of a failed ping. */
  terminalAddress?: string;
  maxLineBytes?: number;
  maxPendingOutputBytes?: number;
}

type Task = { kind: 'line'; line: Buffer } | { kind: 'overflow' } | { kind: 'eof' };

/** An event stream this connection follows; holds events until its reply is out. */
interface Stream {
  subscription?: Subscription;
  held: IntentEvent[] | undefined;
  ended: boolean;
}

export class IntentConnection {
  private readonly reader: LineReader;
  private readonly tasks: Task[] = [];
  private running = false;
  private inputEnded = false;
  /** Set once a line went over the limit: nothing more is read. */
  private stopped = false;
  private closed = false;
  private readonly streams = new Map<string, Stream>();
  private readonly maxPendingOutput: number;

  constructor(private readonly socket: Socket, private readonly ctx: ConnectionContext, readonly onClose: () => void) {
    this.reader = new LineReader(ctx.maxLineBytes);
    this.maxPendingOutput = ctx.maxPendingOutputBytes ?? MAX_PENDING_OUTPUT_BYTES;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Resets and broken pipes are how clients leave; nothing to act on.
      ctx.logger.debug({ err: err.code ?? err.message }, 'client socket error');
    });
    socket.on('close', () => this.onSocketClose());
  }

  /** Ends the connection gently (server shutdown): pending output is flushed. */
  end(): void {
    if (!this.closed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const { lines, overflow } = this.reader.push(chunk);
    for (const line of lines) this.tasks.push({ kind: 'line', line });
    if (overflow) {
      this.tasks.push({ kind: 'overflow' });
      this.stopped = true;
      this.socket.pause();
    } else if (this.tasks.length >= MAX_QUEUED_LINES) {
      this.socket.pause();
    }
    this.run();
  }

  private onEnd(): void {
    const last = this.reader.end();
    if (last !== undefined) this.tasks.push({ kind: 'line', line: last });
    this.tasks.push({ kind: 'eof' });
    this.run();
  }

  private run(): void {
    if (this.running) return;
    this.running = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    try {
      for (let task = this.tasks.shift(); task !== undefined && !this.closed; task = this.tasks.shift()) {
        if (task.kind === 'line') {
          await this.serveLine(task.line);
        } else if (task.kind === 'overflow') {
          this.ctx.logger.info({ code: 'LINE_TOO_LONG' }, 'client line over the limit; closing');
          this.write(encodeError('LINE_TOO_LONG', `line longer than ${this.reader.maxLineBytes} bytes; the connection is closed`));
          this.tasks.length = 0;
          // Flush the error, then close both ways: the rest of the input is not wanted.
          // A client that does not even take the error line is cut after a while.
          const cut = this.ctx.clock.setTimeout(() => this.socket.destroy(), CLOSE_AFTER_ERROR_MS);
          this.socket.end(() => {
            cut.cancel();
            this.socket.destroy();
          });
        } else {
          this.inputEnded = true;
        }
        if (this.tasks.length < MAX_QUEUED_LINES && this.socket.isPaused() && !this.stopped && !this.inputEnded && !this.closed) {
          this.socket.resume();
        }
      }
    } finally {
      this.running = false;
    }
    this.finishIfIdle();
  }

  private async serveLine(line: Buffer): Promise<void> {
    let request: IntentRequest;
    try {
      request = parseRequest(line);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      const e = err;
      this.ctx.logger.info({ code: e.code, req: e.req }, 'bad request line');
      this.write(encodeError(e.code, e.message, e.req));
      return;
    }
    const intentId = 'intentId' in request ? request.intentId : request.op === 'pay' ? request.params.intentId : undefined;
    this.ctx.logger.debug({ op: request.op, req: request.req, intentId }, 'request');
    try {
      await this.serve(request);
    } catch (err) {
      this.writeFailure(request, intentId, err);
    }
  }

  private async serve(request: IntentRequest): Promise<void> {
    const { service } = this.ctx;
    switch (request.op) {
      case 'pay':
        if (this.ctx.isShuttingDown()) {
          throw new IntentError('SHUTTING_DOWN', 'the daemon is shutting down and takes no new payment; retry when it is back');
        }
        return this.replyAndFollow(request.req, request.params.intentId, (l) => service.pay(request.params, l));
      case 'get':
        if (!request.follow) {
          const sub = await service.get(request.intentId);
          sub.unsubscribe();
          this.reply(request.req, { intent: sub.view });
          return;
        }
        return this.replyAndFollow(request.req, request.intentId, (l) => service.get(request.intentId, l));
      case 'cancel':
        return this.cancel(request.req, request.intentId);
      case 'void':
        if (this.ctx.isShuttingDown()) {
          throw new IntentError('SHUTTING_DOWN', 'the daemon is shutting down and takes no void; retry when it is back');
        }
        return this.replyAndFollow(request.req, request.intentId, (l) => service.void(request.intentId, request.reason, l));
      case 'health':
        this.reply(request.req, { health: service.health() });
        return;
      case 'terminal.ping':
        return this.ping(request.req);
    }
  }

  /**
   * Calls the engine with a listener that holds events until the reply is
   * written, then streams them until the final one.
   */
  private async replyAndFollow(
    req: string | undefined,
    intentId: string,
    call: (listener: IntentListener | undefined) => Promise<Subscription>,
  ): Promise<void> {
    const existing = this.streams.get(intentId);
    if (existing !== undefined) {
      // Already streaming this intent here: answer, do not open a second stream.
      await this.holdWhile(intentId, existing, async () => {
        const sub = await call(undefined);
        sub.unsubscribe();
        this.reply(req, { intent: sub.view });
      });
      return;
    }
    const stream = this.openStream(intentId);
    let sub: Subscription;
    try {
      sub = await call(this.listenerFor(intentId, stream));
    } catch (err) {
      this.closeStream(intentId, stream);
      throw err;
    }
    this.attach(intentId, stream, sub);
    this.reply(req, { intent: sub.view });
    this.release(intentId, stream, sub.view);
  }

  /**
   * `cancel` answers with the state at that moment and the final state
   * follows as an event, so the canceller gets a stream too. It is opened
   * (by `get`) before cancelling so the final event cannot slip between;
   * held events not newer than the reply's state are dropped so the stream
   * never steps back from what the reply said.
   */
  private async cancel(req: string | undefined, intentId: string): Promise<void> {
    const { service } = this.ctx;
    const existing = this.streams.get(intentId);
    if (existing !== undefined) {
      await this.holdWhile(intentId, existing, async () => {
        this.reply(req, { intent: await service.cancel(intentId) });
      });
      return;
    }
    const stream = this.openStream(intentId);
    let view: IntentView;
    try {
      this.attach(intentId, stream, await service.get(intentId, this.listenerFor(intentId, stream)));
      view = await service.cancel(intentId);
    } catch (err) {
      this.closeStream(intentId, stream);
      throw err;
    }
    this.reply(req, { intent: view });
    stream.held = stream.held?.filter((e) => isNewer(e, view));
    this.release(intentId, stream, view);
  }

  private async ping(req: string | undefined): Promise<void> {
    if (this.ctx.pingTerminal === undefined) {
      throw new IntentError('UNKNOWN_OP', 'terminal.ping is not available: this daemon runs without a terminal driver');
    }
    let ping: PingResult;
    try {
      ping = await this.ctx.pingTerminal();
    } catch (err) {
      if (err instanceof IntentError) throw err;
      const known = pingFailure(err, this.ctx.terminalAddress ?? 'its address');
      if (known) throw known;
      if (isOtcdError(err)) {
        // Driver errors carry stable codes and messages written for people, never card data.
        throw new IntentError('INTERNAL', `terminal ping failed: ${err.code}: ${err.message}`);
      }
      throw err;
    }
    this.reply(req, { ping });
  }

  private openStream(intentId: string): Stream {
    const stream: Stream = { held: [], ended: false };
    this.streams.set(intentId, stream);
    return stream;
  }

  private attach(intentId: string, stream: Stream, sub: Subscription): void {
    stream.subscription = sub;
    if (this.closed || stream.ended) this.closeStream(intentId, stream);
  }

  private listenerFor(intentId: string, stream: Stream): IntentListener {
    return (event) => {
      // Never throw into the engine.
      try {
        if (stream.ended) return;
        if (stream.held !== undefined) {
          stream.held.push(event);
          return;
        }
        this.write(encodeEvent(event));
        if (followEnds(event)) this.closeStream(intentId, stream);
      } catch (err) {
        this.ctx.logger.error({ err, intentId }, 'writing an event failed');
      }
    };
  }

  /** Runs `serve` (which writes a reply) with the stream's events held until after it. */
  private async holdWhile(intentId: string, stream: Stream, serve: () => Promise<void>): Promise<void> {
    stream.held ??= [];
    try {
      await serve();
    } finally {
      this.flush(intentId, stream);
    }
  }

  /** After the reply that opened a stream: held events, or the end if the reply was final. */
  private release(intentId: string, stream: Stream, view: IntentView): void {
    if (followEnds(view)) {
      this.closeStream(intentId, stream);
      return;
    }
    this.flush(intentId, stream);
  }

  /** Writes held events in order and ends the stream at a final one. */
  private flush(intentId: string, stream: Stream): void {
    const held = stream.held ?? [];
    stream.held = undefined;
    if (stream.ended) return;
    for (const event of held) {
      this.write(encodeEvent(event));
      if (followEnds(event)) {
        this.closeStream(intentId, stream);
        return;
      }
    }
  }

  private closeStream(intentId: string, stream: Stream): void {
    stream.ended = true;
    stream.held = undefined;
    stream.subscription?.unsubscribe();
    if (this.streams.get(intentId) === stream) this.streams.delete(intentId);
  }

  private reply(req: string | undefined, body: ReplyBody): void {
    this.write(encodeReply(req, body));
  }

  private writeFailure(request: IntentRequest, intentId: string | undefined, err: unknown): void {
    if (err instanceof IntentError) {
      this.ctx.logger.info({ op: request.op, req: request.req, intentId, code: err.code }, 'request refused');
      this.write(encodeError(err.code, err.message, request.req));
      return;
    }
    // Details stay in the log: they may name files, hosts or internal state.
    this.ctx.logger.error({ err, op: request.op, req: request.req, intentId }, 'request failed');
    this.write(encodeError('INTERNAL', `${request.op} failed inside the daemon; see its log`, request.req));
  }

  private write(line: string): void {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(line);
    if (this.socket.writableLength > this.maxPendingOutput) {
      this.ctx.logger.warn({ pendingBytes: this.socket.writableLength }, 'client is not reading its messages; dropping it');
      this.socket.destroy();
    }
  }

  /** After end of input, once the requests already sent are answered: stop following and end. */
  private finishIfIdle(): void {
    if (!this.inputEnded || this.running || this.tasks.length > 0 || this.closed) return;
    for (const [intentId, stream] of [...this.streams]) this.closeStream(intentId, stream);
    if (!this.socket.writableEnded) this.socket.end();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.tasks.length = 0;
    for (const [intentId, stream] of [...this.streams]) this.closeStream(intentId, stream);
    this.onClose();
  }
}

/** Where a state sits in a payment's progress, for ordering within an attempt. */
const PROGRESS: Record<string, number> = { accepted: 0, inquiring: 1, delivering: 2, processing: 3 };
const FINAL_PROGRESS = 4;

function isNewer(event: IntentEvent, view: IntentView): boolean {
  if (event.attempt !== view.attempt) return event.attempt > view.attempt;
  const rank = (s: string): number => PROGRESS[s] ?? FINAL_PROGRESS;
  return rank(event.state) > rank(view.state);
}
