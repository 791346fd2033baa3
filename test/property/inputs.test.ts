// Property-based tests of input validation with fast-check: any number as
// pid or cpu, any string as an event, any value as an option or an event
// object, any field and value for SimulatedCounter.set. Every call either
// succeeds or throws a PerfError whose code follows from the input alone
// (so the same code in every runtime), never a raw error, quickly, and with
// no perf fd left behind. This folder is not in the arm64 guest's suite,
// whose initramfs carries no node_modules.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Counter, type CounterOptions, type EventInput, parseEvent, PerfError } from "../../mod.ts";
import { SimulatedCounter, type SimulatedField } from "../../src/testing.ts";
import { disposeOf, perfFds, quickestMs, runAgain } from "../_helpers.ts";

const RUNS = 200;
const CALL_MS_MAX = 200;

/** Runs `fn`; returns "ok" or the PerfError's code, and fails on anything else. */
function outcome(fn: () => unknown): string {
  const start = performance.now();
  let result = "ok";
  try {
    disposeOf(fn());
  } catch (error) {
    if (!(error instanceof PerfError)) {
      throw new Error(`a raw ${String(error)}`, { cause: error });
    }
    result = error.code;
  }
  let ms = performance.now() - start;
  // A slow call is timed again (see quickestMs): its outcome was taken above.
  if (ms > CALL_MS_MAX) ms = Math.min(ms, quickestMs(() => runAgain(fn), CALL_MS_MAX, 2));
  if (ms > CALL_MS_MAX) throw new Error(`took ${ms.toFixed(1)} ms`);
  return result;
}

/** Every number, with the edges weighted in. */
const anyNumber = fc.oneof(
  fc.constantFrom(-0, 0, -1, 1, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 31 - 1, 2 ** 53, 2 ** 64),
  fc.integer({ min: -10, max: 10 }),
  fc.double(),
  fc.integer(),
);

/** What the validation alone decides for pid or cpu (the kernel decides the rest). */
function expectedForId(value: number): "INVALID_OPTION" | "kernel" {
  return Number.isInteger(value) && value >= -1 && value <= 2 ** 31 - 1
    ? "kernel"
    : "INVALID_OPTION";
}

describe("property: numbers as pid and cpu", () => {
  it("a pid is refused by validation exactly when it is no integer in [-1, 2^31-1]", () => {
    const fds = perfFds();
    fc.assert(
      fc.property(anyNumber, (pid) => {
        const code = outcome(() => Counter.open("task-clock", { pid, cpu: pid === -1 ? 0 : -1 }));
        if (expectedForId(pid) === "INVALID_OPTION") return code === "INVALID_OPTION";
        // The kernel's answer: this thread (0, -0), another process, or none.
        return code !== "INVALID_OPTION";
      }),
      { numRuns: RUNS },
    );
    assert.equal(perfFds(), fds);
  });

  it("a cpu is refused by validation exactly when it is no integer in [-1, 2^31-1]", () => {
    const fds = perfFds();
    fc.assert(
      fc.property(anyNumber, (cpu) => {
        const code = outcome(() => Counter.open("task-clock", { cpu }));
        if (expectedForId(cpu) === "INVALID_OPTION") return code === "INVALID_OPTION";
        // -1 and the online CPUs open; others are the kernel's EINVAL/ENODEV.
        return code !== "INVALID_OPTION" && (cpu > 4096 ? code !== "ok" : true);
      }),
      { numRuns: RUNS },
    );
    assert.equal(perfFds(), fds);
  });

  it("-0 is 0 wherever a number reaches the core", () => {
    assert.equal(outcome(() => Counter.open("task-clock", { pid: -0, cpu: -0 })), "ok");
    assert.equal(outcome(() => Counter.open({ type: 1, config: -0 })), "ok");
    assert.equal(outcome(() => SimulatedCounter.create().set("index", -0)), "ok");
  });
});

describe("property: strings as events", () => {
  it("any string gives a spec or a PerfError, never a raw error, quickly", () => {
    const known = fc.constantFrom(
      "task-clock",
      "cs:u",
      "software/config=1/",
      "LLC-loads",
      "r1a8",
      "msr/tsc/",
    );
    // Known names with characters inserted, deleted or changed.
    const mutated = fc.tuple(known, fc.nat(), fc.string({ maxLength: 3 }), fc.nat({ max: 2 })).map(
      ([name, at, text, cut]) => {
        const i = at % (name.length + 1);
        return name.slice(0, i) + text + name.slice(i + cut);
      },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "grapheme" }),
          fc.string({ unit: "binary" }),
          mutated,
        ),
        (event) => {
          const code = outcome(() => parseEvent(event));
          return code === "ok" || /^[A-Z][A-Z0-9_]+$/.test(code);
        },
      ),
      { numRuns: RUNS * 5 },
    );
  });

  it("an error message never carries a control character", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 1 }), (event) => {
        try {
          parseEvent(event);
          return true;
        } catch (error) {
          if (!(error instanceof PerfError)) return false;
          // deno-lint-ignore no-control-regex
          return !/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(error.message);
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });
});

describe("property: any value as options and event objects", () => {
  it("Counter.open with any options object: opens or a typed error", () => {
    const fds = perfFds();
    const option = fc.constantFrom(
      "pid",
      "cpu",
      "enabled",
      "exclude",
      "userspace",
      "fallback",
      "pinned",
      "__proto__",
      "constructor",
    );
    fc.assert(
      fc.property(fc.dictionary(option, fc.anything(), { maxKeys: 3 }), (options) => {
        outcome(() => Counter.open("task-clock", options as CounterOptions));
        return true;
      }),
      { numRuns: RUNS },
    );
    assert.equal(perfFds(), fds);
  });

  it("parseEvent with any event object: a spec or a typed error", () => {
    const key = fc.constantFrom("type", "config", "config1", "config2", "config3", "name", "x");
    fc.assert(
      fc.property(
        fc.dictionary(key, fc.oneof(anyNumber, fc.bigInt(), fc.anything()), { maxKeys: 4 }),
        (event) => {
          outcome(() => parseEvent(event as unknown as EventInput));
          return true;
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("property: SimulatedCounter.set", () => {
  it("any field and value: set or a typed error, and a refused set writes nothing", () => {
    const field = fc.oneof(
      fc.constantFrom("toString", "constructor", "hasOwnProperty", "__proto__", "valueOf", "index"),
      fc.string(),
    );
    fc.assert(
      fc.property(field, fc.oneof(anyNumber, fc.bigInt()), (name, value) => {
        using sim = SimulatedCounter.create();
        sim.set("offset", 7);
        const code = outcome(() => sim.set(name as SimulatedField, value));
        if (code !== "ok") assert.equal(sim.read(), 7, `after a refused set(${name})`);
        return ["ok", "INVALID_OPTION", "VALUE_OUT_OF_RANGE"].includes(code);
      }),
      { numRuns: RUNS },
    );
  });
});
