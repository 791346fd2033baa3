// `stat` at its edges: how the command ended when the runtime cannot say
// (a real-time signal), the output file opened before anything runs, the
// caller's fds passed to the command, a script without `#!`, and commands
// that cannot be started at all.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { spawn } from "node:child_process";
import process from "node:process";
import { checkCommand, stat } from "../../src/cli/stat.ts";
import { argStringMax, launcherStdio } from "../../src/cli/_run.ts";
import { CliError } from "../../src/cli/_errors.ts";
import { DENO_FLAGS, oneLine, runCli, runCliWithFds, runtime } from "./_helpers.ts";

describe("stat at its edges", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(`${tmpdir()}/perfmmap-stat-edges-`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a command killed by a real-time signal: exit 128+N, the signal named, the counts printed", () => {
    const r = runCli(["stat", "-e", "task-clock", "--", "sh", "-c", "kill -35 $$"]);
    assert.equal(r.status, 128 + 35, r.stderr);
    assert.match(r.stderr, /killed by signal SIGRTMIN\+1 \(35\)/);
    assert.match(r.stderr, /msec task-clock/);
  });

  it("--json reports the real-time signal in the summary", () => {
    const r = runCli(["stat", "--json", "-e", "task-clock", "--", "sh", "-c", "kill -64 $$"]);
    assert.equal(r.status, 128 + 64, r.stderr);
    const summary = JSON.parse(r.stderr.trim().split("\n").pop()!);
    assert.equal(summary.signal, "SIGRTMAX");
    assert.equal(summary.exitCode, null);
  });

  for (
    const c of [
      { name: "a directory", path: () => dir, message: /Is a directory \(EISDIR\)/ },
      {
        name: "a file in a missing folder",
        path: () => `${dir}/missing/counts.txt`,
        message: /No such file or directory \(ENOENT\)/,
      },
    ]
  ) {
    it(`-o to ${c.name} fails before the command runs (exit 1, one line)`, () => {
      const marker = `${dir}/ran-${c.name.length}`;
      const r = runCli(
        ["stat", "-o", c.path(), "-e", "task-clock", "--", "sh", "-c", `: > ${marker}`],
        [...DENO_FLAGS, `--allow-write=${dir}`],
      );
      assert.equal(r.status, 1, r.stderr);
      assert.equal(oneLine(r.stderr), undefined);
      assert.match(r.stderr, new RegExp(`^perfmmap stat: cannot write ${c.path()}: `));
      assert.match(r.stderr, c.message);
      assert.ok(!existsSync(marker), "the command did not run");
    });
  }

  // Under Node, stat cannot tell the caller's inherited fds from Node's own
  // (libuv's pipes are not anonymous inodes, and Node has no fcntl to read
  // FD_CLOEXEC), so it passes none: docs/node.md.
  const nodeFds = runtime() === "node" &&
    "under Node, stat does not pass the caller's fds 3 and up yet (docs/node.md)";
  if (nodeFds) console.log(`SKIP reason: ${nodeFds}`);
  it("the caller's fds 3 and up reach the command; the control socket does not", {
    skip: nodeFds,
  }, async () => {
    writeFileSync(`${dir}/three`, "three\n");
    writeFileSync(`${dir}/five`, "five\n");
    const three = openSync(`${dir}/three`, "r");
    const five = openSync(`${dir}/five`, "r");
    try {
      // fd 4, the gap, is where the launcher's control socket goes: never in the command.
      const script = "cat <&3; cat <&5; [ -e /proc/$$/fd/4 ] && echo fd4; " +
        "[ -e /proc/$$/fd/6 ] && echo fd6; exit 0";
      const r = await runCliWithFds(
        ["stat", "-e", "task-clock", "--", "sh", "-c", script],
        { 3: three, 5: five },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "three\nfive\n", `the command's stdout:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /msec task-clock/);
    } finally {
      closeSync(three);
      closeSync(five);
    }
  });

  it("the control socket takes the lowest fd the caller did not give, never one of theirs", () => {
    assert.deepEqual(launcherStdio([]), {
      stdio: ["inherit", "inherit", "inherit", "pipe"],
      controlFd: 3,
    });
    assert.deepEqual(launcherStdio([3, 5]).controlFd, 4);
    assert.deepEqual(launcherStdio([3, 5]).stdio, ["inherit", "inherit", "inherit", 3, "pipe", 5]);
    // Not above the highest: a caller's fd 1023 under `ulimit -n 1024` leaves no room there.
    assert.equal(launcherStdio([3, 4, 1023]).controlFd, 5);
    assert.equal(launcherStdio([3, 4, 1023]).stdio.length, 1024);
  });

  it("a script without #! runs with /bin/sh, as a shell and perf stat run it", () => {
    const script = `${dir}/no-shebang`;
    writeFileSync(script, 'echo "ran with $# args: $*"; exit 4\n', { mode: 0o755 });
    const r = runCli(["stat", "-e", "task-clock", "--", script, "a", "b"]);
    assert.equal(r.status, 4, r.stderr);
    assert.equal(r.stdout, "ran with 2 args: a b\n");
    assert.match(r.stderr, /msec task-clock/);
  });

  it('a directory as the command: "Is a directory", exit 126, as a shell says', () => {
    const r = runCli(["stat", "-e", "task-clock", "--", dir]);
    assert.equal(r.status, 126, r.stderr);
    assert.equal(r.stderr, `perfmmap stat: ${dir}: Is a directory\n`);
  });

  it("a directory of that name on PATH is skipped, as a shell skips it: not found (127)", () => {
    mkdirSync(`${dir}/bin/perfmmap-edges-dir`, { recursive: true });
    const saved = process.env.PATH;
    process.env.PATH = `${dir}/bin`;
    try {
      assert.deepEqual(checkCommand("perfmmap-edges-dir"), {
        code: 127,
        message: "perfmmap-edges-dir: command not found",
      });
    } finally {
      process.env.PATH = saved;
    }
  });

  it("an argument over the kernel's bound is E2BIG before any spawn, whatever else is wrong", async () => {
    const max = argStringMax();
    assert.ok(max !== undefined && max >= 32 * 4096, `MAX_ARG_STRLEN ${max}`);
    // Children come and go meanwhile, so fds open and close around stat:
    // under Bun it passes the fds it finds, and its spawn reported one that
    // was closed in between (EBADF) before the argument, most of the time.
    let churning = true;
    const churn = (async () => {
      while (churning) {
        await new Promise((done) => spawn("true", [], { stdio: "pipe" }).on("close", done));
      }
    })();
    const answers = new Set<string>();
    try {
      for (let i = 0; i < 20; i++) {
        await stat(["-e", "task-clock", "--", "true", "x".repeat(max)]).then(
          () => answers.add("ran"),
          (error: unknown) =>
            answers.add(error instanceof CliError ? error.message : String(error)),
        );
      }
    } finally {
      churning = false;
      await churn;
    }
    assert.deepEqual([...answers], ["true: Argument list too long (E2BIG)"]);
  });

  it("an argument of exactly the kernel's bound, NUL included, reaches the command", () => {
    const max = argStringMax()!;
    const r = runCli([
      "stat",
      "-e",
      "task-clock",
      "--",
      "sh",
      "-c",
      'echo "${#1}"',
      "sh",
      "x".repeat(max - 1),
    ]);
    assert.equal(r.status, 0, oneLine(r.stderr));
    assert.equal(r.stdout, `${max - 1}\n`);
  });

  it("a spawn that fails (E2BIG) names the errno and exits 126, as a shell does", async () => {
    // One argument over the kernel's 128 KiB per-string limit: this process
    // can spawn nothing with it, so stat runs here, in-process.
    const huge = "x".repeat(200_000);
    await assert.rejects(
      stat(["-e", "task-clock", "--", "true", huge]),
      (error: unknown) => {
        assert.ok(error instanceof CliError, String(error));
        assert.equal(error.exitCode, 126);
        assert.equal(error.message, "true: Argument list too long (E2BIG)");
        return true;
      },
    );
  });
});
