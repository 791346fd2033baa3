/**
 * Counters for `Deno.bench`: one import line at the top of a bench file, and
 * after Deno's own table comes a table of what one iteration of each case
 * costs in counter events (by default cycles, instructions, branch misses
 * and cache misses).
 *
 * Deno times each case as usual: this module never wraps the function Deno
 * times. It records each case as it is registered, and when the bench run
 * ends (the `unload` event) it counts each case with {@link measure}: the
 * events read as one group, an empty function's cost subtracted. Events that
 * cannot be counted here are named once, with the reason, instead of
 * numbers.
 *
 * ```sh
 * deno bench --allow-ffi my_bench.ts
 * ```
 *
 * @example The one line, then benches as usual
 * ```ts
 * import { benchCounters } from "@perfmmap/perfmmap/deno-bench";
 * import assert from "node:assert/strict";
 *
 * // Optional: choose the events (these defaults need a hardware PMU).
 * benchCounters({ events: ["instructions", "branch-misses"] });
 * assert.equal(typeof benchCounters, "function");
 * ```
 *
 * @module
 */

import {
  measure,
  MEASURE_DEFAULT_EVENTS,
  type MeasuredEvent,
  type UncountedEvent,
} from "./measure.ts";
import { PerfError } from "./errors.ts";

/** Options of {@link benchCounters}. */
export interface BenchCountersOptions {
  /** The events to count per iteration (default: cycles, instructions, branch-misses, cache-misses). */
  events?: readonly string[];
  /** Samples per case (default 100). */
  samples?: number;
}

interface BenchCase {
  name: string;
  fn: (context: unknown) => unknown;
  usesContext: boolean;
}

interface DenoLike {
  bench: (...args: unknown[]) => unknown;
}

const cases: BenchCase[] = [];
let events: readonly string[] = MEASURE_DEFAULT_EVENTS;
let samples = 100;

/** A `Deno.BenchContext` whose `start()`/`end()` do nothing: the whole call is counted. */
const CONTEXT = Object.freeze({ name: "", origin: "", start() {}, end() {} });

function own(value: unknown, key: string): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  const descriptor = Object.getOwnPropertyDescriptor(value, key);
  return descriptor !== undefined && "value" in descriptor ? descriptor.value : undefined;
}

/** The name and function of one `Deno.bench` call, whichever overload it used. */
function parse(args: readonly unknown[]): BenchCase | undefined {
  const last = args[args.length - 1];
  const options = args.find((arg) => typeof arg === "object" && arg !== null);
  const fn = typeof last === "function" ? last : own(options, "fn");
  if (typeof fn !== "function" || own(options, "ignore") === true) return undefined;
  const given = typeof args[0] === "string" ? args[0] : own(options, "name");
  const name = typeof given === "string" && given !== "" ? given : fn.name;
  return { name, fn: fn as BenchCase["fn"], usesContext: fn.length > 0 };
}

function format(value: number): string {
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]) =>
    `| ${
      row.map((cell, c) => c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join(" | ")
    } |`;
  const rule = `| ${
    widths.map((w, c) => c === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`).join(" | ")
  } |`;
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join("\n");
}

/** Counts every registered case: the table, and the reasons for what was not counted. */
function report(): string {
  if (cases.length === 0) return "";
  const reasons = new Map<string, UncountedEvent>();
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const bench of cases) {
    const fn = bench.usesContext ? () => bench.fn(CONTEXT) : () => bench.fn(undefined);
    try {
      const result = measure(fn, { events, samples, warmup: 10 });
      const cells = result.events.map((event) => {
        if (event.status === "counted") return format((event as MeasuredEvent).perCall.median);
        reasons.set(event.event, event);
        return "";
      });
      rows.push([bench.usesContext ? `${bench.name} (*)` : bench.name, ...cells]);
    } catch (error) {
      const why = error instanceof PerfError ? error.message.split("\n")[0] : String(error);
      notes.push(`${bench.name}: not counted: ${why}`);
    }
  }
  const counted = events.map((_, i) => i).filter((i) => !reasons.has(events[i]));
  const lines: string[] = [];
  if (counted.length > 0 && rows.length > 0) {
    lines.push(
      `perfmmap: per iteration (median of ${samples} samples, an empty function's cost subtracted)`,
    );
    lines.push(
      table([
        ["benchmark", ...counted.map((i) => events[i])],
        ...rows.map((row) => [row[0], ...counted.map((i) => row[i + 1])]),
      ]),
    );
    if (cases.some((bench) => bench.usesContext)) {
      lines.push("(*) counts the whole call: b.start() and b.end() are not honoured");
    }
  }
  // One line per cause, however many events share it.
  const causes = new Map<string, { events: string[]; why: UncountedEvent }>();
  for (const [event, why] of reasons) {
    const key = `${why.status}\0${why.code}\0${why.hint ?? ""}`;
    const cause = causes.get(key) ?? { events: [], why };
    cause.events.push(event);
    causes.set(key, cause);
  }
  for (const { events: names, why } of causes.values()) {
    const reason = names.length === 1 ? why.reason : why.code;
    const hint = why.hint === undefined ? "" : `; ${why.hint}`;
    lines.push(`perfmmap: ${why.status} here: ${names.join(", ")}: ${reason}${hint}`);
  }
  lines.push(...notes.map((note) => `perfmmap: ${note}`));
  return lines.join("\n");
}

/**
 * Chooses the events and samples of the table printed after `Deno.bench`'s.
 * Importing this module is enough to get the defaults.
 *
 * @param options See {@link BenchCountersOptions}.
 * @returns Nothing.
 * @throws {PerfError} `INVALID_OPTION` for a bad option.
 *
 * @example Counting instructions only
 * ```ts
 * import { benchCounters } from "@perfmmap/perfmmap/deno-bench";
 * benchCounters({ events: ["instructions"], samples: 50 });
 * ```
 */
export function benchCounters(options: BenchCountersOptions = {}): void {
  if (typeof options !== "object" || options === null) {
    throw new PerfError("INVALID_OPTION", "benchCounters takes an options object", { op: "bench" });
  }
  const chosen = own(options, "events");
  if (chosen !== undefined) {
    if (
      !Array.isArray(chosen) || chosen.length === 0 || chosen.some((e) => typeof e !== "string")
    ) {
      throw new PerfError("INVALID_OPTION", "option events must be a non-empty array of strings", {
        op: "bench",
      });
    }
    events = [...chosen];
  }
  const count = own(options, "samples");
  if (count !== undefined) {
    if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 1_000_000) {
      throw new PerfError("INVALID_OPTION", "option samples must be an integer from 1 to 1000000", {
        op: "bench",
      });
    }
    samples = count;
  }
}

function install(): void {
  const deno = (globalThis as unknown as { Deno?: DenoLike }).Deno;
  if (deno === undefined || typeof deno.bench !== "function") return;
  const original = deno.bench;
  deno.bench = function bench(this: unknown, ...args: unknown[]): unknown {
    const registered = parse(args);
    if (registered !== undefined) cases.push(registered);
    return original.apply(this, args);
  };
  (globalThis as unknown as EventTarget).addEventListener("unload", () => {
    const text = report();
    if (text !== "") console.log(`\n${text}`);
  });
}

install();
