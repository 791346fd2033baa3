// The group read of the core (pm_group_read) through Group.readInto, read()
// and readBigInt(): groups of simulated counters play the kernel (pages,
// registers and the group's read(2)), software groups show the read(2) path
// on the real kernel, and a hardware group shows the userspace path where
// there is a PMU.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Group } from "../mod.ts";
import { SimulatedCounter } from "../src/testing.ts";
import { parseEvent } from "../src/event.ts";
import { groupUserspaceDefault } from "../src/_group_read.ts";
import { allMappings, expectPerfError, hardwareSkip, perfFds, perfMappings } from "./_helpers.ts";

// 50 000 attempts with 49 000 sched_yield calls take long in an emulated CPU.
const SLOW = { timeout: 300_000 };
const CAP_BIT0_IS_DEPRECATED = 1 << 1;
const CAP_USER_RDPMC = 1 << 2;
const CAP_USER_TIME = 1 << 3;
/** A hardware event's page on a machine with a TSC: rdpmc and user time. */
const CAPS_HARDWARE = CAP_BIT0_IS_DEPRECATED | CAP_USER_RDPMC | CAP_USER_TIME;

/**
 * A simulated group of `size` whose member i reads `1000 * (i + 1) + 7` from
 * its register and `500 * (i + 1)` from the group's read(2); the leader's
 * page has cap_user_time, so the group is read from userspace.
 */
function simulatedGroup(size: number, fallback = true): {
  group: Group;
  members: readonly SimulatedCounter[];
} {
  const group = SimulatedCounter.createGroup(size, { fallback });
  const members = group.counters as readonly SimulatedCounter[];
  members.forEach((member, i) =>
    member.configure({
      capabilities: CAPS_HARDWARE,
      offset: 1000 * (i + 1),
      register: 7,
      syscallValue: 500 * (i + 1),
    })
  );
  members[0].configure({
    timeEnabled: 4000,
    timeRunning: 4000,
    syscallTimeEnabled: 9000,
    syscallTimeRunning: 3000,
  });
  return { group, members };
}

const userspaceValues = (size: number) =>
  Array.from({ length: size }, (_, i) => 1000 * (i + 1) + 7);
const syscallValues = (size: number) => Array.from({ length: size }, (_, i) => 500 * (i + 1));

describe("Group.readInto on a simulated group", () => {
  it("reads 4 members from userspace: values in event order, then the leader's times", () => {
    const { group, members } = simulatedGroup(4);
    using _ = group;
    const out = new Float64Array(6);
    assert.equal(group.readInto(out), "userspace");
    assert.deepEqual([...out], [...userspaceValues(4), 4000, 4000]);
    for (const member of members) {
      const stats = member.stats();
      assert.deepEqual([stats.userspaceReads, stats.syscallReads, stats.lastAttempts], [1, 0, 1]);
    }
    // The object reads take the same path and give the same record.
    const reading = group.read();
    assert.deepEqual(reading.values, userspaceValues(4));
    assert.deepEqual([reading.timeEnabled, reading.timeRunning], [4000, 4000]);
    const exact = group.readBigInt();
    assert.deepEqual(exact.values, userspaceValues(4).map(BigInt));
    assert.equal(members[0].stats().userspaceReads, 3);
  });

  it("extrapolates the leader's times with cap_user_time, as one counter's", () => {
    const { group, members } = simulatedGroup(2);
    using _ = group;
    // time_mult 1, time_shift 0, time_offset 0: the delta is the timestamp.
    members[0].configure({ timeEnabled: 1000, timeRunning: 500, timeMult: 1, timestamp: 100 });
    const out = new Float64Array(4);
    assert.equal(group.readInto(out), "userspace");
    assert.deepEqual([out[2], out[3]], [1100, 600]);
    const leader = members[0].readDetailed();
    assert.deepEqual([leader.timeEnabled, leader.timeRunning], [1100, 600]);
  });

  it("a member whose page shows index 0 mid-run: the whole group comes from read(2)", () => {
    const { group, members } = simulatedGroup(4);
    using _ = group;
    const out = new Float64Array(6);
    assert.equal(group.readInto(out), "userspace");
    members[2].set("index", 0); // multiplexed out, between two reads
    assert.equal(group.readInto(out), "syscall");
    // Every member, those before the one at index 0 too: one snapshot, one path.
    assert.deepEqual([...out], [...syscallValues(4), 9000, 3000]);
    assert.equal(members[2].stats().lastAttempts, 1000, "its fast phase, then the fallback");
    assert.equal(members[2].stats().lastYields, 0);
    assert.equal(members[3].stats().lastAttempts, 0, "the members after it are not tried");
    members[2].set("index", 1);
    assert.equal(group.readInto(out), "userspace");
    assert.deepEqual([...out], [...userspaceValues(4), 4000, 4000]);
  });

  it("values equal the syscall path's when the kernel's counts agree with the registers", () => {
    const { group, members } = simulatedGroup(3);
    using _ = group;
    members.forEach((member, i) => member.set("syscallValue", 1000 * (i + 1) + 7));
    members[0].configure({ syscallTimeEnabled: 4000, syscallTimeRunning: 4000 });
    const fromUserspace = new Float64Array(5);
    const fromSyscall = new Float64Array(5);
    assert.equal(group.readInto(fromUserspace), "userspace");
    members[1].set("index", 0);
    assert.equal(group.readInto(fromSyscall), "syscall");
    assert.deepEqual([...fromUserspace], [...fromSyscall]);
  });

  it("read(2) with no spinning when a member is a software event or the leader has no cap_user_time", () => {
    const { group, members } = simulatedGroup(3);
    using _ = group;
    const out = new Float64Array(5);
    members[1].set("capabilities", CAP_BIT0_IS_DEPRECATED); // a software event's page
    assert.equal(group.readInto(out), "syscall");
    assert.deepEqual([...out], [...syscallValues(3), 9000, 3000]);
    // The leader made its one fast attempt before member 1 showed it had no register.
    assert.deepEqual(members.map((m) => m.stats().lastAttempts), [1, 0, 0]);
    members[1].set("capabilities", CAPS_HARDWARE);
    members[0].set("capabilities", CAP_BIT0_IS_DEPRECATED | CAP_USER_RDPMC);
    assert.equal(group.readInto(out), "syscall", "times need cap_user_time");
    assert.deepEqual([out[3], out[4]], [9000, 3000]);
  });

  it("a lock that stays odd: RETRY_EXHAUSTED; once even, userspace again", SLOW, () => {
    const { group, members } = simulatedGroup(3);
    using _ = group;
    const out = new Float64Array(5);
    members[1].set("lock", 1);
    expectPerfError(() => group.readInto(out), "RETRY_EXHAUSTED");
    const stats = members[1].stats();
    assert.deepEqual([stats.lastAttempts, stats.lastYields, stats.exhausted], [50_000, 49_000, 1]);
    members[1].set("lock", 2);
    assert.equal(group.readInto(out), "userspace");
  });

  it("index 0 with fallback off runs the member's policy to exhaustion", SLOW, () => {
    const { group, members } = simulatedGroup(2, false);
    using _ = group;
    members[1].set("index", 0);
    expectPerfError(() => group.readInto(new Float64Array(4)), "RETRY_EXHAUSTED");
    assert.equal(members[1].stats().lastAttempts, 50_000);
  });

  it("refuses a buffer that is not a long enough Float64Array, with INVALID_ARGUMENT", () => {
    const { group } = simulatedGroup(2);
    using _ = group;
    for (const bad of [new Float64Array(3), new Float32Array(4), [0, 0, 0, 0], null, undefined]) {
      const error = expectPerfError(
        () => group.readInto(bad as unknown as Float64Array),
        "INVALID_ARGUMENT",
      );
      assert.match(error.message, /at least 4 elements/);
      assert.match(error.hint ?? "", /new Float64Array\(4\)/);
    }
    const longer = new Float64Array(6).fill(-1);
    assert.equal(group.readInto(longer), "userspace");
    assert.deepEqual([...longer.subarray(4)], [-1, -1], "elements past n + 1 are left alone");
  });

  it("refuses after close (STALE_HANDLE) and with a member closed (MEMBER_CLOSED)", () => {
    const { group, members } = simulatedGroup(3);
    const out = new Float64Array(5);
    members[2].close();
    expectPerfError(() => group.readInto(out), "MEMBER_CLOSED");
    group.close();
    expectPerfError(() => group.readInto(out), "STALE_HANDLE");
  });

  it("createGroup refuses a bad size", () => {
    for (const size of [0, 257, 1.5, NaN]) {
      expectPerfError(() => SimulatedCounter.createGroup(size), "VALUE_OUT_OF_RANGE");
    }
  });
});

describe("the userspace default of Group.open", () => {
  it("auto when every event may sit on a register; off with any software event", () => {
    const specs = (events: string[]) => events.map((event) => parseEvent(event));
    assert.equal(groupUserspaceDefault(specs(["cycles", "instructions"])), "auto");
    assert.equal(groupUserspaceDefault(specs(["cycles", "r11", "L1-dcache-load-misses"])), "auto");
    assert.equal(groupUserspaceDefault([parseEvent({ type: 9, config: 1 })]), "auto");
    assert.equal(groupUserspaceDefault(specs(["task-clock", "page-faults"])), "off");
    assert.equal(groupUserspaceDefault(specs(["cycles", "task-clock"])), "off");
    assert.equal(groupUserspaceDefault([parseEvent({ type: 2, config: 1 })]), "off");
    assert.equal(groupUserspaceDefault([parseEvent({ type: 5, config: 0 })]), "off");
  });

  it("a software group maps no page and reads by read(2); values match read()", () => {
    const mappings = perfMappings();
    using group = Group.open(["page-faults", "dummy"]);
    assert.equal(perfMappings(), mappings, "no page for a group that cannot use one");
    assert.ok(group.counters.every((counter) => !counter.capabilities.hasPage));
    const out = new Float64Array(4);
    assert.equal(group.readInto(out), "syscall");
    const reading = group.read();
    assert.ok(reading.values[0] >= out[0], "page-faults never go back");
    assert.equal(out[1], 0, "dummy counts nothing");
    assert.equal(reading.values[1], 0);
    assert.ok(out[2] > 0 && out[2] <= reading.timeEnabled);
  });

  it("a software group with userspace auto maps a page per member, still reads by read(2), leaks nothing", () => {
    const fds = perfFds();
    const mappings = perfMappings();
    for (let round = 0; round < 50; round++) {
      using group = Group.open(["task-clock", "page-faults", "dummy"], { userspace: "auto" });
      if (round === 0) {
        assert.equal(perfMappings(), mappings + 3);
        assert.equal(group.readInto(new Float64Array(5)), "syscall");
        assert.ok(group.counters.every((c) => c.stats().lastAttempts === 0), "no spin on index 0");
      }
      group.readInto(new Float64Array(5));
    }
    assert.equal(perfFds(), fds, "every fd closed");
    assert.equal(perfMappings(), mappings, "every page unmapped");
  });

  it(
    "simulated groups leak nothing: more groups than the handle table holds, opened and closed",
    SLOW,
    () => {
      const before = allMappings();
      // The table has 4095 slots: a group that left even one counter open
      // would end in TABLE_FULL before the last round.
      for (let round = 0; round < 4200; round++) {
        const { group } = simulatedGroup(2);
        group.readInto(new Float64Array(4));
        group.close();
      }
      // Each simulated page is its own anonymous mapping; the runtime's own
      // mappings move a little, hence the slack.
      assert.ok(allMappings() <= before + 64, `mappings ${before} -> ${allMappings()}`);
    },
  );
});

describe("a hardware group on a real PMU", () => {
  const skip = hardwareSkip("cycles");
  it(
    "cycles and r11 with the default userspace: read from userspace when every page has an index",
    {
      skip,
    },
    () => {
      using group = Group.open(["cycles", "r11"]);
      const out = new Float64Array(4);
      const source = group.readInto(out);
      const pages = group.counters.map((counter) => counter.capabilities);
      const why = pages.map((p, i) =>
        `member ${i}: page ${p.hasPage}, rdpmc ${p.userRdpmc}, time ${p.userTime}, index ${p.index}`
      ).join("; ");
      if (!pages.every((p) => p.hasPage && p.userRdpmc && p.index !== 0) || !pages[0].userTime) {
        console.log(`SKIP reason: this PMU does not offer userspace reads to the group: ${why}`);
        assert.equal(source, "syscall");
        return;
      }
      assert.equal(source, "userspace", why);
      assert.ok(out[0] > 0 && out[3] > 0, `counts ${out}`);
      const before = out[0];
      assert.equal(group.readInto(out), "userspace");
      assert.ok(out[0] > before, "cycles grow");
    },
  );
});
