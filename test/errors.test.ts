// The bad-input table: every row is a typed PerfError, never a crash.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Counter, type CounterOptions, type EventInput, Group, PerfError } from "../mod.ts";

interface Row {
  name: string;
  code: string;
  run: () => unknown;
}

const open = (event: unknown, options?: unknown) => () =>
  Counter.open(event as EventInput, options as CounterOptions).close();

function closedCounter(): Counter {
  const counter = Counter.open("task-clock");
  counter.close();
  return counter;
}

/** The table; each row names the input and the code it must give. */
export const BAD_INPUTS: readonly Row[] = [
  // Event names
  { name: 'empty name ""', code: "INVALID_EVENT", run: open("") },
  { name: "blank name", code: "INVALID_EVENT", run: open("   ") },
  { name: "unknown name", code: "UNKNOWN_EVENT", run: open("no-such-event") },
  { name: "misspelt name", code: "UNKNOWN_EVENT", run: open("task-clok") },
  { name: "misspelt cache event", code: "UNKNOWN_EVENT", run: open("L1-dcache-load-mises") },
  { name: "unknown cache op", code: "UNKNOWN_EVENT", run: open("L1-dcache-bogus") },
  { name: "unknown modifier", code: "INVALID_EVENT", run: open("task-clock:z") },
  { name: "four p modifiers", code: "INVALID_EVENT", run: open("task-clock:pppp") },
  { name: "tracepoint syntax", code: "INVALID_EVENT", run: open("sched:sched_switch") },
  { name: "modifier with no name", code: "INVALID_EVENT", run: open(":u") },
  { name: "raw event, not hex", code: "UNKNOWN_EVENT", run: open("rxyz") },
  { name: "raw event, 17 hex digits", code: "VALUE_OUT_OF_RANGE", run: open("r12345678901234567") },
  // PMU strings
  { name: "unknown PMU", code: "UNKNOWN_PMU", run: open("nopmu/event=1/") },
  { name: "PMU named ..", code: "UNKNOWN_PMU", run: open("../event=1/") },
  { name: "path in PMU string", code: "INVALID_EVENT", run: open("../../etc/passwd/") },
  {
    name: "PMU string without closing slash",
    code: "INVALID_EVENT",
    run: open("software/config=1"),
  },
  { name: "PMU term with an empty value", code: "INVALID_EVENT", run: open("software/config=/") },
  {
    name: "PMU string with an empty term",
    code: "INVALID_EVENT",
    run: open("software/config=1,,/"),
  },
  { name: "malformed term", code: "INVALID_EVENT", run: open("software/=1/") },
  { name: "unknown format term", code: "UNKNOWN_TERM", run: open("software/event=1/") },
  { name: "term value not a number", code: "INVALID_EVENT", run: open("software/config=xyz/") },
  {
    name: "config term beyond 64 bits",
    code: "VALUE_OUT_OF_RANGE",
    run: open("software/config=0x1ffffffffffffffff/"),
  },
  {
    name: "bad modifier after a PMU string",
    code: "INVALID_EVENT",
    run: open("software/config=1/q"),
  },
  // Object form
  { name: "null event", code: "INVALID_EVENT", run: open(null) },
  { name: "number event", code: "INVALID_EVENT", run: open(42) },
  { name: "array event", code: "INVALID_EVENT", run: open([]) },
  { name: "negative type", code: "INVALID_EVENT", run: open({ type: -1, config: 0 }) },
  { name: "fractional type", code: "INVALID_EVENT", run: open({ type: 1.5, config: 0 }) },
  { name: "NaN type", code: "INVALID_EVENT", run: open({ type: NaN, config: 0 }) },
  { name: "type beyond u32", code: "INVALID_EVENT", run: open({ type: 2 ** 32, config: 0 }) },
  { name: "negative config", code: "VALUE_OUT_OF_RANGE", run: open({ type: 1, config: -1 }) },
  { name: "fractional config", code: "INVALID_EVENT", run: open({ type: 1, config: 1.5 }) },
  { name: "NaN config", code: "INVALID_EVENT", run: open({ type: 1, config: NaN }) },
  {
    name: "Infinity config1",
    code: "INVALID_EVENT",
    run: open({ type: 1, config: 1, config1: Infinity }),
  },
  {
    name: "unsafe integer config",
    code: "VALUE_OUT_OF_RANGE",
    run: open({ type: 1, config: 2 ** 53 }),
  },
  {
    name: "bigint config 2^64",
    code: "VALUE_OUT_OF_RANGE",
    run: open({ type: 1, config: 1n << 64n }),
  },
  { name: "string config", code: "INVALID_EVENT", run: open({ type: 1, config: "1" }) },
  { name: "missing config", code: "INVALID_EVENT", run: open({ type: 1 }) },
  { name: "unknown key", code: "INVALID_EVENT", run: open({ type: 1, config: 1, confg: 2 }) },
  { name: "no such software event", code: "ENOENT", run: open({ type: 1, config: 999 }) },
  { name: "no PMU of that type", code: "ENOENT", run: open({ type: 4242, config: 0 }) },
  // Options
  { name: "options not an object", code: "INVALID_OPTION", run: open("task-clock", "fast") },
  { name: "options null", code: "INVALID_OPTION", run: open("task-clock", null) },
  { name: "unknown option", code: "INVALID_OPTION", run: open("task-clock", { bogus: 1 }) },
  { name: "pid -2", code: "INVALID_OPTION", run: open("task-clock", { pid: -2 }) },
  { name: "fractional pid", code: "INVALID_OPTION", run: open("task-clock", { pid: 1.5 }) },
  { name: "NaN pid", code: "INVALID_OPTION", run: open("task-clock", { pid: NaN }) },
  { name: "pid 2^31", code: "INVALID_OPTION", run: open("task-clock", { pid: 2 ** 31 }) },
  { name: "string cpu", code: "INVALID_OPTION", run: open("task-clock", { cpu: "0" }) },
  { name: "pid -1 with cpu -1", code: "INVALID_OPTION", run: open("task-clock", { pid: -1 }) },
  {
    name: "userspace not a mode",
    code: "INVALID_OPTION",
    run: open("task-clock", { userspace: "fast" }),
  },
  {
    name: "userspace boolean",
    code: "INVALID_OPTION",
    run: open("task-clock", { userspace: true }),
  },
  { name: "fallback string", code: "INVALID_OPTION", run: open("task-clock", { fallback: "yes" }) },
  { name: "enabled number", code: "INVALID_OPTION", run: open("task-clock", { enabled: 0 }) },
  {
    name: "exclude not an object",
    code: "INVALID_OPTION",
    run: open("task-clock", { exclude: true }),
  },
  {
    name: "exclude value not boolean",
    code: "INVALID_OPTION",
    run: open("task-clock", { exclude: { kernel: 1 } }),
  },
  {
    name: "unknown exclude key",
    code: "INVALID_OPTION",
    run: open("task-clock", { exclude: { kernal: true } }),
  },
  // What the kernel refuses
  { name: "pid of no process", code: "ESRCH", run: open("task-clock", { pid: 0x7fff_fff0 }) },
  { name: "cpu that does not exist", code: "EINVAL", run: open("task-clock", { cpu: 4096 }) },
  {
    name: 'userspace: "require" on a software event',
    code: "NO_USER_RDPMC",
    run: open("task-clock", { userspace: "require" }),
  },
  // Lifecycle
  { name: "read after close", code: "STALE_HANDLE", run: () => closedCounter().read() },
  {
    name: "readDetailed after close",
    code: "STALE_HANDLE",
    run: () => closedCounter().readDetailed(),
  },
  { name: "enable after close", code: "STALE_HANDLE", run: () => closedCounter().enable() },
  { name: "id after close", code: "STALE_HANDLE", run: () => closedCounter().id },
  { name: "close twice", code: "STALE_HANDLE", run: () => closedCounter().close() },
  // Groups
  { name: "group with no events", code: "EMPTY_GROUP", run: () => Group.open([]) },
  {
    name: "group of a string",
    code: "INVALID_EVENT",
    run: () => Group.open("task-clock" as unknown as string[]),
  },
  {
    name: "group of 257 events",
    code: "GROUP_TOO_LARGE",
    run: () => Group.open(Array.from({ length: 257 }, () => "task-clock")),
  },
  {
    name: "group with an unknown event",
    code: "UNKNOWN_EVENT",
    run: () => Group.open(["task-clock", "nope"]),
  },
  {
    name: "group with a bad option",
    code: "INVALID_OPTION",
    run: () => Group.open(["task-clock"], { pid: "me" as unknown as number }),
  },
  {
    name: "group read after close",
    code: "STALE_HANDLE",
    run: () => {
      const group = Group.open(["task-clock"]);
      group.close();
      group.read();
    },
  },
];

describe("bad inputs", () => {
  it(`the table has at least 30 rows (${BAD_INPUTS.length})`, () => {
    assert.ok(BAD_INPUTS.length >= 30);
  });

  for (const row of BAD_INPUTS) {
    it(`${row.name} -> ${row.code}`, () => {
      let caught: unknown;
      try {
        row.run();
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof PerfError, `expected a PerfError, got ${String(caught)}`);
      assert.equal(caught.code, row.code, caught.message);
      assert.equal(caught.name, "PerfError");
      assert.ok(caught.message.length > 0);
      assert.ok(caught.op !== undefined, "op is set");
      if (/^E[A-Z0-9]+$/.test(row.code)) {
        assert.equal(typeof caught.errno, "number", "kernel errors carry the errno");
        assert.ok(
          caught.hint !== undefined && caught.hint.length > 0,
          "kernel errors carry a hint",
        );
      } else {
        assert.equal(caught.errno, undefined);
      }
    });
  }

  it("an out-of-range format value is VALUE_OUT_OF_RANGE (uprobe/retprobe is 1 bit)", () => {
    // uprobe's format is config:0 on every kernel that has the PMU.
    try {
      Counter.open("uprobe/retprobe=2/");
      assert.fail("opened");
    } catch (error) {
      assert.ok(error instanceof PerfError);
      assert.ok(["VALUE_OUT_OF_RANGE", "UNKNOWN_PMU"].includes(error.code), error.code);
    }
  });

  it("suggests the closest name", () => {
    try {
      Counter.open("task-clok");
    } catch (error) {
      assert.ok(error instanceof PerfError);
      assert.match(error.message, /did you mean "task-clock"/);
    }
  });
});

describe("messages print as text", () => {
  const hostile = ["task\x1b[31mclock", "a\x00b", "x\u202ey", "cs\x9b2J", "\x07bell"];
  for (const event of hostile) {
    it(`the message for ${JSON.stringify(event)} has no control character`, () => {
      let caught: unknown;
      try {
        Counter.open(event);
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof PerfError, String(caught));
      // deno-lint-ignore no-control-regex
      const controls = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
      assert.doesNotMatch(caught.message, controls);
      assert.doesNotMatch(caught.hint ?? "", controls);
      assert.equal(caught.event, event, "the event field keeps what the user gave");
    });
  }

  it("escapes as \\xNN, once, wherever the message comes from", () => {
    const error = new PerfError("INVALID_OPTION", "got \x1b[2J and \x00", { hint: "\x1b" });
    assert.equal(error.message, "got \\x1b[2J and \\x00\nhint: \\x1b");
    assert.equal(error.hint, "\\x1b");
    const again = new PerfError(error.code, error.message.split("\nhint:")[0]);
    assert.equal(again.message, "got \\x1b[2J and \\x00", "escaping twice changes nothing");
  });

  it("an unknown option named with controls is escaped too", () => {
    let caught: unknown;
    try {
      Counter.open("task-clock", { ["\x1b]0;pwned\x07"]: 1 } as CounterOptions);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof PerfError);
    assert.equal(caught.code, "INVALID_OPTION");
    assert.match(caught.message, /"\\x1b\]0;pwned\\x07"/);
  });
});
