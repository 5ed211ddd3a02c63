/**
 * The message layer seen from the terminal driver. A vendor dialect replaces
 * the ecr1 codec by implementing this interface; framing and link stay.
 */
export type HostMessage =
  | { cmd: 'PING' }
  | { cmd: 'AUTH'; ref: string; amount: number; installment: number; track2: Buffer }
  | { cmd: 'CNCL'; ref: string }
  | { cmd: 'LAST'; ref: string }
  /** Reverse the approval of the AUTH `origRef` for its whole `amount` (section 6a); no card data. */
  | { cmd: 'VOID'; ref: string; origRef: string; amount: number };

export type ProgressStage = 'RCVD' | 'SENT';
export type TerminalState = 'IDLE' | 'BUSY';

export type TerminalMessage =
  | { cmd: 'PONG'; terminalId: string; state: TerminalState }
  | { cmd: 'PROG'; ref: string; stage: ProgressStage }
  | { cmd: 'RSLT'; ref: string; code: string; approvalNo: string; maskedPan: string; message: string };

/** Result code of an `IV` answer: the terminal found the message not valid. */
export const RESULT_INVALID = 'IV';
/** Result code of a `VOID` whose approval an earlier reversal already reversed. */
export const RESULT_ALREADY_VOIDED = 'AV';
/** Result code of a `VOID` whose amount is not the approved amount; nothing was done. */
export const RESULT_WRONG_AMOUNT = 'AM';

export interface Dialect {
  readonly name: string;
  /**
   * The frame body for `msg` with link sequence number `seq` (0..99). Throws
   * MessageError('BAD_FIELD') for a field out of its format. An AUTH body
   * holds track 2: the caller zeroes it.
   */
  encode(msg: HostMessage, seq: number): Buffer;
  /** Throws MessageError('BAD_MESSAGE') for a body it cannot read. */
  decode(body: Buffer): TerminalMessage;
}
