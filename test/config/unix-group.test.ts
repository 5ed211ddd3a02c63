import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroupLookupError, resolveGroupId } from '../../config/unix-group.js';

let dir: string;
let groupFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'otcd-group-'));
  groupFile = join(dir, 'group');
  writeFileSync(groupFile, 'root:x:0:\n# not a group line\nkiosk:x:1001:app,ops\nkiosk2:x:1002:\nbroken:x:\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveGroupId', () => {
  test.each<[string | number, number]>([
    ['kiosk', 1001], ['kiosk2', 1002], ['root', 0], ['4242', 4242], [77, 77],
  ])('%s -> %d', async (group, gid) => {
    expect(await resolveGroupId(group, groupFile)).toBe(gid);
  });

  test.each(['nobody-here', 'kios', 'broken', '-1', '12x'])('%s is not found', async (group) => {
    await expect(resolveGroupId(group, groupFile)).rejects.toThrow(GroupLookupError);
    await expect(resolveGroupId(group, groupFile)).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
  });

  test('a negative or huge number is refused', async () => {
    await expect(resolveGroupId(-1, groupFile)).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
    await expect(resolveGroupId(2 ** 32, groupFile)).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
  });

  test('an unreadable group file says so', async () => {
    await expect(resolveGroupId('kiosk', join(dir, 'missing'))).rejects.toThrow(/cannot read .*missing \(ENOENT\)/);
  });

  test('the real /etc/group has root', async () => {
    expect(await resolveGroupId('root')).toBe(0);
  });
});
