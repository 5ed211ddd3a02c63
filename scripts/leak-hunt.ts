/**
 * `node dist/scripts/leak-hunt.js`: runs the real daemon through a range of
 * payments (approved, declined, busy, upstream timeout, silent terminal,
 * re-inquiry, cancels, kill -9 and LAST recovery, every provider error incl.
 * bad-track2, wrong-key and sentinels, terminal faults: noise, NAKs, a link
 * dropped mid-frame) at log level debug and then trace, and captures every
 * byte the daemon writes or holds:
 *   - its stdout/stderr (raw bytes),
 *   - every line it sent on the intent socket,
 *   - the ledger and every other file of the state directory,
 *   - a core image of the process after the payments (gcore; deleted after
 *     the scan): Buffers live outside the V8 heap, so only this shows whether
 *     track 2 buffers were zeroed,
 *   - a V8 heap snapshot after the payments (--heapsnapshot-signal).
 * Then searches all of it for every test PAN and track 2 in ASCII, hex,
 * Base64/base64url at three alignments and UTF-16LE/BE. The only place card
 * data may exist is the AUTH frame on the serial line, which is the
 * simulator's side and not captured here. journald is covered by
 * test/systemd/nspawn-test.sh (`journalctl -o export` of the whole container
 * searched for the PAN), which runs otcd under a real systemd.
 *
 * Prints capture | bytes scanned | hits, where each hit was found (its
 * surroundings in hex, the secret masked) and exits 1 when any count is not
 * zero, 2 when a capture could not be taken.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import type { DaemonMessage, IntentClient } from '../daemon/client/intent-client.js';
import { startCapturedDaemon, type CapturedDaemon } from './leak-hunt/daemon.js';
import { needlesFor, panOf, type Needle, type TestCard } from './leak-hunt/needles.js';
import { ScanResult, scanBuffer, scanFile } from './leak-hunt/scan.js';
import { startStack, waitForSocket } from './testkit/stack.js';
import { printTable } from './lib/table.js';

const execFileAsync = promisify(execFile);

const USAGE = `Usage: node dist/scripts/leak-hunt.js [--keep-core] [--levels debug,trace]

Runs otcd through many payment stories and searches everything it wrote or
held in memory for the test PANs and track 2s in every encoding.
  --levels L     log levels to run, comma-separated (default debug,trace)
  --keep-core    do not delete the core images (for a closer look); default: deleted
  --help         this text
Exit: 0 no hit anywhere, 1 hits (listed), 2 a capture could not be taken.`;

/** The stand-in's default track 2 and a few more, with other PANs and lengths. */
const CARDS: TestCard[] = [
  { name: 'T2#0', track2: '9410123456789012=30121011234567890123' },
  { name: 'T2#1', track2: '5412750000000123=28091010000000000456' },
  { name: 'T2#2', track2: '371449635398431=27051010000000000' },
  { name: 'T2#3', track2: '6011000990139424123=2601201123' },
  { name: 'T2#4', track2: '4000056655665556=29121019876543210' },
];

interface Story {
  name: string;
  amount: number;
  authorizationId: string;
  /** Send cancel once this state is seen. */
  cancelOn?: 'inquiring' | 'processing';
  /** kill -9 once this state is seen, then restart; the outcome comes by LAST. */
  killOn?: 'processing';
}

/** Every authorizationId gets a card; SCN- ids also pick the stand-in's scenario. */
function stories(level: string): Story[] {
  const id = (s: string): string => `${s}-${level}`;
  return [
    { name: 'kill -9 while processing, LAST after restart', amount: 14000, authorizationId: id('LEAK-KILL'), killOn: 'processing' },
    { name: 'approved', amount: 12000, authorizationId: id('LEAK-OK') },
    { name: 'approved, another card', amount: 12100, authorizationId: id('LEAK-T2-1') },
    { name: 'approved, track 2 with sentinels', amount: 12200, authorizationId: id('SCN-sentinels') },
    { name: 'declined 51', amount: 12051, authorizationId: id('LEAK-T2-3') },
    { name: 'terminal busy', amount: 12099, authorizationId: id('LEAK-BY') },
    { name: 'terminal timed out upstream', amount: 12044, authorizationId: id('LEAK-TO') },
    { name: 'terminal silent: CNCL, LAST, unknown', amount: 12066, authorizationId: id('LEAK-SILENT') },
    { name: 'window lost twice: re-inquiry, expired', amount: 12077, authorizationId: id('LEAK-REINQ') },
    { name: 'cancel while processing', amount: 13077, authorizationId: id('LEAK-CNCL-P'), cancelOn: 'processing' },
    { name: 'cancel while inquiring', amount: 13000, authorizationId: id('SCN-slow'), cancelOn: 'inquiring' },
    { name: 'provider api-error', amount: 15000, authorizationId: id('SCN-api-error') },
    { name: 'provider http-500', amount: 15000, authorizationId: id('SCN-http-500') },
    { name: 'provider malformed-json', amount: 15000, authorizationId: id('SCN-malformed-json') },
    { name: 'provider wrong-echo', amount: 15000, authorizationId: id('SCN-wrong-echo') },
    { name: 'provider over-long', amount: 15000, authorizationId: id('SCN-over-long') },
    { name: 'provider wrong-key', amount: 15000, authorizationId: id('SCN-wrong-key') },
    { name: 'provider bad-track2', amount: 15000, authorizationId: id('SCN-bad-track2') },
  ];
}

/** Which card the stand-in returns for each story (the rest get T2#0, its default). */
function cardFor(authorizationId: string): TestCard {
  if (authorizationId.startsWith('LEAK-T2-1') || authorizationId.startsWith('LEAK-CNCL-P')) return CARDS[1]!;
  if (authorizationId.startsWith('SCN-sentinels') || authorizationId.startsWith('LEAK-REINQ')) return CARDS[2]!;
  if (authorizationId.startsWith('LEAK-T2-3') || authorizationId.startsWith('LEAK-KILL')) return CARDS[3]!;
  if (authorizationId.startsWith('SCN-bad-track2') || authorizationId.startsWith('SCN-wrong-key')) return CARDS[4]!;
  return CARDS[0]!;
}

class CaptureError extends Error {}

interface Phase {
  level: string;
  simFaults: string[];
}

const PHASES: Phase[] = [
  { level: 'debug', simFaults: ['--noise', '--nak-first', '3'] },
  { level: 'trace', simFaults: ['--drop-mid-frame', '--lrc-errors', '2'] },
];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      levels: { type: 'string', default: 'debug,trace' },
      'keep-core': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const levels = values.levels.split(',');
  const needles = needlesFor(CARDS);
  selfTest(needles);
  const started = Date.now();
  const results = new Map<string, ScanResult>();
  const result = (kind: string): ScanResult => {
    let r = results.get(kind);
    if (!r) results.set(kind, r = new ScanResult());
    return r;
  };
  const controls: string[] = [];

  for (const phase of PHASES.filter((p) => levels.includes(p.level))) {
    console.log(`== log level ${phase.level}; terminal faults ${phase.simFaults.join(' ')}`);
    await runPhase(phase, needles, result, controls, values['keep-core']);
  }

  const took = ((Date.now() - started) / 1000).toFixed(1);
  console.log('');
  const rows = [...results.entries()].map(([kind, r]) => [kind, String(r.bytes), String(r.count)]);
  printTable(['capture', 'bytes scanned', 'hits'], rows);
  console.log(`\nneedles: ${CARDS.length} test cards x (PAN, track 2, track 2 with D) x ${needles.length / CARDS.length / 3} encodings = ${needles.length}`);
  console.log(`controls (non-secret strings that must be found, proving the capture holds what the daemon held):\n  ${controls.join('\n  ')}`);
  console.log(`time ${took} s`);
  const total = [...results.values()].reduce((s, r) => s + r.count, 0);
  if (total === 0) {
    console.log('\nno card data anywhere');
    return 0;
  }
  console.log(`\n${total} HIT(S):`);
  for (const [kind, r] of results) {
    for (const h of r.hits) console.log(`  ${kind} | ${h.where} @${h.offset} | ${h.needle.label}\n      ${h.context}`);
  }
  return 1;
}

async function runPhase(phase: Phase, needles: Needle[], result: (kind: string) => ScanResult, controls: string[], keepCore: boolean): Promise<void> {
  const level = phase.level;
  const trackFor = stories(level).map((s) => `${s.authorizationId}=${cardFor(s.authorizationId).track2}`);
  const bootLog: string[] = [];
  const stack = await startStack({
    logLevel: level,
    simArgs: ['--prog-sent-delay', '150', '--result-delay', '150', '--slow-ms', '20000', ...phase.simFaults],
    standinArgs: ['--slow-ms', '1500', ...trackFor.flatMap((t) => ['--track2-for', t])],
    config: {
      payment: ['window_s = 6', 'send_margin_s = 2', 'cancel_margin_s = 1', 'max_inquiries = 2', 'payment_limit_s = 30', 'result_timeout_s = 2'],
      terminal: ['reconnect_initial_ms = 100', 'reconnect_max_ms = 500'],
      provider: ['retries = 1'],
    },
    onDaemonLog: (line) => bootLog.push(line),
  });
  const diag = await mkdtemp(join(tmpdir(), 'otcd-leak-'));
  const daemons: CapturedDaemon[] = [];
  const clients: IntentClient[] = [];
  try {
    // stack.ts starts a plain daemon; this one needs node flags. The first one ran no payment.
    await stack.daemon.stop();
    const start = async (): Promise<CapturedDaemon> => {
      const d = startCapturedDaemon(stack.configPath, diag);
      daemons.push(d);
      stack.daemon = d;
      await waitForSocket(stack.socketPath, d);
      return d;
    };
    let daemon = await start();
    let client = await stack.connect();
    clients.push(client);
    await waitForLink(client);
    const outcomes: string[] = [];
    for (const story of stories(level)) {
      const intentId = `leak-${level}-${story.authorizationId}`;
      const reply = await client.request({ op: 'pay', intentId, authorizationId: story.authorizationId, amount: story.amount, installment: 0 });
      if (reply.type !== 'reply') throw new CaptureError(`${story.name}: pay refused ${JSON.stringify(reply)}`);
      if (story.cancelOn) {
        await client.next((m) => m.type === 'event' && m.intentId === intentId && m.state === story.cancelOn, 30_000);
        await client.request({ op: 'cancel', intentId });
      }
      let final: DaemonMessage;
      if (story.killOn) {
        await client.next((m) => m.type === 'event' && m.intentId === intentId && m.state === story.killOn, 30_000);
        await daemon.kill();
        daemon = await start();
        client = await stack.connect();
        clients.push(client);
        const got = await client.request({ op: 'get', intentId, follow: true });
        const state = (got.intent as { state: string }).state;
        final = ['approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown'].includes(state)
          ? { type: 'event', ...(got.intent as Record<string, unknown>) }
          : await client.finalEvent(intentId, 60_000);
      } else {
        final = await client.finalEvent(intentId, 60_000);
      }
      outcomes.push(`${story.name}: ${String(final.state)}${final.code ? ` ${String(final.code)}` : ''}`);
      await waitForIdle(client);
    }
    console.log(`  ${outcomes.join('\n  ')}`);
    // Let the key pool refill and timers settle: this is the daemon at rest after payments.
    await new Promise((r) => setTimeout(r, 1500));
    const pid = daemon.process.pid;
    if (pid === undefined) throw new CaptureError('no daemon pid');

    // 1. core image (first: the heap snapshot runs a GC that could move things around)
    const corePrefix = join(diag, 'core');
    try {
      await execFileAsync('gcore', ['-o', corePrefix, String(pid)], { maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      throw new CaptureError(`gcore failed: ${(err as Error).message}`);
    }
    const corePath = `${corePrefix}.${pid}`;
    await scanFile(corePath, `core.${pid} (${level})`, needles, result('core image of the daemon'));
    controls.push(`core (${level}): ${await controlHits(corePath, `leak-${level}-LEAK-OK-${level}`)} copies of an intentId`);
    if (keepCore) console.log(`  core kept: ${corePath}`);
    else await rm(corePath, { force: true });

    // 2. V8 heap snapshot
    process.kill(pid, 'SIGUSR2');
    const snapshot = await waitForSnapshot(diag);
    await scanFile(snapshot, `heap snapshot (${level})`, needles, result('V8 heap snapshot'));
    controls.push(`heap snapshot (${level}): ${await controlHits(snapshot, `leak-${level}-LEAK-OK-${level}`)} copies of an intentId`);
    await rm(snapshot, { force: true });

    // 3. graceful stop, then what it wrote
    for (const c of clients) c.close();
    await daemon.stop();
    for (const c of clients) {
      scanBuffer(Buffer.from(c.received.map((m) => JSON.stringify(m)).join('\n'), 'utf8'), `socket (${level})`, needles, result('socket replies and events'));
    }
    const messages = clients.reduce((n, c) => n + c.received.length, 0);
    controls.push(`socket (${level}): ${messages} messages received`);
    scanBuffer(Buffer.from(bootLog.join('\n'), 'utf8'), `first daemon log (${level})`, needles, result(`daemon stdout/stderr, log level ${level}`));
    for (const d of daemons) {
      scanBuffer(Buffer.concat(d.stdout), `stdout pid ${d.process.pid} (${level})`, needles, result(`daemon stdout/stderr, log level ${level}`));
      scanBuffer(Buffer.concat(d.stderr), `stderr pid ${d.process.pid} (${level})`, needles, result(`daemon stdout/stderr, log level ${level}`));
    }
    const logLines = daemons.reduce((n, d) => n + d.log.length, 0);
    controls.push(`daemon log (${level}): ${logLines} lines`);
    for (const file of await filesUnder(stack.stateDir)) {
      const kind = file.endsWith('ledger.jsonl') ? 'ledger' : 'state directory (other files)';
      await scanFile(file, `${relative(stack.stateDir, file)} (${level})`, needles, result(kind));
    }
    result('state directory (other files)');
  } finally {
    for (const c of clients) c.close();
    for (const d of daemons) await d.kill();
    await stack.stop();
    if (!keepCore) await rm(diag, { recursive: true, force: true });
  }
}

/** The daemon takes the next pay only when the previous one is done (recovery included). */
async function waitForIdle(client: IntentClient): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const health = (await client.request({ op: 'health' })).health as { payment?: unknown; terminal: { link: string } };
    if (health.payment === undefined && health.terminal.link === 'up') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CaptureError('the daemon stayed busy for 30 s');
}

async function waitForLink(client: IntentClient): Promise<void> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const reply = await client.request({ op: 'health' });
    if ((reply.health as { terminal: { link: string } }).terminal.link === 'up') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new CaptureError('terminal link did not come up');
}

/** Waits for the .heapsnapshot file to appear and stop growing. */
async function waitForSnapshot(dir: string): Promise<string> {
  const until = Date.now() + 60_000;
  let lastSize = -1;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    const name = (await readdir(dir)).find((f) => f.endsWith('.heapsnapshot'));
    if (!name) continue;
    const size = (await stat(join(dir, name))).size;
    if (size > 0 && size === lastSize) return join(dir, name);
    lastSize = size;
  }
  throw new CaptureError('no heap snapshot within 60 s of SIGUSR2');
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

async function controlHits(path: string, text: string): Promise<number> {
  const r = new ScanResult();
  const control: Needle = { label: 'control', secret: 'control', encoding: 'ascii', bytes: Buffer.from(text, 'latin1') };
  await scanFile(path, 'control', [control], r);
  return r.count;
}

/** The needles must find the encodings as Node itself produces them, at any alignment. */
function selfTest(needles: Needle[]): void {
  for (const card of CARDS) {
    for (const text of [panOf(card.track2), card.track2]) {
      const forms: Array<[string, Buffer]> = [
        ['ascii', Buffer.from(`x${text}y`, 'latin1')],
        ['hex', Buffer.from(Buffer.from(`${text}`).toString('hex'))],
        ['HEX', Buffer.from(Buffer.from(`${text}`).toString('hex').toUpperCase())],
        ['utf16le', Buffer.from(`ab${text}`, 'utf16le')],
        ['utf16be', Buffer.from(`ab${text}`, 'utf16le').swap16()],
      ];
      for (let k = 0; k < 3; k++) forms.push([`base64 at ${k}`, Buffer.from(Buffer.from('\x01\x02\x03'.slice(0, k) + text + 'tail', 'latin1').toString('base64'))]);
      for (const [form, bytes] of forms) {
        const r = new ScanResult();
        scanBuffer(bytes, 'self-test', needles, r);
        if (r.count === 0) throw new Error(`self-test: ${card.name} ${form} not found by the needles`);
      }
    }
  }
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  console.error(`leak-hunt: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = err instanceof CaptureError ? 2 : 1;
});
