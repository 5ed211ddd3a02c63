import { OtcdError } from '../errors.js';

export type LinkErrorCode = 'LINK_FAILED' | 'LINK_DOWN' | 'LINK_CLOSED';

/**
 * The link could not deliver a frame.
 * - LINK_FAILED: 4 sends without an ACK (terminal off, wrong baud rate, bad cable);
 * - LINK_DOWN: the port is not open, or was lost during the exchange;
 * - LINK_CLOSED: the driver was stopped.
 */
export class LinkError extends OtcdError {
  declare readonly code: LinkErrorCode;
  constructor(code: LinkErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export type MessageErrorCode = 'BAD_MESSAGE' | 'BAD_FIELD';

/**
 * A message that the codec will not encode (BAD_FIELD, caller's input) or a
 * body from the terminal it cannot decode (BAD_MESSAGE). `field` names the
 * field; messages never quote a track-2 value.
 */
export class MessageError extends OtcdError {
  declare readonly code: MessageErrorCode;
  constructor(code: MessageErrorCode, readonly field: string, message: string) {
    super(code, message);
  }
}

export type TerminalErrorCode = 'NO_ANSWER' | 'INVALID';

/**
 * The terminal took the frame but its answer was missing (NO_ANSWER) or said
 * the message was not valid (INVALID; the message carries the terminal's text).
 */
export class TerminalError extends OtcdError {
  declare readonly code: TerminalErrorCode;
  constructor(code: TerminalErrorCode, message: string) {
    super(code, message);
  }
}
