import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { ConfigError, loadConfig } from '../../config/load.js';

/** A temp directory holding real configuration files for one test file. */
export class ConfigDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'otcd-config-'));
  private n = 0;

  /** Writes `text` to a new file and returns its path. */
  write(text: string): string {
    const file = join(this.dir, `otcd-${++this.n}.toml`);
    writeFileSync(file, text);
    return file;
  }

  /** A copy of `file` in a directory of its own (so it has its own drop-in directory); returns the copy's path. */
  copy(file: string): string {
    const home = join(this.dir, `main-${++this.n}`);
    mkdirSync(home);
    const to = join(home, 'otcd.toml');
    copyFileSync(file, to);
    return to;
  }

  /** Writes drop-in `name` of `mainFile` (in mainFile.d/) and returns its path. */
  dropIn(mainFile: string, name: string, text: string): string {
    mkdirSync(`${mainFile}.d`, { recursive: true });
    const file = join(`${mainFile}.d`, name);
    writeFileSync(file, text);
    return file;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The ConfigError that loading `file` throws; fails the test if none. */
export function configErrorOf(file: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`${file} loaded without a problem`);
}
