/**
 * Why the ledger cannot be read, for the person running otcctl: not in
 * group otcd, in it but not in this login session yet, the state directory's
 * mode, or the ledger file's owner or mode. Each answer says what to run.
 *
 * The facts (who we are, the modes and owners we can stat, /etc/group) are
 * gathered first; `explainDenied` only reasons about them.
 */
import { readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { ETC_GROUP } from '../../config/unix-group.js';

export interface Owner { uid: number; gid: number; mode: number }

export interface AccessFacts {
  uid: number;
  /** The process's groups: its gid and supplementary groups. */
  gids: number[];
  user: string;
  stateDir: string;
  ledger: string;
  dir?: Owner;
  /** Undefined when the directory could not be entered to stat it. */
  file?: Owner;
  /** gid -> name and members, from /etc/group. */
  groups: Map<number, { name: string; members: string[] }>;
}

const X = 1;
const R = 4;

function allowed(facts: AccessFacts, o: Owner, bit: number): boolean {
  if (facts.uid === 0) return true;
  if (facts.uid === o.uid) return ((o.mode >> 6) & bit) !== 0;
  if (facts.gids.includes(o.gid)) return ((o.mode >> 3) & bit) !== 0;
  return (o.mode & bit) !== 0;
}

function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/** The sentence for a denied read of the ledger, or undefined when the facts do not explain it. */
export function explainDenied(f: AccessFacts): string | undefined {
  const name = (gid: number): string => f.groups.get(gid)?.name ?? `gid ${gid}`;
  const notMember = (gid: number, what: string): string => {
    const group = name(gid);
    if (f.groups.get(gid)?.members.includes(f.user)) {
      return `you (${f.user}) were added to group ${group}, which may read ${what}, after this login session began: log out and in again (or run \`newgrp ${group}\`)`;
    }
    return `you (${f.user}) are not in group ${group}, which may read ${what}: sudo usermod -aG ${group} ${f.user}, then log in again`;
  };
  if (f.dir && !allowed(f, f.dir, X)) {
    if (f.uid !== f.dir.uid && !f.gids.includes(f.dir.gid)) return notMember(f.dir.gid, `otcd's state directory ${f.stateDir}`);
    return `otcd's state directory ${f.stateDir} is ${modeText(f.dir.mode)} and keeps group ${name(f.dir.gid)} out; it should be 0750: `
      + `sudo chmod 0750 ${f.stateDir} (otcd's unit has StateDirectoryMode=0750, and otcd opens a 0700 directory when it starts)`;
  }
  if (f.file && !allowed(f, f.file, R)) {
    if (f.uid !== f.file.uid && !f.gids.includes(f.file.gid)) {
      if (f.dir && f.file.gid !== f.dir.gid) {
        return `the ledger ${f.ledger} belongs to group ${name(f.file.gid)}, not ${name(f.dir.gid)} like its directory: sudo chgrp ${name(f.dir.gid)} ${f.ledger}`;
      }
      return notMember(f.file.gid, `the ledger ${f.ledger}`);
    }
    return `the ledger ${f.ledger} is ${modeText(f.file.mode)}; it should be 0640 (group ${name(f.file.gid)} may read it): `
      + `otcd sets that when it starts (sudo systemctl restart otcd), or sudo chmod 0640 ${f.ledger}`;
  }
  return undefined;
}

export async function accessFacts(stateDir: string, ledger: string): Promise<AccessFacts> {
  const owner = async (path: string): Promise<Owner | undefined> => {
    try {
      const st = await stat(path);
      return { uid: st.uid, gid: st.gid, mode: st.mode };
    } catch {
      return undefined;
    }
  };
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? -1}`;
  }
  const gids = [...new Set([process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])])];
  return {
    uid: process.getuid?.() ?? -1, gids, user, stateDir, ledger,
    dir: await owner(stateDir), file: await owner(ledger), groups: await readGroups(),
  };
}

async function readGroups(): Promise<AccessFacts['groups']> {
  const groups: AccessFacts['groups'] = new Map();
  let text: string;
  try {
    text = await readFile(ETC_GROUP, 'utf8');
  } catch {
    return groups;
  }
  for (const line of text.split('\n')) {
    const [name, , gid, members] = line.split(':');
    if (name && gid && /^\d+$/.test(gid)) groups.set(Number(gid), { name, members: (members ?? '').split(',').filter(Boolean) });
  }
  return groups;
}
