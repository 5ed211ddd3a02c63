/**
 * The shared test vectors (../shared/vectors beside the repository, as laid
 * for developers and CI), found from this file whether it runs as TypeScript
 * under jest or compiled under dist/. OTCD_VECTORS_DIR overrides the place.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function vectorsDir(): string {
  const override = process.env['OTCD_VECTORS_DIR'];
  if (override) return resolve(override);
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('fuzz vectors: cannot find the repository root (set OTCD_VECTORS_DIR)');
    dir = up;
  }
  return join(dir, '..', 'shared', 'vectors');
}

export function readVector(name: string): Buffer {
  return readFileSync(join(vectorsDir(), name));
}

export interface FrameVector {
  note: string;
  body: Buffer;
  frame: Buffer;
}

export function frameVectors(): FrameVector[] {
  const raw = JSON.parse(readVector('ecr1-frames.json').toString('utf8')) as {
    frames: { note: string; body: string; frameHex: string }[];
  };
  return raw.frames.map((f) => ({
    note: f.note,
    body: Buffer.from(f.body.replaceAll('<FS>', '\x1c'), 'latin1'),
    frame: Buffer.from(f.frameHex, 'hex'),
  }));
}
