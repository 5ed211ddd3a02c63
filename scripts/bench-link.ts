/**
 * ecr1 link latency: AUTH frame written -> ACK received, over a socat pty
 * pair at 115200 baud, 100 exchanges. The far end is a plain SerialPort that
 * answers ACK as soon as it has read a whole frame.
 *
 *   npm run build && node dist/scripts/bench-link.js [count]
 *
 * A pty moves bytes at memory speed whatever the baud rate, so the figures
 * are the software cost (driver + kernel + peer); the wire time printed
 * beside them is what a real 115200-baud line adds.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SerialPort } from 'serialport';
import { Link } from '../drivers/ecr1/link.js';
import { ecr1Dialect } from '../drivers/ecr1/messages.js';
import { SerialTransport, BITS_PER_BYTE } from '../drivers/transport/serial.js';
import { wakeOnPollerEvents } from '../drivers/transport/poller-wakeup.js';

const BAUD = 115200;
const COUNT = Number(process.argv[2] ?? 100);
const ETX = 0x03;
const ACK = 0x06;
const TRACK2 = '9410123456789012=30121011234567890123';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'otcd-bench-'));
  const a = path.join(dir, 'ttyA');
  const b = path.join(dir, 'ttyB');
  const socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  try {
    for (let i = 0; !(existsSync(a) && existsSync(b)); i++) {
      if (i > 500) throw new Error('socat did not create the ptys');
      await new Promise((r) => setTimeout(r, 10));
    }
    const peer = new SerialPort({ path: b, baudRate: BAUD, autoOpen: false });
    await new Promise<void>((resolve, reject) => peer.open((err) => (err ? reject(err) : resolve())));
    wakeOnPollerEvents(peer);
    // ACK every frame: the byte after ETX is the LRC, then answer.
    let afterEtx = false;
    peer.on('data', (chunk: Buffer) => {
      for (const byte of chunk) {
        if (afterEtx) {
          afterEtx = false;
          peer.write(Buffer.from([ACK]));
        } else if (byte === ETX) {
          afterEtx = true;
        }
      }
    });

    const transport = await SerialTransport.open(a, { baudRate: BAUD });
    const link = new Link();
    link.attach(transport);
    const samples: number[] = [];
    let frameBytes = 0;
    for (let i = 0; i < COUNT + 5; i++) {
      const track2 = Buffer.from(TRACK2, 'latin1');
      const started = performance.now();
      await link.send(
        (seq) => {
          const body = ecr1Dialect.encode({ cmd: 'AUTH', ref: `bench-${i}`, amount: 12000, installment: 0, track2 }, seq);
          frameBytes = body.length + 3;
          return body;
        },
        { label: 'AUTH' },
      );
      const took = performance.now() - started;
      track2.fill(0);
      if (i >= 5) samples.push(took); // first few warm up the JIT
    }
    samples.sort((x, y) => x - y);
    const wireMs = ((frameBytes + 1) * BITS_PER_BYTE * 1000) / BAUD;
    console.log(`ecr1 AUTH frame -> ACK over a pty at ${BAUD} baud, ${COUNT} exchanges (frame ${frameBytes} bytes + 1 ACK byte)`);
    console.log(`  median ${percentile(samples, 50).toFixed(3)} ms   p99 ${percentile(samples, 99).toFixed(3)} ms   max ${samples[samples.length - 1].toFixed(3)} ms`);
    console.log(`  wire time of those bytes at ${BAUD} baud: ${wireMs.toFixed(3)} ms (${(frameBytes + 1) * BITS_PER_BYTE} bits / ${BAUD})`);
    console.log(`  counters ${JSON.stringify(link.counters())}`);
    link.close();
    await transport.close();
    await new Promise<void>((resolve) => peer.close(() => resolve()));
  } finally {
    socat.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
