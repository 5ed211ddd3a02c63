#!/usr/bin/env node
// terminal-sim: the card terminal side of ecr1, as a real program. Wiring only;
// the layers live in scripts/terminal-sim/. Run with --help.
import { EventLog } from './terminal-sim/events.js';
import { TerminalLink } from './terminal-sim/link.js';
import { HELP, parseOptions, UsageError, type SimOptions } from './terminal-sim/options.js';
import { Terminal } from './terminal-sim/terminal.js';
import { SerialTransport, TcpTransport, type Transport } from './terminal-sim/transport.js';

const EXIT_USAGE = 2;
const EXIT_DROPPED_MID_FRAME = 3;

async function main(): Promise<void> {
  let opts: SimOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`terminal-sim: ${e.message}\nTry --help.\n`);
    process.exit(EXIT_USAGE);
  }
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  const events = new EventLog(opts.quiet);
  const transport: Transport = opts.port !== undefined
    ? new SerialTransport(opts.port, opts.baud)
    : new TcpTransport(opts.listen?.host ?? '127.0.0.1', opts.listen?.port ?? 0);
  const link = new TerminalLink(transport, events, opts.faults, opts.startSeq);
  const terminal = new Terminal(link, events, opts.behaviour, () => {
    if (opts.port !== undefined) {
      events.emit({ ev: 'exit', code: EXIT_DROPPED_MID_FRAME });
      process.exit(EXIT_DROPPED_MID_FRAME);
    }
  });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    terminal.stop();
    void transport.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const where = await transport.start({
    opened: () => link.linkOpened(),
    data: (chunk) => link.receive(chunk),
    closed: () => link.linkClosed(),
  });
  events.ready(where);
}

main().catch((e: unknown) => {
  process.stderr.write(`terminal-sim: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
