// Validation of Counter/Group options, and the defaults that make
// perf_event_paranoid=2 work for unprivileged users.

import { PerfError } from "./errors.ts";
import type { EventSpec } from "./event.ts";
import type { Exclusions } from "./_attr.ts";
import { privileges } from "./_sysfs.ts";

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
  };
}

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
