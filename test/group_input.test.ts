// Group.open with events it cannot trust: holes, inherited indexes, Proxies,
// getters that throw, array-likes and other iterables. Each row gives a typed
// PerfError with a stable code (never a raw TypeError), names the index when
// one element is at fault, keeps the cause when user code threw, leaks no fd,
// and returns quickly.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Group, PerfError } from "../mod.ts";
import { expectPerfError, perfFds, quickestMs } from "./_helpers.ts";

interface Row {
  name: string;
  events: () => unknown;
  code: string;
  /** Text the message must contain (e.g. the index at fault). */
  says?: string;
  /** The error thrown by user code, which must be the PerfError's cause. */
  cause?: unknown;
  /** The error's op (one of them): "open", or "parse" where the event parser refused the element. */
  op?: string | string[];
}

const boom = new Error("boom from a getter");

function throwingElement(): unknown[] {
  const events: unknown[] = ["task-clock", "page-faults"];
  Object.defineProperty(events, 1, {
    get() {
      throw boom;
    },
  });
  return events;
}

function revokedProxy(): unknown {
  const { proxy, revoke } = Proxy.revocable(["task-clock"], {});
  revoke();
  return proxy;
}

function* generated(): Generator<string> {
  yield "task-clock";
}

const ROWS: Row[] = [
  {
    name: "a hole first",
    events: () => [, "task-clock"],
    code: "INVALID_EVENT",
    says: "events[0]",
  },
  {
    name: "a hole in the middle",
    events: () => ["task-clock", , "page-faults"],
    code: "INVALID_EVENT",
    says: "events[1]",
  },
  { name: "new Array(2)", events: () => new Array(2), code: "INVALID_EVENT", says: "events[0]" },
  {
    name: "an explicit undefined",
    events: () => ["task-clock", undefined],
    code: "INVALID_EVENT",
    says: "events[1]",
  },
  { name: "null as an event", events: () => [null], code: "INVALID_EVENT", op: "parse" },
  { name: "a number as an event", events: () => [42], code: "INVALID_EVENT", op: "parse" },
  {
    name: "an element getter that throws",
    events: throwingElement,
    code: "INVALID_EVENT",
    says: "events[1]",
    cause: boom,
  },
  {
    name: "an event object whose getter throws",
    events: () => [{
      get type(): number {
        throw boom;
      },
      config: 1,
    }],
    code: "INVALID_EVENT",
    cause: boom,
    // The event parser reads the object's own keys and reports it (op
    // "parse"); Group.open wraps whatever else escapes (op "open").
    op: ["parse", "open"],
  },
  {
    name: "a Proxy whose get trap throws",
    events: () =>
      new Proxy(["task-clock"], {
        get(target, key, receiver) {
          if (key === "0") throw boom;
          return Reflect.get(target, key, receiver);
        },
      }),
    code: "INVALID_EVENT",
    says: "events[0]",
    cause: boom,
  },
  {
    name: "a Proxy whose has-own trap throws",
    events: () =>
      new Proxy(["task-clock"], {
        getOwnPropertyDescriptor() {
          throw boom;
        },
      }),
    code: "INVALID_EVENT",
    cause: boom,
  },
  {
    name: "a Proxy whose length throws",
    events: () =>
      new Proxy(["task-clock"], {
        get(target, key, receiver) {
          if (key === "length") throw boom;
          return Reflect.get(target, key, receiver);
        },
      }),
    code: "INVALID_EVENT",
    cause: boom,
  },
  {
    name: "a Proxy with a huge length",
    events: () =>
      new Proxy(["task-clock"], {
        get: (target, key, receiver) => key === "length" ? 1e9 : Reflect.get(target, key, receiver),
      }),
    code: "GROUP_TOO_LARGE",
  },
  {
    name: "a Proxy with a negative length",
    events: () =>
      new Proxy(["task-clock"], {
        get: (target, key, receiver) => key === "length" ? -1 : Reflect.get(target, key, receiver),
      }),
    code: "INVALID_EVENT",
  },
  {
    name: "a Proxy with a fractional length",
    events: () =>
      new Proxy(["task-clock"], {
        get: (target, key, receiver) => key === "length" ? 1.5 : Reflect.get(target, key, receiver),
      }),
    code: "INVALID_EVENT",
  },
  { name: "a revoked Proxy", events: revokedProxy, code: "INVALID_EVENT" },
  {
    name: "an array-like that is not an array",
    events: () => ({ length: 1, 0: "task-clock" }),
    code: "INVALID_EVENT",
    says: "array",
  },
  {
    name: "a Set",
    events: () => new Set(["task-clock"]),
    code: "INVALID_EVENT",
    says: "Set",
  },
  { name: "a generator", events: generated, code: "INVALID_EVENT" },
  {
    name: "a Map",
    events: () => new Map([[0, "task-clock"]]),
    code: "INVALID_EVENT",
  },
  { name: "a string", events: () => "task-clock", code: "INVALID_EVENT" },
  { name: "undefined", events: () => undefined, code: "INVALID_EVENT" },
  { name: "null", events: () => null, code: "INVALID_EVENT" },
  { name: "an empty array", events: () => [], code: "EMPTY_GROUP" },
  { name: "a sparse array of 300", events: () => new Array(300), code: "GROUP_TOO_LARGE" },
];

describe("Group.open with events it cannot trust", () => {
  for (const row of ROWS) {
    it(`${row.name}: ${row.code}`, () => {
      const fds = perfFds();
      const open = () => Group.open(row.events() as readonly string[]).close();
      const start = performance.now();
      const error = expectPerfError(open, row.code);
      let ms = performance.now() - start;
      if (ms >= 1000) ms = Math.min(ms, quickestMs(() => expectPerfError(open, row.code), 1000, 2));
      assert.ok(ms < 1000, `took ${ms} ms`);
      const ops = [row.op ?? "open"].flat();
      assert.ok(ops.includes(error.op!), `op ${error.op}, expected ${ops.join(" or ")}`);
      if (row.says !== undefined) {
        assert.ok(error.message.includes(row.says), `"${row.says}" in: ${error.message}`);
      }
      if (row.cause !== undefined) assert.equal(error.cause, row.cause, "keeps the cause");
      assert.equal(perfFds(), fds, "no fd left behind");
    });
  }

  it("an index inherited from Array.prototype is a hole, never an event", () => {
    const fds = perfFds();
    const proto = Array.prototype as unknown as Record<number, unknown>;
    proto[0] = "task-clock";
    try {
      const error = expectPerfError(
        () => Group.open([, "page-faults"] as string[]).close(),
        "INVALID_EVENT",
      );
      assert.ok(error.message.includes("events[0]"), error.message);
      expectPerfError(() => Group.open(new Array(1)).close(), "INVALID_EVENT");
    } finally {
      delete proto[0];
    }
    assert.equal(perfFds(), fds, "no fd left behind");
  });

  it("a transparent Proxy over an array opens like the array, reading each element once", () => {
    const reads: PropertyKey[] = [];
    const events = new Proxy(["page-faults", "task-clock"], {
      get(target, key, receiver) {
        if (key === "0" || key === "1") reads.push(key);
        return Reflect.get(target, key, receiver);
      },
    });
    using group = Group.open(events);
    assert.deepEqual(group.counters.map((c) => c.event.name), ["page-faults", "task-clock"]);
    assert.deepEqual(reads, ["0", "1"], "each element read exactly once");
    assert.equal(group.read().values.length, 2);
  });

  it("the error for a bad element is a PerfError even when the thrown value is not an Error", () => {
    const events = ["task-clock"];
    Object.defineProperty(events, 0, {
      get() {
        throw "a string";
      },
    });
    const error = expectPerfError(() => Group.open(events), "INVALID_EVENT");
    assert.ok(error instanceof PerfError);
    assert.equal(error.cause, "a string");
  });
});
