// The pure parts of the CLI: argument splitting, statistics and the three
// output formats, checked on made-up reports.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { splitCommand } from "../../src/cli/_args.ts";
import {
  type EventResult,
  formatCsv,
  formatJsonLines,
  formatTable,
  groupThousands,
  mean,
  relativeStddev,
  type StatReport,
} from "../../src/cli/_format.ts";
import { parseStatArgs, splitEvents } from "../../src/cli/stat.ts";

function event(
  name: string,
  role: EventResult["role"],
  values: number[],
  running = 1,
): EventResult {
  return {
    name,
    role,
    refusal: undefined,
    values,
    enabled: values.map(() => 1e6),
    running: values.map(() => 1e6 * running),
    notCounted: 0,
  };
}

function report(events: EventResult[], runs = 1): StatReport {
  return {
    command: ["./work", "100"],
    runsRequested: runs,
    runs,
    events,
    elapsedNs: Array.from({ length: runs }, () => 4e6),
    ending: { exitCode: 0, signal: null, interrupted: false },
  };
}

const refused: EventResult = {
  name: "cycles",
  role: "cycles",
  refusal: {
    code: "ENOENT",
    message: "no hardware PMU here (ENOENT)",
    hint: "this VM exposes no hardware PMU, so hardware events cannot be counted",
  },
  values: [],
  enabled: [],
  running: [],
  notCounted: 0,
};

describe("statistics", () => {
  it("relativeStddev is perf's: stddev of the mean over the mean, in %", () => {
    // sample variance 1, stddev of the mean sqrt(1/3), mean 2
    assert.ok(Math.abs(relativeStddev([1, 2, 3]) - (100 * Math.sqrt(1 / 3)) / 2) < 1e-9);
    assert.equal(relativeStddev([5]), 0);
    assert.equal(relativeStddev([0, 0]), 0);
    assert.equal(mean([]), 0);
  });

  it("groupThousands", () => {
    assert.equal(groupThousands(0), "0");
    assert.equal(groupThousands(999), "999");
    assert.equal(groupThousands(1234567), "1,234,567");
    assert.equal(groupThousands(1234.567, 2), "1,234.57");
  });
});

describe("arguments", () => {
  const valued = new Set(["e", "event", "r", "repeat", "x", "o"]);
  it("splits at the first non-option, so the command keeps its flags", () => {
    assert.deepEqual(splitCommand(["-e", "a", "ls", "-l"], valued), {
      options: ["-e", "a"],
      command: ["ls", "-l"],
    });
    assert.deepEqual(splitCommand(["-r5", "--json", "--", "-weird"], valued), {
      options: ["-r5", "--json"],
      command: ["-weird"],
    });
    assert.deepEqual(splitCommand(["--event=a", "x"], valued), {
      options: ["--event=a"],
      command: ["x"],
    });
  });

  it("splits event lists at commas outside pmu/…/ terms", () => {
    assert.deepEqual(splitEvents("cycles,cpu/event=0x3c,umask=0/,faults"), [
      "cycles",
      "cpu/event=0x3c,umask=0/",
      "faults",
    ]);
  });

  it("parses repeatable -e, -r, -x and the command", () => {
    const options = parseStatArgs(["-e", "a,b", "-e", "c", "-r", "3", "-x;", "--", "w", "-x"]);
    assert.deepEqual(options.events, ["a", "b", "c"]);
    assert.equal(options.repeat, 3);
    assert.equal(options.separator, ";");
    assert.deepEqual(options.command, ["w", "-x"]);
  });
});

describe("the table", () => {
  it("shows msec, counts, CPUs utilized and rates like perf stat", () => {
    const text = formatTable(report([
      event("task-clock", "task-clock", [2e6]),
      event("page-faults", "other", [1234]),
    ]));
    assert.match(text, /Performance counter stats for '\.\/work 100':/);
    assert.match(text, /^ {14}2\.00 msec task-clock {23}# {4}0\.500 CPUs utilized$/m);
    assert.match(text, /^ {13}1,234 {6}page-faults {22}# {2}617\.000 K\/sec$/m);
    assert.match(text, /0\.004000000 seconds time elapsed/);
  });

  it("derives IPC and the branch miss ratio when both events are there", () => {
    const text = formatTable(report([
      event("cycles", "cycles", [1000]),
      event("instructions", "instructions", [2500]),
      event("branches", "branches", [400]),
      event("branch-misses", "branch-misses", [10]),
    ]));
    assert.match(text, /instructions +# +2\.500 insn per cycle/);
    assert.match(text, /branch-misses +# +2\.500 % of all branches/);
  });

  it("shows (xx.xx%) when the counter was multiplexed", () => {
    const text = formatTable(report([event("cycles", "cycles", [1000], 0.5)]));
    assert.match(text, /cycles.*\(50\.00%\)$/m);
  });

  it("shows <not supported> with the reason and a note, never 0", () => {
    const text = formatTable(report([event("task-clock", "task-clock", [1e6]), refused]));
    assert.match(text, /^ +<not supported> +cycles +# no hardware PMU here \(ENOENT\) \[1\]$/m);
    assert.match(text, /\[1\] cycles: this VM exposes no hardware PMU/);
    assert.doesNotMatch(text, /IPC|insn per cycle/);
  });

  it("shows ( +- x% ) with -r", () => {
    const text = formatTable(report([event("page-faults", "other", [100, 110, 90])], 3));
    assert.match(text, /\(3 runs\)/);
    assert.match(text, /\( \+- +5\.77% \)/);
  });
});

describe("CSV and JSON lines", () => {
  it("CSV follows perf -x: value,unit,event,runtime,percent,metric,metric-unit", () => {
    const text = formatCsv(report([event("task-clock", "task-clock", [2e6]), refused]), ",");
    const [clock, cycles] = text.trim().split("\n");
    assert.equal(clock, "2.00,msec,task-clock,1000000,100.00,0.500,CPUs utilized");
    assert.match(cycles, /^<not supported>,,cycles,0,0\.00,,no hardware PMU here \(ENOENT\); /);
    assert.equal(cycles.split(",").length, 7, "the reason must not add fields");
  });

  it("JSON lines: null value and the reason for a refused event, then a summary", () => {
    const lines = formatJsonLines(report([event("task-clock", "task-clock", [2e6]), refused]))
      .trim().split("\n").map((line) => JSON.parse(line));
    assert.equal(lines.length, 3);
    assert.equal(lines[0].value, 2e6);
    assert.equal(lines[1].status, "not-supported");
    assert.equal(lines[1].value, null);
    assert.equal(lines[1].code, "ENOENT");
    assert.equal(lines[2].type, "summary");
    assert.equal(lines[2].exitCode, 0);
  });
});
