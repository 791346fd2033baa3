/**
 * Event names in perf's syntax, and the object form, resolved to the
 * `type` and `config` words of `perf_event_attr`.
 *
 * @module
 */

import { PerfError } from "./errors.ts";
import {
  CACHE_IDS,
  CACHE_OPS,
  CACHE_RESULTS,
  HARDWARE_EVENTS,
  PERF_TYPE,
  SOFTWARE_EVENTS,
} from "./_event_tables.ts";
import { pmusWithAlias, resolvePmuEvent } from "./_pmu.ts";

/**
 * An event given as numbers: a `perf_event_attr` type and its config words.
 * Numbers must be non-negative safe integers; use `bigint` above 2^53.
 */
export interface EventObject {
  /** `perf_event_attr.type`: 0 hardware, 1 software, 3 cache, 4 raw, or a PMU's sysfs type. */
  type: number;
  /** `perf_event_attr.config`. */
  config: number | bigint;
  /** `perf_event_attr.config1`. */
  config1?: number | bigint;
  /** `perf_event_attr.config2`. */
  config2?: number | bigint;
  /** `perf_event_attr.config3` (Linux 6.3+). */
  config3?: number | bigint;
  /** A display name. */
  name?: string;
}

/**
 * An event: a string in perf's syntax (`"cycles"`, `"instructions:u"`,
 * `"L1-dcache-load-misses"`, `"r1a8"`, `"msr/tsc/"`,
 * `"cpu/event=0x3c,umask=0x0/"`) or an {@link EventObject}.
 */
export type EventInput = string | EventObject;

/** Where an event comes from. */
export type EventKind =
  | "hardware"
  | "software"
  | "cache"
  | "raw"
  | "pmu"
  | "object"
  | "simulated";

/** What `:ukhGHIpDe` modifiers ask for; absent fields are not set. */
export interface EventModifiers {
  /** Set by `:u`/`:k`/`:h`: do not count user mode. */
  excludeUser?: boolean;
  /** Set by `:u`/`:k`/`:h`: do not count kernel mode. */
  excludeKernel?: boolean;
  /** Set by `:u`/`:k`/`:h`: do not count the hypervisor. */
  excludeHv?: boolean;
  /** `:I`: do not count when idle. */
  excludeIdle?: boolean;
  /** `:G`: count the guest only. */
  excludeHost?: boolean;
  /** `:H`: count the host only. */
  excludeGuest?: boolean;
  /** `:p`, `:pp`, `:ppp`: precise_ip 1 to 3. */
  precise?: number;
  /** `:D`: pinned. */
  pinned?: boolean;
  /** `:e`: exclusive. */
  exclusive?: boolean;
}

/** A resolved event, ready to open. */
export interface EventSpec {
  /** The event as written (trimmed), or a name made from an object. */
  name: string;
  /** Where it comes from. */
  kind: EventKind;
  /** `perf_event_attr.type`. */
  type: number;
  /** `perf_event_attr.config`. */
  config: bigint;
  /** `perf_event_attr.config1`. */
  config1: bigint;
  /** `perf_event_attr.config2`. */
  config2: bigint;
  /** `perf_event_attr.config3`. */
  config3: bigint;
  /** The PMU, for `pmu/.../` events. */
  pmu?: string;
  /** What the modifiers asked for. */
  modifiers: EventModifiers;
  /**
   * `perf_event_attr.bp_type` of a hardware breakpoint (type 5; see
   * `Watchpoint`): 1 R, 2 W, 3 RW, 4 X. `config1` is then `bp_addr` and
   * `config2` is `bp_len`.
   */
  bpType?: number;
}

const MAX_U64 = (1n << 64n) - 1n;
const MAX_U32 = 0xffff_ffff;
const OBJECT_KEYS = new Set(["type", "config", "config1", "config2", "config3", "name"]);

function invalid(event: string, message: string, code = "INVALID_EVENT"): PerfError {
  return new PerfError(code, `event "${event}": ${message}`, { op: "parse", event });
}

function spec(
  name: string,
  kind: EventKind,
  type: number,
  config: bigint,
  modifiers: EventModifiers,
): EventSpec {
  return { name, kind, type, config, config1: 0n, config2: 0n, config3: 0n, modifiers };
}

function parseModifiers(event: string, text: string): EventModifiers {
  const modifiers: EventModifiers = {};
  let user = false, kernel = false, hv = false, precise = 0;
  for (const letter of text) {
    switch (letter) {
      case "u":
        user = true;
        break;
      case "k":
        kernel = true;
        break;
      case "h":
        hv = true;
        break;
      case "I":
        modifiers.excludeIdle = true;
        break;
      case "G":
        modifiers.excludeHost = true;
        break;
      case "H":
        modifiers.excludeGuest = true;
        break;
      case "p":
        precise++;
        break;
      case "D":
        modifiers.pinned = true;
        break;
      case "e":
        modifiers.exclusive = true;
        break;
      default:
        throw invalid(
          event,
          `unknown modifier "${letter}" in ":${text}" (known: u k h I G H p D e; tracepoints are not supported)`,
        );
    }
  }
  if (user || kernel || hv) {
    modifiers.excludeUser = !user;
    modifiers.excludeKernel = !kernel;
    modifiers.excludeHv = !hv;
  }
  if (precise > 3) throw invalid(event, "at most three p modifiers (precise_ip 0-3)");
  if (precise > 0) modifiers.precise = precise;
  return modifiers;
}

function findGeneric(
  name: string,
  table: readonly { name: string; aliases: readonly string[]; config: number }[],
): number | undefined {
  const lower = name.toLowerCase();
  for (const event of table) {
    if (event.name === lower || event.aliases.includes(lower)) return event.config;
  }
  return undefined;
}

function matchAlias(
  rest: string,
  lists: readonly (readonly string[])[],
): [number, string] | undefined {
  let best: [number, string] | undefined;
  lists.forEach((aliases, index) => {
    for (const alias of aliases) {
      const lower = alias.toLowerCase();
      if (rest === lower || rest.startsWith(`${lower}-`)) {
        if (best === undefined || lower.length > best[1].length) best = [index, lower];
      }
    }
  });
  return best;
}

/** `<cache>[-<op>][-<result>]`, perf's legacy cache syntax, or undefined. */
function parseCache(name: string): number | undefined {
  const lower = name.toLowerCase();
  const cache = matchAlias(lower, CACHE_IDS);
  if (cache === undefined) return undefined;
  let rest = lower.slice(cache[1].length);
  let op: number | undefined, result: number | undefined;
  while (rest !== "") {
    rest = rest.slice(1); // the "-"
    const nextOp = op === undefined ? matchAlias(rest, CACHE_OPS) : undefined;
    const nextResult = result === undefined ? matchAlias(rest, CACHE_RESULTS) : undefined;
    const next = nextOp !== undefined &&
        (nextResult === undefined || nextOp[1].length >= nextResult[1].length)
      ? nextOp
      : nextResult;
    if (next === undefined) return undefined;
    if (next === nextOp) op = next[0];
    else result = next[0];
    rest = rest.slice(next[1].length);
  }
  if (op === undefined && result === undefined) return undefined;
  return cache[0] | ((op ?? 0) << 8) | ((result ?? 0) << 16);
}

function suggestions(name: string): string[] {
  const names = [
    ...HARDWARE_EVENTS.flatMap((e) => [e.name, ...e.aliases]),
    ...SOFTWARE_EVENTS.flatMap((e) => [e.name, ...e.aliases]),
  ];
  const scored = names.map((candidate) =>
    [distance(name.toLowerCase(), candidate), candidate] as const
  );
  return scored.filter(([d]) => d <= 3).sort((a, b) => a[0] - b[0]).slice(0, 3).map(([, c]) => c);
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

function parseName(event: string, name: string, modifiers: EventModifiers): EventSpec {
  const hardware = findGeneric(name, HARDWARE_EVENTS);
  if (hardware !== undefined) {
    return spec(event, "hardware", PERF_TYPE.HARDWARE, BigInt(hardware), modifiers);
  }
  const software = findGeneric(name, SOFTWARE_EVENTS);
  if (software !== undefined) {
    return spec(event, "software", PERF_TYPE.SOFTWARE, BigInt(software), modifiers);
  }
  const raw = /^r([0-9a-fA-F]+)$/.exec(name);
  if (raw !== null) {
    if (raw[1].length > 16) {
      throw invalid(event, "a raw event has at most 16 hex digits", "VALUE_OUT_OF_RANGE");
    }
    return spec(event, "raw", PERF_TYPE.RAW, BigInt(`0x${raw[1]}`), modifiers);
  }
  const cache = parseCache(name);
  if (cache !== undefined) {
    return spec(event, "cache", PERF_TYPE.HW_CACHE, BigInt(cache), modifiers);
  }
  const pmus = pmusWithAlias(name);
  if (pmus.length > 0) {
    const resolved = resolvePmuEvent(event, pmus[0], name);
    return { ...spec(event, "pmu", resolved.type, 0n, modifiers), ...resolved.words, pmu: pmus[0] };
  }
  const near = suggestions(name);
  throw invalid(
    event,
    `unknown event "${name}"` +
      (near.length > 0 ? `; did you mean ${near.map((n) => `"${n}"`).join(" or ")}?` : ""),
    "UNKNOWN_EVENT",
  );
}

function parseString(input: string): EventSpec {
  const event = input.trim();
  if (event === "") throw invalid(input, "the event name is empty");
  if (event.includes("/")) {
    const match = /^([^/]+)\/([^/]*)\/(?::?([A-Za-z]*))$/.exec(event);
    if (match === null) {
      throw invalid(
        event,
        'a PMU event is written "pmu/term=value,.../" with optional modifiers after the last slash',
      );
    }
    const modifiers = parseModifiers(event, match[3] ?? "");
    const resolved = resolvePmuEvent(event, match[1], match[2]);
    return {
      ...spec(event, "pmu", resolved.type, 0n, modifiers),
      ...resolved.words,
      pmu: match[1],
    };
  }
  const colon = event.indexOf(":");
  const name = colon < 0 ? event : event.slice(0, colon);
  const modifiers = parseModifiers(event, colon < 0 ? "" : event.slice(colon + 1));
  if (name === "") throw invalid(event, "the event name is empty");
  return parseName(event, name, modifiers);
}

function configWord(event: string, key: string, value: unknown): bigint {
  if (value === undefined) return 0n;
  if (typeof value === "bigint") {
    if (value < 0n || value > MAX_U64) {
      throw invalid(
        event,
        `${key} must be between 0 and 2^64-1, got ${value}`,
        "VALUE_OUT_OF_RANGE",
      );
    }
    return value;
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid(
        event,
        `${key} must be a non-negative safe integer (or a bigint), got ${value}`,
        Number.isInteger(value) ? "VALUE_OUT_OF_RANGE" : "INVALID_EVENT",
      );
    }
    return BigInt(value);
  }
  throw invalid(event, `${key} must be a number or a bigint, got ${typeof value}`);
}

function kindOfType(type: number): EventKind {
  switch (type) {
    case PERF_TYPE.HARDWARE:
      return "hardware";
    case PERF_TYPE.SOFTWARE:
      return "software";
    case PERF_TYPE.HW_CACHE:
      return "cache";
    case PERF_TYPE.RAW:
      return "raw";
    default:
      return "object";
  }
}

function parseObject(input: EventObject): EventSpec {
  const type = (input as { type?: unknown }).type;
  const shown = typeof input.name === "string"
    ? input.name
    : `{type: ${String(type)}, config: ${String(input.config)}}`;
  for (const key of Object.keys(input)) {
    if (!OBJECT_KEYS.has(key)) {
      throw invalid(shown, `unknown key "${key}" (known: ${[...OBJECT_KEYS].join(", ")})`);
    }
  }
  if (input.name !== undefined && typeof input.name !== "string") {
    throw invalid(shown, "name must be a string");
  }
  if (typeof type !== "number" || !Number.isInteger(type) || type < 0 || type > MAX_U32) {
    throw invalid(shown, `type must be an integer between 0 and 2^32-1, got ${String(type)}`);
  }
  if (input.config === undefined) throw invalid(shown, "config is required");
  const config = configWord(shown, "config", input.config);
  const name = input.name ?? `type=${type},config=0x${config.toString(16)}`;
  return {
    name,
    kind: kindOfType(type),
    type,
    config,
    config1: configWord(shown, "config1", input.config1),
    config2: configWord(shown, "config2", input.config2),
    config3: configWord(shown, "config3", input.config3),
    modifiers: {},
  };
}

/**
 * Resolves an event to its `perf_event_attr` type and config words without
 * opening it. PMU events read the PMU's `format/` and `events/` in sysfs.
 *
 * @param event A string in perf's syntax or an {@link EventObject}.
 * @returns The resolved {@link EventSpec}.
 * @throws {PerfError} `INVALID_EVENT`, `UNKNOWN_EVENT`, `UNKNOWN_PMU`,
 * `UNKNOWN_TERM` or `VALUE_OUT_OF_RANGE`.
 *
 * @example Resolving names
 * ```ts
 * import { parseEvent } from "@perfmmap/perfmmap";
 *
 * parseEvent("L1-dcache-load-misses"); // { type: 3, config: 0x10000n, ... }
 * parseEvent("instructions:u").modifiers; // { excludeUser: false, excludeKernel: true, excludeHv: true }
 * parseEvent("r1a8").config; // 0x1a8n
 * ```
 */
export function parseEvent(event: EventInput): EventSpec {
  if (typeof event === "string") return parseString(event);
  if (typeof event === "object" && event !== null && !Array.isArray(event)) {
    return parseObject(event);
  }
  const shown = event === null ? "null" : Array.isArray(event) ? "an array" : typeof event;
  throw new PerfError("INVALID_EVENT", `an event is a string or {type, config}, got ${shown}`, {
    op: "parse",
  });
}
