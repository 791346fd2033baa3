// leakTest(): the statistics against an independent implementation
// (Python's statistics module), a large leak found, a constant-time
// function never flagged, and bad input.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { leakTest, type LeakTestResult, PerfError } from "../mod.ts";
import { quantileSorted, sortedCopy, welchT } from "../src/_stats.ts";
import { expectPerfError, hardwareSkip, perfFds, QEMU_TIER } from "./_helpers.ts";

const SLOW = { timeout: 300_000 };

/** Python 3's answer for `code` (which prints JSON), or a reason it cannot run. */
function python(code: string): unknown | string {
  const child = spawnSync("python3", ["-c", code], { encoding: "utf8", timeout: 30_000 });
  if (child.error !== undefined || child.status !== 0) {
    return `python3 is not available here (${child.error?.message ?? child.stderr.trim()})`;
  }
  return JSON.parse(child.stdout);
}

// Fixed data sets: two heavy-tailed samples of different sizes and spreads.
const A = [12, 15, 11, 19, 14, 13, 250, 16, 12, 18, 14, 15, 13, 17, 90];
const B = [22, 19, 25, 21, 30, 24, 23, 20, 26, 28, 21, 400];

const secret = new Uint8Array(1024).fill(7);
function randomBytes(): Uint8Array {
  const x = new Uint8Array(1024);
  for (let i = 0; i < x.length; i++) x[i] = (Math.random() * 256) | 0;
  return x;
}
/** Class a: the secret; class b: random bytes; both drawn the same way, so they cost the same. */
const SECRET_OR_RANDOM = {
  a: (): Uint8Array => {
    const x = randomBytes();
    x.set(secret);
    return x;
  },
  b: randomBytes,
};

/** Returns at the first differing byte: its cost depends on the input. */
function earlyExit(x: Uint8Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== secret[i]) return false;
  return true;
}
/**
 * Looks at every byte whatever the input, and returns the difference (0 when
 * equal): `return d === 0` is one instruction apart between equal and
 * unequal inputs in JIT code (the boolean is made with a branch), which an
 * exact instruction count rightly flags.
 */
function constantTime(x: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < x.length; i++) d |= x[i] ^ secret[i];
  return d;
}

function describeResult(r: LeakTestResult): string {
  return `${r.verdict} (${r.reason}); event ${r.event}, batch ${r.batch}, ` +
    `means ${r.means.a.toFixed(1)} / ${r.means.b.toFixed(1)}, max |t| ${r.maxAbsT.toFixed(2)}`;
}

describe("leakTest statistics", () => {
  const reference = python(`
import json, statistics as s
a = ${JSON.stringify(A)}; b = ${JSON.stringify(B)}
t = (s.mean(b) - s.mean(a)) / (s.variance(a) / len(a) + s.variance(b) / len(b)) ** 0.5
print(json.dumps({"t": t,
  "da": s.quantiles(a, n=10, method="inclusive"),
  "db": s.quantiles(b, n=10, method="inclusive")}))
`);
  const noPython = typeof reference === "string" ? reference : false;
  if (noPython) console.log(`SKIP reason: ${noPython}`);

  it("Welch's t equals Python's, from statistics.mean and variance", { skip: noPython }, () => {
    const expected = (reference as { t: number }).t;
    const t = welchT(A, B);
    assert.ok(Math.abs(t - expected) < 1e-9, `${t} vs ${expected}`);
    assert.ok(Math.abs(welchT(B, A) + expected) < 1e-9, "antisymmetric");
  });

  it("deciles equal Python's statistics.quantiles(method='inclusive')", { skip: noPython }, () => {
    const { da, db } = reference as { da: number[]; db: number[] };
    const sa = sortedCopy(A);
    const sb = sortedCopy(B);
    for (let i = 0; i < 9; i++) {
      const q = (i + 1) / 10;
      assert.ok(Math.abs(quantileSorted(sa, q) - da[i]) < 1e-9, `a decile ${q}`);
      assert.ok(Math.abs(quantileSorted(sb, q) - db[i]) < 1e-9, `b decile ${q}`);
    }
  });

  it("Welch's t of identical constant samples is 0, of different constants infinite", () => {
    assert.equal(welchT([3, 3, 3], [3, 3]), 0);
    assert.equal(welchT([3, 3, 3], [4, 4]), Infinity);
  });
});

describe("leakTest", () => {
  it("finds a large leak: one class does 10x the work", SLOW, () => {
    const work = (n: number) => {
      let x = 0;
      for (let i = 0; i < n; i++) x = (x + i * 7) % 1000003;
      return x;
    };
    const fds = perfFds();
    const result = leakTest(work, {
      classes: { a: () => 2000, b: () => 20_000 },
      maxMs: 4000,
      seed: 7,
    });
    assert.equal(result.verdict, "leak", describeResult(result));
    assert.ok(result.maxAbsT > 4.5);
    assert.ok(result.effect > 0, "class b costs more");
    assert.ok(result.quantiles.shift > 0 && result.quantiles.shiftInterval[0] > 0);
    assert.equal(perfFds(), fds);
  });

  it("finds the early-exit comparison's leak", SLOW, () => {
    const result = leakTest(earlyExit, {
      classes: SECRET_OR_RANDOM,
      maxMs: 4000,
      seed: 11,
    });
    assert.equal(result.verdict, "leak", describeResult(result));
  });

  it("never flags the constant-time comparison (10 runs)", SLOW, () => {
    const runs = QEMU_TIER ? 3 : 10;
    const verdicts: string[] = [];
    for (let run = 0; run < runs; run++) {
      const result = leakTest(constantTime, {
        classes: SECRET_OR_RANDOM,
        maxMs: 800,
        seed: 100 + run,
      });
      verdicts.push(result.verdict);
      assert.notEqual(result.verdict, "leak", `run ${run}: ${describeResult(result)}`);
      if (result.verdict === "inconclusive") assert.ok(result.reason.length > 0);
    }
    console.log(`constant-time verdicts: ${verdicts.join(", ")}`);
  });

  const noInstructions = hardwareSkip("instructions");
  it("an exact event stops early for a constant function", {
    ...SLOW,
    skip: noInstructions,
  }, () => {
    const result = leakTest((x: number) => x + 1, {
      classes: { a: () => 1, b: () => 2 },
      event: "instructions:u",
      maxMs: 5000,
    });
    assert.equal(result.verdict, "no leak detected", describeResult(result));
  });

  const cyclesOpen = hardwareSkip("cycles") === false &&
    "cycles opens here: the refusal is tested where it does not";
  it("an event that does not open: NOT_COUNTED with its reason", { skip: cyclesOpen }, () => {
    const error = expectPerfError(
      () => leakTest(() => 1, { classes: { a: () => 1, b: () => 2 }, event: "cycles" }),
      "NOT_COUNTED",
    );
    assert.match(error.message, /cycles/);
  });

  it("bad input: a typed PerfError for each", () => {
    const classes = { a: () => 1, b: () => 2 };
    const rows: [string, () => unknown][] = [
      ["no function", () => leakTest(3 as never, { classes })],
      ["no options", () => leakTest(() => 1, undefined as never)],
      ["no classes", () => leakTest(() => 1, {} as never)],
      ["class not a function", () => leakTest(() => 1, { classes: { a: 1, b: 2 } as never })],
      ["unknown key", () => leakTest(() => 1, { classes, sample: 1 } as never)],
      ["minSamples 1", () => leakTest(() => 1, { classes, minSamples: 1 })],
      ["maxSamples NaN", () => leakTest(() => 1, { classes, maxSamples: NaN })],
      ["max < min", () => leakTest(() => 1, { classes, minSamples: 500, maxSamples: 300 })],
      ["maxMs -0", () => leakTest(() => 1, { classes, maxMs: -0 })],
      ["batch 0", () => leakTest(() => 1, { classes, batch: 0 })],
      ["seed Infinity", () => leakTest(() => 1, { classes, seed: Infinity })],
      ["event a number", () => leakTest(() => 1, { classes, event: 3 as never })],
      [
        "classes inherited",
        () => leakTest(() => 1, Object.create({ classes }) as never),
      ],
    ];
    for (const [name, call] of rows) {
      let error: unknown;
      try {
        call();
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof PerfError, `${name}: ${error}`);
      assert.equal(error.code, "INVALID_OPTION", name);
    }
    expectPerfError(
      () => leakTest(() => 1, { classes, event: "no-such-event" }),
      "UNKNOWN_EVENT",
    );
  });
});
