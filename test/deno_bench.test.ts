// The Deno.bench helper: `deno bench` on a file with the one import line
// prints Deno's table, then perfmmap's, and names each missing event's
// reason once; never NaN, never a 0 for an event that was not counted.
// Runs `deno bench` as a child from either runtime.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { hardwareSkip, QEMU_TIER } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SLOW = { timeout: 300_000 };

function denoBench(...args: string[]): { status: number | null; output: string } {
  const deno = existsSync(`${ROOT}node_modules/.bin/deno`)
    ? `${ROOT}node_modules/.bin/deno`
    : "deno";
  const child = spawnSync(
    deno,
    [
      "bench",
      "--no-check",
      "--allow-ffi",
      "--allow-read",
      "test/fixtures/bench_counters.ts",
      ...args,
    ],
    { cwd: ROOT, encoding: "utf8", timeout: 240_000, env: { ...process.env, NO_COLOR: "1" } },
  );
  return { status: child.status, output: `${child.stdout}${child.stderr}` };
}

describe("Deno.bench counters", () => {
  const inGuest = QEMU_TIER &&
    "the QEMU guest runs deno bench with counters in the icount boot (test/arm64/guest/init)";
  if (inGuest) console.log(`SKIP reason: ${inGuest}`);
  const slow = { ...SLOW, skip: inGuest };
  it("the default events: numbers where they count, else the reason once", slow, () => {
    const { status, output } = denoBench();
    assert.equal(status, 0, output);
    assert.match(output, /\| sum +\|/, "Deno's own table is there");
    assert.doesNotMatch(output, /NaN/);
    if (hardwareSkip("cycles") === false) {
      assert.match(output, /perfmmap: per iteration/);
      assert.match(output, /cycles/);
    } else {
      const lines = output.split("\n").filter((line) => line.startsWith("perfmmap: not supported"));
      assert.equal(lines.length, 1, `one line for one cause:\n${output}`);
      assert.match(lines[0], /cycles, instructions, branch-misses, cache-misses/);
      assert.doesNotMatch(output, /perfmmap: per iteration/, "no table without a counted event");
    }
    assert.match(output, /perfmmap: async: not counted: .*synchronous/);
  });

  it("chosen software events give a table per case", slow, () => {
    const { status, output } = denoBench("--", "task-clock,page-faults,cycles");
    assert.equal(status, 0, output);
    assert.match(output, /perfmmap: per iteration/);
    const header = output.split("\n").findLast((line) => line.startsWith("| benchmark "));
    assert.ok(header !== undefined, output);
    assert.match(header, /task-clock/);
    assert.match(header, /page-faults/);
    const sum = output.split("\n").filter((line) => /^\| sum +\|/.test(line)).pop()!;
    const clock = Number(sum.split("|")[2].trim().replaceAll(",", ""));
    assert.ok(clock > 0, `task-clock per iteration of sum: ${sum}`);
    assert.match(output, /\| context \(\*\) +\|/);
    if (hardwareSkip("cycles") !== false) {
      assert.match(output, /perfmmap: not supported here: cycles: /);
      assert.doesNotMatch(header, /cycles/, "no column for an event that did not open");
    }
  });
});
