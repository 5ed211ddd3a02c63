/**
 * The ledger's record format: what one payment looks like in the ledger, how a
 * change line merges into it, and the one reading of a whole ledger text (the
 * daemon's replay and `otcctl payments` both use it).
 *
 * No card data is ever part of a record: amounts, refs, states, codes, a
 * masked PAN, and a hash of the authorizationId (enough to tell a repeated
 * `pay` from a conflicting one).
 */
import type { PaymentState, VoidState } from './model.js';

export const LEDGER_FILE = 'ledger.jsonl';
export const LEDGER_VERSION = 1;

/** One payment as the ledger keeps it (merged from its change lines). */
export interface LedgerRecord {
  id: string;
  st: PaymentState;
  /** Wall ms of the first and the latest change. */
  created: number;
  at: number;
  amount: number;
  inst: number;
  /** sha256 of the authorizationId, hex, first 32 chars. */
  authHash: string;
  attempt: number;
  /** The ref of the latest AUTH that may have reached the terminal. */
  ref?: string;
  /** Every ref this payment has sent in an AUTH (never reused). */
  refs?: string[];
  /** True once the terminal ACKed the AUTH of `ref` (it holds the card data). */
  acked?: boolean;
  /** True once the terminal reported the card data upstream (PROG SENT or a result). */
  sent?: boolean;
  /** Wall ms of the current attempt's window end. */
  deadline?: number;
  code?: string;
  message?: string;
  approvalNo?: string;
  maskedPan?: string;
  resCd?: string;
  resMsg?: string;
  /** An `unknown` payment that still waits for a LAST answer from the terminal. */
  reconcile?: boolean;
  /** The void of an approved payment while it is not `voided` (void-run.ts). */
  vst?: VoidState;
  /** The ref of the latest VOID (fresh for every VOID, never an AUTH's). */
  vref?: string;
  /** Every ref this payment has sent in a VOID. */
  vrefs?: string[];
  /** True once the terminal ACKed the VOID of `vref`. */
  vacked?: boolean;
  /** The void's outcome is unknown for want of any answer: otcd asks LAST(vref) until it learns it. */
  vlast?: boolean;
  /** The refusal's or the unknown outcome's code and message. */
  vcode?: string;
  vmsg?: string;
  /** The client's reason for the void (printable ASCII, at most 80). */
  vreason?: string;
  /** The reversal's number (RSLT 00, or with AV the earlier reversal's) and when it was learned (wall ms). */
  voidApprovalNo?: string;
  voidedAt?: number;
  /** Wall ms at which a void whose outcome was unknown was resolved with LAST. */
  vresolvedAt?: number;
  /**
   * Wall ms since which a VOID of this payment has had an unknown outcome,
   * and that VOID's ref: kept (a later change does not move them) until the
   * terminal settles it: voided, a refusal of a VOID the terminal ran past
   * its AV check, or a refusal of that very VOID. A retry refused before the
   * AV check (BY, NF, CN, IV, or otcd's own refusals) leaves them: the
   * earlier VOID may still have reversed the payment.
   */
  vunknownAt?: number;
  vunknownRef?: string;
  /** An `unknown` payment whose outcome was later learned from the terminal, and when (wall ms). */
  resolved?: boolean;
  resolvedAt?: number;
  /**
   * The terminal operation number of `ref`'s frame: how many AUTH (and VOID)
   * frames otcd had sent, this one included. The terminal remembers only its
   * latest 16 outcomes, so an `NF` to LAST means "never ran" only while fewer
   * than 16 frames have gone out since.
   */
  termSeq?: number;
  /** The terminal operation number of `vref`'s VOID frame (see termSeq). */
  vtermSeq?: number;
}

export type LedgerChange = Partial<LedgerRecord> & { id: string };

const FINAL_STATES = new Set<PaymentState>(['approved', 'declined', 'cancelled', 'expired', 'failed', 'unknown', 'voided']);

export function isFinal(record: Pick<LedgerRecord, 'st'>): boolean {
  return FINAL_STATES.has(record.st);
}

/**
 * An approved payment one of whose VOIDs has an unknown outcome: the money
 * may not have gone back. (A ledger written before `vunknownAt` existed
 * says so with `vst: 'unknown'` alone.)
 */
export function voidOutcomeUnknownSince(record: Pick<LedgerRecord, 'st' | 'vst' | 'vunknownAt' | 'at'>): number | undefined {
  if (record.st !== 'approved') return undefined;
  if (typeof record.vunknownAt === 'number') return record.vunknownAt;
  return record.vst === 'unknown' ? record.at : undefined;
}

/** A void is running, or its outcome waits for LAST: the payment can still change on its own. */
export function isVoidOpen(record: Pick<LedgerRecord, 'vst' | 'vlast'>): boolean {
  return record.vst === 'voiding' || record.vlast === true;
}

/**
 * Done: final, not waiting for reconciliation and no void open. A done record
 * changes again only when the client voids an approved payment: the engine
 * first loads the whole record back into memory (Ledger.hold), so the change
 * merges into it rather than starting a new record. Everything else about a
 * done record is on disk only.
 */
export function isDone(record: LedgerRecord): boolean {
  return FINAL_STATES.has(record.st) && record.reconcile !== true && !isVoidOpen(record);
}

/** A done record whose later lines may still come: an approved payment can be voided. */
export function mayChangeAfterDone(record: Pick<LedgerRecord, 'st'>): boolean {
  return record.st === 'approved';
}

/** A change as one ledger line: a field cleared with `undefined` is written as null, so replay clears it too. */
export function changeLine(change: LedgerChange | LedgerRecord): string {
  return JSON.stringify(change, (_key, value: unknown) => (value === undefined ? null : value)) + '\n';
}

export type ParsedLine = { kind: 'change'; change: LedgerChange } | { kind: 'header'; termSeq: number } | { kind: 'invalid' };

/**
 * The file's first line. A compacted file carries the terminal operation
 * number reached so far, which the payments it dropped (past retention) can
 * no longer tell.
 */
export function headerLine(termSeq: number): string {
  return `${JSON.stringify(termSeq > 0 ? { v: LEDGER_VERSION, termSeq } : { v: LEDGER_VERSION })}\n`;
}

/** Reads one line (without its newline). */
export function parseLine(line: string): ParsedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { kind: 'invalid' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { kind: 'invalid' };
  if (typeof (parsed as { id?: unknown }).id === 'string') return { kind: 'change', change: parsed as LedgerChange };
  const header = parsed as { v?: unknown; termSeq?: unknown };
  if (header.v !== LEDGER_VERSION) return { kind: 'invalid' };
  return { kind: 'header', termSeq: typeof header.termSeq === 'number' && Number.isSafeInteger(header.termSeq) ? header.termSeq : 0 };
}

/** Merges one change into a payment's record: null clears a field, refs and VOID refs accumulate. */
export function mergeChange(previous: LedgerRecord | undefined, change: LedgerChange): LedgerRecord {
  const merged = { ...previous, ...change } as Record<string, unknown>;
  for (const key of Object.keys(merged)) {
    if (merged[key] === null || merged[key] === undefined) delete merged[key];
  }
  // Every ref ever sent, from earlier changes, a compacted line's list, and this change.
  const refs = [...(previous?.refs ?? [])];
  for (const ref of [...(Array.isArray(change.refs) ? change.refs : []), ...(typeof change.ref === 'string' ? [change.ref] : [])]) {
    if (!refs.includes(ref)) refs.push(ref);
  }
  if (refs.length > 0) merged.refs = refs;
  const vrefs = [...(previous?.vrefs ?? [])];
  for (const vref of [...(Array.isArray(change.vrefs) ? change.vrefs : []), ...(typeof change.vref === 'string' ? [change.vref] : [])]) {
    if (!vrefs.includes(vref)) vrefs.push(vref);
  }
  if (vrefs.length > 0) merged.vrefs = vrefs;
  // The first unknown void stands until a change clears it.
  if (typeof previous?.vunknownAt === 'number' && typeof change.vunknownAt === 'number') {
    merged.vunknownAt = previous.vunknownAt;
    if (previous.vunknownRef !== undefined) merged.vunknownRef = previous.vunknownRef;
    else delete merged.vunknownRef;
  }
  return merged as unknown as LedgerRecord;
}

/**
 * Replays ledger text into `into` (merged per id, in first-appearance order).
 * For readers that want every record at once (`otcctl payments`, tests); the
 * daemon streams the file instead and keeps only what it must.
 */
export function replayLedger(text: string, into = new Map<string, LedgerRecord>()): { records: Map<string, LedgerRecord>; skippedLines: number } {
  let skippedLines = 0;
  const lines = text.split('\n');
  // A last line without its newline is a write cut short (or still going on),
  // even if what reached the file parses: the daemon's replay skips it too.
  const torn = lines.pop() ?? '';
  if (torn.length > 0) skippedLines++;
  for (const line of lines) {
    if (line.length === 0) continue;
    const parsed = parseLine(line);
    if (parsed.kind === 'invalid') skippedLines++;
    if (parsed.kind !== 'change') continue;
    into.set(parsed.change.id, mergeChange(into.get(parsed.change.id), parsed.change));
  }
  return { records: into, skippedLines };
}
