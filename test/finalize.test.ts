// Counters dropped without close are closed when the garbage collector
// collects them: their fds, mappings, handle slots and debug registers come
// back; and a watchpoint moved to another buffer lets the old one go.
// Forcing a collection needs a flag in Deno (--expose-gc), so each case
// runs test/fixtures/drop.ts in a child process of this runtime.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { SimulatedCounter } from "../src/testing.ts";
import { counterHandle } from "./_helpers.ts";
import { native } from "../src/loader/native.ts";
import { CORE_CODES, HANDLES_MAX } from "../src/ffi/symbols.ts";
import type { Moved } from "./fixtures/drop.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const FIXTURE = `${ROOT}test/fixtures/drop.ts`;
// bun test stops a test after 5 s by default; the arm64 QEMU guest emulates the CPU.
const SLOW = { timeout: 300_000 };
/** A child that takes longer than this is killed, and the test fails saying so. */
const CHILD_BOUND_MS = 120_000;

interface Outcome {
  opened: number;
  code: string | null;
  message: string | null;
  hint: string | null;
  fdsBefore: number;
  fdsPeak: number;
  fdsAfter: number;
  mapsBefore: number;
  mapsAfter: number;
  keptReads: boolean;
}

/**
 * Runs the fixture's `which` case under this test's runtime. Deno's
 * node:child_process rewrites a spawn of its own binary (and its flags), so
 * Deno starts the child through Deno.Command.
 */
function drop(which: string): Outcome {
  const isDeno = "Deno" in globalThis;
  const isNode = !isDeno && !("Bun" in globalThis);
  const args = isDeno
    ? ["run", "--no-prompt", "-A", "--v8-flags=--expose-gc", FIXTURE, which]
    : isNode
    ? ["--expose-gc", "--disable-warning=ExperimentalWarning", FIXTURE, which]
    : [FIXTURE, which];
  let status: number | null;
  let stdout: string;
  let stderr: string;
  if (isDeno) {
    // coreutils' timeout bounds the child (outputSync has no timeout of its own).
    const output = new Deno.Command("timeout", {
      args: ["-s", "KILL", `${CHILD_BOUND_MS / 1000}`, process.execPath, ...args],
      cwd: ROOT,
    }).outputSync();
    status = output.code;
    stdout = new TextDecoder().decode(output.stdout);
    stderr = new TextDecoder().decode(output.stderr);
  } else {
    const child = spawnSync(process.execPath, args, {
      cwd: ROOT,
      encoding: "utf8",
      timeout: CHILD_BOUND_MS,
    });
    ({ status, stdout, stderr } = child);
  }
  const line = stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(
      `drop.ts ${which} gave no result within ${CHILD_BOUND_MS} ms (status ${status}): ${stdout}\n${stderr}`,
    );
  }
}

function assertAllFreed(outcome: Outcome, count: number): void {
  const detail = JSON.stringify(outcome);
  assert.equal(outcome.code, null, `the first failure: ${detail}`);
  assert.equal(outcome.opened, count, detail);
  assert.ok(outcome.keptReads, `a counter kept open still reads: ${detail}`);
  assert.ok(outcome.fdsAfter <= outcome.fdsBefore, `perf fds came back: ${detail}`);
  assert.ok(outcome.mapsAfter <= outcome.mapsBefore, `perf mappings came back: ${detail}`);
}

describe("counters dropped without close", () => {
  it(
    "10 000 counters, groups and simulated counters opened and dropped: no TABLE_FULL, fds come back",
    SLOW,
    () => {
      const outcome = drop("counters");
      assertAllFreed(outcome, 10_000);
      // A collection every 500 opens: never much above 500 perf fds at once
      // (groups hold 2); without collection they climbed past 4000.
      assert.ok(outcome.fdsPeak <= 1200, `peak ${outcome.fdsPeak} perf fds`);
    },
  );

  it(
    "200 dropped samplers (counters and groups with rings) give back fds and ring mappings",
    SLOW,
    () => {
      assertAllFreed(drop("samplers"), 200);
    },
  );

  it("40 dropped watchpoints in rounds of 4 give back the debug registers", SLOW, () => {
    const outcome = drop("watchpoints");
    assertAllFreed(outcome, 40);
    assert.ok(outcome.fdsPeak <= outcome.fdsBefore + 4, JSON.stringify(outcome));
  });
});

describe("a watchpoint moved by retarget", () => {
  it("keeps its new target's buffer alive and lets go of the old one", SLOW, () => {
    const outcome = drop("retarget") as unknown as Moved;
    const detail = JSON.stringify(outcome);
    assert.equal(outcome.oldCollected, true, `the old buffer was collected: ${detail}`);
    assert.equal(outcome.newKept, true, `the new buffer outlived the collection: ${detail}`);
    // arm64 under QEMU TCG now and then counts an access twice (watchpoint.test.ts).
    assert.ok(outcome.counted >= 1, `a write to the kept buffer counted: ${detail}`);
  });
});

describe("closing a handle whose slot was reused", () => {
  it("is STALE_HANDLE and leaves the slot's new counter open", SLOW, () => {
    const n = native();
    const first = SimulatedCounter.create();
    const stale = counterHandle(first);
    first.close();
    // Slots are handed out in turn: within 4095 opens one gets the old slot.
    const slotMask = 0xfff;
    let reused: SimulatedCounter | undefined;
    const bound = HANDLES_MAX; // the table's size
    for (let i = 0; i < bound && reused === undefined; i++) {
      const next = SimulatedCounter.create();
      if ((counterHandle(next) & slotMask) === (stale & slotMask)) reused = next;
      else next.close();
    }
    assert.ok(reused !== undefined, `no open reused slot ${stale & slotMask} within ${bound}`);
    try {
      assert.notEqual(counterHandle(reused), stale, "a new generation");
      const result = n.symbols.pm_close(stale);
      // What the finalizer of a counter already closed would do, were it to run.
      assert.equal(CORE_CODES[-result as keyof typeof CORE_CODES], "STALE_HANDLE", `${result}`);
      reused.set("offset", 7).set("register", 0);
      assert.equal(reused.read(), 7, "the slot's new counter is still open");
      assert.equal(reused.closed, false);
    } finally {
      reused.close();
    }
  });
});
