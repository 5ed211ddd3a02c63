/**
 * Who may read the ledger, on real files with real modes: the daemon's Ledger
 * writes it (under the unit's umask 0077) with the directory 0750 and the
 * file 0640, and the compiled otcctl reads it as user nobody, in the
 * ledger's group or not. When it cannot, the message names the real cause.
 * (Tests run as root, which no mode stops: otcctl runs as nobody here.)
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmod, chown, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { explainDenied, type AccessFacts } from '../../daemon/cli/ledger-access.js';
import { Ledger, LEDGER_FILE, type LedgerRecord } from '../../daemon/payments/ledger.js';
import { runCtl } from './run-otcctl.js';

const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);
/** The otcd group of this test: a gid no other group has on this machine. */
const OTCD_GID = 40_000 + (process.pid % 9_000);
const NOGROUP = 65534;

function payment(id: string, st: LedgerRecord['st'] = 'approved'): LedgerRecord {
  return { id, st, created: T0, at: T0, amount: 12000, inst: 0, authHash: 'a'.repeat(32), attempt: 1 };
}

async function writeLedger(stateDir: string, ids: string[], opts: { torn?: boolean } = {}): Promise<void> {
  const ledger = new Ledger({ stateDir, logger: pino({ level: 'silent' }), retentionMs: 7 * 86_400_000, maxPayments: 1000, compactAfterBytes: 1 << 20, wallNow: () => T0 });
  const previous = process.umask(0o077); // the unit's UMask=
  try {
    await ledger.open();
    for (const id of ids) await ledger.append(payment(id), { durable: true });
    await ledger.close();
    if (opts.torn) {
      await writeFile(join(stateDir, LEDGER_FILE), '{"id":"torn","st":"appr', { flag: 'a' });
      await ledger.open(); // compacts the torn line away: a new file, renamed over the old
      await ledger.close();
    }
  } finally {
    process.umask(previous);
  }
}

const modeOf = async (path: string): Promise<string> => ((await stat(path)).mode & 0o777).toString(8);

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'otcd-access-'));
  await chmod(root, 0o711); // nobody may pass through, as through /var/lib
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let count = 0;
/** A state directory as otcd leaves it, handed to group OTCD_GID as systemd's StateDirectory= does. */
async function stateDir(ids = ['order-20261206-000123']): Promise<string> {
  const dir = join(root, `state-${++count}`);
  await writeLedger(dir, ids);
  await chown(dir, 0, OTCD_GID);
  await chown(join(dir, LEDGER_FILE), 0, OTCD_GID);
  return dir;
}

describe('the ledger writes its modes itself, whatever the umask', () => {
  test('a new state directory is 0750 and the ledger 0640 under umask 0077', async () => {
    const dir = join(root, 'fresh');
    await writeLedger(dir, ['p1']);
    expect(await modeOf(dir)).toBe('750');
    expect(await modeOf(join(dir, LEDGER_FILE))).toBe('640');
  });

  test('compaction\'s new file is 0640 too, and no temporary file is left', async () => {
    const dir = join(root, 'compacted');
    await writeLedger(dir, ['p1', 'p2'], { torn: true });
    expect(await modeOf(join(dir, LEDGER_FILE))).toBe('640');
    expect(await readdir(dir)).toEqual([LEDGER_FILE]);
  });

  test('an older install\'s 0700 directory and 0600 ledger are opened to the group at start; another mode is left alone', async () => {
    const old = join(root, 'old-install');
    await writeLedger(old, ['p1']);
    await chmod(old, 0o700);
    await chmod(join(old, LEDGER_FILE), 0o600);
    await writeLedger(old, ['p2']);
    expect(await modeOf(old)).toBe('750');
    expect(await modeOf(join(old, LEDGER_FILE))).toBe('640');

    const chosen = join(root, 'admin-choice');
    await writeLedger(chosen, ['p1']);
    await chmod(chosen, 0o710);
    await writeLedger(chosen, ['p2']);
    expect(await modeOf(chosen)).toBe('710');
  });
});

describe('otcctl payments as user nobody', () => {
  test('a member of the ledger\'s group reads it', async () => {
    const dir = await stateDir(['order-20261206-000123', 'otcctl-20261206-101530-3a5ba6']);
    const r = await runCtl(['payments', '--state-dir', dir], { asNobodyIn: { gid: NOGROUP, groups: [OTCD_GID] } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('order-20261206-000123');
    expect(r.stdout).toContain('otcctl-20261206-101530-3a5ba6');
  });

  test('not in the group: says so, and how to join', async () => {
    const dir = await stateDir();
    const r = await runCtl(['payments', '--state-dir', dir], { asNobodyIn: { gid: NOGROUP } });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`otcctl: permission denied on ${join(dir, LEDGER_FILE)}: you (nobody) are not in group gid ${OTCD_GID}, which may read otcd's state directory ${dir}: sudo usermod -aG gid ${OTCD_GID} nobody, then log in again\n`);
  });

  test('in the group, but the directory is 0700: names the directory\'s mode, not the group', async () => {
    const dir = await stateDir();
    await chmod(dir, 0o700);
    const r = await runCtl(['payments', '--state-dir', dir], { asNobodyIn: { gid: NOGROUP, groups: [OTCD_GID] } });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`otcctl: permission denied on ${join(dir, LEDGER_FILE)}: otcd's state directory ${dir} is 0700 and keeps group gid ${OTCD_GID} out; it should be 0750: sudo chmod 0750 ${dir} (otcd's unit has StateDirectoryMode=0750, and otcd opens a 0700 directory when it starts)\n`);
  });

  test('in the group, directory fine, the ledger 0600: names the file\'s mode', async () => {
    const dir = await stateDir();
    await chmod(join(dir, LEDGER_FILE), 0o600);
    const r = await runCtl(['payments', '--state-dir', dir], { asNobodyIn: { gid: OTCD_GID } });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`otcctl: permission denied on ${join(dir, LEDGER_FILE)}: the ledger ${join(dir, LEDGER_FILE)} is 0600; it should be 0640 (group gid ${OTCD_GID} may read it): otcd sets that when it starts (sudo systemctl restart otcd), or sudo chmod 0640 ${join(dir, LEDGER_FILE)}\n`);
  });

  test('the ledger in another group than its directory: names the group to give it', async () => {
    const dir = await stateDir();
    await chown(join(dir, LEDGER_FILE), 0, 0);
    const r = await runCtl(['payments', '--state-dir', dir], { asNobodyIn: { gid: OTCD_GID } });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`otcctl: permission denied on ${join(dir, LEDGER_FILE)}: the ledger ${join(dir, LEDGER_FILE)} belongs to group root, not gid ${OTCD_GID} like its directory: sudo chgrp gid ${OTCD_GID} ${join(dir, LEDGER_FILE)}\n`);
  });
});

describe('explainDenied', () => {
  const facts = (patch: Partial<AccessFacts>): AccessFacts => ({
    uid: 1000, gids: [1000], user: 'tech', stateDir: '/var/lib/otcd', ledger: '/var/lib/otcd/ledger.jsonl',
    dir: { uid: 990, gid: 990, mode: 0o40750 }, file: undefined,
    groups: new Map([[990, { name: 'otcd', members: [] }]]), ...patch,
  });

  test('the usual case, with the group\'s name', () => {
    expect(explainDenied(facts({}))).toBe("you (tech) are not in group otcd, which may read otcd's state directory /var/lib/otcd: sudo usermod -aG otcd tech, then log in again");
  });

  test('added to the group after this session began: log in again, or newgrp', () => {
    expect(explainDenied(facts({ groups: new Map([[990, { name: 'otcd', members: ['someone', 'tech'] }]]) })))
      .toBe("you (tech) were added to group otcd, which may read otcd's state directory /var/lib/otcd, after this login session began: log out and in again (or run `newgrp otcd`)");
  });

  test('nothing to explain when the modes allow it (another cause: the plain error is shown)', () => {
    expect(explainDenied(facts({ gids: [1000, 990], file: { uid: 990, gid: 990, mode: 0o100640 } }))).toBeUndefined();
  });
});
