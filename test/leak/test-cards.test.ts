/**
 * The leak scan's card list (scripts/leak-hunt/test-cards.ts) must hold every
 * track 2 the tests, the scripts and the shared vectors use, or the scan would
 * not look for a card a test sends through the daemon.
 */
import { describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SUITE_CARDS, track2sIn, unlistedTrack2s } from '../../scripts/leak-hunt/test-cards.js';
import { repoRoot } from '../../scripts/lib/repo-root.js';

// Built at run time, so this file holds no track-2-shaped literal of its own.
const UNLISTED = `${'5'.repeat(4)}${'0'.repeat(11)}9=2512101`;

describe('the suite card list', () => {
  test('holds every track-2-shaped string of test/, scripts/ and ../shared/vectors', async () => {
    const missing = await unlistedTrack2s(repoRoot());
    // file:line and shape only: the strings themselves are card-shaped
    expect(missing.map((m) => `${m.file}:${m.line} (${m.shape})`)).toEqual([]);
  });

  test('the check finds a card that is not listed, in both separator forms', async () => {
    const repo = await mkdtemp(join(tmpdir(), 'otcd-cards-'));
    try {
      await mkdir(join(repo, 'test', 'x'), { recursive: true });
      await mkdir(join(repo, 'scripts'), { recursive: true });
      await writeFile(join(repo, 'test', 'x', 'a.test.ts'), `const a = '${SUITE_CARDS[0]!.track2}';\nconst b = '${UNLISTED}';\n`);
      await writeFile(join(repo, 'scripts', 'b.ts'), `run('--track2', '${UNLISTED.replace('=', 'D')}')\n`);
      const missing = await unlistedTrack2s(repo);
      expect(missing.map((m) => `${m.file}:${m.line}`).sort()).toEqual([join('scripts', 'b.ts') + ':1', join('test', 'x', 'a.test.ts') + ':2']);
    } finally {
      await rm(repo, { recursive: true, force: true });
    }
  });

  test('hex and Base64 text is not taken for a card', () => {
    const t2 = SUITE_CARDS[0]!.track2;
    expect(track2sIn(Buffer.from(t2).toString('hex'))).toEqual([]);
    expect(track2sIn(`x${'1'.repeat(16)}=3012`)).toEqual([]);
    expect(track2sIn(`;${t2}?`).map((m) => m.track2)).toEqual([t2]);
  });

  test('names are labels only (T2#n): no card digits in needle labels', () => {
    for (const card of SUITE_CARDS) expect(card.name).toMatch(/^T2#\d+$/);
  });
});
