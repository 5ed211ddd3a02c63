/**
 * The fault matrix: one row per fault, with what the daemon should do and
 * what it did, printed as a table when the suite ends. A row is recorded
 * before the case's assertions run, so a failing case still shows what was
 * observed.
 */

export interface MatrixRow {
  group: string;
  fault: string;
  expected: string;
  observed: string;
  /** `ok` when the observation met the expectation; `KNOWN-BUG` for a documented daemon bug the case tolerates. */
  verdict: 'ok' | 'FAIL' | 'KNOWN-BUG';
}

export class FaultMatrix {
  readonly rows: MatrixRow[] = [];
  private readonly startedAt = Date.now();

  add(row: MatrixRow): void {
    this.rows.push(row);
  }

  /** A plain-text table: group | fault | expected | observed | verdict. */
  render(): string {
    const head: MatrixRow = { group: 'group', fault: 'fault', expected: 'expected', observed: 'observed', verdict: 'ok' };
    const cells = (r: MatrixRow): string[] => [r.group, r.fault, r.expected, r.observed, r === head ? 'verdict' : r.verdict];
    const all = [head, ...this.rows].map(cells);
    const widths = all[0].map((_, i) => Math.max(...all.map((row) => row[i].length)));
    const line = (row: string[]): string => `| ${row.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
    const failing = this.rows.filter((r) => r.verdict !== 'ok').length;
    const seconds = ((Date.now() - this.startedAt) / 1000).toFixed(1);
    return [
      `otcd fault matrix: ${this.rows.length} faults, ${failing} not ok, ${seconds} s`,
      line(all[0]), rule, ...all.slice(1).map(line),
    ].join('\n');
  }
}
