/**
 * Reads the daemon's ledger file the way a checker must: every complete line
 * (ending in "\n") is JSON, only a last line without its "\n" may be torn.
 * Merges the change lines per intent like the daemon does (refs are a union),
 * independently of daemon/payments/ledger.ts so a bug there cannot hide here.
 */
import { readFile } from 'node:fs/promises';

export interface LedgerView {
  /** intentId -> latest merged fields. */
  records: Map<string, Record<string, unknown>>;
  /** intentId -> every ref it ever recorded, in order. */
  refs: Map<string, string[]>;
  /** intentId -> every VOID ref it ever recorded, in order. */
  vrefs: Map<string, string[]>;
  lines: number;
  /** A last line without "\n" (a torn write): skipped, as the daemon does. */
  tornTail: boolean;
  /** Complete lines that are not JSON objects: each one is a violation. */
  badLines: string[];
}

export async function readLedger(path: string): Promise<LedgerView> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const view: LedgerView = { records: new Map(), refs: new Map(), vrefs: new Map(), lines: 0, tornTail: false, badLines: [] };
  const parts = text.split('\n');
  const tail = parts.pop() ?? '';
  if (tail.length > 0) view.tornTail = true;
  for (const line of parts) {
    if (line.length === 0) continue;
    view.lines++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      view.badLines.push(line.slice(0, 200));
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      view.badLines.push(line.slice(0, 200));
      continue;
    }
    const change = parsed as Record<string, unknown>;
    if (typeof change.id !== 'string') continue; // the {"v":1} header
    const merged = { ...view.records.get(change.id), ...change };
    for (const k of Object.keys(merged)) if (merged[k] === null) delete merged[k];
    view.records.set(change.id, merged);
    const refs = view.refs.get(change.id) ?? [];
    const incoming = [...(Array.isArray(change.refs) ? change.refs : []), ...(typeof change.ref === 'string' ? [change.ref] : [])];
    for (const r of incoming) if (typeof r === 'string' && !refs.includes(r)) refs.push(r);
    view.refs.set(change.id, refs);
    const vrefs = view.vrefs.get(change.id) ?? [];
    const incomingVoids = [...(Array.isArray(change.vrefs) ? change.vrefs : []), ...(typeof change.vref === 'string' ? [change.vref] : [])];
    for (const r of incomingVoids) if (typeof r === 'string' && !vrefs.includes(r)) vrefs.push(r);
    if (vrefs.length > 0) view.vrefs.set(change.id, vrefs);
  }
  return view;
}
