/**
 * A client certificate and key for mutual TLS are checked when the client is
 * built (before READY), not at the first inquiry: a key that does not belong
 * to the certificate, or a file that does not parse, is a PROVIDER_CONFIG
 * error that names no key material.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtcClient } from '../../daemon/provider/otc-client.js';
import { makeSelfSignedCertificate } from '../../scripts/provider-standin/x509.js';

let dir: string;
const files = { cert: '', key: '', otherKey: '', garbage: '' };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otcd-client-pair-'));
  const pair = makeSelfSignedCertificate({ commonName: 'kiosk-0001', dnsNames: [], ipAddresses: [] });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  for (const [name, text] of Object.entries({ cert: pair.certPem, key: pair.keyPem, otherKey: other, garbage: 'not a pem\n' })) {
    const path = join(dir, `${name}.pem`);
    await writeFile(path, text);
    files[name as keyof typeof files] = path;
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const client = (cert: string, key: string): OtcClient => new OtcClient({ baseUrl: 'https://127.0.0.1:9', clientCertFile: cert, clientKeyFile: key });

describe('client certificate and key', () => {
  test('a matching pair is taken', () => {
    expect(() => client(files.cert, files.key)).not.toThrow();
  });

  test('a key of another certificate is PROVIDER_CONFIG', () => {
    expect(() => client(files.cert, files.otherKey)).toThrow(expect.objectContaining({ code: 'PROVIDER_CONFIG', message: expect.stringMatching(/does not belong/) }));
  });

  test('a file that does not parse is PROVIDER_CONFIG, and the message holds no PEM', () => {
    for (const [cert, key] of [[files.garbage, files.key], [files.cert, files.garbage]]) {
      let caught: unknown;
      try {
        client(cert, key);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: 'PROVIDER_CONFIG' });
      expect((caught as Error).message).not.toMatch(/BEGIN|PRIVATE/);
    }
  });
});
