/**
 * A counters provider for mitata, backed by perfmmap: the same five
 * functions as `@mitata/counters` (`init`, `before`, `after`, `translate`,
 * `deinit`), with the result shape mitata prints on Linux.
 *
 * mitata's `run()` imports `@mitata/counters` by name, so install this
 * module under that name (an npm alias of the `perfmmap-mitata-counters`
 * package, which re-exports this module), or hand it to mitata's `measure()`
 * as `$counters`. When the hardware events cannot be counted, `init()`
 * prints the reason once on stderr and throws a `PerfError`; mitata then
 * prints no counter lines rather than `0.00 cycles` or `NaN ipc`.
 *
 * @example With mitata's measure()
 * ```ts
 * import * as counters from "@perfmmap/perfmmap/mitata";
 * import { PerfError } from "@perfmmap/perfmmap";
 * import assert from "node:assert/strict";
 *
 * try {
 *   counters.init();
 *   counters.before();
 *   for (let i = 0; i < 1000; i++);
 *   counters.after();
 *   const result = counters.translate(1, 1);
 *   assert.ok(result.cycles.avg > 0);
 *   counters.deinit();
 * } catch (error) {
 *   // no hardware PMU here: the reason was printed once, and no numbers exist
 *   assert.ok(error instanceof PerfError);
 * }
 * ```
 *
 * @module
 */

import { Group } from "./group.ts";
import { PerfError } from "./errors.ts";

/** The events mitata's Linux output needs, by the name `@mitata/counters` gives each. */
export const MITATA_EVENTS: readonly (readonly [string, string])[] = Object.freeze(
  [
    ["cycles", "CPU_CYCLES"],
    ["instructions", "INSTRUCTIONS"],
    ["cache-references", "CACHE_REFERENCES"],
    ["cache-misses", "CACHE_MISSES"],
    ["branches", "BRANCH_INSTRUCTIONS"],
    ["branch-misses", "BRANCH_MISSES"],
  ] as const,
);

/** min, max and mean per call of one event, as mitata prints them. */
export interface MitataStat {
  /** The smallest count per call in a sample. */
  min: number;
  /** The largest count per call in a sample. */
  max: number;
  /** The mean count per call over all samples. */
  avg: number;
}

/** What {@link translate} returns: the shape of `@mitata/counters` on Linux. */
export interface MitataCounters {
  /** CPU cycles. */
  cycles: MitataStat;
  /** Instructions retired. */
  instructions: MitataStat;
  /** Cache references, and their misses. */
  cache: MitataStat & { misses: MitataStat };
  /** Branch instructions, and their mispredictions. */
  branches: MitataStat & { mispredicted: MitataStat };
  /** Branch mispredictions (what mitata prints as "branch misses"). */
  _bmispred: MitataStat;
}

const N = MITATA_EVENTS.length;

interface State {
  group: Group;
  before: Float64Array;
  after: Float64Array;
  min: Float64Array;
  max: Float64Array;
  total: Float64Array;
  /** Samples in which the group was not on the PMU at all. */
  uncounted: number;
  samples: number;
}

let state: State | undefined;
let reported = false;

function readInto(group: Group, out: Float64Array): void {
  const reading = group.read();
  for (let i = 0; i < N; i++) out[i] = reading.values[i];
  out[N] = reading.timeEnabled;
  out[N + 1] = reading.timeRunning;
}

function clear(s: State): void {
  s.min.fill(Infinity);
  s.max.fill(-Infinity);
  s.total.fill(0);
  s.samples = 0;
  s.uncounted = 0;
}

/** Says once per process why there are no counter lines, then throws. */
function refuse(error: PerfError): never {
  if (!reported) {
    reported = true;
    const hint = error.hint === undefined ? "" : ` (${error.hint})`;
    console.error(
      `perfmmap: mitata prints no hardware counters here: ${error.message.split("\nhint: ")[0]}` +
        hint,
    );
  }
  throw error;
}

/**
 * Opens the six events as one group. Throws (after printing the reason
 * once) when any of them cannot be counted here.
 *
 * @returns Nothing.
 * @throws {PerfError} Why the events cannot be counted.
 *
 * @example Opening and closing
 * ```ts
 * import { deinit, init } from "@perfmmap/perfmmap/mitata";
 * try {
 *   init();
 *   deinit();
 * } catch {
 *   // no hardware PMU here
 * }
 * ```
 */
export function init(): void {
  if (state !== undefined) return;
  let group: Group;
  try {
    group = Group.open(MITATA_EVENTS.map(([event]) => event), { userspace: "auto" });
  } catch (error) {
    if (error instanceof PerfError) refuse(error);
    throw error;
  }
  // A group too large for the free counters opens but never runs (PAPI's
  // check): refuse it here, where mitata still prints no lines, rather than
  // hand mitata samples with nothing in them.
  const probe = group.read();
  for (let i = 0, x = 0; i < 100_000; i++) x += i;
  const again = group.read();
  if (again.timeEnabled > probe.timeEnabled && again.timeRunning === probe.timeRunning) {
    group.close();
    refuse(
      new PerfError("NOT_COUNTED", `the ${N} events open but never run on the PMU together`, {
        op: "open",
        hint: "free the counters others hold (e.g. the NMI watchdog: sysctl kernel.nmi_watchdog=0)",
      }),
    );
  }
  state = {
    group,
    before: new Float64Array(N + 2),
    after: new Float64Array(N + 2),
    min: new Float64Array(N),
    max: new Float64Array(N),
    total: new Float64Array(N),
    uncounted: 0,
    samples: 0,
  };
  clear(state);
}

function opened(): State {
  if (state === undefined) {
    throw new PerfError("INVALID_OPTION", "call init() before reading counters", { op: "read" });
  }
  return state;
}

/**
 * Reads the counters at the start of a sample.
 *
 * @returns Nothing.
 *
 * @example See the module example.
 * ```ts
 * import { before } from "@perfmmap/perfmmap/mitata";
 * console.log(typeof before);
 * ```
 */
export function before(): void {
  const s = opened();
  readInto(s.group, s.before);
}

/**
 * Reads the counters at the end of a sample and adds its deltas (scaled
 * for multiplexing; a sample in which the group never ran is not added).
 *
 * @returns Nothing.
 *
 * @example See the module example.
 * ```ts
 * import { after } from "@perfmmap/perfmmap/mitata";
 * console.log(typeof after);
 * ```
 */
export function after(): void {
  const s = opened();
  readInto(s.group, s.after);
  const enabled = s.after[N] - s.before[N];
  const running = s.after[N + 1] - s.before[N + 1];
  if (running <= 0) {
    s.uncounted++;
    return;
  }
  const scale = enabled > running ? enabled / running : 1;
  for (let i = 0; i < N; i++) {
    const delta = (s.after[i] - s.before[i]) * scale;
    if (delta < s.min[i]) s.min[i] = delta;
    if (delta > s.max[i]) s.max[i] = delta;
    s.total[i] += delta;
  }
  s.samples++;
}

function stat(s: State, i: number, batch: number): MitataStat {
  return {
    min: s.min[i] / batch,
    max: s.max[i] / batch,
    avg: s.total[i] / batch / s.samples,
  };
}

/**
 * The counts per call since the last translate: `batch` calls per sample.
 *
 * @param batch Calls of the function per sample.
 * @param _samples mitata's sample count (the samples counted are used instead).
 * @returns The shape mitata prints.
 * @throws {PerfError} `NOT_COUNTED` when no sample was counted.
 *
 * @example See the module example.
 * ```ts
 * import { translate } from "@perfmmap/perfmmap/mitata";
 * console.log(typeof translate);
 * ```
 */
export function translate(batch = 1, _samples = 1): MitataCounters {
  const s = opened();
  if (s.samples === 0) {
    const error = new PerfError(
      "NOT_COUNTED",
      `the counters never ran on the PMU in ${s.uncounted} sample(s)`,
      { op: "read", hint: "count fewer events at once, or free counters others hold" },
    );
    clear(s);
    throw error;
  }
  const divisor = batch > 0 ? batch : 1;
  const branchMisses = stat(s, 5, divisor);
  const result: MitataCounters = {
    cycles: stat(s, 0, divisor),
    instructions: stat(s, 1, divisor),
    cache: { ...stat(s, 2, divisor), misses: stat(s, 3, divisor) },
    branches: { ...stat(s, 4, divisor), mispredicted: branchMisses },
    _bmispred: branchMisses,
  };
  clear(s);
  return result;
}

/**
 * Closes the counters.
 *
 * @returns Nothing.
 *
 * @example See the module example.
 * ```ts
 * import { deinit } from "@perfmmap/perfmmap/mitata";
 * deinit(); // harmless when not opened
 * ```
 */
export function deinit(): void {
  const s = state;
  state = undefined;
  s?.group.close();
}
