// A negative native result as a PerfError: the code's name (an errno, or
// one of the core's own codes), its message, and the hints that need no
// fact about this machine. _fail.ts adds the hints that read sysfs; this
// module stays below everything that reads sysfs, so that sysfs reads can
// fail with a PerfError too.

import { errnoMessage, errnoName, PerfError } from "./errors.ts";
import { CORE_CODES, HANDLES_MAX, RETRY_POLICY } from "./ffi/symbols.ts";

/** What was being done when the core failed. */
export interface FailureContext {
  op: string;
  event?: string;
  /** The event's kind (EventKind: "pmu", "simulated", ...). */
  kind?: string;
  pmu?: string;
  type?: number;
  /** `perf_event_attr.config`, for the extended type in its high bits. */
  config?: bigint;
  pid?: number;
  cpu?: number;
  excludeKernel?: boolean;
  attrSize?: number;
  /** Whether the counter samples (into a ring of its own or another's), for the ioctls' hints. */
  sampling?: boolean;
  /** The number the failed call was given (a period, a refresh count). */
  value?: number;
}

/** 50000 as "50 000". */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+$)/g, " ");
}

const CORE_MESSAGES: Readonly<Record<string, string>> = {
  RETRY_EXHAUSTED: `the userspace read did not settle within ${
    grouped(RETRY_POLICY.ATTEMPTS_MAX)
  } attempts`,
  STALE_HANDLE: "the counter is closed",
  BAD_HANDLE: "not a valid counter handle",
  TABLE_FULL: `all ${HANDLES_MAX} counter slots are in use`,
  NO_USER_RDPMC: "the kernel does not allow userspace reads of this counter (cap_user_rdpmc=0)",
  NO_ARCH_READER: "perfmmap has no userspace counter reader for this CPU architecture",
  USER_INDEX_ZERO: "the counter is enabled but has no hardware register for userspace (index 0)",
  NOT_SIMULATED: "this is not a simulated counter",
  NO_PAGE: 'the counter has no mmap page (opened with userspace: "off")',
  PATH_DENIED: "the path is outside the core's allow-list",
  NO_RING: "the counter has no ring buffer (it was not opened for sampling)",
};

/** The code name of a positive native code. */
export function codeName(code: number): string {
  return (CORE_CODES as Record<number, string>)[code] ?? errnoName(code);
}

/** The hints that depend on the code and the context only. */
export function plainHint(code: string, ctx: FailureContext): string | undefined {
  switch (code) {
    case "E2BIG":
      return `this kernel's perf_event_attr is ${
        ctx.attrSize ?? "smaller than ours"
      } bytes and ours is 136; a field it does not know is set (config3 needs Linux 6.3)`;
    case "ESRCH":
      return `no process or thread has pid ${ctx.pid}`;
    case "EMFILE":
    case "ENFILE":
      return "too many open files: close counters you no longer need, or raise `ulimit -n`";
    case "EBUSY":
      return "the counter is taken: another exclusive or pinned event, or the NMI watchdog (`sudo sysctl -w kernel.nmi_watchdog=0`) holds it";
    case "ENOSPC":
      return "no hardware slot left (for breakpoints: the CPU has only a few debug registers)";
    case "RETRY_EXHAUSTED":
      return 'the mmap page\'s seqlock or index never settled; if this happens on real hardware, open the counter with userspace: "off"';
    case "STALE_HANDLE":
      return "open a new counter; a closed one cannot be used again";
    case "TABLE_FULL":
      return "close counters you no longer need, or declare them with `using` (closed at the end of the block): a counter dropped without close is freed only when the garbage collector collects it, after the event loop turns";
    case "NO_PAGE":
      return 'open the counter with userspace: "auto" to map its page';
    case "NO_RING":
      return "open the counter with a sample option, e.g. { sample: { frequency: 1000 } }";
    default:
      return undefined;
  }
}

/**
 * The PerfError for a negative native result; `hint` names the fix for its
 * code (default: {@link plainHint}).
 */
export function coreFailure(
  result: number,
  ctx: FailureContext,
  hint: (name: string) => string | undefined = (name) => plainHint(name, ctx),
): PerfError {
  const code = Number.isFinite(result) && result < 0 ? Math.round(-result) : 0;
  const name = code === 0 ? "UNKNOWN_ERROR" : codeName(code);
  const isErrno = code > 0 && code < 4096;
  const detail = isErrno ? errnoMessage(code) : CORE_MESSAGES[name] ?? `native result ${result}`;
  const subject = ctx.event === undefined ? ctx.op : `${ctx.op} "${ctx.event}"`;
  return new PerfError(name, `${subject}: ${name} (${detail})`, {
    errno: isErrno ? code : undefined,
    op: ctx.op,
    event: ctx.event,
    hint: hint(name),
  });
}
