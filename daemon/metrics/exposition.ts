/**
 * The Prometheus text exposition format 0.0.4, as node_exporter's textfile
 * collector reads it: for each metric family a `# HELP` and a `# TYPE` line,
 * then its samples, one per line, `name{label="value",...} number`.
 *
 * Our own writer instead of prom-client: otcd writes one small file, and
 * prom-client keeps a process-global registry and pulls in its own
 * collectors; this is the whole format in one page (names and label names
 * checked, label values and help text escaped).
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface Sample {
  /** Appended to the family name: `_bucket`, `_sum`, `_count` for a histogram; none otherwise. */
  suffix?: '_bucket' | '_sum' | '_count';
  labels?: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The exposition text of `families`, in the order given, ending with a newline. */
export function formatExposition(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new TypeError(`metric name ${JSON.stringify(family.name)} is not a Prometheus name`);
    if (seen.has(family.name)) throw new TypeError(`metric ${family.name} appears twice`);
    seen.add(family.name);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(formatSample(family.name, sample));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function formatSample(name: string, sample: Sample): string {
  const labels = Object.entries(sample.labels ?? {});
  for (const [label] of labels) {
    if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new TypeError(`label name ${JSON.stringify(label)} of ${name} is not a Prometheus label name`);
  }
  const labelText = labels.length === 0 ? '' : `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
  return `${name}${sample.suffix ?? ''}${labelText} ${formatValue(sample.value)}`;
}

/** Go's ParseFloat reads these; `+Inf` is how the format spells the last bucket. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** In HELP text only backslash and line feed are escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** In label values backslash, double quote and line feed are escaped. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
