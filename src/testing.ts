/**
 * A simulated counter for tests and benchmarks: the core's real userspace
 * read loop over a heap page that plays the kernel, with a memory cell as the
 * hardware register. Proves the seqlock, retry and fallback logic on a
 * machine without a PMU.
 *
 * @example Driving the retry policy
 * ```ts
 * import { SimulatedCounter } from "@perfmmap/perfmmap/testing";
 *
 * using sim = SimulatedCounter.create();
 * sim.set("offset", 1000).set("register", 42);
 * console.log(sim.read()); // 1042, read from "userspace"
 * sim.set("index", 0).set("syscallValue", 7);
 * console.log(sim.readDetailed().source); // "syscall", after 1000 attempts
 * ```
 *
 * @module
 */

import { Counter } from "./counter.ts";
import { openSimulated } from "./_open.ts";
import { type CounterOptions, resolveOnly } from "./_options.ts";
import { Group, GROUP_MAX_EVENTS } from "./group.ts";
import { PerfError } from "./errors.ts";
import type { EventSpec } from "./event.ts";
import { native } from "./loader/native.ts";
import { SIM_FIELDS } from "./ffi/symbols.ts";
import { nativeFailure } from "./_fail.ts";
import { describe, ownRecord } from "./_input.ts";

/**
 * A field of the simulated page or register:
 * `lock`, `index`, `offset` (signed), `pmcWidth`, `capabilities` (raw word;
 * bit 2 is cap_user_rdpmc), `timeEnabled`, `timeRunning`, `timeMult`,
 * `timeShift`, `timeOffset`, `timeZero`, `timeCycles`, `timeMask`,
 * `register` (the raw hardware counter), `syscallValue` (what `read(2)`
 * returns), `timestamp` (the simulated TSC/CNTVCT), `syscallTimeEnabled`,
 * `syscallTimeRunning`, `pageVersion`, `pageSizeField`, `userAccessKnob`
 * (the simulated machine's userspace-read knob, arm64 `perf_user_access` or
 * x86 `rdpmc`: 1 by default, 0 off, negative for "no such knob"; the core
 * reads it as it reads the real one, at open, at `enable()` and every 1024
 * reads served by `read(2)`, so setting it is not noticed at once).
 */
export type SimulatedField =
  | "lock"
  | "index"
  | "offset"
  | "pmcWidth"
  | "capabilities"
  | "timeEnabled"
  | "timeRunning"
  | "timeMult"
  | "timeShift"
  | "timeOffset"
  | "timeZero"
  | "timeCycles"
  | "timeMask"
  | "register"
  | "syscallValue"
  | "timestamp"
  | "syscallTimeEnabled"
  | "syscallTimeRunning"
  | "pageVersion"
  | "pageSizeField"
  | "userAccessKnob";

// The union above must name exactly the ABI's fields.
const _fieldsMatch: Record<SimulatedField, number> = SIM_FIELDS;
const _fieldsCovered: Record<keyof typeof SIM_FIELDS, true> = {} as Record<SimulatedField, true>;

/**
 * Options of {@link SimulatedCounter.create}: `userspace` (default
 * `"auto"`) and `fallback` (default true: the simulated `read(2)` serves a
 * read whose index stays 0), as for real counters.
 */
export type SimulatedOptions = Pick<CounterOptions, "userspace" | "fallback">;

const SIMULATED_EVENT: EventSpec = {
  name: "simulated",
  kind: "simulated",
  type: 0xffff_ffff,
  config: 0n,
  config1: 0n,
  config2: 0n,
  config3: 0n,
  modifiers: {},
};

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

/**
 * A {@link Counter} whose page and register live on the heap. Starts as a
 * page with version 0, cap_user_rdpmc=1, lock 0, index 1, pmc_width 48,
 * offset 0 and register 0, so reads are served from "userspace".
 *
 * @example Sign extension of a 48-bit register
 * ```ts
 * import { SimulatedCounter } from "@perfmmap/perfmmap/testing";
 *
 * using sim = SimulatedCounter.create();
 * sim.set("offset", 1000).set("register", 0xffff_ffff_ffff); // -1 in 48 bits
 * console.log(sim.read()); // 999
 * ```
 */
export class SimulatedCounter extends Counter {
  #handle: number;

  private constructor(handle: number) {
    super(handle, SIMULATED_EVENT);
    this.#handle = handle;
  }

  /**
   * Creates a simulated counter.
   *
   * @param options Userspace mode and fallback.
   * @returns The counter; close it, or declare it with `using`.
   *
   * @example With fallback off
   * ```ts
   * import { SimulatedCounter } from "@perfmmap/perfmmap/testing";
   * using sim = SimulatedCounter.create({ fallback: false });
   * ```
   */
  static create(options?: SimulatedOptions): SimulatedCounter {
    const { userspace, fallback } = resolveOnly(
      { op: "open", event: "simulated" },
      options,
      ["userspace", "fallback"],
      { userspace: "auto" },
    );
    return new SimulatedCounter(openSimulated(userspace, fallback));
  }

  /**
   * Creates a group of simulated counters, as the core's group read sees a
   * group of hardware events: the leader, then `size - 1` members, each a
   * {@link SimulatedCounter} with its own page and register (set them
   * through `group.counters[i]`). The group's `read(2)` is each member's
   * `syscallValue`, with the leader's `syscallTimeEnabled` and
   * `syscallTimeRunning`. The core reads the group from userspace only when
   * the leader's page has `cap_user_time` (capabilities bit 3), so set it
   * to see the userspace path.
   *
   * @param size Members, the leader included: 1 to 256.
   * @param options Userspace mode and fallback, for every member.
   * @returns The group; closing it closes every member.
   * @throws {PerfError} `VALUE_OUT_OF_RANGE` for a bad size; as
   * {@link SimulatedCounter.create} for bad options.
   *
   * @example A group read from userspace
   * ```ts
   * import { SimulatedCounter } from "@perfmmap/perfmmap/testing";
   * import assert from "node:assert/strict";
   * using group = SimulatedCounter.createGroup(2);
   * const [leader, member] = group.counters as SimulatedCounter[];
   * leader.configure({ capabilities: 0b1110, offset: 10 }); // rdpmc, user_time
   * member.configure({ offset: 20 });
   * const out = new Float64Array(4);
   * assert.equal(group.readInto(out), "userspace");
   * assert.deepEqual([out[0], out[1]], [10, 20]);
   * ```
   */
  static createGroup(size: number, options?: SimulatedOptions): Group {
    if (!Number.isInteger(size) || size < 1 || size > GROUP_MAX_EVENTS) {
      throw new PerfError(
        "VALUE_OUT_OF_RANGE",
        `size must be an integer from 1 to ${GROUP_MAX_EVENTS}, got ${describe(size)}`,
        { op: "open", event: "simulated" },
      );
    }
    const members: SimulatedCounter[] = [];
    try {
      for (let i = 0; i < size; i++) {
        const member = SimulatedCounter.create(options);
        members.push(member);
        if (i === 0) continue;
        const result = native().symbols.pm_sim_join(member.#handle, members[0].#handle);
        if (result < 0) {
          throw nativeFailure(result, { op: "open", event: "simulated", kind: "simulated" });
        }
      }
    } catch (error) {
      for (const member of members.reverse()) member.close();
      throw error;
    }
    try {
      return new SimulatedGroup(members, members.map((member) => member.#handle));
    } catch (error) {
      for (const member of members.reverse()) member.close();
      throw error;
    }
  }

  /**
   * Sets one field of the simulated page or register.
   *
   * @param field Which field.
   * @param value A 64-bit value: a non-negative integer, or for `offset` a
   * signed one; bigint for values beyond 2^53.
   * @returns This counter, for chaining.
   *
   * @example An odd lock forever
   * ```ts
   * import { SimulatedCounter } from "@perfmmap/perfmmap/testing";
   * using sim = SimulatedCounter.create();
   * sim.set("lock", 1); // every read now exhausts the retry policy
   * ```
   */
  set(field: SimulatedField, value: number | bigint): this {
    // An own key of the table only: SIM_FIELDS.toString is a function, which
    // Deno's FFI refuses as a u32 and Bun passes as 0 (the lock field).
    if (typeof field !== "string" || !Object.hasOwn(SIM_FIELDS, field)) {
      throw new PerfError(
        "INVALID_OPTION",
        `unknown simulated field ${describe(field)} (known: ${Object.keys(SIM_FIELDS).join(", ")})`,
        { op: "sim_set", event: "simulated" },
      );
    }
    const number = SIM_FIELDS[field];
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new PerfError(
        "VALUE_OUT_OF_RANGE",
        `${field} must be a safe integer or a bigint, got ${describe(value)}`,
        { op: "sim_set", event: "simulated" },
      );
    }
    if (typeof value !== "number" && typeof value !== "bigint") {
      throw new PerfError(
        "INVALID_OPTION",
        `${field} must be a number or a bigint, got ${describe(value)}`,
        { op: "sim_set", event: "simulated" },
      );
    }
    const big = BigInt(value);
    if (big > U64_MAX || big < I64_MIN) {
      throw new PerfError("VALUE_OUT_OF_RANGE", `${field} must fit 64 bits, got ${big}`, {
        op: "sim_set",
      });
    }
    const bits = BigInt.asUintN(64, big);
    const result = native().symbols.pm_sim_set(
      this.#handle,
      number,
      Number(bits & 0xffff_ffffn),
      Number(bits >> 32n),
    );
    if (result < 0) {
      throw nativeFailure(result, { op: "sim_set", event: "simulated", kind: "simulated" });
    }
    return this;
  }

  /**
   * Sets several fields, in the order given.
   *
   * @param fields Field values.
   * @returns This counter, for chaining.
   *
   * @example A 32-bit counter about to wrap
   * ```ts
   * import { SimulatedCounter } from "@perfmmap/perfmmap/testing";
   * using sim = SimulatedCounter.create();
   * sim.configure({ pmcWidth: 32, offset: 1n << 32n, register: 0xffff_fff0 });
   * ```
   */
  configure(fields: Partial<Record<SimulatedField, number | bigint>>): this {
    const own = ownRecord({ op: "sim_set", event: "simulated" }, "fields", fields);
    for (const [field, value] of Object.entries(own)) {
      if (value !== undefined) this.set(field as SimulatedField, value as number | bigint);
    }
    return this;
  }
}

/** A Group over simulated counters already joined as one group in the core. */
class SimulatedGroup extends Group {
  constructor(counters: Counter[], handles: number[]) {
    super(counters, handles);
  }
}
