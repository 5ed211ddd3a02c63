/**
 * Every track 2 the test suite, the scripts and the shared vectors use, so the
 * leak scan (scripts/leak-scan.ts) looks for each of them. The list is kept by
 * hand and checked: `unlistedTrack2s()` reads the sources and names every
 * track-2-shaped string (12..19 digits, '=' or 'D', digits) that is not here,
 * and both the scanner and test/leak/test-cards.test.ts fail on any, so the
 * list cannot silently go stale when a test gains a card.
 *
 * Made-up or published test numbers only (the shared vectors, the provider
 * stand-in's default, the usual scheme test PANs); some are invalid on
 * purpose (too long, no expiry) because a test feeds them to the parser.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { TestCard } from './needles.js';

/** Track 2 with '=' as separator; the needles also cover the 'D' form and the PAN alone. */
const TRACK2S: readonly string[] = [
  // shared/vectors (ecr1-frames.json, rsa-pkcs1-java.json) and the provider stand-in's default
  '9410123456789012=30121011234567890123',
  '4000000000000002=2912201',
  '9440987654321098765=3106101000000000000',
  // scripts/leak-hunt.ts
  '5412750000000123=28091010000000000456',
  '371449635398431=27051010000000000',
  '6011000990139424123=2601201123',
  '4000056655665556=29121019876543210',
  // scripts/diag/memory.ts
  '9410123456789012=30121010000000000000',
  // test/drivers/messages.test.ts
  '4101234567890123456=3012101',
  '9410123456789012=3012',
  '9410123456789012=30121011234',
  '9410123456789012=301210112345678901234',
  '9410123456789012==101',
  '9410123456789012=30121011',
  '941012345678==101',
  // test/provider/track2.test.ts
  '1234567890123456789=3012101',
  '123456789012=3012101',
  '2345678901234567890=3012101',
  '94101234567890123=301210112345678901234',
  '9410123456789012=3000101',
  '9410123456789012=301210',
  '9410123456789012=3012101',
  '9410123456789012=3012101=123',
  '9410123456789012=3013101',
  '9410123456789012==101123',
  // test/sim/terminal-sim-pty.test.ts
  '941012345678901=3013101',
];

/** One TestCard per listed track 2, named T2#n (labels never carry the digits). */
export const SUITE_CARDS: readonly TestCard[] = TRACK2S.map((track2, i) => ({ name: `T2#${i}`, track2 }));

/**
 * A track-2-shaped string: 12..19 digits, '=' or 'D', then digits and '='. Not
 * preceded by a letter, digit, '+' or '/' (hex and Base64 text is not a card).
 */
const TRACK2_SHAPE = /(?<![0-9A-Za-z+/])[0-9]{12,19}[=D][0-9=]*/g;

/** Folders (under the repository) and files whose text may hold test cards. */
const SOURCE_DIRS = ['test', 'scripts'];
const SOURCE_EXTENSIONS = ['.ts', '.js', '.mjs', '.json', '.py', '.sh', '.txt', '.jsonl', '.toml'];

export interface Track2Use {
  file: string;
  line: number;
  /** The PAN's length and the shape only: the finding itself is not printed. */
  shape: string;
  track2: string;
}

/** Every track-2-shaped string in `text`, normalised to the '=' form. */
export function track2sIn(text: string): Array<{ index: number; track2: string }> {
  return [...text.matchAll(TRACK2_SHAPE)].map((m) => {
    const raw = m[0];
    const sep = raw.search(/[=D]/);
    return { index: m.index, track2: `${raw.slice(0, sep)}=${raw.slice(sep + 1)}` };
  });
}

function isListed(track2: string): boolean {
  return TRACK2S.includes(track2);
}

/** Track-2-shaped strings in the repository's tests and scripts and in ../shared/vectors that the list lacks. */
export async function unlistedTrack2s(repo: string): Promise<Track2Use[]> {
  const files: string[] = [];
  for (const dir of SOURCE_DIRS) files.push(...(await sourceFiles(join(repo, dir))));
  const vectors = resolve(repo, '..', 'shared', 'vectors');
  if (existsSync(vectors)) files.push(...(await sourceFiles(vectors)));
  const missing: Track2Use[] = [];
  for (const file of files) {
    const text = await readFile(file, 'latin1');
    for (const { index, track2 } of track2sIn(text)) {
      if (isListed(track2)) continue;
      const line = text.slice(0, index).split('\n').length;
      const pan = track2.slice(0, track2.indexOf('='));
      missing.push({ file: relative(repo, file), line, shape: `${pan.length}-digit PAN, ${track2.length} chars`, track2 });
    }
  }
  return missing;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') out.push(...(await sourceFiles(path)));
    } else if (entry.isFile() && SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) {
      out.push(path);
    }
  }
  return out;
}
