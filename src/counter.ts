/**
 * One perf event counter, read from userspace when the kernel allows it.
 *
 * @module
 */

import { type Native, native } from "./loader/native.ts";
import { DETAILED, OPEN_FLAGS, PAGE_INFO, STATS } from "./ffi/symbols.ts";
import { type EventInput, type EventSpec, parseEvent } from "./event.ts";
import { type Exclusions, kernelAttrSize, READ_FORMAT, writeAttr } from "./_attr.ts";
import { nativeFailure } from "./_fail.ts";
import { notCountedReason, scaleFactor } from "./_counted.ts";
import {
  exclusions,
  mayRetryRestricted,
  type ResolvedOptions,
  type ResolvedSampling,
  resolveOptions,
  type UserspaceMode,
} from "./_options.ts";
import { PerfError } from "./errors.ts";
import type { RecordLayout } from "./_records.ts";
import { Ring, ringFailure } from "./_ring.ts";
import { openParts } from "./_hybrid.ts";
import type { PerfRecord, RecordsOptions, RingStats, SamplingOptions } from "./sampling.ts";

export type { UserspaceMode };

/**
 * How to open a counter. Every field is optional. The sampling options
 * (`sample`, `sampleType`, `wakeup`, `ring`, `track`) are described in
 * {@link SamplingOptions}.
 */
export interface CounterOptions extends SamplingOptions {
  /** Thread to count: 0 (default) is the calling thread, -1 every process (needs `cpu`). */
  pid?: number;
  /** CPU to count on: -1 (default) is any CPU the thread runs on. */
  cpu?: number;
  /**
   * What not to count. By default nothing is excluded, except kernel and
   * hypervisor mode when this process may not count them
   * (`perf_event_paranoid` >= 2 without CAP_PERFMON), as `perf` does.
   * `:u`, `:k` and `:h` in the event name override this.
   */
  exclude?: { kernel?: boolean; hv?: boolean; user?: boolean; idle?: boolean };
  /** Count child threads and processes created after opening (default false). */
  inherit?: boolean;
  /**
   * Start counting when the counted task next calls exec (`enable_on_exec`;
   * default false). Use with `enabled: false` and the `pid` of a process
   * that is about to exec, as `perfmmap stat` does.
   */
  enableOnExec?: boolean;
  /** Keep the event on the PMU at all times, or fail (default false). */
  pinned?: boolean;
  /** Be the only group on the PMU while counting (default false). */
  exclusive?: boolean;
  /** Start counting at once (default true); else call `enable()`. */
  enabled?: boolean;
  /**
   * The userspace read: `"auto"` (default) uses it when the kernel offers
   * it, `"require"` fails at open with a hint saying why it is unavailable,
   * `"off"` always reads with `read(2)`.
   */
  userspace?: UserspaceMode;
  /**
   * When the userspace read finds no register (index 0) past the fast-spin
   * phase, serve the read with `read(2)` (default true).
   */
  fallback?: boolean;
}

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

let installRead: (pmRead: (handle: number) => number) => void;
let readInstalled = false;

/**
 * Gives `Counter.prototype.read` the loaded library's `pm_read`, once, when
 * the first handle opens. The function reaches `read` as a variable captured
 * by a closure made exactly once: JavaScriptCore (Bun) treats such a
 * variable as a constant and calls the native function directly from JIT
 * code, where a module `let` that is written twice (a stub, then the real
 * function) costs a generic call: 0.3-0.5 ns of a ~5 ns read in Bun.
 */
function useNativeRead(n: Native): void {
  if (readInstalled) return;
  readInstalled = true;
  installRead(n.symbols.pm_read);
}
let adopt: (handle: number, spec: EventSpec, layout?: RecordLayout, output?: Counter) => Counter;
let handleOf: (counter: Counter) => number;
let brand: (value: object) => boolean;
let layoutOf: (counter: Counter) => RecordLayout | undefined;

/** What the records of a counter opened with `options` look like. */
export function recordLayout(
  sampling: ResolvedSampling | undefined,
  readFormat: number,
): RecordLayout | undefined {
  if (sampling === undefined) return undefined;
  return { sampleType: sampling.sampleType, readFormat, sampleIdAll: true };
}

const DEFAULT_READ_FORMAT = READ_FORMAT.TOTAL_TIME_ENABLED | READ_FORMAT.TOTAL_TIME_RUNNING;

/** The most members a group record holds (`pm_read_values` decodes up to 256). */
export const GROUP_RECORD_MEMBERS_MAX = 256;
/** `readSyscall`'s record (f64 slots), made at its first call: room for the largest group. */
let groupRecord: { bytes: Uint8Array; slots: Float64Array } | undefined;
const EIO = 5;

/**
 * Closes the handle of a counter that was collected without close(): its
 * fd, its mapping, its ring and (for a watchpoint) its debug register.
 * Holds the handle number, never the counter (that would keep it alive).
 * close() unregisters, so a closed counter's handle is never closed twice;
 * a handle closed another way fails the core's generation check
 * (STALE_HANDLE), so this never closes a slot that was reused. Never throws:
 * there is nobody to catch it.
 */
const collected = new FinalizationRegistry<number>((handle) => {
  try {
    native().symbols.pm_close(handle);
  } catch {
    // the library failed to load in this thread: there is nothing to close
  }
});

/**
 * A counter that sends its records to `output`'s ring must write them the
 * way that ring is decoded.
 */
function checkOutput(spec: EventSpec, sampling: ResolvedSampling, readFormat: number): void {
  const output = sampling.output;
  if (output === undefined) return;
  const theirs = isCounter(output) && !output.closed ? layoutOf(output) : undefined;
  const ours = recordLayout(sampling, readFormat)!;
  if (theirs === undefined) {
    throw new PerfError("INVALID_OPTION", "ring.output must be an open counter with its own ring", {
      op: "open",
      event: spec.name,
      hint: "open the output counter with a sample option first, and keep it open",
    });
  }
  if (theirs.sampleType !== ours.sampleType || theirs.readFormat !== ours.readFormat) {
    throw new PerfError(
      "INVALID_OPTION",
      `ring.output "${output.event.name}" writes samples with another sampleType`,
      {
        op: "open",
        event: spec.name,
        hint: "records in one ring are decoded one way: give both counters the same sampleType",
      },
    );
  }
}

const SAMPLE_READ = 1 << 4;

/** A sampling-specific hint for an EINVAL at open, where the generic one would mislead. */
function samplingOpenFailure(
  failure: PerfError,
  options: ResolvedOptions,
  inGroup: boolean,
): PerfError | undefined {
  const sampling = options.sampling;
  if (sampling === undefined || failure.code !== "EINVAL") return undefined;
  if ((sampling.sampleType & SAMPLE_READ) === 0 || !options.inherit) return undefined;
  return new PerfError(failure.code, failure.message.split("\nhint:")[0], {
    errno: failure.errno,
    op: failure.op,
    event: failure.event,
    hint: `this kernel refuses sampleType "read" on an inherited ${
      inGroup ? "group" : "counter"
    } (the sample could not hold the children's counts): drop inherit, or drop "read"`,
  });
}

/** Maps the ring, or redirects to the output counter's; closes the handle on failure. */
function attachRing(n: Native, handle: number, spec: EventSpec, options: ResolvedOptions): void {
  const sampling = options.sampling!;
  const output = sampling.output;
  const result = output === undefined
    ? n.symbols.pm_ring_map(handle, sampling.pages)
    : n.symbols.pm_set_output(handle, handleOf(output));
  if (result >= 0) return;
  n.symbols.pm_close(handle);
  throw ringFailure(result, {
    op: output === undefined ? "ring_map" : "set_output",
    event: spec.name,
    pages: sampling.pages,
    inherit: options.inherit,
    cpu: options.cpu,
  });
}

function modeFlags(mode: UserspaceMode, fallback: boolean): number {
  const bits = mode === "off"
    ? OPEN_FLAGS.MODE_OFF
    : mode === "auto"
    ? OPEN_FLAGS.MODE_AUTO
    : OPEN_FLAGS.MODE_REQUIRE;
  return bits | (fallback ? OPEN_FLAGS.FALLBACK : 0);
}

const EACCES = 13;
const EPERM = 1;

/** Opens a handle for `spec`; shared by Counter and Group. */
export function openHandle(
  spec: EventSpec,
  options: ResolvedOptions,
  group: { leader: number; readFormat: number; disabled: boolean } | undefined,
): number {
  const n = native();
  if (options.sampling !== undefined) {
    checkOutput(spec, options.sampling, group?.readFormat ?? DEFAULT_READ_FORMAT);
  }
  let excluded = exclusions(options, spec);
  let handle = openOnce(n, spec, options, group, excluded);
  if (
    (handle === -EACCES || handle === -EPERM) && !excluded.kernel &&
    mayRetryRestricted(options, spec)
  ) {
    // As perf does: without the right to count kernel mode, count user mode.
    excluded = exclusions(options, spec, true);
    handle = openOnce(n, spec, options, group, excluded);
  }
  if (handle < 0) {
    const failure = nativeFailure(handle, {
      op: "open",
      event: spec.name,
      kind: spec.kind,
      type: spec.type,
      config: spec.config,
      pmu: spec.pmu,
      pid: options.pid,
      cpu: options.cpu,
      excludeKernel: excluded.kernel,
      attrSize: kernelAttrSize(n),
    });
    throw samplingOpenFailure(failure, options, group !== undefined) ?? failure;
  }
  if (options.sampling !== undefined) attachRing(n, handle, spec, options);
  useNativeRead(n);
  return handle;
}

function openOnce(
  n: Native,
  spec: EventSpec,
  options: ResolvedOptions,
  group: { leader: number; readFormat: number; disabled: boolean } | undefined,
  exclude: Exclusions,
): number {
  const attr = writeAttr(n, {
    spec,
    exclude,
    inherit: options.inherit,
    enableOnExec: options.enableOnExec,
    pinned: spec.modifiers.pinned ?? options.pinned,
    exclusive: spec.modifiers.exclusive ?? options.exclusive,
    disabled: group?.disabled ?? !options.enabled,
    precise: spec.modifiers.precise ?? 0,
    readFormat: group?.readFormat ?? DEFAULT_READ_FORMAT,
    sampling: options.sampling,
  });
  return n.symbols.pm_open(
    attr,
    options.pid,
    options.cpu,
    group?.leader ?? -1,
    modeFlags(options.userspace, options.fallback) |
      // The ring is mapped next, once: its first page is the metadata page.
      (options.sampling === undefined ? 0 : OPEN_FLAGS.RING),
  );
}

/** Opens a simulated handle (see `testing.ts`). */
export function openSimulatedHandle(mode: UserspaceMode, fallback: boolean): number {
  const n = native();
  const handle = n.symbols.pm_sim_open(modeFlags(mode, fallback));
  if (handle < 0) {
    throw nativeFailure(handle, { op: "open", event: "simulated", kind: "simulated" });
  }
  useNativeRead(n);
  return handle;
}

/**
 * A perf event counter on this thread (by default), read with no syscall
 * when the kernel maps the counter for userspace.
 *
 * @example Counting page faults
 * ```ts
 * import { Counter } from "@perfmmap/perfmmap";
 *
 * using faults = Counter.open("page-faults");
 * const before = faults.read();
 * new Uint8Array(1 << 20).fill(1);
 * console.log(faults.read() - before, "page faults");
 * ```
 */
export class Counter implements Disposable {
  #handle: number;
  #spec: EventSpec;
  #native: Native;
  #closed = false;
  #id: bigint | undefined;
  #layout: RecordLayout | undefined;
  #ring: Ring | undefined;
  // Only held, never read: see the constructor's `output`.
  #output: Counter | undefined;

  /**
   * Wraps an open handle. Use {@link Counter.open}; this is for subclasses
   * in this package.
   *
   * @param handle A handle from the native core.
   * @param spec The resolved event.
   * @param layout How its ring's records are laid out, when it samples.
   * @param output The counter whose ring it writes into (`ring.output`, or a
   * sampling group's leader), kept alive as long as this one: collected, it
   * would close the ring these records go to.
   */
  protected constructor(
    handle: number,
    spec: EventSpec,
    layout?: RecordLayout,
    output?: Counter,
  ) {
    this.#handle = handle;
    this.#spec = spec;
    this.#native = native();
    this.#layout = layout;
    this.#output = output;
    if (layout !== undefined && output === undefined) {
      this.#ring = new Ring(handle, layout, { event: spec.name }, () => this.#closed);
    }
    collected.register(this, handle, this);
  }

  static {
    adopt = (handle, spec, layout, output) => new Counter(handle, spec, layout, output);
    handleOf = (counter) => counter.#handle;
    brand = (value) => #handle in value;
    layoutOf = (counter) => counter.#ring === undefined ? undefined : counter.#layout;
    // Runs once (useNativeRead): see there for why read is built here.
    installRead = (pmRead) => {
      Counter.prototype.read = function read(this: Counter): number {
        const value = pmRead(this.#handle);
        if (value >= 0) return value;
        throw this.#fail(value, "read");
      };
    };
  }

  /**
   * Opens a counter.
   *
   * @param event A string in perf's syntax (`"task-clock"`, `"cycles:u"`,
   * `"L1-dcache-load-misses"`, `"r1a8"`, `"msr/tsc/"`) or
   * `{ type, config, config1?, config2?, config3? }`.
   * @param options See {@link CounterOptions}.
   * @returns The open counter; close it, or declare it with `using`.
   * @throws {PerfError} For a bad event or option, or when the kernel refuses
   * (with `code` the errno name and a `hint` for this machine).
   *
   * @example Opening with options
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   *
   * using clock = Counter.open("task-clock", { userspace: "auto" });
   * console.log(clock.read(), "ns on CPU");
   * ```
   */
  static open(event: EventInput, options?: CounterOptions): Counter {
    const spec = parseEvent(event);
    const resolved = resolveOptions("open", options, { userspace: "auto" });
    if (spec.parts !== undefined) return openParts(spec, resolved); // several core PMUs
    const layout = recordLayout(resolved.sampling, DEFAULT_READ_FORMAT);
    const output = resolved.sampling?.output;
    return new Counter(openHandle(spec, resolved, undefined), spec, layout, output);
  }

  #fail(result: number, op: string): PerfError {
    return nativeFailure(result, {
      op,
      event: this.#spec.name,
      kind: this.#spec.kind,
      pmu: this.#spec.pmu,
    });
  }

  #check(result: number, op: string): void {
    if (result < 0) throw this.#fail(result, op);
  }

  /**
   * The current count: the hot path. No allocation, no BigInt; from
   * userspace when the page allows it, else `read(2)`. Exact up to 2^53;
   * use {@link Counter.readBigInt} beyond.
   *
   * @returns The count.
   * @throws {PerfError} `STALE_HANDLE` after close, `RETRY_EXHAUSTED`, or an errno.
   *
   * @example Reading before and after
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * const start = c.read();
   * for (let i = 0; i < 1e6; i++);
   * console.log(c.read() - start);
   * ```
   */
  read(): number {
    // Counter.prototype.read is replaced when the first handle opens
    // (useNativeRead); this body only makes sure of it, then hands over.
    useNativeRead(this.#native);
    return this.read();
  }

  /**
   * The current count as an exact 64-bit value.
   *
   * @returns The count as a bigint.
   *
   * @example Reading exactly
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * const exact: bigint = c.readBigInt();
   * ```
   */
  readBigInt(): bigint {
    const n = this.#native;
    this.#check(n.symbols.pm_read_detailed(this.#handle, n.out), "read");
    return n.outU64[DETAILED.VALUE_U64];
  }

  /**
   * The count with its times, scaled value, and how the read was served.
   *
   * @returns A {@link CounterReading}.
   *
   * @example Seeing the source
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * const { value, source, timeRunning } = c.readDetailed();
   * console.log(value, source, timeRunning);
   * ```
   */
  readDetailed(): CounterReading {
    const n = this.#native;
    this.#check(n.symbols.pm_read_detailed(this.#handle, n.out), "read");
    const f = n.outF64;
    const value = f[DETAILED.VALUE];
    const timeEnabled = f[DETAILED.TIME_ENABLED];
    const timeRunning = f[DETAILED.TIME_RUNNING];
    return {
      value,
      timeEnabled,
      timeRunning,
      scaled: timeRunning > 0 ? value * scaleFactor(timeEnabled, timeRunning) : null,
      counted: timeRunning > 0,
      reason: notCountedReason(timeEnabled, timeRunning),
      source: f[DETAILED.SOURCE] === 1 ? "userspace" : "syscall",
      attempts: f[DETAILED.ATTEMPTS],
      yields: f[DETAILED.YIELDS],
      index: f[DETAILED.INDEX],
      pmcWidth: f[DETAILED.PMC_WIDTH],
    };
  }

  /**
   * The count by `read(2)` on the counter's fd, bypassing the userspace
   * path; for comparisons and tests. For a group member, `read(2)` returns
   * the whole group: this is the member's own count, found by its id.
   *
   * @returns The count.
   *
   * @example Comparing with the fast path
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * console.log(c.readSyscall() <= c.read());
   * ```
   */
  readSyscall(): number {
    groupRecord ??= (() => {
      const slots = new Float64Array(3 + 3 * GROUP_RECORD_MEMBERS_MAX);
      return { bytes: new Uint8Array(slots.buffer), slots };
    })();
    const { bytes, slots: record } = groupRecord;
    const nr = this.#native.symbols.pm_read_values(this.#handle, bytes, record.length, 0);
    this.#check(nr, "read");
    if (nr === 1) return record[3];
    // A group member's fd reads its whole group, leader first: find our own id.
    const id = Number(this.id);
    for (let i = 0; i < nr; i++) if (record[4 + 3 * i] === id) return record[3 + 3 * i];
    throw this.#fail(-EIO, "read");
  }

  /**
   * Starts counting.
   *
   * @example Counting a section only
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("page-faults", { enabled: false });
   * c.enable();
   * new Uint8Array(1 << 16).fill(1);
   * c.disable();
   * ```
   */
  enable(): void {
    this.#check(this.#native.symbols.pm_enable(this.#handle, 0), "enable");
  }

  /**
   * Stops counting; the value stays.
   *
   * @example Pausing
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * c.disable();
   * const frozen = c.read();
   * ```
   */
  disable(): void {
    this.#check(this.#native.symbols.pm_disable(this.#handle, 0), "disable");
  }

  /**
   * Sets the count to zero.
   *
   * @example Starting over
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * c.reset();
   * ```
   */
  reset(): void {
    this.#check(this.#native.symbols.pm_reset(this.#handle, 0), "reset");
  }

  /**
   * Whether reads are served from userspace (mmap page + register) now.
   *
   * @example Checking the fast path
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * console.log(c.userspace); // false: software events have no register
   * ```
   */
  get userspace(): boolean {
    return this.capabilities.userspaceActive;
  }

  /**
   * The counter's mmap page as decoded by the core.
   *
   * @example Inspecting the page
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * console.log(c.capabilities.userRdpmc, c.capabilities.index);
   * ```
   */
  get capabilities(): PageCapabilities {
    const n = this.#native;
    this.#check(n.symbols.pm_page_info(this.#handle, n.out), "page_info");
    const f = n.outF64;
    return {
      hasPage: f[PAGE_INFO.HAS_PAGE] === 1,
      version: f[PAGE_INFO.VERSION],
      compatVersion: f[PAGE_INFO.COMPAT_VERSION],
      raw: f[PAGE_INFO.CAPABILITIES],
      userRdpmc: f[PAGE_INFO.CAP_USER_RDPMC] === 1,
      userTime: f[PAGE_INFO.CAP_USER_TIME] === 1,
      userTimeZero: f[PAGE_INFO.CAP_USER_TIME_ZERO] === 1,
      userTimeShort: f[PAGE_INFO.CAP_USER_TIME_SHORT] === 1,
      index: f[PAGE_INFO.INDEX],
      pmcWidth: f[PAGE_INFO.PMC_WIDTH],
      archReader: f[PAGE_INFO.ARCH_HAS_READER] === 1,
      userspaceActive: f[PAGE_INFO.USERSPACE_ACTIVE] === 1,
      config1: f[PAGE_INFO.CONFIG1_AT_OPEN],
      timeShift: f[PAGE_INFO.TIME_SHIFT],
      timeMult: f[PAGE_INFO.TIME_MULT],
    };
  }

  /**
   * How reads were served so far (userspace, syscall, retries).
   *
   * @returns A {@link ReadStats}.
   *
   * @example Counting fallbacks
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * c.read();
   * console.log(c.stats().syscallReads); // 1
   * ```
   */
  stats(): ReadStats {
    const n = this.#native;
    this.#check(n.symbols.pm_stats(this.#handle, n.out), "stats");
    const f = n.outF64;
    return {
      userspaceReads: f[STATS.USERSPACE_READS],
      syscallReads: f[STATS.SYSCALL_READS],
      exhausted: f[STATS.EXHAUSTED],
      exhaustionLogLines: f[STATS.EXHAUSTION_LOG_LINES],
      lastAttempts: f[STATS.LAST_ATTEMPTS],
      lastYields: f[STATS.LAST_YIELDS],
      indexZeroFallbacks: f[STATS.INDEX_ZERO_FALLBACKS],
    };
  }

  /**
   * The counter's file descriptor, or -1 for a simulated counter.
   *
   * @example Getting the fd
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * console.log(c.fd);
   * ```
   */
  get fd(): number {
    const fd = this.#native.symbols.pm_fd(this.#handle);
    if (fd === -1) return -1; // a simulated counter has no fd
    this.#check(fd, "fd");
    return fd;
  }

  /**
   * The kernel's id of the event (`PERF_EVENT_IOC_ID`).
   *
   * @example Getting the id
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * console.log(c.id); // e.g. 1234n
   * ```
   */
  get id(): bigint {
    if (this.#id !== undefined) return this.#id;
    const n = this.#native;
    this.#check(n.symbols.pm_id(this.#handle, n.out), "id");
    return this.#id = n.outU64[0];
  }

  /**
   * The resolved event.
   *
   * @example Reading the config
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("task-clock");
   * console.log(c.event.type, c.event.config); // 1 1n
   * ```
   */
  get event(): EventSpec {
    return this.#spec;
  }

  #sampler(op: string): Ring {
    if (this.#ring !== undefined && !this.#closed) return this.#ring;
    // The core says STALE_HANDLE after close, NO_RING otherwise.
    const result = this.#closed ? -10002 : -10011;
    throw this.#fail(result, op);
  }

  /**
   * Whether the counter samples into a ring of its own (opened with
   * `sample`, without `ring.output`).
   *
   * @example Checking
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("cpu-clock", { sample: { frequency: 100 } });
   * console.log(c.sampling); // true
   * ```
   */
  get sampling(): boolean {
    return this.#ring !== undefined;
  }

  /**
   * The records in the ring now, decoded; synchronous, never waits. One
   * native call copies up to 256 KiB of records; a full ring takes at most
   * `ceil(ring bytes / 256 KiB) + 1` calls, so a producer faster than the
   * consumer cannot keep it looping.
   *
   * @returns The records, oldest first; samples, LOST and the side-band
   * records asked for with `track`.
   * @throws {PerfError} `NO_RING` when the counter does not sample.
   *
   * @example Counting samples
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("cpu-clock", { sample: { frequency: 1000 } });
   * const end = performance.now() + 20;
   * while (performance.now() < end);
   * const samples = c.drain().filter((r) => r.type === "sample");
   * console.log(samples.length);
   * ```
   */
  drain(): PerfRecord[] {
    return this.#sampler("drain").drain();
  }

  /**
   * The records as they arrive, waiting without spinning: in Deno, poll(2)
   * on the counter's fd runs on a worker thread (a `nonblocking` FFI call);
   * in Bun, which has no such calls, the iterator sleeps 1 ms, doubling to
   * 16 ms, between empty looks (back to 1 ms after a read of a quarter of
   * the ring or more). Either way a record is seen at most 16 ms
   * after the kernel writes it (at once in Deno when a `wakeup` fires).
   * Ends when the counter is closed or `options.signal` aborts, at once even
   * in the middle of a wait. (In Deno the poll(2) of a wait ended by an abort
   * cannot be cancelled: it runs on for up to `maxWaitMs`, or until the
   * counter is closed, and Deno does not exit before it ends.)
   *
   * @param options See {@link RecordsOptions}.
   * @returns An async iterator of records.
   * @throws {PerfError} `INVALID_OPTION` for a bad option (at the call, not
   * at the first record), `NO_RING` when the counter does not sample.
   *
   * @example Sampling until aborted
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("cpu-clock", { sample: { frequency: 1000 } });
   * const stop = AbortSignal.timeout(100);
   * let samples = 0;
   * for await (const record of c.records({ signal: stop })) {
   *   if (record.type === "sample") samples++;
   * }
   * ```
   */
  records(options?: RecordsOptions): AsyncGenerator<PerfRecord, void, undefined> {
    return this.#sampler("records").records(options);
  }

  /**
   * What the ring consumer saw so far: records, LOST counts, records split
   * across the end of the ring, and unknown types skipped.
   *
   * @returns A {@link RingStats}.
   *
   * @example Checking for losses
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * using c = Counter.open("cpu-clock", { sample: { frequency: 1000 } });
   * c.drain();
   * console.log(c.ringStats().lost); // 0
   * ```
   */
  ringStats(): RingStats {
    return this.#sampler("ring_info").stats();
  }

  /**
   * Whether {@link Counter.close} was called.
   *
   * @example After close
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * const c = Counter.open("task-clock");
   * c.close();
   * console.log(c.closed); // true
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Closes the counter: unmaps its page and closes its fd. A second close
   * throws `STALE_HANDLE`, like any use after close.
   *
   * @example Closing
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * const c = Counter.open("task-clock");
   * c.close();
   * ```
   */
  close(): void {
    const result = this.#native.symbols.pm_close(this.#handle);
    this.#closed = true;
    collected.unregister(this);
    this.#ring?.wake(); // a records() loop sleeping in Bun ends now
    this.#check(result, "close");
  }

  /**
   * Closes the counter unless already closed; `using` calls this.
   *
   * @example Scoped counter
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * {
   *   using c = Counter.open("task-clock");
   *   c.read();
   * } // closed here
   * ```
   */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}

/**
 * Whether `value` is a {@link Counter} made by this module (including a
 * `SimulatedCounter`), open or closed. An object that only looks like one
 * (the same methods on another class) is not: option checks use this to
 * give INVALID_OPTION where touching its private fields would throw a
 * TypeError.
 *
 * @param value Anything.
 * @returns True for a real Counter.
 */
export function isCounter(value: unknown): value is Counter {
  return typeof value === "object" && value !== null && brand(value);
}

/** The core handle of a counter (for benchmarks that call the core directly). */
export function counterHandle(counter: Counter): number {
  return handleOf(counter);
}

/** Wraps a handle opened by {@link openHandle} (used by Group). */
export function adoptCounter(
  handle: number,
  spec: EventSpec,
  layout?: RecordLayout,
  output?: Counter,
): Counter {
  return adopt(handle, spec, layout, output);
}
