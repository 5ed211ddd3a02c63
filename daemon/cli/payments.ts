/** `otcctl payments`: recent payments, read from the ledger file (no daemon needed). */
import type { LedgerRecord } from '../payments/ledger.js';
import { voidOutcomeUnknownSince } from '../payments/ledger-record.js';
import { intOption, type Command } from './command.js';
import { CliError } from './errors.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { formatAmount, formatDateTime, formatTable, printable, safeMaskedPan } from './format.js';
import { readLedger } from './ledger-reader.js';
import { stateDirTarget } from './target.js';

const DEFAULT_LAST = 20;
const MAX_LAST = 100_000;

/**
 * A payment as otcctl shows it: the ledger's fields a technician needs, by
 * name. Internal fields (the authorizationId hash, terminal refs, ACK flags)
 * stay in the ledger.
 */
export interface PaymentRow {
  intentId: string;
  state: string;
  amount: number;
  installment: number;
  attempt: number;
  createdAt: string;
  updatedAt: string;
  approvalNo?: string;
  maskedPan?: string;
  code?: string;
  message?: string;
  resCd?: string;
  resMsg?: string;
  /** An `unknown` payment otcd still tries to settle with the terminal. */
  reconciling?: boolean;
  /** An approved payment's void while it is not voided: voiding, refused, unknown. */
  void?: { state: string; code?: string; message?: string; asking?: boolean };
  /** An approved payment one of whose VOIDs has an unknown outcome, since when (even while a retry runs or after it was refused before the terminal looked). */
  voidUnknownSince?: string;
  voidApprovalNo?: string;
  voidedAt?: string;
  voidReason?: string;
  /** Once `unknown`, its outcome learned later from the terminal (see the intent spec's resolution). */
  resolved?: boolean;
  resolvedAt?: string;
}

export function paymentRow(r: LedgerRecord): PaymentRow {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const row: PaymentRow = {
    intentId: r.id, state: r.st, amount: r.amount,
    installment: typeof r.inst === 'number' ? r.inst : 0,
    attempt: typeof r.attempt === 'number' ? r.attempt : 0,
    createdAt: new Date(r.created).toISOString(), updatedAt: new Date(r.at).toISOString(),
  };
  const optional = {
    approvalNo: str(r.approvalNo), maskedPan: safeMaskedPan(r.maskedPan), code: str(r.code),
    message: str(r.message), resCd: str(r.resCd), resMsg: str(r.resMsg),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (row as unknown as Record<string, unknown>)[k] = v;
  if (r.reconcile === true) row.reconciling = true;
  if (typeof r.vst === 'string') {
    row.void = { state: r.vst, ...(str(r.vcode) !== undefined ? { code: r.vcode } : {}), ...(str(r.vmsg) !== undefined ? { message: r.vmsg } : {}) };
    if (r.vlast === true) row.void.asking = true;
  }
  const voidUnknownSince = voidOutcomeUnknownSince(r);
  if (voidUnknownSince !== undefined) row.voidUnknownSince = new Date(voidUnknownSince).toISOString();
  if (str(r.voidApprovalNo) !== undefined) row.voidApprovalNo = r.voidApprovalNo;
  if (typeof r.voidedAt === 'number') row.voidedAt = new Date(r.voidedAt).toISOString();
  if (str(r.vreason) !== undefined) row.voidReason = r.vreason;
  // Written by daemons that resolve unknown payments; absent from older ledgers.
  const resolution = r as { resolved?: unknown; resolvedAt?: unknown };
  if (resolution.resolved === true) {
    row.resolved = true;
    if (typeof resolution.resolvedAt === 'number' && Number.isFinite(resolution.resolvedAt)) row.resolvedAt = new Date(resolution.resolvedAt).toISOString();
  }
  return row;
}

/**
 * What needs a person, in ledger order: payments whose outcome is unknown
 * (reconcile with the acquirer), and approved payments whose void's outcome
 * is unknown (the money may not have gone back).
 */
export function unresolvedRows(records: readonly LedgerRecord[]): PaymentRow[] {
  return records.filter((r) => r.st === 'unknown' || voidOutcomeUnknownSince(r) !== undefined).map(paymentRow);
}

export function renderUnresolved(rows: PaymentRow[]): string {
  if (rows.length === 0) return 'no unresolved payments: the outcome of every payment in the ledger is known';
  const payments = rows.filter((r) => r.state === 'unknown').length;
  const voids = rows.length - payments;
  const paragraphs = [renderPayments(rows)];
  if (payments > 0) {
    paragraphs.push(`${payments} payment(s) with an unknown outcome, oldest first: the card data may have reached the
acquirer. For each, ask the acquirer (or its merchant portal) whether it was charged, by the time,
amount and terminal, before charging the customer again. otcd asks the terminal (LAST) about
those it is "still asking" about whenever the link is up; one it resolves leaves this list.`);
  }
  if (voids > 0) {
    paragraphs.push(`${voids} void(s) with an unknown outcome: the customer's money may or may not have gone back.
otcd asks the terminal (LAST) about those it is "still asking" about whenever the link is up.
Void the others again (otcctl void --intent-id ID): the terminal reverses an approval at most
once and answers AV if the first void went through; a settled void leaves this list.`);
  }
  return paragraphs.join('\n\n');
}

function outcome(p: PaymentRow): string {
  const text = stateOutcome(p);
  if (!p.resolved) return text;
  const when = p.resolvedAt ? ` ${formatDateTime(Date.parse(p.resolvedAt))}` : '';
  return `${text} (was unknown; resolved${when})`.trimStart();
}

function stateOutcome(p: PaymentRow): string {
  switch (p.state) {
    case 'approved': {
      const approval = [p.approvalNo && `approval ${p.approvalNo}`, p.maskedPan && `card ${p.maskedPan}`].filter(Boolean).join(', ');
      return p.void ? `${approval}; ${voidText(p.void, p.voidUnknownSince !== undefined && p.void.state !== 'unknown')}${p.voidReason ? ` (${p.voidReason})` : ''}` : approval;
    }
    case 'voided':
      return [p.voidApprovalNo && `reversal ${p.voidApprovalNo}`, p.approvalNo && `of approval ${p.approvalNo}`, p.maskedPan && `card ${p.maskedPan}`, p.voidReason && `(${p.voidReason})`]
        .filter(Boolean).join(', ');
    case 'unknown':
      return `NEEDS RECONCILIATION${p.reconciling ? ' (otcd is still asking the terminal)' : ''}${p.code ? `: ${p.code}` : ''}`;
    default: {
      const provider = p.resCd ? ` [${p.resCd}${p.resMsg ? ` ${p.resMsg}` : ''}]` : '';
      return [p.code, p.message].filter(Boolean).join(' ') + provider;
    }
  }
}

function voidText(v: NonNullable<PaymentRow['void']>, earlierUnknown: boolean): string {
  const earlier = earlierUnknown ? '; AN EARLIER VOID\'S OUTCOME IS UNKNOWN (void again to settle it)' : '';
  switch (v.state) {
    case 'voiding':
      return `VOID RUNNING${earlier}`;
    case 'refused':
      return `void refused${v.code ? `: ${v.code}` : ''} (nothing reversed${earlierUnknown ? ' by it' : ''})${earlier}`;
    default:
      return `VOID OUTCOME UNKNOWN${v.code ? `: ${v.code}` : ''}${v.asking ? ' (otcd is still asking the terminal)' : ' (void again to settle it)'}`;
  }
}

export function renderPayments(rows: PaymentRow[]): string {
  if (rows.length === 0) return 'no payments in the ledger';
  const table = rows.map((p) => [
    formatDateTime(Date.parse(p.createdAt)), printable(p.intentId), formatAmount(p.amount),
    String(p.installment), p.state, String(p.attempt), printable(outcome(p)),
  ]);
  return formatTable(['created', 'intent', 'amount', 'inst', 'state', 'try', 'outcome'], table, new Set([2, 3, 5]));
}

export const paymentsCommand: Command = {
  name: 'payments',
  summary: 'recent payments from the ledger; works without the daemon',
  help: `usage: otcctl payments [--last N | --unresolved] [--state-dir DIR] [--config FILE] [--json]

Lists the most recent payments, oldest first and the newest last, from otcd's
payment ledger (<state_dir>/ledger.jsonl). The file is only read: this works
while otcd runs and while it is stopped. A line cut short by a power loss is
skipped (and counted). Card numbers appear only masked, as the ledger holds them.

With --unresolved: every payment whose outcome is unknown and not yet
resolved, oldest first, and what to do: reconcile each with the acquirer
before charging the customer again. (A payment otcd later resolves with the
terminal shows its new state and "was unknown; resolved".) Also every
approved payment whose void's outcome is unknown: the money may not have
gone back; void it again (otcctl void), the terminal reverses at most once.

options:
  --last N                how many payments (default ${DEFAULT_LAST}; with --unresolved: all)
  --unresolved            only the payments whose outcome, or whose void's, is unknown
  --state-dir DIR         otcd's state directory (default: daemon.state_dir of the
                          configuration, else /var/lib/otcd if it cannot be read)
  --config FILE           configuration file (default: $OTCD_CONFIG, else /etc/otcd/otcd.toml)
  --json                  {"ledger": PATH, "skippedLines": N, "payments": [...]}
                          (with --unresolved also "unresolved": true)
  -h, --help              this help

${EXIT_CODES_HELP}`,
  options: {
    last: { type: 'string' },
    unresolved: { type: 'boolean' },
    'state-dir': { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  async run({ values, output, env }) {
    const unresolved = values.unresolved === true;
    const last = intOption('last', values.last, 1, MAX_LAST, unresolved ? MAX_LAST : DEFAULT_LAST);
    const target = stateDirTarget(values, env);
    let snapshot;
    try {
      snapshot = await readLedger(target.path);
    } catch (err) {
      if (err instanceof CliError && target.note) throw new CliError(err.exitCode, err.code, `${err.message}\n${target.note}`, { cause: err });
      throw err;
    }
    const rows = unresolved ? unresolvedRows(snapshot.records).slice(-last) : snapshot.records.slice(-last).map(paymentRow);
    if (values.json) {
      output.out(JSON.stringify({ ledger: snapshot.path, skippedLines: snapshot.skippedLines, ...(unresolved ? { unresolved: true } : {}), payments: rows }));
    } else {
      output.out(unresolved ? renderUnresolved(rows) : renderPayments(rows));
      if (snapshot.skippedLines > 0) {
        output.err(`note: ${snapshot.skippedLines} unreadable line(s) in ${snapshot.path} were skipped (a write cut short by a power loss, or one in progress)`);
      }
    }
    return EXIT.OK;
  },
};
