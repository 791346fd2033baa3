// `stat` end to end on the compiled workload: the table, CSV, JSON lines,
// -r, -o, exit codes, a child killed by a signal, and Ctrl-C.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import type { Duplex } from "node:stream";
import { native } from "../../src/loader/native.ts";
import { findLauncher } from "../../src/cli/stat.ts";
import { launcherStdio } from "../../src/cli/_run.ts";
import {
  buildWorkload,
  ccSkip,
  cpuPmuNames,
  DENO_FLAGS,
  parseCsv,
  runCli,
  runCliAndSignal,
  STARTED,
  type Workspace,
} from "./_helpers.ts";

const SOFTWARE = "task-clock,page-faults,context-switches,cpu-migrations";

describe("stat on a compiled workload", { skip: ccSkip() }, () => {
  let space: Workspace;
  before(() => {
    space = buildWorkload();
  });
  after(() => space?.remove());

  // The whole design rests on this: when spawn returns, the launcher has
  // exec'd, so the exec that enable_on_exec waits for is the command's.
  it("spawn returns after the launcher's exec (so counting starts at the command's)", async () => {
    const launcher = findLauncher(native().path);
    const { stdio, controlFd } = launcherStdio([]);
    for (let i = 0; i < 20; i++) {
      const child = spawn(launcher, [String(controlFd), "true"], { stdio });
      const exe = readlinkSync(`/proc/${child.pid}/exe`);
      const go = child.stdio[controlFd] as Duplex;
      go.on("error", () => {});
      go.destroy();
      const code = await new Promise((resolve) => child.once("exit", resolve));
      assert.ok(exe.endsWith("/perfmmap-launch"), `pid ${child.pid} runs ${exe}`);
      assert.equal(code, 125, "EOF on the control fd: the launcher exits 125 without exec");
    }
  });

  it("prints the perf-stat table on stderr, with every default event", () => {
    const r = runCli(["stat", "--", space.work, "100"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "", "the counts go to stderr, as perf stat's do");
    assert.match(r.stderr, new RegExp(`Performance counter stats for '${space.work} 100':`));
    assert.match(r.stderr, /^ +[\d,.]+ msec task-clock +# +[\d.]+ CPUs utilized/m);
    for (const event of ["context-switches", "cpu-migrations", "page-faults"]) {
      assert.match(r.stderr, new RegExp(`^ +[\\d,]+ +${event} `, "m"), event);
    }
    // The hardware defaults are either counted or <not supported> with a reason: never dropped.
    for (const event of ["cycles", "instructions", "branches", "branch-misses"]) {
      assert.match(
        r.stderr,
        new RegExp(`^ +([\\d,]+ +${event}|<not supported> +${event} +# \\S.*)`, "m"),
        event,
      );
    }
    assert.match(r.stderr, /seconds time elapsed/);
    assert.doesNotMatch(r.stderr, /NaN|undefined|Infinity/);
  });

  it(
    "says why an event is <not supported>, once per reason",
    { skip: cpuPmuNames().length > 0 ? "this machine has a hardware PMU: cycles opens" : false },
    () => {
      const r = runCli(["stat", "--", space.work]);
      assert.match(r.stderr, /<not supported> +cycles +# .+ \[1\]/);
      assert.match(r.stderr, /Not supported here:\n +\[1\] cycles.*: \S+/);
      assert.doesNotMatch(r.stderr, /^ +0 +cycles/m, "a refused event never shows 0");
    },
  );

  it("-x, prints perf's CSV layout", () => {
    const r = runCli(["stat", "-x,", "-e", SOFTWARE, "--", space.work, "200"]);
    assert.equal(r.status, 0, r.stderr);
    const rows = parseCsv(r.stderr);
    assert.deepEqual([...rows.keys()], SOFTWARE.split(","));
    const clock = rows.get("task-clock")!;
    assert.equal(clock.unit, "msec");
    assert.match(clock.value, /^\d+\.\d\d$/);
    assert.equal(clock.fields.length, 7);
    assert.equal(clock.fields[6], "CPUs utilized");
    assert.match(rows.get("page-faults")!.value, /^\d+$/);
    assert.ok(Number(rows.get("page-faults")!.value) >= 200);
    assert.equal(rows.get("page-faults")!.fields[4], "100.00");
  });

  it("-x takes any separator", () => {
    const r = runCli(["stat", "-x", ";", "-e", "task-clock,page-faults", "--", space.work]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([...parseCsv(r.stderr, ";").keys()], ["task-clock", "page-faults"]);
  });

  it("--json prints one object per event, then a summary", () => {
    const r = runCli(["stat", "--json", "-e", "task-clock,page-faults", "--", space.work, "300"]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.trim().split("\n").map((line) => JSON.parse(line));
    assert.equal(lines.length, 3);
    const [clock, faults, summary] = lines;
    assert.equal(clock.type, "event");
    assert.equal(clock.event, "task-clock");
    assert.equal(clock.status, "counted");
    assert.equal(clock.unit, "ns");
    assert.ok(clock.value > 0);
    assert.equal(clock.metric.unit, "CPUs utilized");
    assert.ok(faults.value >= 300, `page-faults ${faults.value}`);
    assert.equal(faults.percentRunning, 100);
    assert.deepEqual(Object.keys(clock).sort(), Object.keys(faults).sort());
    assert.equal(summary.type, "summary");
    assert.deepEqual(summary.command, [space.work, "300"]);
    assert.equal(summary.exitCode, 0);
    assert.equal(summary.signal, null);
    assert.ok(summary.elapsedNs > 0);
  });

  it("--json marks a refused default event not-supported, with null value and a reason", () => {
    const r = runCli(["stat", "--json", "--", space.work]);
    const events = r.stderr.trim().split("\n").map((line) => JSON.parse(line))
      .filter((o) => o.type === "event");
    assert.equal(events.length, 8);
    for (const event of events) {
      if (event.status === "not-supported") {
        assert.equal(event.value, null);
        assert.equal(typeof event.code, "string");
        assert.equal(typeof event.reason, "string");
      } else {
        assert.equal(event.status, "counted");
        assert.equal(typeof event.value, "number");
      }
    }
  });

  it("-r 3 prints means with ( +- x% ) and the run count", () => {
    const r = runCli(["stat", "-r", "3", "-e", "task-clock,page-faults", "--", space.work, "50"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /\(3 runs\):/);
    assert.match(r.stderr, /page-faults .*\( \+- +\d+\.\d\d% \)/);
    assert.match(r.stderr, /\+- [\d.]+ seconds time elapsed/);
    assert.ok(!r.stderr.includes("\x1b[K"), "no progress line when stderr is not a terminal");
  });

  it("-r with -x adds perf's stddev column", () => {
    const r = runCli(["stat", "-r", "2", "-x,", "-e", "page-faults", "--", space.work]);
    const row = parseCsv(r.stderr).get("page-faults")!;
    assert.match(row.fields[3], /^\d+\.\d\d%$/);
    assert.equal(row.fields.length, 8);
  });

  it("-o writes the counts to a file and leaves stderr to the command", () => {
    const out = `${space.dir}/counts.csv`;
    const r = runCli(
      ["stat", "-x,", "-o", out, "-e", "page-faults", "--", space.work],
      [...DENO_FLAGS, `--allow-write=${out}`],
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.ok(parseCsv(readFileSync(out, "utf8")).has("page-faults"));
  });

  it("exits with the command's exit code", () => {
    const r = runCli(["stat", "-e", "task-clock", "--", space.work, "0", "0", "0", "0", "7"]);
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stderr, /task-clock/, "the counts are printed even so");
  });

  it("reports a command killed by a signal, exits 128+n, and prints the counts", () => {
    const r = runCli(["stat", "-e", "task-clock", "--", "sh", "-c", "kill -SEGV $$"]);
    assert.equal(r.status, 128 + 11, r.stderr);
    assert.match(r.stderr, /killed by signal SIGSEGV \(11\)/);
    assert.match(r.stderr, /msec task-clock/);
  });

  it("counts the command's children and threads (inherit)", () => {
    const one = runCli(["stat", "-x,", "-e", "page-faults", "--", space.work, "2000"]);
    const two = runCli([
      "stat",
      "-x,",
      "-e",
      "page-faults",
      "--",
      "sh",
      "-c",
      `${space.work} 2000; ${space.work} 2000`,
    ]);
    const a = Number(parseCsv(one.stderr).get("page-faults")!.value);
    const b = Number(parseCsv(two.stderr).get("page-faults")!.value);
    assert.ok(b >= 2 * 2000 && b > a + 1900, `one child: ${a}, two children: ${b}`);
  });

  // `sh -c 'echo STARTED; exec work 0 0 5000'`: 5000 sleeps of 1 ms (5 s+).
  const sleeper = () => ["sh", "-c", `echo ${STARTED}; exec ${space.work} 0 0 5000`];

  it("Ctrl-C (SIGINT to the process group) stops the command and prints the counts so far", async () => {
    const r = await runCliAndSignal(
      ["stat", "-e", "task-clock,context-switches", "--", ...sleeper()],
      "SIGINT",
      "group",
    );
    assert.equal(r.status, 130, r.stderr);
    assert.ok(
      r.exitedAfterMs - r.signalledAfterMs < 3000,
      `exited ${r.exitedAfterMs - r.signalledAfterMs} ms after the signal`,
    );
    assert.match(r.stderr, /killed by signal SIGINT/);
    const switches = Number(/([\d,]+) +context-switches/.exec(r.stderr)?.[1].replace(/,/g, ""));
    assert.ok(switches > 50, `the counts so far: ${switches} context switches\n${r.stderr}`);
  });

  it("SIGINT sent to perfmmap alone is forwarded to the command", async () => {
    const r = await runCliAndSignal(
      ["stat", "-e", "task-clock", "--", ...sleeper()],
      "SIGINT",
      "process",
    );
    assert.equal(r.status, 130, r.stderr);
    assert.ok(r.exitedAfterMs - r.signalledAfterMs < 3000, `exited after ${r.exitedAfterMs} ms`);
    assert.match(r.stderr, /msec task-clock/);
  });

  it("SIGTERM is forwarded too", async () => {
    const r = await runCliAndSignal(
      ["stat", "-e", "task-clock", "--", ...sleeper()],
      "SIGTERM",
      "process",
    );
    assert.equal(r.status, 128 + 15, r.stderr);
    assert.match(r.stderr, /killed by signal SIGTERM/);
  });
});
