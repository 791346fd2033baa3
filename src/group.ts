/**
 * A group of counters that the kernel schedules together and that one
 * `read(2)` returns at once.
 *
 * @module
 */

import { type Native, native } from "./ffi/native.ts";
import { IOC_FLAG_GROUP } from "./ffi/symbols.ts";
import {
  adoptCounter,
  type Counter,
  type CounterOptions,
  openHandle,
  recordLayout,
} from "./counter.ts";
import { type EventInput, type EventSpec, parseEvent } from "./event.ts";
import { PerfError } from "./errors.ts";
import { READ_FORMAT } from "./_attr.ts";
import { nativeFailure } from "./_fail.ts";
import { GROUP_SAMPLE_BITS, type ResolvedOptions, resolveOptions } from "./_options.ts";
import type { PerfRecord, RecordsOptions, RingStats } from "./sampling.ts";
import { trackWatchpoints, type WatchpointEvent, watchpointSpec } from "./_watch.ts";

/** Largest group the core decodes (`pm_read_values`). */
export const GROUP_MAX_EVENTS = 256;

const GROUP_FORMAT = READ_FORMAT.TOTAL_TIME_ENABLED |
  READ_FORMAT.TOTAL_TIME_RUNNING | READ_FORMAT.ID | READ_FORMAT.GROUP;

/** One read of a whole group. */
export interface GroupReading {
  /** Counts, in the order of the events given to {@link Group.open}. */
  values: number[];
  /**
   * Counts scaled by `timeEnabled / timeRunning` when the group was
   * multiplexed; equal to `values` when it was not, or never ran.
   */
  scaled: number[];
  /** Nanoseconds the group was enabled. */
  timeEnabled: number;
  /** Nanoseconds the group was on the PMU. */
  timeRunning: number;
}

/** One exact read of a whole group. */
export interface GroupReadingBigInt {
  /** Exact counts, in the order of the events. */
  values: bigint[];
  /** Nanoseconds the group was enabled. */
  timeEnabled: bigint;
  /** Nanoseconds the group was on the PMU. */
  timeRunning: bigint;
}

/** A sampling group adds `id` to the samples; ring.output is Counter-only. */
function groupSampling(resolved: ResolvedOptions): ResolvedOptions {
  const sampling = resolved.sampling;
  if (sampling === undefined) return resolved;
  if (sampling.output !== undefined) {
    throw new PerfError("INVALID_OPTION", "a group samples into its leader's ring", {
      op: "open",
      hint: "drop ring.output: every member of a group writes into the leader's ring",
    });
  }
  return {
    ...resolved,
    sampling: { ...sampling, sampleType: sampling.sampleType | GROUP_SAMPLE_BITS },
  };
}

/**
 * A leader and its members, counted together and read with one syscall
 * (`PERF_FORMAT_GROUP | ID | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING`).
 *
 * @example Four software events at once
 * ```ts
 * import { Group } from "@perfmmap/perfmmap";
 *
 * using g = Group.open(["task-clock", "page-faults", "context-switches", "cpu-migrations"]);
 * new Uint8Array(1 << 20).fill(1);
 * const { values } = g.read();
 * console.log(values); // [ns, faults, switches, migrations]
 * ```
 */
export class Group implements Disposable {
  #counters: Counter[];
  #leader: number;
  #native: Native;
  #buffer: Uint8Array;
  #f64: Float64Array;
  #u64: BigUint64Array;
  #slots: number;
  #order: Int32Array;
  #closed = false;

  private constructor(counters: Counter[], handles: number[]) {
    this.#counters = counters;
    this.#leader = handles[0];
    this.#native = native();
    this.#slots = 3 + 3 * counters.length;
    this.#buffer = new Uint8Array(this.#slots * 8);
    this.#f64 = new Float64Array(this.#buffer.buffer);
    this.#u64 = new BigUint64Array(this.#buffer.buffer);
    this.#order = new Int32Array(counters.length);
    this.#mapOrder();
  }

  /**
   * Opens the events as one group: the first is the leader. Unless
   * `enabled: false`, the whole group starts counting at once.
   *
   * @param events One to 256 events, as for {@link Counter.open}, or
   * watchpoints from `Watchpoint.event`.
   * @param options As for {@link Counter.open}; `userspace` defaults to
   * `"off"` because the group is read with one syscall.
   * @returns The open group.
   * @throws {PerfError} `EMPTY_GROUP`, a bad event or option, or the
   * kernel's refusal of any member.
   *
   * @example Opening disabled and enabling later
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock", "page-faults"], { enabled: false });
   * g.enable();
   * ```
   */
  static open(
    events: readonly (EventInput | WatchpointEvent)[],
    options?: CounterOptions,
  ): Group {
    if (!Array.isArray(events)) {
      throw new PerfError("INVALID_EVENT", `events must be an array, got ${typeof events}`, {
        op: "open",
      });
    }
    if (events.length === 0) {
      throw new PerfError("EMPTY_GROUP", "a group needs at least one event", {
        op: "open",
        hint: 'pass the events to count together, e.g. ["task-clock", "page-faults"]',
      });
    }
    if (events.length > GROUP_MAX_EVENTS) {
      throw new PerfError(
        "GROUP_TOO_LARGE",
        `a group holds at most ${GROUP_MAX_EVENTS} events, got ${events.length}`,
        {
          op: "open",
        },
      );
    }
    const specs: EventSpec[] = events.map((event) =>
      watchpointSpec(event) ?? parseEvent(event as EventInput)
    );
    const resolved = groupSampling(resolveOptions("open", options, { userspace: "off" }));
    const layout = recordLayout(resolved.sampling, GROUP_FORMAT);
    const handles: number[] = [];
    const counters: Counter[] = [];
    try {
      for (const spec of specs) {
        const leader = handles.length === 0;
        // The leader maps the ring; every member writes into it.
        const memberOptions = leader || resolved.sampling === undefined
          ? resolved
          : { ...resolved, sampling: { ...resolved.sampling, output: counters[0] } };
        const handle = openHandle(spec, memberOptions, {
          leader: leader ? -1 : handles[0],
          readFormat: GROUP_FORMAT,
          disabled: leader,
        });
        handles.push(handle);
        counters.push(adoptCounter(handle, spec, layout, leader));
        trackWatchpoints(counters.slice(-1)); // an ENOSPC hint counts this group's too
      }
    } catch (error) {
      for (const counter of counters.reverse()) counter[Symbol.dispose]();
      throw error;
    }
    const group = new Group(counters, handles);
    if (resolved.enabled) group.enable();
    return group;
  }

  #check(result: number, op: string): void {
    if (result < 0) {
      throw nativeFailure(result, { op, event: this.#counters[0].event.name });
    }
  }

  /**
   * The records of the group's ring now (see {@link Counter.drain}). Every
   * member samples into the leader's ring; a sample's `id` is its member's
   * `Number(counter.id)` (a sampling group always adds `"id"` to
   * `sampleType`).
   *
   * @returns The records, oldest first.
   * @throws {PerfError} `NO_RING` when the group was opened without `sample`.
   *
   * @example Samples per member
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["cpu-clock", "task-clock"], { sample: { frequency: 1000 } });
   * const end = performance.now() + 20;
   * while (performance.now() < end);
   * const ids = g.counters.map((c) => Number(c.id));
   * for (const r of g.drain()) if (r.type === "sample") console.log(ids.indexOf(r.id!));
   * ```
   */
  drain(): PerfRecord[] {
    return this.#counters[0].drain();
  }

  /**
   * The group's records as they arrive (see {@link Counter.records}).
   *
   * @param options See {@link RecordsOptions}.
   * @returns An async iterator of records.
   *
   * @example Iterating
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["cpu-clock"], { sample: { frequency: 1000 } });
   * for await (const r of g.records({ signal: AbortSignal.timeout(50) })) console.log(r.type);
   * ```
   */
  records(options?: RecordsOptions): AsyncGenerator<PerfRecord, void, undefined> {
    return this.#counters[0].records(options);
  }

  /**
   * The group ring's consumer statistics (see {@link Counter.ringStats}).
   *
   * @returns A {@link RingStats}.
   *
   * @example Losses
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["cpu-clock"], { sample: { frequency: 1000 } });
   * console.log(g.ringStats().lost);
   * ```
   */
  ringStats(): RingStats {
    return this.#counters[0].ringStats();
  }

  #readRaw(exact: number): number {
    const nr = this.#native.symbols.pm_read_values(this.#leader, this.#buffer, this.#slots, exact);
    this.#check(nr, "read");
    return nr;
  }

  #mapOrder(): void {
    const nr = this.#readRaw(0);
    const ids = this.#counters.map((counter) => Number(counter.id));
    for (let i = 0; i < this.#counters.length; i++) {
      let position = -1;
      for (let p = 0; p < nr; p++) {
        if (this.#f64[4 + 3 * p] === ids[i]) position = p;
      }
      this.#order[i] = position < 0 ? i : position;
    }
  }

  /**
   * The members as counters, in the order of the events; each can also be
   * read on its own.
   *
   * @example Reading one member
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock", "page-faults"]);
   * console.log(g.counters[1].read());
   * ```
   */
  get counters(): readonly Counter[] {
    return this.#counters;
  }

  /**
   * All counts with one syscall, in the order of the events.
   *
   * @returns A {@link GroupReading}.
   *
   * @example Reading a group
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock", "page-faults"]);
   * const { values, timeEnabled, timeRunning } = g.read();
   * ```
   */
  read(): GroupReading {
    this.#readRaw(0);
    const f = this.#f64;
    const timeEnabled = f[1];
    const timeRunning = f[2];
    const factor = timeRunning > 0 && timeEnabled > timeRunning ? timeEnabled / timeRunning : 1;
    const count = this.#order.length;
    const values = new Array<number>(count);
    const scaled = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      const value = f[3 + 3 * this.#order[i]];
      values[i] = value;
      scaled[i] = value * factor;
    }
    return { values, scaled, timeEnabled, timeRunning };
  }

  /**
   * All counts as exact 64-bit values, in the order of the events.
   *
   * @returns A {@link GroupReadingBigInt}.
   *
   * @example Reading exactly
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock", "page-faults"]);
   * const { values } = g.readBigInt();
   * ```
   */
  readBigInt(): GroupReadingBigInt {
    this.#readRaw(1);
    const u = this.#u64;
    const values = Array.from(this.#order, (position) => u[3 + 3 * position]);
    return { values, timeEnabled: u[1], timeRunning: u[2] };
  }

  /**
   * Starts the whole group.
   *
   * @example Enabling
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock"], { enabled: false });
   * g.enable();
   * ```
   */
  enable(): void {
    this.#check(this.#native.symbols.pm_enable(this.#leader, IOC_FLAG_GROUP), "enable");
  }

  /**
   * Stops the whole group; the values stay.
   *
   * @example Disabling
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock"]);
   * g.disable();
   * ```
   */
  disable(): void {
    this.#check(this.#native.symbols.pm_disable(this.#leader, IOC_FLAG_GROUP), "disable");
  }

  /**
   * Sets every count of the group to zero.
   *
   * @example Resetting
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock"]);
   * g.reset();
   * ```
   */
  reset(): void {
    this.#check(this.#native.symbols.pm_reset(this.#leader, IOC_FLAG_GROUP), "reset");
  }

  /**
   * Whether {@link Group.close} was called.
   *
   * @example After close
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * const g = Group.open(["task-clock"]);
   * g.close();
   * console.log(g.closed); // true
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Closes every member, then the leader. A second close throws
   * `STALE_HANDLE`.
   *
   * @example Closing
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * const g = Group.open(["task-clock"]);
   * g.close();
   * ```
   */
  close(): void {
    let first: unknown;
    for (const counter of [...this.#counters].reverse()) {
      try {
        counter.close();
      } catch (error) {
        first ??= error;
      }
    }
    this.#closed = true;
    if (first !== undefined) throw first;
  }

  /**
   * Closes the group unless already closed; `using` calls this.
   *
   * @example Scoped group
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * {
   *   using g = Group.open(["task-clock"]);
   * } // closed here
   * ```
   */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}
