/**
 * What a terminal's RSLT means for a payment. One table, so the live flow,
 * crash recovery and reconciliation all read a result the same way.
 */
import type { PaymentState } from './model.js';
import type { TerminalResult } from './ports.js';

/** ecr1 result codes with a meaning of their own (terminal-protocol.md section 5). */
export const RESULT_CODE = {
  approved: '00',
  cancelled: 'CN',
  busy: 'BY',
  notFound: 'NF',
  invalid: 'IV',
  timedOutUpstream: 'TO',
} as const;

export type ResultMeaning =
  /** A final state with its details. */
  | { kind: 'final'; state: PaymentState; details: Record<string, string> }
  /** The terminal dropped or never knew the AUTH: the card data did not go upstream. */
  | { kind: 'not-upstream'; code: string; message: string };

export function meaningOfResult(result: TerminalResult): ResultMeaning {
  const message = result.message;
  switch (result.code) {
    case RESULT_CODE.approved:
      return { kind: 'final', state: 'approved', details: { approvalNo: result.approvalNo, maskedPan: result.maskedPan } };
    case RESULT_CODE.timedOutUpstream:
      return {
        kind: 'final', state: 'unknown',
        details: { code: 'TERMINAL_TIMEOUT', message: message || 'the terminal timed out upstream; the outcome is unknown and needs reconciliation' },
      };
    case RESULT_CODE.cancelled:
    case RESULT_CODE.busy:
    case RESULT_CODE.notFound:
    case RESULT_CODE.invalid:
      return { kind: 'not-upstream', code: result.code, message };
    default:
      return {
        kind: 'final', state: 'declined',
        details: { code: result.code, message: message || 'declined by the issuer', maskedPan: result.maskedPan },
      };
  }
}
