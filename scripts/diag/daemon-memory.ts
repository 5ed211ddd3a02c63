/**
 * The real daemon's memory over many payments, with Node/V8 flags of our
 * choosing (scripts/testkit/stack.ts starts it without any).
 *
 *   npm run build && node dist/scripts/diag/daemon-memory.js N EVERY [node flags...]
 *   e.g. ... 1000 100 --max-semi-space-size=1
 *        ... 400 100 --heapsnapshot-signal=SIGUSR2   (snapshots land in the stack's dir, kept)
 *
 * Prints VmRSS/VmHWM (KiB) after every EVERY payments; with
 * --heapsnapshot-signal=SIGUSR2 it also writes a snapshot at each milestone
 * (compare them with scripts/diag/heap-count.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { pay, waitUntilWarm } from '../bench/payments.js';
import { readMemory } from '../bench/proc.js';
import { startDaemon, startStack, waitForSocket, type DaemonProcess } from '../testkit/stack.js';

const n = Number(process.argv[2] ?? 400);
const every = Number(process.argv[3] ?? 100);
const nodeFlags = process.argv.slice(4);
const snapshots = nodeFlags.some((f) => f.startsWith('--heapsnapshot-signal'));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function startDaemonWith(configPath: string, cwd: string): DaemonProcess {
  return startDaemon(configPath, { nodeArgs: nodeFlags, cwd });
}

async function snapshot(daemon: DaemonProcess, dir: string): Promise<void> {
  const before = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).length;
  daemon.process.kill('SIGUSR2');
  while (readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).length === before) await sleep(100);
  await sleep(3000); // the file appears before it is complete
}

const stack = await startStack({ logLevel: 'warn' });
try {
  await stack.daemon.stop();
  stack.daemon = startDaemonWith(stack.configPath, stack.dir);
  await waitForSocket(stack.socketPath, stack.daemon);
  const client = await stack.connect();
  await waitUntilWarm(client, 2, 30_000);
  const pid = stack.daemon.process.pid as number;
  const show = (i: number): void => {
    const m = readMemory(pid);
    // RssFile is mostly the node binary's own pages (clean, shared, reclaimable); RssAnon is what otcd owns.
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (f: string): string => new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? '?';
    console.log(`${String(i).padStart(5)} payments  VmRSS ${m.rssKiB} KiB  VmHWM ${m.peakKiB} KiB  RssAnon ${field('RssAnon')} KiB  RssFile ${field('RssFile')} KiB`);
  };
  show(0);
  if (snapshots) await snapshot(stack.daemon, stack.dir);
  for (let i = 0; i < n; i += every) {
    await pay(client, i, i + every, { runId: 'diag', waitForKey: true });
    await sleep(500);
    show(i + every);
    if (snapshots) await snapshot(stack.daemon, stack.dir);
  }
  client.close();
  if (snapshots) console.log(`snapshots in ${stack.dir}: ${readdirSync(stack.dir).filter((f) => f.endsWith('.heapsnapshot')).join(' ')}`);
} finally {
  if (snapshots) {
    // Everything but the directory, which holds the snapshots: the simulator and
    // the stand-in left running would keep this process from ever exiting.
    await stack.daemon.stop();
    await stack.sim?.stop();
    await stack.standin.stop();
  } else {
    await stack.stop();
  }
}
