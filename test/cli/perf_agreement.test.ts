// `perfmmap stat -x,` against Linux `perf stat -x,` on the same compiled
// workloads, with these tolerances:
//   page-faults       within 1% or 5 faults, whichever is larger
//   context-switches  within 10% or 3
//   task-clock        medians of 5 runs each within 25%
// Each comparison uses the medians of 5 runs of each tool, interleaved so
// that a slow moment of the machine hits both.
//
// This machine is shared (2 vCPUs, other jobs running). Involuntary context
// switches, and in a VM the time the host takes the vCPU away (steal, which
// the guest counts as the task's own), come in bursts that can hit 3 of 5
// runs of one tool. So a comparison that disagrees is measured again, up to
// 3 attempts in all, and the test fails only if no attempt agrees; every
// attempt's numbers are in the failure message. A real bias (the launcher,
// or the runtime, counted too) shows in every attempt.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  buildWorkload,
  median,
  parseCsv,
  perfSkip,
  runCli,
  runSync,
  which,
  type Workspace,
} from "./_helpers.ts";

const EVENTS = ["task-clock", "page-faults", "context-switches", "cpu-migrations"];
const RUNS = 5;

interface Sample {
  "task-clock": number;
  "page-faults": number;
  "context-switches": number;
}

function sample(stderr: string, who: string): Sample {
  const rows = parseCsv(stderr);
  const read = (event: string) => {
    const row = rows.get(event);
    assert.ok(row !== undefined, `${who}: no ${event} row in:\n${stderr}`);
    const value = Number(row.value);
    assert.ok(Number.isFinite(value), `${who}: ${event} is "${row.value}"`);
    return value;
  };
  return {
    "task-clock": read("task-clock"),
    "page-faults": read("page-faults"),
    "context-switches": read("context-switches"),
  };
}

/** Medians of RUNS runs of perf stat and of perfmmap stat, interleaved. */
function compare(work: readonly string[]): { perf: Sample; ours: Sample; log: string } {
  const perf: Sample[] = [];
  const ours: Sample[] = [];
  const perfPath = which("perf")!;
  for (let run = 0; run < RUNS; run++) {
    const p = runSync(perfPath, ["stat", "-x,", "-e", EVENTS.join(","), "--", ...work]);
    assert.equal(p.status, 0, `perf stat failed: ${p.stderr}`);
    perf.push(sample(p.stderr, "perf stat"));
    const o = runCli(["stat", "-x,", "-e", EVENTS.join(","), "--", ...work]);
    assert.equal(o.status, 0, `perfmmap stat failed: ${o.stderr}`);
    ours.push(sample(o.stderr, "perfmmap stat"));
  }
  const medians = (samples: Sample[]): Sample => ({
    "task-clock": median(samples.map((s) => s["task-clock"])),
    "page-faults": median(samples.map((s) => s["page-faults"])),
    "context-switches": median(samples.map((s) => s["context-switches"])),
  });
  const log = `perf: ${JSON.stringify(perf)}\nours: ${JSON.stringify(ours)}`;
  return { perf: medians(perf), ours: medians(ours), log };
}

/** The failure text when `ours` is not within the tolerance of `perf`, else undefined. */
function disagreement(
  ours: number,
  perf: number,
  relative: number,
  absolute: number,
  what: string,
): string | undefined {
  const allowed = Math.max(absolute, relative * perf);
  return Math.abs(ours - perf) <= allowed
    ? undefined
    : `${what}: perfmmap ${ours} vs perf ${perf}, allowed ±${allowed.toFixed(2)}`;
}

// Five, not three: on this VM a fixed spin's CPU time itself comes out at
// 28, 43 or 52 ms from one run to the next, for perf as for us (steal time),
// and three attempts of 5-run medians once all fell on different modes.
const ATTEMPTS = 5;

/**
 * Compares on `work` until `check` finds no disagreement, at most ATTEMPTS
 * times; fails with every attempt's numbers.
 */
function agree(
  work: readonly string[],
  check: (perf: Sample, ours: Sample) => (string | undefined)[],
): void {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const { perf, ours, log } = compare(work);
    const problems = check(perf, ours).filter((p) => p !== undefined);
    if (problems.length === 0) return;
    failures.push(`attempt ${attempt}: ${problems.join("; ")}\n${log}`);
  }
  assert.fail(`no agreement with perf stat in ${ATTEMPTS} attempts:\n${failures.join("\n")}`);
}

describe("stat agrees with perf stat", { skip: perfSkip() }, () => {
  let space: Workspace;
  before(() => {
    space = buildWorkload();
  });
  after(() => space?.remove());

  // Each workload is built for one event; each test checks that event, plus
  // page faults, which are deterministic in all three.
  it("page faults: 4000 fresh pages, within 1% or 5", { timeout: 180_000 }, () => {
    agree([space.work, "4000"], (perf, ours) => [
      perf["page-faults"] >= 4000 ? undefined : `perf saw only ${perf["page-faults"]} faults`,
      disagreement(ours["page-faults"], perf["page-faults"], 0.01, 5, "page-faults"),
    ]);
  });

  // The 1 ms sleeps give one voluntary switch each. sched_yield switches
  // only when another task is runnable, so on a busy machine each yield may
  // add one; a few keep that path in the workload without drowning the sleeps.
  it("context switches: 5 sched_yield calls, then 40 sleeps, within 10% or 3", {
    timeout: 180_000,
  }, () => {
    agree([space.work, "0", "5", "40"], (perf, ours) => [
      perf["context-switches"] >= 40 ? undefined : `perf saw ${perf["context-switches"]} switches`,
      disagreement(ours["context-switches"], perf["context-switches"], 0.10, 3, "context-switches"),
      disagreement(ours["page-faults"], perf["page-faults"], 0.01, 5, "page-faults"),
    ]);
  });

  it("task-clock: a ~60 ms spin, medians of 5 runs within 25%", { timeout: 180_000 }, () => {
    agree([space.work, "0", "0", "0", "100000000"], (perf, ours) => [
      perf["task-clock"] > 5 ? undefined : `perf saw only ${perf["task-clock"]} ms`,
      disagreement(ours["task-clock"], perf["task-clock"], 0.25, 0, "task-clock (ms)"),
      disagreement(ours["page-faults"], perf["page-faults"], 0.01, 5, "page-faults"),
    ]);
  });
});
