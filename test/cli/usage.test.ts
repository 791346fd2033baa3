// Usage, help and exit codes; every kind of bad input gives one clear line
// on stderr and a non-zero exit, never a stack trace.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { listEvents } from "../../mod.ts";
import { oneLine, runCli } from "./_helpers.ts";

/** A generic event that does not open here, or why there is none. Never throws. */
function refusedEvent(): { event: string } | { skip: string } {
  try {
    const event = listEvents().find((e) =>
      e.opens === false && (e.kind === "hardware" || e.kind === "software")
    )?.name;
    return event === undefined ? { skip: "every generic event opens on this machine" } : { event };
  } catch (error) {
    return { skip: `cannot list events: ${error}` };
  }
}

describe("perfmmap --help and usage", () => {
  it("prints the commands with --help and exits 0", () => {
    const r = runCli(["--help"]);
    assert.equal(r.status, 0, r.stderr);
    for (const command of ["doctor", "list", "stat"]) assert.match(r.stdout, new RegExp(command));
  });

  it("prints usage on stderr and exits 2 with no command", () => {
    const r = runCli([]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Usage: perfmmap/);
  });

  for (const command of ["doctor", "list", "stat"]) {
    it(`${command} --help prints its usage and exits 0`, () => {
      const r = runCli([command, "--help"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Usage: perfmmap ${command}`));
      assert.equal(r.stderr, "");
    });

    it(`${command} -h is --help`, () => {
      const r = runCli([command, "-h"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Usage: perfmmap ${command}`));
    });

    it(`${command} with an unknown flag is a usage error (exit 2)`, () => {
      const r = runCli(
        command === "stat" ? [command, "--bogus", "--", "true"] : [command, "--bogus"],
      );
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /--bogus/);
      assert.match(r.stderr, new RegExp(`perfmmap ${command} --help`));
      assert.equal(oneLine(r.stderr), undefined);
    });
  }

  it("an unknown command is a usage error (exit 2)", () => {
    const r = runCli(["frobnicate"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    assert.equal(oneLine(r.stderr), undefined);
  });

  it("stat parses no flag after the command: `stat ls -l` passes -l to ls", () => {
    const r = runCli(["stat", "-e", "task-clock", "-x,", "sh", "-c", "exit 0", "-x"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^[\d.]+,msec,task-clock,/m);
  });
});

describe("stat: bad input gives one line and a non-zero exit", () => {
  const cases: { name: string; args: string[]; status: number; message: RegExp }[] = [
    { name: "a missing command", args: ["stat"], status: 2, message: /missing command/ },
    {
      name: "a missing command after --",
      args: ["stat", "-e", "task-clock", "--"],
      status: 2,
      message: /missing command/,
    },
    {
      name: "an unknown event",
      args: ["stat", "-e", "cyclez", "--", "true"],
      status: 2,
      message: /unknown event "cyclez"; did you mean "cycles"/,
    },
    {
      name: "an empty -e",
      args: ["stat", "-e", "", "--", "true"],
      status: 2,
      message: /-e needs at least one event/,
    },
    {
      name: "an empty name in -e",
      args: ["stat", "-e", "task-clock,,page-faults", "--", "true"],
      status: 2,
      message: /empty event name/,
    },
    {
      name: "-e without a value",
      args: ["stat", "-e"],
      status: 2,
      message: /argument missing/,
    },
    {
      name: "a non-numeric -r",
      args: ["stat", "-r", "three", "--", "true"],
      status: 2,
      message: /-r needs a whole number of runs, got "three"/,
    },
    {
      name: "-r 0",
      args: ["stat", "-r", "0", "--", "true"],
      status: 2,
      message: /-r must be between 1 and/,
    },
    {
      name: "-x with --json",
      args: ["stat", "-x,", "--json", "--", "true"],
      status: 2,
      message: /cannot be used together/,
    },
    {
      name: "a command that does not exist",
      args: ["stat", "--", "perfmmap-no-such-command"],
      status: 127,
      message: /perfmmap-no-such-command: command not found/,
    },
    {
      name: "a path that does not exist",
      args: ["stat", "--", "/nonexistent/perfmmap"],
      status: 127,
      message: /\/nonexistent\/perfmmap: No such file or directory/,
    },
    {
      name: "a file that is not executable",
      args: ["stat", "--", "/etc/passwd"],
      status: 126,
      message: /Permission denied/,
    },
    // Hostile and odd input: each one line and a documented exit code.
    { name: "an empty command", args: ["stat", "--", ""], status: 2, message: /missing command/ },
    { name: "-- as the command", args: ["stat", "--", "--"], status: 127, message: /--: command/ },
    { name: "-r -0", args: ["stat", "-r", "-0", "--", "true"], status: 2, message: /-r-XYZ/ },
    { name: "-r=-0", args: ["stat", "-r=-0", "--", "true"], status: 2, message: /got "=-0"/ },
    { name: "-r NaN", args: ["stat", "-r", "NaN", "--", "true"], status: 2, message: /"NaN"/ },
    { name: "-r 1e9", args: ["stat", "-r", "1e9", "--", "true"], status: 2, message: /"1e9"/ },
    {
      name: "-r above the limit",
      args: ["stat", "-r", "100001", "--", "true"],
      status: 2,
      message: /-r must be between 1 and 100000/,
    },
    {
      name: "an escape sequence as an event",
      args: ["stat", "-e", "\x1b[31m", "--", "true"],
      status: 2,
      message: /"\\x1b\[31m"/,
    },
    {
      name: "an event with an empty modifier list",
      args: ["stat", "-e", "task-clock:", "--", "true"],
      status: 2,
      message: /did you mean "task-clock"/,
    },
    { name: "-x ''", args: ["stat", "-x", "", "--", "true"], status: 2, message: /-x needs/ },
    { name: "-o ''", args: ["stat", "-o", "", "--", "true"], status: 2, message: /-o needs/ },
    {
      name: "a path through a file (ENOTDIR, as bash)",
      args: ["stat", "--", "/etc/passwd/x"],
      status: 126,
      message: /^perfmmap stat: \/etc\/passwd\/x: Not a directory\n$/,
    },
    {
      name: "a path too long (ENAMETOOLONG, as bash), cut in the message",
      args: ["stat", "--", `/${"x".repeat(5000)}`],
      status: 126,
      message: /^perfmmap stat: \/x{255}…: File name too long\n$/,
    },
    {
      name: "a very long command name",
      args: ["stat", "--", "x".repeat(100_000)],
      status: 127,
      message: /command not found/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: exit ${c.status}`, () => {
      const r = runCli(c.args);
      assert.equal(r.status, c.status, `${c.args.join(" ")}\n${r.stderr}`);
      assert.match(r.stderr, c.message);
      assert.equal(oneLine(r.stderr), undefined);
      assert.equal(r.stdout, "");
    });
  }

  const refused = refusedEvent();
  it(
    "an event this machine refuses: exit 1, with the reason",
    { skip: "skip" in refused ? refused.skip : false },
    () => {
      const event = (refused as { event: string }).event;
      const r = runCli(["stat", "-e", `task-clock,${event}`, "--", "true"]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot count "${event}": \\S+`));
      assert.equal(oneLine(r.stderr), undefined);
    },
  );

  it("list with two filters: exit 2", () => {
    const r = runCli(["list", "a", "b"]);
    assert.equal(r.status, 2);
    assert.equal(oneLine(r.stderr), undefined);
  });

  it("doctor with an argument: exit 2", () => {
    const r = runCli(["doctor", "extra"]);
    assert.equal(r.status, 2);
    assert.equal(oneLine(r.stderr), undefined);
  });
});

describe("Deno permissions", () => {
  const deno = "Deno" in globalThis;
  it(
    "stat without --allow-env says which flag to add, in one line",
    { skip: deno ? false : "Deno only" },
    () => {
      const r = runCli(["stat", "--", "true"], ["--allow-ffi", "--allow-read", "--allow-run"]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /--allow-env/);
      assert.equal(oneLine(r.stderr), undefined);
    },
  );

  it(
    "doctor and list need only --allow-ffi",
    { skip: deno ? false : "Deno only" },
    () => {
      const flags = ["--allow-ffi"];
      assert.equal(runCli(["list", "sw", "--json"], flags).status, 0);
      const doctor = runCli(["doctor", "--json"], flags);
      assert.ok(doctor.status === 0 || doctor.status === 1, doctor.stderr);
      assert.doesNotThrow(() => JSON.parse(doctor.stdout));
    },
  );
});
