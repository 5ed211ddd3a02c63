import { describe, expect, test } from '@jest/globals';
import { takeListenFds } from '../../daemon/intents/server.js';

describe('takeListenFds (sd_listen_fds with unset_environment)', () => {
  test.each<[string, NodeJS.ProcessEnv, ReturnType<typeof takeListenFds>]>([
    ['for this pid', { LISTEN_PID: '42', LISTEN_FDS: '1' }, { fd: 3, count: 1, names: [] }],
    ['with names', { LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'otcd.sock:other' }, { fd: 3, count: 2, names: ['otcd.sock', 'other'] }],
    ['for another pid', { LISTEN_PID: '43', LISTEN_FDS: '1' }, undefined],
    ['no fds', { LISTEN_PID: '42', LISTEN_FDS: '0' }, undefined],
    ['garbage count', { LISTEN_PID: '42', LISTEN_FDS: 'x' }, undefined],
    ['garbage pid', { LISTEN_PID: '42abc', LISTEN_FDS: '1' }, undefined],
    ['no LISTEN_PID', { LISTEN_FDS: '1' }, undefined],
    ['nothing', {}, undefined],
  ])('%s', (_name, env, expected) => {
    const copy = { ...env, OTHER: 'kept' };
    expect(takeListenFds(copy, 42)).toEqual(expected);
    expect(copy).toEqual({ OTHER: 'kept' });
  });
});
