/**
 * Drop-ins: FILE.d/*.toml, read in name order after FILE, the later winning
 * key by key; [provider.headers] merging by header name; every problem
 * naming the file that holds the key. Real files in a temp directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from '@jest/globals';
import { DEFAULT_SOURCE, dropInDir, loadConfigFiles } from '../../config/load.js';
import { ConfigDir, configErrorOf } from './support.js';

const dir = new ConfigDir();
afterAll(() => dir.remove());

const MAIN = [
  '[provider]', 'base_url = "https://shipped.example"', 'retries = 2',
  '[provider.headers]', 'Authorization = "Basic c2hpcHBlZA=="', 'X-Kiosk = "k1"',
  '[terminal]', 'address = "/dev/otcd-terminal"', 'baud_rate = 115200',
  '[payment]', 'window_s = 180', 'send_margin_s = 30',
].join('\n');

describe('drop-in files', () => {
  test('are read in name (byte) order after the main file; a later one wins key by key', () => {
    const main = dir.write(MAIN);
    const a = dir.dropIn(main, '10-vendor.toml', '[terminal]\naddress = "tcp://vendor:4001"\nbaud_rate = 9600\n');
    const b = dir.dropIn(main, '50-site.toml', '[terminal]\naddress = "tcp://site:4001"\n');
    // "9-" sorts after "50-": byte order, as ls shows it in the C locale
    const c = dir.dropIn(main, '9-late.toml', '[provider]\nretries = 5\n');
    const loaded = loadConfigFiles(main, {});
    expect(loaded.files).toEqual([main, a, b, c]);
    expect(loaded.config.terminal.address).toBe('tcp://site:4001');
    expect(loaded.config.terminal.baudRate).toBe(9600);
    expect(loaded.config.provider.retries).toBe(5);
    expect(loaded.config.provider.baseUrl).toBe('https://shipped.example');
    expect(loaded.sources.get('terminal.address')).toBe(b);
    expect(loaded.sources.get('terminal.baud_rate')).toBe(a);
    expect(loaded.sources.get('provider.retries')).toBe(c);
    expect(loaded.sources.get('provider.base_url')).toBe(main);
    expect(loaded.sources.get('keys.pool_size')).toBe(DEFAULT_SOURCE);
  });

  test('only *.toml files count: not README, not dpkg leftovers, not hidden files', () => {
    const main = dir.write(MAIN);
    dir.dropIn(main, 'README', 'this is not toml = [');
    dir.dropIn(main, '50-site.toml.dpkg-old', '[terminal]\naddress = "tcp://old:1"\n');
    dir.dropIn(main, '.50-site.toml.swp', 'garbage');
    dir.dropIn(main, '.hidden.toml', '[terminal]\naddress = "tcp://hidden:1"\n');
    const site = dir.dropIn(main, '50-site.toml', '[terminal]\naddress = "tcp://site:4001"\n');
    const loaded = loadConfigFiles(main, {});
    expect(loaded.files).toEqual([main, site]);
    expect(loaded.config.terminal.address).toBe('tcp://site:4001');
  });

  test('no drop-in directory is fine; so is an empty one', () => {
    const main = dir.write(MAIN);
    expect(loadConfigFiles(main, {}).files).toEqual([main]);
    mkdirSync(dropInDir(main));
    expect(loadConfigFiles(main, {}).files).toEqual([main]);
  });

  test('[provider.headers] merges by header name, in any case; other headers stay', () => {
    const main = dir.write(MAIN);
    const site = dir.dropIn(main, '50-site.toml', '[provider.headers]\nauthorization = "Basic c2l0ZQ=="\nX-Site = "s1"\n');
    const loaded = loadConfigFiles(main, {});
    expect(loaded.config.provider.headers).toEqual({ 'X-Kiosk': 'k1', authorization: 'Basic c2l0ZQ==', 'X-Site': 's1' });
    expect(loaded.sources.get('provider.headers.authorization')).toBe(site);
    expect(loaded.sources.get('provider.headers.X-Kiosk')).toBe(main);
    expect(loaded.sources.has('provider.headers.Authorization')).toBe(false);
  });

  test('the same header twice within one drop-in is still a problem, naming that file', () => {
    const main = dir.write(MAIN);
    const site = dir.dropIn(main, '50-site.toml', '[provider.headers]\nX-Site = "a"\nx-site = "b"\n');
    expect(configErrorOf(main).problems).toEqual([
      `${site}: provider.headers.x-site repeats provider.headers.X-Site; header names are case-insensitive, keep one`,
    ]);
  });

  test('environment overrides win over every file', () => {
    const main = dir.write(MAIN);
    dir.dropIn(main, '50-site.toml', '[terminal]\naddress = "tcp://site:4001"\n[provider.headers]\nX-Site = "s1"\n');
    const loaded = loadConfigFiles(main, { OTCD_TERMINAL_ADDRESS: 'tcp://env:4001', OTCD_PROVIDER_HEADERS_X_SITE: 'e1' });
    expect(loaded.config.terminal.address).toBe('tcp://env:4001');
    expect(loaded.config.provider.headers['X-Site']).toBe('e1');
    expect(loaded.sources.get('terminal.address')).toBe('OTCD_TERMINAL_ADDRESS');
    expect(loaded.sources.get('provider.headers.X-Site')).toBe('OTCD_PROVIDER_HEADERS_X_SITE');
  });
});

describe('problems name the file that holds the key', () => {
  test('a bad value, an unknown key and a syntax error, each in its own drop-in, all reported at once', () => {
    const main = dir.write(MAIN);
    const a = dir.dropIn(main, '10-a.toml', '[terminal]\nbaud_rate = 12345\n');
    const b = dir.dropIn(main, '20-b.toml', '[terminal]\nadress = "tcp://x:1"\n');
    const c = dir.dropIn(main, '30-c.toml', '[terminal\n');
    const problems = configErrorOf(main).problems;
    expect(problems).toContain(`${a}: terminal.baud_rate = 12345 is not allowed; use one of 9600, 19200, 38400, 57600, 115200`);
    expect(problems).toContain(`${b}: unknown key terminal.adress; did you mean terminal.address?`);
    expect(problems.some((p) => p.startsWith(`${c}: TOML syntax error at line 1`))).toBe(true);
    expect(problems).toHaveLength(3);
  });

  test('a bad value in the main file that a drop-in replaces is no problem', () => {
    const main = dir.write(MAIN.replace('baud_rate = 115200', 'baud_rate = 12345'));
    dir.dropIn(main, '50-site.toml', '[terminal]\nbaud_rate = 9600\n');
    expect(loadConfigFiles(main, {}).config.terminal.baudRate).toBe(9600);
  });

  test('a rule between keys of two files: reported at the file of the key it is about, naming the other', () => {
    const other = dir.write(MAIN);
    const late = dir.dropIn(other, '50-site.toml', '[payment]\nsend_margin_s = 180\n');
    expect(configErrorOf(other).problems).toEqual([
      `${late}: payment.send_margin_s = 180 is not allowed; it must be less than payment.window_s = 180 (otherwise no card data could ever be sent) [payment.window_s from ${other}]`,
    ]);
  });

  test('a drop-in path that is a file, not a directory, is a problem', () => {
    const main = dir.write(MAIN);
    writeFileSync(dropInDir(main), '[terminal]\n');
    expect(configErrorOf(main).problems).toEqual([
      `${dropInDir(main)}: is not a directory; drop-in files go in a directory of that name (mkdir it, move the file into it)`,
    ]);
  });

  test('a drop-in that is a directory is a problem naming it', () => {
    const main = dir.write(MAIN);
    mkdirSync(`${dropInDir(main)}/50-site.toml`, { recursive: true });
    expect(configErrorOf(main).problems).toEqual([`${dropInDir(main)}/50-site.toml: is a directory, not a configuration file`]);
  });
});
