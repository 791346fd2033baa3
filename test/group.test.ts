// Groups: one read(2) for all members, in the order of the events.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Group } from "../mod.ts";
import { groupReading, mapGroupOrder } from "../src/group.ts";
import { counterHandle } from "./_helpers.ts";
import { native } from "../src/loader/native.ts";
import { SimulatedCounter } from "../src/testing.ts";
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

// The record pm_read_values writes: 0 nr, 1 time_enabled, 2 time_running,
// then value, id, lost per member from slot 3.
function record(timeEnabled: number, timeRunning: number, members: [number, number][]) {
  const slots = new Float64Array(3 + 3 * members.length);
  slots.set([members.length, timeEnabled, timeRunning]);
  members.forEach(([value, id], p) => slots.set([value, id, 0], 3 + 3 * p));
  return slots;
}

describe("Group record decoding (fixed records)", () => {
  it("values land by id when the kernel's record lists members in another order", () => {
    const ids = Float64Array.of(71, 72, 73); // the events' order
    const order = Int32Array.of(0, 1, 2); // what a group starts with
    const slots = record(500, 500, [[3000, 73], [1000, 71], [2000, 72]]);
    assert.equal(mapGroupOrder(slots, 3, ids, order), -1);
    assert.deepEqual([...order], [1, 2, 0]);
    assert.deepEqual(groupReading(slots, order).values, [1000, 2000, 3000]);
    // The same with exact (u64) slots, as readBigInt decodes them.
    const exact = BigUint64Array.from(slots, (v) => BigInt(v));
    const again = Int32Array.of(0, 1, 2);
    assert.equal(mapGroupOrder(exact, 3, ids, again), -1);
    assert.deepEqual([...again], [1, 2, 0]);
  });

  it("a kept order is checked against the ids at each read, and remapped when it no longer holds", () => {
    const ids = Float64Array.of(5, 6);
    const order = Int32Array.of(0, 1);
    assert.equal(mapGroupOrder(record(1, 1, [[10, 5], [20, 6]]), 2, ids, order), -1);
    assert.deepEqual([...order], [0, 1]);
    const swapped = record(1, 1, [[20, 6], [10, 5]]);
    assert.equal(mapGroupOrder(swapped, 2, ids, order), -1);
    assert.deepEqual(groupReading(swapped, order).values, [10, 20]);
  });

  it("a member whose id is not in the record is reported, never read from another slot", () => {
    const ids = Float64Array.of(5, 6, 7);
    const order = Int32Array.of(0, 1, 2);
    // Member 6 left the group: the kernel lists two members.
    assert.equal(mapGroupOrder(record(1, 1, [[10, 5], [30, 7]]), 2, ids, order), 1);
  });

  it("times and scaled values when time_enabled and time_running differ", () => {
    const slots = record(4000, 1000, [[100, 1], [7, 2]]);
    const reading = groupReading(slots, Int32Array.of(0, 1));
    assert.equal(reading.timeEnabled, 4000, "slot 1 is time_enabled");
    assert.equal(reading.timeRunning, 1000, "slot 2 is time_running");
    assert.deepEqual(reading.values, [100, 7]);
    assert.deepEqual(reading.scaled, [400, 28], "scaled by enabled / running");
    assert.equal(reading.counted, true);
    assert.equal(reading.reason, null);
    const neverRan = groupReading(record(4000, 0, [[0, 1]]), Int32Array.of(0));
    assert.equal(neverRan.scaled, null, "no count (and no division by a running time of 0)");
    assert.equal(neverRan.counted, false);
  });

  it("the core writes time_enabled to slot 1 and time_running to slot 2", () => {
    using sim = SimulatedCounter.create();
    sim.configure({ syscallValue: 77, syscallTimeEnabled: 4000, syscallTimeRunning: 1000 });
    const bytes = new Uint8Array(6 * 8);
    const symbols = native().symbols;
    assert.equal(symbols.pm_read_values(counterHandle(sim), bytes, 6, 0), 1);
    assert.deepEqual([...new Float64Array(bytes.buffer)], [1, 4000, 1000, 77, 0, 0]);
    assert.equal(symbols.pm_read_values(counterHandle(sim), bytes, 6, 1), 1);
    assert.deepEqual([...new BigUint64Array(bytes.buffer)], [1n, 4000n, 1000n, 77n, 0n, 0n]);
  });
});
