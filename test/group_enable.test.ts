// A group counts again, every member, after disable() then enable(), in every
// order of events from different software PMUs (task-clock, cpu-clock and the
// generic software PMU of page-faults and context-switches). On Linux 6.18 a
// group PERF_EVENT_IOC_ENABLE on the leader after a group DISABLE leaves the
// members that are not on the leader's PMU at 0 (raw syscalls show it too);
// these tests check the counts against real work on this kernel.

import { describe, it as realIt } from "node:test";
import assert from "node:assert/strict";
import { Counter, Group } from "../mod.ts";
import { busy, QEMU_TIER, sleepSync, touchNewPages } from "./_helpers.ts";

const BUSY_MS = 4;
const PAGES = 64;
const SLEEPS = 3;

/** Burns CPU time, faults fresh pages and sleeps, so that every event here grows. */
function work(): void {
  busy(BUSY_MS);
  touchNewPages(PAGES);
  for (let i = 0; i < SLEEPS; i++) sleepSync(1);
}

/**
 * The least growth `event` must show for one `work()`. The clocks are held
 * against a lone task-clock counter read around the same work (a lone
 * counter has no group to lose it) and against the CPU time busy() burned:
 * busy() reads schedstat, which the kernel updates at ticks, so alone it is
 * good to about a tick, not to 10%. A member that missed the enable counts
 * nothing until the thread's next context switch, so it misses most of the
 * busy() phase (down to 0.1 of the lone counter here); 0.5 leaves room for
 * the kernel's own clocks, which disagree under load: with both cores busy a
 * group that was never disabled read 0.77 of a lone task-clock over the same
 * work (-0.8 ms against the thread's CPU time, while the lone counter was
 * +0.4 ms: task-clock takes perf's per-CPU clock, and the thread moved).
 */
function least(event: string, referenceNs: number): number {
  switch (event) {
    case "task-clock":
    case "cpu-clock":
      return Math.max(referenceNs * 0.5, BUSY_MS * 1e6 * 0.5);
    case "page-faults":
      return PAGES;
    case "context-switches":
      return SLEEPS;
    default:
      throw new Error(`no expectation for ${event}`);
  }
}

/** Asserts that every member grows with work, and names the ones that do not. */
function expectCounting(group: Group, events: readonly string[], when: string): void {
  using reference = Counter.open("task-clock");
  const referenceBefore = reference.read();
  const before = group.read().values;
  work();
  const after = group.read().values;
  const referenceNs = reference.read() - referenceBefore;
  const grown = after.map((value, i) => value - before[i]);
  const short = events.filter((event, i) => grown[i] < least(event, referenceNs));
  assert.deepEqual(
    short,
    [],
    `${when}: ${
      events.map((event, i) => `${event} +${grown[i]}`).join(", ")
    } (a lone task-clock: +${referenceNs})`,
  );
}

function expectFrozen(group: Group, when: string): number[] {
  const frozen = group.read().values;
  work();
  assert.deepEqual(group.read().values, frozen, `${when}: no growth while disabled`);
  return frozen;
}

const ORDERS = [
  ["task-clock", "page-faults"],
  ["page-faults", "task-clock"],
  ["task-clock", "context-switches"],
  ["context-switches", "task-clock"],
  ["cpu-clock", "page-faults"],
  ["page-faults", "cpu-clock"],
  ["task-clock", "cpu-clock"],
  ["cpu-clock", "task-clock"],
  ["task-clock", "context-switches", "page-faults", "cpu-clock"],
  ["page-faults", "cpu-clock", "task-clock"],
  ["cpu-clock", "context-switches", "task-clock", "page-faults"],
];

describe("Group re-enabled after disable counts again, every member", () => {
  // The quirk and its fix are this VM's kernel's (6.18); under QEMU TCG the
  // comparison with a lone counter is bound by emulated timing (Bun: task-clock
  // under 0.8 of the lone counter in 12 of 35 tests there).
  const guest = QEMU_TIER &&
    "the re-enable quirk is the host kernel's (6.18); under QEMU TCG the lone-counter comparison is timing-bound";
  if (guest) console.log(`SKIP reason: ${guest}`);
  const it = (name: string, fn: () => void) => realIt(name, { skip: guest }, fn);
  for (const events of ORDERS) {
    const name = events.join(" + ");

    it(`${name}: open, then disable/enable cycles`, () => {
      using group = Group.open(events);
      expectCounting(group, events, "after open");
      for (let cycle = 1; cycle <= 3; cycle++) {
        group.disable();
        expectFrozen(group, `cycle ${cycle}`);
        group.enable();
        expectCounting(group, events, `after enable ${cycle}`);
      }
    });

    it(`${name}: opened disabled, then enable, disable, enable`, () => {
      using group = Group.open(events, { enabled: false });
      work();
      assert.deepEqual(group.read().values, events.map(() => 0), "nothing counted before enable");
      group.enable();
      expectCounting(group, events, "after the first enable");
      group.disable();
      expectFrozen(group, "disabled");
      group.enable();
      expectCounting(group, events, "after the second enable");
    });

    it(`${name}: reset while disabled and while counting`, () => {
      using group = Group.open(events);
      work();
      group.disable();
      group.reset();
      assert.deepEqual(group.read().values, events.map(() => 0), "reset while disabled");
      group.enable();
      expectCounting(group, events, "enable after a reset");
      group.reset();
      expectCounting(group, events, "reset while counting");
      group.disable();
      group.enable();
      group.reset();
      expectCounting(group, events, "reset after a disable/enable");
    });
  }

  it("enable() twice in a row, and enable() after one member was disabled on its own", () => {
    const events = ["task-clock", "page-faults", "context-switches"];
    using group = Group.open(events);
    group.enable();
    expectCounting(group, events, "enable while enabled");
    group.counters[1].disable();
    group.enable();
    expectCounting(group, events, "enable after a member's own disable");
  });

  it("enable() after the leader alone was enabled on its own", () => {
    for (const events of ORDERS) {
      using group = Group.open(events);
      for (let cycle = 1; cycle <= 2; cycle++) {
        group.disable();
        group.counters[0].enable(); // the leader runs, its members are still off
        group.enable();
        expectCounting(group, events, `${events.join(" + ")}, cycle ${cycle}`);
      }
    }
  });
});
