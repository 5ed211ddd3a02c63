/**
 * bench-rsa: how long the provider side takes on this machine.
 *
 *   npm run build && node dist/scripts/bench-rsa.js [--keygen N] [--decrypt N] [--inquiries N]
 *
 * 1. RSA-2048 key generation with Node's native generator (what KeyPool does).
 * 2. PKCS#1 v1.5 decryption of a 256-byte OTC (RsaOtcKeyPair.decryptTrack2: native raw RSA, our unpadding).
 * 3. One OTC inquiry round trip (new TLS connection, EUC-KR JSON, the
 *    stand-in's publicEncrypt) against the provider stand-in on loopback,
 *    run as its own process, then the decryption of its answer.
 * Prints medians and p99s in ms.
 */
import { spawn } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OtcClient, RsaOtcKeyPair } from '../daemon/provider/index.js';

const { values } = parseArgs({
  options: {
    keygen: { type: 'string', default: '30' },
    decrypt: { type: 'string', default: '50' },
    inquiries: { type: 'string', default: '100' },
  },
});

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function report(name: string, samples: number[]): void {
  const s = [...samples].sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} n=${String(s.length).padStart(3)}  p50 ${quantile(s, 0.5).toFixed(1).padStart(7)} ms  p99 ${quantile(s, 0.99).toFixed(1).padStart(7)} ms  min ${s[0]!.toFixed(1).padStart(7)} ms`);
}

async function timed<T>(fn: () => Promise<T> | T): Promise<[number, T]> {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

async function startStandin(): Promise<{ baseUrl: string; caFile: string; stop: () => void }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'provider-standin.js');
  const child = spawn(process.execPath, [script, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`stand-in exited ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const ev = JSON.parse(line) as { ev: string; baseUrl: string; caFile: string };
      if (ev.ev === 'ready') resolve({ baseUrl: ev.baseUrl, caFile: ev.caFile, stop: () => child.kill('SIGTERM') });
    });
  });
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${process.arch}`);

  const keygen: number[] = [];
  let pair: RsaOtcKeyPair | undefined;
  for (let i = 0; i < Number(values.keygen); i++) {
    const [ms, p] = await timed(() => RsaOtcKeyPair.generate());
    keygen.push(ms);
    pair?.destroy();
    pair = p;
  }
  report('RSA-2048 keygen (native, async)', keygen);

  const key = pair!;
  const spki = createPublicKey({ key: Buffer.from(key.publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
  const decrypt: number[] = [];
  for (let i = 0; i < Number(values.decrypt); i++) {
    const enc = publicEncrypt({ key: spki, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('9410123456789012=30121011234567890123')).toString('base64');
    const [ms, t2] = await timed(() => key.decryptTrack2(enc));
    t2.fill(0);
    decrypt.push(ms);
  }
  report('PKCS#1 v1.5 decrypt + validate', decrypt);

  const standin = await startStandin();
  try {
    const client = new OtcClient({ baseUrl: standin.baseUrl, caFile: standin.caFile });
    await client.inquire(`BENCH-warmup-${process.pid}`, key.publicKeyBase64);
    const roundTrip: number[] = [];
    const withDecrypt: number[] = [];
    for (let i = 0; i < Number(values.inquiries); i++) {
      const [ms, answer] = await timed(() => client.inquire(`BENCH-${process.pid}-${i}`, key.publicKeyBase64));
      roundTrip.push(ms);
      const [dms, t2] = await timed(() => key.decryptTrack2(answer.encOtc));
      t2.fill(0);
      withDecrypt.push(ms + dms);
    }
    report('inquiry round trip on loopback (new TLS conn)', roundTrip);
    report('inquiry + decrypt', withDecrypt);
  } finally {
    standin.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
