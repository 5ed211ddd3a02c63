// The shared ecr1 vectors (../shared/vectors/ecr1-frames.json), by note.
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface Raw { note: string; body: string; frameHex: string }
const file = path.resolve(process.cwd(), '../shared/vectors/ecr1-frames.json');
const frames = (JSON.parse(readFileSync(file, 'utf8')) as { frames: Raw[] }).frames;

/** The full frame bytes of the vector with this note. */
export function vectorFrame(note: string): Buffer {
  const f = frames.find((v) => v.note === note);
  if (!f) throw new Error(`no ecr1 vector "${note}"`);
  return Buffer.from(f.frameHex, 'hex');
}

export function allVectors(): { note: string; body: string; frame: Buffer }[] {
  return frames.map((f) => ({ note: f.note, body: f.body.replaceAll('<FS>', '|'), frame: Buffer.from(f.frameHex, 'hex') }));
}
