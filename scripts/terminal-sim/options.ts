// Command line of the terminal simulator, and the help a technician reads.
import { parseArgs } from 'node:util';
import { VOID_MODES, type Behaviour, type VoidMode } from './terminal.js';
import type { LinkFaults } from './link.js';

export const HELP = `terminal-sim: a card payment terminal speaking ecr1 (shared/spec/terminal-protocol.md)
on a serial device or a TCP port, for tests, the demo and rehearsals without hardware.

USAGE
  node dist/scripts/terminal-sim.js --port <device> [options]
  node dist/scripts/terminal-sim.js --listen tcp://127.0.0.1:<port|0> [options]

LINK
  --port PATH          serial device or pty link (8N1, no flow control). If it
                       disappears (adapter unplugged, socat killed) the simulator
                       retries opening it every 200 ms until it is back.
  --baud N             line speed (default 115200; 9600..115200 per spec)
  --listen URL         tcp://HOST:PORT; one host connection at a time, a new
                       connection replaces the old one (a link reopen). Port 0
                       picks a free port, printed in the ready line.

TERMINAL
  --terminal-id ID     1..16 printable chars, sent in PONG (default SIM-T01)
  --busy               answer every AUTH and VOID with RSLT code BY
  --decline CODE       decline every approval with this two-char code (not 00)
  --omit-prog          no PROG during approvals (CNCL/LAST of an open AUTH still
                       get PROG, as the spec requires)
  --prog-sent-delay MS time from PROG RCVD to PROG SENT (default 300)
  --result-delay MS    time from PROG SENT to RSLT (default 300)
  --slow-ms MS         RCVD->SENT time of the "slow" amount ...077 (default 20000)
  --slow-first N       the first N AUTHs taken are slow too, whatever their amount
                       (a window lost, then a re-inquiry that goes through)
  --silent-after-auth  ACK every AUTH, then never send PROG/RSLT for it; CNCL and
                       LAST of it are answered PROG(ref, RCVD). Such an AUTH does
                       not make the terminal busy for the next one.
  --approval-no N      first approval number (8 digits, counts up; default random)
  --start-seq N        first SEQ this terminal sends, 0..99 (default random)

VOIDS (spec 6a: reversing an approval this terminal made)
  The terminal keeps its approvals (up to 10000) and reverses each at most once.
  A VOID is answered in this order: BY if another AUTH or VOID is open (or
  --busy), NF if it knows no approval with that origRef, AV if that approval
  was already reversed, AM if the amount is not the approved one; otherwise
  --void MODE decides:
  --void MODE          reverse       PROG RCVD, PROG SENT, RSLT 00 with a reversal
                                     number (default)
                       refuse        the acquirer refuses: RSLT with --void-refuse-code
                       timeout       RSLT TO, but the reversal went through
                                     upstream: a new VOID for it gets AV
                       timeout-lost  RSLT TO, and it did not: a new VOID reverses
                       silent        ACK, then no PROG/RSLT on its own; the
                                     reversal still runs and LAST/CNCL of its
                                     ref answer the truth
                       av            as if reversed earlier at the terminal: AV
                       am            AM whatever the amount
                       nf            NF, as if the approval were settled and gone
  --void-refuse-code C the acquirer's code for --void refuse (default R1; not
                       00 AV AM NF BY CN IV TO)
  --void-first N       --void applies to the first N VOIDs received; later ones
                       are reversed (e.g. --void timeout-lost --void-first 1:
                       a TO, then a new VOID that goes through)
  A VOID's timing follows --prog-sent-delay and --result-delay; --omit-prog
  drops its PROG frames too; CNCL before PROG SENT cancels it (CN).

FAULTS
  --nak-first N        NAK the first N complete frames received (not acted on)
  --swallow-acks N     do not ACK the first N good frames received, but act on
                       each new one once (retransmissions count towards N)
  --swallow-void-acks N  the same for the first N frames carrying a VOID (a lost
                       ACK of the VOID: the host sends it again, it is acted on once)
  --lrc-errors N       send the first N frame transmissions with a wrong LRC
  --noise              send 1..4 random noise bytes (never STX/ACK/NAK) before
                       every frame
  --drop-mid-frame     on the first AUTH, send half of its PROG RCVD frame, then
                       close the port and exit with code 3 (--port), or drop the
                       connection and carry on (--listen)

AMOUNT SCENARIOS (last three digits of the AUTH amount, e.g. 12051)
  ...000  approve (or --decline)          ...066  silent after AUTH
  ...051  decline 51 INSUFFICIENT FUNDS   ...044  RSLT TO (timed out upstream)
  ...099  busy: RSLT BY                   ...033  no PROG for this AUTH
  ...077  slow: PROG SENT only after --slow-ms, so a CNCL before SENT wins (CN)
  any other ending: approve (or --decline).
  Order: an AUTH while another is open gets BY; then --busy; then the amount
  scenario; then --decline; then approve. An AUTH with a ref the terminal
  already knows is answered as LAST.

OUTPUT
  One JSON object per line on stdout. First {"ev":"ready","port":PATH} or
  {"ev":"ready","tcpPort":N}; then events such as rx, tx, ack-sent, nak-sent,
  ack-rx, nak-rx, ack-timeout, send-failed, link-open, link-closed, stage,
  outcome. Track 2 and full PANs are never printed (only the masked PAN).
  --quiet              print only the ready line
  --help               this text

SIGTERM or SIGINT closes the link and exits 0. Exit 2: bad command line.
`;

export class UsageError extends Error {
  readonly code = 'SIM_USAGE';
}

export interface SimOptions {
  port: string | undefined;
  listen: { host: string; port: number } | undefined;
  baud: number;
  quiet: boolean;
  help: boolean;
  startSeq: number | undefined;
  faults: LinkFaults;
  behaviour: Behaviour;
}

const MAX_TCP_PORT = 65535;
const MAX_SEQ = 99;
const MAX_APPROVAL_NO = 99_999_999;
/** Result codes with a meaning of their own: an acquirer's refusal cannot use them. */
const RESERVED_CODES = ['00', 'AV', 'AM', 'NF', 'BY', 'CN', 'IV', 'TO'];

function int(name: string, v: string | undefined, def: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  if (!/^[0-9]+$/.test(v) || Number(v) > max) throw new UsageError(`--${name} needs a whole number 0..${max}, got "${v}"`);
  return Number(v);
}

function parseListen(url: string): { host: string; port: number } {
  const m = /^tcp:\/\/([^:/]+):([0-9]+)$/.exec(url);
  if (!m) throw new UsageError(`--listen needs tcp://HOST:PORT, got "${url}"`);
  return { host: m[1], port: int('listen port', m[2], 0, MAX_TCP_PORT) };
}

export function parseOptions(argv: string[]): SimOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        listen: { type: 'string' },
        baud: { type: 'string' },
        'terminal-id': { type: 'string' },
        busy: { type: 'boolean' },
        decline: { type: 'string' },
        'omit-prog': { type: 'boolean' },
        'prog-sent-delay': { type: 'string' },
        'result-delay': { type: 'string' },
        'slow-ms': { type: 'string' },
        'slow-first': { type: 'string' },
        'nak-first': { type: 'string' },
        'swallow-acks': { type: 'string' },
        'swallow-void-acks': { type: 'string' },
        'lrc-errors': { type: 'string' },
        noise: { type: 'boolean' },
        'drop-mid-frame': { type: 'boolean' },
        'silent-after-auth': { type: 'boolean' },
        'approval-no': { type: 'string' },
        void: { type: 'string' },
        'void-refuse-code': { type: 'string' },
        'void-first': { type: 'string' },
        'start-seq': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const help = values.help === true;
  if (!help && (values.port === undefined) === (values.listen === undefined)) {
    throw new UsageError('give exactly one of --port PATH or --listen tcp://HOST:PORT');
  }
  const terminalId = values['terminal-id'] ?? 'SIM-T01';
  if (!/^[\x20-\x7e]{1,16}$/.test(terminalId)) throw new UsageError('--terminal-id needs 1..16 printable ASCII chars');
  const decline = values.decline;
  if (decline !== undefined && (!/^[\x20-\x7e]{2}$/.test(decline) || decline === '00')) {
    throw new UsageError('--decline needs a two-char code other than 00, e.g. 51');
  }
  const baud = int('baud', values.baud, 115200);
  if (baud === 0) throw new UsageError('--baud must be positive');
  const approvalNo = values['approval-no'];
  const voidMode = values.void ?? 'reverse';
  if (!(VOID_MODES as readonly string[]).includes(voidMode)) throw new UsageError(`--void needs one of ${VOID_MODES.join(', ')}, got "${voidMode}"`);
  const voidRefuseCode = values['void-refuse-code'] ?? 'R1';
  if (!/^[\x20-\x7e]{2}$/.test(voidRefuseCode) || RESERVED_CODES.includes(voidRefuseCode)) {
    throw new UsageError(`--void-refuse-code needs a two-char acquirer code other than ${RESERVED_CODES.join(' ')}, e.g. R1`);
  }
  return {
    port: values.port,
    listen: values.listen === undefined ? undefined : parseListen(values.listen),
    baud,
    quiet: values.quiet === true,
    help,
    startSeq: values['start-seq'] === undefined ? undefined : int('start-seq', values['start-seq'], 0, MAX_SEQ),
    faults: {
      nakFirst: int('nak-first', values['nak-first'], 0),
      swallowAcks: int('swallow-acks', values['swallow-acks'], 0),
      swallowVoidAcks: int('swallow-void-acks', values['swallow-void-acks'], 0),
      lrcErrors: int('lrc-errors', values['lrc-errors'], 0),
      noise: values.noise === true,
    },
    behaviour: {
      terminalId,
      busy: values.busy === true,
      decline,
      omitProg: values['omit-prog'] === true,
      progSentDelayMs: int('prog-sent-delay', values['prog-sent-delay'], 300),
      resultDelayMs: int('result-delay', values['result-delay'], 300),
      slowMs: int('slow-ms', values['slow-ms'], 20_000),
      slowFirst: int('slow-first', values['slow-first'], 0),
      dropMidFrame: values['drop-mid-frame'] === true,
      silentAfterAuth: values['silent-after-auth'] === true,
      approvalNo: approvalNo === undefined ? undefined : int('approval-no', approvalNo, 0, MAX_APPROVAL_NO),
      voidMode: voidMode as VoidMode,
      voidRefuseCode,
      voidFirst: values['void-first'] === undefined ? Number.POSITIVE_INFINITY : int('void-first', values['void-first'], 0),
    },
  };
}
