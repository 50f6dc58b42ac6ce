/**
 * The CLI's one error type: a stable code (the protocol's `EF_...` codes, plus `EF_USAGE` for a
 * command line mistake), a message for the person at the terminal and a hint saying what to do.
 * `main` prints it as `error EF_CODE: message` and `hint: ...` and exits 1 (2 for `EF_USAGE`).
 */
import { EdgefleetError } from '@edgefleet/protocol';

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }

  /** A mistake on the command line: exit code 2 and the usage text. */
  static usage(message: string, hint?: string): CliError {
    return new CliError('EF_USAGE', message, hint);
  }

  get exitCode(): 1 | 2 {
    return this.code === 'EF_USAGE' ? 2 : 1;
  }
}

/** Whatever was thrown, as a CliError (unknown errors become EF_INTERNAL). */
export function toCliError(error: unknown, hint?: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof EdgefleetError) {
    return new CliError(error.code, error.message, hint, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError('EF_INTERNAL', message, hint, { cause: error });
}
