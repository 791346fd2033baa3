// `doctor` and `list`: the JSON shapes are stable, the text matches the
// JSON, and the exit codes follow the findings.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cpuPmuNames, runCli } from "./_helpers.ts";

const STATUSES = new Set(["ok", "warn", "fail"]);
const CHECK_KEYS = ["fix", "id", "status", "summary"];
const LISTED_KEYS = ["aliases", "code", "description", "hint", "kind", "name", "opens", "pmu"];

describe("doctor", () => {
  it("--json prints one object with stable keys", () => {
    const r = runCli(["doctor", "--json"]);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1, "one line of JSON");
    const report = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(report).sort(), ["checks", "facts", "ok", "schema"]);
    assert.equal(report.schema, 1);
    assert.equal(typeof report.ok, "boolean");
    assert.ok(Array.isArray(report.checks) && report.checks.length > 0);
    for (const check of report.checks) {
      assert.deepEqual(Object.keys(check).sort(), CHECK_KEYS, JSON.stringify(check));
      assert.ok(STATUSES.has(check.status), check.status);
      assert.equal(typeof check.summary, "string");
      // A fix exactly when the check is not ok.
      if (check.status === "ok") assert.equal(check.fix, null, check.id);
      else assert.ok(typeof check.fix === "string" && check.fix.length > 0, check.id);
    }
    assert.equal(report.ok, report.checks.every((c: { status: string }) => c.status !== "fail"));
    assert.equal(r.status, report.ok ? 0 : 1, "exit 0 exactly when counting works");
  });

  it("--json covers every required finding", () => {
    const report = JSON.parse(runCli(["doctor", "--json"]).stdout);
    const ids = report.checks.map((c: { id: string }) => c.id);
    for (const id of ["library", "arch", "kernel", "pmu", "paranoid", "privileges", "pmus"]) {
      assert.ok(ids.includes(id), `missing check ${id} in ${ids.join(", ")}`);
    }
    for (const event of ["cycles", "instructions", "task-clock", "page-faults"]) {
      assert.ok(ids.includes(`event:${event}`), `missing event:${event}`);
    }
    const arch = report.facts.arch;
    if (arch === "aarch64") assert.ok(ids.includes("perf_user_access"));
    if (arch === "x86_64") assert.ok(ids.includes("rdpmc"));
    assert.equal(typeof report.facts.kernel, "string");
    assert.ok(Array.isArray(report.facts.pmus));
  });

  it("software counting works here, so doctor exits 0 and task-clock is ok", () => {
    const r = runCli(["doctor", "--json"]);
    const report = JSON.parse(r.stdout);
    const clock = report.checks.find((c: { id: string }) => c.id === "event:task-clock");
    assert.equal(clock.status, "ok", JSON.stringify(clock));
    assert.equal(r.status, 0, r.stdout);
  });

  it("the text report has one status line per check and the fixes", () => {
    const json = JSON.parse(runCli(["doctor", "--json"]).stdout);
    const r = runCli(["doctor"]);
    for (const check of json.checks) {
      const line = r.stdout.split("\n").find((l) =>
        l.startsWith(check.status) && l.includes(` ${check.id} `)
      );
      assert.ok(line !== undefined, `no line for ${check.id}:\n${r.stdout}`);
      if (check.fix !== null) assert.ok(r.stdout.includes(`fix: ${check.fix}`), check.id);
    }
    assert.match(r.stdout, /counting (works|does not work) here/);
  });

  it(
    "a machine without a PMU is a warning with a fix, not a failure",
    { skip: cpuPmuNames().length > 0 ? "this machine has a hardware PMU" : false },
    () => {
      const report = JSON.parse(runCli(["doctor", "--json"]).stdout);
      const pmu = report.checks.find((c: { id: string }) => c.id === "pmu");
      assert.equal(pmu.status, "warn");
      const cycles = report.checks.find((c: { id: string }) => c.id === "event:cycles");
      assert.equal(cycles.status, "warn");
      assert.match(cycles.summary, /does not open: (ENOENT|EOPNOTSUPP|ENODEV)/);
    },
  );
});

describe("list", () => {
  it("--json prints one object with every event's keys", () => {
    const r = runCli(["list", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const listing = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(listing).sort(), ["checked", "events", "filter"]);
    assert.equal(listing.filter, null);
    assert.equal(listing.checked, true);
    const kinds = new Set(listing.events.map((e: { kind: string }) => e.kind));
    for (const kind of ["hardware", "software", "cache"]) assert.ok(kinds.has(kind), kind);
    for (const event of listing.events) {
      assert.deepEqual(Object.keys(event).sort(), LISTED_KEYS, JSON.stringify(event));
      assert.equal(typeof event.opens, "boolean");
      if (event.opens) assert.equal(event.code, null);
      else assert.equal(typeof event.code, "string");
    }
    const clock = listing.events.find((e: { name: string }) => e.name === "task-clock");
    assert.equal(clock.opens, true);
  });

  it("lists the sysfs PMU events", () => {
    const listing = JSON.parse(runCli(["list", "pmu", "--json"]).stdout);
    for (const event of listing.events) {
      assert.equal(event.kind, "pmu");
      assert.match(event.name, /^[^/]+\/[^/]+\/$/);
      assert.equal(typeof event.pmu, "string");
    }
  });

  it("a kind filter keeps that kind only", () => {
    const listing = JSON.parse(runCli(["list", "sw", "--json"]).stdout);
    assert.equal(listing.filter, "sw");
    assert.ok(listing.events.length >= 5);
    for (const event of listing.events) assert.equal(event.kind, "software");
  });

  it("a text filter matches names and aliases", () => {
    const listing = JSON.parse(runCli(["list", "faults", "--json"]).stdout);
    const names = listing.events.map((e: { name: string }) => e.name);
    for (const name of ["page-faults", "minor-faults", "major-faults"]) {
      assert.ok(names.includes(name));
    }
    for (const name of names) assert.match(name, /fault/i);
  });

  it("--no-check does not open anything", () => {
    const listing = JSON.parse(runCli(["list", "--no-check", "--json"]).stdout);
    assert.equal(listing.checked, false);
    for (const event of listing.events) assert.equal(event.opens, null);
  });

  it("the text listing says which events open and why the others do not", () => {
    const r = runCli(["list"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {2}task-clock +\[Software event\] +opens$/m);
    assert.match(r.stdout, /\d+ of \d+ events open here\./);
    const refused = r.stdout.match(/not supported: \w+ \[(\d+)\]/);
    if (refused !== null) assert.match(r.stdout, new RegExp(`^\\[${refused[1]}\\] \\S`, "m"));
  });

  it("a filter that matches nothing exits 1 with one line", () => {
    const r = runCli(["list", "no-such-event-anywhere"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no event matches "no-such-event-anywhere"/);
    assert.equal(r.stdout, "");
  });
});
