/**
 * otcd assembled: the parts built from one configuration, started in the
 * order that makes READY honest, and stopped in the order that loses nothing.
 *
 * Start: the state directory's lock (one otcd per ledger, before any ledger
 * I/O) -> ledger (replay, compact) -> key pool (warming in the background) ->
 * payment engine (recovers what the ledger left open) -> intent socket ->
 * READY -> terminal link (reopens by itself; its health supervised by
 * terminal/health.ts) and the HTTP client. The terminal is down at READY: the
 * socket answers, `health` and STATUS= say when it is up.
 *
 * Stop: STOPPING -> no new payments (SHUTTING_DOWN) -> the running payment
 * ends or is left durable in the ledger -> socket closed -> terminal closed ->
 * ledger closed -> the state directory's lock released.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../drivers/clock.js';
import { errorSummary } from '../drivers/errors.js';
import { Terminal } from '../drivers/terminal/terminal.js';
import type { OtcdConfig } from '../config/schema.js';
import { IntentServer } from './intents/server.js';
import { PaymentEngine } from './payments/engine.js';
import { Ledger } from './payments/ledger.js';
import { startMetrics, type RunningMetrics } from './metrics/attach.js';
import type { HealthView } from './payments/model.js';
import { lockStateDir, type StateLock } from './payments/state-lock.js';
import { KeyPool, OtcClient } from './provider/index.js';
import { LoopMonitor } from './systemd/loop-monitor.js';
import { SystemdNotifier } from './systemd/notify.js';
import { StatusLine, type StatusFacts } from './systemd/status-line.js';
import { TerminalHealth } from './terminal/health.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Final payments the ledger keeps at most, whatever the retention says (bounds its size). */
const LEDGER_MAX_PAYMENTS = 50_000;
const LEDGER_COMPACT_AFTER_BYTES = 1 << 20;
/** How long a running payment may outlive its own limit before the watchdog gives up on us. */
const STUCK_GRACE_MS = 60_000;
/** How long a stop waits for the running payment: with the socket and ledger closed after it, a stop ends within 20 s, well inside the unit's TimeoutStopSec=30s. */
export const SHUTDOWN_GRACE_MS = 15_000;
/**
 * How long a start waits for the state directory's lock: long enough for an
 * old process that is still closing its files, short enough that a second
 * otcd started by hand says why it gives up while the technician still looks.
 */
const STATE_LOCK_WAIT_MS = 10_000;

export interface DaemonOptions {
  config: OtcdConfig;
  logger: Logger;
  version: string;
  clock?: Clock;
  notifier?: SystemdNotifier;
  /** How long start() waits for the state directory's lock (default STATE_LOCK_WAIT_MS). */
  stateLockWaitMs?: number;
}

export class Daemon {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly notifier: SystemdNotifier;
  private readonly ledger: Ledger;
  private readonly keys: KeyPool;
  private readonly provider: OtcClient;
  private readonly terminal: Terminal;
  private readonly terminalHealth: TerminalHealth;
  private readonly engine: PaymentEngine;
  private readonly server: IntentServer;
  private readonly loop: LoopMonitor;
  private readonly status: StatusLine;
  private readonly startedAt: number;
  private stateLock: StateLock | undefined;
  private metrics: RunningMetrics | undefined;
  private lastOutcome = 'none yet';
  private stopping = false;

  constructor(private readonly opts: DaemonOptions) {
    const { config, logger } = opts;
    this.clock = opts.clock ?? systemClock;
    this.log = logger;
    this.startedAt = this.clock.now();
    this.notifier = opts.notifier ?? new SystemdNotifier({ logger, clock: this.clock });
    this.status = new StatusLine((line) => this.notifier.status(line));
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
    this.terminalHealth = new TerminalHealth({
      terminal: this.terminal, clock: this.clock, logger, pingIntervalMs: t.pingIntervalS * 1000,
      mayPing: () => this.engine.idle && !this.stopping,
    });
    const p = config.payment;
    this.engine = new PaymentEngine({
      ledger: this.ledger, terminal: this.terminal, terminalHealth: this.terminalHealth,
      provider: this.provider, keys: this.keys, clock: this.clock, logger,
      policy: {
        windowMs: p.windowS * 1000, sendMarginMs: p.sendMarginS * 1000, cancelMarginMs: p.cancelMarginS * 1000,
        maxInquiries: p.maxInquiries, paymentLimitMs: p.paymentLimitS * 1000, resultTimeoutMs: p.resultTimeoutS * 1000,
        answerTimeoutMs: t.answerTimeoutMs, terminalWaitMs: p.terminalWaitS * 1000,
      },
      reconcileIntervalMs: 60_000,
      health: () => this.health(),
    });
    this.server = new IntentServer({
      service: this.engine, path: config.socket.path, mode: config.socket.mode,
      group: config.socket.group === '' ? undefined : config.socket.group,
      maxClients: config.socket.maxClients, logger, clock: this.clock,
      pingTerminal: () => this.terminal.ping(), terminalAddress: config.terminal.address,
    });
  }

  async start(): Promise<void> {
    const stateDir = this.opts.config.daemon.stateDir;
    const waitMs = this.opts.stateLockWaitMs ?? STATE_LOCK_WAIT_MS;
    this.stateLock = await lockStateDir(stateDir, {
      waitMs, clock: this.clock, logger: this.log,
      onWait: (holder) => this.log.warn({ stateDir, holderPid: holder },
        `the state directory ${stateDir} is held by another otcd${holder ? ` (PID ${holder})` : ''}; waiting up to ${waitMs / 1000} s for it to stop`),
    });
    this.loop.start();
    await this.ledger.open();
    this.keys.start();
    // Fleet metrics ([metrics] textfile): attached before recovery, whose outcomes count too.
    this.metrics = startMetrics({
      path: this.opts.config.metrics.textfile, version: this.opts.version, clock: this.clock, logger: this.log,
      health: () => this.engine.health(), engine: this.engine, terminal: this.terminal, terminalHealth: this.terminalHealth,
      provider: this.provider, keys: this.keys,
    });
    await this.engine.recover();
    this.engine.on('final', (record: { st: string }) => {
      this.lastOutcome = `${record.st} at ${new Date(this.clock.wallNow()).toISOString().slice(11, 19)}`;
      this.status.update(this.statusFacts());
    });
    this.terminalHealth.on('change', () => this.status.update(this.statusFacts()));
    await this.server.listen();
    // node and arch: which runtime a kiosk (or a CI line) really runs otcd on.
    this.log.info({ socket: this.opts.config.socket.path, terminal: this.terminal.address, version: this.opts.version, node: process.version, arch: process.arch }, 'otcd ready');
    await this.notifier.ready(this.status.atReady(this.statusFacts()));
    this.notifier.startWatchdog(() => this.loop.isHealthy() && !this.engine.isStuck(STUCK_GRACE_MS));
    // The terminal link comes up after READY (a recovered payment waits for it): on a
    // serial line, opening it first loads serialport's native binding, and nothing READY
    // promises needs the link.
    this.terminal.start();
    this.terminalHealth.start();
    // After READY, off the start-up path: the HTTP client loads while the kiosk app connects.
    this.provider.prepare().catch((err: unknown) => this.log.error({ err: errorSummary(err) }, 'cannot load the HTTP client'));
  }

  /** Graceful stop (SIGTERM): see the file comment for the order. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info('stopping: no new payments are taken');
    this.status.freeze();
    await this.notifier.stopping('Stopping: finishing the running payment, if any');
    this.server.setShuttingDown();
    this.terminalHealth.stop();
    await this.engine.shutdown(SHUTDOWN_GRACE_MS);
    await this.server.close().catch((err: unknown) => this.log.warn({ err: errorSummary(err) }, 'closing the intent socket failed'));
    await this.terminal.stop();
    await this.metrics?.stop();
    this.keys.stop();
    await this.ledger.close();
    await this.stateLock?.release();
    this.loop.stop();
    this.notifier.stop();
    await this.notifier.idle();
    this.log.info('stopped');
  }

  health(): Omit<HealthView, 'payment' | 'unresolved' | 'unresolvedVoids'> {
    const lastPong = this.terminal.lastPongAt;
    const lastError = this.provider.lastError;
    const lastSuccess = this.provider.lastSuccessAt;
    const hint = this.terminalHealth.hint;
    return {
      version: this.opts.version,
      uptimeS: Math.round((this.clock.now() - this.startedAt) / 1000),
      terminal: {
        link: this.terminalHealth.state,
        ...(hint ? { hint } : {}),
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

  private statusFacts(): StatusFacts {
    return { link: this.terminalHealth.state, address: this.terminal.address, terminalId: this.terminal.terminalId, lastOutcome: this.lastOutcome };
  }
}
