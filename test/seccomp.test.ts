// perf_event_open denied by a seccomp filter, for real: the runtime runs
// under `perfmmap-launch --deny-perf-event-open=E`, which installs a filter
// that fails the syscall with E (as a container's profile does), and the
// errors and `doctor` must say so and say what fixes it.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { native } from "../src/loader/native.ts";
import { findLauncher } from "../src/cli/stat.ts";
import {
  containerNote,
  type SandboxFacts,
  sandboxFacts,
  sandboxFix,
  sandboxHint,
} from "../src/_sandbox.ts";
import { cliCommand, DENO_FLAGS } from "./cli/_helpers.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/seccomp_child.ts", import.meta.url));

/** `perfmmap-launch --deny-perf-event-open=<denied> -- <argv>`, 60 s at most. */
function denied(errno: string, argv: readonly string[]) {
  const launcher = findLauncher(native().path);
  const child = spawnSync(
    launcher,
    [`--deny-perf-event-open=${errno}`, "--", ...argv],
    { encoding: "utf8", timeout: 60_000 },
  );
  if (child.error !== undefined) throw child.error;
  return child;
}

const IN_DENO = "Deno" in globalThis;
/** Deno reads /proc only with --allow-all; with less, perfmmap infers the filter. */
const LIMITED = ["--allow-ffi", "--allow-read", "--allow-env"];

function fixtureUnder(errno: string, flags = ["-A"]): Record<string, Record<string, unknown>> {
  const argv = IN_DENO
    ? [process.execPath, "run", "--no-prompt", ...flags, FIXTURE]
    : [process.execPath, FIXTURE];
  const child = denied(errno, argv);
  const line = child.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`child failed (status ${child.status}): ${child.stdout}\n${child.stderr}`);
  }
}

describe("perf_event_open under a seccomp filter that denies it", () => {
  for (const [errno, number] of [["EPERM", 1], ["ENOSYS", 38]] as const) {
    it(`${errno}: Counter.open and Group.open fail with ${errno} and a seccomp hint`, () => {
      const r = fixtureUnder(errno);
      assert.equal(r.facts.seccomp, 2, `the child saw its filter: ${JSON.stringify(r.facts)}`);
      assert.equal(r.facts.noNewPrivs, true);
      for (const what of ["counter", "group"]) {
        const failure = r[what];
        assert.equal(failure.code, errno, `${what}: ${JSON.stringify(failure)}`);
        assert.equal(failure.errno, number);
        assert.equal(failure.op, "open");
        const hint = String(failure.hint);
        assert.match(hint, /seccomp filter \(Seccomp: 2 in \/proc\/self\/status, 1 filter\)/);
        // The fix: another profile, or (without the capability) --cap-add PERFMON.
        assert.match(hint, /--security-opt seccomp=|--cap-add PERFMON/, hint);
        if (errno === "ENOSYS") assert.match(hint, /this kernel has it/);
      }
    });
  }

  it("Deno without --allow-all cannot read /proc/self/status; the hints infer the filter", {
    skip: IN_DENO ? false : "Deno only (its permissions hide /proc)",
  }, () => {
    const enosys = fixtureUnder("ENOSYS", LIMITED);
    assert.equal(enosys.facts.seccomp, null, "the facts are unknown, not 0");
    assert.equal(enosys.counter.code, "ENOSYS");
    assert.match(String(enosys.counter.hint), /ENOSYS comes from a seccomp filter/);
    const eperm = fixtureUnder("EPERM", LIMITED);
    assert.equal(eperm.counter.code, "EPERM");
    assert.match(String(eperm.counter.hint), /a seccomp filter .* may forbid perf_event_open/);
  });

  const doctorCases: [string, string[]][] = [["EPERM", ["-A"]], ["ENOSYS", ["-A"]], [
    "ENOSYS",
    DENO_FLAGS,
  ]];
  for (const [errno, flags] of doctorCases) {
    const limited = flags !== DENO_FLAGS ? "" : " (Deno's usual flags: inferred)";
    it(
      `doctor shows the filter on its seccomp line, with the fix, and exits 1: ${errno}${limited}`,
      {
        skip: IN_DENO || flags !== DENO_FLAGS ? false : "Deno only",
      },
      () => {
        const child = denied(errno, cliCommand(["doctor", "--json"], flags));
        assert.equal(child.status, 1, child.stderr);
        const report = JSON.parse(child.stdout);
        const seccomp = report.checks.find((c: { id: string }) => c.id === "seccomp");
        assert.equal(seccomp.status, "fail", JSON.stringify(seccomp));
        assert.match(
          seccomp.summary,
          limited === ""
            ? new RegExp(`seccomp filter \\(Seccomp: 2.*fails with ${errno}`)
            : new RegExp(`unknown .*--allow-all.*fails with ${errno}.*a seccomp filter denies it`),
        );
        assert.match(seccomp.fix, /seccomp|--cap-add PERFMON/);
        const clock = report.checks.find((c: { id: string }) => c.id === "event:task-clock");
        assert.equal(clock.status, "fail");
        assert.match(clock.fix, /docker run|SystemCallFilter|seccomp/);
      },
    );
  }

  it("without the filter, doctor's seccomp line is ok", () => {
    const own = sandboxFacts().seccomp;
    const [command, ...args] = cliCommand(["doctor", "--json"], ["-A"]);
    const child = spawnSync(command, args, { encoding: "utf8", timeout: 60_000 });
    const seccomp = JSON.parse(child.stdout).checks.find((c: { id: string }) => c.id === "seccomp");
    assert.equal(seccomp.status, "ok", JSON.stringify(seccomp));
    if (own === 0) assert.equal(seccomp.summary, "no seccomp filter (Seccomp: 0)");
  });
});

const FILTERED: SandboxFacts = {
  seccomp: 2,
  seccompFilters: 3,
  noNewPrivs: true,
  container: "docker",
  containerEvidence: "/.dockerenv exists",
};
const BARE: SandboxFacts = {
  seccomp: 0,
  seccompFilters: 0,
  noNewPrivs: false,
  container: null,
  containerEvidence: null,
};

describe("sandbox hints (made-up facts)", () => {
  it("an unprivileged container is told to add CAP_PERFMON, which Docker's profile needs", () => {
    const hint = sandboxHint("EPERM", true, FILTERED, false)!;
    assert.match(hint, /^perf_event_open was refused by a seccomp filter \(Seccomp: 2 in/);
    assert.match(hint, /3 filters\) in a docker container \(\/\.dockerenv exists\)/);
    assert.match(hint, /`docker run --cap-add PERFMON`/);
    assert.match(sandboxHint("EPERM", true, { ...FILTERED, container: "podman" })!, /podman run/);
  });

  it("a privileged one is told the profile itself denies the syscall", () => {
    const hint = sandboxHint("EPERM", true, FILTERED, true)!;
    assert.match(hint, /already has CAP_PERFMON or CAP_SYS_ADMIN/);
    assert.doesNotMatch(hint, /--cap-add PERFMON/);
  });

  it("when the kernel may have refused too, the hint says both", () => {
    const hint = sandboxHint("EACCES", false, FILTERED)!;
    assert.match(hint, /which may deny perf_event_open \(EACCES\)/);
    assert.match(hint, /perf_event_paranoid or the missing CAP_PERFMON refused it/);
  });

  it("no filter and no container: no sandbox hint; a container alone only adds a note", () => {
    assert.equal(sandboxHint("EPERM", true, BARE), undefined);
    assert.equal(sandboxHint("ENOSYS", true, BARE), undefined);
    const inDocker = { ...BARE, container: "docker", containerEvidence: "/.dockerenv exists" };
    assert.equal(sandboxHint("EPERM", false, inDocker), undefined);
    assert.match(containerNote(inDocker)!, /docker run --cap-add PERFMON/);
    assert.equal(containerNote(BARE), undefined);
    assert.equal(containerNote(FILTERED), undefined, "the filter's hint says it already");
  });

  it("outside a container, the fix names the filter's other owners", () => {
    const fix = sandboxFix({ ...FILTERED, container: null });
    assert.match(fix, /SystemCallFilter=/);
    assert.match(sandboxFix({ ...FILTERED, container: "kubernetes" }), /securityContext/);
  });
});
