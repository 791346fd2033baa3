// measure(): per-call costs from counter deltas, the empty-function
// calibration, "not supported" instead of numbers, and bad input.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { distribution, measure, type MeasuredEvent, PerfError } from "../mod.ts";
import { expectPerfError, hardwareSkip, perfFds, perfMappings } from "./_helpers.ts";
import { sampleScale } from "../src/_sampler.ts";
import { steadySeries } from "../src/measure.ts";

function spin(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * 7) % 1000003;
  return x;
}

function counted(event: unknown): MeasuredEvent {
  const e = event as MeasuredEvent;
  assert.equal(e.status, "counted", `expected numbers, got ${JSON.stringify(event)}`);
  return e;
}

describe("measure", () => {
  it("the distribution's figures on a fixed data set", () => {
    // Quantiles interpolate (type 7): 1 2 3 4 5 6 7 8 9 100, position q * 9.
    const d = distribution([9, 1, 8, 2, 7, 3, 6, 4, 5, 100]);
    assert.deepEqual(
      { min: d.min, max: d.max, samples: d.samples },
      { min: 1, max: 100, samples: 10 },
    );
    assert.equal(d.median, 5.5); // 4.5: halfway between 5 and 6
    assert.ok(Math.abs(d.p10 - 1.9) < 1e-12, String(d.p10)); // 0.9: 1 + 0.9
    assert.ok(Math.abs(d.p90 - 18.1) < 1e-9, String(d.p90)); // 8.1: 9 + 0.1 * 91
    // |x - 5.5| sorted: .5 .5 1.5 1.5 2.5 2.5 3.5 3.5 4.5 94.5 -> 2.5
    assert.equal(d.mad, 2.5);
    expectPerfError(() => distribution([]), "INVALID_OPTION");
  });

  it("a sample's scale: not counted only when enabled moved and running did not", () => {
    assert.equal(sampleScale(100, 0), 0, "enabled, never on the PMU: not counted");
    assert.equal(sampleScale(0, 0), 1, "times a userspace read left as they were: ran throughout");
    assert.equal(sampleScale(100, 100), 1);
    assert.equal(sampleScale(100, 25), 4, "multiplexed: on the PMU a quarter of the time");
  });

  it("task-clock per call grows with the work, and the empty function is subtracted", () => {
    const small = counted(
      measure(() => spin(20_000), { events: ["task-clock"], samples: 40 }).events[0],
    );
    const large = counted(
      measure(() => spin(160_000), { events: ["task-clock"], samples: 40 }).events[0],
    );
    const ratio = large.perCall.median / small.perCall.median;
    assert.ok(ratio > 3 && ratio < 24, `8x the work cost ${ratio.toFixed(2)}x the task-clock`);
    assert.ok(small.emptyPerCall >= 0);
    assert.equal(small.notCounted, 0);
  });

  it("an empty function costs about nothing after calibration", () => {
    const result = measure(() => undefined, { events: ["task-clock"], samples: 60 });
    const clock = counted(result.events[0]);
    // The median of (empty - median of empty) sits within the spread of the samples.
    assert.ok(
      Math.abs(clock.perCall.median) <= Math.max(clock.perCall.mad * 4, clock.emptyPerCall),
      JSON.stringify(clock),
    );
    assert.ok(result.batch > 1, "task-clock is time-like, so calls are batched");
  });

  it("a series is steady unless its halves sit at two levels", () => {
    assert.ok(steadySeries([5, 5, 5]), "too short to judge");
    assert.ok(steadySeries(Array(20).fill(7)));
    const noisy = Array.from({ length: 40 }, (_, i) => 100 + ((i * 37) % 23) - 11);
    assert.ok(steadySeries(noisy), "noise of any size is no step");
    assert.ok(steadySeries([...Array(10).fill(100), ...Array(10).fill(104)]), "within 5%");
    assert.ok(
      !steadySeries([...Array(10).fill(163), ...Array(10).fill(13)]),
      "a step between halves",
    );
    assert.ok(
      !steadySeries([...Array(8).fill(163), ...Array(12).fill(13)]),
      "a step late in the first half",
    );
    assert.ok(!steadySeries([...Array(20).fill(0), ...Array(20).fill(3)]), "from zero");
  });

  it("a step within the samples (a late JIT) makes them warm-up: they are taken again", () => {
    // Slow for the first call, the 20 warm-up samples and 40 of the 60
    // samples of 100 calls each; then fast. A median over all 60 is the slow
    // level; the samples taken again are all fast.
    let calls = 0;
    const slowCalls = 1 + 100 * (20 + 40);
    const fn = () => (calls++ < slowCalls ? spin(2000) : 0);
    // A maxMs far above the run, so that its quarter never stops the retake
    // (under QEMU TCG the first 80 samples took longer than the default's 2.5 s).
    const result = measure(fn, {
      events: ["page-faults", "task-clock"],
      batch: 100,
      samples: 60,
      maxMs: 600_000,
    });
    const clock = counted(result.events[1]);
    const slow = counted(
      measure(() => spin(2000), {
        events: ["task-clock"],
        batch: 100,
        samples: 20,
      }).events[0],
    ).perCall.median;
    assert.ok(
      result.warmup >= 20 + 60,
      `warm-up ${result.warmup}: the first 60 samples were thrown away`,
    );
    assert.ok(clock.perCall.median < slow / 4, `${clock.perCall.median} ns per call, slow ${slow}`);
  });

  it("a steady function is sampled once: the warm-up is as asked", () => {
    const result = measure(() => spin(100), { events: ["page-faults"], samples: 30, warmup: 7 });
    assert.equal(result.warmup, 7);
    assert.equal(result.samples, 30);
  });

  it("exact events are not batched", () => {
    const result = measure(() => spin(100), { events: ["page-faults"], samples: 10 });
    assert.equal(result.batch, 1);
    assert.equal(result.samples, 10);
    assert.equal(result.running?.median, 1);
  });

  it("an event that does not open comes back with its reason, never a number", () => {
    const result = measure(() => spin(100), {
      events: ["context-switches", "cycles", "software/config=0x7fffffff/"],
      samples: 5,
    });
    assert.equal(result.events.length, 3);
    counted(result.events[0]);
    assert.equal(result.events[2].status, "not supported", "a software config no kernel has");
    const cycles = result.events[1];
    if (hardwareSkip("cycles") === false) {
      counted(cycles);
    } else {
      assert.ok(cycles.status === "not supported", JSON.stringify(cycles));
      assert.ok(!("perCall" in cycles), "no numbers for an event that did not open");
      assert.ok(cycles.reason.length > 0 && cycles.code.length > 0);
    }
  });

  it("when nothing opens, no samples are taken and every event says why", () => {
    const result = measure(() => 1, { events: ["software/config=0x7fffffff/"] });
    assert.equal(result.samples, 0);
    assert.equal(result.events[0].status, "not supported");
    assert.equal(result.running, undefined);
  });

  it("leaks no fd or mapping", () => {
    const fds = perfFds();
    const maps = perfMappings();
    for (let i = 0; i < 20; i++) {
      measure(() => spin(10), { events: ["task-clock", "page-faults", "cycles"], samples: 3 });
    }
    assert.equal(perfFds(), fds);
    assert.equal(perfMappings(), maps);
  });

  it("bad input: a typed PerfError for each", () => {
    const fn = () => 1;
    const rows: [string, () => unknown, string][] = [
      ["no function", () => measure(undefined as never), "INVALID_OPTION"],
      ["options a number", () => measure(fn, 3 as never), "INVALID_OPTION"],
      ["options null", () => measure(fn, null as never), "INVALID_OPTION"],
      ["options an array", () => measure(fn, [] as never), "INVALID_OPTION"],
      ["unknown key", () => measure(fn, { sample: 3 } as never), "INVALID_OPTION"],
      ["samples 0", () => measure(fn, { samples: 0 }), "INVALID_OPTION"],
      ["samples -0", () => measure(fn, { samples: -0 }), "INVALID_OPTION"],
      ["samples NaN", () => measure(fn, { samples: NaN }), "INVALID_OPTION"],
      ["samples 2^53", () => measure(fn, { samples: 2 ** 53 }), "INVALID_OPTION"],
      ["samples 1.5", () => measure(fn, { samples: 1.5 }), "INVALID_OPTION"],
      ["warmup -1", () => measure(fn, { warmup: -1 }), "INVALID_OPTION"],
      ["batch 0", () => measure(fn, { batch: 0 }), "INVALID_OPTION"],
      ["batch Infinity", () => measure(fn, { batch: Infinity }), "INVALID_OPTION"],
      ["batch 'x'", () => measure(fn, { batch: "x" as never }), "INVALID_OPTION"],
      ["maxMs 0", () => measure(fn, { maxMs: 0 }), "INVALID_OPTION"],
      ["events empty", () => measure(fn, { events: [] }), "INVALID_OPTION"],
      ["events a string", () => measure(fn, { events: "cycles" as never }), "INVALID_OPTION"],
      ["events with a hole", () => measure(fn, { events: [, "cycles"] as never }), "INVALID_EVENT"],
      ["events with a number", () => measure(fn, { events: [1] as never }), "INVALID_EVENT"],
      ["bad event syntax", () => measure(fn, { events: ["cycles:zz"] }), "UNKNOWN_EVENT"],
      [
        "a getter that throws",
        () =>
          measure(fn, {
            get samples(): number {
              throw new Error("boom");
            },
          }),
        "INVALID_OPTION",
      ],
      [
        "a promise",
        () => measure(() => Promise.resolve(1), { events: ["task-clock"] }),
        "INVALID_OPTION",
      ],
    ];
    const fds = perfFds();
    for (const [name, call, code] of rows) {
      let error: unknown;
      try {
        call();
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof PerfError, `${name}: expected a PerfError, got ${error}`);
      if (code !== "UNKNOWN_EVENT") assert.equal(error.code, code, name);
    }
    assert.equal(perfFds(), fds);
  });

  it("options are read from own properties only", () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.samples = 0; // would be refused if it were read
    proto.events = [];
    try {
      const result = measure(() => 1, { events: ["page-faults"], warmup: 0 });
      assert.equal(result.samples, 200);
    } finally {
      delete proto.samples;
      delete proto.events;
    }
  });
});
