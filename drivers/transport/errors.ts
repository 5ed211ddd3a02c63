import { OtcdError } from '../errors.js';

export type TransportErrorCode = 'NOT_FOUND' | 'OPEN_FAILED' | 'OPEN_TIMEOUT' | 'BAD_ADDRESS';

/** Opening a port or connection failed. NOT_FOUND means "still unplugged". */
export class TransportError extends OtcdError {
  declare readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  static fromOpen(address: string, err: Error): TransportError {
    const sysCode = (err as NodeJS.ErrnoException).code;
    // serialport reports a missing device in the message ("No such file or directory")
    if (sysCode === 'ENOENT' || /ENOENT|No such file/.test(err.message)) {
      return new TransportError('NOT_FOUND', `${address} does not exist (terminal unplugged?)`, { cause: err });
    }
    return new TransportError('OPEN_FAILED', `cannot open ${address}: ${err.message}`, { cause: err });
  }
}
