/**
 * The node flags otcd runs with, here and in systemd/otcd.service's ExecStart
 * (a test keeps the two the same).
 *
 * --max-semi-space-size=1: V8's young generation otherwise grows from 8 MiB to
 * its 32 MiB ceiling as inquiries allocate and never shrinks, which showed as
 * +25 MiB of RSS in `npm run bench`; one payment allocates far less than
 * 1 MiB between scavenges, and a kiosk board has little memory to spare.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
