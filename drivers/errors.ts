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

/** The code and message of an error for a log line, never its stack or fields (they could carry anything). */
export function errorSummary(err: unknown): { code?: string; message: string } {
  if (isOtcdError(err)) return { code: err.code, message: err.message };
  return { message: err instanceof Error ? err.message : String(err) };
}
