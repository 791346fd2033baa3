// Validation of Counter/Group options, and the defaults that make
// perf_event_paranoid=2 work for unprivileged users.

import { PerfError } from "./errors.ts";
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

function bad(op: string, message: string, event?: string): PerfError {
  return new PerfError("INVALID_OPTION", message, { op, event });
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return "an array";
  return value === null ? "null" : typeof value === "object" ? "an object" : String(value);
}

function boolean(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw bad(op, `option ${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}

function integer(op: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < -1 || value > INT32_MAX) {
    throw bad(op, `option ${name} must be an integer from -1 to 2^31-1, got ${describe(value)}`);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates options. `defaults` lets a Group default userspace to "off".
 */
export function resolveOptions(
  op: string,
  options: unknown,
  defaults: { userspace: UserspaceMode },
): ResolvedOptions {
  if (options === undefined) options = {};
  if (!isPlainObject(options)) throw bad(op, `options must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw bad(op, `unknown option "${key}" (known: ${[...KEYS].join(", ")})`);
  }
  const pid = integer(op, "pid", options.pid, 0);
  const cpu = integer(op, "cpu", options.cpu, -1);
  if (pid === -1 && cpu === -1) {
    throw bad(op, "pid -1 (every process) needs a cpu >= 0; pid 0 with cpu -1 counts this thread");
  }
  const exclude = options.exclude ?? {};
  if (!isPlainObject(exclude)) {
    throw bad(op, `option exclude must be an object, got ${describe(exclude)}`);
  }
  for (const [key, value] of Object.entries(exclude)) {
    if (!EXCLUDE_KEYS.has(key)) {
      throw bad(op, `unknown exclude key "${key}" (known: kernel, hv, user, idle)`);
    }
    if (typeof value !== "boolean") {
      throw bad(op, `exclude.${key} must be a boolean, got ${describe(value)}`);
    }
  }
  const userspace = options.userspace ?? defaults.userspace;
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
    inherit: boolean(op, "inherit", options.inherit, false),
    pinned: boolean(op, "pinned", options.pinned, false),
    exclusive: boolean(op, "exclusive", options.exclusive, false),
    enabled: boolean(op, "enabled", options.enabled, true),
    userspace,
    fallback: boolean(op, "fallback", options.fallback, true),
    enableOnExec: boolean(op, "enableOnExec", options.enableOnExec, false),
    sampling: resolveSampling(op, options as RawOptions),
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

function onlyKeys(op: string, name: string, value: unknown, keys: readonly string[]): void {
  if (!isPlainObject(value)) {
    throw bad(op, `option ${name} must be an object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw bad(op, `unknown ${name} key "${key}" (known: ${keys.join(", ")})`);
    }
  }
}

function positive(op: string, name: string, value: unknown, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    throw bad(op, `${name} must be an integer from 1 to ${max}, got ${describe(value)}`);
  }
  return value;
}

function resolveRate(op: string, sample: unknown): { period: number; freq: boolean } {
  onlyKeys(op, "sample", sample, ["period", "frequency"]);
  const rate = sample as { period?: unknown; frequency?: unknown };
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
  const fields = value ?? SAMPLE_TYPE_DEFAULT;
  if (!Array.isArray(fields)) {
    throw bad(op, `option sampleType must be an array of field names, got ${describe(fields)}`);
  }
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
  onlyKeys(op, "wakeup", value, ["events", "watermark"]);
  const wakeup = value as { events?: unknown; watermark?: unknown };
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
  onlyKeys(op, "ring", value, ["pages", "output"]);
  const ring = value as { pages?: unknown; output?: unknown };
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
  onlyKeys(op, "track", value, ["mmap", "comm", "task"]);
  const track = value as Record<string, unknown>;
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
