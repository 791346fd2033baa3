// The sampling ioctls on the real kernel: Counter.setPeriod
// (PERF_EVENT_IOC_PERIOD), Counter.refresh (PERF_EVENT_IOC_REFRESH) and
// Counter.pauseOutput/resumeOutput (PERF_EVENT_IOC_PAUSE_OUTPUT), with
// software events (cpu-clock, page-faults), which sample on a VM without a
// PMU. Busy loops are measured in CPU time (busy()), so a loaded machine
// gives the same counts.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Counter, type PerfRecord } from "../mod.ts";
import { SimulatedCounter } from "../src/testing.ts";
import { sysctl } from "../src/_sysfs.ts";
import { busy, expectPerfError, QEMU_TIER, touchNewPages } from "./_helpers.ts";

// bun test stops a test after 5 s by default; the arm64 QEMU guest emulates the CPU.
const SLOW = { timeout: 300_000 };
const MS = 1e6;

function samples(records: readonly PerfRecord[]): number {
  return records.filter((record) => record.type === "sample").length;
}

/** Page faults counted and samples written while `pages` new pages are touched. */
function faultSamples(counter: Counter, pages: number): { faults: number; samples: number } {
  counter.drain();
  const before = counter.readSyscall();
  touchNewPages(pages);
  const faults = counter.readSyscall() - before;
  return { faults, samples: samples(counter.drain()) };
}

describe("Counter.setPeriod", () => {
  it("page-faults every 256, then every 64: one sample per period of faults", SLOW, () => {
    // Without "period" in sampleType: a software event asked for the period
    // samples every single event (perf_swevent_event), whatever the period.
    // Few samples per burst of faults: above max_samples_per_tick (100 at
    // HZ=1000) the kernel throttles the event and drops samples.
    using faults = Counter.open("page-faults", { sample: { period: 256 } });
    const coarse = faultSamples(faults, 2048);
    faults.setPeriod(64);
    const change = faultSamples(faults, 2048);
    const fine = faultSamples(faults, 2048);
    const detail = `256: ${JSON.stringify(coarse)}, the change: ${JSON.stringify(change)}, ` +
      `64: ${JSON.stringify(fine)}`;
    for (const phase of [coarse, change, fine]) assert.ok(phase.faults >= 2048, detail);
    assert.ok(Math.abs(coarse.samples - coarse.faults / 256) <= 2, detail);
    // The change zeroes what is left of the period, so the next fault
    // samples, and perf_swevent_set_period then counts one more period of
    // the old length (its last_period) before the new one applies; unless
    // the thread was switched out and in meanwhile (perf_swevent_add takes
    // the new period at once). Both were seen.
    const oldPeriodFirst = 2 + (change.faults - 1 - 256) / 64;
    assert.ok(change.samples >= oldPeriodFirst - 2, detail);
    assert.ok(change.samples <= change.faults / 64 + 2, detail);
    assert.ok(Math.abs(fine.samples - fine.faults / 64) <= 2, detail);
  });

  it("the value is a frequency for a counter opened with one, except cpu-clock and task-clock", () => {
    const rate = sysctl("PERF_EVENT_MAX_SAMPLE_RATE");
    if (rate === null) {
      console.log("SKIP reason: no /proc/sys/kernel/perf_event_max_sample_rate to compare with");
      return;
    }
    {
      // A frequency above the kernel's ceiling: EINVAL, with the ceiling in the hint.
      using byFrequency = Counter.open("page-faults", { sample: { frequency: 100 } });
      byFrequency.setPeriod(rate);
      const error = expectPerfError(() => byFrequency.setPeriod(rate + 1), "EINVAL");
      assert.equal(error.op, "period");
      assert.match(error.hint ?? "", new RegExp(`perf_event_max_sample_rate \\(${rate} Hz`));
    }
    {
      using byPeriod = Counter.open("page-faults", { sample: { period: 100 } });
      byPeriod.setPeriod(rate + 1); // a period: no ceiling
    }
    {
      // The kernel turned this clock's frequency into a period at open.
      using clock = Counter.open("cpu-clock", { sample: { frequency: 100 } });
      clock.setPeriod(rate + 1);
    }
  });

  it("cpu-clock opened at 100 Hz, then a 1 ms period: about 10 times the samples", SLOW, () => {
    using clock = Counter.open("cpu-clock", {
      sample: { frequency: 100 },
      sampleType: ["period"],
    });
    busy(200);
    const slow = clock.drain().filter((r) => r.type === "sample");
    clock.setPeriod(MS);
    busy(200);
    const fast = clock.drain().filter((r) => r.type === "sample");
    const detail = `${slow.length} samples at 100 Hz, ${fast.length} at a 1 ms period`;
    if (QEMU_TIER) {
      // TCG delivers a timer interrupt every few ms at best, late by a
      // varying amount (seen: 23 samples at 100 Hz, 43 at 1 ms, for 200 ms).
      console.log(`QEMU tier: the ratio is not checked, only its direction: ${detail}`);
      assert.ok(fast.length > slow.length, detail);
    } else {
      assert.ok(slow.length >= 1 && fast.length >= 4 * slow.length, detail);
    }
    // A clock's samples keep the period it was opened with (1e9 / 100 ns):
    // the kernel sets it once for its hrtimer events, never on a change.
    for (const sample of [...slow, ...fast]) assert.equal(sample.period, 1e7, detail);
  });

  it("bad periods are typed errors before the kernel is asked; no sampling is EINVAL with a hint", () => {
    using clock = Counter.open("cpu-clock", { sample: { period: MS } });
    for (const bad of [0, -0, -1, 0.5, NaN, Infinity, 2 ** 53]) {
      expectPerfError(() => clock.setPeriod(bad), "VALUE_OUT_OF_RANGE");
    }
    for (const bad of ["1000", 1000n, null, undefined, { valueOf: () => 1000 }]) {
      expectPerfError(() => clock.setPeriod(bad as number), "INVALID_ARGUMENT");
    }
    clock.setPeriod(2 ** 53 - 1); // the largest accepted, both words passed
    using counting = Counter.open("task-clock");
    const error = expectPerfError(() => counting.setPeriod(MS), "EINVAL");
    assert.match(error.hint ?? "", /sample option/);
    using sim = SimulatedCounter.create();
    const simulated = expectPerfError(() => sim.setPeriod(MS), "EOPNOTSUPP");
    assert.match(simulated.hint ?? "", /simulated counter/);
    clock.close();
    expectPerfError(() => clock.setPeriod(MS), "STALE_HANDLE");
  });
});

describe("Counter.refresh", () => {
  it(
    "opened disabled, refresh(3) writes exactly 3 samples, then the kernel disables it",
    SLOW,
    () => {
      // SIGIO's default action ends the process: the kernel sends it at the
      // limit only to an fd with O_ASYNC and an owner, which perfmmap never
      // sets, so this test running to its end is the check of that too.
      using clock = Counter.open("cpu-clock", { enabled: false, sample: { period: MS } });
      clock.refresh(3);
      busy(100); // about 100 periods
      assert.equal(samples(clock.drain()), 3);
      const stopped = clock.readSyscall();
      busy(20);
      assert.equal(clock.readSyscall(), stopped, "disabled by the kernel: it no longer counts");
      assert.equal(samples(clock.drain()), 0);
      // The limit has run out: enable() samples without one.
      clock.enable();
      busy(50);
      assert.ok(samples(clock.drain()) > 3);
    },
  );

  it("an enabled counter gets a limit: refresh(2) stops it after 2 more samples", SLOW, () => {
    using clock = Counter.open("cpu-clock", { sample: { period: MS } });
    busy(10);
    clock.disable();
    clock.drain();
    clock.refresh(2);
    busy(50);
    assert.equal(samples(clock.drain()), 2);
  });

  it("an inherited counter, or one that does not sample, is EINVAL with a hint saying which", () => {
    using output = Counter.open("cpu-clock", { sample: { period: MS } });
    using inherited = Counter.open("cpu-clock", {
      inherit: true,
      sample: { period: MS },
      ring: { output },
    });
    const error = expectPerfError(() => inherited.refresh(1), "EINVAL");
    assert.equal(error.op, "refresh");
    assert.match(error.hint ?? "", /inherit/);
    using counting = Counter.open("task-clock");
    assert.match(expectPerfError(() => counting.refresh(1), "EINVAL").hint ?? "", /sample option/);
  });

  it("bad counts are typed errors before the kernel is asked; closed is STALE_HANDLE", () => {
    using clock = Counter.open("cpu-clock", { enabled: false, sample: { period: MS } });
    for (const bad of [0, -0, -1, 1.5, NaN, 2 ** 31, -(2 ** 31)]) {
      expectPerfError(() => clock.refresh(bad), "VALUE_OUT_OF_RANGE");
    }
    expectPerfError(() => clock.refresh("1" as unknown as number), "INVALID_ARGUMENT");
    using sim = SimulatedCounter.create();
    expectPerfError(() => sim.refresh(1), "EOPNOTSUPP");
    clock.close();
    expectPerfError(() => clock.refresh(1), "STALE_HANDLE");
  });
});

describe("Counter.pauseOutput and resumeOutput", () => {
  it(
    "paused: counting goes on but no record is written; resumed: one LOST record counts them",
    SLOW,
    () => {
      using clock = Counter.open("cpu-clock", { enabled: false, sample: { period: MS } });
      clock.pauseOutput();
      clock.pauseOutput(); // pausing a paused ring does nothing
      clock.enable();
      const start = clock.readSyscall();
      busy(50);
      assert.ok(clock.readSyscall() - start >= 40 * MS, "it still counts");
      assert.deepEqual(clock.drain(), []);
      assert.equal(clock.ringStats().lost, 0);
      // All it counted so far was counted paused: one period per sample lost.
      const periodsPaused = clock.readSyscall() / MS;
      clock.resumeOutput();
      busy(20);
      clock.disable();
      const records = clock.drain();
      const first = records[0];
      assert.equal(first?.type, "lost", JSON.stringify(records.slice(0, 2)));
      // At most one per period paused (QEMU TCG drops periods: at least one).
      const lost = first.type === "lost" ? first.lost : 0;
      assert.ok(
        lost >= 1 && lost <= Math.ceil(periodsPaused) + 1,
        `${lost} lost, ${periodsPaused.toFixed(1)} periods paused`,
      );
      assert.ok(samples(records) >= 1);
      assert.equal(records.filter((record) => record.type === "lost").length, 1);
      clock.resumeOutput(); // resuming a running ring does nothing
    },
  );

  it(
    "pauses the shared ring of a ring.output counter: neither counter's samples arrive",
    SLOW,
    () => {
      using first = Counter.open("cpu-clock", { sample: { period: MS } });
      using second = Counter.open("task-clock", {
        sample: { period: MS },
        ring: { output: first },
      });
      second.pauseOutput();
      first.drain(); // what came before the pause
      busy(30);
      assert.equal(samples(first.drain()), 0);
      second.resumeOutput();
      busy(30);
      assert.ok(samples(first.drain()) >= 2);
    },
  );

  it("a counter that writes to no ring is NO_RING; closed is STALE_HANDLE", () => {
    using counting = Counter.open("task-clock");
    expectPerfError(() => counting.pauseOutput(), "NO_RING");
    expectPerfError(() => counting.resumeOutput(), "NO_RING");
    using sim = SimulatedCounter.create();
    expectPerfError(() => sim.pauseOutput(), "NO_RING");
    const clock = Counter.open("cpu-clock", { sample: { period: MS } });
    clock.close();
    expectPerfError(() => clock.pauseOutput(), "STALE_HANDLE");
    expectPerfError(() => counting.setPeriod(MS), "EINVAL"); // counting is untouched
  });
});
