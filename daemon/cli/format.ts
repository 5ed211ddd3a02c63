/**
 * Formatting for people at a kiosk console: short, aligned, local time.
 * Text that came from elsewhere (the daemon, the provider, the ledger) goes
 * through `printable` first, so a stray control byte cannot drive the
 * terminal.
 */

// C0 and C1 controls and DEL: a provider message could carry anything.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\x00-\x1f\x7f-\x9f]/g;

export function printable(text: string): string {
  return text.replace(CONTROL_CHARS, '?');
}

/** 12000 -> "12,000 KRW". */
export function formatAmount(amount: number): string {
  return `${String(amount).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} KRW`;
}

/**
 * What a masked PAN looks like: at most the first 6 and the last 4 digits
 * in clear, the middle masked. Anything else is not shown: otcd never sends
 * a full PAN, and this keeps it that way even if something upstream broke.
 */
const MASKED_PAN = /^[0-9]{0,6}[*Xx]{2,}[0-9]{0,4}$/;

export function safeMaskedPan(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return MASKED_PAN.test(value) ? value : '(hidden: not a masked PAN)';
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function localDate(d: Date): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

function localTime(d: Date, millis = false): string {
  const t = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return millis ? `${t}.${String(d.getMilliseconds()).padStart(3, '0')}` : t;
}

/** "2026-11-27 10:00:00", local time. */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  return `${localDate(d)} ${localTime(d)}`;
}

/** "10:00:00.512" (local), for events as they come. */
export function formatClock(ms: number): string {
  return localTime(new Date(ms), true);
}

/** "10:00:00 (3s ago)" today, else "2026-11-26 10:00:00 (1d 0h ago)". */
export function formatWhen(iso: string | undefined, nowMs: number): string {
  if (iso === undefined) return 'never';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return printable(iso);
  const d = new Date(ms);
  const sameDay = localDate(d) === localDate(new Date(nowMs));
  const when = sameDay ? localTime(d) : `${localDate(d)} ${localTime(d)}`;
  const ago = nowMs - ms;
  return ago >= 0 ? `${when} (${formatDuration(ago / 1000)} ago)` : `${when} (in ${formatDuration(-ago / 1000)})`;
}

/** 42 -> "42s", 192 -> "3m 12s", 93784 -> "1d 2h 3m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

/** Rows as columns padded to the widest cell; `right` lists right-aligned columns. */
export function formatTable(header: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((row) => row
    .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
    .join('  ')
    .trimEnd()).join('\n');
}

/** `label  value` lines with the labels padded to one width. */
export function formatFields(fields: Array<[string, string]>, minWidth = 0): string {
  const width = Math.max(minWidth, ...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`.trimEnd()).join('\n');
}

/** "name value" cells in as many aligned columns as fit `maxWidth`, each line indented. */
export function formatGrid(cells: string[], indent: string, maxWidth = 78): string {
  if (cells.length === 0) return '';
  const width = Math.max(...cells.map((c) => c.length)) + 2;
  const perRow = Math.max(1, Math.floor((maxWidth - indent.length) / width));
  const lines: string[] = [];
  for (let i = 0; i < cells.length; i += perRow) {
    lines.push(indent + cells.slice(i, i + perRow).map((c) => c.padEnd(width)).join('').trimEnd());
  }
  return lines.join('\n');
}
