// `stat` on a counter that was open but never on the PMU (timeRunning 0):
// `<not counted>` with the reason, never a 0, in every format.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type EventResult,
  formatCsv,
  formatJsonLines,
  formatTable,
  type StatReport,
} from "../../src/cli/_format.ts";
import { addCount } from "../../src/cli/stat.ts";
import { readText } from "../../src/_sysfs.ts";

function empty(name: string, role: EventResult["role"]): EventResult {
  return { name, role, refusal: undefined, values: [], enabled: [], running: [], notCounted: 0 };
}

function report(events: EventResult[], runs: number): StatReport {
  return {
    command: ["./work", "100"],
    runsRequested: runs,
    runs,
    events,
    elapsedNs: Array.from({ length: runs }, () => 4e6),
    ending: { exitCode: 0, signal: null, interrupted: false },
  };
}

/** task-clock counted; cycles enabled 3 ms but never on the PMU. */
function neverScheduled(runs = 1): StatReport {
  const clock = empty("task-clock", "task-clock");
  const cycles = empty("cycles", "cycles");
  for (let run = 0; run < runs; run++) {
    addCount(clock, { kind: "counted", value: 3e6, enabled: 3e6, running: 3e6 }, true);
    addCount(cycles, { kind: "notCounted", enabled: 3e6, running: 0 }, true);
  }
  return report([clock, cycles], runs);
}

describe("a counter that never ran", () => {
  it("is tallied as not counted with why, and its 0 never joins the values", () => {
    const { events: [, cycles] } = neverScheduled(2);
    assert.deepEqual(cycles.values, [], "no 0 among the counts");
    assert.equal(cycles.notCounted, 2);
    assert.equal(
      cycles.notCountedWhy?.reason,
      "enabled for 3.00 ms but never on the PMU (timeRunning 0)",
    );
    assert.match(cycles.notCountedWhy!.hint!, /too few free hardware counters/);
    const watchdog = readText("/proc/sys/kernel/nmi_watchdog")?.trim();
    if (watchdog === "0") assert.match(cycles.notCountedWhy!.hint!, /NMI watchdog is off here/);
    if (watchdog === "1") assert.match(cycles.notCountedWhy!.hint!, /kernel\.nmi_watchdog=0/);
    const never = empty("cycles", "cycles");
    addCount(never, { kind: "notCounted", enabled: 0, running: 0 }, true);
    assert.match(never.notCountedWhy!.reason, /^never enabled/);
    assert.equal(never.notCountedWhy!.hint, undefined);
  });

  it("the table shows <not counted> with the reason and a note with the fix", () => {
    const text = formatTable(neverScheduled());
    const line = text.split("\n").find((l) => l.includes(" cycles "))!;
    assert.match(
      line,
      /^ +<not counted> +cycles +# enabled for 3\.00 ms but never on the PMU \(timeRunning 0\) \[1\]$/,
    );
    assert.match(text, /\n Not counted here:\n +\[1\] cycles: too few free hardware counters/);
    assert.doesNotMatch(text, /\n +0 +cycles/);
  });

  it("an event counted in some runs only says in how many", () => {
    const clock = empty("task-clock", "task-clock");
    const cycles = empty("cycles", "cycles");
    for (const running of [3e6, 0, 3e6]) {
      addCount(clock, { kind: "counted", value: 3e6, enabled: 3e6, running: 3e6 }, true);
      addCount(
        cycles,
        running > 0
          ? { kind: "counted", value: 9e6, enabled: 3e6, running }
          : { kind: "notCounted", enabled: 3e6, running },
        true,
      );
    }
    const line = formatTable(report([clock, cycles], 3)).split("\n").find((l) =>
      l.includes(" cycles ")
    )!;
    assert.match(line, /9,000,000 +cycles/);
    assert.match(line, /\(counted in 2 of 3 runs \[1\]\)/);
  });

  it("CSV and JSON carry the reason and the fix, with a null value", () => {
    const csv = formatCsv(neverScheduled(), ",").trim().split("\n")[1];
    const fields = csv.split(",");
    assert.equal(fields[0], "<not counted>");
    assert.equal(fields[2], "cycles");
    assert.match(fields.at(-1)!, /^enabled for 3\.00 ms but never on the PMU .*; too few free/);
    const json = formatJsonLines(neverScheduled()).trim().split("\n").map((l) => JSON.parse(l));
    const cycles = json[1];
    assert.equal(cycles.status, "not-counted");
    assert.equal(cycles.value, null);
    assert.equal(cycles.code, "NOT_COUNTED");
    assert.equal(cycles.reason, "enabled for 3.00 ms but never on the PMU (timeRunning 0)");
    assert.match(cycles.hint, /too few free hardware counters/);
  });
});
