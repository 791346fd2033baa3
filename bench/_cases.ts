// The benchmark cases, one table for every runtime (Deno, Bun, Node).
//
// Every case gives two forms of the same operation:
//   - `loop(n)`: n calls in a hand-written loop. Each case has its own loop
//     function, so every call site stays monomorphic and the JIT sees exactly
//     one callee, as it would in a user's hot loop. The custom sampler
//     (_sampler.ts) times these.
//   - `op()`: one call, for harnesses that own the loop (mitata, Deno.bench).
// A loop keeps what it needs of each result live (a sum, or the last object
// returned), so the JIT can drop neither the call nor an object it returns.
// A case whose setup throws (a hardware event on a machine without a PMU)
// is reported with the error's message, never with a number.

import { Counter, Group, PerfError } from "../mod.ts";
import { SimulatedCounter } from "../src/testing.ts";
import { native } from "../src/loader/native.ts";

/** The runtime a case runs in. */
export type Runtime = "deno" | "bun" | "node";

/** One set-up case: the timed forms and how to release what setup opened. */
export interface Prepared {
  /** n calls; returns something derived from the results (kept live). */
  loop: (n: number) => number;
  /** One call. */
  op: () => unknown;
  /** Closes what setup opened. */
  close: () => void;
}

/** A case of the table. */
export interface Case {
  /** Stable identifier (JSON key). */
  id: string;
  /** What a reader sees in the table and chart. */
  label: string;
  /** Runtimes that have this operation. */
  runtimes: readonly Runtime[];
  /** Opens what the case needs; may throw (see `unavailable`). */
  setup: () => Prepared;
}

/** The four software events of the group cases. */
export const SOFTWARE_EVENTS = [
  "task-clock",
  "page-faults",
  "context-switches",
  "cpu-migrations",
] as const;

/** The events `@mitata/counters` opens (its Linux group, leader first). */
export const MITATA_EVENTS = [
  "cycles",
  "instructions",
  "cache-misses",
  "branch-misses",
  "cache-references",
] as const;

const EVERY: readonly Runtime[] = ["deno", "bun", "node"];

/**
 * The cases whose loop runs 1 000 000 times in `memory` mode: the single
 * reads, and the zero-allocation group read (its target is its own row).
 */
export const MEMORY_CASES = ["read_sim", "read_syscall", "group_into_sim"] as const;

interface _Host {
  Bun?: { nanoseconds(): number };
  process?: { hrtime: { bigint(): bigint } };
}

const host = globalThis as unknown as _Host;

function nothing(): void {}

/** A simulated counter whose reads are served from "userspace". */
function simulated(): SimulatedCounter {
  return SimulatedCounter.create().set("offset", 1000).set("register", 1);
}

/** Members of the simulated group cases, as the software group cases have. */
export const SIMULATED_GROUP_SIZE = 4;
/** cap_bit0_is_deprecated | cap_user_rdpmc | cap_user_time: a hardware event's page. */
const CAPS_HARDWARE = 0b1110;

/**
 * A simulated group whose reads are served from "userspace": every page
 * offers rdpmc and the leader's offers cap_user_time (the group's times).
 */
export function simulatedGroup(): Group {
  const group = SimulatedCounter.createGroup(SIMULATED_GROUP_SIZE);
  const members = group.counters as readonly SimulatedCounter[];
  members.forEach((member, i) =>
    member.configure({ capabilities: CAPS_HARDWARE, offset: 1000 * (i + 1), register: 1 })
  );
  const out = new Float64Array(SIMULATED_GROUP_SIZE + 2);
  if (group.readInto(out) !== "userspace") {
    group.close();
    throw new Error("the simulated group was not read from userspace");
  }
  return group;
}

function hrtime(): { bigint(): bigint } {
  const process = host.process;
  if (process === undefined) throw new Error("process.hrtime is not available here");
  return process.hrtime;
}

/** The table, in the order of the report. */
export const CASES: readonly Case[] = [
  {
    id: "js_empty",
    label: "empty JS function (loop floor)",
    runtimes: EVERY,
    setup: () => {
      const empty = (): number => 0;
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += empty();
          return s;
        },
        op: empty,
        close: nothing,
      };
    },
  },
  {
    id: "ffi_noop",
    label: "no-op FFI call (pm_noop)",
    runtimes: EVERY,
    setup: () => {
      const noop = native().symbols.pm_noop;
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += noop();
          return s;
        },
        op: () => noop(),
        close: nothing,
      };
    },
  },
  {
    id: "read_sim",
    label: "Counter.read() simulated userspace",
    runtimes: EVERY,
    setup: () => {
      const sim = simulated();
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += sim.read();
          return s;
        },
        op: () => sim.read(),
        close: () => sim.close(),
      };
    },
  },
  {
    id: "read_bigint_sim",
    label: "Counter.readBigInt() simulated",
    runtimes: EVERY,
    setup: () => {
      const sim = simulated();
      return {
        loop: (n) => {
          let last = 0n;
          for (let i = 0; i < n; i++) last = sim.readBigInt();
          return Number(last);
        },
        op: () => sim.readBigInt(),
        close: () => sim.close(),
      };
    },
  },
  {
    id: "read_detailed_sim",
    label: "Counter.readDetailed() simulated",
    runtimes: EVERY,
    setup: () => {
      const sim = simulated();
      return {
        loop: (n) => {
          // The reading is kept past the loop, so the JIT must build every one.
          let last = sim.readDetailed();
          for (let i = 0; i < n; i++) last = sim.readDetailed();
          return last.value;
        },
        op: () => sim.readDetailed(),
        close: () => sim.close(),
      };
    },
  },
  {
    id: "read_syscall",
    label: "Counter.read() task-clock (syscall)",
    runtimes: EVERY,
    setup: () => {
      const clock = Counter.open("task-clock");
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += clock.read();
          return s;
        },
        op: () => clock.read(),
        close: () => clock.close(),
      };
    },
  },
  {
    id: "read_4",
    label: "4 x Counter.read() (4 software events)",
    runtimes: EVERY,
    setup: () => {
      const opened: Counter[] = [];
      try {
        for (const event of SOFTWARE_EVENTS) opened.push(Counter.open(event));
      } catch (error) {
        for (const counter of opened) counter.close();
        throw error;
      }
      const [a, b, c, d] = opened;
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += a.read() + b.read() + c.read() + d.read();
          return s;
        },
        op: () => a.read() + b.read() + c.read() + d.read(),
        close: () => {
          for (const counter of opened) counter.close();
        },
      };
    },
  },
  {
    id: "group_4",
    label: "Group.read() of the same 4 events",
    runtimes: EVERY,
    setup: () => {
      const group = Group.open([...SOFTWARE_EVENTS]);
      return {
        loop: (n) => {
          let last = group.read();
          for (let i = 0; i < n; i++) last = group.read();
          return last.values[0];
        },
        op: () => group.read(),
        close: () => group.close(),
      };
    },
  },
  {
    id: "group_4_into",
    label: "Group.readInto() of the same 4 events",
    runtimes: EVERY,
    setup: () => {
      const group = Group.open([...SOFTWARE_EVENTS]);
      const out = new Float64Array(SOFTWARE_EVENTS.length + 2);
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            group.readInto(out);
            s += out[0];
          }
          return s;
        },
        op: () => group.readInto(out),
        close: () => group.close(),
      };
    },
  },
  {
    id: "group_into_sim",
    label: `Group.readInto() simulated userspace, ${SIMULATED_GROUP_SIZE} members`,
    runtimes: EVERY,
    setup: () => {
      const group = simulatedGroup();
      const out = new Float64Array(SIMULATED_GROUP_SIZE + 2);
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            group.readInto(out);
            s += out[0];
          }
          return s;
        },
        op: () => group.readInto(out),
        close: () => group.close(),
      };
    },
  },
  {
    id: "performance_now",
    label: "performance.now()",
    runtimes: EVERY,
    setup: () => ({
      loop: (n) => {
        let s = 0;
        for (let i = 0; i < n; i++) s += performance.now();
        return s;
      },
      op: () => performance.now(),
      close: nothing,
    }),
  },
  {
    id: "hrtime_bigint",
    label: "process.hrtime.bigint()",
    runtimes: ["bun", "node"],
    setup: () => {
      const clock = hrtime();
      return {
        loop: (n) => {
          let last = 0n;
          for (let i = 0; i < n; i++) last = clock.bigint();
          return Number(last & 0xffffn);
        },
        op: () => clock.bigint(),
        close: nothing,
      };
    },
  },
  {
    id: "bun_nanoseconds",
    label: "Bun.nanoseconds()",
    runtimes: ["bun"],
    setup: () => {
      const bun = host.Bun;
      if (bun === undefined) throw new Error("Bun.nanoseconds is Bun's");
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += bun.nanoseconds();
          return s;
        },
        op: () => bun.nanoseconds(),
        close: nothing,
      };
    },
  },
  {
    id: "pair_sim",
    label: "before/after pair, simulated counter",
    runtimes: EVERY,
    setup: () => {
      const sim = simulated();
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            const before = sim.read();
            nothing();
            s += sim.read() - before;
          }
          return s;
        },
        op: () => {
          const before = sim.read();
          nothing();
          return sim.read() - before;
        },
        close: () => sim.close(),
      };
    },
  },
  {
    id: "pair_task_clock",
    label: "before/after pair, task-clock (syscall)",
    runtimes: EVERY,
    setup: () => {
      const clock = Counter.open("task-clock");
      return {
        loop: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            const before = clock.read();
            nothing();
            s += clock.read() - before;
          }
          return s;
        },
        op: () => {
          const before = clock.read();
          nothing();
          return clock.read() - before;
        },
        close: () => clock.close(),
      };
    },
  },
  {
    id: "pair_hw_perfmmap",
    label: `before/after pair, perfmmap, ${MITATA_EVENTS.length} hw events`,
    runtimes: EVERY,
    setup: () => {
      const opened: Counter[] = [];
      try {
        for (const event of MITATA_EVENTS) opened.push(Counter.open(event));
      } catch (error) {
        for (const counter of opened) counter.close();
        throw error;
      }
      const values = new Float64Array(opened.length);
      const sample = (sign: number): void => {
        for (let k = 0; k < opened.length; k++) values[k] += sign * opened[k].read();
      };
      return {
        loop: (n) => {
          for (let i = 0; i < n; i++) {
            sample(-1);
            nothing();
            sample(1);
          }
          return values[0];
        },
        op: () => {
          sample(-1);
          nothing();
          sample(1);
        },
        close: () => {
          for (const counter of opened) counter.close();
        },
      };
    },
  },
];

/** `@mitata/counters`' before()/after() pair, or why it cannot run here. */
export const MITATA_PAIR_ID = "pair_hw_mitata";
/** The label of the `@mitata/counters` case. */
export const MITATA_PAIR_LABEL =
  `before/after pair, @mitata/counters, ${MITATA_EVENTS.length} hw events`;

interface _MitataCounters {
  init(): void;
  before(): void;
  after(): void;
  deinit(): void;
}

/**
 * Loads `@mitata/counters` and proves one before()/after() pair works, or
 * throws with the reason it gives.
 *
 * @returns The prepared case.
 */
export async function mitataPair(): Promise<Prepared> {
  const specifier = "@mitata/counters";
  const counters = (await import(specifier)) as _MitataCounters;
  counters.init();
  try {
    counters.before();
    counters.after();
  } catch (error) {
    try {
      counters.deinit();
    } catch {
      // The first failure is the reason worth reporting.
    }
    throw error;
  }
  return {
    loop: (n) => {
      for (let i = 0; i < n; i++) {
        counters.before();
        nothing();
        counters.after();
      }
      return n;
    },
    op: () => {
      counters.before();
      nothing();
      counters.after();
    },
    close: () => counters.deinit(),
  };
}

/**
 * What a failed setup said, in one line: a PerfError's code, message and
 * hint, or any other error's message.
 *
 * @param error What setup threw.
 * @returns One line.
 */
export function reason(error: unknown): string {
  if (error instanceof PerfError) {
    return [error.code, error.message].join(": ").replace(/\s+/g, " ").trim();
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** A case set up and ready to measure. */
export interface Ready {
  /** The case's id (or MITATA_PAIR_ID). */
  id: string;
  /** The case's label. */
  label: string;
  prepared: Prepared;
}

/**
 * Sets up every case of `runtime`, then the @mitata/counters pair; what
 * cannot be set up is in `unavailable`, by id, with its reason.
 */
export async function prepareAll(runtime: Runtime): Promise<{
  ready: Ready[];
  unavailable: Record<string, string>;
}> {
  const ready: Ready[] = [];
  const unavailable: Record<string, string> = {};
  for (const c of CASES) {
    if (!c.runtimes.includes(runtime)) continue;
    try {
      ready.push({ id: c.id, label: c.label, prepared: c.setup() });
    } catch (error) {
      unavailable[c.id] = reason(error);
    }
  }
  try {
    ready.push({ id: MITATA_PAIR_ID, label: MITATA_PAIR_ID, prepared: await mitataPair() });
  } catch (error) {
    unavailable[MITATA_PAIR_ID] = reason(error);
  }
  return { ready, unavailable };
}
