/**
 * Socket activation (sd_listen_fds(3)): the sockets systemd passed us.
 *
 * otcd.socket is optional. When it is active, systemd starts otcd with
 * LISTEN_PID=<our pid>, LISTEN_FDS=<n> and the listening sockets on fds
 * 3..3+n-1 (LISTEN_FDNAMES names them). The variables are removed from `env`
 * once read, as sd_listen_fds(unset=1) does, so a child never mistakes them
 * for its own. Use: `server.listen({ fd })`.
 */

/** First passed descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

export interface ListenFd {
  fd: number;
  name: string;
}

export function takeListenFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): ListenFd[] {
  const forPid = env.LISTEN_PID;
  const count = Number(env.LISTEN_FDS);
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!forPid || Number(forPid) !== pid || !Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] || 'unknown' }));
}
