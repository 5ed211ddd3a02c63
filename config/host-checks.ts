/**
 * What a start needs from the machine beyond a valid configuration: the
 * files it names exist, can be read by the user otcd runs as, and parse; the
 * socket's group exists and that user may give it; the state directory can
 * be created or written; the provider's address was set at all.
 *
 * One implementation for both callers: `otcd check-config` prints the
 * problems, and the daemon runs the same checks before it builds anything,
 * exiting 78 (EX_CONFIG, which the unit does not restart on) with one line
 * per problem at priority err. Each problem starts with the TOML key and
 * ends with what to do. They run as whoever calls them: the daemon as the
 * service user, check-config as root re-executes itself as that user
 * (service-user.ts), so "readable" means readable by otcd.
 *
 * Nothing read here is ever quoted back: a key file's bytes, a certificate's
 * contents. Messages say what is wrong with a file, never what is in it.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { isOtcdError } from '../drivers/errors.js';
import { ETC_GROUP, resolveGroupId } from './unix-group.js';
import { PLACEHOLDER_BASE_URL, type OtcdConfig } from './schema.js';

/** otcd.service's StateDirectory=otcd: systemd creates it, owned by User=, before each start. */
export const UNIT_STATE_DIR = '/var/lib/otcd';
/** The ledger's file in the state directory (daemon/payments/ledger.ts). */
const LEDGER_FILE = 'ledger.jsonl';
/** Where the shipped documentation tells a site to put its settings. */
export const SITE_DROP_IN = '/etc/otcd/otcd.toml.d/50-site.toml';

export interface HostCheckOptions {
  /** Where each key's value came from (loadConfigFiles), to say which file to fix. */
  sources?: ReadonlyMap<string, string>;
  /** For tests; default /etc/group. */
  groupFile?: string;
  /**
   * The directories otcd.service may write (service-user.ts unitWritablePaths),
   * for a check run outside the unit; undefined inside it or when unknown.
   */
  serviceWritable?: readonly string[];
  /** systemd passed the socket (otcd.socket): socket.group is not used, so not checked. */
  socketActivated?: boolean;
}

export interface HostCheckResult {
  /** Each a whole line: key, value, where set, what is wrong, what to do. */
  problems: string[];
  /** Valid, but probably not what the kiosk wants. */
  warnings: string[];
}

/** Who the checks run as, in words: "user otcd". */
function who(): string {
  try {
    return `user ${userInfo().username}`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

class Checker {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];

  constructor(private readonly opts: HostCheckOptions) {}

  /** `provider.ca_file = "/x" (set in FILE)`: the key, its value, and the file to edit. */
  head(key: string, value: string): string {
    const source = this.opts.sources?.get(key);
    const where = source === undefined ? '' : source === 'default' ? ' (the default)' : ` (set in ${source})`;
    return `${key} = ${JSON.stringify(value)}${where}`;
  }

  problem(key: string, value: string, text: string): void {
    this.problems.push(`${this.head(key, value)}: ${text}`);
  }

  /** The file's bytes, or undefined after reporting why they cannot be had. */
  read(key: string, path: string, what: string): Buffer | undefined {
    try {
      return readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const fix = code === 'ENOENT'
        ? `no such file; put ${what} there, or correct the path`
        : code === 'EACCES'
          ? `cannot be read by ${who()}, which otcd runs as: permission denied; make it readable: chown root:otcd ${path} && chmod 0640 ${path} (and every directory above it searchable)`
          : code === 'EISDIR'
            ? `is a directory; give the path of ${what}`
            : `cannot be read (${code ?? String(err)})`;
      this.problem(key, path, fix);
      return undefined;
    }
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
/** A DER certificate starts with an ASN.1 SEQUENCE. */
const DER_SEQUENCE = 0x30;

/** The PEM certificates in `bytes`, parsed; reports the first that is not one. */
function certificates(c: Checker, key: string, path: string, bytes: Buffer, what: string): X509Certificate[] | undefined {
  const blocks = bytes.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    const hint = bytes[0] === DER_SEQUENCE
      ? `; it looks like DER: convert it with openssl x509 -inform der -in ${path} -out ${path}.pem and use the .pem`
      : '; ask the provider for the certificate in PEM form';
    c.problem(key, path, `is not a PEM certificate (no -----BEGIN CERTIFICATE----- block)${hint}`);
    return undefined;
  }
  const parsed: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      parsed.push(new X509Certificate(block));
    } catch (err) {
      const n = blocks.length === 1 ? 'its certificate' : `certificate ${i + 1} of ${blocks.length}`;
      c.problem(key, path, `${n} does not parse (${(err as Error).message}); replace the file with ${what} in PEM form`);
      return undefined;
    }
  }
  return parsed;
}

function checkCaFile(c: Checker, path: string): void {
  const bytes = c.read('provider.ca_file', path, 'the PEM file of the CA certificates that sign the provider\'s certificate');
  if (bytes !== undefined) certificates(c, 'provider.ca_file', path, bytes, 'the CA certificate');
}

function checkClientPair(c: Checker, certPath: string, keyPath: string): void {
  const certBytes = c.read('provider.client_cert_file', certPath, 'the PEM client certificate the provider issued');
  const keyBytes = c.read('provider.client_key_file', keyPath, 'the PEM private key of the client certificate');
  const cert = certBytes === undefined ? undefined : certificates(c, 'provider.client_cert_file', certPath, certBytes, 'the client certificate')?.[0];
  let key: KeyObject | undefined;
  if (keyBytes !== undefined) {
    try {
      key = createPrivateKey(keyBytes);
    } catch (err) {
      const msg = (err as Error).message;
      const why = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyBytes.toString('latin1'))
        ? 'is protected by a passphrase, which otcd cannot be given; store it without one (openssl pkey -in KEY -out KEY.new), readable only by root and group otcd'
        : `is not a PEM private key (${msg}); give the key that belongs to provider.client_cert_file`;
      c.problem('provider.client_key_file', keyPath, why);
    }
  }
  if (cert !== undefined && key !== undefined && !cert.checkPrivateKey(key)) {
    c.problem('provider.client_key_file', keyPath,
      `does not belong to provider.client_cert_file ${certPath} (subject ${cert.subject.replace(/\n/g, ', ')}); give the key that was made with that certificate, or the certificate that was issued for this key`);
  }
}

async function checkSocketGroup(c: Checker, group: string, groupFile: string): Promise<void> {
  let gid: number;
  try {
    gid = await resolveGroupId(group, groupFile);
  } catch (err) {
    if (!isOtcdError(err) || err.code !== 'GROUP_NOT_FOUND') throw err;
    const fix = err.message.includes('is not in')
      ? `no such group in ${groupFile}; create it (groupadd --system ${group}) and add the kiosk application's user to it, or set socket.group = "otcd"`
      : err.message;
    c.problem('socket.group', group, fix);
    return;
  }
  // The daemon gives its socket this group (chown); a user that is not root may give only its own groups.
  if (!isRoot() && process.getgid?.() !== gid && !(process.getgroups?.() ?? []).includes(gid)) {
    const user = userInfo().username;
    c.problem('socket.group', group, `${who()}, which otcd runs as, is not in group ${group}, so it cannot give its socket that group; add it: usermod -aG ${group} ${user} (then restart otcd)`);
  }
}

function errnoOf(f: () => void): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

const WRITE_SEARCH = constants.W_OK | constants.X_OK;

function checkStateDir(c: Checker, dir: string, writable: readonly string[] | undefined): void {
  const key = 'daemon.state_dir';
  const readOnly = `is on a file system that is read-only for otcd; under otcd.service only ${UNIT_STATE_DIR} is writable (ProtectSystem=strict): use "${UNIT_STATE_DIR}", or allow this one with systemctl edit otcd: [Service] ReadWritePaths=${dir}`;
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      c.problem(key, dir, code === 'EACCES'
        ? `cannot be reached by ${who()}, which otcd runs as: a directory above it is not searchable (chmod o+x, or g+x for group otcd)`
        : `cannot be examined (${code ?? String(err)})`);
      return;
    }
    // systemd makes the unit's own state directory before each start.
    if (dir === UNIT_STATE_DIR) return;
    let parent = dirname(dir);
    while (parent !== '/' && errnoOf(() => statSync(parent)) === 'ENOENT') parent = dirname(parent);
    const code2 = errnoOf(() => accessSync(parent, WRITE_SEARCH));
    if (code2 === 'EROFS') c.problem(key, dir, `does not exist, and ${readOnly}`);
    else if (code2 !== undefined) {
      c.problem(key, dir, `does not exist, and ${who()}, which otcd runs as, cannot create it in ${parent}; create it: mkdir -p ${dir} && chown otcd:otcd ${dir} && chmod 0750 ${dir}`);
    }
    return;
  }
  if (!isDir) {
    c.problem(key, dir, 'is not a directory; give a directory for the ledger');
    return;
  }
  const code = errnoOf(() => accessSync(dir, WRITE_SEARCH));
  if (code === 'EROFS') c.problem(key, dir, readOnly);
  else if (code !== undefined) {
    c.problem(key, dir, `is not writable by ${who()}, which otcd runs as; give it to that user: chown -R otcd:otcd ${dir} && chmod 0750 ${dir}`);
  } else {
    const ledger = join(dir, LEDGER_FILE);
    const ledgerCode = errnoOf(() => accessSync(ledger, constants.W_OK));
    if (ledgerCode !== undefined && ledgerCode !== 'ENOENT') {
      c.problem(key, dir, `holds ${ledger}, which ${who()}, which otcd runs as, cannot write; give it back: chown -R otcd:otcd ${dir}`);
    }
  }
  if (writable !== undefined) {
    if (!writable.some((w) => dir === w || dir.startsWith(`${w.replace(/\/+$/, '')}/`))) c.problem(key, dir, readOnly);
  } else if (dir !== UNIT_STATE_DIR && !dir.startsWith(`${UNIT_STATE_DIR}/`)) {
    c.warnings.push(`daemon.state_dir = ${JSON.stringify(dir)}: under otcd.service only ${UNIT_STATE_DIR} is writable (ProtectSystem=strict); add ReadWritePaths=${dir} with systemctl edit otcd`);
  }
}

function checkBaseUrl(c: Checker, baseUrl: string): void {
  if (baseUrl !== PLACEHOLDER_BASE_URL) return;
  c.problem('provider.base_url', baseUrl,
    `not configured: this is the shipped placeholder, which no payment can reach; set the provider's API domain in a drop-in, e.g. ${SITE_DROP_IN}: [provider] base_url = "https://api.provider.example"`);
}

/** Every problem a start would meet on this machine, as the current user. */
export async function checkHost(cfg: OtcdConfig, opts: HostCheckOptions = {}): Promise<HostCheckResult> {
  const c = new Checker(opts);
  checkBaseUrl(c, cfg.provider.baseUrl);
  if (cfg.provider.caFile !== undefined) checkCaFile(c, cfg.provider.caFile);
  if (cfg.provider.clientCertFile !== undefined && cfg.provider.clientKeyFile !== undefined) {
    checkClientPair(c, cfg.provider.clientCertFile, cfg.provider.clientKeyFile);
  }
  if (cfg.socket.group !== '' && opts.socketActivated !== true) await checkSocketGroup(c, cfg.socket.group, opts.groupFile ?? ETC_GROUP);
  checkStateDir(c, cfg.daemon.stateDir, opts.serviceWritable);
  return { problems: c.problems, warnings: c.warnings };
}
