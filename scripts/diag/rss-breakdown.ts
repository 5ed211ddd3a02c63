/**
 * Where the real daemon's resident memory goes after N payments, and what a
 * runtime setting (environment variable or node flag) does to it.
 *
 *   npm run build && node dist/scripts/diag/rss-breakdown.js N [--usage] [KEY=VALUE | KEY= | --node-flag]...
 *   e.g. ... 300 --usage                     (breakdown with process.memoryUsage())
 *        ... 300 MALLOC_ARENA_MAX=2          (one experiment; KEY= unsets an inherited/DAEMON_ENV variable)
 *        ... 300 --v8-pool-size=1
 *
 * The daemon is started by scripts/testkit/stack.ts startDaemon (DAEMON_NODE_FLAGS
 * and DAEMON_ENV, as the unit runs it), then the settings given here on top.
 * Prints VmHWM/VmRSS, /proc/PID/smaps_rollup, smaps grouped by what the
 * mapping is, pay -> AUTH written (provider excluded) p50/p99 and the
 * daemon's CPU time per payment. --usage
 * preloads scripts/diag/usage-on-signal.ts and adds process.memoryUsage()
 * and V8's spaces (the preload itself costs a few hundred KiB: leave it off
 * when comparing peaks).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { approvedTiming, authWrittenExcludingProvider, pay, waitUntilWarm } from '../bench/payments.js';
import { readCpuTime, readMemory } from '../bench/proc.js';
import { repoRoot } from '../lib/repo-root.js';
import { startDaemon, startStack, waitForSocket } from '../testkit/stack.js';
import { percentile } from '../lib/stats.js';

const n = Number(process.argv[2] ?? 300);
const rest = process.argv.slice(3);
const withUsage = rest.includes('--usage');
const env: NodeJS.ProcessEnv = {};
for (const a of rest.filter((x) => /^[A-Z_][A-Z0-9_]*=/.test(x))) {
  const [key, ...value] = a.split('=');
  env[key] = value.length === 1 && value[0] === '' ? undefined : value.join('=');
}
const nodeFlags = rest.filter((x) => x.startsWith('--') && x !== '--usage');
if (withUsage) nodeFlags.push('--import', pathToFileURL(join(repoRoot(), 'dist', 'scripts', 'diag', 'usage-on-signal.js')).href);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (kib: number): string => (kib / 1024).toFixed(1);

interface Mapping { start: bigint; end: bigint; perms: string; path: string; rss: number; pss: number; sharedClean: number; privateDirty: number; anon: number }

function readSmaps(pid: number): Mapping[] {
  const out: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      out.push({ start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3], path: head[4], rss: 0, pss: 0, sharedClean: 0, privateDirty: 0, anon: 0 });
      continue;
    }
    const field = /^(\w+):\s+(\d+) kB/.exec(line);
    const m = out.at(-1);
    if (!field || !m) continue;
    const v = Number(field[2]);
    if (field[1] === 'Rss') m.rss = v;
    else if (field[1] === 'Pss') m.pss = v;
    else if (field[1] === 'Shared_Clean') m.sharedClean = v;
    else if (field[1] === 'Private_Dirty') m.privateDirty = v;
    else if (field[1] === 'Anonymous') m.anon = v;
  }
  return out;
}

/** glibc's per-thread arenas: 64 MiB-aligned heaps, rw- at the front, PROT_NONE for the rest of the 64 MiB. */
const ARENA_HEAP = 64n * 1024n * 1024n;

function group(maps: Mapping[]): Map<string, { rss: number; privateDirty: number; sharedClean: number; count: number }> {
  const groups = new Map<string, { rss: number; privateDirty: number; sharedClean: number; count: number }>();
  const add = (g: string, m: Mapping): void => {
    const e = groups.get(g) ?? { rss: 0, privateDirty: 0, sharedClean: 0, count: 0 };
    e.rss += m.rss; e.privateDirty += m.privateDirty; e.sharedClean += m.sharedClean; e.count++;
    groups.set(g, e);
  };
  maps.forEach((m, i) => {
    const next = maps[i + 1];
    if (m.path.startsWith('/')) {
      const file = m.path.replace(/ \(deleted\)$/, '');
      const kind = file.endsWith('/node') ? 'node binary' : /\.so[.\d]*$/.test(file) ? 'shared libs' : `file ${file}`;
      add(`${kind} ${m.perms.includes('x') ? 'text' : m.perms.includes('w') ? 'data (rw)' : 'rodata'}`, m);
    } else if (m.path === '[heap]') add('malloc main arena [heap]', m);
    else if (m.path === '[stack]') add('main stack', m);
    else if (m.path.startsWith('[')) add(m.path, m);
    else if (m.perms.includes('x')) add('anon executable (V8 code space / JIT)', m);
    else if (m.perms === '---p') add('anon reserved (---p, no RSS)', m);
    else if (m.start % ARENA_HEAP === 0n && (m.end - m.start === ARENA_HEAP || (next !== undefined && next.start === m.end && next.perms === '---p' && next.end - m.start === ARENA_HEAP))) {
      add('malloc thread arenas (64 MiB heaps)', m);
    } else add('anon rw (V8 heap pages, mmap chunks > M_MMAP_THRESHOLD, thread stacks)', m);
  });
  return groups;
}

const lines: string[] = [];
const stack = await startStack({ simArgs: ['--prog-sent-delay', '0', '--result-delay', '0', '--quiet'] });
try {
  await stack.daemon.stop();
  const timings: number[] = [];
  let usage = '';
  stack.daemon = startDaemon(stack.configPath, {
    cwd: stack.dir, nodeArgs: nodeFlags, env,
    onLog: (line) => {
      const t = approvedTiming(line);
      if (t) timings.push(authWrittenExcludingProvider(t));
      else if (line.startsWith('otcd-diag-usage ')) usage = line.slice('otcd-diag-usage '.length);
      else lines.push(line);
    },
  });
  await waitForSocket(stack.socketPath, stack.daemon);
  const client = await stack.connect();
  await waitUntilWarm(client, 2, 60_000);
  const pid = stack.daemon.process.pid as number;
  await sleep(2000);
  const idle = readMemory(pid);
  const started = performance.now();
  const cpu0 = readCpuTime(pid).selfMs;
  await pay(client, 0, n, { runId: 'rss', waitForKey: true });
  const seconds = (performance.now() - started) / 1000;
  const cpuPerPayment = (readCpuTime(pid).selfMs - cpu0) / n;
  await sleep(1000);
  const after = readMemory(pid);
  console.log(`settings: ${rest.join(' ') || '(none beyond DAEMON_NODE_FLAGS/DAEMON_ENV)'}`);
  console.log(`idle:              VmHWM ${mib(idle.peakKiB)} MiB  VmRSS ${mib(idle.rssKiB)} MiB`);
  console.log(`after ${n} payments: VmHWM ${mib(after.peakKiB)} MiB  VmRSS ${mib(after.rssKiB)} MiB  (${seconds.toFixed(0)} s)`);
  console.log(`pay -> AUTH written, provider excluded: p50 ${percentile(timings, 50).toFixed(1)} ms  p99 ${percentile(timings, 99).toFixed(1)} ms  (n=${timings.length})  daemon CPU ${cpuPerPayment.toFixed(1)} ms/payment (key generation included)`);
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n').filter((l) => /^(Rss|Pss|Pss_Anon|Pss_File|Shared_Clean|Shared_Dirty|Private_Clean|Private_Dirty|Anonymous|Swap):/.test(l));
  console.log(`smaps_rollup: ${rollup.map((l) => l.replace(/\s+/g, ' ')).join(' | ')}`);
  const groups = [...group(readSmaps(pid)).entries()].sort((a, b) => b[1].rss - a[1].rss);
  console.log('smaps grouped (KiB):      rss  privDirty  sharedClean  mappings');
  for (const [name, g] of groups) {
    if (g.rss === 0 && name.includes('no RSS')) continue;
    console.log(`  ${String(g.rss).padStart(7)} ${String(g.privateDirty).padStart(9)} ${String(g.sharedClean).padStart(11)} ${String(g.count).padStart(9)}  ${name}`);
  }
  const threads = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Threads:\s+(\d+)/m)?.[1];
  console.log(`threads: ${threads}`);
  if (withUsage) {
    stack.daemon.process.kill('SIGUSR2');
    for (let i = 0; i < 50 && usage === ''; i++) await sleep(100);
    const u = JSON.parse(usage) as { usage: Record<string, number>; spaces: Record<string, { committed: number; used: number }> };
    console.log(`memoryUsage (KiB): ${Object.entries(u.usage).map(([k, v]) => `${k}=${Math.round(v / 1024)}`).join(' ')}`);
    console.log(`V8 spaces committed/used (KiB): ${Object.entries(u.spaces).map(([k, v]) => `${k}=${Math.round(v.committed / 1024)}/${Math.round(v.used / 1024)}`).join(' ')}`);
  }
  client.close();
} finally {
  await stack.stop();
}
