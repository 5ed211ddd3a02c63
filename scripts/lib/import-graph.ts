/**
 * The import graph of the repository's TypeScript files, and the two rules it
 * must keep: no cycle (a cycle makes load order matter and no file of it can
 * be understood alone), and no import running against the layers (a layer
 * imports only itself and the layers below it; scripts/ and test/ sit on top,
 * and nothing outside test/ imports from test/).
 *
 * Only relative imports are followed (packages and node: modules are leaves).
 * `import type` counts: a type cycle is a design cycle even when the emitted
 * JavaScript has none.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The top folders that hold TypeScript, and the folders each may import from (besides itself). */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  drivers: [],
  config: ['drivers'],
  daemon: ['drivers', 'config'],
  scripts: ['daemon', 'drivers', 'config'],
  test: ['scripts', 'daemon', 'drivers', 'config'],
};

/** file (relative to the root, '/'-separated) -> the repository files it imports. */
export type ImportGraph = Map<string, string[]>;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const toKey = (root: string, path: string): string => relative(root, path).split(sep).join('/');

/** Reads every .ts file under the given top folders of `root`. */
export function importGraph(root: string, folders: readonly string[] = Object.keys(LAYERS)): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const folder of folders) {
    for (const file of tsFiles(join(root, folder))) {
      const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      const targets = importedFiles
        .map((ref) => ref.fileName)
        .filter((name) => name.startsWith('./') || name.startsWith('../'))
        // Sources import each other by their compiled names (NodeNext): x.js is x.ts.
        .map((name) => toKey(root, resolve(dirname(file), name.replace(/\.js$/, '.ts'))));
      graph.set(toKey(root, file), [...new Set(targets)]);
    }
  }
  return graph;
}

/** Every cycle (strongly connected component of more than one file, or a file importing itself), each sorted. */
export function cyclesOf(graph: ImportGraph): string[][] {
  // Tarjan's algorithm, iterative so a deep chain cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: { node: string; edge: number }[] = [{ node: start, edge: 0 }];
    index.set(start, next); low.set(start, next); next++;
    stack.push(start); onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const edges = graph.get(top.node) ?? [];
      if (top.edge < edges.length) {
        const to = edges[top.edge++]!;
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, next); low.set(to, next); next++;
          stack.push(to); onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== top.node);
        if (component.length > 1 || edges.includes(top.node)) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}

export interface LayerViolation { from: string; to: string }

/** Imports from a top folder that LAYERS does not allow the importing folder to use. */
export function layerViolations(graph: ImportGraph, layers: Readonly<Record<string, readonly string[]>> = LAYERS): LayerViolation[] {
  const out: LayerViolation[] = [];
  for (const [from, targets] of graph) {
    const fromLayer = from.split('/')[0]!;
    for (const to of targets) {
      const toLayer = to.split('/')[0]!;
      if (toLayer !== fromLayer && !(layers[fromLayer] ?? []).includes(toLayer)) out.push({ from, to });
    }
  }
  return out;
}
