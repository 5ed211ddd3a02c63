/**
 * The checks a start makes beyond the file (config/host-checks.ts), against
 * real files, modes, groups and directories: in this process (root) for what
 * does not depend on who looks, and as user `nobody` where permissions
 * matter, through check-config's own switch to the service user (setpriv, as
 * root's `otcd check-config` does for user otcd). Then the daemon itself:
 * the same problems make it exit 78 with lines at priority err (<3>).
 *
 * Needs root (chown, setpriv, a read-only tmpfs) and `npm run build` (the
 * child runs dist/daemon/otcd.js).
 */
import { spawn } from 'node:child_process';
import { forNobody, removeCopiesForNobody } from '../../scripts/testkit/for-nobody.js';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { runCheckConfig } from '../../config/check.js';
import { checkHost } from '../../config/host-checks.js';
import { loadConfigFiles } from '../../config/load.js';
import { lookupUser } from '../../config/service-user.js';
import { makeSelfSignedCertificate } from '../../scripts/provider-standin/x509.js';

// nobody runs its own copy: the checkout may be closed to other users (scripts/testkit/for-nobody.ts).
const OTCD = forNobody(new URL('../../dist/daemon/main.js', import.meta.url).pathname);
const NOBODY = lookupUser('nobody');
const ROOT_DIR = mkdtempSync(join(tmpdir(), 'otcd-host-checks-'));
// mkdtemp makes 0700: nobody must be able to reach what it is meant to read
chmodSync(ROOT_DIR, 0o755);
let n = 0;

const f = {
  ca: '', caBundle: '', caDer: '', caBroken: '', garbage: '', cert: '', key: '', otherKey: '', lockedKey: '',
  rootOnlyCa: '', rootOnlyKey: '', rootOnlyDropInMain: '', rootDir: '', nobodyDir: '', aFile: '', readOnlyDir: '',
};
let readOnlyMounted = false;

function write(name: string, data: string | Buffer, mode = 0o644): string {
  const path = join(ROOT_DIR, name);
  writeFileSync(path, data, { mode });
  chmodSync(path, mode);
  return path;
}

beforeAll(async () => {
  const a = makeSelfSignedCertificate({ commonName: 'provider-ca', dnsNames: [], ipAddresses: [] });
  const b = makeSelfSignedCertificate({ commonName: 'provider-ca-2', dnsNames: [], ipAddresses: [] });
  const client = makeSelfSignedCertificate({ commonName: 'kiosk-0001', dnsNames: [], ipAddresses: [] });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  f.ca = write('ca.pem', a.certPem);
  f.caBundle = write('ca-bundle.pem', `${a.certPem}\n${b.certPem}`);
  f.caDer = write('ca.der', Buffer.from(a.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  f.caBroken = write('ca-broken.pem', '-----BEGIN CERTIFICATE-----\nMIIBroken\n-----END CERTIFICATE-----\n');
  f.garbage = write('garbage.pem', 'not a pem\n');
  f.cert = write('client.crt', client.certPem);
  f.key = write('client.key', client.keyPem, 0o640);
  f.otherKey = write('other.key', other.export({ type: 'pkcs8', format: 'pem' }) as string, 0o640);
  f.lockedKey = write('locked.key', other.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string, 0o640);
  f.rootOnlyCa = write('root-only-ca.pem', a.certPem, 0o600);
  f.rootOnlyKey = write('root-only.key', client.keyPem, 0o600);
  f.aFile = write('a-file', 'x');
  f.rootDir = join(ROOT_DIR, 'root-owned');
  mkdirSync(f.rootDir, { mode: 0o755 });
  f.nobodyDir = join(ROOT_DIR, 'nobody-owned');
  mkdirSync(f.nobodyDir, { mode: 0o750 });
  chownSync(f.nobodyDir, NOBODY!.uid, NOBODY!.gid);
  f.readOnlyDir = join(ROOT_DIR, 'read-only');
  mkdirSync(f.readOnlyDir);
  readOnlyMounted = await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k,mode=0777', 'tmpfs', f.readOnlyDir]).then((r) => r.code === 0);
});

afterAll(async () => {
  if (readOnlyMounted) await run('umount', [f.readOnlyDir]);
  rmSync(ROOT_DIR, { recursive: true, force: true });
  removeCopiesForNobody();
});

/** A configuration that passes every host check, plus `extra` lines per section; returns its path. */
function config(extra: { daemon?: string[]; socket?: string[]; provider?: string[] } = {}): string {
  const home = join(ROOT_DIR, `config-${++n}`);
  mkdirSync(home, { mode: 0o755 });
  const file = join(home, 'otcd.toml');
  writeFileSync(file, [
    '[daemon]', ...(extra.daemon ?? [`state_dir = "${join(f.nobodyDir, `state-${n}`)}"`]),
    '[socket]', ...(extra.socket ?? ['group = ""']),
    '[provider]', 'base_url = "https://api.provider.example"', ...(extra.provider ?? []),
  ].join('\n'), { mode: 0o644 });
  return file;
}

async function problemsOf(file: string, groupFile?: string): Promise<string[]> {
  const loaded = loadConfigFiles(file, {});
  return (await checkHost(loaded.config, { sources: loaded.sources, groupFile })).problems;
}

/** `otcd check-config FILE` as root's would run it, with `nobody` standing for the service user. */
async function checkAsNobody(file: string): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runCheckConfig(file, (l) => lines.push(l), { env: {}, serviceUser: 'nobody', script: OTCD });
  return { code, lines };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('the files provider.ca_file, client_cert_file and client_key_file name', () => {
  test('a PEM CA (one certificate or a bundle) and a matching client pair pass', async () => {
    expect(await problemsOf(config({ provider: [`ca_file = "${f.ca}"`, `client_cert_file = "${f.cert}"`, `client_key_file = "${f.key}"`] }))).toEqual([]);
    expect(await problemsOf(config({ provider: [`ca_file = "${f.caBundle}"`] }))).toEqual([]);
  });

  test('a missing CA file', async () => {
    const file = config({ provider: [`ca_file = "${ROOT_DIR}/nope.pem"`] });
    expect(await problemsOf(file)).toEqual([
      `provider.ca_file = "${ROOT_DIR}/nope.pem" (set in ${file}): no such file; put the PEM file of the CA certificates that sign the provider's certificate there, or correct the path`,
    ]);
  });

  test('a CA file that is not PEM: text, DER, a broken block', async () => {
    const [garbage] = await problemsOf(config({ provider: [`ca_file = "${f.garbage}"`] }));
    expect(garbage).toMatch(/^provider\.ca_file = ".*garbage\.pem" \(set in .*\): is not a PEM certificate \(no -----BEGIN CERTIFICATE----- block\); ask the provider for the certificate in PEM form$/);
    const [der] = await problemsOf(config({ provider: [`ca_file = "${f.caDer}"`] }));
    expect(der).toContain(`is not a PEM certificate (no -----BEGIN CERTIFICATE----- block); it looks like DER: convert it with openssl x509 -inform der -in ${f.caDer} -out ${f.caDer}.pem and use the .pem`);
    const [broken] = await problemsOf(config({ provider: [`ca_file = "${f.caBroken}"`] }));
    expect(broken).toMatch(/: its certificate does not parse \(.+\); replace the file with the CA certificate in PEM form$/);
  });

  test('a client key of another certificate, a key that is not one, a key with a passphrase', async () => {
    const [other] = await problemsOf(config({ provider: [`client_cert_file = "${f.cert}"`, `client_key_file = "${f.otherKey}"`] }));
    expect(other).toMatch(new RegExp(`^provider\\.client_key_file = "${f.otherKey}" \\(set in .*\\): does not belong to provider\\.client_cert_file ${f.cert} \\(subject CN=kiosk-0001\\); give the key that was made with that certificate`));
    const [garbage] = await problemsOf(config({ provider: [`client_cert_file = "${f.cert}"`, `client_key_file = "${f.garbage}"`] }));
    expect(garbage).toMatch(/^provider\.client_key_file = ".*garbage\.pem" .*: is not a PEM private key \(.+\); give the key that belongs to provider\.client_cert_file$/);
    const [locked] = await problemsOf(config({ provider: [`client_cert_file = "${f.cert}"`, `client_key_file = "${f.lockedKey}"`] }));
    expect(locked).toContain('is protected by a passphrase, which otcd cannot be given; store it without one');
    const [notCert] = await problemsOf(config({ provider: [`client_cert_file = "${f.key}"`, `client_key_file = "${f.key}"`] }));
    expect(notCert).toMatch(/^provider\.client_cert_file = .*: is not a PEM certificate/);
  });

  test('no message carries a byte of the key or certificate files', async () => {
    const all = [
      ...await problemsOf(config({ provider: [`client_cert_file = "${f.cert}"`, `client_key_file = "${f.otherKey}"`] })),
      ...await problemsOf(config({ provider: [`client_cert_file = "${f.key}"`, `client_key_file = "${f.lockedKey}"`] })),
    ].join('\n');
    expect(all).toContain('does not belong');
    // base64 of DER (MII...), or any run of it as long as a line of a PEM body
    expect(all).not.toMatch(/MII|[A-Za-z0-9+/=]{40,}/);
  });
});

describe('socket.group and daemon.state_dir', () => {
  test('a group that does not exist', async () => {
    const groups = write(`group-${++n}`, 'root:x:0:\notcd:x:990:\n');
    const file = config({ socket: ['group = "kiosk"'] });
    expect(await problemsOf(file, groups)).toEqual([
      `socket.group = "kiosk" (set in ${file}): no such group in ${groups}; create it (groupadd --system kiosk) and add the kiosk application's user to it, or set socket.group = "otcd"`,
    ]);
    expect(await problemsOf(config({ socket: ['group = "otcd"'] }), groups)).toEqual([]);
    // with the socket from systemd (otcd.socket), socket.group is not used: no reason to refuse
    const loaded = loadConfigFiles(file, {});
    expect((await checkHost(loaded.config, { groupFile: groups, socketActivated: true })).problems).toEqual([]);
  });

  test('a state directory that is a file; one on a read-only file system', async () => {
    const file = config({ daemon: [`state_dir = "${f.aFile}"`] });
    expect(await problemsOf(file)).toEqual([`daemon.state_dir = "${f.aFile}" (set in ${file}): is not a directory; give a directory for the ledger`]);
    expect(readOnlyMounted).toBe(true);
    const ro = config({ daemon: [`state_dir = "${f.readOnlyDir}"`] });
    expect(await problemsOf(ro)).toEqual([
      `daemon.state_dir = "${f.readOnlyDir}" (set in ${ro}): is on a file system that is read-only for otcd; under otcd.service only /var/lib/otcd is writable (ProtectSystem=strict): use "/var/lib/otcd", or allow this one with systemctl edit otcd: [Service] ReadWritePaths=${f.readOnlyDir}`,
    ]);
    const below = `${f.readOnlyDir}/ledger`;
    expect((await problemsOf(config({ daemon: [`state_dir = "${below}"`] })))[0]).toContain(`= "${below}" (set in `);
  });

  test('the unit\'s own /var/lib/otcd may be missing: systemd makes it at start', async () => {
    expect(await problemsOf(config({ daemon: ['state_dir = "/var/lib/otcd"'] }))).toEqual([]);
  });
});

describe('check-config run by root checks as the service user (here: nobody)', () => {
  test('all readable by nobody: valid, and says whom it checked as', async () => {
    const file = config({ provider: [`ca_file = "${f.ca}"`], socket: ['group = "nogroup"'] });
    const { code, lines } = await checkAsNobody(file);
    expect(lines.slice(0, 3)).toEqual([
      `# ${file}: configuration is valid`,
      `# files read, later ones winning: ${file}`,
      `# files, group and state directory checked as user nobody (uid ${NOBODY!.uid})`,
    ]);
    expect(code).toBe(0);
  });

  test('a CA file and a client key only root can read; a group nobody is not in; a state directory it cannot write or create', async () => {
    const file = config({
      daemon: [`state_dir = "${f.rootDir}"`],
      socket: ['group = "root"'],
      provider: [`ca_file = "${f.rootOnlyCa}"`, `client_cert_file = "${f.cert}"`, `client_key_file = "${f.rootOnlyKey}"`],
    });
    const { code, lines } = await checkAsNobody(file);
    expect(lines).toEqual([
      `provider.ca_file = "${f.rootOnlyCa}" (set in ${file}): cannot be read by user nobody, which otcd runs as: permission denied; make it readable: chown root:otcd ${f.rootOnlyCa} && chmod 0640 ${f.rootOnlyCa} (and every directory above it searchable)`,
      `provider.client_key_file = "${f.rootOnlyKey}" (set in ${file}): cannot be read by user nobody, which otcd runs as: permission denied; make it readable: chown root:otcd ${f.rootOnlyKey} && chmod 0640 ${f.rootOnlyKey} (and every directory above it searchable)`,
      `socket.group = "root" (set in ${file}): user nobody, which otcd runs as, is not in group root, so it cannot give its socket that group; add it: usermod -aG root nobody (then restart otcd)`,
      `daemon.state_dir = "${f.rootDir}" (set in ${file}): is not writable by user nobody, which otcd runs as; give it to that user: chown -R otcd:otcd ${f.rootDir} && chmod 0750 ${f.rootDir}`,
      `${file}: otcd would not start (4 problems, checked as user nobody (uid ${NOBODY!.uid})); it would exit with code 78`,
    ]);
    expect(code).toBe(78);
    // root, who may read and write everything, would have seen none of it
    expect(await problemsOf(file)).toEqual([]);
  });

  test('a state directory nobody cannot create', async () => {
    const missing = `${f.rootDir}/state`;
    const file = config({ daemon: [`state_dir = "${missing}"`] });
    const { code, lines } = await checkAsNobody(file);
    expect(lines[0]).toBe(`daemon.state_dir = "${missing}" (set in ${file}): does not exist, and user nobody, which otcd runs as, cannot create it in ${f.rootDir}; create it: mkdir -p ${missing} && chown otcd:otcd ${missing} && chmod 0750 ${missing}`);
    expect(code).toBe(78);
  });

  test('a drop-in only root can read stops the check, naming that file', async () => {
    const file = config();
    mkdirSync(`${file}.d`, { mode: 0o755 });
    const site = join(`${file}.d`, '50-site.toml');
    writeFileSync(site, '[terminal]\naddress = "tcp://127.0.0.1:4001"\n', { mode: 0o600 });
    const { code, lines } = await checkAsNobody(file);
    expect(lines).toEqual([
      `${site}: cannot be read: permission denied (the file must be readable by the otcd user)`,
      `${file}: configuration is not valid (1 problem); otcd would exit with code 78`,
    ]);
    expect(code).toBe(78);
  });
});

describe('the daemon refuses to start with 78 and lines at priority err', () => {
  const startOtcd = (file: string, opts: { asNobody?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; out: string; err: string }> => {
    const argv = [process.execPath, OTCD, '--config', file];
    const env = { OTCD_LOG_FORMAT: 'journal', ...opts.env };
    return opts.asNobody
      ? run('setpriv', ['--reuid', String(NOBODY!.uid), '--regid', String(NOBODY!.gid), '--init-groups', '--', ...argv], env)
      : run(argv[0], argv.slice(1), env);
  };

  test('the placeholder base_url, a missing CA file, a missing group: one line each, naming the key', async () => {
    const file = config({ socket: ['group = "no-such-group-here"'], provider: [`ca_file = "${ROOT_DIR}/nope.pem"`] });
    const r = await startOtcd(file, { env: { OTCD_PROVIDER_BASE_URL: 'https://otc.provider.invalid' } });
    expect(r.code).toBe(78);
    const lines = r.err.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^<3>otcd: provider\.base_url = "https:\/\/otc\.provider\.invalid" \(set in OTCD_PROVIDER_BASE_URL\): not configured: /);
    expect(lines[1]).toMatch(new RegExp(`^<3>otcd: provider\\.ca_file = "${ROOT_DIR}/nope\\.pem" \\(set in ${file}\\): no such file; `));
    expect(lines[2]).toMatch(/^<3>otcd: socket\.group = "no-such-group-here" \(set in .*\): no such group in \/etc\/group; create it/);
    expect(lines[3]).toBe(`<3>otcd: not started: fix the above (check with: otcd check-config ${file})`);
  }, 20_000);

  test('as nobody: a client key it cannot read, a state directory it cannot write', async () => {
    const file = config({
      daemon: [`state_dir = "${f.rootDir}"`],
      provider: [`client_cert_file = "${f.cert}"`, `client_key_file = "${f.rootOnlyKey}"`],
    });
    const r = await startOtcd(file, { asNobody: true });
    expect(r.code).toBe(78);
    expect(r.err).toContain(`<3>otcd: provider.client_key_file = "${f.rootOnlyKey}" (set in ${file}): cannot be read by user nobody, which otcd runs as: permission denied`);
    expect(r.err).toContain(`<3>otcd: daemon.state_dir = "${f.rootDir}" (set in ${file}): is not writable by user nobody, which otcd runs as`);
  }, 20_000);
});
