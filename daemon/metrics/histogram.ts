/**
 * A cumulative Prometheus histogram: fixed upper bounds, counts kept per
 * bucket and summed only when the samples are written.
 */
import { formatValue, type Sample } from './exposition.js';

export class Histogram {
  private readonly bounds: readonly number[];
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(bounds: readonly number[]) {
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]))) {
      throw new TypeError('histogram bounds must be finite and strictly increasing');
    }
    this.bounds = [...bounds];
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  /** `_bucket` samples (cumulative, `+Inf` last), `_sum` and `_count`, each with `labels`. */
  samples(labels: Readonly<Record<string, string>> = {}): Sample[] {
    const out: Sample[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i];
      out.push({ suffix: '_bucket', labels: { ...labels, le: formatValue(bound) }, value: cumulative });
    });
    out.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: this.count });
    out.push({ suffix: '_sum', labels, value: this.sum });
    out.push({ suffix: '_count', labels, value: this.count });
    return out;
  }
}
