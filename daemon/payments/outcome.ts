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
  alreadyVoided: 'AV',
  wrongAmount: 'AM',
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

export type VoidMeaning =
  /** Reversed now (00), or earlier (AV: `voidApprovalNo` is the earlier reversal's). */
  | { kind: 'voided'; voidApprovalNo: string; code: string }
  /** Nothing was reversed: NF, AM, BY, CN, IV, or the acquirer's refusal. */
  | { kind: 'refused'; code: string; message: string }
  /** TO: the reversal timed out upstream; a new VOID settles it (AV if it went through). */
  | { kind: 'timed-out'; code: string; message: string };

const VOID_REFUSALS: Record<string, string> = {
  [RESULT_CODE.notFound]: 'the terminal knows no approval of this payment it can still reverse (settled, or forgotten); nothing was reversed: refund it another way',
  [RESULT_CODE.wrongAmount]: 'the terminal says the amount is not the approved amount; nothing was reversed',
  [RESULT_CODE.busy]: 'the terminal is busy with another transaction; nothing was reversed: void again',
  [RESULT_CODE.cancelled]: 'the void was cancelled before the reversal went upstream; nothing was reversed',
  [RESULT_CODE.invalid]: 'the terminal called the VOID invalid; nothing was reversed',
};

/** What a terminal's RSLT to a VOID means (terminal-protocol.md 6a). */
export function meaningOfVoidResult(result: TerminalResult): VoidMeaning {
  switch (result.code) {
    case RESULT_CODE.approved:
    case RESULT_CODE.alreadyVoided:
      return { kind: 'voided', voidApprovalNo: result.approvalNo, code: result.code };
    case RESULT_CODE.timedOutUpstream:
      return {
        kind: 'timed-out', code: result.code,
        message: 'the reversal timed out upstream; void again to settle it (the terminal answers AV if it went through)',
      };
    default: {
      const known = VOID_REFUSALS[result.code];
      const terminalSays = result.message === '' ? '' : ` (terminal: ${result.message})`;
      return {
        kind: 'refused', code: result.code,
        message: known !== undefined ? `${known}${terminalSays}` : `the acquirer refused the reversal${terminalSays}; nothing was reversed`,
      };
    }
  }
}
