/**
 * `otcd check-config` run by root checks what the service will see, not what
 * root sees: root reads every file, the otcd user only what its owner, group
 * and mode allow. So root re-executes the same check as the user otcd.service
 * names (User=otcd), with that user's groups, and passes its output and exit
 * code through.
 *
 * How: setpriv from util-linux (Essential on Debian, so on every kiosk image)
 * with --reuid, --regid and --init-groups. --init-groups gives the child the
 * user's supplementary groups from /etc/group, as systemd does for User=
 * (otcd is in dialout, and a site may add it to the group of a key file).
 * Node's own spawn({ uid, gid }) cannot: it keeps root's supplementary groups
 * (group root, possibly others), which would let the child read files the
 * service cannot. A separate process, rather than seteuid() within this one,
 * also means nothing in the check can forget to switch back.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** otcd.service's User=. */
export const SERVICE_USER = 'otcd';
export const SETPRIV = '/usr/bin/setpriv';
const ETC_PASSWD = '/etc/passwd';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** `name`'s passwd(5) entry from /etc/passwd (a kiosk image has no NSS/LDAP), or undefined. */
export function lookupUser(name: string, passwdFile = ETC_PASSWD): PasswdEntry | undefined {
  let text: string;
  try {
    text = readFileSync(passwdFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4 && /^\d+$/.test(f[2]) && /^\d+$/.test(f[3])) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** Whether this process should hand the check to `user`: it is root, and `user` is someone else. */
export function shouldCheckAs(user: PasswdEntry | undefined): user is PasswdEntry {
  return user !== undefined && process.getuid?.() === 0 && user.uid !== 0;
}

/**
 * Runs `node <script> <args>` (this Node, with its flags) as `user` and its
 * groups; gives each line of its output to `out` (its stderr goes to ours)
 * and returns its exit code, or undefined when setpriv is not there to do it.
 */
export function runAsUser(user: PasswdEntry, script: string, args: readonly string[], out: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (!existsSync(SETPRIV)) return undefined;
  const r = spawnSync(SETPRIV,
    ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', process.execPath, ...process.execArgv, script, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/', env, encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.error) return undefined;
  for (const line of r.stdout.replace(/\n$/, '').split('\n')) out(line);
  return r.status ?? 1;
}

/**
 * The directories otcd.service may write, from systemd itself (`systemctl
 * show`): under ProtectSystem=strict everything else is read-only to the
 * service, whatever the file modes say, and a check run from a shell would not
 * see that. Undefined where there is no systemd, no such unit, or no
 * ProtectSystem=strict.
 */
export function unitWritablePaths(unit = 'otcd.service'): string[] | undefined {
  if (!existsSync('/run/systemd/system')) return undefined;
  const r = spawnSync('systemctl', ['show', unit, '-p', 'LoadState', '-p', 'ProtectSystem', '-p', 'ReadWritePaths', '-p', 'StateDirectory', '-p', 'RuntimeDirectory'],
    { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  if (r.status !== 0 || typeof r.stdout !== 'string') return undefined;
  const props = new Map(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  if (props.get('LoadState') !== 'loaded' || props.get('ProtectSystem') !== 'strict') return undefined;
  const words = (name: string): string[] => (props.get(name) ?? '').split(/\s+/).filter((w) => w !== '');
  return [
    ...words('StateDirectory').map((d) => `/var/lib/${d}`),
    ...words('RuntimeDirectory').map((d) => `/run/${d}`),
    // "-" (ignore if missing) and "+" prefixes are not part of the path
    ...words('ReadWritePaths').map((p) => p.replace(/^[-+]+/, '')),
  ];
}
