/**
 * Counts a V8 heap snapshot's objects by type and constructor name and, given
 * two, prints what grew most between them (count and self size).
 *
 *   node dist/scripts/diag/heap-count.js A.heapsnapshot [B.heapsnapshot] [TOP]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

type Counts = Map<string, { count: number; size: number }>;

function count(path: string): Counts {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const TYPE = fields.indexOf('type');
  const NAME = fields.indexOf('name');
  const SIZE = fields.indexOf('self_size');
  const out: Counts = new Map();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + TYPE]];
    // Strings and code are named by their content: group them by type only.
    const name = type === 'object' || type === 'closure' || type === 'native' ? s.strings[s.nodes[i + NAME]] : '';
    const key = `${type}:${name.slice(0, 60)}`;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += s.nodes[i + SIZE];
    out.set(key, e);
  }
  return out;
}

const [a, b, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 30);
const ca = count(a);
const total = (c: Counts): string => {
  let n = 0; let size = 0;
  for (const e of c.values()) { n += e.count; size += e.size; }
  return `${n} objects, ${(size / 1024).toFixed(0)} KiB`;
};
console.log(`${a}: ${total(ca)}`);
if (b === undefined) {
  for (const [k, e] of [...ca].sort((x, y) => y[1].size - x[1].size).slice(0, top)) console.log(`${String(e.count).padStart(8)} ${String(e.size).padStart(10)}  ${k}`);
} else {
  const cb = count(b);
  console.log(`${b}: ${total(cb)}`);
  const rows = [...new Set([...ca.keys(), ...cb.keys()])].map((k) => {
    const x = ca.get(k) ?? { count: 0, size: 0 };
    const y = cb.get(k) ?? { count: 0, size: 0 };
    return { k, dn: y.count - x.count, ds: y.size - x.size };
  });
  console.log('  +count      +bytes  type:constructor');
  for (const r of rows.sort((x, y) => y.ds - x.ds).slice(0, top)) console.log(`${String(r.dn).padStart(8)} ${String(r.ds).padStart(11)}  ${r.k}`);
}
