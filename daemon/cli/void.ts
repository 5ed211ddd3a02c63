/**
 * `otcctl void`: reverses an approved payment at the terminal, for a
 * technician settling a purchase the kiosk could not deliver. Events are
 * shown as they come until the void ends. Ctrl-C asks otcd to cancel the
 * void (it stops only if the reversal has not gone upstream yet) and waits
 * for its end; a second Ctrl-C stops waiting (the void goes on in otcd).
 */
import type { DaemonMessage, IntentClient } from '../client/intent-client.js';
import { MAX_VOID_REASON_LENGTH } from '../intents/protocol.js';
import { isVoidPending, type VoidView } from '../payments/model.js';
import { SOCKET_OPTIONS, SOCKET_OPTIONS_HELP, type Command, type Output } from './command.js';
import { connectDaemon } from './daemon-link.js';
import { UsageError } from './errors.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { CANCEL_REQ, followIntent } from './follow-intent.js';
import { formatClock, printable } from './format.js';
import { socketTarget } from './target.js';
import { errorView, eventView, intentView, messageView, type EventSummary, type IntentSummary } from './views.js';

const INTENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const REASON_PATTERN = new RegExp(`^[\\x20-\\x7E]{0,${MAX_VOID_REASON_LENGTH}}$`);
const VOID_REQ = 'void';
const BAD_REQUEST_CODES = new Set(['BAD_REQUEST', 'LINE_TOO_LONG', 'UNKNOWN_OP']);

export interface VoidRequestFields { intentId: string; reason?: string }

export function voidRequestFields(values: Record<string, string | boolean | undefined>): VoidRequestFields {
  const intentId = values['intent-id'];
  if (typeof intentId !== 'string') throw new UsageError('--intent-id ID is required: the approved payment to void (see otcctl payments)');
  if (!INTENT_ID_PATTERN.test(intentId)) throw new UsageError('--intent-id must be 1 to 64 characters of A-Z a-z 0-9 . _ : -');
  const reason = values.reason;
  if (reason !== undefined && (typeof reason !== 'string' || !REASON_PATTERN.test(reason))) {
    throw new UsageError(`--reason must be 0 to ${MAX_VOID_REASON_LENGTH} printable ASCII characters`);
  }
  return { intentId, ...(typeof reason === 'string' ? { reason } : {}) };
}

/** Where a void stands in a reply or event: ended (with an exit code), or still going. */
export function voidEnd(view: { state: string; void?: VoidView }): number | undefined {
  if (view.state === 'voided') return EXIT.OK;
  if (view.state !== 'approved' || view.void === undefined || isVoidPending(view.void)) return undefined;
  return view.void.state === 'refused' ? EXIT.NOT_APPROVED : EXIT.UNKNOWN;
}

export const voidCommand: Command = {
  name: 'void',
  summary: 'reverse an approved payment at the terminal; Ctrl-C cancels',
  help: `usage: otcctl void --intent-id ID [--reason TEXT] [--socket PATH] [--config FILE] [--json]

Reverses an approved payment at the card terminal (the customer paid and the
kiosk could not deliver) and shows the void's events until it ends. The
terminal reverses from its own record of the approval: no card is needed.
Running it again for the same payment is safe: otcd never reverses twice.

Outcome (the exit code):
  voided            reversed (0); the reversal number is shown
  approved/refused  nothing was reversed (1): the code says why (NF: the
                    terminal no longer holds the approval, e.g. after its
                    daily settlement; AM: amount mismatch; BY: terminal busy,
                    void again; any other code: the acquirer refused)
  approved/unknown  not known (2): TO means the reversal timed out upstream,
                    void again to settle it (the terminal answers AV if it
                    went through); otcd follows an unanswered VOID with LAST
                    by itself and this command waits for that

Ctrl-C asks otcd to cancel the void and waits for its end: it stops only
if the reversal has not gone upstream yet. A second Ctrl-C stops waiting
(exit 2): the void goes on in otcd; see otcctl payments.

options:
  --intent-id ID          the approved payment to void
  --reason TEXT           why, kept with the payment (0 to ${MAX_VOID_REASON_LENGTH} printable ASCII characters)
${SOCKET_OPTIONS_HELP.replace('one JSON document on stdout instead of text for people', 'each message from otcd as one JSON line')}

${EXIT_CODES_HELP}
  void: 0 voided, 1 nothing reversed or refused (NOT_VOIDABLE, BUSY, NOT_FOUND), 2 outcome unknown`,
  options: {
    ...SOCKET_OPTIONS,
    'intent-id': { type: 'string' },
    reason: { type: 'string' },
  },
  async run({ values, output, env }) {
    const fields = voidRequestFields(values);
    const client = await connectDaemon(socketTarget(values, env));
    return runVoid(client, fields, output, values.json === true);
  },
};

/** Follows one void to its end; resolves with the exit code. */
export async function runVoid(client: IntentClient, fields: VoidRequestFields, output: Output, json: boolean): Promise<number> {
  const { intentId } = fields;
  const show = (m: DaemonMessage): void => {
    if (json) {
      const view = messageView(m);
      if (view) output.out(JSON.stringify(view));
      return;
    }
    if (m.type === 'error') {
      const e = errorView(m);
      if (e) output.err(`otcd: ${e.code}: ${printable(e.message)}`);
      return;
    }
    if (m.type === 'reply' && m.req === CANCEL_REQ) return;
    const view = m.type === 'reply' ? intentView(m.intent) : m.type === 'event' && m.intentId === intentId ? eventView(m) : undefined;
    if (view) output.out(voidLine(view));
  };
  if (!json) output.out(`voiding ${intentId}`);
  const code = await followIntent(client, {
    line: { op: 'void', req: VOID_REQ, intentId, ...(fields.reason === undefined ? {} : { reason: fields.reason }) },
    show,
    note: (text) => output.err(`otcctl: ${text}`),
    refused: (errorCode = '') => (BAD_REQUEST_CODES.has(errorCode) ? EXIT.USAGE : EXIT.NOT_APPROVED),
    ended: voidEnd,
    words: {
      cancelling: (signal) => `${signal === 'SIGINT' ? 'Ctrl-C' : signal}: cancelling the void of ${intentId} and waiting for its end (again to stop waiting)`,
      stoppedWaiting: `stopped waiting: the void of ${intentId} goes on in otcd; see otcctl payments`,
      lost: (reason) => `lost otcd before the void ended (${reason}); see otcctl payments`,
    },
  });
  if (!json) output.out(code === EXIT.OK ? 'VOIDED' : code === EXIT.NOT_APPROVED ? 'NOT VOIDED: nothing was reversed' : 'VOID OUTCOME UNKNOWN: see the code above and otcctl payments');
  return code;
}

function voidLine(v: IntentSummary | EventSummary): string {
  const at = 'at' in v && v.at !== undefined ? v.at : (v as IntentSummary).updatedAt;
  const time = at !== undefined && !Number.isNaN(Date.parse(at)) ? formatClock(Date.parse(at)) : ' '.repeat(12);
  const parts: string[] = [];
  if (v.void) parts.push(`void ${v.void.state}`, ...[v.void.code, v.void.message].filter((x): x is string => x !== undefined).map(printable));
  if (v.voidApprovalNo) parts.push(`reversal ${printable(v.voidApprovalNo)}`);
  if (v.approvalNo) parts.push(`approval ${printable(v.approvalNo)}`);
  if (v.maskedPan) parts.push(`card ${v.maskedPan}`);
  if (!v.void && v.state !== 'approved' && v.state !== 'voided') {
    if (v.code) parts.push(printable(v.code));
    if (v.message) parts.push(printable(v.message));
  }
  if ((v as { resolved?: unknown }).resolved === true) parts.push('(resolved with LAST)');
  return `${time}  ${v.state.padEnd(10)}  ${parts.join('  ')}`.trimEnd();
}
