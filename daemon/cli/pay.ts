/**
 * `otcctl pay`: a real payment from the command line, for commissioning a
 * kiosk. Events are shown as they come; Ctrl-C sends `cancel` and waits for
 * the final event (a second Ctrl-C stops waiting: the payment goes on in
 * otcd). The exit code is the outcome.
 *
 * Output order is arrival order: the reply and the events are rendered from
 * IntentClient.onMessage, which sees every message as it is parsed.
 */
import { randomBytes } from 'node:crypto';
import type { DaemonMessage, IntentClient } from '../client/intent-client.js';
import { MAX_AMOUNT, MAX_AUTHORIZATION_ID_LENGTH, MAX_INSTALLMENT } from '../intents/protocol.js';
import type { PaymentState } from '../payments/model.js';
import { SOCKET_OPTIONS, SOCKET_OPTIONS_HELP, intOption, type Command, type Output } from './command.js';
import { connectDaemon } from './daemon-link.js';
import { UsageError } from './errors.js';
import { EXIT, EXIT_CODES_HELP } from './exit-codes.js';
import { CANCEL_REQ, followIntent } from './follow-intent.js';
import { formatAmount, formatClock, printable } from './format.js';
import { socketTarget } from './target.js';
import { errorView, eventView, intentView, messageView, type EventSummary, type IntentSummary } from './views.js';

/** The spec's intentId alphabet (intent-protocol.md). */
const INTENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
/** Printable ASCII without space, as the spec requires of authorizationId. */
const AUTHORIZATION_ID_PATTERN = new RegExp(`^[\\x21-\\x7E]{1,${MAX_AUTHORIZATION_ID_LENGTH}}$`);

const EXIT_BY_STATE: Record<PaymentState, number | undefined> = {
  accepted: undefined, inquiring: undefined, delivering: undefined, processing: undefined,
  approved: EXIT.OK,
  declined: EXIT.NOT_APPROVED, cancelled: EXIT.NOT_APPROVED, expired: EXIT.NOT_APPROVED, failed: EXIT.NOT_APPROVED,
  unknown: EXIT.UNKNOWN,
  // Voided after its approval: paid and reversed, so not approved now.
  voided: EXIT.NOT_APPROVED,
};

/** Daemon errors that mean "nothing was done" (exit 1) or "the request was wrong" (exit 64). */
const REFUSED_CODES = new Set(['BUSY', 'CONFLICT', 'SHUTTING_DOWN', 'NOT_FOUND']);
const BAD_REQUEST_CODES = new Set(['BAD_REQUEST', 'LINE_TOO_LONG', 'UNKNOWN_OP']);

/** Our own correlation id: one pay (and at most one cancel, CANCEL_REQ) per connection. */
const PAY_REQ = 'pay';

/** "otcctl-20261127-100000-a1b2c3": sortable, unique enough, within the intentId alphabet. */
export function generateIntentId(nowMs = Date.now()): string {
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `otcctl-${stamp}-${randomBytes(3).toString('hex')}`;
}

export interface PayRequestFields { intentId: string; authorizationId: string; amount: number; installment: number }

export function payRequestFields(values: Record<string, string | boolean | undefined>): PayRequestFields {
  if (values.amount === undefined) throw new UsageError('--amount N is required (whole KRW, e.g. --amount 1000)');
  const amount = intOption('amount', values.amount, 1, MAX_AMOUNT);
  const auth = values['authorization-id'];
  if (typeof auth !== 'string') throw new UsageError('--authorization-id ID is required (from the provider\'s transaction registration)');
  if (!AUTHORIZATION_ID_PATTERN.test(auth)) {
    throw new UsageError(`--authorization-id must be 1 to ${MAX_AUTHORIZATION_ID_LENGTH} printable ASCII characters without spaces`);
  }
  const installment = intOption('installment', values.installment, 0, MAX_INSTALLMENT, 0);
  const given = values['intent-id'];
  if (given !== undefined && (typeof given !== 'string' || !INTENT_ID_PATTERN.test(given))) {
    throw new UsageError('--intent-id must be 1 to 64 characters of A-Z a-z 0-9 . _ : -');
  }
  return { intentId: typeof given === 'string' ? given : generateIntentId(), authorizationId: auth, amount, installment };
}

export const payCommand: Command = {
  name: 'pay',
  summary: 'a real payment, for commissioning; Ctrl-C cancels',
  help: `usage: otcctl pay --amount N --authorization-id ID [--installment N] [--intent-id ID]
                  [--socket PATH] [--config FILE] [--json]

Makes a real payment through otcd, as the kiosk application would, and shows
its events as they come. Use it to commission a kiosk. The card is read by
the terminal; otcctl never sees card data.

Ctrl-C sends "cancel" and waits for the final event: "cancelled" if the card
data had not gone upstream yet, else the real outcome. A second Ctrl-C stops
waiting (exit 2): the payment goes on in otcd; run the same command with the
same --intent-id to follow it again (a repeated pay is the same payment).

options:
  --amount N              amount in whole KRW, 1 to ${MAX_AMOUNT}
  --authorization-id ID   from the provider's transaction registration
  --installment N         0 (lump sum) to ${MAX_INSTALLMENT}; default 0
  --intent-id ID          idempotency key; default otcctl-<UTC time>-<random>
${SOCKET_OPTIONS_HELP.replace('one JSON document on stdout instead of text for people', 'each message from otcd as one JSON line')}

${EXIT_CODES_HELP}`,
  options: {
    ...SOCKET_OPTIONS,
    amount: { type: 'string' },
    'authorization-id': { type: 'string' },
    installment: { type: 'string' },
    'intent-id': { type: 'string' },
  },
  async run({ values, output, env }) {
    const fields = payRequestFields(values);
    const client = await connectDaemon(socketTarget(values, env));
    return runPayment(client, fields, output, values.json === true);
  },
};

/** Follows one payment to its end; resolves with the exit code. */
export async function runPayment(client: IntentClient, fields: PayRequestFields, output: Output, json: boolean): Promise<number> {
  const { intentId } = fields;
  const render = json ? new JsonRenderer(output) : new TextRenderer(output, fields);
  render.started();
  const code = await followIntent(client, {
    line: { op: 'pay', req: PAY_REQ, ...fields },
    show: (m) => render.message(m),
    note: (text) => render.note(text),
    refused: (errorCode = '') => (BAD_REQUEST_CODES.has(errorCode) ? EXIT.USAGE : REFUSED_CODES.has(errorCode) ? EXIT.NOT_APPROVED : EXIT.UNKNOWN),
    ended: (view) => EXIT_BY_STATE[view.state],
    words: {
      cancelling: (signal) => `${signal === 'SIGINT' ? 'Ctrl-C' : signal}: cancelling ${intentId} and waiting for its final state (again to stop waiting)`,
      stoppedWaiting: `stopped waiting: the payment ${intentId} goes on in otcd; its outcome is not known here (see otcctl payments)`,
      lost: (reason) => `lost otcd before the final state (${reason}): the outcome of ${intentId} is not known here. `
        + `Run the same otcctl pay command with --intent-id ${intentId} to follow it, or see otcctl payments.`,
    },
  });
  render.done(code);
  return code;
}

interface Renderer {
  started(): void;
  message(m: DaemonMessage): void;
  /** Something otcctl itself says (stderr in both forms: stdout stays the daemon's). */
  note(text: string): void;
  done(code: number): void;
}

/** `--json`: each known daemon message as one JSON line, nothing else on stdout. */
class JsonRenderer implements Renderer {
  constructor(private readonly output: Output) {}
  started(): void {}
  message(m: DaemonMessage): void {
    const view = messageView(m);
    if (view) this.output.out(JSON.stringify(view));
  }
  note(text: string): void { this.output.err(`otcctl: ${text}`); }
  done(): void {}
}

class TextRenderer implements Renderer {
  private last: IntentSummary | EventSummary | undefined;
  private lastError: string | undefined;

  constructor(private readonly output: Output, private readonly fields: PayRequestFields) {}

  started(): void {
    const f = this.fields;
    this.output.out(`paying ${formatAmount(f.amount)}${f.installment > 0 ? `, ${f.installment} installments` : ', lump sum'}; intent ${f.intentId}`);
  }

  message(m: DaemonMessage): void {
    if (m.type === 'error') {
      const e = errorView(m);
      if (!e) return;
      this.lastError = `${e.code}: ${printable(e.message)}`;
      this.output.err(`otcd: ${this.lastError}`);
      return;
    }
    if (m.type === 'reply' && m.req === CANCEL_REQ) {
      const view = intentView(m.intent);
      if (view) this.output.err(`otcctl: cancel sent; otcd says: ${view.state}`);
      return;
    }
    const view = m.type === 'reply' ? intentView(m.intent) : m.type === 'event' && m.intentId === this.fields.intentId ? eventView(m) : undefined;
    if (!view) return;
    this.last = view;
    const at = 'at' in view && view.at !== undefined ? view.at : (view as IntentSummary).updatedAt;
    const time = at !== undefined && !Number.isNaN(Date.parse(at)) ? formatClock(Date.parse(at)) : ' '.repeat(12);
    this.output.out(`${time}  ${view.state.padEnd(10)}  ${detailText(view)}`.trimEnd());
  }

  note(text: string): void { this.output.err(`otcctl: ${text}`); }

  done(code: number): void {
    const state = this.last?.state;
    if (code === EXIT.OK) this.output.out('APPROVED');
    else if (code === EXIT.NOT_APPROVED && state !== undefined && EXIT_BY_STATE[state] !== undefined) this.output.out(`NOT APPROVED: ${state}`);
    else if (code === EXIT.NOT_APPROVED || code === EXIT.USAGE) this.output.out(`NOT PAID: otcd refused the payment${this.lastError ? ` (${this.lastError})` : ''}`);
    else this.output.out(`OUTCOME UNKNOWN: ${state === 'unknown' ? 'needs reconciliation with the provider (do not pay again before checking)' : 'see otcctl payments'}`);
  }
}

function detailText(v: IntentSummary | EventSummary): string {
  const parts: string[] = [];
  if (v.attempt !== undefined && v.attempt > 1) parts.push(`attempt ${v.attempt}`);
  if (v.deadline !== undefined && v.state === 'inquiring') {
    const ms = Date.parse(v.deadline);
    if (!Number.isNaN(ms)) parts.push(`window until ${formatClock(ms).slice(0, 8)}`);
  }
  if (v.approvalNo) parts.push(`approval ${printable(v.approvalNo)}`);
  if (v.maskedPan) parts.push(`card ${v.maskedPan}`);
  if (v.code) parts.push(printable(v.code));
  if (v.message) parts.push(printable(v.message));
  if (v.resCd) parts.push(`[${printable(v.resCd)}${v.resMsg ? ` ${printable(v.resMsg)}` : ''}]`);
  return parts.join('  ');
}
