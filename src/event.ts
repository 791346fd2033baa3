/**
 * Event names in perf's syntax, and the object form, resolved to the
 * `type` and `config` words of `perf_event_attr`.
 *
 * @module
 */

import { PerfError, quote } from "./errors.ts";
import {
  CACHE_IDS,
  CACHE_OPS,
  CACHE_RESULTS,
  cacheEventNames,
  HARDWARE_EVENTS,
  SOFTWARE_EVENTS,
} from "./_event_tables.ts";
import { PERF_PMU_TYPE_SHIFT, PERF_TYPE } from "./_uapi.ts";
import { pmusWithAlias, resolvePmuEvent } from "./_pmu.ts";
import { corePmus } from "./_sysfs.ts";
import { describe, ownRecord } from "./_input.ts";

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
  /**
   * On a machine with several core PMUs (Intel hybrid `cpu_core` and
   * `cpu_atom`, Arm big.LITTLE `armv8_cortex_a53` and `armv8_cortex_a72`),
   * a generic hardware or cache event is opened once per core PMU, as perf
   * does: these are the parts, in perf's order (by PMU name), each named
   * like `cpu_core/cycles/` with that PMU's type in `config` bits 32-63.
   * A counter reads their sum. Absent on a machine with one core PMU, and
   * for every other kind of event (a `pmu/event/` string names one PMU).
   */
  parts?: EventSpec[];
}

const MAX_U64 = (1n << 64n) - 1n;
const MAX_U32 = 0xffff_ffff;
const OBJECT_KEYS = new Set(["type", "config", "config1", "config2", "config3", "name"]);
/**
 * Longest event string accepted, in characters: far above any real one (a
 * sysfs name is at most 255 bytes), and low enough that no input makes the
 * parser or its suggestions slow.
 */
export const EVENT_CHARS_MAX = 4096;
/** Names longer than this get no "did you mean" (every known name is shorter). */
const SUGGEST_CHARS_MAX = 64;
const SUGGEST_DISTANCE_MAX = 3;
// The characters perf's lexer has rules for (parse-events.l); it silently
// drops every other one (spaces, controls, '#', ...), so that perf opens
// "software/config= 1/" as "software/config=1/". perfmmap refuses them and
// shows the name without them.
const STRAY = /[^A-Za-z0-9_.:,=/@'*?![\]-]/;
const STRAY_ALL = /[^A-Za-z0-9_.:,=/@'*?![\]-]/g;

function invalid(event: string, message: string, code = "INVALID_EVENT", hint?: string): PerfError {
  return new PerfError(code, `event ${quote(event)}: ${message}`, { op: "parse", event, hint });
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

function parseModifiers(event: string, name: string, text: string): EventModifiers {
  if (text === "") {
    throw invalid(event, 'the ":" is followed by no modifier', "INVALID_EVENT", didYouMean(name));
  }
  const modifiers: EventModifiers = {};
  let user = false, kernel = false, hv = false, precise = 0;
  const seen = new Set<string>();
  for (const letter of text) {
    if (letter !== "p" && seen.has(letter)) {
      const once = [...new Set(text)].join("");
      throw invalid(
        event,
        `modifier "${letter}" is given twice in ":${text}"`,
        "INVALID_EVENT",
        didYouMean(`${name}:${once}`),
      );
    }
    seen.add(letter);
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
          `unknown modifier ${quote(letter)} in ${
            quote(`:${text}`)
          } (known: u k h I G H p D e; tracepoints are not supported)`,
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

function didYouMean(spelling: string): string {
  return `did you mean ${quote(spelling)}?`;
}

// perf's lexer matches these names case-sensitively: "TASK-CLOCK" is not
// an event (the suggestions say which name was meant).
function findGeneric(
  name: string,
  table: readonly { name: string; aliases: readonly string[]; config: number }[],
): number | undefined {
  for (const event of table) {
    if (event.name === name || event.aliases.includes(name)) return event.config;
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
      if (rest === alias || rest.startsWith(`${alias}-`)) {
        if (best === undefined || alias.length > best[1].length) best = [index, alias];
      }
    }
  });
  return best;
}

/**
 * `<cache>[-<op>][-<result>]`, perf's legacy cache syntax (case-sensitive,
 * as its lexer), or undefined. As in perf, the op defaults to read and the
 * result to access: `LLC` alone is `LLC-loads`.
 */
function parseCache(name: string): number | undefined {
  const cache = matchAlias(name, CACHE_IDS);
  if (cache === undefined) return undefined;
  let rest = name.slice(cache[1].length);
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
  return cache[0] | ((op ?? 0) << 8) | ((result ?? 0) << 16);
}

let suggestionNames: readonly string[] | undefined;

/**
 * Up to three known names within 3 edits of `name`, ignoring case (the
 * likeliest slip). Bounded: a name longer than any known one gets none, and
 * only candidates of a near length are compared.
 */
function suggestions(name: string): string[] {
  if (name.length > SUGGEST_CHARS_MAX) return [];
  suggestionNames ??= [
    ...HARDWARE_EVENTS.flatMap((e) => [e.name, ...e.aliases]),
    ...SOFTWARE_EVENTS.flatMap((e) => [e.name, ...e.aliases]),
    ...cacheEventNames().map((e) => e.name),
  ];
  const lower = name.toLowerCase();
  const scored: [number, string][] = [];
  for (const candidate of suggestionNames) {
    if (Math.abs(candidate.length - lower.length) > SUGGEST_DISTANCE_MAX) continue;
    const d = distance(lower, candidate.toLowerCase());
    if (d <= SUGGEST_DISTANCE_MAX) scored.push([d, candidate]);
  }
  return scored.sort((a, b) => a[0] - b[0]).slice(0, 3).map(([, c]) => c);
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

/**
 * A generic hardware or cache event's type and config, or undefined: for
 * `pmu/cycles/` on a core PMU.
 */
function legacyEvent(name: string): { type: number; config: number } | undefined {
  const hardware = findGeneric(name, HARDWARE_EVENTS);
  if (hardware !== undefined) return { type: PERF_TYPE.HARDWARE, config: hardware };
  const cache = parseCache(name);
  if (cache !== undefined) return { type: PERF_TYPE.HW_CACHE, config: cache };
  return undefined;
}

/**
 * The event once per core PMU when the machine has several (perf's
 * parse_events_add_numeric with a wildcard): type stays hardware or cache,
 * and config gets the PMU's type in bits 32-63.
 */
function withParts(base: EventSpec, name: string, modifierText: string): EventSpec {
  const cores = corePmus();
  if (cores.length < 2) return base;
  base.parts = cores.map((pmu) => ({
    ...base,
    name: `${pmu.name}/${name}/${modifierText}`,
    config: base.config | (BigInt(pmu.type) << PERF_PMU_TYPE_SHIFT),
    pmu: pmu.name,
    modifiers: { ...base.modifiers },
  }));
  return base;
}

function parseName(
  event: string,
  name: string,
  modifiers: EventModifiers,
  modifierText: string,
): EventSpec {
  const hardware = findGeneric(name, HARDWARE_EVENTS);
  if (hardware !== undefined) {
    const base = spec(event, "hardware", PERF_TYPE.HARDWARE, BigInt(hardware), modifiers);
    return withParts(base, name, modifierText);
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
    const base = spec(event, "cache", PERF_TYPE.HW_CACHE, BigInt(cache), modifiers);
    return withParts(base, name, modifierText);
  }
  const pmus = pmusWithAlias(name);
  if (pmus.length > 0) {
    const resolved = resolvePmuEvent(event, pmus[0], name, legacyEvent);
    return { ...spec(event, "pmu", resolved.type, 0n, modifiers), ...resolved.words, pmu: pmus[0] };
  }
  const near = suggestions(name);
  const caseOnly = near.find((n) => n.toLowerCase() === name.toLowerCase());
  throw invalid(
    event,
    `unknown event ${quote(name)}`,
    "UNKNOWN_EVENT",
    caseOnly !== undefined
      ? `did you mean ${quote(caseOnly)}? (event names are case-sensitive, as in perf)`
      : near.length > 0
      ? `did you mean ${near.map(quote).join(" or ")}?`
      : undefined,
  );
}

function strayCharacter(event: string, at: number): PerfError {
  const cleaned = event.replace(STRAY_ALL, "");
  let meant: string | undefined;
  if (cleaned !== "") {
    try {
      parseString(cleaned);
      meant = cleaned;
    } catch {
      // no spelling to offer
    }
  }
  const char = event[at];
  const shown = /\s/.test(char) ? "a space" : `character ${quote(char)}`;
  return invalid(
    event,
    `${shown} at position ${at} is not part of an event name`,
    "INVALID_EVENT",
    meant !== undefined
      ? didYouMean(meant)
      : 'an event is a name with optional ":modifiers" (e.g. "task-clock:u"), or "pmu/term=value,.../", with no spaces',
  );
}

function parseString(input: string): EventSpec {
  if (input.length > EVENT_CHARS_MAX) {
    throw invalid(
      input,
      `the event is ${input.length} characters long; at most ${EVENT_CHARS_MAX} are accepted`,
    );
  }
  const event = input.trim();
  if (event === "") throw invalid(input, "the event name is empty");
  const stray = STRAY.exec(event);
  if (stray !== null) throw strayCharacter(event, stray.index);
  if (event.includes("/")) {
    const match = /^([^/]+)\/([^/]*)\/(:?)([A-Za-z]*)$/.exec(event);
    if (match === null) {
      throw invalid(
        event,
        'a PMU event is written "pmu/term=value,.../" with optional modifiers after the last slash',
      );
    }
    if (match[3] === ":") {
      // perf writes PMU modifiers right after the slash, and refuses "/:".
      throw invalid(
        event,
        'a PMU event takes its modifiers right after the last slash, with no ":"',
        "INVALID_EVENT",
        didYouMean(`${match[1]}/${match[2]}/${match[4]}`),
      );
    }
    const base = `${match[1]}/${match[2]}/`;
    const modifiers = match[4] === "" ? {} : parseModifiers(event, base, match[4]);
    const resolved = resolvePmuEvent(event, match[1], match[2], legacyEvent);
    return {
      ...spec(event, "pmu", resolved.type, 0n, modifiers),
      ...resolved.words,
      pmu: match[1],
    };
  }
  const colon = event.indexOf(":");
  const name = colon < 0 ? event : event.slice(0, colon);
  if (name === "") throw invalid(event, "the event name is empty");
  const modifierText = colon < 0 ? "" : event.slice(colon + 1);
  const modifiers = colon < 0 ? {} : parseModifiers(event, name, modifierText);
  return parseName(event, name, modifiers, modifierText);
}

function configWord(event: string, key: string, value: unknown): bigint {
  if (value === undefined) return 0n;
  if (typeof value === "bigint") {
    if (value < 0n || value > MAX_U64) {
      throw invalid(
        event,
        `${key} must be between 0 and 2^64-1, got ${value}n`,
        "VALUE_OUT_OF_RANGE",
      );
    }
    return value;
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid(
        event,
        `${key} must be a non-negative safe integer (or a bigint), got ${describe(value)}`,
        Number.isInteger(value) ? "VALUE_OUT_OF_RANGE" : "INVALID_EVENT",
      );
    }
    return BigInt(value);
  }
  throw invalid(event, `${key} must be a number or a bigint, got ${describe(value)}`);
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

function parseObject(input: object): EventSpec {
  // Own properties only: a polluted Object.prototype adds no config word.
  const own = ownRecord({ op: "parse", code: "INVALID_EVENT" }, "an event object", input);
  const type = own.type;
  const shown = typeof own.name === "string"
    ? own.name
    : `{type: ${describe(type)}, config: ${describe(own.config)}}`;
  for (const key of Object.keys(own)) {
    if (!OBJECT_KEYS.has(key)) {
      throw invalid(shown, `unknown key ${quote(key)} (known: ${[...OBJECT_KEYS].join(", ")})`);
    }
  }
  if (own.name !== undefined && typeof own.name !== "string") {
    throw invalid(shown, "name must be a string");
  }
  if (typeof type !== "number" || !Number.isInteger(type) || type < 0 || type > MAX_U32) {
    throw invalid(shown, `type must be an integer between 0 and 2^32-1, got ${describe(type)}`);
  }
  if (own.config === undefined) throw invalid(shown, "config is required");
  const config = configWord(shown, "config", own.config);
  const name = own.name as string | undefined ?? `type=${type},config=0x${config.toString(16)}`;
  return {
    name,
    kind: kindOfType(type),
    type: type === 0 ? 0 : type, // -0 is 0
    config,
    config1: configWord(shown, "config1", own.config1),
    config2: configWord(shown, "config2", own.config2),
    config3: configWord(shown, "config3", own.config3),
    modifiers: {},
  };
}

function isArray(value: unknown): boolean {
  try {
    return Array.isArray(value);
  } catch {
    return false; // a revoked Proxy: ownRecord reports it
  }
}

/**
 * Resolves an event to its `perf_event_attr` type and config words without
 * opening it. PMU events read the PMU's `format/` and `events/` in sysfs.
 *
 * The syntax is perf's (tools/perf/util/parse-events.l): names are
 * case-sensitive (`TASK-CLOCK` is not `task-clock`), a modifier is given once
 * (`:uu` is refused), PMU modifiers follow the slash (`cpu/event=1/u`, not
 * `/:u`), and perf's own shorthands open (`LLC` is `LLC-loads`, `pmu//` has
 * config 0, a term without a value is 1). One deliberate difference: perf's
 * lexer silently drops characters it has no rule for, so perf opens
 * `software/config= 1/` and `task-clock:`; perfmmap refuses a space, a
 * control character or an empty modifier list, and its hint shows the
 * spelling perf would have read. Strings longer than 4096 characters are
 * refused before any work.
 *
 * @param event A string in perf's syntax or an {@link EventObject}.
 * @returns The resolved {@link EventSpec}.
 * @throws {PerfError} `INVALID_EVENT`, `UNKNOWN_EVENT`, `UNKNOWN_PMU`,
 * `UNKNOWN_TERM` or `VALUE_OUT_OF_RANGE`; the errno (e.g. `EMFILE`) when
 * sysfs cannot be read.
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
  if (typeof event === "object" && event !== null && !isArray(event)) {
    return parseObject(event);
  }
  const shown = isArray(event) ? "an array" : describe(event);
  throw new PerfError("INVALID_EVENT", `an event is a string or {type, config}, got ${shown}`, {
    op: "parse",
  });
}
