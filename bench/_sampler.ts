// The custom sampler: many short batched samples, cases interleaved.
//
// Method (the same in Deno and Bun, so the two columns compare):
//   1. Calibrate: for each case, double the batch size n until one call of
//      `loop(n)` takes at least `sampleNs`; then, three times, run the loop
//      for 5 ms (so the JIT reaches its top tier) and rescale n by the
//      fastest of 5 timings, so that one sample takes about `sampleNs`.
//   2. Warm up: `warmupRounds` rounds over all cases, results discarded.
//   3. Sample: `rounds` rounds; each round takes one sample of every case,
//      in an order rotated by one each round, so a drift of the machine
//      (another process, frequency) falls on all cases alike.
//   A sample is `elapsed / n` in ns per call of the case's operation; elapsed is
//   measured with performance.now() around `loop(n)`. The loop's own cost
//   (the "empty JS function" case) is included, not subtracted.

/** What the sampler needs of a case. */
export interface Sampled {
  id: string;
  loop: (n: number) => number;
}

/** Sampler settings. */
export interface SamplerOptions {
  /** Target duration of one sample, ns. */
  sampleNs: number;
  /** Rounds discarded before sampling. */
  warmupRounds: number;
  /** Samples per case. */
  rounds: number;
}

/** Raw samples of one case. */
export interface CaseSamples {
  /** Batch size (calls of the operation per sample). */
  iterations: number;
  /** ns per call, one per round. */
  samples: number[];
}

/** Percentiles of a set of samples. */
export interface Summary {
  median: number;
  p10: number;
  p90: number;
  samples: number;
}

const ITERATIONS_MAX = 1 << 26;
const CALIBRATION_REPEATS = 5;
const CALIBRATION_PASSES = 3;
/** Time each calibration pass runs the loop before timing it, ns. */
const WARM_NS = 5e6;

let sink = 0;

function timeLoop(loop: (n: number) => number, n: number): number {
  const start = performance.now();
  sink += loop(n);
  return (performance.now() - start) * 1e6;
}

function calibrate(loop: (n: number) => number, sampleNs: number): number {
  let n = 1;
  while (n < ITERATIONS_MAX && timeLoop(loop, n) < sampleNs) n *= 2;
  // The doubling may stop while the loop still runs in the interpreter: run
  // it for a while so the JIT reaches its top tier, then rescale by the
  // fastest of a few timings, so that one preemption cannot shrink the batch.
  for (let pass = 0; pass < CALIBRATION_PASSES; pass++) {
    let spent = 0;
    while (spent < WARM_NS) spent += timeLoop(loop, n);
    let fastest = Infinity;
    for (let i = 0; i < CALIBRATION_REPEATS; i++) fastest = Math.min(fastest, timeLoop(loop, n));
    n = Math.min(ITERATIONS_MAX, Math.max(1, Math.round((n * sampleNs) / Math.max(fastest, 1))));
  }
  return n;
}

/**
 * Samples every case, interleaved.
 *
 * @param cases The prepared cases.
 * @param options Sample size and counts.
 * @returns Samples per case id.
 */
export function sample(
  cases: readonly Sampled[],
  options: SamplerOptions,
): Record<string, CaseSamples> {
  const iterations = cases.map((c) => calibrate(c.loop, options.sampleNs));
  for (let round = 0; round < options.warmupRounds; round++) {
    for (let k = 0; k < cases.length; k++) timeLoop(cases[k].loop, iterations[k]);
  }
  const samples: number[][] = cases.map(() => []);
  for (let round = 0; round < options.rounds; round++) {
    for (let j = 0; j < cases.length; j++) {
      const k = (j + round) % cases.length;
      const c = cases[k];
      samples[k].push(timeLoop(c.loop, iterations[k]) / iterations[k]);
    }
  }
  if (sink === Number.MIN_VALUE) console.log(sink); // keeps every result live
  const result: Record<string, CaseSamples> = {};
  cases.forEach((c, k) => {
    result[c.id] = { iterations: iterations[k], samples: samples[k] };
  });
  return result;
}

/**
 * The value at quantile `q` of sorted values, interpolated linearly.
 *
 * @param sorted Ascending values.
 * @param q 0..1.
 * @returns The quantile.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

/**
 * Median, p10 and p90 of samples.
 *
 * @param values Samples in any order.
 * @returns The summary.
 */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    p10: quantile(sorted, 0.1),
    p90: quantile(sorted, 0.9),
    samples: sorted.length,
  };
}
