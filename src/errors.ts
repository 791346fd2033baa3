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
 *   own, so the group cannot be read as one), `NOT_COUNTED` (a group was
 *   enabled but never got on the PMU: too few free counters), `MULTIPLE_PMUS`
 *   (a generic event counts on several core PMUs, where one is needed: a
 *   group or a sampling counter on a hybrid CPU), `UNKNOWN_ERROR`.
 * - From `Watchpoint` target checks: `INVALID_TARGET`, `MISALIGNED_ADDRESS`,
 *   `DETACHED_BUFFER`.
 * - From a method's argument of the wrong type or size: `INVALID_ARGUMENT`
 *   (`Group.readInto`'s buffer, a `Counter.setPeriod` or `refresh` value
 *   that is not a number; a number out of range is `VALUE_OUT_OF_RANGE`).
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
  | "INVALID_ARGUMENT"
  | "EMPTY_GROUP"
  | "GROUP_TOO_LARGE"
  | "MEMBER_CLOSED"
  | "NOT_COUNTED"
  | "MULTIPLE_PMUS"
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
    const hint = options.hint === undefined ? undefined : escapeControls(options.hint, true);
    const text = escapeControls(message, true);
    super(
      hint === undefined ? text : `${text}\nhint: ${hint}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "PerfError";
    this.code = code;
    this.errno = options.errno;
    this.op = options.op;
    this.event = options.event;
    this.hint = hint;
  }
}

// C0 controls (NUL, ESC, ...), DEL, C1 controls (0x9b is a CSI on some
// terminals) and the bidirectional overrides: a message echoes what the user
// gave, and must print as text, never as a terminal command.
// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// The same but line feeds, which our own messages use to list paths tried.
// deno-lint-ignore no-control-regex
const CONTROLS_BUT_LF = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function escapeControl(char: string): string {
  const code = char.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * `text` with its control characters written as `\xNN` (`\u202e` for the
 * bidirectional ones), so that it prints as text; line feeds are kept when
 * `keepLineFeeds`. Text without controls comes back unchanged, so escaping
 * twice is the same as once. Every PerfError message and hint goes through
 * it (keeping line feeds); {@link quote} escapes them too.
 */
export function escapeControls(text: string, keepLineFeeds = false): string {
  const pattern = keepLineFeeds ? CONTROLS_BUT_LF : CONTROLS;
  pattern.lastIndex = 0;
  return pattern.test(text) ? text.replace(pattern, escapeControl) : text;
}

/** Longest stretch of user input echoed in a message, in characters. */
export const ECHO_CHARS_MAX = 120;

/**
 * User input for a message: in double quotes, with control characters
 * escaped and anything past {@link ECHO_CHARS_MAX} characters cut (saying
 * how long it was), so that a megabyte of input gives a one-line message.
 */
export function quote(text: string): string {
  const cut = text.length > ECHO_CHARS_MAX
    ? `${text.slice(0, ECHO_CHARS_MAX)}..." (${text.length} characters)`
    : `${text}"`;
  return `"${escapeControls(cut)}`;
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
