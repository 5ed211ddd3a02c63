/**
 * How otcd's node process is started, here and in systemd/otcd.service (a
 * test keeps the two the same): the node flags of its ExecStart and the
 * variables of its Environment= lines. scripts/testkit/stack.ts startDaemon
 * applies both, so tests, bench and chaos run the daemon as the unit does.
 *
 * Figures: peak RSS (VmHWM) of the real daemon after 300 payments, each with
 * a fresh RSA-2048 key, on the 2-core development machine (other jobs
 * running), from
 *   npm run build && node dist/scripts/diag/rss-breakdown.js 300 [--flag | VAR=value]...
 * which also prints where the resident set goes (smaps by mapping kind).
 * Bare `node -e` idles at ~40 MiB here.
 */

/**
 * --max-semi-space-size=1: V8's young generation otherwise grows from 8 MiB to
 * its 32 MiB ceiling as inquiries allocate and never shrinks, which showed as
 * +25 MiB of RSS in `npm run bench`; one payment allocates far less than
 * 1 MiB between scavenges, and a kiosk board has little memory to spare.
 *
 * --jitless: JavaScript runs in V8's interpreter only. otcd's work per payment
 * is RSA key generation, TLS and serial I/O, all native; its JavaScript is
 * glue, so the JIT bought nothing measurable (daemon CPU per payment
 * ~190-210 ms with or without it, pay -> AUTH p50 the same) and cost memory:
 * the optimizing compiler's code in the node binary (5 MiB of text paged in),
 * its compile jobs' malloc arenas on V8's worker threads (8.8 MiB: the thread
 * arenas were these, not key generation's), and the executable code space
 * (1.6 MiB). Idle 71-73 -> 60 MiB; after 300 payments 83-86 -> 69-73 MiB.
 * It also leaves the process without writable+executable pages.
 * --no-expose-wasm: --jitless turns WebAssembly off anyway and otherwise says
 * so ("disabling flag --expose_wasm") on every start; nothing of ours or of
 * our dependencies uses WebAssembly (Node's ESM loader falls back to its
 * JavaScript CommonJS lexer).
 * --optimize-for-size: V8 grows the old generation by a smaller factor and
 * compacts more eagerly. With --jitless: after 300 payments 64.6-70.0 MiB
 * (five runs) against 83-86 MiB with neither flag; alone it gave 78.5 and
 * 81.4 MiB. `npm run bench` with all of these: idle 59.6 MiB, after 1,000
 * payments 70.2 MiB (~85 without these flags), start to READY 1.49x bare node. (Together these two are what V8's --lite-mode implies; named
 * one by one so each is visible and documented.)
 */
/**
 * The daemon as it runs (relative to the application root, /opt/otcd): the
 * bundle scripts/bundle.ts writes, one file instead of ~90 modules to resolve
 * before READY. dist/daemon/main.js is the same daemon, unbundled.
 */
export const DAEMON_SCRIPT = 'dist/daemon/otcd.js';

export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--jitless', '--no-expose-wasm', '--optimize-for-size'];

/**
 * NODE_ENV=production: nothing of ours reads it; it is set for dependencies
 * that might.
 *
 * No malloc or thread-pool tuning, measured as above and left out:
 * MALLOC_ARENA_MAX=2 gained ~3 MiB with the JIT on and nothing with --jitless
 * (thread arenas are then < 1 MiB in all); UV_THREADPOOL_SIZE=2 gained
 * nothing and would queue ledger writes behind key generation. Nor
 * --v8-pool-size=1: 2.4 MiB on top of the flags above (64.0-64.5 against
 * 64.6-70.0 MiB), under the 4 MiB worth a non-default.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = {
  NODE_ENV: 'production',
};
