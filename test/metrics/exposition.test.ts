import { describe, expect, test } from '@jest/globals';
import { formatExposition, formatValue } from '../../daemon/metrics/exposition.js';
import { Histogram } from '../../daemon/metrics/histogram.js';

describe('the text exposition format', () => {
  test('HELP, TYPE, then samples; labels in the order given; one newline at the end', () => {
    const text = formatExposition([
      { name: 'otcd_payments_total', type: 'counter', help: 'Payments.', samples: [
        { labels: { state: 'approved', code: '' }, value: 3 },
        { labels: { state: 'declined', code: '51' }, value: 1 },
      ] },
      { name: 'otcd_keys_ready', type: 'gauge', help: 'Keys.', samples: [{ value: 2 }] },
    ]);
    expect(text).toBe([
      '# HELP otcd_payments_total Payments.',
      '# TYPE otcd_payments_total counter',
      'otcd_payments_total{state="approved",code=""} 3',
      'otcd_payments_total{state="declined",code="51"} 1',
      '# HELP otcd_keys_ready Keys.',
      '# TYPE otcd_keys_ready gauge',
      'otcd_keys_ready 2',
      '',
    ].join('\n'));
  });

  test('label values escape backslash, quote and line feed; HELP escapes backslash and line feed only', () => {
    const text = formatExposition([{ name: 'x', type: 'gauge', help: 'a "quoted" \\ help\nline', samples: [{ labels: { v: 'a"b\\c\nd' }, value: 1 }] }]);
    expect(text).toBe('# HELP x a "quoted" \\\\ help\\nline\n# TYPE x gauge\nx{v="a\\"b\\\\c\\nd"} 1\n');
  });

  test('special values are spelt as Go parses them', () => {
    expect([Infinity, -Infinity, NaN, 0.25, 1e-7, 1700000000.5].map(formatValue)).toEqual(['+Inf', '-Inf', 'NaN', '0.25', '1e-7', '1700000000.5']);
  });

  test('a bad metric name, a bad or reserved label name, or a family twice is refused', () => {
    expect(() => formatExposition([{ name: 'otcd-payments', type: 'counter', help: 'h', samples: [] }])).toThrow(/not a Prometheus name/);
    expect(() => formatExposition([{ name: 'x', type: 'gauge', help: 'h', samples: [{ labels: { 'intent-id': 'a' }, value: 1 }] }])).toThrow(/label name/);
    expect(() => formatExposition([{ name: 'x', type: 'gauge', help: 'h', samples: [{ labels: { __name__: 'a' }, value: 1 }] }])).toThrow(/label name/);
    expect(() => formatExposition([
      { name: 'x', type: 'gauge', help: 'h', samples: [] }, { name: 'x', type: 'gauge', help: 'h', samples: [] },
    ])).toThrow(/twice/);
  });

  test('nothing to say is an empty file, not a lone newline', () => {
    expect(formatExposition([])).toBe('');
  });
});

describe('Histogram', () => {
  test('cumulative buckets with inclusive upper bounds, +Inf, sum and count', () => {
    const h = new Histogram([0.5, 1, 5]);
    for (const v of [0.2, 0.5, 0.7, 1, 4, 9]) h.observe(v);
    const text = formatExposition([{ name: 'd_seconds', type: 'histogram', help: 'h', samples: h.samples({ result: 'ok' }) }]);
    expect(text.split('\n').slice(2, -1)).toEqual([
      'd_seconds_bucket{result="ok",le="0.5"} 2',
      'd_seconds_bucket{result="ok",le="1"} 4',
      'd_seconds_bucket{result="ok",le="5"} 5',
      'd_seconds_bucket{result="ok",le="+Inf"} 6',
      'd_seconds_sum{result="ok"} 15.4',
      'd_seconds_count{result="ok"} 6',
    ]);
  });

  test('bounds must be finite and strictly increasing', () => {
    expect(() => new Histogram([])).toThrow(TypeError);
    expect(() => new Histogram([1, 1])).toThrow(TypeError);
    expect(() => new Histogram([1, Infinity])).toThrow(TypeError);
  });
});
