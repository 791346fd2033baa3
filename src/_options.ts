// The options of Counter, Group and Watchpoint, declared once: the public
// CounterOptions (with its docs), and RULES, one entry per option with its
// validator and whether a watchpoint takes it. The validator's key list,
// the resolved type and the watchpoint subset are derived from RULES, and
// the compiler checks that RULES has exactly CounterOptions' keys.

import { PerfError, quote } from "./errors.ts";
import { sysctl } from "./_sysfs.ts";
import { SAMPLE_FIELD_BITS } from "./_records.ts";
import { PERF_SAMPLE } from "./_uapi.ts";
import { describe, isArray, isPlainObject, ownArray, ownRecord } from "./_input.ts";
import type { RingOutput, SampleField, SamplingOptions } from "./sampling.ts";
import { knownErrno } from "./_errno.ts";

/** Userspace read mode: "auto" uses it when the kernel offers it. */
export type UserspaceMode = "auto" | "require" | "off";

/**
 * How to open a counter. Every field is optional. The sampling options
 * (`sample`, `sampleType`, `wakeup`, `ring`, `track`) are described in
 * {@link SamplingOptions}.
 */
export interface CounterOptions extends SamplingOptions {
  /** Thread to count: 0 (default) is the calling thread, -1 every process (needs `cpu`). */
  pid?: number;
  /** CPU to count on: -1 (default) is any CPU the thread runs on. */
  cpu?: number;
  /**
   * What not to count. By default nothing is excluded, except kernel and
   * hypervisor mode when this process may not count them
   * (`perf_event_paranoid` >= 2 without CAP_PERFMON), as `perf` does.
   * `:u`, `:k` and `:h` in the event name override this.
   */
  exclude?: { kernel?: boolean; hv?: boolean; user?: boolean; idle?: boolean };
  /** Count child threads and processes created after opening (default false). */
  inherit?: boolean;
  /**
   * Start counting when the counted task next calls exec (`enable_on_exec`;
   * default false). Use with `enabled: false` and the `pid` of a process
   * that is about to exec, as `perfmmap stat` does.
   */
  enableOnExec?: boolean;
  /** Keep the event on the PMU at all times, or fail (default false). */
  pinned?: boolean;
  /** Be the only group on the PMU while counting (default false). */
  exclusive?: boolean;
  /** Start counting at once (default true); else call `enable()`. */
  enabled?: boolean;
  /**
   * The userspace read: `"auto"` (default) uses it when the kernel offers
   * it, `"require"` fails at open with a hint saying why it is unavailable,
   * `"off"` always reads with `read(2)`.
   */
  userspace?: UserspaceMode;
  /**
   * When the userspace read finds no register (index 0) past the fast-spin
   * phase, serve the read with `read(2)` (default true).
   */
  fallback?: boolean;
}

/** Sampling options after validation (see SamplingOptions for the docs). */
export interface ResolvedSampling {
  /** The period, or the frequency when `freq`. */
  period: number;
  freq: boolean;
  /** PERF_SAMPLE_* bits. */
  sampleType: number;
  /** wakeup_events, or wakeup_watermark bytes when `watermark`. */
  wakeup: number;
  watermark: boolean;
  /** Data pages of the ring (when `output` is undefined). */
  pages: number;
  /** The counter whose ring receives this one's records. */
  output: RingOutput | undefined;
  track: { mmap: boolean; comm: boolean; task: boolean };
}

const EXCLUDE_KEYS = new Set(["kernel", "hv", "user", "idle"]);
const INT32_MAX = 0x7fff_ffff;

function bad(op: string, message: string, event?: string, cause?: unknown): PerfError {
  return new PerfError("INVALID_OPTION", message, { op, event, cause });
}

function boolean(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw bad(op, `option ${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}

/** -0 is 0: Deno's FFI refuses -0 for an i32, Bun passes 0. */
function integer(op: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < -1 || value > INT32_MAX) {
    throw bad(op, `option ${name} must be an integer from -1 to 2^31-1, got ${describe(value)}`);
  }
  return value === 0 ? 0 : value;
}

/** What a caller lets differ: a Group defaults userspace by its events. */
export interface OptionDefaults {
  userspace: UserspaceMode;
}

type Resolver<T> = (op: string, value: unknown, defaults: OptionDefaults) => T;

interface Rule<W extends boolean, T> {
  /** Whether Watchpoint.open takes it (a breakpoint has no register for userspace reads). */
  readonly watchpoint: W;
  /** Validates the given value (undefined: not given) and fills in the default. */
  readonly resolve: Resolver<T>;
  /** Resolved together with `sample` into `ResolvedOptions.sampling`. */
  readonly sampling?: true;
}

function rule<const W extends boolean, T>(watchpoint: W, resolve: Resolver<T>): Rule<W, T> {
  return { watchpoint, resolve };
}

/** A sampling option: checked as a whole by resolveSampling. */
function samplingRule(): Rule<true, unknown> {
  return { watchpoint: true, resolve: (_op, value) => value, sampling: true };
}

function resolveExclude(op: string, value: unknown): ExcludeOptions {
  const exclude = ownRecord({ op }, "option exclude", value === undefined ? {} : value);
  for (const [key, given] of Object.entries(exclude)) {
    if (!EXCLUDE_KEYS.has(key)) {
      throw bad(op, `unknown exclude key ${quote(key)} (known: kernel, hv, user, idle)`);
    }
    if (typeof given !== "boolean") {
      throw bad(op, `exclude.${key} must be a boolean, got ${describe(given)}`);
    }
  }
  return exclude as ExcludeOptions;
}

function resolveUserspace(op: string, value: unknown, defaults: OptionDefaults): UserspaceMode {
  const userspace = value === undefined ? defaults.userspace : value;
  if (userspace !== "auto" && userspace !== "require" && userspace !== "off") {
    throw bad(
      op,
      `option userspace must be "auto", "require" or "off", got ${describe(userspace)}`,
    );
  }
  return userspace;
}

/** The options as given, by name: see {@link CounterOptions} for what each does. */
const RULES = {
  pid: rule(true, (op, value) => integer(op, "pid", value, 0)),
  cpu: rule(true, (op, value) => integer(op, "cpu", value, -1)),
  exclude: rule(true, resolveExclude),
  inherit: rule(true, (op, value) => boolean(op, "inherit", value, false)),
  pinned: rule(true, (op, value) => boolean(op, "pinned", value, false)),
  exclusive: rule(true, (op, value) => boolean(op, "exclusive", value, false)),
  enabled: rule(true, (op, value) => boolean(op, "enabled", value, true)),
  userspace: rule(false, resolveUserspace),
  fallback: rule(false, (op, value) => boolean(op, "fallback", value, true)),
  enableOnExec: rule(false, (op, value) => boolean(op, "enableOnExec", value, false)),
  sample: samplingRule(),
  sampleType: samplingRule(),
  wakeup: samplingRule(),
  ring: samplingRule(),
  track: samplingRule(),
} as const satisfies { readonly [K in keyof Required<CounterOptions>]: Rule<boolean, unknown> };

type Rules = typeof RULES;
type SamplingKey = keyof SamplingOptions;
type ExcludeOptions = NonNullable<CounterOptions["exclude"]>;

/** Options after validation, with defaults filled in. */
export type ResolvedOptions =
  & { -readonly [K in Exclude<keyof Rules, SamplingKey>]: ReturnType<Rules[K]["resolve"]> }
  & {
    /** Present when the counter samples into a ring. */
    sampling: ResolvedSampling | undefined;
  };

/**
 * The options Watchpoint.open refuses: a breakpoint has no register to read
 * from userspace, and is not started by an exec.
 *
 * @example The options a watchpoint takes
 * ```ts
 * import type { CounterOptions, NotForWatchpoints } from "@perfmmap/perfmmap";
 *
 * type Taken = Omit<CounterOptions, NotForWatchpoints>;
 * const options: Taken = { exclude: { kernel: true }, inherit: false };
 * console.log(Object.keys(options));
 * ```
 */
export type NotForWatchpoints = "userspace" | "fallback" | "enableOnExec";

// The list above is written out because a published type must not be
// inferred (JSR's slow types); the compiler holds it to RULES' flags.
type RefusedByRules = {
  [K in keyof Rules]: Rules[K]["watchpoint"] extends false ? K : never;
}[keyof Rules];
const _sameRefused: [RefusedByRules] extends [NotForWatchpoints]
  ? [NotForWatchpoints] extends [RefusedByRules] ? true : never
  : never = true;

const KEYS: readonly string[] = Object.keys(RULES);

/** The names of {@link NotForWatchpoints}, for the check at run time. */
export const NOT_FOR_WATCHPOINTS: readonly string[] = KEYS.filter((key) =>
  !RULES[key as keyof Rules].watchpoint
);

/**
 * Validates options: own properties only, every key known, every value
 * checked by its rule. `defaults` lets a Group default userspace by its
 * events.
 */
export function resolveOptions(
  op: string,
  options: unknown,
  defaults: OptionDefaults,
): ResolvedOptions {
  // Only undefined means "not given", for every option: null is refused.
  const raw = options === undefined ? {} : options;
  if (!isPlainObject(raw)) throw bad(op, `options must be an object, got ${describe(raw)}`);
  const own = ownRecord({ op }, "options", raw);
  for (const key of Object.keys(own)) {
    if (!KEYS.includes(key)) {
      throw bad(op, `unknown option ${quote(key)} (known: ${KEYS.join(", ")})`);
    }
  }
  const resolved: Record<string, unknown> = {};
  for (const key of KEYS) {
    const entry: Rule<boolean, unknown> = RULES[key as keyof Rules];
    if (entry.sampling !== true) resolved[key] = entry.resolve(op, own[key], defaults);
    if (key === "cpu" && resolved.pid === -1 && resolved.cpu === -1) {
      throw bad(
        op,
        "pid -1 (every process) needs a cpu >= 0; pid 0 with cpu -1 counts this thread",
      );
    }
  }
  resolved.sampling = resolveSampling(op, own);
  return resolved as ResolvedOptions;
}

/**
 * Validates options that may name only `keys` (SimulatedCounter takes
 * userspace and fallback), by the same rules as {@link resolveOptions}.
 */
export function resolveOnly<K extends Exclude<keyof Rules, SamplingKey>>(
  context: { op: string; event: string },
  options: unknown,
  keys: readonly K[],
  defaults: OptionDefaults,
): Pick<ResolvedOptions, K> {
  const { op, event } = context;
  const own = ownRecord(context, "options", options === undefined ? {} : options);
  for (const key of Object.keys(own)) {
    if (!(keys as readonly string[]).includes(key)) {
      throw bad(op, `unknown option ${quote(key)} (known: ${keys.join(", ")})`, event);
    }
  }
  const resolved: Record<string, unknown> = {};
  for (const key of keys) {
    try {
      resolved[key] = RULES[key].resolve(op, own[key], defaults);
    } catch (error) {
      if (!(error instanceof PerfError)) throw error;
      throw new PerfError(error.code, error.message, { op, event, cause: error.cause });
    }
  }
  return resolved as Pick<ResolvedOptions, K>;
}

const SAMPLING_KEYS = ["sampleType", "wakeup", "ring", "track"] as const;
const SAMPLE_TYPE_DEFAULT: readonly SampleField[] = ["ip", "tid", "time"];
/** Data pages by default: 32 KiB of records with 4 KiB pages. */
export const RING_PAGES_DEFAULT = 8;
/** 1 + 2^15 data pages is the core's limit of 2^16 mapped pages (ABI.md). */
export const RING_PAGES_MAX = 1 << 15;
const U32_MAX = 0xffff_ffff;
const EINVAL = knownErrno("EINVAL");
/** More sampleType entries than fields is a mistake (duplicates are allowed). */
const SAMPLE_FIELDS_MAX = 256;

/** The own properties of option `name`, refusing keys other than `keys`. */
function onlyKeys(
  op: string,
  name: string,
  value: unknown,
  keys: readonly string[],
): Record<string, unknown> {
  const own = ownRecord({ op }, `option ${name}`, value);
  for (const key of Object.keys(own)) {
    if (!keys.includes(key)) {
      throw bad(op, `unknown ${name} key ${quote(key)} (known: ${keys.join(", ")})`);
    }
  }
  return own;
}

function positive(op: string, name: string, value: unknown, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    throw bad(op, `${name} must be an integer from 1 to ${max}, got ${describe(value)}`);
  }
  return value;
}

function resolveRate(op: string, sample: unknown): { period: number; freq: boolean } {
  const rate = onlyKeys(op, "sample", sample, ["period", "frequency"]);
  if ((rate.period === undefined) === (rate.frequency === undefined)) {
    throw bad(
      op,
      "option sample needs exactly one of period or frequency, e.g. { frequency: 1000 }",
    );
  }
  if (rate.period !== undefined) {
    return {
      period: positive(op, "sample.period", rate.period, Number.MAX_SAFE_INTEGER),
      freq: false,
    };
  }
  const frequency = positive(op, "sample.frequency", rate.frequency, U32_MAX);
  const max = sysctl("PERF_EVENT_MAX_SAMPLE_RATE");
  if (max !== null && frequency > max) {
    throw new PerfError("EINVAL", `sample.frequency ${frequency} is above the kernel's limit`, {
      errno: EINVAL,
      op,
      hint:
        `kernel.perf_event_max_sample_rate is ${max}: ask for at most ${max} Hz, or raise it with \`sudo sysctl -w kernel.perf_event_max_sample_rate=${frequency}\``,
    });
  }
  return { period: frequency, freq: true };
}

function resolveSampleType(op: string, value: unknown): number {
  const given = value === undefined ? SAMPLE_TYPE_DEFAULT : value;
  if (!isArray(given)) {
    throw bad(op, `option sampleType must be an array of field names, got ${describe(given)}`);
  }
  const fields = ownArray({ op }, "option sampleType", given, SAMPLE_FIELDS_MAX);
  let bits = 0;
  for (const field of fields) {
    const bit = typeof field === "string" && Object.hasOwn(SAMPLE_FIELD_BITS, field)
      ? SAMPLE_FIELD_BITS[field as SampleField]
      : undefined;
    if (bit === undefined) {
      throw bad(
        op,
        `unknown sampleType field ${describe(field)} (known: ${
          Object.keys(SAMPLE_FIELD_BITS).join(", ")
        })`,
      );
    }
    bits |= bit;
  }
  return bits;
}

function resolveWakeup(op: string, value: unknown): { wakeup: number; watermark: boolean } {
  if (value === undefined) return { wakeup: 0, watermark: false };
  const wakeup = onlyKeys(op, "wakeup", value, ["events", "watermark"]);
  if ((wakeup.events === undefined) === (wakeup.watermark === undefined)) {
    throw bad(op, "option wakeup needs exactly one of events or watermark (bytes)");
  }
  if (wakeup.events !== undefined) {
    return { wakeup: positive(op, "wakeup.events", wakeup.events, U32_MAX), watermark: false };
  }
  return { wakeup: positive(op, "wakeup.watermark", wakeup.watermark, U32_MAX), watermark: true };
}

/** Ring sizes are checked here, so a bad one is EINVAL before the kernel is asked. */
function resolvePages(op: string, value: unknown): number {
  if (value === undefined) return RING_PAGES_DEFAULT;
  const valid = typeof value === "number" && Number.isInteger(value) && value >= 1 &&
    value <= RING_PAGES_MAX && (value & (value - 1)) === 0;
  if (!valid) {
    throw new PerfError(
      "EINVAL",
      `ring.pages must be a power of two from 1 to ${RING_PAGES_MAX}, got ${describe(value)}`,
      {
        errno: EINVAL,
        op,
        hint: `the ring is 1 + 2^N pages; use e.g. ring: { pages: ${RING_PAGES_DEFAULT} }`,
      },
    );
  }
  return value;
}

function resolveRing(
  op: string,
  value: unknown,
): { pages: number; output: RingOutput | undefined } {
  if (value === undefined) return { pages: RING_PAGES_DEFAULT, output: undefined };
  const ring = onlyKeys(op, "ring", value, ["pages", "output"]);
  const pages = resolvePages(op, ring.pages);
  if (ring.output === undefined) return { pages, output: undefined };
  const output = ring.output as RingOutput;
  if (!isPlainObject(output) || typeof output.drain !== "function") {
    throw bad(op, `option ring.output must be a sampling Counter, got ${describe(ring.output)}`);
  }
  if (ring.pages !== undefined) {
    throw bad(op, "option ring: give pages or output, not both (an output counter maps no ring)");
  }
  return { pages, output };
}

function resolveTrack(op: string, value: unknown): ResolvedSampling["track"] {
  if (value === undefined) return { mmap: false, comm: false, task: false };
  const track = onlyKeys(op, "track", value, ["mmap", "comm", "task"]);
  return {
    mmap: boolean(op, "track.mmap", track.mmap, false),
    comm: boolean(op, "track.comm", track.comm, false),
    task: boolean(op, "track.task", track.task, false),
  };
}

function resolveSampling(
  op: string,
  options: Record<string, unknown>,
): ResolvedSampling | undefined {
  if (options.sample === undefined) {
    for (const key of SAMPLING_KEYS) {
      if (options[key] !== undefined) {
        throw bad(
          op,
          `option ${key} needs sample, e.g. { sample: { frequency: 1000 }, ${key}: ... }`,
        );
      }
    }
    return undefined;
  }
  const ring = resolveRing(op, options.ring);
  return {
    ...resolveRate(op, options.sample),
    sampleType: resolveSampleType(op, options.sampleType),
    ...resolveWakeup(op, options.wakeup),
    pages: ring.pages,
    output: ring.output,
    track: resolveTrack(op, options.track),
  };
}

/** The sampleType bits a group adds so that records name their member. */
export const GROUP_SAMPLE_BITS = PERF_SAMPLE.ID;
