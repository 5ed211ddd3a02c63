import { describe, test, expect } from '@jest/globals';
import { takeListenFds } from '../../daemon/systemd/listen-fds.js';

describe('takeListenFds', () => {
  test('returns the passed sockets from fd 3 and removes the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'otcd.socket:extra', PATH: '/usr/bin' };
    expect(takeListenFds(env, 4242)).toEqual([
      { fd: 3, name: 'otcd.socket' },
      { fd: 4, name: 'extra' },
    ]);
    expect(env).toEqual({ PATH: '/usr/bin' });
  });

  test('ignores sockets meant for another process, and absent or bad counts', () => {
    expect(takeListenFds({ LISTEN_PID: '1', LISTEN_FDS: '1' }, 4242)).toEqual([]);
    expect(takeListenFds({}, 4242)).toEqual([]);
    expect(takeListenFds({ LISTEN_PID: '4242', LISTEN_FDS: 'x' }, 4242)).toEqual([]);
    expect(takeListenFds({ LISTEN_PID: '4242', LISTEN_FDS: '0' }, 4242)).toEqual([]);
  });
});
