// The userspace read path through FFI, on simulated pages that play the
// kernel: the retry policy, the index == 0 fallback, sign extension, time
// extrapolation and source reporting. The loop is the one real counters run.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SimulatedCounter } from "../src/testing.ts";
import { expectPerfError } from "./_helpers.ts";

// 50 000 attempts with 49 000 sched_yield calls take long in an emulated CPU.
const SLOW = { timeout: 300_000 };
const CAP_BIT0_IS_DEPRECATED = 1 << 1;
const CAP_USER_RDPMC = 1 << 2;
const CAP_USER_TIME = 1 << 3;
// read(2)-served reads between two looks at the knob (self_read.zig).
const KNOB_RECHECK_READS = 1024;

describe("simulated userspace read", () => {
  it("serves a settled page from userspace in one attempt", () => {
    using sim = SimulatedCounter.create();
    sim.set("offset", 1000).set("register", 234);
    assert.equal(sim.read(), 1234);
    const reading = sim.readDetailed();
    assert.equal(reading.value, 1234);
    assert.equal(reading.source, "userspace");
    assert.equal(reading.attempts, 1);
    assert.equal(reading.yields, 0);
    assert.equal(reading.index, 1);
    assert.equal(reading.pmcWidth, 48);
    assert.equal(sim.userspace, true);
    assert.equal(sim.fd, -1);
    const stats = sim.stats();
    assert.equal(stats.userspaceReads, 2);
    assert.equal(stats.syscallReads, 0);
  });

  it("an odd lock forever exhausts after 50 000 attempts and 49 000 yields", SLOW, () => {
    using sim = SimulatedCounter.create();
    sim.set("lock", 1);
    const error = expectPerfError(() => sim.read(), "RETRY_EXHAUSTED");
    assert.equal(error.op, "read");
    assert.equal(error.errno, undefined);
    let stats = sim.stats();
    assert.equal(stats.lastAttempts, 50_000);
    assert.equal(stats.lastYields, 49_000);
    assert.equal(stats.exhausted, 1);
    assert.equal(stats.exhaustionLogLines, 1);
    expectPerfError(() => sim.readDetailed(), "RETRY_EXHAUSTED");
    stats = sim.stats();
    assert.equal(stats.exhausted, 2);
    assert.equal(stats.exhaustionLogLines, 1, "logged once per counter, not per read");
    sim.set("lock", 2);
    assert.equal(sim.readDetailed().attempts, 1, "an even lock reads again");
  });

  it("index 0 past the fast phase falls back to read(2): source syscall after 1000 attempts", () => {
    using sim = SimulatedCounter.create();
    sim.set("index", 0).set("syscallValue", 777).set("register", 5);
    const reading = sim.readDetailed();
    assert.equal(reading.value, 777);
    assert.equal(reading.source, "syscall");
    assert.equal(reading.attempts, 1000);
    assert.equal(reading.yields, 0);
    assert.equal(sim.read(), 777);
    const stats = sim.stats();
    assert.equal(stats.indexZeroFallbacks, 2);
    assert.equal(stats.syscallReads, 2);
    assert.equal(stats.exhausted, 0);
  });

  it("index 0 with fallback off runs the yield phase to its limit", SLOW, () => {
    using sim = SimulatedCounter.create({ fallback: false });
    sim.set("index", 0).set("syscallValue", 777);
    expectPerfError(() => sim.read(), "RETRY_EXHAUSTED");
    const stats = sim.stats();
    assert.equal(stats.lastAttempts, 50_000);
    assert.equal(stats.lastYields, 49_000);
  });

  it("cap_user_rdpmc == 0 goes straight to read(2) with no spinning", () => {
    using sim = SimulatedCounter.create();
    sim.set("capabilities", CAP_BIT0_IS_DEPRECATED).set("syscallValue", 42);
    const reading = sim.readDetailed();
    assert.equal(reading.source, "syscall");
    assert.equal(reading.attempts, 0);
    assert.equal(reading.value, 42);
    assert.equal(sim.capabilities.userRdpmc, false);
    assert.equal(sim.userspace, false);
  });

  it('userspace: "off" never touches the page', () => {
    using sim = SimulatedCounter.create({ userspace: "off" });
    sim.set("lock", 1).set("syscallValue", 9);
    const reading = sim.readDetailed();
    assert.equal(reading.source, "syscall");
    assert.equal(reading.attempts, 0);
    assert.equal(reading.value, 9);
  });

  it("a bad pmc_width (0 or > 64) is retried, never read", SLOW, () => {
    for (const width of [0, 65]) {
      using sim = SimulatedCounter.create();
      sim.set("pmcWidth", width).set("syscallValue", 1);
      expectPerfError(() => sim.read(), "RETRY_EXHAUSTED");
      assert.equal(sim.stats().lastAttempts, 50_000);
    }
  });

  it("sign-extends the register to pmc_width", () => {
    using sim = SimulatedCounter.create();
    // 48 bits: 0xffff_ffff_ffff is -1.
    sim.set("offset", 1000).set("register", 0xffff_ffff_ffff);
    assert.equal(sim.read(), 999);
    // Garbage above the width is ignored.
    sim.set("register", 0xdead_0000_0000_0005n);
    assert.equal(sim.read(), 1005);
    // 32 bits, about to wrap: offset 2^32, register -16.
    sim.configure({ pmcWidth: 32, offset: 1n << 32n, register: 0xffff_fff0 });
    assert.equal(sim.readBigInt(), (1n << 32n) - 16n);
    // 64 bits: no extension at all.
    sim.configure({ pmcWidth: 64, offset: 0, register: 1n << 62n });
    assert.equal(sim.readBigInt(), 1n << 62n);
    // A negative offset, as the kernel stores it.
    sim.configure({ pmcWidth: 48, offset: -100, register: 150 });
    assert.equal(sim.read(), 50);
  });

  it("readBigInt is exact where read rounds", () => {
    using sim = SimulatedCounter.create();
    sim.configure({ pmcWidth: 64, offset: (1n << 53n) + 1n, register: 0 });
    assert.equal(sim.readBigInt(), 9007199254740993n);
    assert.equal(sim.read(), 9007199254740992);
  });

  it("extrapolates the times with cap_user_time", () => {
    using sim = SimulatedCounter.create();
    sim.configure({
      capabilities: CAP_BIT0_IS_DEPRECATED | CAP_USER_RDPMC | CAP_USER_TIME,
      timeEnabled: 1000,
      timeRunning: 500,
      timeMult: 3,
      timeShift: 1,
      timeOffset: 10,
      timestamp: 100, // delta = 10 + 100 * 3 >> 1 = 160
      register: 50,
    });
    const reading = sim.readDetailed();
    assert.equal(reading.source, "userspace");
    assert.equal(reading.timeEnabled, 1160);
    assert.equal(reading.timeRunning, 660);
    assert.equal(reading.scaled, 50 * (1160 / 660));
  });

  it("reports the syscall times on the fallback path", () => {
    using sim = SimulatedCounter.create({ userspace: "off" });
    sim.configure({ syscallValue: 100, syscallTimeEnabled: 4000, syscallTimeRunning: 1000 });
    const reading = sim.readDetailed();
    assert.equal(reading.timeEnabled, 4000);
    assert.equal(reading.timeRunning, 1000);
    assert.equal(reading.scaled, 400, "scaled by enabled/running when multiplexed");
    sim.configure({ syscallTimeRunning: 0 });
    const never = sim.readDetailed();
    assert.equal(never.scaled, null, "running 0 is no measurement, never a scaled count");
    assert.equal(never.counted, false);
  });

  it("a concurrent-looking lock bump is retried, then read", () => {
    using sim = SimulatedCounter.create();
    sim.set("lock", 4).set("register", 7);
    assert.equal(sim.readDetailed().attempts, 1);
    assert.equal(sim.read(), 7);
  });

  // The knob (arm64 perf_user_access, x86 rdpmc) tells "off for good" from
  // "not now": both show index 0 on the page.
  it("knob 0 (perf_user_access=0), seen at enable: index 0 forever reads by read(2) with 0 attempts", () => {
    using sim = SimulatedCounter.create();
    sim.configure({ index: 0, syscallValue: 31, userAccessKnob: 0 });
    // Written after open and not yet looked at: the fast-spin phase still runs.
    assert.equal(sim.readDetailed().attempts, 1000);
    sim.enable();
    assert.equal(sim.userspace, false, "the page is not used while the knob is off");
    for (let i = 0; i < 3 * KNOB_RECHECK_READS; i++) {
      assert.equal(sim.read(), 31);
    }
    const reading = sim.readDetailed();
    assert.equal(reading.source, "syscall");
    assert.equal(reading.attempts, 0);
    assert.equal(reading.yields, 0);
    const stats = sim.stats();
    assert.equal(stats.indexZeroFallbacks, 1, "only the read before enable spun");
    assert.equal(stats.userspaceReads, 0);
    assert.equal(stats.exhausted, 0);
  });

  it("knob 0 with fallback off still never spins: the verdict is not a retry", () => {
    using sim = SimulatedCounter.create({ fallback: false });
    sim.configure({ index: 0, syscallValue: 5, userAccessKnob: 0 });
    sim.enable();
    const reading = sim.readDetailed();
    assert.equal(reading.source, "syscall");
    assert.equal(reading.attempts, 0);
    assert.equal(sim.stats().exhausted, 0);
  });

  it("knob on: index 0 (multiplexed out) keeps the retry policy, 1000 attempts then read(2)", () => {
    for (const knob of [1, 2, -1]) {
      using sim = SimulatedCounter.create();
      sim.set("userAccessKnob", knob);
      sim.enable();
      sim.configure({ index: 0, syscallValue: 12 });
      const reading = sim.readDetailed();
      assert.equal(reading.source, "syscall", `knob ${knob}`);
      assert.equal(reading.attempts, 1000, `knob ${knob}`);
      assert.equal(reading.yields, 0, `knob ${knob}`);
      assert.equal(sim.userspace, true, `knob ${knob}`);
      sim.configure({ index: 2, register: 40 });
      assert.equal(sim.readDetailed().source, "userspace", `knob ${knob}`);
    }
  });

  it("a knob written while the counter lives is followed within 1024 read(2) reads, both ways", () => {
    using sim = SimulatedCounter.create();
    sim.configure({ index: 0, syscallValue: 8, userAccessKnob: 0 });
    for (let i = 1; i <= KNOB_RECHECK_READS; i++) {
      assert.equal(sim.readDetailed().attempts, 1000, `fallback ${i} of ${KNOB_RECHECK_READS}`);
    }
    assert.equal(sim.readDetailed().attempts, 0, "the 1024th fallback looked at the knob");
    sim.configure({ userAccessKnob: 1, index: 3, register: 70 });
    for (let i = 2; i <= KNOB_RECHECK_READS; i++) {
      const reading = sim.readDetailed();
      assert.equal(reading.source, "syscall", `read ${i} of ${KNOB_RECHECK_READS}`);
      assert.equal(reading.attempts, 0, `read ${i} of ${KNOB_RECHECK_READS}`);
    }
    assert.equal(sim.userspace, true, "the 1024th read(2) looked at the knob");
    assert.equal(sim.read(), 70);
    const reading = sim.readDetailed();
    assert.equal(reading.source, "userspace");
    assert.equal(reading.attempts, 1);
  });

  it('userspace: "require" is not gated by the knob', () => {
    using sim = SimulatedCounter.create({ userspace: "require" });
    sim.set("userAccessKnob", 0);
    sim.enable();
    sim.configure({ index: 0, syscallValue: 4 });
    assert.equal(sim.readDetailed().attempts, 1000);
  });

  it("rejects bad simulated fields and values", () => {
    using sim = SimulatedCounter.create();
    expectPerfError(() => sim.set("nope" as "lock", 1), "INVALID_OPTION");
    expectPerfError(() => sim.set("lock", 1.5), "VALUE_OUT_OF_RANGE");
    expectPerfError(() => sim.set("lock", 1n << 64n), "VALUE_OUT_OF_RANGE");
    expectPerfError(
      () => SimulatedCounter.create({ userspace: "fast" as "auto" }),
      "INVALID_OPTION",
    );
  });
});
