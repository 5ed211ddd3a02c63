/**
 * A program of the checkout for an unprivileged user. The checkout may sit
 * where other users cannot enter (/root/otcd, a mktemp -d directory: 0700),
 * so a test that runs otcctl or `otcd check-config` as `nobody` gets the
 * program and its imports bundled into one file in a world-readable
 * temporary directory, beside a copy of package.json (its module type and
 * the version the programs read), laid out as in the checkout. Packages that
 * load native code or are loaded only by a running daemon stay external:
 * the programs run this way never reach them.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { buildSync } from 'esbuild';
import { repoRoot } from '../lib/repo-root.js';

const copies = new Map<string, string>();

/** The path of nobody's copy of `script` (a file under the checkout's dist/), made once per process. */
export function forNobody(script: string): string {
  const made = copies.get(script);
  if (made !== undefined) return made;
  const root = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), 'otcd-for-nobody-'));
  const copy = join(dir, relative(root, script));
  mkdirSync(join(copy, '..'), { recursive: true });
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  // Split as the daemon's own bundle is: what a program imports with import() (the
  // provider's HTTPS stack) stays a chunk, so its external packages load only if used.
  buildSync({
    entryPoints: [script], outdir: dirname(copy), entryNames: basename(copy, '.js'), chunkNames: 'chunks/[name]-[hash]',
    splitting: true, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    external: ['got', 'hpagent', 'serialport', '@serialport/*'], logLevel: 'warning',
    banner: { js: "import { createRequire as __otcdCreateRequire } from 'node:module'; const require = __otcdCreateRequire(import.meta.url);" },
  });
  // Readable by everyone, whatever the umask: directories 0755, files 0644.
  const open = (path: string): void => {
    if (statSync(path).isDirectory()) {
      chmodSync(path, 0o755);
      for (const entry of readdirSync(path)) open(join(path, entry));
    } else {
      chmodSync(path, 0o644);
    }
  };
  open(dir);
  copies.set(script, copy);
  return copy;
}

/** Removes every copy made (a suite's afterAll). */
export function removeCopiesForNobody(): void {
  const root = repoRoot();
  for (const [script, copy] of copies) {
    const depth = relative(root, script).split('/').length;
    let dir = copy;
    for (let i = 0; i < depth; i++) dir = join(dir, '..');
    rmSync(dir, { recursive: true, force: true });
  }
  copies.clear();
}
