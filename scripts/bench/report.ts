/** The benchmark's one table, its verdicts, and the closing note on misses. */
import { readFileSync } from 'node:fs';
import { arch, cpus, loadavg, release } from 'node:os';

export interface Row {
  figure: string;
  otcd: string;
  baseline: string;
  target: string;
  verdict: string;
}

export interface Miss {
  figure: string;
  byHowMuch: string;
  why: string;
}

export const KIB = 1024;
export const MIB = 1024 * 1024;

export const fmtKiB = (bytes: number): string => `${(bytes / KIB).toFixed(bytes < 10 * KIB ? 2 : 1)} KiB`;
export const fmtMiB = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;
export const fmtPct = (p: number): string => `${p.toFixed(p < 1 ? 3 : 2)}%`;

/** "ok (1.4x)" when `value <= limit * baseline`, else "MISS (2.9x)". */
export function ratioVerdict(value: number, baseline: number, limit: number): { verdict: string; missed: boolean; ratio: number } {
  const ratio = value / baseline;
  const missed = !(ratio <= limit);
  return { verdict: `${missed ? 'MISS' : 'ok'} (${ratio.toFixed(2)}x)`, missed, ratio };
}

export function header(): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return [
    `otcd benchmark, ${new Date().toISOString()}`,
    `node ${process.version}, ${process.platform} ${arch()} (kernel ${release()}), CPU ${model} x ${cpus().length}`,
    `load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews every figure, otcd's and the baseline's alike)`,
  ].join('\n');
}

export function renderTable(rows: readonly Row[]): string {
  const head: Row = { figure: 'figure', otcd: 'otcd', baseline: 'baseline', target: 'target', verdict: 'verdict' };
  const cols: Array<keyof Row> = ['figure', 'otcd', 'baseline', 'target', 'verdict'];
  const widths = cols.map((c) => Math.max(...[head, ...rows].map((r) => r[c].length)));
  const line = (r: Row): string => `| ${cols.map((c, i) => r[c].padEnd(widths[i])).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

export function renderMisses(misses: readonly Miss[]): string {
  if (misses.length === 0) return 'Every target met.';
  return ['Targets missed:', ...misses.map((m) => `- ${m.figure}: ${m.byHowMuch}.\n  Why: ${m.why}`)].join('\n');
}
