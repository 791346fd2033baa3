// The sampling machinery shared by measure() and leakTest(): which events
// open here (and why not), one group read into a caller's buffer, the batch
// size for time-like events, and where results go so calls are not
// optimized away.

import { Group } from "./group.ts";
import { PerfError } from "./errors.ts";
import { parseEvent } from "./event.ts";
import { describe } from "./_input.ts";

/** An event that has no numbers, and why. */
export interface UncountedEvent {
  /** The event as given. */
  event: string;
  /**
   * `"not supported"`: it does not open here. `"not counted"`: it opened but
   * the kernel never ran it on the PMU while the function ran.
   */
  status: "not supported" | "not counted";
  /** The error code (`ENOENT`, `EACCES`, ...) or `NOT_COUNTED`. */
  code: string;
  /** The reason, in words. */
  reason: string;
  /** What to do about it, when something can be done. */
  hint?: string;
}

/** The largest batch `"auto"` picks. */
export const BATCH_MAX = 10_000_000;
/** A time-like sample lasts at least this long (ns). */
const TIME_LIKE_SAMPLE_NS = 20_000;
/** ... and at least this many reads of the group. */
const TIME_LIKE_READS = 50;

/** Software clocks: their counts are time, so one call is below their read's noise. */
export function timeLike(event: string): boolean {
  const spec = parseEvent(event);
  return spec.type === 1 && (spec.config === 0n || spec.config === 1n);
}

export function unsupported(event: string, error: unknown): UncountedEvent {
  if (!(error instanceof PerfError)) throw error;
  return {
    event,
    status: "not supported",
    code: String(error.code),
    reason: error.message.split("\nhint: ")[0],
    ...(error.hint === undefined ? {} : { hint: error.hint }),
  };
}

/** Opens each event alone to learn which open here; the others get their reason. */
export function classify(events: readonly string[]): Map<string, UncountedEvent | undefined> {
  const result = new Map<string, UncountedEvent | undefined>();
  for (const event of events) {
    try {
      using group = Group.open([event]);
      group.read();
      result.set(event, undefined);
    } catch (error) {
      result.set(event, unsupported(event, error));
    }
  }
  return result;
}

/**
 * Reads the group into `out`: counts in order, then time enabled, then time
 * running (`Group.readInto`: no allocation, from userspace when the group's
 * pages allow it).
 */
export function readGroup(group: Group, out: Float64Array): void {
  group.readInto(out);
}

// Where each result goes, so that no call is optimized away (a module
// variable is visible to other closures, so JITs keep the store).
let _sink: unknown;

/** Drops the last result kept (so a measured function's result can be collected). */
export function dropSink(): void {
  _sink = undefined;
}

/** Sets `out` to the per-call deltas of one sample of `batch` calls of `fn`. */
export function sample(
  group: Group,
  fn: () => unknown,
  batch: number,
  before: Float64Array,
  after: Float64Array,
): void {
  readGroup(group, before);
  for (let i = 0; i < batch; i++) _sink = fn();
  readGroup(group, after);
}

/**
 * Nanoseconds per call of `fn`: the least of three timings of enough calls
 * to last about 1 ms each (the least, because interference only adds), after
 * a few calls to warm it up (a first call that compiles would otherwise
 * stand for all of them).
 */
export function timePerCall(fn: () => unknown): number {
  for (let i = 0; i < 3; i++) _sink = fn();
  let calls = 1;
  for (;; calls *= 4) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) _sink = fn();
    if ((performance.now() - start) * 1e6 >= 1e6 || calls >= BATCH_MAX) break;
  }
  let least = Infinity;
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) _sink = fn();
    least = Math.min(least, ((performance.now() - start) * 1e6) / calls);
  }
  return Math.max(least, 0.01);
}

export function pickBatch(group: Group, fn: () => unknown, events: readonly string[]): number {
  if (!events.some(timeLike)) return 1;
  const scratch = new Float64Array(events.length + 2);
  const readNs = timePerCall(() => readGroup(group, scratch));
  const callNs = timePerCall(fn);
  const targetNs = Math.max(TIME_LIKE_SAMPLE_NS, TIME_LIKE_READS * readNs);
  return Math.min(BATCH_MAX, Math.max(1, Math.ceil(targetNs / callNs)));
}

/** An INVALID_OPTION of measure() or leakTest(). */
export function badOption(op: string, message: string, cause?: unknown): PerfError {
  return new PerfError("INVALID_OPTION", message, { op, cause });
}

/**
 * An integer option from an own-properties copy (ownRecord): `fallback` when
 * absent, else an integer in [min, max] (-0 becomes 0), else INVALID_OPTION.
 */
export function integerOption(
  op: string,
  given: Readonly<Record<string, unknown>>,
  key: string,
  bounds: { fallback: number; min: number; max: number },
): number {
  const value = given[key];
  if (value === undefined) return bounds.fallback;
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < bounds.min ||
    value > bounds.max
  ) {
    throw badOption(
      op,
      `option ${key} must be an integer from ${bounds.min} to ${bounds.max}, got ${
        describe(value)
      }`,
    );
  }
  return value + 0;
}

/** Refuses keys of `given` that are not in `known`. */
export function knownKeys(op: string, given: object, known: ReadonlySet<string>): void {
  for (const key of Object.keys(given)) {
    if (!known.has(key)) {
      throw badOption(
        op,
        `unknown option ${JSON.stringify(key)} (known: ${[...known].join(", ")})`,
      );
    }
  }
}

/**
 * How much a sample's counts must be scaled for multiplexing, from the
 * deltas of the group's times over the sample: 0 when the group was enabled
 * but never on the PMU (not counted), `enabled / running` when it was on for
 * part of the time, else 1. Times that did not move at all are not "never
 * ran": a page read from userspace leaves them as the kernel last wrote them
 * (at a context switch) unless the group is multiplexed, so equal times mean
 * it ran the whole sample.
 */
export function sampleScale(enabled: number, running: number): number {
  if (running <= 0) return enabled > 0 ? 0 : 1;
  return enabled > running ? enabled / running : 1;
}
