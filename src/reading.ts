/**
 * What a read returns besides the value: the times, where it came from,
 * what the seqlock loop did, and the page's capabilities. Types only; the
 * classes that fill them are {@link Counter} and {@link Group}.
 *
 * @example A detailed reading
 * ```ts
 * import { Counter, type CounterReading } from "@perfmmap/perfmmap";
 *
 * using clock = Counter.open("task-clock");
 * const reading: CounterReading = clock.readDetailed();
 * console.log(reading.value, reading.source, reading.counted);
 * ```
 *
 * @module
 */

/** Where a value came from. */
export type ReadSource = "userspace" | "syscall";

/** A read with its times and how it was served. */
export interface CounterReading {
  /** The count. */
  value: number;
  /** Nanoseconds the event was enabled. */
  timeEnabled: number;
  /** Nanoseconds the event was on the PMU. */
  timeRunning: number;
  /**
   * `value * timeEnabled / timeRunning` when the event was multiplexed,
   * `value` when it was not; `null` when it never ran (`timeRunning` 0):
   * then `value` (0) is no measurement, see `counted` and `reason`.
   */
  scaled: number | null;
  /** Whether the event was on the PMU at all (`timeRunning > 0`). */
  counted: boolean;
  /** Why it was not counted (never enabled, or never on the PMU); `null` when counted. */
  reason: string | null;
  /** `"userspace"` (mmap page + register) or `"syscall"` (`read(2)`). */
  source: ReadSource;
  /** Seqlock attempts the read took (0 for a direct syscall). */
  attempts: number;
  /** `sched_yield` calls the read made. */
  yields: number;
  /** The page's `index` seen by the read (0: no register). */
  index: number;
  /** The page's `pmc_width` seen by the read. */
  pmcWidth: number;
  /**
   * For a generic event counted on several core PMUs (Intel hybrid, Arm
   * big.LITTLE): each PMU's own reading, named as perf names it
   * (`cpu_core/cycles/`). The fields above are then their sum (see
   * `EventSpec.parts`); `index` and `pmcWidth` are the first part's.
   */
  parts?: (CounterReading & { name: string; pmu: string })[];
}

/** The counter's mmap page as the core decoded it. */
export interface PageCapabilities {
  /** Whether the counter has an mmap page at all. */
  hasPage: boolean;
  /** The page's `version`. */
  version: number;
  /** The page's `compat_version`. */
  compatVersion: number;
  /** The raw `capabilities` word. */
  raw: number;
  /** `cap_user_rdpmc`: the kernel allows reading the register. */
  userRdpmc: boolean;
  /** `cap_user_time`. */
  userTime: boolean;
  /** `cap_user_time_zero`. */
  userTimeZero: boolean;
  /** `cap_user_time_short`. */
  userTimeShort: boolean;
  /** The page's `index` now (0: no register). */
  index: number;
  /** The page's `pmc_width`. */
  pmcWidth: number;
  /** Whether perfmmap has a register reader for this CPU architecture. */
  archReader: boolean;
  /** Whether reads are served from userspace. */
  userspaceActive: boolean;
  /** The `config1` the core used at open (arm64 user-access bits). */
  config1: number;
  /** The page's `time_shift`. */
  timeShift: number;
  /** The page's `time_mult`. */
  timeMult: number;
}

/** How reads of a counter were served so far. */
export interface ReadStats {
  /** Reads served from userspace. */
  userspaceReads: number;
  /** Reads served by `read(2)`. */
  syscallReads: number;
  /** Reads that failed with RETRY_EXHAUSTED. */
  exhausted: number;
  /** Lines written to stderr about exhaustion (at most 1 per counter). */
  exhaustionLogLines: number;
  /** Attempts of the last read. */
  lastAttempts: number;
  /** `sched_yield` calls of the last read. */
  lastYields: number;
  /** Reads that fell back to `read(2)` because index stayed 0. */
  indexZeroFallbacks: number;
}

/** One part of a counter opened on several core PMUs, as `readDetailed()` shows it. */
export interface PartReading extends CounterReading {
  /** The part's name, as perf prints it: `cpu_core/cycles/`. */
  name: string;
  /** The core PMU that counts it. */
  pmu: string;
}
