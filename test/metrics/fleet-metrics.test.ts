import { describe, expect, test } from '@jest/globals';
import { FleetMetrics, INQUIRY_BUCKETS_S, labelWord, type HealthReading } from '../../daemon/metrics/fleet-metrics.js';

const STARTED = Date.UTC(2026, 11, 6, 10, 0, 0);

function health(over: Partial<HealthReading> = {}): HealthReading {
  return {
    terminal: { link: 'up', counters: { framesSent: 12, naksReceived: 1, ackTimeouts: 0 } },
    provider: {},
    keys: { ready: 2 },
    ...over,
  };
}

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

describe('FleetMetrics', () => {
  test('build info, start time, link state, link counters and ready keys from one health reading', () => {
    const text = new FleetMetrics({ version: '0.1.0', nodeVersion: 'v20.20.0', startedAt: STARTED }).render(health());
    expect(lines(text, 'otcd_build_info')).toEqual(['otcd_build_info{version="0.1.0",node="v20.20.0"} 1']);
    expect(lines(text, 'otcd_start_time_seconds')).toEqual([`otcd_start_time_seconds ${STARTED / 1000}`]);
    expect(lines(text, 'otcd_terminal_link{')).toEqual([
      'otcd_terminal_link{state="up"} 1', 'otcd_terminal_link{state="down"} 0', 'otcd_terminal_link{state="not_answering"} 0',
    ]);
    expect(lines(text, 'otcd_terminal_frames_sent_total')).toEqual(['otcd_terminal_frames_sent_total 12']);
    expect(lines(text, 'otcd_terminal_naks_received_total')).toEqual(['otcd_terminal_naks_received_total 1']);
    expect(text).toContain('# TYPE otcd_terminal_ack_timeouts_total counter\n');
    expect(lines(text, 'otcd_keys_ready')).toEqual(['otcd_keys_ready 2']);
    // Not there until they happen: no provider times, no unresolved gauge without health.unresolved.
    expect(text).not.toMatch(/^otcd_provider_last_/m);
    expect(text).not.toMatch(/^otcd_payments_unresolved/m);
  });

  test('not_answering is its own state', () => {
    const text = new FleetMetrics({ version: 'v', startedAt: STARTED }).render(health({ terminal: { link: 'not_answering', counters: {} } }));
    expect(lines(text, 'otcd_terminal_link{').filter((l) => l.endsWith(' 1'))).toEqual(['otcd_terminal_link{state="not_answering"} 1']);
  });

  test('payments count by final state and code; a resolved unknown counts apart; no id reaches a label', () => {
    const m = new FleetMetrics({ version: 'v', startedAt: STARTED });
    const id = 'order-8812-secret-looking-id';
    m.recordFinal({ st: 'approved', id } as never);
    m.recordFinal({ st: 'approved' });
    m.recordFinal({ st: 'declined', code: '51' });
    m.recordFinal({ st: 'failed', code: 'API_ERROR' });
    m.recordFinal({ st: 'unknown', code: 'TERMINAL_TIMEOUT' });
    m.recordFinal({ st: 'approved', resolved: true });
    m.recordFinal({ st: 'failed', code: 'weird code {"id":"order-1"}' });
    const text = m.render(health());
    expect(lines(text, 'otcd_payments_total')).toEqual([
      'otcd_payments_total{state="approved",code=""} 2',
      'otcd_payments_total{state="declined",code="51"} 1',
      'otcd_payments_total{state="failed",code="API_ERROR"} 1',
      'otcd_payments_total{state="failed",code="other"} 1',
      'otcd_payments_total{state="unknown",code="TERMINAL_TIMEOUT"} 1',
    ]);
    expect(lines(text, 'otcd_payments_resolved_total')).toEqual(['otcd_payments_resolved_total{state="approved",code=""} 1']);
    expect(text).not.toContain(id);
    expect(text).not.toContain('order-1');
  });

  test('unresolved payments: the count, and the oldest one\'s time without its id', () => {
    const at = '2026-12-05T08:00:00.000Z';
    const text = new FleetMetrics({ version: 'v', startedAt: STARTED })
      .render({ ...health(), unresolved: { count: 2, oldest: { intentId: 'kiosk-7-order-1', at } } as HealthReading['unresolved'] });
    expect(lines(text, 'otcd_payments_unresolved ')).toEqual(['otcd_payments_unresolved 2']);
    expect(lines(text, 'otcd_payments_unresolved_oldest_timestamp_seconds')).toEqual([`otcd_payments_unresolved_oldest_timestamp_seconds ${Date.parse(at) / 1000}`]);
    expect(text).not.toContain('kiosk-7-order-1');
    const none = new FleetMetrics({ version: 'v', startedAt: STARTED }).render({ ...health(), unresolved: { count: 0 } });
    expect(lines(none, 'otcd_payments_unresolved')).toEqual(['otcd_payments_unresolved 0']);
  });

  test('voids with an unknown outcome: a gauge from health, absent when health does not carry it', () => {
    const m = new FleetMetrics({ version: 'v', startedAt: STARTED });
    expect(lines(m.render({ ...health(), unresolvedVoids: { count: 3 } }), 'otcd_voids_unresolved')).toEqual(['otcd_voids_unresolved 3']);
    expect(m.render(health())).not.toMatch(/^otcd_voids_unresolved/m);
  });

  test('inquiry latency: one histogram per result, both present from the start', () => {
    const m = new FleetMetrics({ version: 'v', startedAt: STARTED });
    const before = m.render(health());
    expect(lines(before, 'otcd_provider_inquiry_duration_seconds_count')).toEqual([
      'otcd_provider_inquiry_duration_seconds_count{result="ok"} 0',
      'otcd_provider_inquiry_duration_seconds_count{result="error"} 0',
    ]);
    m.recordInquiry({ ms: 180 });
    m.recordInquiry({ ms: 420 });
    m.recordInquiry({ ms: 30_004, code: 'TIMEOUT' });
    const text = m.render(health());
    expect(lines(text, 'otcd_provider_inquiry_duration_seconds_bucket{result="ok",le="0.25"}')).toEqual(['otcd_provider_inquiry_duration_seconds_bucket{result="ok",le="0.25"} 1']);
    expect(lines(text, 'otcd_provider_inquiry_duration_seconds_bucket{result="ok",le="0.5"}')).toEqual(['otcd_provider_inquiry_duration_seconds_bucket{result="ok",le="0.5"} 2']);
    expect(lines(text, 'otcd_provider_inquiry_duration_seconds_bucket{result="error",le="30"}')).toEqual(['otcd_provider_inquiry_duration_seconds_bucket{result="error",le="30"} 0']);
    expect(lines(text, 'otcd_provider_inquiry_duration_seconds_bucket{result="error",le="35"}')).toEqual(['otcd_provider_inquiry_duration_seconds_bucket{result="error",le="35"} 1']);
    expect(lines(text, 'otcd_provider_inquiry_duration_seconds_sum{result="ok"}')).toEqual(['otcd_provider_inquiry_duration_seconds_sum{result="ok"} 0.6']);
    expect(lines(text, 'otcd_provider_inquiry_duration_seconds_bucket{result="ok"')).toHaveLength(INQUIRY_BUCKETS_S.length + 1);
  });

  test('provider last success and last error as Unix times, the error with its code', () => {
    const text = new FleetMetrics({ version: 'v', startedAt: STARTED }).render(health({
      provider: { lastSuccess: '2026-12-06T10:01:00.000Z', lastError: { code: 'UNREACHABLE', at: '2026-12-06T10:02:00.500Z' } },
    }));
    expect(lines(text, 'otcd_provider_last_success_timestamp_seconds')).toEqual([`otcd_provider_last_success_timestamp_seconds ${Date.UTC(2026, 11, 6, 10, 1) / 1000}`]);
    expect(lines(text, 'otcd_provider_last_error_timestamp_seconds')).toEqual([`otcd_provider_last_error_timestamp_seconds{code="UNREACHABLE"} ${Date.UTC(2026, 11, 6, 10, 2, 0, 500) / 1000}`]);
  });

  test('labelWord keeps short words and turns anything else into "other"', () => {
    expect(['approved', 'TERMINAL_BUSY', '51', '', undefined, 'a b', 'x'.repeat(41), 'é'].map(labelWord))
      .toEqual(['approved', 'TERMINAL_BUSY', '51', '', '', 'other', 'other', 'other']);
  });
});
