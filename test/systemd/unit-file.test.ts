/** The unit runs the daemon with the same node flags and environment the tests and the bench use. */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { DAEMON_ENV, DAEMON_NODE_FLAGS, DAEMON_SCRIPT } from '../../daemon/node-flags.js';

const unit = readFileSync(new URL('../../systemd/otcd.service', import.meta.url), 'utf8').split('\n');

describe('systemd/otcd.service', () => {
  test('ExecStart is node, then DAEMON_NODE_FLAGS, then the daemon', () => {
    const execStart = unit.find((line) => line.startsWith('ExecStart='));
    expect(execStart?.slice('ExecStart='.length).split(' ')).toEqual([
      '/usr/bin/node', ...DAEMON_NODE_FLAGS, `/opt/otcd/${DAEMON_SCRIPT}`, '--config', '/etc/otcd/otcd.toml',
    ]);
  });

  test('its Environment= lines set exactly DAEMON_ENV, one variable a line, as startDaemon does', () => {
    const assignments = unit.filter((line) => line.startsWith('Environment=')).map((line) => line.slice('Environment='.length));
    // One unquoted VAR=value a line keeps systemd's quoting rules out of the comparison.
    for (const a of assignments) expect(a).toMatch(/^[A-Z_][A-Z0-9_]*=[^\s"'\\]*$/);
    const set = Object.fromEntries(assignments.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
    expect(assignments).toHaveLength(Object.keys(set).length);
    expect(set).toEqual(DAEMON_ENV);
  });

  test('MemoryDenyWriteExecute=yes goes with --jitless (V8 with its JIT maps writable+executable pages)', () => {
    expect(unit).toContain('MemoryDenyWriteExecute=yes');
    expect(DAEMON_NODE_FLAGS).toContain('--jitless');
  });
});
