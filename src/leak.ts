/**
 * Timing-leak tests for JavaScript functions: does a function's cost depend
 * on a secret? `leakTest()` follows dudect (Reparaz, Balasch, Verbauwhede,
 * "Dude, is my code constant time?", 2017): two classes of input,
 * interleaved at random, a counter read around each call, and Welch's t-test
 * on the raw and on percentile-cropped costs. A quantile comparison says
 * whether a difference is a uniform shift or a tail effect.
 *
 * @module
 */

import { Group } from "./group.ts";
import { PerfError } from "./errors.ts";
import { parseEvent } from "./event.ts";
import { meanVariance, quantileSorted, Random, sortedCopy, welchT } from "./_stats.ts";
import {
  badOption,
  BATCH_MAX,
  classify,
  dropSink,
  integerOption,
  knownKeys,
  readGroup,
  sampleScale,
  timeLike,
  timePerCall,
  type UncountedEvent,
} from "./_sampler.ts";
import { ownRecord } from "./_input.ts";

/** The events {@link leakTest} tries, in order, when none is given. */
export const LEAK_TEST_EVENTS: readonly string[] = Object.freeze([
  "instructions",
  "cycles",
  "task-clock",
]);

/** dudect's threshold: |t| above it is a leak. */
export const LEAK_T_THRESHOLD = 4.5;

/** The two classes of input: each call draws a fresh input from one of them. */
export interface LeakClasses<T> {
  /** Inputs of the first class (for example a fixed secret). */
  a: () => T;
  /** Inputs of the second class (for example random secrets). */
  b: () => T;
}

/** Options of {@link leakTest}. */
export interface LeakTestOptions<T> {
  /** The two input classes. */
  classes: LeakClasses<T>;
  /**
   * The event to count (default: the first of {@link LEAK_TEST_EVENTS} that
   * opens here). A time-like event (`task-clock`, `cpu-clock`) batches
   * calls.
   */
  event?: string;
  /** Samples per class before the test may stop (default 200). */
  minSamples?: number;
  /** Samples per class at most (default 20 000). */
  maxSamples?: number;
  /** Warm-up calls per class, not counted (default 100). */
  warmup?: number;
  /**
   * A bound on the sampling in milliseconds (default 10 000); the statistics
   * computed after it add a little.
   */
  maxMs?: number;
  /** Calls per sample, or `"auto"` (1 for exact events; see `measure`). */
  batch?: number | "auto";
  /** Seed of the class order and the bootstrap (default: random). */
  seed?: number;
}

/**
 * A test case for `perfmmap leak <module> <export>`: a module exports one
 * (or a function that returns one), and the CLI runs {@link leakTest} on it.
 */
export interface LeakCase<T> {
  /** The function under test. */
  fn: (input: T) => unknown;
  /** The two input classes. */
  classes: LeakClasses<T>;
  /** Other options of {@link leakTest}; the command line's flags win. */
  options?: Omit<LeakTestOptions<T>, "classes">;
}

/** Welch's t on the samples cropped above one percentile. */
export interface CroppedT {
  /** Samples above this percentile of the pooled data were dropped. */
  percentile: number;
  /** Welch's t of class b against class a. */
  t: number;
}

/** The decile comparison, split into a uniform shift and a tail effect. */
export interface QuantileComparison {
  /** Per decile (0.1 ... 0.9): class a's value, class b's, and b - a. */
  deciles: { q: number; a: number; b: number; difference: number }[];
  /** The median of the decile differences: how far b sits from a overall. */
  shift: number;
  /** The largest decile difference away from the shift: how much the tails differ. */
  tail: number;
  /** A 99% bootstrap interval of `shift`. */
  shiftInterval: [number, number];
  /** A 99% bootstrap interval of `tail`. */
  tailInterval: [number, number];
}

/** What {@link leakTest} found. Never a bare boolean: the verdict comes with its evidence. */
export interface LeakTestResult {
  /**
   * `"leak"`: |t| > 4.5 with at least `minSamples` per class. `"no leak
   * detected"`: the test ran its samples (or its interval ruled out a
   * difference of half a unit of an exact event) and |t| stayed below 4.5.
   * `"inconclusive"`: fewer than `minSamples` per class in the time budget.
   */
  verdict: "leak" | "no leak detected" | "inconclusive";
  /** Why the test stopped, and for an inconclusive verdict, what is missing. */
  reason: string;
  /** `"early"` (the evidence was overwhelming), `"samples"` or `"time"`. */
  stopped: "early" | "samples" | "time";
  /** The event counted. */
  event: string;
  /** Calls per sample. */
  batch: number;
  /** Samples taken per class. */
  samples: { a: number; b: number };
  /** Mean cost per call per class, in the event's unit. */
  means: { a: number; b: number };
  /** `means.b - means.a`. */
  effect: number;
  /** Welch's t of class b against class a on the raw samples. */
  t: number;
  /** Welch's t on cropped samples (dudect's crops). */
  cropped: CroppedT[];
  /** The largest |t| of the raw and cropped tests: what the verdict compares to 4.5. */
  maxAbsT: number;
  /** The decile comparison. */
  quantiles: QuantileComparison;
  /** Events that could not be counted, with their reasons (when a fallback was used). */
  skipped: UncountedEvent[];
}

/** dudect's crop percentiles: 1 - 0.5^(10 (i + 1) / 10) for i in 0..9. */
const CROPS: readonly number[] = Array.from(
  { length: 10 },
  (_, i) => 1 - Math.pow(0.5, (10 * (i + 1)) / 10),
);
/** Samples per class between looks at the evidence. */
const CHUNK = 100;
/** Stop early for a leak at this multiple of the threshold. */
const EARLY_LEAK_FACTOR = 3;
/** Inputs drawn ahead at most (a round is fewer samples when calls are batched). */
const ROUND_INPUTS = 4096;
/** Bootstrap resamples for the quantile intervals. */
const BOOTSTRAP = 200;
/** Exact events: stop early once the 99% interval of the effect is within this. */
const EXACT_RESOLUTION = 0.5;
/** z for a two-sided 99% interval. */
const Z99 = 2.576;

const OP = "leakTest";

function bad(message: string, cause?: unknown): PerfError {
  return badOption(OP, message, cause);
}

const KEYS = new Set([
  "classes",
  "event",
  "minSamples",
  "maxSamples",
  "warmup",
  "maxMs",
  "batch",
  "seed",
]);

interface Resolved<T> {
  a: () => T;
  b: () => T;
  event: string | undefined;
  minSamples: number;
  maxSamples: number;
  warmup: number;
  maxMs: number;
  batch: number | "auto";
  seed: number;
}

function resolve<T>(options: unknown): Resolved<T> {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw bad("leakTest needs options with classes: { a, b }");
  }
  // Own properties only, each read once (a polluted prototype sets nothing).
  const given = ownRecord({ op: OP }, "options", options);
  knownKeys(OP, given, KEYS);
  const classes = given.classes === undefined
    ? undefined
    : ownRecord({ op: OP }, "option classes", given.classes);
  const a = classes?.a;
  const b = classes?.b;
  if (typeof a !== "function" || typeof b !== "function") {
    throw bad("classes.a and classes.b must be functions that return an input");
  }
  const event = given.event;
  if (event !== undefined && typeof event !== "string") throw bad("option event must be a string");
  const batch = given.batch ?? "auto";
  if (
    batch !== "auto" &&
    (typeof batch !== "number" || !Number.isInteger(batch) || batch < 1 || batch > BATCH_MAX)
  ) {
    throw bad(`option batch must be "auto" or an integer from 1 to ${BATCH_MAX}`);
  }
  const seed = given.seed;
  if (seed !== undefined && (typeof seed !== "number" || !Number.isFinite(seed))) {
    throw bad("option seed must be a finite number");
  }
  const samples = { min: 2, max: 10_000_000 };
  const minSamples = integerOption(OP, given, "minSamples", { ...samples, fallback: 200 });
  const maxSamples = integerOption(OP, given, "maxSamples", { ...samples, fallback: 20_000 });
  if (maxSamples < minSamples) throw bad("option maxSamples must be at least minSamples");
  return {
    a: a as () => T,
    b: b as () => T,
    event,
    minSamples,
    maxSamples,
    warmup: integerOption(OP, given, "warmup", { fallback: 100, min: 0, max: 10_000_000 }),
    maxMs: integerOption(OP, given, "maxMs", { fallback: 10_000, min: 1, max: 3_600_000 }),
    batch: batch === "auto" ? "auto" : (batch as number) + 0,
    seed: seed === undefined ? Math.floor(Math.random() * 2 ** 32) : (seed as number),
  };
}

/** The first event that opens here; the reasons of those that did not. */
function chooseEvent(wanted: string | undefined): { event: string; skipped: UncountedEvent[] } {
  const candidates = wanted === undefined ? LEAK_TEST_EVENTS : [wanted];
  for (const event of candidates) parseEvent(event);
  const refused = classify(candidates);
  const skipped: UncountedEvent[] = [];
  for (const event of candidates) {
    const reason = refused.get(event);
    if (reason === undefined) return { event, skipped };
    skipped.push(reason);
  }
  const why = skipped.map((s) => `${s.event}: ${s.code}`).join("; ");
  throw new PerfError("NOT_COUNTED", `no event can be counted here (${why})`, {
    op: "leakTest",
    hint: skipped.find((s) => s.hint !== undefined)?.hint,
  });
}

/** Welch's t on samples at or below each crop percentile of the pooled data. */
function croppedTs(a: Float64Array, b: Float64Array): CroppedT[] {
  const pooled = sortedCopy([...a, ...b]);
  return CROPS.map((percentile) => {
    const limit = quantileSorted(pooled, percentile);
    const keepA = a.filter((v) => v <= limit);
    const keepB = b.filter((v) => v <= limit);
    const t = keepA.length > 1 && keepB.length > 1 ? welchT(keepA, keepB) : 0;
    return { percentile, t };
  });
}

const DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

function shiftAndTail(
  sa: Float64Array,
  sb: Float64Array,
): { shift: number; tail: number; diffs: number[] } {
  const diffs = DECILES.map((q) => quantileSorted(sb, q) - quantileSorted(sa, q));
  const shift = quantileSorted(sortedCopy(diffs), 0.5);
  const tail = Math.max(...diffs.map((d) => Math.abs(d - shift)));
  return { shift, tail, diffs };
}

function resample(values: Float64Array, random: Random, out: Float64Array): Float64Array {
  for (let i = 0; i < out.length; i++) out[i] = values[random.below(values.length)];
  return out.sort();
}

function compareQuantiles(a: Float64Array, b: Float64Array, random: Random): QuantileComparison {
  const sa = sortedCopy(a);
  const sb = sortedCopy(b);
  const { shift, tail, diffs } = shiftAndTail(sa, sb);
  const shifts = new Float64Array(BOOTSTRAP);
  const tails = new Float64Array(BOOTSTRAP);
  const ra = new Float64Array(a.length);
  const rb = new Float64Array(b.length);
  for (let i = 0; i < BOOTSTRAP; i++) {
    const one = shiftAndTail(resample(a, random, ra), resample(b, random, rb));
    shifts[i] = one.shift;
    tails[i] = one.tail;
  }
  shifts.sort();
  tails.sort();
  return {
    deciles: DECILES.map((q, i) => ({
      q,
      a: quantileSorted(sa, q),
      b: quantileSorted(sb, q),
      difference: diffs[i],
    })),
    shift,
    tail,
    shiftInterval: [quantileSorted(shifts, 0.005), quantileSorted(shifts, 0.995)],
    tailInterval: [quantileSorted(tails, 0.005), quantileSorted(tails, 0.995)],
  };
}

/** The largest |t| over the raw and cropped tests. */
function maxAbs(t: number, cropped: readonly CroppedT[]): number {
  return Math.max(Math.abs(t), ...cropped.map((c) => Math.abs(c.t)));
}

/** Whether the 99% interval of the mean difference lies within ±`resolution`. */
function tightlyEqual(a: Float64Array, b: Float64Array, resolution: number): boolean {
  const x = meanVariance(a);
  const y = meanVariance(b);
  const half = Z99 * Math.sqrt(x.variance / a.length + y.variance / b.length);
  return Math.abs(y.mean - x.mean) + half < resolution;
}

/**
 * Tests whether the cost of `fn` depends on which class its input comes
 * from. Each sample draws a fresh input from class a or b (in a random,
 * interleaved order), then counts one call of `fn` (or a batch, for a
 * time-like event) in one event: `instructions` where it opens, else
 * `cycles`, else `task-clock`.
 *
 * It stops early when the evidence is overwhelming (|t| over 3 x 4.5, or for
 * an exact event, a 99% interval that rules out a difference of half a
 * unit), else at `maxSamples` per class or at `maxMs`.
 *
 * @param fn The function under test; it gets one input per call.
 * @param options The classes, and bounds (see {@link LeakTestOptions}).
 * @returns The verdict with its evidence.
 * @throws {PerfError} `INVALID_OPTION` for bad options, `NOT_COUNTED` (with
 * each event's reason) when no event can be counted here, or when fewer than
 * two samples per class were counted.
 *
 * @example An early-exit comparison leaks where the first byte differs
 * ```ts
 * import { leakTest } from "@perfmmap/perfmmap";
 * import assert from "node:assert/strict";
 *
 * const secret = new Uint8Array(4096).fill(7);
 * const early = (x: Uint8Array) => {
 *   for (let i = 0; i < x.length; i++) if (x[i] !== secret[i]) return false;
 *   return true;
 * };
 * const result = leakTest(early, {
 *   classes: {
 *     a: () => secret.slice(), // equal: compares every byte
 *     b: () => new Uint8Array(4096), // differs at byte 0: returns at once
 *   },
 *   seed: 1,
 *   maxMs: 3000,
 * });
 * assert.equal(result.verdict, "leak");
 * ```
 */
export function leakTest<T>(
  fn: (input: T) => unknown,
  options: LeakTestOptions<T>,
): LeakTestResult {
  if (typeof fn !== "function") throw bad("leakTest needs a function");
  const o = resolve<T>(options);
  const { event, skipped } = chooseEvent(o.event);
  using group = Group.open([event]);
  const random = new Random(o.seed);
  for (let i = 0; i < o.warmup; i++) {
    keep(fn(o.a()));
    keep(fn(o.b()));
  }
  const batch = o.batch !== "auto"
    ? o.batch
    : timeLike(event)
    ? batchFor(group, () => fn(o.a()))
    : 1;
  const deadline = performance.now() + o.maxMs;
  const a: number[] = [];
  const b: number[] = [];
  // Inputs are drawn a round ahead of the calls that use them, so that no
  // class's generator runs right before its own sample (its cache and
  // allocator traces would then be measured as the function's cost).
  const round = Math.min(2 * CHUNK, Math.max(1, Math.floor(ROUND_INPUTS / batch)));
  const inputs: T[] = new Array(round * batch);
  const fromB = new Uint8Array(round);
  const before = new Float64Array(3);
  const after = new Float64Array(3);
  let stopped: LeakTestResult["stopped"] = "samples";
  let looked = 0;
  while (a.length < o.maxSamples || b.length < o.maxSamples) {
    for (let s = 0; s < round; s++) {
      fromB[s] = random.next() < 0.5 ? 1 : 0;
      const draw = fromB[s] === 1 ? o.b : o.a;
      for (let k = 0; k < batch; k++) inputs[s * batch + k] = draw();
    }
    for (let s = 0; s < round; s++) {
      readGroup(group, before);
      for (let k = s * batch; k < (s + 1) * batch; k++) keep(fn(inputs[k]));
      readGroup(group, after);
      const scale = sampleScale(after[1] - before[1], after[2] - before[2]);
      if (scale === 0) continue; // not on the PMU: not a sample
      const cost = ((after[0] - before[0]) * scale) / batch;
      (fromB[s] === 1 ? b : a).push(cost);
    }
    if (performance.now() > deadline) {
      stopped = "time";
      break;
    }
    const taken = a.length + b.length;
    if (a.length < o.minSamples || b.length < o.minSamples || taken - looked < 2 * CHUNK) continue;
    looked = taken;
    const fa = Float64Array.from(a);
    const fb = Float64Array.from(b);
    if (maxAbs(welchT(fa, fb), croppedTs(fa, fb)) > EARLY_LEAK_FACTOR * LEAK_T_THRESHOLD) {
      stopped = "early";
      break;
    }
    if (!timeLike(event) && tightlyEqual(fa, fb, EXACT_RESOLUTION)) {
      stopped = "early";
      break;
    }
  }
  dropSink();
  inputs.fill(undefined as T);
  return verdictOf(event, batch, a, b, stopped, o, random, skipped);
}

// Where each result goes, so the calls under test are not optimized away.
let _kept: unknown;
function keep(value: unknown): void {
  _kept = value;
}

function batchFor(group: Group, call: () => unknown): number {
  const scratch = new Float64Array(3);
  const readNs = timePerCall(() => readGroup(group, scratch));
  const callNs = timePerCall(call);
  // A sample lasts at least 50 reads and 20 µs, as in measure().
  return Math.min(BATCH_MAX, Math.max(1, Math.ceil(Math.max(20_000, 50 * readNs) / callNs)));
}

function verdictOf<T>(
  event: string,
  batch: number,
  a: number[],
  b: number[],
  stopped: LeakTestResult["stopped"],
  o: Resolved<T>,
  random: Random,
  skipped: UncountedEvent[],
): LeakTestResult {
  _kept = undefined;
  if (a.length < 2 || b.length < 2) {
    throw new PerfError(
      "NOT_COUNTED",
      `${a.length} + ${b.length} samples were counted in ${o.maxMs} ms: the ${event} counter ` +
        "did not run on the PMU, or each call takes longer than the budget",
      { op: "leakTest", hint: "raise maxMs, or free the counters others hold" },
    );
  }
  const fa = Float64Array.from(a);
  const fb = Float64Array.from(b);
  const enough = a.length >= o.minSamples && b.length >= o.minSamples;
  const t = welchT(fa, fb);
  const cropped = croppedTs(fa, fb);
  const maxAbsT = maxAbs(t, cropped);
  const meanA = meanVariance(fa).mean;
  const meanB = meanVariance(fb).mean;
  let verdict: LeakTestResult["verdict"];
  let reason: string;
  if (!enough) {
    verdict = "inconclusive";
    reason =
      `only ${a.length} + ${b.length} samples in ${o.maxMs} ms (|t| = ${maxAbsT.toFixed(1)} so ` +
      `far); ${o.minSamples} per class are needed: raise maxMs, or count a cheaper event`;
  } else if (maxAbsT > LEAK_T_THRESHOLD) {
    verdict = "leak";
    reason =
      `|t| = ${maxAbsT.toFixed(1)} > ${LEAK_T_THRESHOLD} after ${a.length} + ${b.length} samples` +
      (stopped === "early" ? " (stopped early: overwhelming)" : "");
  } else {
    verdict = "no leak detected";
    reason = stopped === "early"
      ? `the 99% interval of the difference is within ±${EXACT_RESOLUTION} ${event} per call`
      : `|t| = ${
        maxAbsT.toFixed(1)
      } <= ${LEAK_T_THRESHOLD} after ${a.length} + ${b.length} samples` +
        (stopped === "time" ? ` (the ${o.maxMs} ms budget)` : "");
  }
  return {
    verdict,
    reason,
    stopped,
    event,
    batch,
    samples: { a: a.length, b: b.length },
    means: { a: meanA, b: meanB },
    effect: meanB - meanA,
    t,
    cropped,
    maxAbsT,
    quantiles: compareQuantiles(fa, fb, random),
    skipped,
  };
}
