/**
 * The metrics file as a fleet collects it: the real otcd (with the provider
 * stand-in and the terminal simulator) writes it into a textfile directory,
 * and Debian's real prometheus-node-exporter, running as its own user
 * `prometheus` and listening on loopback, reads it and serves it. The scrape
 * must parse (node_textfile_scrape_error 0) and its counts must match the
 * payments made. The daemon runs under umask 0077, as the unit sets it, so
 * the file's mode is tested too: node_exporter could not read a 0600 file.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IntentClient } from '../../daemon/client/intent-client.js';
import { startStack, type Stack, waitForTerminalLink } from '../../scripts/testkit/stack.js';

const EXPORTER = '/usr/bin/prometheus-node-exporter';
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Scraped {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of an exposition text (comments skipped); a line that does not parse fails the test. */
function parseExposition(text: string): Scraped[] {
  const out: Scraped[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function valueOf(samples: Scraped[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** uid and gid of a system user, from /etc/passwd (the exporter's package creates `prometheus`). */
function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}: install prometheus-node-exporter (apt-get install prometheus-node-exporter)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

let seq = 0;
const intentId = (label: string): string => `metrics-${label}-${process.pid}-${++seq}`;

describe('metrics through the real prometheus-node-exporter', () => {
  let textDir: string;
  let stack: Stack;
  let client: IntentClient;
  let exporter: ChildProcess;
  let exporterLog = '';
  let url: string;
  const ids: string[] = [];

  beforeAll(async () => {
    textDir = await mkdtemp(join(tmpdir(), 'otcd-textfile-'));
    await chmod(textDir, 0o755); // the exporter's user must read it, as it reads /var/lib/prometheus/node-exporter
    const umask = process.umask(0o077);
    try {
      stack = await startStack({
        config: { metrics: [`textfile = ${JSON.stringify(join(textDir, 'otcd.prom'))}`] },
        simArgs: ['--prog-sent-delay', '50', '--result-delay', '50'],
      });
    } finally {
      process.umask(umask);
    }
    client = await stack.connect();
    await waitForTerminalLink(client);

    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    exporter = spawn(EXPORTER, [
      '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${textDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'], ...userIds('prometheus') });
    exporter.stderr?.on('data', (d: Buffer) => { exporterLog += d.toString(); });
    const until = Date.now() + 20_000;
    for (;;) {
      if (exporter.exitCode !== null) throw new Error(`${EXPORTER} exited ${exporter.exitCode}:\n${exporterLog}`);
      if (await httpGet(url).then((r) => r.status === 200, () => false)) break;
      if (Date.now() > until) throw new Error(`${EXPORTER} did not answer on ${url} within 20 s:\n${exporterLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (exporter && exporter.exitCode === null) {
      const gone = new Promise((r) => exporter.once('exit', r));
      exporter.kill('SIGTERM');
      await gone;
    }
    client?.close();
    await stack?.stop();
    if (textDir) await rm(textDir, { recursive: true, force: true });
  });

  async function pay(label: string, amount: number, authorizationId = 'AUTH-METRICS-0001'): Promise<Record<string, unknown>> {
    const id = intentId(label);
    ids.push(id);
    const reply = await client.request({ op: 'pay', intentId: id, authorizationId, amount, installment: 0 });
    expect(reply.type).toBe('reply');
    return client.finalEvent(id, 60_000);
  }

  async function scrapeUntil(done: (s: Scraped[]) => boolean): Promise<{ text: string; samples: Scraped[] }> {
    const until = Date.now() + 15_000;
    for (;;) {
      const { status, body } = await httpGet(url);
      expect(status).toBe(200);
      const samples = parseExposition(body);
      if (done(samples) || Date.now() > until) return { text: body, samples };
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('before any payment: parsed, no scrape error, build info, link up, zero payments', async () => {
    const { samples } = await scrapeUntil((s) => valueOf(s, 'otcd_terminal_link', { state: 'up' }) === 1);
    expect(valueOf(samples, 'node_textfile_scrape_error')).toBe(0);
    expect(valueOf(samples, 'otcd_build_info', { version: VERSION })).toBe(1);
    expect(samples.find((s) => s.name === 'otcd_build_info')?.labels.node).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(valueOf(samples, 'otcd_terminal_link', { state: 'up' })).toBe(1);
    expect(valueOf(samples, 'otcd_terminal_link', { state: 'down' })).toBe(0);
    expect(samples.filter((s) => s.name === 'otcd_payments_total')).toEqual([]);
  });

  test('after five payments the counts match them, and the inquiry histogram matches the provider\'s inquiries', async () => {
    expect(await pay('approve', 12000)).toMatchObject({ state: 'approved' });
    expect(await pay('decline', 12051)).toMatchObject({ state: 'declined', code: '51' });
    expect(await pay('busy', 12099)).toMatchObject({ state: 'failed', code: 'TERMINAL_BUSY' });
    expect(await pay('api-error', 15000, 'SCN-api-error-1')).toMatchObject({ state: 'failed', code: 'API_ERROR' });
    expect(await pay('to', 12044)).toMatchObject({ state: 'unknown', code: 'TERMINAL_TIMEOUT' });
    const inquiries = await stack.standin.fetchInquiries();

    const total = (s: Scraped[]): number => s.filter((x) => x.name === 'otcd_payments_total').reduce((a, x) => a + x.value, 0);
    const inquiryCount = (s: Scraped[]): number => (valueOf(s, 'otcd_provider_inquiry_duration_seconds_count', { result: 'ok' }) ?? 0)
      + (valueOf(s, 'otcd_provider_inquiry_duration_seconds_count', { result: 'error' }) ?? 0);
    const { text, samples } = await scrapeUntil((s) => total(s) === 5 && inquiryCount(s) === inquiries.length);

    expect(valueOf(samples, 'node_textfile_scrape_error')).toBe(0);
    expect(samples.filter((s) => s.name === 'otcd_payments_total').map((s) => [s.labels.state, s.labels.code ?? '', s.value]).sort())
      .toEqual([['approved', '', 1], ['declined', '51', 1], ['failed', 'API_ERROR', 1], ['failed', 'TERMINAL_BUSY', 1], ['unknown', 'TERMINAL_TIMEOUT', 1]]);
    expect(inquiryCount(samples)).toBe(inquiries.length);
    expect(valueOf(samples, 'otcd_provider_inquiry_duration_seconds_count', { result: 'error' })).toBe(1);
    expect(valueOf(samples, 'otcd_provider_inquiry_duration_seconds_bucket', { result: 'ok', le: '+Inf' })).toBe(inquiries.length - 1);
    expect(valueOf(samples, 'otcd_provider_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(valueOf(samples, 'otcd_provider_last_error_timestamp_seconds', { code: 'API_ERROR' })).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(valueOf(samples, 'otcd_terminal_frames_sent_total')).toBeGreaterThan(0);
    // The pool refills after the last payment, unannounced: the write after the final one shows it full.
    const refilled = await scrapeUntil((s) => valueOf(s, 'otcd_keys_ready') === 2);
    expect(valueOf(refilled.samples, 'otcd_keys_ready')).toBe(2);
    // The TO payment is unknown and stays unresolved (the simulator keeps saying TO), as health says too.
    const health = (await client.request({ op: 'health' })).health as { unresolved: { count: number; oldest?: { intentId: string; at: string } } };
    expect(health.unresolved.count).toBe(1);
    expect(valueOf(samples, 'otcd_payments_unresolved')).toBe(1);
    expect(valueOf(samples, 'otcd_payments_unresolved_oldest_timestamp_seconds')).toBe(Date.parse(health.unresolved.oldest?.at ?? '') / 1000);
    expect(valueOf(samples, 'otcd_voids_unresolved')).toBe(0);

    for (const id of ids) expect(text).not.toContain(id);
    expect(text).not.toContain('AUTH-METRICS');
    expect(text).not.toContain('9410123456789012');
    expect(await readdir(textDir)).toEqual(['otcd.prom']);
    const excerpt = text.split('\n').filter((l) => /^(otcd_payments|otcd_voids|otcd_terminal_link|otcd_keys|otcd_build|otcd_provider_inquiry_duration_seconds_count|node_textfile_scrape_error)/.test(l));
    process.stdout.write(`prometheus-node-exporter scrape after five payments (excerpt):\n${excerpt.join('\n')}\n`);
  });

  test('the terminal gone: the scrape says the link is down, as soon as otcd sees it', async () => {
    await stack.sim?.stop();
    const { samples } = await scrapeUntil((s) => valueOf(s, 'otcd_terminal_link', { state: 'down' }) === 1);
    expect(valueOf(samples, 'node_textfile_scrape_error')).toBe(0);
    expect(samples.filter((s) => s.name === 'otcd_terminal_link').map((s) => [s.labels.state, s.value]).sort())
      .toEqual([['down', 1], ['not_answering', 0], ['up', 0]]);
  });
});
