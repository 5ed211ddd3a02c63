import { OtcdError } from '../errors.js';
import { serialOpenAdvice, tcpConnectAdvice } from './link-hint.js';

export type TransportErrorCode = 'NOT_FOUND' | 'OPEN_FAILED' | 'OPEN_TIMEOUT' | 'BAD_ADDRESS';

/**
 * serialport reports a failed open as text only ("Error: No such file or
 * directory, cannot open /dev/x"): no `code`, no `errno`. The errno name is
 * read back from the C library's wording.
 */
const STRERROR_NAMES: ReadonlyArray<[RegExp, string]> = [
  [/No such file or directory/i, 'ENOENT'],
  [/Permission denied/i, 'EACCES'],
  [/Operation not permitted/i, 'EPERM'],
  [/Device or resource busy/i, 'EBUSY'],
  [/Resource temporarily unavailable|Cannot lock port/i, 'EAGAIN'],
  [/Inappropriate ioctl for device/i, 'ENOTTY'],
  [/No such device or address/i, 'ENXIO'],
  [/No such device/i, 'ENODEV'],
  [/Input\/output error/i, 'EIO'],
];

/** The errno name of a failed open or connect: its `code`, or read from its message. */
export function errnoName(err: Error): string | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code)) return code;
  const named = /\b(E[A-Z]{2,})\b/.exec(err.message)?.[1];
  if (named) return named;
  return STRERROR_NAMES.find(([re]) => re.test(err.message))?.[1];
}

/**
 * Opening a port or connection failed. NOT_FOUND means "still unplugged".
 * `errno` names the system error when there was one; the message says what
 * it means for this transport and what to check, never just "Error: ".
 */
export class TransportError extends OtcdError {
  declare readonly code: TransportErrorCode;
  readonly errno?: string;

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown; errno?: string }) {
    super(code, message, options);
    if (options?.errno) this.errno = options.errno;
  }

  static fromOpen(address: string, err: Error): TransportError {
    const errno = errnoName(err);
    if (errno === 'ENOENT') return new TransportError('NOT_FOUND', `ENOENT: ${serialOpenAdvice(address, errno)}`, { cause: err, errno });
    if (errno) return new TransportError('OPEN_FAILED', `${errno}: ${serialOpenAdvice(address, errno)}`, { cause: err, errno });
    return new TransportError('OPEN_FAILED', `cannot open ${address}: ${describe(err)}`, { cause: err });
  }

  static fromConnect(address: string, err: Error): TransportError {
    const errno = errnoName(err);
    if (errno) return new TransportError('OPEN_FAILED', `${errno}: ${tcpConnectAdvice(address, errno)}`, { cause: err, errno });
    return new TransportError('OPEN_FAILED', `cannot connect to ${address}: ${describe(err)}`, { cause: err });
  }
}

/** An error's own text, or its type when it has none (a driver once rejected with an empty Error). */
function describe(err: Error): string {
  const text = err.message.replace(/^Error:\s*/, '').trim();
  return text.length > 0 ? text : `${err.name} without a message from the driver`;
}
