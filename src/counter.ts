/**
 * One perf event counter, read from userspace when the kernel allows it.
 *
 * @module
 */

import { type Native, native } from "./loader/native.ts";
import { coreResult, DETAILED, ID, PAGE_INFO, STATS } from "./ffi/symbols.ts";
import type { EventInput, EventSpec } from "./event.ts";
import { nativeFailure } from "./_fail.ts";
import { notCountedReason, scaleFactor } from "./_counted.ts";
import type { CounterOptions, ResolvedOptions } from "./_options.ts";
import type { PerfError } from "./errors.ts";
import type { RecordLayout } from "./_records.ts";
import { Ring } from "./_ring.ts";
import { combineParts } from "./_hybrid.ts";
import {
  GROUP_RECORD_MEMBERS_MAX,
  modifyBreakpoint,
  openEvent,
  openParts,
  recordLayout,
  registerHandle,
  releaseHandle,
  resolveEvent,
  SINGLE_READ_FORMAT,
} from "./_open.ts";
import type { CounterReading, PageCapabilities, PartReading, ReadStats } from "./reading.ts";
import type { PerfRecord, RecordsOptions, RingOutput, RingStats } from "./sampling.ts";
import { knownErrno } from "./_errno.ts";
import { integerArgument } from "./_input.ts";

/** `readSyscall`'s record (f64 slots), made at its first call: room for the largest group. */
let groupRecord: { bytes: Uint8Array; slots: Float64Array } | undefined;
const EIO = knownErrno("EIO");
const STALE_HANDLE = coreResult("STALE_HANDLE");
const NO_RING = coreResult("NO_RING");
/** The largest `refresh` count: the kernel's event_limit is an int. */
const REFRESH_MAX = 2 ** 31 - 1;
const TWO_32 = 2 ** 32;

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
  #ring: Ring | undefined;
  #ringContext: { event: string } | undefined;
  // Only held, never read: see the constructor's `output`.
  #output: RingOutput | undefined;

  /**
   * Wraps an open handle. Use {@link Counter.open}; this is for subclasses
   * in this package (a group's members, a watchpoint's counter, a
   * simulated counter).
   *
   * @param handle A handle from the native core (`src/_open.ts`).
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
    output?: RingOutput,
  ) {
    this.#handle = handle;
    this.#spec = spec;
    this.#native = native();
    this.#output = output;
    const ownRing = layout !== undefined && output === undefined;
    if (ownRing) {
      // The ring names the counter's event as it is when it fails: a
      // watchpoint's event changes when it moves (moveBreakpoint).
      const context = { event: spec.name };
      this.#ringContext = context;
      this.#ring = new Ring(handle, layout, context, () => this.#closed);
    }
    registerHandle(this, handle, ownRing ? layout : undefined);
    collected.register(this, handle, this);
    Counter.#installRead(this.#native.symbols.pm_read);
  }

  static #readInstalled = false;

  /**
   * Gives `Counter.prototype.read` the loaded library's `pm_read`, once, when
   * the first counter is made. The function reaches `read` as a variable
   * captured by a closure made exactly once: JavaScriptCore (Bun) treats
   * such a variable as a constant and calls the native function directly
   * from JIT code, where a module `let` that is written twice (a stub, then
   * the real function) costs a generic call: 0.3-0.5 ns of a ~5 ns read in
   * Bun.
   */
  static #installRead(pmRead: (handle: number) => number): void {
    if (Counter.#readInstalled) return;
    Counter.#readInstalled = true;
    Counter.prototype.read = function read(this: Counter): number {
      const value = pmRead(this.#handle);
      if (value >= 0) return value;
      throw this.#fail(value, "read");
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
    const { spec, options: resolved } = resolveEvent(event, options, { userspace: "auto" });
    return openCounter(spec, resolved);
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
    // Counter.prototype.read is replaced when the first counter is made
    // (#installRead); this body only makes sure of it, then hands over.
    Counter.#installRead(this.#native.symbols.pm_read);
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
    return this.#id = n.outU64[ID.VALUE];
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
    const result = this.#closed ? STALE_HANDLE : NO_RING;
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
   * A failure of the sampling ioctls, with what their hints need: whether
   * the counter samples, and the value it was given.
   */
  #ioctlFail(result: number, op: string, value?: number): PerfError {
    return nativeFailure(result, {
      op,
      event: this.#spec.name,
      kind: this.#spec.kind,
      pmu: this.#spec.pmu,
      sampling: this.#ring !== undefined || this.#output !== undefined,
      value,
    });
  }

  /**
   * Changes the sample period of a sampling counter without reopening it
   * (`PERF_EVENT_IOC_PERIOD`). The value means what the counter's `sample`
   * option meant: a period in events (nanoseconds for `cpu-clock` and
   * `task-clock`) for `{ period }`, and a frequency in Hz, at most
   * `perf_event_max_sample_rate`, for `{ frequency }`; except that the
   * kernel turns a `cpu-clock` or `task-clock` frequency into a fixed period
   * of 1e9 / frequency ns at open, so for them it is always a period in ns
   * (at least 10 000 ns: the kernel's floor for its timers).
   *
   * The clocks take the new period at once. Other software events sample
   * at their next event and may count one more period of the old length
   * before the new one. Two kernel quirks show in the records: a clock's
   * samples keep reporting the `period` it was opened with, and a software
   * event whose `sampleType` has `"period"` samples every event whatever
   * the period. Count the samples to see the change.
   *
   * @param period An integer from 1 to 2^53 - 1.
   * @throws {PerfError} `INVALID_ARGUMENT` for anything but a number,
   * `VALUE_OUT_OF_RANGE` for a number that is not such an integer,
   * `EINVAL` (with a hint) for a counter that does not sample or a
   * frequency above `perf_event_max_sample_rate`, `STALE_HANDLE` after close.
   *
   * @example Sampling ten times as often
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * import assert from "node:assert/strict";
   *
   * using clock = Counter.open("cpu-clock", { sample: { period: 10_000_000 } }); // 10 ms
   * const spin = (ms: number) => {
   *   const end = performance.now() + ms;
   *   while (performance.now() < end);
   * };
   * const samples = () => clock.drain().filter((r) => r.type === "sample").length;
   * spin(50);
   * const slow = samples();
   * clock.setPeriod(1_000_000); // 1 ms
   * spin(50);
   * assert.ok(samples() > slow);
   * ```
   */
  setPeriod(period: number): void {
    const value = integerArgument({ op: "period", event: this.#spec.name }, period, {
      name: "period",
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    });
    const lo = value % TWO_32;
    const result = this.#native.symbols.pm_period(this.#handle, lo, (value - lo) / TWO_32);
    if (result < 0) throw this.#ioctlFail(result, "period", value);
  }

  /**
   * Enables a sampling counter for `count` more samples
   * (`PERF_EVENT_IOC_REFRESH`): the kernel adds `count` to the counter's
   * overflow limit and enables it, and when the limit runs out it writes
   * that last sample and disables the counter on its own. Opened with
   * `enabled: false`, `refresh(3)` gives exactly 3 samples. Once the limit
   * has run out, `enable()` samples without one again.
   *
   * When the limit runs out the kernel would also send SIGIO, but only to
   * a process that asked for it on the fd (`O_ASYNC` with `F_SETOWN`), and
   * perfmmap never does; JavaScript could not handle the signal anyway.
   * Poll `drain()` or use `records()` instead.
   *
   * @param count An integer from 1 to 2^31 - 1.
   * @throws {PerfError} `INVALID_ARGUMENT`/`VALUE_OUT_OF_RANGE` for a bad
   * count, `EINVAL` (with a hint) for a counter that does not sample or was
   * opened with `inherit`, `STALE_HANDLE` after close.
   *
   * @example Exactly three samples
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * import assert from "node:assert/strict";
   *
   * using clock = Counter.open("cpu-clock", { enabled: false, sample: { period: 100_000 } });
   * clock.refresh(3);
   * const end = performance.now() + 50;
   * while (performance.now() < end); // hundreds of 0.1 ms periods
   * const samples = clock.drain().filter((r) => r.type === "sample");
   * assert.equal(samples.length, 3);
   * ```
   */
  refresh(count: number): void {
    const value = integerArgument({ op: "refresh", event: this.#spec.name }, count, {
      name: "count",
      min: 1,
      max: REFRESH_MAX,
    });
    const result = this.#native.symbols.pm_refresh(this.#handle, value);
    if (result < 0) throw this.#ioctlFail(result, "refresh", value);
  }

  #pause(paused: boolean, op: string): void {
    // A ring of its own, or the one it writes into (ring.output, a group's).
    if (!this.#closed && this.#ring === undefined && this.#output === undefined) {
      throw this.#fail(NO_RING, op);
    }
    const result = this.#native.symbols.pm_pause_output(this.#handle, paused ? 1 : 0);
    if (result < 0) throw this.#ioctlFail(result, op);
  }

  /**
   * Stops the kernel writing records into the ring this counter writes to
   * (`PERF_EVENT_IOC_PAUSE_OUTPUT`): its own, or its `ring.output`'s, for
   * every counter writing there. The counter keeps counting and
   * overflowing, but each record the kernel would write is dropped and
   * counted as lost; the first record after {@link Counter.resumeOutput} is
   * one `"lost"` record with that count. Pausing a paused ring does
   * nothing.
   *
   * @throws {PerfError} `NO_RING` for a counter that does not sample,
   * `STALE_HANDLE` after close.
   *
   * @example No samples while paused
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   * import assert from "node:assert/strict";
   *
   * using clock = Counter.open("cpu-clock", { enabled: false, sample: { period: 100_000 } });
   * clock.pauseOutput();
   * clock.enable();
   * let end = performance.now() + 20;
   * while (performance.now() < end);
   * assert.equal(clock.drain().length, 0);
   * clock.resumeOutput();
   * end = performance.now() + 20;
   * while (performance.now() < end);
   * const [first] = clock.drain(); // the samples dropped meanwhile
   * assert.ok(first.type === "lost" && first.lost > 0);
   * ```
   */
  pauseOutput(): void {
    this.#pause(true, "pause_output");
  }

  /**
   * Lets the kernel write records into the ring again after
   * {@link Counter.pauseOutput}; the first is a `"lost"` record counting
   * those dropped meanwhile. Resuming a ring that is not paused does
   * nothing.
   *
   * @throws {PerfError} `NO_RING` for a counter that does not sample,
   * `STALE_HANDLE` after close.
   *
   * @example Pausing around a section
   * ```ts
   * import { Counter } from "@perfmmap/perfmmap";
   *
   * using clock = Counter.open("cpu-clock", { sample: { frequency: 1000 } });
   * clock.pauseOutput();
   * // ... work that should not be sampled ...
   * clock.resumeOutput();
   * ```
   */
  resumeOutput(): void {
    this.#pause(false, "pause_output");
  }

  /**
   * Moves this counter's breakpoint to `spec`
   * (`PERF_EVENT_IOC_MODIFY_ATTRIBUTES`), keeping its fd and debug
   * register; from then on it reports `spec` as its event, and `spec` keeps
   * the new watched buffer alive in place of the old one. For
   * {@link Watchpoint.retarget}: only a breakpoint can move.
   *
   * @param spec The breakpoint to move to.
   * @throws {PerfError} The kernel's refusal (`ENOSPC`, `EINVAL`), or
   * `STALE_HANDLE` after close; the counter is unchanged then.
   */
  protected moveBreakpoint(spec: EventSpec): void {
    const result = modifyBreakpoint(this.#handle, this.#spec, spec);
    if (result < 0) {
      throw nativeFailure(result, {
        op: "modify_attributes",
        event: spec.name,
        kind: spec.kind,
        type: spec.type,
      });
    }
    this.#spec = spec;
    if (this.#ringContext !== undefined) this.#ringContext.event = spec.name;
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
    releaseHandle(this);
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
/**
 * Opens a resolved event as a Counter: one handle, or one per core PMU when
 * the event spans several (then the counter reads their sum).
 */
export function openCounter(spec: EventSpec, options: ResolvedOptions): Counter {
  if (spec.parts === undefined) {
    const layout = recordLayout(options.sampling, SINGLE_READ_FORMAT);
    return new AdoptedCounter(
      openEvent(spec, options, undefined),
      spec,
      layout,
      options.sampling?.output,
    );
  }
  const { handles, parts } = openParts(spec, options); // several core PMUs
  if (handles.length === 1) return new AdoptedCounter(handles[0], parts[0]);
  return new PartsCounter(handles, spec, parts);
}

/**
 * A Counter around a handle that src/_open.ts opened: what Counter.open,
 * Group.open and Watchpoint.open return or hold (Counter's own constructor
 * is protected, for subclasses).
 */
export class AdoptedCounter extends Counter {
  constructor(handle: number, spec: EventSpec, layout?: RecordLayout, output?: RingOutput) {
    super(handle, spec, layout, output);
  }
}

/** A generic event on several core PMUs, read as the sum of its parts. */
class PartsCounter extends Counter {
  // Part 0 is this counter's own handle; the others are plain counters.
  #rest: Counter[];
  #parts: EventSpec[];

  constructor(handles: number[], spec: EventSpec, parts: EventSpec[]) {
    super(handles[0], spec);
    this.#parts = parts;
    this.#rest = handles.slice(1).map((handle, i) => new AdoptedCounter(handle, parts[i + 1]));
  }

  override read(): number {
    let sum = super.read();
    const rest = this.#rest;
    for (let i = 0; i < rest.length; i++) sum += rest[i].read();
    return sum;
  }

  override readBigInt(): bigint {
    let sum = super.readBigInt();
    for (const part of this.#rest) sum += part.readBigInt();
    return sum;
  }

  override readSyscall(): number {
    let sum = super.readSyscall();
    for (const part of this.#rest) sum += part.readSyscall();
    return sum;
  }

  override readDetailed(): CounterReading {
    const readings = [super.readDetailed(), ...this.#rest.map((part) => part.readDetailed())];
    const parts: PartReading[] = readings.map((reading, i) => ({
      ...reading,
      name: this.#parts[i].name,
      pmu: this.#parts[i].pmu!,
    }));
    return combineParts(parts);
  }

  override enable(): void {
    super.enable();
    for (const part of this.#rest) part.enable();
  }

  override disable(): void {
    super.disable();
    for (const part of this.#rest) part.disable();
  }

  override reset(): void {
    super.reset();
    for (const part of this.#rest) part.reset();
  }

  override get userspace(): boolean {
    return super.userspace && this.#rest.every((part) => part.userspace);
  }

  override stats(): ReadStats {
    const total = super.stats();
    for (const part of this.#rest) {
      const stats = part.stats();
      for (const key of Object.keys(total) as (keyof ReadStats)[]) total[key] += stats[key];
    }
    return total;
  }

  override close(): void {
    if (this.closed) return super.close(); // STALE_HANDLE, as for any counter
    let first: unknown;
    for (const part of this.#rest) {
      try {
        part.close();
      } catch (error) {
        first ??= error;
      }
    }
    super.close();
    if (first !== undefined) throw first;
  }
}
