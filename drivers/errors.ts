/**
 * Base of every typed error in otcd: a stable `code` that programs match on,
 * and a message a person can act on. Messages never carry card data.
 */
export class OtcdError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export function isOtcdError(err: unknown, code?: string): err is OtcdError {
  return err instanceof OtcdError && (code === undefined || err.code === code);
}
