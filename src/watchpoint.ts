/**
 * Hardware watchpoints: the CPU's debug registers count every read or write
 * of a few bytes of memory (a typed array element), with no instrumentation
 * of the code that touches them (`PERF_TYPE_BREAKPOINT`).
 *
 * @module
 */

import { Counter } from "./counter.ts";
import { openEvent, recordLayout } from "./_open.ts";
import type { EventSpec } from "./event.ts";
import { PerfError } from "./errors.ts";
import { READ_FORMAT } from "./_uapi.ts";
import { ownRecord } from "./_input.ts";
import {
  type CounterOptions,
  NOT_FOR_WATCHPOINTS,
  type NotForWatchpoints,
  resolveOptions,
} from "./_options.ts";
import type { PerfRecord, RecordsOptions, RingOutput, RingStats } from "./sampling.ts";
import type { RecordLayout } from "./_records.ts";
import {
  accessOf,
  type AnyTypedArray,
  resolveMove,
  resolveTarget,
  trackWatchpoints,
  type WatchAccess,
  watchEvent,
  type WatchLength,
  type WatchpointEvent,
  watchpointsHeld,
  watchSpec,
} from "./_watch.ts";
import type { CounterReading } from "./reading.ts";

export type { AnyTypedArray, WatchAccess, WatchLength, WatchpointEvent };

/**
 * What to watch:
 * - `{ array, index }`: one element of a typed array (the length defaults
 *   to the element size);
 * - `{ buffer, byteOffset }`: bytes of an `ArrayBuffer`, `SharedArrayBuffer`
 *   or `DataView` (offset from the start of the DataView);
 * - `{ address }`: a raw address in this process (advanced: nothing checks
 *   that it is mapped, and nothing keeps it alive).
 */
export type WatchTarget =
  | { array: AnyTypedArray; index: number }
  | { buffer: ArrayBufferLike | DataView; byteOffset: number }
  | { address: bigint };

/**
 * How to open a watchpoint: the options of {@link CounterOptions} that a
 * breakpoint takes (all but `userspace`, `fallback` and `enableOnExec`: a
 * breakpoint has no register to read from userspace), and what to watch.
 * Every field is optional. For a watchpoint, `exclude` decides whether the
 * kernel's own accesses to the memory count (a `read(2)` into the buffer),
 * and `inherit` whether threads this thread starts later (Workers) count.
 */
export interface WatchpointOptions extends Omit<CounterOptions, NotForWatchpoints> {
  /**
   * What to count: `"w"` writes (default), `"rw"` reads and writes, `"r"`
   * reads (not on x86, whose debug registers cannot watch reads alone: the
   * kernel answers EINVAL), `"x"` execution of the instruction at the address.
   */
  access?: WatchAccess;
  /**
   * Bytes watched: 1, 2, 4 or 8, at an address aligned to it. Default: the
   * element size for an array target, 8 for `"x"`; required otherwise. An
   * access that touches any watched byte counts once.
   */
  length?: WatchLength;
}

const TOTAL_TIMES = READ_FORMAT.TOTAL_TIME_ENABLED | READ_FORMAT.TOTAL_TIME_RUNNING;

function splitOptions(
  options: unknown,
): { watch: { access?: unknown; length?: unknown }; rest: Record<string, unknown> } {
  // Own properties only: a polluted Object.prototype sets no option (the
  // copy has no prototype, and access and length are always set on `watch`).
  const given = options === undefined ? {} : options;
  const own = ownRecord({ op: "open", event: "watchpoint" }, "options", given);
  const { access, length, ...rest } = own;
  for (const key of NOT_FOR_WATCHPOINTS) {
    if (Object.hasOwn(rest, key)) {
      throw new PerfError(
        "INVALID_OPTION",
        `option ${key} does not apply to a watchpoint (a breakpoint has no register to read from userspace)`,
        { op: "open", event: "watchpoint" },
      );
    }
  }
  return { watch: { access, length }, rest };
}

/** The counter of a watchpoint: a Counter whose breakpoint can move. */
class BreakpointCounter extends Counter {
  constructor(handle: number, spec: EventSpec, layout?: RecordLayout, output?: RingOutput) {
    super(handle, spec, layout, output);
  }

  /** See Counter's `moveBreakpoint`. */
  move(spec: EventSpec): void {
    this.moveBreakpoint(spec);
  }
}

/**
 * A hardware watchpoint: counts the accesses to 1, 2, 4 or 8 bytes of
 * memory by this thread (and, with `inherit`, by threads it starts later).
 * Reads like a {@link Counter}. It holds one of the CPU's few debug
 * registers (4 per thread on x86_64) until it is closed, and a strong
 * reference to the watched buffer, so the address stays valid.
 *
 * Every counted access costs a debug exception (about 4 to 5 µs on a
 * virtual machine), so watch memory that is touched thousands of times,
 * not billions.
 *
 * @example Counting the writes to one element
 * ```ts
 * import { Watchpoint } from "@perfmmap/perfmmap";
 *
 * const data = new Float64Array(8);
 * using writes = Watchpoint.open({ array: data, index: 3 }, { access: "w" });
 * for (let i = 0; i < 1000; i++) data[3] = i; // counted
 * for (let i = 0; i < 1000; i++) data[4] = i; // another element: not counted
 * console.log(writes.read()); // 1000
 * ```
 */
export class Watchpoint implements Disposable {
  #counter: BreakpointCounter;
  #address: bigint;
  #length: WatchLength;

  private constructor(counter: BreakpointCounter, address: bigint, length: WatchLength) {
    this.#counter = counter;
    this.#address = address;
    this.#length = length;
  }

  /**
   * Opens a watchpoint. The target and options are checked before the
   * kernel is asked: a typed array, an index or offset inside it, a buffer
   * that is not detached, a length of 1, 2, 4 or 8 at an address aligned to
   * it, and on x86_64 length 8 for `"x"`.
   *
   * @param target See {@link WatchTarget}.
   * @param options See {@link WatchpointOptions}.
   * @returns The open watchpoint; close it, or declare it with `using`.
   * @throws {PerfError} `INVALID_TARGET`, `VALUE_OUT_OF_RANGE`,
   * `MISALIGNED_ADDRESS`, `DETACHED_BUFFER` or `INVALID_OPTION` before the
   * kernel is asked; `ENOSPC` when the debug registers are taken (the hint
   * says how many watchpoints this thread holds), `EINVAL` (e.g. `"r"` on
   * x86), `EACCES`, each with a hint.
   *
   * @example Reads and writes of a shared counter
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   *
   * const shared = new Int32Array(new SharedArrayBuffer(16));
   * using access = Watchpoint.open({ array: shared, index: 0 }, { access: "rw" });
   * Atomics.add(shared, 0, 1);
   * console.log(access.read() >= 1);
   * ```
   */
  static open(target: WatchTarget, options?: WatchpointOptions): Watchpoint {
    const { watch, rest } = splitOptions(options);
    const resolved = resolveOptions("open", rest, { userspace: "off" });
    const request = resolveTarget(target, watch);
    const spec = watchSpec(request);
    const layout = recordLayout(resolved.sampling, TOTAL_TIMES);
    const output = resolved.sampling?.output;
    const counter = new BreakpointCounter(
      openEvent(spec, resolved, undefined),
      spec,
      layout,
      output,
    );
    trackWatchpoints([counter]);
    return new Watchpoint(counter, request.address, request.length);
  }

  /**
   * Resolves a watchpoint for `Group.open`, which opens it with the group's
   * options; the group's counter for it keeps the buffer alive.
   *
   * @param target See {@link WatchTarget}.
   * @param options `access` and `length` only.
   * @returns A member for `Group.open`.
   * @throws {PerfError} As {@link Watchpoint.open} before the kernel is asked.
   *
   * @example Writes and all accesses in one read
   * ```ts
   * import { Group, Watchpoint } from "@perfmmap/perfmmap";
   *
   * const data = new Float64Array(4);
   * using g = Group.open([
   *   Watchpoint.event({ array: data, index: 0 }, { access: "w" }),
   *   Watchpoint.event({ array: data, index: 0 }, { access: "rw" }),
   * ]);
   * data[0] += 1;
   * console.log(g.read().values); // [1, 2]
   * ```
   */
  static event(
    target: WatchTarget,
    options?: { access?: WatchAccess; length?: WatchLength },
  ): WatchpointEvent {
    const { watch, rest } = splitOptions(options);
    const extra = Object.keys(rest);
    if (extra.length > 0) {
      throw new PerfError(
        "INVALID_OPTION",
        `option ${extra[0]} belongs to Group.open; Watchpoint.event takes access and length`,
        { op: "open", event: "watchpoint" },
      );
    }
    return watchEvent(resolveTarget(target, watch));
  }

  /**
   * Watchpoints this thread opened through perfmmap (alone or in a group)
   * and has not closed: each holds a debug register.
   *
   * @returns The number open now.
   *
   * @example Before opening a fifth
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * console.log(Watchpoint.held()); // 0
   * ```
   */
  static held(): number {
    return watchpointsHeld();
  }

  /**
   * The number of watched accesses so far: the hot path (`read(2)`, no
   * allocation).
   *
   * @returns The count.
   * @throws {PerfError} `STALE_HANDLE` after close.
   *
   * @example Before and after
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Uint32Array(2);
   * using w = Watchpoint.open({ array: a, index: 1 });
   * a[1] = 7;
   * console.log(w.read()); // 1
   * ```
   */
  read(): number {
    return this.#counter.read();
  }

  /**
   * The count as an exact 64-bit value.
   *
   * @returns The count as a bigint.
   *
   * @example Exactly
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Uint32Array(2);
   * using w = Watchpoint.open({ array: a, index: 0 });
   * console.log(w.readBigInt()); // 0n
   * ```
   */
  readBigInt(): bigint {
    return this.#counter.readBigInt();
  }

  /**
   * The count with the times it was enabled and running.
   *
   * @returns A {@link CounterReading}.
   *
   * @example Times
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Uint32Array(2);
   * using w = Watchpoint.open({ array: a, index: 0 });
   * console.log(w.readDetailed().timeEnabled);
   * ```
   */
  readDetailed(): CounterReading {
    return this.#counter.readDetailed();
  }

  /**
   * Starts counting.
   *
   * @example Counting a section only
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Uint8Array(8);
   * using w = Watchpoint.open({ array: a, index: 0 }, { enabled: false });
   * a[0] = 1; // not counted
   * w.enable();
   * a[0] = 2; // counted
   * ```
   */
  enable(): void {
    this.#counter.enable();
  }

  /**
   * Stops counting; the count stays and the debug register stays reserved.
   *
   * @example Pausing
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Uint8Array(8);
   * using w = Watchpoint.open({ array: a, index: 0 });
   * w.disable();
   * ```
   */
  disable(): void {
    this.#counter.disable();
  }

  /**
   * Sets the count to zero.
   *
   * @example Starting over
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Uint8Array(8);
   * using w = Watchpoint.open({ array: a, index: 0 });
   * w.reset();
   * ```
   */
  reset(): void {
    this.#counter.reset();
  }

  /**
   * Moves the watchpoint to another target without closing it
   * (`PERF_EVENT_IOC_MODIFY_ATTRIBUTES`): it keeps its fd, its debug
   * register, its count and whether it is enabled, and from now on counts
   * the accesses to the new target only. The target is checked as by
   * {@link Watchpoint.open} before the kernel is asked. The watchpoint then
   * holds the new target's buffer and lets go of the old one. Options:
   * `access` (default: the watchpoint's own) and `length` (default: the
   * element size for an array target, else the watchpoint's own); every
   * other option stays as it was opened. Unlike closing it and opening
   * another, a move needs no new fd or ring, and no other breakpoint can
   * take the register meanwhile.
   *
   * @param target See {@link WatchTarget}.
   * @param options `access` and `length`.
   * @throws {PerfError} As {@link Watchpoint.open} for a bad target, with op
   * `"modify_attributes"`; `INVALID_OPTION` for another option; the kernel's
   * `EINVAL` or `ENOSPC` (a new access kind may need a register of another
   * kind); `STALE_HANDLE` after close. The watchpoint is unchanged when it
   * throws.
   *
   * @example Following a moving element
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * import assert from "node:assert/strict";
   *
   * const data = new Float64Array(4);
   * using writes = Watchpoint.open({ array: data, index: 0 });
   * data[0] = 1; // counted
   * writes.retarget({ array: data, index: 2 });
   * data[0] = 2; // no longer watched
   * data[2] = 3; // counted
   * assert.equal(writes.read(), 2);
   * assert.equal(writes.address, writes.event.config1);
   * ```
   */
  retarget(target: WatchTarget, options?: { access?: WatchAccess; length?: WatchLength }): void {
    const request = resolveMove(target, options, { access: this.access, length: this.#length });
    this.#counter.move(watchSpec(request));
    this.#address = request.address;
    this.#length = request.length;
  }

  /**
   * The records of a sampling watchpoint (opened with `sample`, e.g.
   * `{ sample: { period: 1 }, sampleType: ["ip", "tid"] }`): one sample per
   * access, with the address of the instruction after the access (x86 data
   * breakpoints trap after the instruction) and the thread.
   *
   * @returns The records, oldest first.
   * @throws {PerfError} `NO_RING` when the watchpoint does not sample.
   *
   * @example Who wrote
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Float64Array(4);
   * using w = Watchpoint.open({ array: a, index: 0 }, {
   *   sample: { period: 1 },
   *   sampleType: ["ip", "tid"],
   * });
   * a[0] = 1;
   * for (const r of w.drain()) if (r.type === "sample") console.log(r.ip, r.tid);
   * ```
   */
  drain(): PerfRecord[] {
    return this.#counter.drain();
  }

  /**
   * The records of a sampling watchpoint as they arrive (see
   * `Counter.records`).
   *
   * @param options See {@link RecordsOptions}.
   * @returns An async iterator of records.
   *
   * @example Iterating
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Float64Array(4);
   * using w = Watchpoint.open({ array: a, index: 0 }, { sample: { period: 1 } });
   * a[0] = 1;
   * for await (const r of w.records({ signal: AbortSignal.timeout(20) })) console.log(r.type);
   * ```
   */
  records(options?: RecordsOptions): AsyncGenerator<PerfRecord, void, undefined> {
    return this.#counter.records(options);
  }

  /**
   * The ring's consumer statistics of a sampling watchpoint.
   *
   * @returns A {@link RingStats}.
   *
   * @example Losses
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const a = new Float64Array(4);
   * using w = Watchpoint.open({ array: a, index: 0 }, { sample: { period: 1 } });
   * console.log(w.ringStats().lost);
   * ```
   */
  ringStats(): RingStats {
    return this.#counter.ringStats();
  }

  /**
   * Whether the watchpoint samples into a ring of its own.
   *
   * @example Checking
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * using w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * console.log(w.sampling); // false
   * ```
   */
  get sampling(): boolean {
    return this.#counter.sampling;
  }

  /**
   * The watched address.
   *
   * @example Printing it
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * using w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * console.log(`0x${w.address.toString(16)}`);
   * ```
   */
  get address(): bigint {
    return this.#address;
  }

  /**
   * The watched length in bytes.
   *
   * @example The default for a Float64Array
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * using w = Watchpoint.open({ array: new Float64Array(2), index: 0 });
   * console.log(w.length); // 8
   * ```
   */
  get length(): WatchLength {
    return this.#length;
  }

  /**
   * What is counted: `"r"`, `"w"`, `"rw"` or `"x"`.
   *
   * @example The default
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * using w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * console.log(w.access); // "w"
   * ```
   */
  get access(): WatchAccess {
    return accessOf(this.#counter.event);
  }

  /**
   * The event as perf writes it (`mem:0x<address>/<length>:<access>`),
   * type 5 (`PERF_TYPE_BREAKPOINT`), with `bpType`, `config1` (the address)
   * and `config2` (the length).
   *
   * @example The name
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * using w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * console.log(w.event.name); // mem:0x.../1:w
   * ```
   */
  get event(): EventSpec {
    return this.#counter.event;
  }

  /**
   * The underlying {@link Counter} (for `stats()`, `readSyscall()`, ...).
   *
   * @example Its fd
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * using w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * console.log(w.counter.fd);
   * ```
   */
  get counter(): Counter {
    return this.#counter;
  }

  /**
   * The kernel's id of the event (`PERF_EVENT_IOC_ID`).
   *
   * @example The id
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * using w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * console.log(w.id);
   * ```
   */
  get id(): bigint {
    return this.#counter.id;
  }

  /**
   * Whether {@link Watchpoint.close} was called.
   *
   * @example After close
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * w.close();
   * console.log(w.closed); // true
   * ```
   */
  get closed(): boolean {
    return this.#counter.closed;
  }

  /**
   * Closes the watchpoint and frees its debug register. A second close
   * throws `STALE_HANDLE`.
   *
   * @example Closing
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * const w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * w.close();
   * ```
   */
  close(): void {
    this.#counter.close();
  }

  /**
   * Closes the watchpoint unless already closed; `using` calls this.
   *
   * @example Scoped
   * ```ts
   * import { Watchpoint } from "@perfmmap/perfmmap";
   * {
   *   using w = Watchpoint.open({ array: new Uint8Array(8), index: 0 });
   * } // closed here
   * ```
   */
  [Symbol.dispose](): void {
    if (!this.#counter.closed) this.#counter.close();
  }
}
