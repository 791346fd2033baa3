// Groups: one read(2) for all members, in the order of the events.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Group } from "../mod.ts";
import {
  busy,
  expectPerfError,
  hardwareSkip,
  perfFds,
  sleepSync,
  touchNewPages,
} from "./_helpers.ts";

const SOFTWARE = ["task-clock", "page-faults", "context-switches", "cpu-migrations"];

describe("Group", () => {
  it("reads every member in the order given, checked against the work", () => {
    using group = Group.open(SOFTWARE);
    const before = group.read();
    touchNewPages(300);
    for (let i = 0; i < 5; i++) sleepSync(2);
    busy(10);
    const after = group.read();
    assert.equal(after.values.length, 4);
    const [clock, faults, switches, migrations] = after.values.map((v, i) => v - before.values[i]);
    assert.ok(clock >= 3e6, `task-clock grew ${clock} ns`);
    assert.ok(faults >= 300, `page-faults grew ${faults}`);
    assert.ok(switches >= 5, `context-switches grew ${switches}`);
    assert.ok(migrations >= 0);
    assert.ok(after.timeEnabled >= after.timeRunning && after.timeRunning > 0);
    assert.deepEqual(after.scaled, after.values, "software groups are never multiplexed");
  });

  it("keeps the order of the events, not the kernel's", () => {
    using group = Group.open(["page-faults", "task-clock"]);
    busy(5);
    const { values } = group.read();
    assert.ok(values[1] > 1e6, "task-clock (ns) is second");
    assert.ok(values[0] < values[1]);
    assert.equal(group.counters[0].event.name, "page-faults");
  });

  it("enable, disable and reset act on the whole group", () => {
    using group = Group.open(["task-clock", "page-faults"], { enabled: false });
    touchNewPages(50);
    assert.deepEqual(group.read().values, [0, 0]);
    group.enable();
    busy(2);
    touchNewPages(50);
    group.disable();
    const frozen = group.read().values;
    assert.ok(frozen[0] > 0 && frozen[1] >= 50);
    busy(5);
    touchNewPages(50);
    assert.deepEqual(group.read().values, frozen, "no growth while disabled");
    group.reset();
    assert.deepEqual(group.read().values, [0, 0]);
  });

  it("readBigInt matches read", () => {
    using group = Group.open(["page-faults", "minor-faults"]);
    touchNewPages(20);
    group.disable();
    const numbers = group.read();
    const exact = group.readBigInt();
    assert.deepEqual(exact.values, numbers.values.map(BigInt));
    assert.equal(exact.timeEnabled, BigInt(numbers.timeEnabled));
  });

  it("members read on their own agree with the group read", () => {
    using group = Group.open(["page-faults", "minor-faults"]);
    touchNewPages(20);
    group.disable();
    const { values } = group.read();
    assert.equal(group.counters[0].read(), values[0]);
    assert.equal(group.counters[1].read(), values[1]);
  });

  it("a single event is a group too", () => {
    using group = Group.open(["task-clock"]);
    busy(1);
    assert.ok(group.read().values[0] > 0);
  });

  it("closes all members; a second close is STALE_HANDLE", () => {
    const group = Group.open(SOFTWARE);
    const members = [...group.counters];
    group.close();
    assert.ok(group.closed);
    for (const counter of members) assert.ok(counter.closed);
    expectPerfError(() => group.read(), "STALE_HANDLE");
    expectPerfError(() => group.close(), "STALE_HANDLE");
    group[Symbol.dispose]();
  });

  it("a member the kernel refuses closes the members already open", () => {
    const before = perfFds();
    const error = expectPerfError(
      () => Group.open(["task-clock", "page-faults", { type: 1, config: 999 }, "cs"]),
      "ENOENT",
    );
    assert.equal(error.op, "open");
    assert.equal(perfFds(), before, "no fd left behind");
  });

  it("counts hardware events with a software leader", {
    skip: hardwareSkip("instructions"),
  }, () => {
    using group = Group.open(["task-clock", "instructions"]);
    busy(5);
    const { values, timeRunning } = group.read();
    assert.ok(timeRunning > 0);
    assert.ok(values[1] > 1000, `instructions: ${values[1]}`);
  });
});
