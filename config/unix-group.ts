/**
 * Group name -> gid, as getgrnam(3) would answer from files. Node has no
 * getgrnam; on a kiosk image groups live in /etc/group (no NSS/LDAP), so
 * reading the file is the whole lookup. A numeric string is taken as a gid.
 */
import { readFile } from 'node:fs/promises';
import { OtcdError } from '../drivers/errors.js';

export const ETC_GROUP = '/etc/group';

const NUMERIC_GID = /^\d{1,10}$/;
/** group(5): name:password:gid:members */
const NAME_FIELD = 0;
const GID_FIELD = 2;

export class GroupLookupError extends OtcdError {
  constructor(message: string) {
    super('GROUP_NOT_FOUND', message);
  }
}

export async function resolveGroupId(group: string | number, groupFile: string = ETC_GROUP): Promise<number> {
  if (typeof group === 'number') return checkGid(group, String(group));
  if (NUMERIC_GID.test(group)) return checkGid(Number(group), group);
  let text: string;
  try {
    text = await readFile(groupFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new GroupLookupError(`cannot read ${groupFile} (${code}) to find group "${group}"; give the socket group as a number`);
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < GID_FIELD + 1 || fields[NAME_FIELD] !== group) continue;
    const gidText = fields[GID_FIELD];
    if (NUMERIC_GID.test(gidText)) return checkGid(Number(gidText), group);
  }
  throw new GroupLookupError(`group "${group}" is not in ${groupFile}; create it (groupadd ${group}) or fix the socket group setting`);
}

function checkGid(gid: number, shown: string): number {
  if (!Number.isInteger(gid) || gid < 0 || gid > 0xfffffffe) {
    throw new GroupLookupError(`"${shown}" is not a valid group id`);
  }
  return gid;
}
