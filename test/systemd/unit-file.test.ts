/** The unit runs the daemon with the same node flags the tests and the bench use. */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { DAEMON_NODE_FLAGS } from '../../daemon/node-flags.js';

describe('systemd/otcd.service', () => {
  test('ExecStart is node, then DAEMON_NODE_FLAGS, then the daemon', () => {
    const unit = readFileSync(new URL('../../systemd/otcd.service', import.meta.url), 'utf8');
    const execStart = unit.split('\n').find((line) => line.startsWith('ExecStart='));
    expect(execStart?.slice('ExecStart='.length).split(' ')).toEqual([
      '/usr/bin/node', ...DAEMON_NODE_FLAGS, '/opt/otcd/dist/daemon/main.js', '--config', '/etc/otcd/otcd.toml',
    ]);
  });
});
