// Groups that never get on the PMU: the check at Group.open (and at the
// first enable), and readings that never present a 0 as a count.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { Group, parseEvent } from "../mod.ts";
import {
  awaitSchedule,
  groupReading,
  needsScheduleCheck,
  notScheduled,
  SCHEDULE_READS_MAX,
  type ScheduleSample,
  takesCounter,
} from "../src/group.ts";
import { SimulatedCounter } from "../src/testing.ts";
import { readText } from "../src/_sysfs.ts";

/** A fake clock that a fake read advances by `stepMs`. */
function fakeGroup(samples: (reads: number) => ScheduleSample, stepMs: number) {
  let clock = 0;
  let reads = 0;
  return {
    read: (): ScheduleSample => {
      clock += stepMs;
      return samples(++reads);
    },
    now: (): number => (clock += 0.01),
    get reads() {
      return reads;
    },
  };
}

describe("awaitSchedule (the check's loop, on fake reads)", () => {
  it("a group on the PMU at the first read passes with that one read", () => {
    const group = fakeGroup(() => ({ timeEnabled: 900, timeRunning: 900 }), 0.001);
    const outcome = awaitSchedule(group.read, group.now, 32);
    assert.deepEqual([outcome.scheduled, outcome.reads, group.reads], [true, 1, 1]);
  });

  it("a group that gets its turn after a few rotations passes", () => {
    const group = fakeGroup(
      (reads) => ({ timeEnabled: reads * 1e5, timeRunning: reads >= 9 ? 1000 : 0 }),
      0.5,
    );
    const outcome = awaitSchedule(group.read, group.now, 32);
    assert.equal(outcome.scheduled, true);
    assert.equal(outcome.reads, 9);
    assert.equal(outcome.last.timeRunning, 1000);
  });

  it("a group that never runs fails once the wait is over, with the reads bounded", () => {
    const group = fakeGroup((reads) => ({ timeEnabled: reads * 1e5, timeRunning: 0 }), 0.001);
    const outcome = awaitSchedule(group.read, group.now, 32);
    assert.equal(outcome.scheduled, false);
    assert.ok(outcome.reads >= 2, `read again while waiting: ${outcome.reads}`);
    assert.ok(outcome.reads <= 32 / 0.5 + 2, `at most one read per 0.5 ms: ${outcome.reads}`);
    assert.equal(outcome.last.timeRunning, 0);
  });

  it("a clock that stands still cannot make it spin forever", () => {
    let reads = 0;
    const outcome = awaitSchedule(
      () => ({ timeEnabled: ++reads, timeRunning: 0 }),
      () => 0,
      32,
    );
    assert.equal(outcome.scheduled, false);
    assert.equal(outcome.reads, SCHEDULE_READS_MAX);
  });
});

describe("which groups are checked", () => {
  const THIS_THREAD = { pid: 0, cpu: -1, enableOnExec: false };

  it("a group with a hardware, cache or raw member on this thread, or on a whole CPU", () => {
    for (const name of ["cycles", "L1-dcache-load-misses", "r1a8"]) {
      const specs = [parseEvent("task-clock"), parseEvent(name)];
      assert.equal(takesCounter(specs[1]), true, name);
      assert.equal(needsScheduleCheck(specs, THIS_THREAD), true, name);
      assert.equal(needsScheduleCheck(specs, { ...THIS_THREAD, pid: -1, cpu: 0 }), true, name);
    }
  });

  it("software groups always get on: not checked", () => {
    const specs = ["task-clock", "page-faults", "software/config=1/", { type: 1, config: 3 }]
      .map((e) => parseEvent(e));
    for (const spec of specs) assert.equal(takesCounter(spec), false, spec.name);
    assert.equal(needsScheduleCheck(specs, THIS_THREAD), false);
  });

  it("not when the group may rightly be off the PMU now: another process, one CPU, exec", () => {
    const specs = [parseEvent("cycles")];
    assert.equal(needsScheduleCheck(specs, { ...THIS_THREAD, pid: 4242 }), false, "may sleep");
    assert.equal(needsScheduleCheck(specs, { ...THIS_THREAD, cpu: 1 }), false, "may run elsewhere");
    assert.equal(needsScheduleCheck(specs, { ...THIS_THREAD, enableOnExec: true }), false);
  });
});

describe("the NOT_COUNTED error", () => {
  it("says how many counters a hardware group needs and what holds them here", () => {
    const specs = ["task-clock", "cycles", "instructions", "r1a8"].map((e) => parseEvent(e));
    const outcome = { scheduled: false, reads: 64, last: { timeEnabled: 31e6, timeRunning: 0 } };
    const error = notScheduled(specs, { pid: 0, cpu: -1 }, outcome, 32.4, "open");
    assert.equal(error.code, "NOT_COUNTED");
    assert.equal(error.op, "open");
    assert.match(
      error.message,
      /never got on the PMU in 32 ms \(64 reads, timeRunning 0, timeEnabled 31000000 ns\): it needs 3 hardware counters at once \(cycles, instructions, r1a8\), and fewer are free/,
    );
    const watchdog = readText("/proc/sys/kernel/nmi_watchdog")?.trim();
    assert.match(error.hint!, /open fewer hardware events per group, or free counters/);
    if (watchdog === "1") {
      assert.match(
        error.hint!,
        /the NMI watchdog is on \(kernel\.nmi_watchdog = 1: .*sysctl -w kernel\.nmi_watchdog=0/,
      );
    } else if (watchdog === "0") {
      assert.match(error.hint!, /other perf users .* \(the NMI watchdog is off here\)/);
    }
    const cpuWide = notScheduled(specs.slice(1, 2), { pid: -1, cpu: 3 }, outcome, 32, "enable");
    assert.match(
      cpuWide.message,
      /enabled on cpu 3 but never.*needs 1 hardware counter at once \(cycles\)/,
    );
  });
});

describe("readings of a counter or group that never ran", () => {
  it("a simulated counter with timeRunning 0 has no scaled count, and says why", () => {
    using sim = SimulatedCounter.create();
    sim.configure({ index: 0, syscallValue: 0, syscallTimeEnabled: 4000, syscallTimeRunning: 0 });
    const reading = sim.readDetailed();
    assert.equal(reading.scaled, null, "never a 0 presented as a count");
    assert.equal(reading.counted, false);
    assert.match(reading.reason!, /never on the PMU \(timeRunning 0\)/);
    sim.configure({ syscallValue: 0, syscallTimeEnabled: 0, syscallTimeRunning: 0 });
    assert.match(sim.readDetailed().reason!, /^never enabled/);
    sim.configure({ syscallValue: 100, syscallTimeEnabled: 4000, syscallTimeRunning: 1000 });
    const counted = sim.readDetailed();
    assert.deepEqual([counted.scaled, counted.counted, counted.reason], [400, true, null]);
  });

  it("a group record with timeRunning 0 has no scaled counts; never NaN", () => {
    const slots = Float64Array.of(2, 5000, 0, 0, 1, 0, 0, 2, 0);
    const reading = groupReading(slots, Int32Array.of(0, 1));
    assert.deepEqual(
      [reading.scaled, reading.counted, reading.values],
      [null, false, [0, 0]],
    );
    assert.match(reading.reason!, /enabled for 5\.00 µs but never on the PMU/);
    const never = groupReading(Float64Array.of(1, 0, 0, 0, 1, 0), Int32Array.of(0));
    assert.match(never.reason!, /^never enabled/);
  });

  it("a group opened disabled reads as not counted until enabled", () => {
    using group = Group.open(["task-clock", "page-faults"], { enabled: false });
    const before = group.read();
    assert.deepEqual([before.counted, before.scaled], [false, null]);
    group.enable();
    const after = group.read();
    assert.equal(after.counted, true);
    assert.deepEqual(after.scaled, after.values);
  });
});

const FIXTURE = fileURLToPath(new URL("./fixtures/never_scheduled.ts", import.meta.url));

/** Why the real never-scheduled groups cannot be made here, or false. */
function pinSkip(): string | false {
  const online = readText("/sys/devices/system/cpu/online")?.trim() ?? "";
  if (!/^0-[1-9]/.test(online) && !/^0,1/.test(online)) {
    return `needs CPUs 0 and 1 online (online: ${online || "unknown"})`;
  }
  const taskset = spawnSync("taskset", ["-c", "0", "true"], { encoding: "utf8" });
  if (taskset.error !== undefined || taskset.status !== 0) {
    return "needs taskset (util-linux) to pin the child to cpu 0";
  }
  return false;
}

/** Runs the fixture pinned to cpu 0; its groups count on cpu 1. */
function pinnedRun(): Record<string, unknown> {
  const runtimeArgs = "Deno" in globalThis ? ["run", "--no-prompt", "-A", FIXTURE] : [FIXTURE];
  const child = spawnSync("taskset", ["-c", "0", process.execPath, ...runtimeArgs, "1"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  const line = (child.stdout ?? "").trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`child failed (status ${child.status}): ${child.stdout}\n${child.stderr}`);
  }
}

describe("a group that is enabled but never scheduled, for real", () => {
  it("reads as not counted, opening refuses it with NOT_COUNTED, and nothing leaks", {
    skip: pinSkip(),
  }, () => {
    const r = pinnedRun();
    const group = r.groupReading as Record<string, unknown>;
    assert.equal(group.counted, false, JSON.stringify(group));
    assert.equal(group.scaled, null);
    assert.ok((group.timeEnabled as number) > 0, "enabled all along");
    assert.equal(group.timeRunning, 0);
    assert.match(String(group.reason), /never on the PMU/);
    const counter = r.counterReading as Record<string, unknown>;
    assert.deepEqual([counter.counted, counter.scaled], [false, null], JSON.stringify(counter));

    assert.deepEqual(r.fits, { ok: true }, "a group that gets on passes the check");
    for (const [key, op] of [["open", "open"], ["enable", "enable"]]) {
      const refused = r[key] as Record<string, unknown>;
      assert.equal(refused.code, "NOT_COUNTED", `${key}: ${JSON.stringify(refused)}`);
      assert.equal(refused.op, op);
      assert.equal(refused.event, "task-clock");
      assert.match(
        String(refused.message),
        /never got on the PMU in \d+ ms \(\d+ reads, timeRunning 0/,
      );
      assert.match(String(refused.message), /on cpu 1 only/);
      assert.match(String(refused.hint), /pin the thread to cpu 1/);
      assert.ok((refused.ms as number) < 2000, `the check is bounded: ${refused.ms} ms`);
    }
    assert.equal(r.fdsAfterOpen, 0, "a refused open closes every member");
    assert.equal(r.enabledGrewAfterRefusal, 0, "a refused enable disables again");
    assert.equal(r.fdsAfterAll, 0);
  });
});
