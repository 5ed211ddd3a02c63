/**
 * A whole otcd installation on temporary paths: the provider stand-in, the
 * terminal simulator and the real daemon process with a configuration file
 * written for them. The demo runs one; the end-to-end tests run many.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntentClient } from '../../daemon/client/intent-client.js';
import { DAEMON_ENV, DAEMON_NODE_FLAGS, DAEMON_SCRIPT } from '../../daemon/node-flags.js';
import { CAPTURE_DIR_ENV, recordPid, tracedCommand } from '../leak-hunt/strace-capture.js';
import { startProviderStandin, type RunningStandin } from './provider-standin.js';
import { startTerminalSim, type RunningSim } from './terminal-sim.js';
import { repoRoot } from '../lib/repo-root.js';

export interface StackOptions {
  /** Extra lines per config section, e.g. { payment: ['window_s = 6'] }. */
  config?: Partial<Record<'daemon' | 'socket' | 'provider' | 'keys' | 'terminal' | 'payment' | 'metrics', string[]>>;
  simArgs?: string[];
  standinArgs?: string[];
  /** Terminal address override (e.g. a pty link); default: the simulator on TCP. */
  terminalAddress?: string;
  /** Where the daemon's stderr goes; default: kept in `daemonLog`. */
  onDaemonLog?: (line: string) => void;
  logLevel?: string;
  /** The daemon's log format (OTCD_LOG_FORMAT); JSON lines by default, which tests parse. */
  logFormat?: 'pretty' | 'json';
}

export interface Stack {
  dir: string;
  socketPath: string;
  stateDir: string;
  configPath: string;
  standin: RunningStandin;
  sim: RunningSim | undefined;
  daemon: DaemonProcess;
  connect(): Promise<IntentClient>;
  stop(): Promise<void>;
}

export interface DaemonProcess {
  process: ChildProcess;
  log: string[];
  exited: Promise<number | null>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash) and wait. */
  kill(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'otcd-stack-'));
  const standin = await startProviderStandin({ args: ['--cert-dir', dir, ...(opts.standinArgs ?? [])] });
  let sim: RunningSim | undefined;
  try {
    if (!opts.terminalAddress) sim = await startTerminalSim({ listen: 'tcp://127.0.0.1:0', args: opts.simArgs ?? [] });
    const socketPath = join(dir, 'otcd.sock');
    const stateDir = join(dir, 'state');
    const configPath = join(dir, 'otcd.toml');
    const address = opts.terminalAddress ?? `tcp://127.0.0.1:${sim?.tcpPort}`;
    await writeFile(configPath, stackConfig({ dir, socketPath, stateDir, baseUrl: standin.baseUrl, caFile: standin.caFile, address, opts }));
    const daemon = startDaemon(configPath, { onLog: opts.onDaemonLog, logFormat: opts.logFormat });
    await waitForSocket(socketPath, daemon);
    const stack: Stack = {
      dir, socketPath, stateDir, configPath, standin, sim, daemon,
      connect: () => IntentClient.connect(socketPath),
      stop: async () => {
        // The daemon now running: a test may have restarted it (stack.daemon = startDaemon(...)).
        await stack.daemon.stop();
        await sim?.stop();
        await standin.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
    return stack;
  } catch (err) {
    await sim?.stop();
    await standin.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function stackConfig(p: { dir: string; socketPath: string; stateDir: string; baseUrl: string; caFile: string; address: string; opts: StackOptions }): string {
  const extra = (section: keyof NonNullable<StackOptions['config']>): string => (p.opts.config?.[section] ?? []).join('\n');
  const toml = (s: string): string => JSON.stringify(s);
  return `# written by scripts/testkit/stack.ts for a temporary otcd
[daemon]
state_dir = ${toml(p.stateDir)}
log_level = ${toml(p.opts.logLevel ?? 'info')}
${extra('daemon')}

[socket]
path = ${toml(p.socketPath)}
group = ""
${extra('socket')}

[provider]
base_url = ${toml(p.baseUrl)}
ca_file = ${toml(p.caFile)}
${extra('provider')}

[keys]
${extra('keys')}

[terminal]
address = ${toml(p.address)}
${extra('terminal')}

[payment]
${extra('payment')}

[metrics]
${p.opts.config?.metrics ? extra('metrics') : '# none unless a test asks: the default path is the machine\'s own node_exporter directory\ntextfile = ""'}
`;
}

export interface DaemonSpawnOptions {
  /** Each line the daemon writes (stdout and stderr). */
  onLog?: (line: string) => void;
  /** Every chunk the daemon writes, as raw bytes (a leak need not be valid UTF-8). */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** OTCD_LOG_FORMAT; JSON lines by default, which tests parse. */
  logFormat?: 'pretty' | 'json';
  /** Environment on top of ours (DAEMON_ENV, as the unit sets it); NOTIFY_SOCKET and JOURNAL_STREAM are cleared unless given here. */
  env?: NodeJS.ProcessEnv;
  /** Node flags after otcd's own (DAEMON_NODE_FLAGS), e.g. --heapsnapshot-signal=SIGUSR2. */
  nodeArgs?: string[];
  cwd?: string;
}

/** Lines of the daemon's output kept for error messages: the tail, so a long run holds no more. */
const LOG_TAIL_LINES = 500;

/**
 * Starts `node <otcd's flags> [nodeArgs] dist/daemon/otcd.js --config FILE` with the unit's
 * environment (DAEMON_ENV), as the unit does.
 * With OTCD_LEAK_CAPTURE_DIR set, under strace (scripts/leak-hunt/strace-capture.ts),
 * every byte the daemon writes is kept there for scripts/leak-scan.ts; the process
 * returned is still node itself (strace -D), so signals and exit codes are unchanged.
 */
export function startDaemon(configPath: string, opts: DaemonSpawnOptions = {}): DaemonProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...DAEMON_ENV, NOTIFY_SOCKET: '', JOURNAL_STREAM: '', OTCD_LOG_FORMAT: opts.logFormat ?? 'json', ...opts.env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  const args = [...DAEMON_NODE_FLAGS, ...(opts.nodeArgs ?? []), join(repoRoot(), DAEMON_SCRIPT), '--config', configPath];
  const captureDir = process.env[CAPTURE_DIR_ENV];
  const traced = captureDir ? tracedCommand(captureDir, process.execPath, args, configPath) : undefined;
  const child = spawn(traced?.command ?? process.execPath, traced?.args ?? args, {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...traced?.env }, cwd: opts.cwd,
  });
  if (traced) recordPid(traced.metaPath, child.pid);
  const log: string[] = [];
  let partial = '';
  const onChunk = (chunk: Buffer): void => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (log.push(line) > LOG_TAIL_LINES) log.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    opts.onOutput?.(chunk, 'stdout');
    onChunk(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    opts.onOutput?.(chunk, 'stderr');
    onChunk(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const wait = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  return { process: child, log, exited, stop: () => wait('SIGTERM'), kill: async () => { await wait('SIGKILL'); } };
}

/** Resolves once the daemon's socket accepts; rejects if the daemon exits first. */
export async function waitForSocket(socketPath: string, daemon: DaemonProcess, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited = false;
  void daemon.exited.then(() => { exited = true; });
  while (Date.now() < until) {
    if (exited) throw new Error(`otcd exited before its socket was up:\n${daemon.log.join('\n')}`);
    try {
      const client = await IntentClient.connect(socketPath);
      client.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`otcd's socket ${socketPath} did not come up within ${timeoutMs} ms:\n${daemon.log.join('\n')}`);
}

/** Resolves once otcd reports its terminal link up; a kiosk app starting with the daemon waits the same way. */
export async function waitForTerminalLink(client: IntentClient, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const reply = await client.request({ op: 'health' });
    const health = reply.health as { terminal?: { link?: string } } | undefined;
    if (health?.terminal?.link === 'up') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`otcd's terminal link did not come up within ${timeoutMs} ms`);
}
