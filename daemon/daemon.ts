/**
 * otcd assembled: the parts built from one configuration, started in the
 * order that makes READY honest, and stopped in the order that loses nothing.
 *
 * Start: ledger (replay, compact) -> key pool (warming in the background) ->
 * payment engine (recovers what the ledger left open) -> intent socket ->
 * READY -> terminal link (reopens by itself) and the HTTP client. The
 * terminal is down at READY: the socket answers, `health` and STATUS= say
 * when it is up.
 *
 * Stop: STOPPING -> no new payments (SHUTTING_DOWN) -> the running payment
 * ends or is left durable in the ledger -> socket closed -> terminal closed.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../drivers/clock.js';
import { Terminal } from '../drivers/terminal/terminal.js';
import type { OtcdConfig } from '../config/schema.js';
import { IntentServer } from './intents/server.js';
import { PaymentEngine } from './payments/engine.js';
import { Ledger } from './payments/ledger.js';
import type { HealthView } from './payments/model.js';
import { errorSummary } from './payments/payment-run.js';
import { KeyPool, OtcClient } from './provider/index.js';
import { LoopMonitor } from './systemd/loop-monitor.js';
import { SystemdNotifier } from './systemd/notify.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Final payments the ledger keeps at most, whatever the retention says (bounds its size). */
const LEDGER_MAX_PAYMENTS = 50_000;
const LEDGER_COMPACT_AFTER_BYTES = 1 << 20;
/** How long a running payment may outlive its own limit before the watchdog gives up on us. */
const STUCK_GRACE_MS = 60_000;
/** A terminal that has not answered PING for this long gets a log line a technician can act on. */
const PING_SILENCE_WARN_MS = 60_000;
/** Within the issue's 20 s stop budget (the unit allows 30 s): room for the socket and ledger after the payment. */
export const SHUTDOWN_GRACE_MS = 15_000;

export interface DaemonOptions {
  config: OtcdConfig;
  logger: Logger;
  version: string;
  clock?: Clock;
  notifier?: SystemdNotifier;
}

export class Daemon {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly notifier: SystemdNotifier;
  private readonly ledger: Ledger;
  private readonly keys: KeyPool;
  private readonly provider: OtcClient;
  private readonly terminal: Terminal;
  private readonly engine: PaymentEngine;
  private readonly server: IntentServer;
  private readonly loop: LoopMonitor;
  private readonly startedAt: number;
  private pingTimer: Timer | undefined;
  private lastPongMono: number | undefined;
  private silenceWarned = false;
  private lastOutcome = 'none yet';
  private stopping = false;
  private lastStatus = '';
  /** STATUS= waits for READY=1, which carries the status line of its moment (see updateStatus). */
  private readySent = false;

  constructor(private readonly opts: DaemonOptions) {
    const { config, logger } = opts;
    this.clock = opts.clock ?? systemClock;
    this.log = logger;
    this.startedAt = this.clock.now();
    this.notifier = opts.notifier ?? new SystemdNotifier({ logger, clock: this.clock });
    this.loop = new LoopMonitor({ clock: this.clock });
    this.ledger = new Ledger({
      stateDir: config.daemon.stateDir, logger: logger.child({ module: 'ledger' }),
      retentionMs: config.payment.retentionDays * DAY_MS, maxPayments: LEDGER_MAX_PAYMENTS,
      compactAfterBytes: LEDGER_COMPACT_AFTER_BYTES, wallNow: () => this.clock.wallNow(),
    });
    this.keys = new KeyPool({ size: config.keys.poolSize, clock: this.clock, logger });
    this.provider = new OtcClient({
      baseUrl: config.provider.baseUrl,
      timeouts: { connectMs: config.provider.connectTimeoutMs, responseMs: config.provider.responseTimeoutMs, totalMs: config.provider.totalTimeoutMs },
      caFile: config.provider.caFile, clientCertFile: config.provider.clientCertFile, clientKeyFile: config.provider.clientKeyFile,
      headers: config.provider.headers, proxy: config.provider.proxy, retries: config.provider.retries,
      clock: this.clock, logger,
    });
    const t = config.terminal;
    this.terminal = new Terminal({
      address: t.address, baudRate: t.baudRate,
      link: { byteTimeoutMs: t.byteTimeoutMs, ackTimeoutMs: t.ackTimeoutMs, dupWindowMs: t.dupWindowMs, retries: t.retries },
      answerTimeoutMs: t.answerTimeoutMs, reconnect: { initialMs: t.reconnectInitialMs, maxMs: t.reconnectMaxMs },
      clock: this.clock, logger,
    });
    const p = config.payment;
    this.engine = new PaymentEngine({
      ledger: this.ledger, terminal: this.terminal, provider: this.provider, keys: this.keys,
      clock: this.clock, logger,
      policy: {
        windowMs: p.windowS * 1000, sendMarginMs: p.sendMarginS * 1000, cancelMarginMs: p.cancelMarginS * 1000,
        maxInquiries: p.maxInquiries, paymentLimitMs: p.paymentLimitS * 1000, resultTimeoutMs: p.resultTimeoutS * 1000,
        answerTimeoutMs: t.answerTimeoutMs,
      },
      reconcileIntervalMs: 60_000,
      health: () => this.health(),
    });
    this.server = new IntentServer({
      service: this.engine, path: config.socket.path, mode: config.socket.mode,
      group: config.socket.group === '' ? undefined : config.socket.group,
      maxClients: config.socket.maxClients, logger, clock: this.clock,
      pingTerminal: () => this.terminal.ping(),
    });
  }

  async start(): Promise<void> {
    this.loop.start();
    await this.ledger.open();
    this.keys.start();
    this.watchTerminal();
    await this.engine.recover();
    this.engine.on('final', (record: { id: string; st: string }) => {
      this.lastOutcome = `${record.st} at ${new Date(this.clock.wallNow()).toISOString().slice(11, 19)}`;
      this.updateStatus();
    });
    await this.server.listen();
    this.schedulePing(0);
    // node and arch: which runtime a kiosk (or a CI line) really runs otcd on.
    this.log.info({ socket: this.opts.config.socket.path, terminal: this.terminal.address, version: this.opts.version, node: process.version, arch: process.arch }, 'otcd ready');
    this.lastStatus = this.statusLine();
    this.readySent = true;
    await this.notifier.ready(this.lastStatus);
    this.notifier.startWatchdog(() => this.loop.isHealthy() && !this.engine.isStuck(STUCK_GRACE_MS));
    // The terminal link comes up after READY (a recovered payment waits for it): on a
    // serial line, opening it first loads serialport's native binding, and nothing READY
    // promises needs the link.
    this.terminal.start();
    // After READY, off the start-up path: the HTTP client loads while the kiosk app connects.
    this.provider.prepare().catch((err: unknown) => this.log.error({ err: errorSummary(err) }, 'cannot load the HTTP client'));
  }

  /** Graceful stop (SIGTERM): see the file comment for the order. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info('stopping: no new payments are taken');
    await this.notifier.stopping('Stopping: finishing the running payment, if any');
    this.server.setShuttingDown();
    this.pingTimer?.cancel();
    await this.engine.shutdown(SHUTDOWN_GRACE_MS);
    await this.server.close().catch((err: unknown) => this.log.warn({ err: errorSummary(err) }, 'closing the intent socket failed'));
    await this.terminal.stop();
    this.keys.stop();
    await this.ledger.close();
    this.loop.stop();
    this.notifier.stop();
    await this.notifier.idle();
    this.log.info('stopped');
  }

  health(): Omit<HealthView, 'payment'> {
    const lastPong = this.terminal.lastPongAt;
    const lastError = this.provider.lastError;
    const lastSuccess = this.provider.lastSuccessAt;
    return {
      version: this.opts.version,
      uptimeS: Math.round((this.clock.now() - this.startedAt) / 1000),
      terminal: {
        link: this.terminal.isUp ? 'up' : 'down',
        address: this.terminal.address,
        ...(this.terminal.terminalId ? { terminalId: this.terminal.terminalId } : {}),
        ...(lastPong !== undefined ? { lastPong: new Date(lastPong).toISOString() } : {}),
        counters: { ...this.terminal.counters() },
      },
      provider: {
        baseUrl: this.opts.config.provider.baseUrl,
        ...(lastSuccess !== undefined ? { lastSuccess: new Date(lastSuccess).toISOString() } : {}),
        ...(lastError ? { lastError: { code: lastError.code, message: lastError.message, at: new Date(lastError.at).toISOString() } } : {}),
      },
      keys: { ready: this.keys.readyCount },
    };
  }

  private watchTerminal(): void {
    this.terminal.on('up', () => {
      this.log.info({ address: this.terminal.address }, 'terminal link up');
      this.schedulePing(0);
      this.updateStatus();
    });
    this.terminal.on('down', (reason) => {
      if (this.stopping) return;
      this.log.warn({ address: this.terminal.address, reason }, `terminal link on ${this.terminal.address} down (${reason}); reconnecting. Check the cable, the USB adapter and the terminal's power`);
      this.updateStatus();
    });
  }

  /** PING keeps `health` and STATUS= honest while no payment runs. */
  private schedulePing(delayMs: number): void {
    this.pingTimer?.cancel();
    if (this.stopping) return;
    this.pingTimer = this.clock.setTimeout(() => void this.pingOnce(), delayMs);
  }

  private async pingOnce(): Promise<void> {
    const interval = this.opts.config.terminal.pingIntervalS * 1000;
    if (this.engine.idle && this.terminal.isUp) {
      try {
        await this.terminal.ping();
        this.lastPongMono = this.clock.now();
        if (this.silenceWarned) this.log.info({ address: this.terminal.address }, 'terminal answers PING again');
        this.silenceWarned = false;
      } catch (err) {
        const silentFor = this.clock.now() - (this.lastPongMono ?? this.startedAt);
        if (silentFor >= PING_SILENCE_WARN_MS && !this.silenceWarned) {
          this.silenceWarned = true;
          this.log.error({ address: this.terminal.address, err: errorSummary(err) },
            `terminal on ${this.terminal.address} not answering PING for ${Math.round(silentFor / 1000)} s; check cable and power`);
        }
      }
      this.updateStatus();
    }
    this.schedulePing(interval);
  }

  /**
   * STATUS= only when its text changes: each message is a systemd-notify process.
   * None before READY=1: the terminal link usually comes up during start(), and
   * a STATUS= sent then would put one or two systemd-notify runs (queued one at a
   * time) in front of READY=1, ~15-30 ms here; READY=1 carries the line anyway.
   */
  private updateStatus(): void {
    if (this.stopping || !this.readySent) return; // STOPPING's own status line stays
    const line = this.statusLine();
    if (line === this.lastStatus) return;
    this.lastStatus = line;
    this.notifier.status(line);
  }

  private statusLine(): string {
    const link = this.terminal.isUp
      ? `terminal up${this.terminal.terminalId ? ` (${this.terminal.terminalId})` : ''}`
      : `terminal DOWN at ${this.terminal.address}`;
    return `Ready; ${link}; last payment: ${this.lastOutcome}`;
  }
}
