// No fd or mapping leaks after 10 000 open/close cycles, counted from
// /proc/self/fd and /proc/self/maps (Deno needs --allow-all to read them).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Counter, Group, PerfError } from "../mod.ts";
import { SimulatedCounter } from "../src/testing.ts";
import { HANDLES_MAX } from "../src/ffi/symbols.ts";
import {
  allFds,
  allMappings,
  expectPerfError,
  loopCount,
  perfFds,
  perfMappings,
} from "./_helpers.ts";

// 10 000 on the host; a tenth in the arm64 QEMU tier (printed), where each
// open/mmap/close costs tens of microseconds of emulation.
const CYCLES = loopCount(10_000, "leaks");
// bun test stops a test after 5 s by default; the arm64 QEMU guest emulates the CPU.
const SLOW = { timeout: 300_000 };

describe("leaks", () => {
  it(`${CYCLES} open/read/close cycles leave no perf fd or mapping`, SLOW, () => {
    const fds = perfFds();
    const maps = perfMappings();
    const totalFds = allFds();
    const totalMaps = allMappings();
    let sum = 0;
    for (let i = 0; i < CYCLES; i++) {
      const counter = Counter.open("task-clock"); // userspace "auto": mmaps its page
      sum += counter.read();
      counter.close();
    }
    assert.ok(sum > 0);
    assert.equal(perfFds(), fds, "perf fds");
    assert.equal(perfMappings(), maps, "perf mappings");
    assert.ok(allFds() <= totalFds + 2, `fds ${totalFds} -> ${allFds()}`);
    assert.ok(allMappings() <= totalMaps + 64, `mappings ${totalMaps} -> ${allMappings()}`);
  });

  it("a counter holds exactly one fd and one mapping while open", () => {
    const fds = perfFds();
    const maps = perfMappings();
    const counter = Counter.open("task-clock");
    assert.equal(perfFds(), fds + 1);
    assert.equal(perfMappings(), maps + 1);
    counter.close();
    const plain = Counter.open("task-clock", { userspace: "off" });
    assert.equal(perfFds(), fds + 1);
    assert.equal(perfMappings(), maps, "userspace off maps nothing");
    plain.close();
    assert.equal(perfFds(), fds);
  });

  it(`${CYCLES / 10} group open/close cycles leave nothing`, SLOW, () => {
    const fds = perfFds();
    const maps = perfMappings();
    for (let i = 0; i < CYCLES / 10; i++) {
      using group = Group.open(["task-clock", "page-faults", "context-switches", "cpu-migrations"]);
      group.read();
    }
    assert.equal(perfFds(), fds);
    assert.equal(perfMappings(), maps);
  });

  it(`${CYCLES} simulated counters recycle their slots and pages`, SLOW, () => {
    const totalMaps = allMappings();
    for (let i = 0; i < CYCLES; i++) {
      using sim = SimulatedCounter.create();
      sim.read();
    }
    assert.ok(allMappings() <= totalMaps + 64, `mappings ${totalMaps} -> ${allMappings()}`);
  });

  it("more than 4095 counters at once: TABLE_FULL, then recovery", SLOW, () => {
    // Simulated counters take handle slots like real ones but close cheaply
    // (closing 4095 perf fds takes seconds).
    const open: SimulatedCounter[] = [];
    let error: unknown;
    try {
      try {
        for (let i = 0; i < 5000; i++) open.push(SimulatedCounter.create());
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof PerfError, String(error));
      assert.equal(error.code, "TABLE_FULL");
      // The hint says what frees slots: close, `using`, or (later) the GC.
      assert.match(error.hint ?? "", /close counters.*`using`.*garbage collector/);
      assert.ok(open.length <= HANDLES_MAX, `${open.length} handles were open at once`);
      expectPerfError(() => Counter.open("task-clock"), "TABLE_FULL");
    } finally {
      for (const counter of open) counter.close();
    }
    using again = Counter.open("task-clock");
    assert.ok(again.read() >= 0);
  });
});
