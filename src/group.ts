/**
 * A group of counters that the kernel schedules together and that one
 * `read(2)` returns at once.
 *
 * @module
 */

import { type Native, native } from "./loader/native.ts";
import {
  coreResult,
  GROUP_SLOTS,
  GROUP_SOURCE,
  IOC_FLAG_GROUP,
  type NativeSymbols,
} from "./ffi/symbols.ts";
import { AdoptedCounter, type Counter } from "./counter.ts";
import { GROUP_RECORD_MEMBERS_MAX, openEvent, recordLayout } from "./_open.ts";
import type { ReadSource } from "./reading.ts";
import {
  checkReadIntoBuffer,
  groupSource,
  groupUserspaceDefault,
  mayReadFromRegister,
} from "./_group_read.ts";
import { type EventInput, type EventSpec, parseEvent } from "./event.ts";
import { PerfError } from "./errors.ts";
import { READ_FORMAT } from "./_uapi.ts";
import { nativeFailure } from "./_fail.ts";
import { counterHolders, notCountedReason, scaleFactor } from "./_counted.ts";
import { cpuPmus, PMU_ROOT, readLine } from "./_sysfs.ts";
import { refuseGroupParts } from "./_hybrid.ts";
import {
  type CounterOptions,
  GROUP_SAMPLE_BITS,
  type ResolvedOptions,
  resolveOptions,
} from "./_options.ts";
import type { PerfRecord, RecordsOptions, RingStats } from "./sampling.ts";
import { trackWatchpoints, type WatchpointEvent, watchpointSpec } from "./_watch.ts";

/** Largest group the core decodes (`pm_read_values`). */
export const GROUP_MAX_EVENTS: number = GROUP_RECORD_MEMBERS_MAX;

/** The core's STALE_HANDLE result, for a group used after close. */
const STALE_HANDLE = coreResult("STALE_HANDLE");

const GROUP_FORMAT = READ_FORMAT.TOTAL_TIME_ENABLED |
  READ_FORMAT.TOTAL_TIME_RUNNING | READ_FORMAT.ID | READ_FORMAT.GROUP;

/** Member i's value is at `VALUE_SLOT + MEMBER_STRIDE * i` of a group record. */
const VALUE_SLOT = GROUP_SLOTS.MEMBERS + GROUP_SLOTS.VALUE;
const MEMBER_STRIDE = GROUP_SLOTS.MEMBER_STRIDE;
const TIME_ENABLED_SLOT = GROUP_SLOTS.TIME_ENABLED;
const TIME_RUNNING_SLOT = GROUP_SLOTS.TIME_RUNNING;
const SOURCE_USERSPACE = GROUP_SOURCE.USERSPACE;

/**
 * One read of a whole group. A group that was never on the PMU
 * (`timeRunning` 0: never enabled yet, or never scheduled) has no counts:
 * `counted` is false, `scaled` is `null` and `reason` says why; its `values`
 * are then the kernel's zeros, not measurements.
 */
export interface GroupReading {
  /**
   * The kernel's counts, in the order of the events given to
   * {@link Group.open}; measurements only when `counted` is true.
   */
  values: number[];
  /**
   * Counts scaled by `timeEnabled / timeRunning` when the group was
   * multiplexed, equal to `values` when it was not; `null` when the group
   * never ran (`timeRunning` 0), never a 0 or NaN presented as a count.
   */
  scaled: number[] | null;
  /** Whether the group was on the PMU at all (`timeRunning > 0`). */
  counted: boolean;
  /** Why the group was not counted; `null` when it was. */
  reason: string | null;
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

/** What user code threw while its events were read, as INVALID_EVENT with the cause. */
function unreadable(what: string, cause: unknown): PerfError {
  return new PerfError("INVALID_EVENT", `${what} could not be read: ${describeThrown(cause)}`, {
    op: "open",
    cause,
    hint: "pass a plain array of event names or event objects",
  });
}

function describeThrown(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return `${typeof value} thrown`;
}

function notAnArray(events: unknown): PerfError {
  const iterable = typeof events === "object" && events !== null &&
    typeof (events as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
  const shown = events === null
    ? "null"
    : typeof events !== "object"
    ? typeof events
    : iterable
    ? `a ${Object.prototype.toString.call(events).slice(8, -1)} (an iterable, not an array)`
    : "an object that is not an array";
  return new PerfError("INVALID_EVENT", `events must be an array, got ${shown}`, {
    op: "open",
    hint: typeof events === "string"
      ? `put the event in an array: Group.open([${JSON.stringify(events.slice(0, 40))}])`
      : iterable
      ? "spread it into an array: Group.open([...events])"
      : 'pass an array of events, e.g. ["task-clock", "page-faults"]',
  });
}

/**
 * The events of `Group.open`, each read once, from the array's own elements
 * only: a hole is an error naming its index, never `undefined` and never an
 * element inherited from `Array.prototype`. Anything user code throws on the
 * way (a Proxy trap, a getter) becomes INVALID_EVENT with that cause. No
 * counter is open yet, so nothing can leak.
 */
function readEvents(events: unknown): EventSpec[] {
  let length: unknown;
  try {
    if (!Array.isArray(events)) throw notAnArray(events);
    length = events.length;
  } catch (error) {
    throw error instanceof PerfError ? error : unreadable("the events array", error);
  }
  if (typeof length !== "number" || !Number.isInteger(length) || length < 0) {
    throw new PerfError("INVALID_EVENT", `events.length is not a length: ${String(length)}`, {
      op: "open",
      hint: "pass a plain array of events",
    });
  }
  if (length === 0) {
    throw new PerfError("EMPTY_GROUP", "a group needs at least one event", {
      op: "open",
      hint: 'pass the events to count together, e.g. ["task-clock", "page-faults"]',
    });
  }
  if (length > GROUP_MAX_EVENTS) {
    throw new PerfError(
      "GROUP_TOO_LARGE",
      `a group holds at most ${GROUP_MAX_EVENTS} events, got ${length}`,
      { op: "open", hint: "split the events into several groups" },
    );
  }
  const specs: EventSpec[] = [];
  for (let i = 0; i < length; i++) specs.push(readEvent(events as unknown[], i));
  return specs;
}

function readEvent(events: readonly unknown[], i: number): EventSpec {
  let event: unknown;
  try {
    if (!Object.prototype.hasOwnProperty.call(events, i)) {
      throw new PerfError("INVALID_EVENT", `events[${i}] is a hole in the array`, {
        op: "open",
        hint: "give every position an event; a group has no empty slots",
      });
    }
    event = events[i];
    if (event === undefined) {
      throw new PerfError("INVALID_EVENT", `events[${i}] is undefined`, {
        op: "open",
        hint: 'give every position an event, e.g. "task-clock"',
      });
    }
    return watchpointSpec(event) ?? parseEvent(event as EventInput);
  } catch (error) {
    throw error instanceof PerfError ? error : unreadable(`events[${i}]`, error);
  }
}

/**
 * Where each member's value sits in a group record of `pm_read_values`
 * (slot 0 nr, then `value, id, lost` per member from slot 3): `order[i]`
 * becomes the position of the member whose kernel id is `ids[i]`. The kernel
 * returns members in the order they joined the group, which is the events'
 * order, so this first checks that `order` still holds (no allocation) and
 * matches by id only when it does not.
 *
 * @param slots The record, as f64 or u64 slots.
 * @param nr Members in the record.
 * @param ids The members' kernel ids, in the order of the events.
 * @param order Positions, in the order of the events; updated in place.
 * @returns -1 when every id is in the record, else the index of the first
 * member whose id is not.
 */
export function mapGroupOrder(
  slots: ArrayLike<number | bigint>,
  nr: number,
  ids: ArrayLike<number>,
  order: Int32Array,
): number {
  const count = ids.length;
  let holds = nr === count;
  for (let i = 0; holds && i < count; i++) holds = Number(slots[4 + 3 * order[i]]) === ids[i];
  if (holds) return -1;
  for (let i = 0; i < count; i++) {
    let position = -1;
    for (let p = 0; p < nr && position < 0; p++) {
      if (Number(slots[4 + 3 * p]) === ids[i]) position = p;
    }
    if (position < 0) return i;
    order[i] = position;
  }
  return -1;
}

/**
 * The {@link GroupReading} of a `pm_read_values` record (f64 slots: 0 nr,
 * 1 time_enabled, 2 time_running, then `value, id, lost` per member), in the
 * order given by `order` (see {@link mapGroupOrder}).
 *
 * @param slots The record.
 * @param order The position of each member, in the order of the events.
 * @returns Values, scaled values (`null` when the group never ran) and times.
 */
export function groupReading(slots: Float64Array, order: Int32Array): GroupReading {
  const timeEnabled = slots[1];
  const timeRunning = slots[2];
  const count = order.length;
  const values = new Array<number>(count);
  for (let i = 0; i < count; i++) values[i] = slots[3 + 3 * order[i]];
  const reason = notCountedReason(timeEnabled, timeRunning);
  if (reason !== null) {
    return { values, scaled: null, counted: false, reason, timeEnabled, timeRunning };
  }
  const factor = scaleFactor(timeEnabled, timeRunning);
  const scaled = values.map((value) => value * factor);
  return { values, scaled, counted: true, reason: null, timeEnabled, timeRunning };
}

/**
 * Whether the event takes a hardware counter while it counts: the events
 * that may sit on a register (see mayReadFromRegister), simulated ones
 * aside. Events of the kernel's software context never do, so a group of
 * them always gets on.
 */
export function takesCounter(spec: EventSpec): boolean {
  return spec.kind !== "simulated" && mayReadFromRegister(spec);
}

/**
 * Whether {@link Group.open} (or the first `enable()`) checks that the group
 * gets on the PMU. Only a group with a hardware member can fail to, and the
 * check is only sound when the group must be scheduled while it runs: for
 * this thread on any CPU (it is running the check), or for a whole CPU.
 * A group on another process (which may sleep), on this thread but one CPU
 * (it may run elsewhere now), or waiting for an exec is left alone.
 */
export function needsScheduleCheck(
  specs: readonly EventSpec[],
  options: Pick<ResolvedOptions, "pid" | "cpu" | "enableOnExec">,
): boolean {
  if (options.enableOnExec) return false;
  const runsNow = (options.pid === 0 && options.cpu === -1) || options.pid === -1;
  return runsNow && specs.some(takesCounter);
}

/** The times of one group read, as the schedule check sees them. */
export interface ScheduleSample {
  /** Nanoseconds enabled. */
  timeEnabled: number;
  /** Nanoseconds on the PMU. */
  timeRunning: number;
}

/** What {@link awaitSchedule} found. */
export interface ScheduleOutcome {
  /** Whether the group showed time on the PMU. */
  scheduled: boolean;
  /** Reads made. */
  reads: number;
  /** The last read. */
  last: ScheduleSample;
}

/** Reads at most this often while waiting for a group's turn. */
export const SCHEDULE_READ_INTERVAL_MS = 0.5;
/**
 * A bound on the reads, should the clock stand still; room for a read every
 * 0.5 ms through twice the longest wait (250 ms).
 */
export const SCHEDULE_READS_MAX = 1024;
/** Rotations of the PMU a group may wait for its first turn. */
export const SCHEDULE_ROTATIONS = 8;
/** The kernel's default rotation interval (`perf_event_mux_interval_ms`). */
const MUX_INTERVAL_DEFAULT_MS = 4;
/** The longest wait, whatever the rotation interval says. */
const SCHEDULE_WAIT_MAX_MS = 250;
/** A bound on the clock reads between two group reads, should the clock stand still. */
const SCHEDULE_SPIN_MAX = 1 << 12;

/**
 * The PAPI check, with a wait: reads the group until it shows time on the
 * PMU (`timeRunning > 0`), spinning this thread in between (a group on this
 * thread is only scheduled while the thread runs), for at most `waitMs`. A
 * group that fits gets on at once, or within a few rotations of the PMU when
 * other groups compete for the counters; one that cannot fit never does.
 *
 * @param read One read of the group's times.
 * @param now A clock in milliseconds.
 * @param waitMs How long to wait for the first turn.
 * @returns Whether the group got on, the reads made and the last one.
 */
export function awaitSchedule(
  read: () => ScheduleSample,
  now: () => number,
  waitMs: number,
): ScheduleOutcome {
  const deadline = now() + waitMs;
  let last = read();
  let reads = 1;
  while (!(last.timeRunning > 0) && reads < SCHEDULE_READS_MAX) {
    const readAt = now();
    if (readAt >= deadline) break;
    for (let spins = 0; spins < SCHEDULE_SPIN_MAX; spins++) {
      const t = now();
      if (t - readAt >= SCHEDULE_READ_INTERVAL_MS || t >= deadline) break;
    }
    last = read();
    reads++;
  }
  return { scheduled: last.timeRunning > 0, reads, last };
}

/** How long a group may wait for its first turn: some rotations of its PMUs. */
function scheduleWaitMs(): number {
  let interval = MUX_INTERVAL_DEFAULT_MS;
  try {
    for (const pmu of cpuPmus()) {
      const value = Number(readLine(`${PMU_ROOT}/${pmu}/perf_event_mux_interval_ms`));
      if (Number.isFinite(value) && value > interval) interval = value;
    }
  } catch {
    // the default interval then
  }
  return Math.min(SCHEDULE_WAIT_MAX_MS, SCHEDULE_ROTATIONS * interval);
}

let forceScheduleCheck = false;

/**
 * Makes every group take the schedule check, hardware or not (tests: a
 * software group bound to a CPU its thread may not run on never gets on,
 * which is the one never-scheduled group a machine without a PMU can make).
 *
 * @param force Whether to check every group.
 */
export function forceScheduleCheckForTests(force: boolean): void {
  forceScheduleCheck = force;
}

/**
 * NOT_COUNTED for a group that never got on the PMU: how many counters it
 * needs, and what holds them here.
 */
export function notScheduled(
  specs: readonly EventSpec[],
  options: Pick<ResolvedOptions, "pid" | "cpu">,
  outcome: ScheduleOutcome,
  waitedMs: number,
  op: string,
): PerfError {
  const hardware = specs.filter(takesCounter).map((spec) => spec.name);
  const where = options.pid === -1 ? `on cpu ${options.cpu}` : "on this thread";
  const boundCpu = options.pid !== -1 && options.cpu >= 0;
  const why = boundCpu
    ? `it counts this thread on cpu ${options.cpu} only, and the thread ran on other CPUs`
    : `it needs ${hardware.length} hardware counter${hardware.length === 1 ? "" : "s"} at once (${
      hardware.join(", ")
    }), and fewer are free`;
  return new PerfError(
    "NOT_COUNTED",
    `the group (${specs.map((s) => s.name).join(", ")}) was enabled ${where} but never got ` +
      `on the PMU in ${waitedMs.toFixed(0)} ms (${outcome.reads} reads, timeRunning 0, ` +
      `timeEnabled ${outcome.last.timeEnabled} ns): ${why}; it would read 0 forever`,
    {
      op,
      event: specs[0].name,
      hint: boundCpu
        ? `drop cpu to count the thread wherever it runs, or pin the thread to cpu ${options.cpu}`
        : `open fewer hardware events per group, or free counters: ${counterHolders()}`,
    },
  );
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
  #counters: readonly Counter[];
  #handles: Int32Array;
  #ids: Float64Array;
  #native: Native;
  #buffer: Uint8Array;
  #f64: Float64Array;
  #u64: BigUint64Array;
  #slots: number;
  #order: Int32Array;
  /** The handles' bytes, bound once with the buffer (`pm_group_bind`). */
  #members: Uint8Array;
  #groupRead: NativeSymbols["pm_group_read"];
  #leader: number;
  #closed = false;
  /** The schedule check still to make at the first enable (see `needsScheduleCheck`). */
  #scheduleCheck: { specs: EventSpec[]; options: ResolvedOptions } | undefined;

  /**
   * Wraps counters already opened as one group in the core, leader first.
   * Use {@link Group.open}; this is for subclasses in this package (the
   * simulated groups of `testing.ts`).
   *
   * @param counters The counters, leader first, in join order.
   * @param handles Their core handles, in the same order.
   */
  protected constructor(counters: Counter[], handles: number[]) {
    this.#counters = Object.freeze([...counters]);
    this.#handles = Int32Array.from(handles);
    // Kernel ids fit a double exactly: they count events opened since boot.
    this.#ids = Float64Array.from(counters, (counter) => Number(counter.id));
    this.#native = native();
    this.#slots = 3 + 3 * counters.length;
    this.#buffer = new Uint8Array(this.#slots * 8);
    this.#f64 = new Float64Array(this.#buffer.buffer);
    this.#u64 = new BigUint64Array(this.#buffer.buffer);
    this.#order = Int32Array.from(counters, (_, i) => i);
    this.#members = new Uint8Array(this.#handles.buffer);
    this.#groupRead = this.#native.symbols.pm_group_read;
    this.#leader = handles[0];
    // The core keeps both buffers (this object holds them as long as it
    // reads), so each read passes only the leader's handle: a buffer
    // argument costs Deno's FFI about 15 ns per call. Both are views of an
    // ArrayBuffer whose `.buffer` was taken above, which moves a small
    // array's storage off V8's heap for good (JSC's typed-array storage
    // never moves), so the address the core keeps stays right.
    const bound = this.#native.symbols.pm_group_bind(
      this.#members,
      counters.length,
      this.#buffer,
      this.#slots,
    );
    if (bound < 0) throw nativeFailure(bound, { op: "open", event: counters[0].event.name });
  }

  /**
   * Opens the events as one group: the first is the leader. Unless
   * `enabled: false`, the whole group starts counting at once.
   *
   * @param events One to 256 events, as for {@link Counter.open}, or
   * watchpoints from `Watchpoint.event`, in a plain array. Each element is
   * read once, from the array itself: a hole (`[, "task-clock"]`) is
   * `INVALID_EVENT` naming its index, never an element inherited from
   * `Array.prototype`.
   * @param options As for {@link Counter.open}. `userspace` defaults to
   * `"auto"` when every event may sit on a counter register (hardware,
   * cache, raw and PMU events: the group is then read from userspace when
   * every member's page allows it, see {@link Group.readInto}), and to
   * `"off"` otherwise (a software event has no register, so the group is
   * read with one syscall and no page is mapped).
   * @returns The open group.
   * A group with a hardware member (on this thread, or on a whole CPU) is
   * checked as PAPI checks it, when it is first enabled: it must get on the
   * PMU. One that fits does at once (one extra `read(2)`), or within a few
   * rotations of the PMU when other groups compete; one that needs more
   * counters than are free (the NMI watchdog holds one on x86) never would,
   * and would read 0 forever: it is refused with `NOT_COUNTED`.
   * @throws {PerfError} `EMPTY_GROUP`, `GROUP_TOO_LARGE`, `INVALID_EVENT`
   * (not an array, a hole, or an element whose reading threw: the error
   * keeps that `cause`), a bad event or option, the kernel's refusal of
   * any member, or `NOT_COUNTED` (the group never got on the PMU: the
   * message says how many counters it needs, the hint what holds them). No
   * counter stays open when it throws.
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
    const specs = readEvents(events);
    refuseGroupParts(specs); // a generic event on a hybrid CPU spans several PMUs
    const userspace = groupUserspaceDefault(specs);
    const resolved = groupSampling(resolveOptions("open", options, { userspace }));
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
        const handle = openEvent(spec, memberOptions, {
          leader: leader ? -1 : handles[0],
          readFormat: GROUP_FORMAT,
          disabled: leader,
        });
        handles.push(handle);
        counters.push(new AdoptedCounter(handle, spec, layout, memberOptions.sampling?.output));
        trackWatchpoints(counters.slice(-1)); // an ENOSPC hint counts this group's too
      }
      const group = new Group(counters, handles);
      if (forceScheduleCheck || needsScheduleCheck(specs, resolved)) {
        group.#scheduleCheck = { specs, options: resolved };
      }
      if (resolved.enabled) group.#enable("open");
      return group;
    } catch (error) {
      for (const counter of counters.reverse()) counter[Symbol.dispose]();
      throw error;
    }
  }

  #check(result: number, op: string): void {
    if (result < 0) {
      throw nativeFailure(result, { op, event: this.#counters[0].event.name });
    }
  }

  /** STALE_HANDLE after close, as for a closed counter. */
  #checkOpen(op: string): void {
    if (this.#closed) this.#check(STALE_HANDLE, op);
  }

  /** The members closed on their own, by index. */
  #closedMembers(): number[] {
    const closed: number[] = [];
    for (let i = 0; i < this.#counters.length; i++) {
      if (this.#counters[i].closed) closed.push(i);
    }
    return closed;
  }

  #memberClosed(op: string, closed: readonly number[], detail: string): PerfError {
    const names = closed.map((i) =>
      `${i === 0 ? "the leader, member" : "member"} ${i} ("${this.#counters[i].event.name}")`
    );
    return new PerfError("MEMBER_CLOSED", `${op}: ${names.join(" and ")} ${detail}`, {
      op,
      event: this.#counters[closed[0]].event.name,
      hint: "read the members still open one by one (group.counters[i].read()), or close the " +
        "group and open a new one without that member",
    });
  }

  /**
   * Reads the whole record into the buffer (`pm_group_read`: from userspace
   * or by one read(2)): refuses first when a member was closed on its own,
   * then maps the members by id. Returns the core's source.
   */
  #readAll(exact: number): number {
    this.#refuseClosed();
    const source = this.#groupRead(this.#handles[0], exact);
    this.#check(source, "read");
    this.#mapOrder(exact === 1 ? this.#u64 : this.#f64);
    return source;
  }

  /** STALE_HANDLE after close, MEMBER_CLOSED with a member closed on its own. */
  #refuseClosed(): void {
    this.#checkOpen("read");
    for (let i = 0; i < this.#counters.length; i++) {
      if (this.#counters[i].closed) {
        const closed = this.#closedMembers();
        const all = closed.length === this.#counters.length;
        throw this.#memberClosed(
          "read",
          closed,
          closed.length === 1
            ? `was closed on its own, so the group has no count for it`
            : all
            ? "were each closed on their own, so the group has no counts"
            : "were closed on their own, so the group has no counts for them",
        );
      }
    }
  }

  /** Maps the members of the record in the buffer by id (see `mapGroupOrder`). */
  #mapOrder(slots: Float64Array | BigUint64Array): void {
    const missing = mapGroupOrder(slots, Number(slots[GROUP_SLOTS.NR]), this.#ids, this.#order);
    if (missing >= 0) {
      throw this.#memberClosed("read", [missing], "is not in the kernel's group record");
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

  /**
   * The members as counters, in the order of the events (a frozen array);
   * each can also be read on its own.
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
   * All counts in one call into the core, in the order of the events: from
   * userspace when every member's page allows it, else with one syscall
   * (see {@link Group.readInto}, which allocates nothing and says which).
   * Each value is matched to its member by the kernel's id, not by its
   * position in the kernel's record.
   *
   * A group one of whose members was closed on its own (`g.counters[i].close()`)
   * is not read: this throws `MEMBER_CLOSED`, naming every closed member by
   * index and event. A closed member has no count, and every number in
   * `values` must be one: 0 would be a count of nothing, NaN would spoil a
   * sum without a word, and leaving the slot out would shift every later
   * member into the wrong index. When the leader is closed, the kernel
   * dissolves the group, so there is no group reading left to give. The
   * members still open keep counting and read correctly one by one with
   * `g.counters[i].read()`; {@link Group.close} closes them.
   *
   * @returns A {@link GroupReading}.
   * @throws {PerfError} `MEMBER_CLOSED` as above, `STALE_HANDLE` after
   * {@link Group.close}, or the kernel's errno.
   *
   * @example Reading a group
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock", "page-faults"]);
   * const { values, timeEnabled, timeRunning } = g.read();
   * ```
   */
  read(): GroupReading {
    this.#readAll(0);
    return groupReading(this.#f64, this.#order);
  }

  /**
   * All counts as exact 64-bit values, in the order of the events; refuses
   * as {@link Group.read} does.
   *
   * @returns A {@link GroupReadingBigInt}.
   * @throws {PerfError} `MEMBER_CLOSED`, `STALE_HANDLE`, or the kernel's errno.
   *
   * @example Reading exactly
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock", "page-faults"]);
   * const { values } = g.readBigInt();
   * ```
   */
  readBigInt(): GroupReadingBigInt {
    this.#readAll(1);
    const u = this.#u64;
    const values = Array.from(this.#order, (position) => u[3 + 3 * position]);
    return { values, timeEnabled: u[1], timeRunning: u[2] };
  }

  /**
   * All counts into a buffer of the caller's, with no allocation: the read
   * for a benchmark's before/after pair. One call into the core reads every
   * member from userspace under its own seqlock when every member's page
   * allows it (a group of hardware events on this thread, opened with
   * `userspace` `"auto"`, the default for such a group), else the whole
   * group by one `read(2)`; never a mix of the two.
   *
   * Layout, for a group of `n` events: `out[i]` is the count of event `i`
   * (the order given to {@link Group.open}), `out[n]` is `timeEnabled` and
   * `out[n + 1]` is `timeRunning`, in ns. Elements past `n + 1` are left
   * alone. When `out[n + 1]` is 0 the group never ran (see
   * {@link GroupReading.counted}): its values are then no counts. Scale a
   * multiplexed group by `out[n] / out[n + 1]`. Counts are exact below 2^53.
   *
   * @param out A `Float64Array` of at least `n + 2` elements, allocated
   * once and reused.
   * @returns Which path served the whole group: `"userspace"` or
   * `"syscall"`.
   * @throws {PerfError} `INVALID_ARGUMENT` for anything but a long enough
   * `Float64Array`; `MEMBER_CLOSED`, `STALE_HANDLE`, `RETRY_EXHAUSTED`
   * (a member's page stayed unreadable with `fallback: false`), or the
   * kernel's errno.
   *
   * @example A before/after pair
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * import assert from "node:assert/strict";
   * using g = Group.open(["task-clock", "page-faults"]);
   * const before = new Float64Array(4);
   * const after = new Float64Array(4);
   * g.readInto(before);
   * new Uint8Array(1 << 16).fill(1);
   * const source = g.readInto(after);
   * assert.ok(after[0] >= before[0]); // task-clock ns
   * assert.ok(after[3] > 0); // timeRunning: the group ran
   * assert.ok(source === "syscall" || source === "userspace");
   * ```
   */
  readInto(out: Float64Array): ReadSource {
    const count = this.#order.length;
    if (!(out instanceof Float64Array) || out.length < count + 2) {
      checkReadIntoBuffer(out, count, this.#counters[0].event.name);
    }
    // The core checks every handle: a closed group or member fails here and
    // is told apart below, off the hot path.
    const source = this.#groupRead(this.#leader, 0);
    const f = this.#f64;
    if (source === SOURCE_USERSPACE) {
      // From userspace the core writes the members in the order given: the events'.
      for (let i = 0; i < count; i++) out[i] = f[VALUE_SLOT + MEMBER_STRIDE * i];
    } else {
      if (source < 0) this.#refuseClosed();
      this.#check(source, "read");
      this.#mapOrder(f);
      const order = this.#order;
      for (let i = 0; i < count; i++) out[i] = f[VALUE_SLOT + MEMBER_STRIDE * order[i]];
    }
    out[count] = f[TIME_ENABLED_SLOT];
    out[count + 1] = f[TIME_RUNNING_SLOT];
    return groupSource(source);
  }

  /**
   * The handles still open, members first and the leader last; refuses when
   * none is.
   */
  #openHandles(op: string): number[] {
    this.#checkOpen(op);
    const open: number[] = [];
    for (let i = this.#counters.length - 1; i >= 0; i--) {
      if (!this.#counters[i].closed) open.push(this.#handles[i]);
    }
    if (open.length === 0) {
      throw this.#memberClosed(
        op,
        this.#closedMembers(),
        "were each closed on their own: nothing is left to " + op,
      );
    }
    return open;
  }

  #toggle(op: string, handles: readonly number[], enable: boolean): void {
    const symbols = this.#native.symbols;
    for (const handle of handles) {
      this.#check(enable ? symbols.pm_enable(handle, 0) : symbols.pm_disable(handle, 0), op);
    }
  }

  /**
   * Starts the whole group: every member, then the leader, each with its
   * own ioctl. A group `PERF_EVENT_IOC_ENABLE` on the leader (the textbook
   * way) schedules the leader in before its members are enabled; on Linux
   * 6.18 a member then enabled on another software PMU than the leader's
   * (page-faults under task-clock, cpu-clock under task-clock) stops
   * counting after the first disable/enable round and reads 0 from then on.
   * With the leader disabled first, enabling a member only marks it ready,
   * and enabling the leader last schedules the whole group in at once.
   * After a member was closed on its own, this starts the members still
   * open (once the leader is closed, each is a group of its own). The first
   * enable of a group opened with `enabled: false` makes the check of
   * {@link Group.open}: a group that never gets on the PMU is disabled again
   * and refused, and checked again at the next enable.
   *
   * @throws {PerfError} `STALE_HANDLE` after close, `MEMBER_CLOSED` when
   * every member was closed on its own, `NOT_COUNTED` (see
   * {@link Group.open}), or the kernel's errno.
   *
   * @example Enabling
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock"], { enabled: false });
   * g.enable();
   * ```
   */
  enable(): void {
    this.#enable("enable");
  }

  #enable(op: string): void {
    const open = this.#openHandles(op);
    if (!this.#counters[0].closed) {
      // A leader that is on makes each member enable a lone reschedule (see above).
      this.#check(this.#native.symbols.pm_disable(this.#handles[0], 0), op);
    }
    this.#toggle(op, open, true);
    if (this.#scheduleCheck !== undefined) this.#checkScheduled(this.#scheduleCheck, op);
  }

  /**
   * The first enable's check that the group gets on the PMU at all (see
   * {@link awaitSchedule}). A group that never does is disabled again and
   * refused: it would read 0 with `timeRunning` 0 forever. Made once.
   */
  #checkScheduled(check: { specs: EventSpec[]; options: ResolvedOptions }, op: string): void {
    if (this.#counters.some((counter) => counter.closed)) return;
    const symbols = this.#native.symbols;
    const f64 = this.#f64;
    const read = (): ScheduleSample => {
      this.#check(symbols.pm_read_values(this.#handles[0], this.#buffer, this.#slots, 0), op);
      return { timeEnabled: f64[1], timeRunning: f64[2] };
    };
    // The common case, a group that got on, costs this one read and no sysfs.
    if (read().timeRunning > 0) {
      this.#scheduleCheck = undefined;
      return;
    }
    const started = performance.now();
    const outcome = awaitSchedule(read, () => performance.now(), scheduleWaitMs());
    if (outcome.scheduled) {
      this.#scheduleCheck = undefined;
      return;
    }
    const waited = performance.now() - started;
    this.#check(symbols.pm_disable(this.#handles[0], IOC_FLAG_GROUP), op);
    throw notScheduled(check.specs, check.options, outcome, waited, op);
  }

  /**
   * Stops the whole group; the values stay. After a member was closed on
   * its own, this stops the members still open.
   *
   * @throws {PerfError} `STALE_HANDLE` after close, `MEMBER_CLOSED` when
   * every member was closed on its own, or the kernel's errno.
   *
   * @example Disabling
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock"]);
   * g.disable();
   * ```
   */
  disable(): void {
    const open = this.#openHandles("disable");
    if (this.#counters[0].closed) {
      this.#toggle("disable", open, false);
    } else {
      this.#check(this.#native.symbols.pm_disable(this.#handles[0], IOC_FLAG_GROUP), "disable");
    }
  }

  /**
   * Sets every count of the group to zero. After a member was closed on its
   * own, this resets the members still open.
   *
   * @throws {PerfError} `STALE_HANDLE` after close, `MEMBER_CLOSED` when
   * every member was closed on its own, or the kernel's errno.
   *
   * @example Resetting
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * using g = Group.open(["task-clock"]);
   * g.reset();
   * ```
   */
  reset(): void {
    const open = this.#openHandles("reset");
    const symbols = this.#native.symbols;
    if (this.#counters[0].closed) {
      for (const handle of open) this.#check(symbols.pm_reset(handle, 0), "reset");
    } else {
      this.#check(symbols.pm_reset(this.#handles[0], IOC_FLAG_GROUP), "reset");
    }
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
   * Closes every member still open, then the leader; members already closed
   * on their own are skipped, not an error. A second close throws
   * `STALE_HANDLE`.
   *
   * @throws {PerfError} `STALE_HANDLE` on a second close, or the first
   * error of a member's close (every member is closed regardless).
   *
   * @example Closing
   * ```ts
   * import { Group } from "@perfmmap/perfmmap";
   * const g = Group.open(["task-clock"]);
   * g.close();
   * ```
   */
  close(): void {
    this.#checkOpen("close");
    this.#closed = true;
    let first: unknown;
    for (let i = this.#counters.length - 1; i >= 0; i--) {
      const counter = this.#counters[i];
      if (counter.closed) continue;
      try {
        counter.close();
      } catch (error) {
        first ??= error;
      }
    }
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
