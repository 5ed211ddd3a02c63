/**
 * Fleet metrics wired to the daemon's parts: which events write the file at
 * once, which within a few seconds. The daemon calls `startMetrics` once the
 * payment engine has recovered, and `stop` on its way out.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../drivers/clock.js';
import type { Terminal } from '../../drivers/terminal/terminal.js';
import type { LinkState } from '../terminal/health.js';
import type { InquiryTiming } from '../provider/otc-client.js';
import { FleetMetrics, type FinalPayment, type HealthReading } from './fleet-metrics.js';
import { MetricsTextfile } from './textfile.js';

/** "At most every few seconds" for changes nobody alerts on within seconds. */
export const METRICS_MIN_INTERVAL_MS = 5_000;

export interface MetricsParts {
  /** The textfile's path; undefined: no metrics. */
  path: string | undefined;
  version: string;
  clock: Clock;
  logger: Logger;
  health: () => HealthReading;
  /** Emits 'final' with the payment's ledger record. */
  engine: { on(event: 'final', listener: (record: FinalPayment) => void): unknown };
  /** Its PING answers move the link counters. */
  terminal: Pick<Terminal, 'on'>;
  /** Says when the link state (up, down, not_answering) changes. */
  terminalHealth: { on(event: 'change', listener: (state: LinkState) => void): unknown };
  provider: { onInquiryDone(listener: (timing: InquiryTiming) => void): void };
  keys: { onReadyChange(listener: (ready: number) => void): void };
}

export interface RunningMetrics {
  metrics: FleetMetrics;
  file: MetricsTextfile;
  stop(): Promise<void>;
}

export function startMetrics(parts: MetricsParts): RunningMetrics | undefined {
  if (parts.path === undefined) return undefined;
  const metrics = new FleetMetrics({ version: parts.version, startedAt: parts.clock.wallNow() });
  const file = new MetricsTextfile({
    path: parts.path, clock: parts.clock, logger: parts.logger, minIntervalMs: METRICS_MIN_INTERVAL_MS,
    render: () => metrics.render(parts.health()),
  });
  parts.engine.on('final', (record) => {
    metrics.recordFinal(record);
    file.changed();
  });
  parts.terminalHealth.on('change', () => file.changed());
  parts.terminal.on('pong', () => file.touched());
  parts.provider.onInquiryDone((timing) => {
    metrics.recordInquiry(timing);
    file.touched();
  });
  // The pool refills after each payment, some time after its final state was written.
  parts.keys.onReadyChange(() => file.touched());
  file.changed();
  return { metrics, file, stop: () => file.stop() };
}
