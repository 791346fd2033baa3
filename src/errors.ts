/**
 * The one error class of perfmmap.
 *
 * @module
 */

import { ERRNO, ERRNO_BY_NAME } from "./_errno.ts";

/**
 * Codes of our own, beside Linux errno names such as `EACCES` or `ENOENT`.
 *
 * - From the native core: `RETRY_EXHAUSTED`, `STALE_HANDLE`, `BAD_HANDLE`,
 *   `TABLE_FULL`, `NO_USER_RDPMC`, `NO_ARCH_READER`, `USER_INDEX_ZERO`,
 *   `NOT_SIMULATED`, `NO_PAGE`, `PATH_DENIED`, `NO_RING`.
 * - From the TypeScript layer: `UNSUPPORTED_RUNTIME`, `LIBRARY_NOT_FOUND`,
 *   `LIBRARY_WRONG_ARCH`, `LIBRARY_LOAD_FAILED`, `LIBRARY_UNVERIFIED`,
 *   `LIBRARY_CHECKSUM_MISMATCH`, `LIBRARY_DOWNLOAD_FAILED`,
 *   `LIBRARY_CACHE_FAILED`, `FFI_NOT_ALLOWED`,
 *   `ABI_MISMATCH`, `INVALID_EVENT`, `UNKNOWN_EVENT`, `UNKNOWN_PMU`,
 *   `UNKNOWN_TERM`, `VALUE_OUT_OF_RANGE`, `INVALID_OPTION`, `EMPTY_GROUP`,
 *   `GROUP_TOO_LARGE`, `MEMBER_CLOSED` (a group member was closed on its
 *   own, so the group cannot be read as one), `UNKNOWN_ERROR`.
 * - From `Watchpoint` target checks: `INVALID_TARGET`, `MISALIGNED_ADDRESS`,
 *   `DETACHED_BUFFER`.
 */
export type PerfErrorCode =
  | "RETRY_EXHAUSTED"
  | "STALE_HANDLE"
  | "BAD_HANDLE"
  | "TABLE_FULL"
  | "NO_USER_RDPMC"
  | "NO_ARCH_READER"
  | "USER_INDEX_ZERO"
  | "NOT_SIMULATED"
  | "NO_PAGE"
  | "PATH_DENIED"
  | "NO_RING"
  | "UNSUPPORTED_RUNTIME"
  | "LIBRARY_NOT_FOUND"
  | "LIBRARY_WRONG_ARCH"
  | "LIBRARY_LOAD_FAILED"
  | "LIBRARY_UNVERIFIED"
  | "LIBRARY_CHECKSUM_MISMATCH"
  | "LIBRARY_DOWNLOAD_FAILED"
  | "LIBRARY_CACHE_FAILED"
  | "FFI_NOT_ALLOWED"
  | "ABI_MISMATCH"
  | "INVALID_EVENT"
  | "UNKNOWN_EVENT"
  | "UNKNOWN_PMU"
  | "UNKNOWN_TERM"
  | "VALUE_OUT_OF_RANGE"
  | "INVALID_OPTION"
  | "EMPTY_GROUP"
  | "GROUP_TOO_LARGE"
  | "MEMBER_CLOSED"
  | "INVALID_TARGET"
  | "MISALIGNED_ADDRESS"
  | "DETACHED_BUFFER"
  | "UNKNOWN_ERROR";

/** What a {@link PerfError} carries besides its code and message. */
export interface PerfErrorOptions {
  /** The Linux errno, when the error is one. */
  errno?: number;
  /** The operation that failed, such as `"open"`, `"read"` or `"enable"`. */
  op?: string;
  /** The event as the user wrote it. */
  event?: string;
  /** One actionable sentence built from what this machine says. */
  hint?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * Every failure of perfmmap: a machine-readable `code`, the `errno` when the
 * kernel gave one, the `op` and `event` involved, and a `hint` that says what
 * to do on this machine.
 *
 * @example Telling a missing PMU from a permission problem
 * ```ts
 * import { Counter, PerfError } from "@perfmmap/perfmmap";
 *
 * try {
 *   using c = Counter.open("cycles");
 *   console.log(c.read());
 * } catch (e) {
 *   if (e instanceof PerfError && (e.code === "ENOENT" || e.code === "EOPNOTSUPP")) {
 *     console.log("no hardware counters:", e.hint);
 *   } else {
 *     throw e;
 *   }
 * }
 * ```
 */
export class PerfError extends Error {
  /** The errno name (`"EACCES"`) or one of our own {@link PerfErrorCode}s. */
  readonly code: PerfErrorCode | string;
  /** The Linux errno number, or `undefined` when the code is our own. */
  readonly errno: number | undefined;
  /** The operation that failed. */
  readonly op: string | undefined;
  /** The event involved, as the user wrote it. */
  readonly event: string | undefined;
  /** One actionable sentence, or `undefined` when there is nothing to do. */
  readonly hint: string | undefined;

  /**
   * Creates an error. The message shown is `message`, then the hint.
   *
   * @param code The errno name or our own code.
   * @param message What went wrong, in one sentence.
   * @param options errno, op, event, hint and cause.
   * @returns A new PerfError.
   *
   * @example Creating one
   * ```ts
   * import { PerfError } from "@perfmmap/perfmmap";
   * const e = new PerfError("INVALID_OPTION", "pid must be an integer", { op: "open" });
   * console.log(e.code); // "INVALID_OPTION"
   * ```
   */
  constructor(
    code: PerfErrorCode | string,
    message: string,
    options: PerfErrorOptions = {},
  ) {
    super(
      options.hint === undefined ? message : `${message}\nhint: ${options.hint}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "PerfError";
    this.code = code;
    this.errno = options.errno;
    this.op = options.op;
    this.event = options.event;
    this.hint = options.hint;
  }
}

/**
 * The kernel's name for an errno number.
 *
 * @param errno A positive Linux errno such as 13.
 * @returns The name, such as `"EACCES"`, or `"ERRNO_<n>"` when unknown.
 *
 * @example Naming an errno
 * ```ts
 * import { errnoName } from "@perfmmap/perfmmap";
 * console.log(errnoName(13)); // "EACCES"
 * ```
 */
export function errnoName(errno: number): string {
  return ERRNO.get(errno)?.[0] ?? `ERRNO_${errno}`;
}

/**
 * The message glibc gives for an errno number.
 *
 * @param errno A positive Linux errno such as 2.
 * @returns The message, such as `"No such file or directory"`.
 *
 * @example Describing an errno
 * ```ts
 * import { errnoMessage } from "@perfmmap/perfmmap";
 * console.log(errnoMessage(2)); // "No such file or directory"
 * ```
 */
export function errnoMessage(errno: number): string {
  return ERRNO.get(errno)?.[1] ?? `unknown error ${errno}`;
}

/**
 * The errno number of a kernel errno name.
 *
 * @param name A name such as `"EINVAL"`.
 * @returns The number, or `undefined` when the name is not an errno.
 *
 * @example Looking up a number
 * ```ts
 * import { errnoNumber } from "@perfmmap/perfmmap";
 * console.log(errnoNumber("EINVAL")); // 22
 * ```
 */
export function errnoNumber(name: string): number | undefined {
  return ERRNO_BY_NAME.get(name);
}
