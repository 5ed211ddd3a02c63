import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, test } from '@jest/globals';
import { standinScriptPath } from '../../scripts/testkit/provider-standin.js';

describe('provider-standin as a program', () => {
  test('--help prints usage and exits 0', () => {
    const r = spawnSync(process.execPath, [standinScriptPath(), '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--scenario NAME');
    expect(r.stdout).toContain('bad-track2');
  });

  test('an unknown scenario is refused', () => {
    const r = spawnSync(process.execPath, [standinScriptPath(), '--scenario', 'nope'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown scenario 'nope'");
  });

  test('writes a self-signed localhost certificate to --cert-dir, prints ready, exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'standin-cert-'));
    const child = spawn(process.execPath, [standinScriptPath(), '--port', '0', '--cert-dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ready = await new Promise<{ ev: string; port: number; caFile: string; baseUrl: string }>((resolve) => {
      createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line)));
    });
    expect(ready).toEqual({ ev: 'ready', port: expect.any(Number), caFile: join(dir, 'cert.pem'), baseUrl: `https://127.0.0.1:${ready.port}` });
    const cert = new X509Certificate(readFileSync(ready.caFile));
    expect(cert.subject).toBe('CN=localhost');
    expect(cert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(statSync(join(dir, 'key.pem')).mode & 0o777).toBe(0o600);
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });
});
