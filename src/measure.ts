/**
 * What one call of a function costs in counter events: `measure()`.
 *
 * @module
 */

import { Group } from "./group.ts";
import { PerfError } from "./errors.ts";
import { parseEvent } from "./event.ts";
import { quantileSorted, sortedCopy } from "./_stats.ts";
import {
  badOption,
  BATCH_MAX,
  classify,
  dropSink,
  integerOption,
  knownKeys,
  pickBatch,
  sample,
  sampleScale,
  type UncountedEvent,
} from "./_sampler.ts";
import { describe, ownRecord } from "./_input.ts";

export type { UncountedEvent };

/** The events {@link measure} counts when none are given. */
export const MEASURE_DEFAULT_EVENTS: readonly string[] = Object.freeze([
  "cycles",
  "instructions",
  "branch-misses",
  "cache-misses",
]);

/** How the values of one event spread over the samples. */
export interface Distribution {
  /** The smallest value. */
  min: number;
  /** The 10th percentile. */
  p10: number;
  /** The median. */
  median: number;
  /** The 90th percentile. */
  p90: number;
  /** The largest value. */
  max: number;
  /** The median absolute deviation from the median. */
  mad: number;
  /** How many samples the figures are made of. */
  samples: number;
}

/** An event that was counted: its cost per call of the function. */
export interface MeasuredEvent {
  /** The event as given. */
  event: string;
  /** Always `"counted"`. */
  status: "counted";
  /**
   * The event's count per call of the function, after the cost of an empty
   * function measured the same way in the same run was subtracted (so it
   * can be slightly negative for a function that costs less than the
   * noise). Samples in which the group was multiplexed are scaled by
   * `timeEnabled / timeRunning`.
   */
  perCall: Distribution;
  /** The median count per call of the empty function: what was subtracted. */
  emptyPerCall: number;
  /** Samples in which the group was on the PMU for only part of the time (scaled). */
  multiplexed: number;
  /** Samples dropped because the group was not on the PMU at all. */
  notCounted: number;
}

/** What {@link measure} found. */
export interface MeasureResult {
  /** Per event, in the order given: numbers, or the reason there are none. */
  events: (MeasuredEvent | UncountedEvent)[];
  /** Calls of the function per sample. */
  batch: number;
  /** Samples taken of the function (and as many of the empty function). */
  samples: number;
  /**
   * Samples of the function taken and thrown away: the warm-up, and any
   * taken again (see {@link MeasureOptions.samples}).
   */
  warmup: number;
  /**
   * The fraction of each sample the group was on the PMU
   * (`timeRunning / timeEnabled`); 1 when it was never multiplexed. Absent
   * when no event was counted.
   */
  running?: Distribution;
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  /** The events to count, as for `Counter.open` (default {@link MEASURE_DEFAULT_EVENTS}). */
  events?: readonly string[];
  /**
   * Samples to take (default 200, at most 1 000 000). When the counts per
   * call moved by a step within them (a JIT that compiled the function or
   * the empty one late, as on a busy machine), they count as warm-up and
   * are taken again, up to 3 times within a quarter of `maxMs`.
   */
  samples?: number;
  /** Samples to take and throw away first (default 20). */
  warmup?: number;
  /**
   * Calls per sample, or `"auto"` (the default): 1 when every event counts
   * exactly (hardware events), else enough calls for a sample to last at
   * least 50 reads of the group and 20 µs, so that time-like software
   * events such as `task-clock` rise above their own read cost.
   */
  batch?: number | "auto";
  /** A bound on the whole measurement in milliseconds (default 10 000). */
  maxMs?: number;
}

const MEASURE_KEYS = new Set(["events", "samples", "warmup", "batch", "maxMs"]);

const OP = "measure";

interface Resolved {
  events: string[];
  samples: number;
  warmup: number;
  batch: number | "auto";
  maxMs: number;
}

function resolve(options: unknown): Resolved {
  // Own properties only, each read once (a polluted prototype sets nothing).
  const given = ownRecord({ op: OP }, "options", options === undefined ? {} : options);
  knownKeys(OP, given, MEASURE_KEYS);
  const events = given.events ?? MEASURE_DEFAULT_EVENTS;
  if (!Array.isArray(events) || events.length === 0) {
    throw badOption(
      OP,
      `option events must be a non-empty array of event strings, got ${describe(events)}`,
    );
  }
  const names: string[] = [];
  for (let i = 0; i < events.length; i++) {
    const event = Object.hasOwn(events, i) ? events[i] : undefined;
    if (typeof event !== "string") {
      throw new PerfError(
        "INVALID_EVENT",
        `events[${i}] must be an event string, got ${describe(event)}`,
        { op: OP },
      );
    }
    names.push(event);
  }
  const batch = given.batch ?? "auto";
  if (batch !== "auto") {
    if (typeof batch !== "number" || !Number.isInteger(batch) || batch < 1 || batch > BATCH_MAX) {
      throw badOption(
        OP,
        `option batch must be "auto" or an integer from 1 to ${BATCH_MAX}, got ${describe(batch)}`,
      );
    }
  }
  return {
    events: names,
    samples: integerOption(OP, given, "samples", { fallback: 200, min: 1, max: 1_000_000 }),
    warmup: integerOption(OP, given, "warmup", { fallback: 20, min: 0, max: 1_000_000 }),
    batch: batch === "auto" ? "auto" : batch + 0,
    maxMs: integerOption(OP, given, "maxMs", { fallback: 10_000, min: 1, max: 3_600_000 }),
  };
}

/**
 * The distribution of `values`: min, p10, median, p90, max and MAD.
 *
 * @param values At least one number.
 * @returns Its figures: quantiles interpolate between neighbours (the
 * method of numpy's default and Python's `statistics.quantiles(method="inclusive")`).
 *
 * @example Five values
 * ```ts
 * import { distribution } from "@perfmmap/perfmmap";
 * import assert from "node:assert/strict";
 *
 * const d = distribution([5, 1, 4, 2, 3]);
 * assert.equal(d.median, 3);
 * assert.equal(d.mad, 1);
 * ```
 */
export function distribution(values: ArrayLike<number>): Distribution {
  if (values.length === 0) throw badOption(OP, "no values");
  const s = sortedCopy(values);
  const median = quantileSorted(s, 0.5);
  const deviations = s.map((v) => Math.abs(v - median)).sort();
  return {
    min: s[0],
    p10: quantileSorted(s, 0.1),
    median,
    p90: quantileSorted(s, 0.9),
    max: s[s.length - 1],
    mad: quantileSorted(deviations, 0.5),
    samples: s.length,
  };
}

interface Tally {
  fn: number[][];
  empty: number[][];
  multiplexed: number;
  notCounted: number;
  running: number[];
}

/** Adds one sample's per-call values to `into`; false when it was not counted. */
function record(
  into: number[][],
  before: Float64Array,
  after: Float64Array,
  batch: number,
  tally: Tally,
  track: boolean,
): void {
  const n = into.length;
  const enabled = after[n] - before[n];
  const running = after[n + 1] - before[n + 1];
  const scale = sampleScale(enabled, running);
  if (scale === 0) {
    if (track) tally.notCounted++;
    return;
  }
  if (track) {
    if (scale > 1) tally.multiplexed++;
    tally.running.push(1 / scale);
  }
  for (let i = 0; i < n; i++) into[i].push(((after[i] - before[i]) * scale) / batch);
}

/** Samples are taken again at most this many times (see {@link steady}). */
const RETAKES_MAX = 3;
/** ... and only while less than this share of maxMs has gone. */
const RETAKE_SHARE = 0.25;
/** Halves whose medians are this close (relative) agree, whatever their spread. */
const STEADY_RELATIVE = 0.05;

/**
 * Takes `warm` pairs of samples and throws them away, then up to `samples`
 * pairs into `tally` (until `deadline`, at least one); returns the pairs
 * kept. Each pair is a sample of `fn` and one of `empty`; pairs alternate
 * which goes first (counting from `first`), so drift within a pair falls
 * on both.
 */
function takePairs(
  fn: () => unknown,
  empty: () => unknown,
  batch: number,
  group: Group,
  before: Float64Array,
  after: Float64Array,
  tally: Tally,
  plan: { warm: number; samples: number; first: number; deadline: number },
): number {
  let taken = 0;
  for (let s = 0; s < plan.warm + plan.samples; s++) {
    const warm = s < plan.warm;
    for (const which of (plan.first + s) % 2 === 0 ? [0, 1] : [1, 0]) {
      sample(group, which === 0 ? fn : empty, batch, before, after);
      if (!warm) {
        record(which === 0 ? tally.fn : tally.empty, before, after, batch, tally, which === 0);
      }
    }
    if (!warm) taken++;
    if (performance.now() > plan.deadline && taken > 0) break;
  }
  return taken;
}

function clearTally(tally: Tally): void {
  for (const values of [...tally.fn, ...tally.empty]) values.length = 0;
  tally.running.length = 0;
  tally.multiplexed = 0;
  tally.notCounted = 0;
}

/** Whether no series of the tally moved by a step (see {@link steadySeries}). */
function steady(tally: Tally): boolean {
  return [...tally.fn, ...tally.empty].every(steadySeries);
}

/**
 * Whether a series of counts per call, in the order taken, kept one level:
 * the medians of its first and second halves differ by no more than 5%, or
 * than 3 MADs of the noisier half. A step between the halves, or late in
 * the first, leaves them apart; noise of any size does not. Fewer than 8
 * values always pass.
 */
export function steadySeries(values: readonly number[]): boolean {
  if (values.length < 8) return true;
  const middle = values.length >> 1;
  const a = distribution(values.slice(0, middle));
  const b = distribution(values.slice(middle));
  const apart = Math.abs(a.median - b.median);
  const scale = Math.max(Math.abs(a.median), Math.abs(b.median));
  return apart <= STEADY_RELATIVE * scale || apart <= 3 * Math.max(a.mad, b.mad);
}

/**
 * Counts what one call of `fn` costs in each event: warm-up, then samples
 * of `batch` calls each, interleaved with samples of an empty function
 * taken the same way, whose median is subtracted. The events are counted
 * together in one group. An event that does not open here, or that the
 * kernel never ran, comes back with its reason instead of numbers.
 *
 * @param fn A synchronous function; its result is kept so the call is not
 * optimized away.
 * @param options See {@link MeasureOptions}.
 * @returns Per event, its distribution per call, or why there is none.
 * @throws {PerfError} `INVALID_OPTION` or `INVALID_EVENT` for bad input, and
 * `INVALID_OPTION` when `fn` returns a promise.
 *
 * @example The page faults of touching fresh memory
 * ```ts
 * import { measure } from "@perfmmap/perfmmap";
 * import assert from "node:assert/strict";
 *
 * const result = measure(() => new Uint8Array(1 << 16).fill(1), {
 *   events: ["page-faults", "cycles"],
 *   samples: 20,
 * });
 * const [faults, cycles] = result.events;
 * assert.equal(faults.status, "counted");
 * // On a machine without a hardware PMU, cycles says why instead of a 0:
 * if (cycles.status !== "counted") assert.ok(cycles.reason.length > 0);
 * ```
 */
export function measure(fn: () => unknown, options?: MeasureOptions): MeasureResult {
  if (typeof fn !== "function") {
    throw badOption(OP, `measure needs a function, got ${describe(fn)}`);
  }
  const resolved = resolve(options);
  for (const event of resolved.events) parseEvent(event); // bad syntax throws here
  const first = fn();
  if (
    first !== null && typeof first === "object" &&
    typeof (first as { then?: unknown }).then === "function"
  ) {
    throw badOption(OP, "measure counts synchronous functions; fn returned a promise");
  }
  const refused = classify(resolved.events);
  const counted = resolved.events.filter((event) => refused.get(event) === undefined);
  const result: MeasureResult = {
    events: [],
    batch: resolved.batch === "auto" ? 1 : resolved.batch,
    samples: 0,
    warmup: resolved.warmup,
  };
  if (counted.length === 0) {
    result.events = resolved.events.map((event) => refused.get(event)!);
    return result;
  }
  using group = Group.open(counted);
  const batch = resolved.batch === "auto" ? pickBatch(group, fn, counted) : resolved.batch;
  result.batch = batch;
  const empty = () => undefined;
  const before = new Float64Array(counted.length + 2);
  const after = new Float64Array(counted.length + 2);
  const tally: Tally = {
    fn: counted.map(() => []),
    empty: counted.map(() => []),
    multiplexed: 0,
    notCounted: 0,
    running: [],
  };
  const start = performance.now();
  const deadline = start + resolved.maxMs;
  const retakeBy = start + resolved.maxMs * RETAKE_SHARE;
  let taken = 0;
  let warmed = 0;
  for (let retakes = 0;; retakes++) {
    taken = takePairs(fn, empty, batch, group, before, after, tally, {
      warm: resolved.warmup,
      samples: resolved.samples,
      first: warmed,
      deadline,
    });
    warmed += resolved.warmup;
    // A step within the samples (a JIT that compiled the function or the
    // empty one late, as on a busy machine): the medians would mix two
    // programs. The samples taken count as warm-up, and are taken again.
    if (retakes === RETAKES_MAX || performance.now() > retakeBy || steady(tally)) break;
    warmed += taken;
    clearTally(tally);
  }
  result.warmup = warmed;
  result.samples = taken;
  result.events = resolved.events.map((event) => {
    const reason = refused.get(event);
    if (reason !== undefined) return reason;
    const i = counted.indexOf(event);
    if (tally.fn[i].length === 0 || tally.empty[i].length === 0) {
      return {
        event,
        status: "not counted",
        code: "NOT_COUNTED",
        reason: `the kernel never ran the group of ${counted.length} event(s) on the PMU ` +
          `(timeRunning stayed 0 in all ${taken} samples)`,
        hint: "count fewer events at once, or free the counters others hold " +
          "(e.g. the NMI watchdog: sysctl kernel.nmi_watchdog=0)",
      };
    }
    const emptyPerCall = distribution(tally.empty[i]).median;
    return {
      event,
      status: "counted",
      perCall: distribution(tally.fn[i].map((v) => v - emptyPerCall)),
      emptyPerCall,
      multiplexed: tally.multiplexed,
      notCounted: tally.notCounted,
    };
  });
  if (tally.running.length > 0) result.running = distribution(tally.running);
  dropSink();
  return result;
}
