/**
 * The lint step's import check (`npm run lint`): fails, naming the files,
 * when the repository's imports form a cycle or run against the layers
 * (scripts/lib/import-graph.ts says which).
 *
 *   npm run build && node dist/scripts/check-imports.js
 */
import { cyclesOf, importGraph, layerViolations } from './lib/import-graph.js';
import { repoRoot } from './lib/repo-root.js';

const graph = importGraph(repoRoot());
const cycles = cyclesOf(graph);
const violations = layerViolations(graph);
for (const cycle of cycles) console.error(`import cycle: ${cycle.join(' <-> ')}`);
for (const v of violations) console.error(`layer violation: ${v.from} imports ${v.to}`);
if (cycles.length > 0 || violations.length > 0) {
  console.error('check-imports: break the cycle or move the shared code down a layer (scripts/lib/import-graph.ts LAYERS)');
  process.exit(1);
}
console.log(`check-imports: ${graph.size} files, no cycle, no import against the layers`);
