// Failures of the command line that are not usage mistakes: one line on
// stderr and a chosen exit code.

/** Exit code of a failure that is not the command's own (an event refused, no library). */
export const EXIT_FAILURE = 1;

/** A failure to report as one line, with its exit code. */
export class CliError extends Error {
  /** The process exit code. */
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
