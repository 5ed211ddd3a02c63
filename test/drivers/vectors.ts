/** The shared ecr1 frame vectors (../shared/vectors/ecr1-frames.json). */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface FrameVector {
  note: string;
  body: Buffer;
  lrc: number;
  frame: Buffer;
}

const file = path.resolve(process.cwd(), '../shared/vectors/ecr1-frames.json');
const raw = JSON.parse(readFileSync(file, 'utf8')) as { frames: { note: string; body: string; lrc: string; frameHex: string }[] };

export const frameVectors: FrameVector[] = raw.frames.map((f) => ({
  note: f.note,
  body: Buffer.from(f.body.replaceAll('<FS>', '\x1c'), 'latin1'),
  lrc: parseInt(f.lrc, 16),
  frame: Buffer.from(f.frameHex, 'hex'),
}));
