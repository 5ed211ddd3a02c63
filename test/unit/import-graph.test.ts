// The import check behind `npm run lint` (scripts/check-imports.ts): it must
// see a cycle and an import against the layers when there is one, and the
// repository must have neither.
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cyclesOf, importGraph, layerViolations } from '../../scripts/lib/import-graph.js';
import { repoRoot } from '../../scripts/lib/repo-root.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'otcd-imports-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('import graph', () => {
  test('a cycle through three files, type-only imports included, is found; packages and node: modules are leaves', () => {
    const root = tree({
      'drivers/a.ts': "import { b } from './b.js';\nimport { readFileSync } from 'node:fs';\nexport const a = b;",
      'drivers/b.ts': "import type { C } from './sub/c.js';\nimport got from 'got';\nexport const b = 1;",
      'drivers/sub/c.ts': "export * from '../a.js';\nexport type C = number;",
      'drivers/d.ts': "import { a } from './a.js';",
    });
    expect(cyclesOf(importGraph(root, ['drivers']))).toEqual([['drivers/a.ts', 'drivers/b.ts', 'drivers/sub/c.ts']]);
  });

  test('a file importing itself is a cycle; a chain is not', () => {
    const root = tree({
      'config/self.ts': "export { x } from './self.js'; export const x = 1;",
      'config/one.ts': "import { two } from './two.js';",
      'config/two.ts': "import { three } from './three.js'; export const two = 2;",
      'config/three.ts': 'export const three = 3;',
    });
    expect(cyclesOf(importGraph(root, ['config']))).toEqual([['config/self.ts']]);
  });

  test('an import against the layers is named; dynamic import() counts', () => {
    const root = tree({
      'drivers/x.ts': "export const x = 1;\nexport const later = () => import('../daemon/y.js');",
      'daemon/y.ts': "import { x } from '../drivers/x.js';",
      'scripts/z.ts': "import { h } from '../test/helper.js';",
      'test/helper.ts': "import { x } from '../drivers/x.js'; export const h = x;",
      'config/.keep.ts': '',
    });
    const graph = importGraph(root, ['drivers', 'daemon', 'scripts', 'test', 'config']);
    expect(layerViolations(graph)).toEqual([
      { from: 'drivers/x.ts', to: 'daemon/y.ts' },
      { from: 'scripts/z.ts', to: 'test/helper.ts' },
    ]);
    expect(cyclesOf(graph)).toEqual([['daemon/y.ts', 'drivers/x.ts']]);
  });

  test('this repository: no cycle, no import against the layers', () => {
    const graph = importGraph(repoRoot());
    expect(graph.size).toBeGreaterThan(100);
    expect(cyclesOf(graph)).toEqual([]);
    expect(layerViolations(graph)).toEqual([]);
  });
});
