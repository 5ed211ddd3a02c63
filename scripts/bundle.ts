/**
 * `npm run build`'s second step: the daemon as one file, dist/daemon/otcd.js,
 * which is what otcd.service, the technicians' `otcd` command and every test,
 * bench and chaos run start (scripts/testkit/stack.ts startDaemon).
 *
 * Why: start to READY is mostly module loading. Node's ESM loader resolves,
 * reads and links about 90 files before READY (otcd's own, pino's, smol-toml's,
 * iconv-lite's, hpagent's); one file skips all of that. Measured with
 * scripts/diag/startup-profile.ts and an interleaved A/B of spawn -> READY=1:
 * 405 ms unbundled, 312 ms bundled (medians, loaded 2-core machine).
 *
 * What stays outside: got and serialport, which otcd loads only after READY
 * (`import()` on first use) from node_modules, and serialport carries a
 * native binding that cannot be bundled. What otcd itself loads with
 * `import()` (daemon/provider/https-stack.ts) becomes a chunk of its own
 * under dist/daemon/otcd-chunks/. Names are kept and syntax only is
 * minified, so a stack trace in the journal still names the function.
 * dist/daemon/main.js (tsc's output) still runs the same daemon, unbundled.
 */
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { DAEMON_SCRIPT } from '../daemon/node-flags.js';
import { repoRoot } from './lib/repo-root.js';

/** tsc's output for the daemon, bundled into DAEMON_SCRIPT. */
const ENTRY = join('dist', 'daemon', 'main.js');

/** Packages loaded after READY, from node_modules, as they are. */
const EXTERNAL = ['got', 'serialport', '@serialport/*'];

/** CommonJS packages inside an ESM bundle call require() for Node's modules: give them one. */
const REQUIRE_SHIM = "import { createRequire as __otcdCreateRequire } from 'node:module'; const require = __otcdCreateRequire(import.meta.url);";

const root = repoRoot();
// Chunk names carry a content hash: clear the old ones, or every build would add to what an install copies.
await rm(join(root, dirname(DAEMON_SCRIPT), 'otcd-chunks'), { recursive: true, force: true });
const result = await build({
  entryPoints: { [basename(DAEMON_SCRIPT, '.js')]: join(root, ENTRY) },
  outdir: join(root, dirname(DAEMON_SCRIPT)),
  // What otcd imports with import() (the provider's HTTPS stack) stays a file of its
  // own, loaded when first used: one file for everything would load it before READY.
  splitting: true,
  chunkNames: 'otcd-chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: EXTERNAL,
  banner: { js: REQUIRE_SHIM },
  minifySyntax: true,
  minifyWhitespace: true,
  keepNames: true,
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs).length;
// The metafile names outputs relative to the working directory; print them relative to the repository.
const outputs = Object.entries(result.metafile.outputs).map(([path, o]) => `${relative(root, resolve(path))} ${(o.bytes / 1024).toFixed(0)} KiB`);
process.stdout.write(`bundle: ${inputs} files -> ${outputs.join(', ')}\n`);
