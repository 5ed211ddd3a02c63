/**
 * Memory per payment, one component at a time, in one Node process.
 *
 *   npm run build && node --expose-gc dist/scripts/diag/memory.js MODE [N] [EVERY]
 *
 * MODE: keys     KeyPool.take() + decryptTrack2 (a local publicEncrypt) + destroy
 *       inquire  OtcClient.inquire() against the provider stand-in (one fixed key)
 *       both     what a payment does: take, inquire, decrypt, destroy
 *       keygen   bare crypto.generateKeyPair (pkcs8 DER), nothing else
 *       nodersa  node-rsa import of a fixed key N times (no generation)
 * Prints, every EVERY iterations after global.gc(): VmRSS, VmHWM, and
 * process.memoryUsage() (heapUsed, external, arrayBuffers), in KiB.
 */
import { constants, generateKeyPair, publicEncrypt, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import NodeRSA from 'node-rsa';
import { KeyPool } from '../../daemon/provider/key-pool.js';
import { RsaOtcKeyPair } from '../../daemon/provider/key-pair.js';
import { OtcClient } from '../../daemon/provider/otc-client.js';
import { startProviderStandin, type RunningStandin } from '../testkit/provider-standin.js';

const TRACK2 = Buffer.from('9410123456789012=30121010000000000000');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function status(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? NaN);
}

const kib = (b: number): number => Math.round(b / 1024);
/** Committed size of V8's spaces that matter here: new (young), old, code, large objects. */
function spaces(): string {
  const short: Record<string, string> = { new_space: 'new', old_space: 'old', code_space: 'code', large_object_space: 'lo' };
  return getHeapSpaceStatistics().filter((s) => short[s.space_name] !== undefined)
    .map((s) => `${short[s.space_name]}=${kib(s.space_size)}/${kib(s.space_used_size)}`).join(' ');
}
let first: { rss: number; heapUsed: number; external: number } | undefined;
function report(i: number): void {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  const rss = status('VmRSS');
  first ??= { rss, heapUsed: kib(m.heapUsed), external: kib(m.external) };
  const per = (now: number, then: number): string => (i === 0 ? '' : ((now - then) / i).toFixed(1));
  console.log([String(i).padStart(5), `rss=${rss}`, `hwm=${status('VmHWM')}`, `heapTotal=${kib(m.heapTotal)}`, `heapUsed=${kib(m.heapUsed)}`,
    `external=${kib(m.external)}`, `arrayBuffers=${kib(m.arrayBuffers)}`, spaces(),
    `| per-iter KiB: rss ${per(rss, first.rss)} heap ${per(kib(m.heapUsed), first.heapUsed)} ext ${per(kib(m.external), first.external)}`].join(' '));
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'both';
  const n = Number(process.argv[3] ?? 500);
  const every = Number(process.argv[4] ?? 100);
  let standin: RunningStandin | undefined;
  let client: OtcClient | undefined;
  if (mode === 'inquire' || mode === 'both') {
    standin = await startProviderStandin({ args: ['--track2', TRACK2.toString()] });
    client = new OtcClient({ baseUrl: standin.baseUrl, caFile: standin.caFile });
    await client.prepare();
  }
  const pool = new KeyPool({ size: 2 });
  const fixed = mode === 'inquire' || mode === 'nodersa' ? await RsaOtcKeyPair.generate() : undefined;
  const fixedDer = mode === 'nodersa'
    ? (await promisify(generateKeyPair)('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } })).privateKey
    : undefined;
  // Warm-up: modules, JIT, the first TLS handshake, the first pool fill.
  if (mode === 'keys' || mode === 'both') { const k = await pool.take(); k.destroy(); }
  if (client && fixed) await client.inquire('WARMUP', fixed.publicKeyBase64);
  report(0);
  for (let i = 1; i <= n; i++) {
    if (mode === 'keygen') {
      await promisify(generateKeyPair)('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } });
    } else if (mode === 'nodersa') {
      const rsa = new NodeRSA();
      rsa.setOptions({ encryptionScheme: 'pkcs1' });
      rsa.importKey(Buffer.from(fixedDer as Buffer), 'pkcs8-private-der');
    } else if (mode === 'keys') {
      const key = await pool.take();
      const enc = publicEncrypt({ key: createPublicKey({ key: Buffer.from(key.publicKeyBase64, 'base64'), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_PADDING }, TRACK2).toString('base64');
      key.decryptTrack2(enc).fill(0);
      key.destroy();
    } else if (mode === 'inquire') {
      const answer = await (client as OtcClient).inquire(`DIAG-${i}`, (fixed as RsaOtcKeyPair).publicKeyBase64);
      void answer;
    } else if (mode === 'both') {
      const key = await pool.take();
      const answer = await (client as OtcClient).inquire(`DIAG-${i}`, key.publicKeyBase64);
      key.decryptTrack2(answer.encOtc).fill(0);
      key.destroy();
    } else throw new Error(`unknown mode ${mode}`);
    if (i % every === 0) report(i);
  }
  pool.stop();
  await standin?.stop();
}

await main();
