/** Errors that end an otcctl command, each with the exit code it stands for. */
import { OtcdError } from '../../drivers/errors.js';
import { EXIT } from './exit-codes.js';

export class CliError extends OtcdError {
  constructor(readonly exitCode: number, code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Bad arguments: exit 64, with a pointer to the command's --help. */
export class UsageError extends CliError {
  constructor(message: string, readonly helpCommand = '') {
    super(EXIT.USAGE, 'USAGE', message);
  }
}
