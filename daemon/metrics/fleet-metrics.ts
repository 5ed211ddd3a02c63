/**
 * What otcd tells a fleet's Prometheus: the daemon's own counters since start
 * (payments by final state and code, provider inquiry latency) and a reading
 * of `health` at the moment of writing (terminal link, link counters, provider
 * last success and error, ready key pairs, unresolved payments and voids).
 *
 * Label values are states, codes and outcome words only, never an intent id,
 * an authorization id or anything a payment carries: a code that is not a
 * short word (a terminal answering something odd) becomes "other", which also
 * bounds the number of series.
 *
 * Payment totals are counters since this start (Prometheus' rate() and
 * increase() handle the reset at a restart). The ledger's own totals are not
 * exposed: they cover only the retention window, shrink at compaction, and
 * would cost a read of the whole file on a Pi. The one number from the ledger
 * that must survive a restart, the unresolved `unknown` payments (and voids),
 * comes through `health.unresolved` (and `health.unresolvedVoids`).
 */
import { Histogram } from './histogram.js';
import { formatExposition, type MetricFamily, type Sample } from './exposition.js';

/** The part of `health` the metrics read (daemon/payments/model.ts HealthView fits it). */
export interface HealthReading {
  terminal: { link: 'up' | 'down' | 'not_answering'; counters: Readonly<Record<string, number>> };
  provider: { lastSuccess?: string; lastError?: { code: string; at: string } };
  keys: { ready: number };
  unresolved?: { count: number; oldest?: { at: string } };
  unresolvedVoids?: { count: number };
}

/** A payment's final state as the engine reports it (its ledger record). */
export interface FinalPayment {
  st: string;
  code?: string;
  /** An `unknown` payment whose outcome was learned later. */
  resolved?: boolean;
}

/** One OTC inquiry, from just before the request to its answer or its failure. */
export interface InquiryDone {
  ms: number;
  /** The failure's code; undefined for an answer with resCd "0000". */
  code?: string;
}

export interface FleetMetricsOptions {
  version: string;
  nodeVersion?: string;
  /** Wall ms of the daemon's start. */
  startedAt: number;
}

export const LINK_STATES = ['up', 'down', 'not_answering'] as const;

/**
 * Upper bounds, in seconds, of the inquiry latency histogram. A healthy answer
 * takes well under 2 s, so the low buckets are fine-grained; 5, 30 and 35 s
 * are the default connect, response and total timeouts (a timed-out inquiry
 * lands just above them); 150 s is the 180 s window less the 30 s send
 * margin: an inquiry slower than that leaves no time to deliver.
 */
export const INQUIRY_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 35, 60, 150, 180] as const;

const TERMINAL_COUNTER_HELP: Readonly<Record<string, string>> = {
  framesSent: 'Frames sent to the terminal (first transmissions).',
  framesReceived: 'Good frames received from the terminal (duplicates not included).',
  naksSent: 'NAKs sent to the terminal (a frame arrived damaged).',
  naksReceived: 'NAKs received from the terminal (it got a damaged frame: cable, baud rate).',
  ackTimeouts: 'Frames the terminal neither ACKed nor NAKed in time.',
  lrcErrors: 'Frames from the terminal with a wrong LRC.',
  badFrames: 'Frames from the terminal with a bad byte, header or length.',
  retransmissions: 'Frames sent to the terminal again.',
  duplicates: 'Retransmitted frames from the terminal, ACKed again and dropped.',
  reconnects: 'Times the link to the terminal was opened again after a loss.',
  badMessages: 'Intact frames from the terminal whose body could not be read.',
};

const LABEL_WORD = /^[A-Za-z0-9_.-]{1,40}$/;

/** A state or code as a label value: short words pass, anything else is "other". */
export function labelWord(value: string | undefined): string {
  if (value === undefined || value === '') return '';
  return LABEL_WORD.test(value) ? value : 'other';
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function wallSeconds(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

export class FleetMetrics {
  private readonly payments = new Map<string, { state: string; code: string; count: number }>();
  private readonly resolved = new Map<string, { state: string; code: string; count: number }>();
  private readonly inquiries = { ok: new Histogram(INQUIRY_BUCKETS_S), error: new Histogram(INQUIRY_BUCKETS_S) };

  constructor(private readonly opts: FleetMetricsOptions) {}

  /** A payment reached a final state (or an `unknown` one was resolved). */
  recordFinal(payment: FinalPayment): void {
    const state = labelWord(payment.st);
    const code = labelWord(payment.code);
    const table = payment.resolved === true ? this.resolved : this.payments;
    const key = `${state}\0${code}`;
    const entry = table.get(key) ?? { state, code, count: 0 };
    entry.count++;
    table.set(key, entry);
  }

  recordInquiry(done: InquiryDone): void {
    (done.code === undefined ? this.inquiries.ok : this.inquiries.error).observe(done.ms / 1000);
  }

  /** The whole exposition text, with `health` read now. */
  render(health: HealthReading): string {
    return formatExposition(this.families(health));
  }

  families(health: HealthReading): MetricFamily[] {
    const families: MetricFamily[] = [
      {
        name: 'otcd_build_info', type: 'gauge', help: 'otcd version and the Node.js running it; always 1.',
        samples: [{ labels: { version: this.opts.version, node: this.opts.nodeVersion ?? process.version }, value: 1 }],
      },
      {
        name: 'otcd_start_time_seconds', type: 'gauge', help: 'When this otcd started (Unix time); the counters below count from then.',
        samples: [{ value: this.opts.startedAt / 1000 }],
      },
      {
        name: 'otcd_payments_total', type: 'counter',
        help: 'Payments that reached a final state since otcd started, by state and code (code "" when the state has none).',
        samples: countSamples(this.payments),
      },
      {
        name: 'otcd_payments_resolved_total', type: 'counter',
        help: 'Unknown payments resolved since otcd started (outcome learned from the terminal), by the state they resolved to.',
        samples: countSamples(this.resolved),
      },
    ];
    if (health.unresolved !== undefined) {
      families.push({
        name: 'otcd_payments_unresolved', type: 'gauge',
        help: 'Payments in state unknown not yet resolved (from the ledger): reconcile them with the acquirer.',
        samples: [{ value: health.unresolved.count }],
      });
      const oldest = wallSeconds(health.unresolved.oldest?.at);
      if (oldest !== undefined) {
        families.push({
          name: 'otcd_payments_unresolved_oldest_timestamp_seconds', type: 'gauge',
          help: 'When the oldest unresolved unknown payment was created (Unix time).',
          samples: [{ value: oldest }],
        });
      }
    }
    if (health.unresolvedVoids !== undefined) {
      families.push({
        name: 'otcd_voids_unresolved', type: 'gauge',
        help: 'Approved payments whose void has an unknown outcome (from the ledger): the money may not have gone back; void them again.',
        samples: [{ value: health.unresolvedVoids.count }],
      });
    }
    families.push({
      name: 'otcd_terminal_link', type: 'gauge',
      help: 'Terminal link state: 1 for the current one of up, down, not_answering (port open, no answer to PING).',
      samples: LINK_STATES.map((state) => ({ labels: { state }, value: health.terminal.link === state ? 1 : 0 })),
    });
    for (const [counter, value] of Object.entries(health.terminal.counters)) {
      if (!/^[a-zA-Z][a-zA-Z0-9]*$/.test(counter)) continue;
      families.push({
        name: `otcd_terminal_${snakeCase(counter)}_total`, type: 'counter', help: TERMINAL_COUNTER_HELP[counter] ?? `Terminal link counter ${counter}.`,
        samples: [{ value }],
      });
    }
    families.push({
      name: 'otcd_provider_inquiry_duration_seconds', type: 'histogram',
      help: 'OTC inquiries since otcd started, from before the request to the answer or the failure (retries included), by result.',
      samples: [...this.inquiries.ok.samples({ result: 'ok' }), ...this.inquiries.error.samples({ result: 'error' })],
    });
    const lastSuccess = wallSeconds(health.provider.lastSuccess);
    if (lastSuccess !== undefined) {
      families.push({
        name: 'otcd_provider_last_success_timestamp_seconds', type: 'gauge',
        help: 'When the provider last answered an OTC inquiry with success (Unix time).', samples: [{ value: lastSuccess }],
      });
    }
    const lastError = health.provider.lastError;
    const lastErrorAt = wallSeconds(lastError?.at);
    if (lastError !== undefined && lastErrorAt !== undefined) {
      families.push({
        name: 'otcd_provider_last_error_timestamp_seconds', type: 'gauge',
        help: 'When an OTC inquiry last failed (Unix time), with that failure\'s code.',
        samples: [{ labels: { code: labelWord(lastError.code) }, value: lastErrorAt }],
      });
    }
    families.push({
      name: 'otcd_keys_ready', type: 'gauge', help: 'RSA key pairs generated and ready for the next inquiries.',
      samples: [{ value: health.keys.ready }],
    });
    return families;
  }
}

function countSamples(table: ReadonlyMap<string, { state: string; code: string; count: number }>): Sample[] {
  return [...table.values()]
    .sort((a, b) => a.state.localeCompare(b.state) || a.code.localeCompare(b.code))
    .map((e) => ({ labels: { state: e.state, code: e.code }, value: e.count }));
}
