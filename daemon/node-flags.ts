/**
 * How otcd's node process is started, here and in systemd/otcd.service (a
 * test keeps the two the same): the node flags of its ExecStart and the
 * variables of its Environment= lines. scripts/lib/stack.ts startDaemon
 * applies both, so tests, bench and chaos run the daemon as the unit does.
 */

/**
 * --max-semi-space-size=1: V8's young generation otherwise grows from 8 MiB to
 * its 32 MiB ceiling as inquiries allocate and never shrinks, which showed as
 * +25 MiB of RSS in `npm run bench`; one payment allocates far less than
 * 1 MiB between scavenges, and a kiosk board has little memory to spare.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * NODE_ENV=production: nothing of ours reads it; it is set for dependencies
 * that might.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = {
  NODE_ENV: 'production',
};
