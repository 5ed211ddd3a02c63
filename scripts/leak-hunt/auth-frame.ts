/**
 * The one place card data may go: an ecr1 AUTH frame written to the terminal
 * link (shared/spec/terminal-protocol.md: STX | BODY | ETX | LRC, BODY =
 * SEQ FS AUTH FS ref FS amount FS installment FS track2). Checked here
 * independently of drivers/ecr1, byte by byte, so a bug in the product's
 * framing cannot widen the allowance.
 */

const STX = 0x02;
const ETX = 0x03;
const FS = 0x1c;
const MAX_BODY_BYTES = 1024;
const PRINTABLE_FIRST = 0x20;
const PRINTABLE_LAST = 0x7e;
/** SEQ, CMD, ref, amount, installment, track2. */
const AUTH_FIELD_COUNT = 6;
const SEQ_DIGITS = /^[0-9]{2}$/;

/** True when `chunk` is exactly one well-formed ecr1 frame (right LRC) whose command is AUTH. */
export function isAuthFrame(chunk: Buffer): boolean {
  if (chunk.length < 4 || chunk[0] !== STX || chunk[chunk.length - 2] !== ETX) return false;
  const body = chunk.subarray(1, chunk.length - 2);
  if (body.length === 0 || body.length > MAX_BODY_BYTES) return false;
  let lrc = ETX;
  for (const b of body) {
    if (b !== FS && (b < PRINTABLE_FIRST || b > PRINTABLE_LAST)) return false;
    lrc ^= b;
  }
  if (lrc !== chunk[chunk.length - 1]) return false;
  const fields = body.toString('latin1').split(String.fromCharCode(FS));
  return fields.length === AUTH_FIELD_COUNT && SEQ_DIGITS.test(fields[0]!) && fields[1] === 'AUTH';
}

/** What a traced fd was, from strace -yy's description of it. */
export type TargetKind =
  | 'terminal link: pty' | 'terminal link: TCP' | 'provider: TCP (TLS)' | 'TCP (other)'
  | 'intent socket (UNIX stream)' | 'UNIX stream (other)' | 'UNIX datagram (notify)' | 'UNIX other'
  | 'stdout/stderr' | 'pipe (other)'
  | 'ledger file' | 'state dir (other files)' | 'other file'
  | 'eventfd/internal' | 'other';

/** What the daemon's configuration says about its peers (CaptureMeta). */
export interface DaemonPeers {
  stateDir?: string;
  /** The TCP port of [terminal] address, when it is tcp://. */
  terminalPort?: number;
  /** The TCP port of [provider] base_url. */
  providerPort?: number;
}

export function targetKind(fd: number, target: string, peers: DaemonPeers = {}): TargetKind {
  // Node's stdio 'pipe' is a socketpair; whatever it is, fd 1 and 2 are the log.
  if (fd === 1 || fd === 2) return 'stdout/stderr';
  // strace 6 adds the device numbers: "/dev/pts/2<char 136:2>".
  if (/^\/dev\/(pts\/\d+|ptmx|tty[A-Za-z0-9]*)(<char \d+:\d+>)?$/.test(target)) return 'terminal link: pty';
  const tcp = /^TCP(?:v6)?:\[.*->.*[:\]](\d+)\]$/.exec(target);
  if (tcp) {
    const port = Number(tcp[1]);
    if (port === peers.terminalPort) return 'terminal link: TCP';
    if (port === peers.providerPort) return 'provider: TCP (TLS)';
    return 'TCP (other)';
  }
  if (target.startsWith('UNIX-STREAM:[')) return target.includes(',"') ? 'intent socket (UNIX stream)' : 'UNIX stream (other)';
  if (target.startsWith('UNIX-DGRAM:[')) return 'UNIX datagram (notify)';
  if (target.startsWith('UNIX')) return 'UNIX other';
  if (target.startsWith('pipe:[')) return 'pipe (other)';
  if (target.startsWith('anon_inode:')) return 'eventfd/internal';
  if (target.startsWith('/')) {
    const base = target.slice(target.lastIndexOf('/') + 1);
    if (base.startsWith('ledger.jsonl')) return 'ledger file';
    if (peers.stateDir !== undefined && target.startsWith(`${peers.stateDir}/`)) return 'state dir (other files)';
    return 'other file';
  }
  return 'other';
}

/** Targets on which an AUTH frame is the terminal link doing its job. */
export function isTerminalLink(kind: TargetKind): boolean {
  return kind === 'terminal link: pty' || kind === 'terminal link: TCP';
}

/** May this hit stand? Only inside one chunk that is an AUTH frame, written to the terminal link. */
export function isAllowedHit(kind: TargetKind, chunk: Buffer | undefined): boolean {
  return isTerminalLink(kind) && chunk !== undefined && isAuthFrame(chunk);
}
