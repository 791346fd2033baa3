// Validation of Counter/Group options, and the defaults that make
// perf_event_paranoid=2 work for unprivileged users.

import { PerfError, quote } from "./errors.ts";
import type { EventSpec } from "./event.ts";
import type { Exclusions } from "./_attr.ts";
import { privileges, sysctl } from "./_sysfs.ts";
import { PERF_SAMPLE, SAMPLE_FIELD_BITS } from "./_records.ts";
import type { Counter } from "./counter.ts";
import type { SampleField } from "./sampling.ts";

/** Userspace read mode: "auto" uses it when the kernel offers it. */
export type UserspaceMode = "auto" | "require" | "off";

/** Options as given by the user (see CounterOptions for the docs). */
export interface RawOptions {
  pid?: number;
  cpu?: number;
  exclude?: { kernel?: boolean; hv?: boolean; user?: boolean; idle?: boolean };
  inherit?: boolean;
  pinned?: boolean;
  exclusive?: boolean;
  enabled?: boolean;
  userspace?: UserspaceMode;
  fallback?: boolean;
  enableOnExec?: boolean;
  sample?: unknown;
  sampleType?: unknown;
  wakeup?: unknown;
  ring?: unknown;
  track?: unknown;
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
  output: Counter | undefined;
  track: { mmap: boolean; comm: boolean; task: boolean };
}

/** Options after validation, with defaults filled in. */
export interface ResolvedOptions {
  pid: number;
  cpu: number;
  exclude: { kernel?: boolean; hv?: boolean; user?: boolean; idle?: boolean };
  inherit: boolean;
  pinned: boolean;
  exclusive: boolean;
  enabled: boolean;
  userspace: UserspaceMode;
  fallback: boolean;
  enableOnExec: boolean;
  /** Present when the counter samples into a ring. */
  sampling: ResolvedSampling | undefined;
}

const KEYS = new Set([
  "pid",
  "cpu",
  "exclude",
  "inherit",
  "pinned",
  "exclusive",
  "enabled",
  "userspace",
  "fallback",
  "enableOnExec",
  "sample",
  "sampleType",
  "wakeup",
  "ring",
  "track",
]);
const EXCLUDE_KEYS = new Set(["kernel", "hv", "user", "idle"]);
const INT32_MAX = 0x7fff_ffff;

function bad(op: string, message: string, event?: string, cause?: unknown): PerfError {
  return new PerfError("INVALID_OPTION", message, { op, event, cause });
}

/** How a value is named in a message; never calls user code, never throws. */
export function describe(value: unknown): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value !== "object") return String(value);
  try {
    return Array.isArray(value) ? "an array" : "an object";
  } catch {
    return "a revoked Proxy"; // Array.isArray throws only for a revoked Proxy
  }
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  try {
    return !Array.isArray(value);
  } catch {
    return true; // a revoked Proxy: ownRecord reports it
  }
}

/** What {@link ownRecord} reports on failure. */
export interface ReadContext {
  /** The operation, for PerfError.op. */
  op: string;
  /** The error code: INVALID_OPTION, INVALID_EVENT, INVALID_TARGET. */
  code?: string;
  /** The event, for PerfError.event. */
  event?: string;
}

/**
 * The own enumerable string-keyed properties of a plain object (what `{...x}`
 * copies), read once into an object with no prototype. Options are read
 * from this copy only: a property inherited from a polluted
 * `Object.prototype` is not an option, and a getter runs exactly once. A
 * throwing getter or Proxy trap (or a revoked Proxy) becomes a PerfError
 * with the thrown value as its cause.
 *
 * @param name How the value is named in messages, e.g. "options".
 * @returns The copy, or a PerfError thrown when `value` is not an object.
 */
export function ownRecord(
  context: ReadContext,
  name: string,
  value: unknown,
): Record<string, unknown> {
  const code = context.code ?? "INVALID_OPTION";
  const fail = (message: string, cause?: unknown) =>
    new PerfError(code, message, { op: context.op, event: context.event, cause });
  if (!isPlainObject(value)) throw fail(`${name} must be an object, got ${describe(value)}`);
  const record: Record<string, unknown> = Object.create(null);
  try {
    for (const key of Object.keys(value)) {
      const property = Object.getOwnPropertyDescriptor(value, key);
      if (property === undefined) continue; // a Proxy that lists keys it has not
      record[key] = "value" in property ? property.value : property.get?.call(value);
    }
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : describe(cause);
    throw fail(`${name} could not be read: ${why}`, cause);
  }
  return record;
}

/**
 * The elements of an array, each read as an own property (a hole, or an
 * index inherited from a polluted `Array.prototype`, is `undefined`), with
 * the length bounded; throwing traps become a PerfError.
 */
export function ownArray(
  context: ReadContext,
  name: string,
  value: readonly unknown[],
  lengthMax: number,
): unknown[] {
  const code = context.code ?? "INVALID_OPTION";
  try {
    const length = value.length;
    if (!Number.isSafeInteger(length) || length < 0 || length > lengthMax) {
      throw new PerfError(
        code,
        `${name} has ${describe(length)} elements; at most ${lengthMax} are accepted`,
        { op: context.op, event: context.event },
      );
    }
    const elements: unknown[] = [];
    for (let i = 0; i < length; i++) {
      const property = Object.getOwnPropertyDescriptor(value, i);
      elements.push(
        property === undefined
          ? undefined
          : "value" in property
          ? property.value
          : property.get?.call(value),
      );
    }
    return elements;
  } catch (cause) {
    if (cause instanceof PerfError) throw cause;
    const why = cause instanceof Error ? cause.message : describe(cause);
    throw new PerfError(code, `${name} could not be read: ${why}`, {
      op: context.op,
      event: context.event,
      cause,
    });
  }
}

/**
 * Validates options. `defaults` lets a Group default userspace to "off".
 */
export function resolveOptions(
  op: string,
  options: unknown,
  defaults: { userspace: UserspaceMode },
): ResolvedOptions {
  // Only undefined means "not given", for every option: null is refused.
  const raw = options === undefined ? {} : options;
  if (!isPlainObject(raw)) throw bad(op, `options must be an object, got ${describe(raw)}`);
  const own = ownRecord({ op }, "options", raw);
  for (const key of Object.keys(own)) {
    if (!KEYS.has(key)) {
      throw bad(op, `unknown option ${quote(key)} (known: ${[...KEYS].join(", ")})`);
    }
  }
  const pid = integer(op, "pid", own.pid, 0);
  const cpu = integer(op, "cpu", own.cpu, -1);
  if (pid === -1 && cpu === -1) {
    throw bad(op, "pid -1 (every process) needs a cpu >= 0; pid 0 with cpu -1 counts this thread");
  }
  const exclude = ownRecord({ op }, "option exclude", own.exclude === undefined ? {} : own.exclude);
  for (const [key, value] of Object.entries(exclude)) {
    if (!EXCLUDE_KEYS.has(key)) {
      throw bad(op, `unknown exclude key ${quote(key)} (known: kernel, hv, user, idle)`);
    }
    if (typeof value !== "boolean") {
      throw bad(op, `exclude.${key} must be a boolean, got ${describe(value)}`);
    }
  }
  const userspace = own.userspace === undefined ? defaults.userspace : own.userspace;
  if (userspace !== "auto" && userspace !== "require" && userspace !== "off") {
    throw bad(
      op,
      `option userspace must be "auto", "require" or "off", got ${describe(userspace)}`,
    );
  }
  return {
    pid,
    cpu,
    exclude: exclude as ResolvedOptions["exclude"],
    inherit: boolean(op, "inherit", own.inherit, false),
    pinned: boolean(op, "pinned", own.pinned, false),
    exclusive: boolean(op, "exclusive", own.exclusive, false),
    enabled: boolean(op, "enabled", own.enabled, true),
    userspace,
    fallback: boolean(op, "fallback", own.fallback, true),
    enableOnExec: boolean(op, "enableOnExec", own.enableOnExec, false),
    sampling: resolveSampling(op, own as RawOptions),
  };
}

const SAMPLING_KEYS = ["sampleType", "wakeup", "ring", "track"] as const;
const SAMPLE_TYPE_DEFAULT: readonly SampleField[] = ["ip", "tid", "time"];
/** Data pages by default: 32 KiB of records with 4 KiB pages. */
export const RING_PAGES_DEFAULT = 8;
/** 1 + 2^15 data pages is the core's limit of 2^16 mapped pages (ABI.md). */
export const RING_PAGES_MAX = 1 << 15;
const U32_MAX = 0xffff_ffff;
const EINVAL = 22;
/** More sampleType entries than fields is a mistake (duplicates are allowed). */
const SAMPLE_FIELDS_MAX = 256;

function isArray(value: unknown): value is readonly unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    return false; // a revoked Proxy
  }
}

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

function resolveRing(op: string, value: unknown): { pages: number; output: Counter | undefined } {
  if (value === undefined) return { pages: RING_PAGES_DEFAULT, output: undefined };
  const ring = onlyKeys(op, "ring", value, ["pages", "output"]);
  const pages = resolvePages(op, ring.pages);
  if (ring.output === undefined) return { pages, output: undefined };
  const output = ring.output as Counter;
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

function resolveSampling(op: string, options: RawOptions): ResolvedSampling | undefined {
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

/**
 * The exclude bits: kernel and hypervisor are excluded by default only when
 * this process may not count them (perf_event_paranoid >= 2 without
 * CAP_PERFMON), as `perf` itself falls back; options override defaults, and
 * `:u`/`:k`/`:h` modifiers override both. `restricted` forces the fallback.
 */
export function exclusions(
  options: ResolvedOptions,
  spec: EventSpec,
  restricted = privileges().kernelAllowed === false,
): Exclusions {
  const m = spec.modifiers;
  return {
    user: m.excludeUser ?? options.exclude.user ?? false,
    kernel: m.excludeKernel ?? options.exclude.kernel ?? restricted,
    hv: m.excludeHv ?? options.exclude.hv ?? restricted,
    idle: m.excludeIdle ?? options.exclude.idle ?? false,
    host: m.excludeHost ?? false,
    guest: m.excludeGuest ?? false,
  };
}

/**
 * Whether an EACCES/EPERM open should be retried with kernel and hypervisor
 * excluded: only when the user left both to the defaults.
 */
export function mayRetryRestricted(options: ResolvedOptions, spec: EventSpec): boolean {
  return spec.modifiers.excludeKernel === undefined && options.exclude.kernel === undefined &&
    privileges().kernelAllowed !== false;
}
