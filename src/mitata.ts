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
import { sampleScale } from "./_sampler.ts";

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

/** A provider of mitata's counters interface: the five functions mitata calls. */
export interface MitataProvider {
  /** Opens the events; throws (after printing the reason once) when one cannot be counted. */
  init(): void;
  /** Reads the counters at the start of a sample. */
  before(): void;
  /** Reads them at the end of a sample and adds its deltas. */
  after(): void;
  /** The counts per call since the last translate. */
  translate(batch?: number, samples?: number): MitataCountersPartial;
  /** Closes the events. */
  deinit(): void;
}

/**
 * What a provider made by {@link mitataCounters} with fewer events returns:
 * a group whose events were not chosen is `null`, as `@mitata/counters`
 * gives it for events it cannot open.
 */
export interface MitataCountersPartial {
  /** CPU cycles, when chosen. */
  cycles: MitataStat | null;
  /** Instructions retired, when chosen. */
  instructions: MitataStat | null;
  /** Cache references and misses, when both are chosen. */
  cache: (MitataStat & { misses: MitataStat }) | null;
  /** Branches and mispredictions, when both are chosen. */
  branches: (MitataStat & { mispredicted: MitataStat }) | null;
  /** Branch mispredictions, when chosen. */
  _bmispred: MitataStat | null;
}

class Provider implements MitataProvider {
  readonly #events: readonly string[];
  #group: Group | undefined;
  #before: Float64Array;
  #after: Float64Array;
  #min: Float64Array;
  #max: Float64Array;
  #total: Float64Array;
  #samples = 0;
  /** Samples in which the group was not on the PMU at all. */
  #uncounted = 0;
  #reported = false;

  constructor(events: readonly string[]) {
    this.#events = events;
    const n = events.length;
    this.#before = new Float64Array(n + 2);
    this.#after = new Float64Array(n + 2);
    this.#min = new Float64Array(n);
    this.#max = new Float64Array(n);
    this.#total = new Float64Array(n);
    this.#clear();
  }

  #clear(): void {
    this.#min.fill(Infinity);
    this.#max.fill(-Infinity);
    this.#total.fill(0);
    this.#samples = 0;
    this.#uncounted = 0;
  }

  /** Says once why there are no counter lines, then throws. */
  #refuse(error: PerfError): never {
    if (!this.#reported) {
      this.#reported = true;
      const hint = error.hint === undefined ? "" : ` (${error.hint})`;
      console.error(
        `perfmmap: mitata prints no hardware counters here: ${error.message.split("\nhint: ")[0]}` +
          hint,
      );
    }
    throw error;
  }

  init(): void {
    // mitata calls init() once per benchmark and never deinit(): keep the group.
    if (this.#group !== undefined) return;
    let group: Group;
    try {
      group = Group.open(this.#events, { userspace: "auto" });
    } catch (error) {
      if (error instanceof PerfError) this.#refuse(error);
      throw error;
    }
    // A group too large for the free counters opens but never runs (PAPI's
    // check): refuse it here, where mitata still prints no lines, rather than
    // hand mitata samples with nothing in them.
    const first = group.read();
    for (let i = 0, x = 0; i < 100_000; i++) x += i;
    const again = group.read();
    if (again.timeEnabled > first.timeEnabled && again.timeRunning === first.timeRunning) {
      group.close();
      this.#refuse(
        new PerfError(
          "NOT_COUNTED",
          `the ${this.#events.length} events open but never run on the PMU together`,
          {
            op: "open",
            hint:
              "free the counters others hold (e.g. the NMI watchdog: sysctl kernel.nmi_watchdog=0)",
          },
        ),
      );
    }
    this.#group = group;
    this.#clear();
  }

  #opened(): Group {
    if (this.#group === undefined) {
      throw new PerfError("INVALID_OPTION", "call init() before reading counters", { op: "read" });
    }
    return this.#group;
  }

  before(): void {
    readInto(this.#opened(), this.#before);
  }

  after(): void {
    const after = this.#after;
    const before = this.#before;
    readInto(this.#opened(), after);
    const n = this.#events.length;
    const scale = sampleScale(after[n] - before[n], after[n + 1] - before[n + 1]);
    if (scale === 0) {
      this.#uncounted++;
      return;
    }
    for (let i = 0; i < n; i++) {
      const delta = (after[i] - before[i]) * scale;
      if (delta < this.#min[i]) this.#min[i] = delta;
      if (delta > this.#max[i]) this.#max[i] = delta;
      this.#total[i] += delta;
    }
    this.#samples++;
  }

  #stat(event: string, batch: number): MitataStat | null {
    const i = this.#events.indexOf(event);
    if (i < 0) return null;
    return {
      min: this.#min[i] / batch,
      max: this.#max[i] / batch,
      avg: this.#total[i] / batch / this.#samples,
    };
  }

  translate(batch = 1, _samples = 1): MitataCountersPartial {
    this.#opened();
    if (this.#samples === 0) {
      const error = new PerfError(
        "NOT_COUNTED",
        `the counters never ran on the PMU in ${this.#uncounted} sample(s)`,
        { op: "read", hint: "count fewer events at once, or free counters others hold" },
      );
      this.#clear();
      throw error;
    }
    const divisor = batch > 0 ? batch : 1;
    const references = this.#stat("cache-references", divisor);
    const misses = this.#stat("cache-misses", divisor);
    const branches = this.#stat("branches", divisor);
    const mispredicted = this.#stat("branch-misses", divisor);
    const result: MitataCountersPartial = {
      cycles: this.#stat("cycles", divisor),
      instructions: this.#stat("instructions", divisor),
      cache: references !== null && misses !== null ? { ...references, misses } : null,
      branches: branches !== null && mispredicted !== null ? { ...branches, mispredicted } : null,
      _bmispred: mispredicted,
    };
    this.#clear();
    return result;
  }

  deinit(): void {
    const group = this.#group;
    this.#group = undefined;
    group?.close();
  }
}

/** Counts in order, then time enabled and running, with no allocation. */
function readInto(group: Group, out: Float64Array): void {
  group.readInto(out);
}

const KNOWN = new Set(MITATA_EVENTS.map(([event]) => event));

/**
 * A provider for mitata's `measure(fn, { $counters })` that counts only
 * `events` (a subset of {@link MITATA_EVENTS}' names): `translate()` gives
 * `null` for the groups whose events were not chosen. mitata's `run()`
 * prints its Linux line only with all six, so the module's own functions
 * (what `@mitata/counters` is replaced by) always count all six.
 *
 * @param events The events to count (default: all six).
 * @returns A provider.
 * @throws {PerfError} `INVALID_OPTION` for an event mitata has no field for.
 *
 * @example Cycles and instructions only
 * ```ts
 * import { mitataCounters } from "@perfmmap/perfmmap/mitata";
 * import assert from "node:assert/strict";
 *
 * const counters = mitataCounters(["cycles", "instructions"]);
 * assert.equal(typeof counters.init, "function");
 * ```
 */
export function mitataCounters(
  events: readonly string[] = MITATA_EVENTS.map(([event]) => event),
): MitataProvider {
  if (!Array.isArray(events) || events.length === 0) {
    throw new PerfError("INVALID_OPTION", "events must be a non-empty array of event names", {
      op: "open",
    });
  }
  for (const event of events) {
    if (!KNOWN.has(event)) {
      throw new PerfError(
        "INVALID_OPTION",
        `mitata has no field for ${JSON.stringify(String(event))}`,
        { op: "open", hint: `choose among ${[...KNOWN].join(", ")}` },
      );
    }
  }
  return new Provider([...events]);
}

const strict = new Provider(MITATA_EVENTS.map(([event]) => event));

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
  strict.init();
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
  strict.before();
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
  strict.after();
}

/**
 * The counts per call since the last translate: `batch` calls per sample.
 *
 * @param batch Calls of the function per sample.
 * @param samples mitata's sample count (the samples counted are used instead).
 * @returns The shape mitata prints.
 * @throws {PerfError} `NOT_COUNTED` when no sample was counted.
 *
 * @example See the module example.
 * ```ts
 * import { translate } from "@perfmmap/perfmmap/mitata";
 * console.log(typeof translate);
 * ```
 */
export function translate(batch = 1, samples = 1): MitataCounters {
  return strict.translate(batch, samples) as MitataCounters;
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
  strict.deinit();
}
