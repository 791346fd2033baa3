// doctor's nmi_watchdog, seccomp and container lines, on made-up facts and
// on this machine.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ProbeResult } from "../../mod.ts";
import { containerCheck, diagnose, seccompCheck, watchdogCheck } from "../../src/cli/doctor.ts";
import type { SandboxFacts } from "../../src/_sandbox.ts";
import { readText } from "../../src/_sysfs.ts";

function facts(cpuPmus: string[], taskClock?: { opens: boolean; code?: string }): ProbeResult {
  return {
    cpuPmus,
    paranoid: 2,
    capPerfmon: false,
    capSysAdmin: false,
    events: taskClock === undefined ? {} : { "task-clock": taskClock },
  } as unknown as ProbeResult;
}

const BARE: SandboxFacts = {
  seccomp: 0,
  seccompFilters: 0,
  noNewPrivs: false,
  container: null,
  containerEvidence: null,
};

describe("doctor: nmi_watchdog", () => {
  it("on, with a hardware PMU: warns what it costs and how to switch it off", () => {
    const c = watchdogCheck(facts(["cpu"]), 1);
    assert.equal(c.id, "nmi_watchdog");
    assert.equal(c.status, "warn");
    assert.match(
      c.summary,
      /^kernel\.nmi_watchdog = 1: .*hardware counter on every CPU.*one counter fewer/,
    );
    assert.match(c.fix!, /^sudo sysctl -w kernel\.nmi_watchdog=0/);
  });

  it("off, missing, or with no PMU to take a counter from: ok", () => {
    assert.equal(watchdogCheck(facts(["cpu"]), 0).status, "ok");
    assert.equal(watchdogCheck(facts(["cpu"]), null).status, "ok");
    const noPmu = watchdogCheck(facts([]), 1);
    assert.equal(noPmu.status, "ok");
    assert.match(noPmu.summary, /no hardware PMU here, so it holds no counter/);
  });

  it("this machine's report has the line, with the knob's real value", () => {
    const report = diagnose();
    const line = report.checks.find((c) => c.id === "nmi_watchdog");
    assert.ok(line !== undefined, "an nmi_watchdog line");
    const value = readText("/proc/sys/kernel/nmi_watchdog")?.trim();
    if (value !== undefined) assert.match(line.summary, new RegExp(`nmi_watchdog = ${value}\\b`));
    assert.ok(report.checks.some((c) => c.id === "seccomp"));
    assert.ok(report.checks.some((c) => c.id === "container"));
  });
});

describe("doctor: seccomp and container (made-up facts)", () => {
  it("a filter that lets perf_event_open through is ok; one that denies it fails", () => {
    const filtered = { ...BARE, seccomp: 2, seccompFilters: 1 };
    assert.equal(seccompCheck(facts([], { opens: true }), filtered).status, "ok");
    const denied = seccompCheck(facts([], { opens: false, code: "EPERM" }), filtered);
    assert.equal(denied.status, "fail");
    assert.match(denied.fix!, /SystemCallFilter=|--cap-add PERFMON/);
    assert.equal(seccompCheck(facts([], { opens: false, code: "ENOENT" }), filtered).status, "ok");
  });

  it("unknown state: ENOSYS from a kernel with perf is a filter", () => {
    const unknown = { ...BARE, seccomp: null };
    assert.equal(seccompCheck(facts([], { opens: true }), unknown).status, "ok");
    const c = seccompCheck(facts([], { opens: false, code: "ENOSYS" }), unknown);
    assert.equal(c.status, "fail");
    assert.match(c.summary, /a seccomp filter denies it/);
  });

  it("a container is a hint: ok while perf_event_open works, warn with the fix when refused", () => {
    const docker = { ...BARE, container: "docker", containerEvidence: "/.dockerenv exists" };
    assert.equal(containerCheck(facts([], { opens: true }), BARE).status, "ok");
    const fine = containerCheck(facts([], { opens: true }), docker);
    assert.equal(fine.status, "ok");
    assert.match(fine.summary, /in a docker container \(\/\.dockerenv exists\)/);
    const refused = containerCheck(facts([], { opens: false, code: "EACCES" }), docker);
    assert.equal(refused.status, "warn");
    assert.match(refused.fix!, /docker run --cap-add PERFMON/);
  });
});
