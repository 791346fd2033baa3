// `<pmu>/term=value,.../` events: the PMU's type, its format/ bit ranges and
// its events/ aliases, all read from sysfs through the core.

import { PerfError, quote } from "./errors.ts";
import { corePmus, listDir, PMU_ROOT, readLine } from "./_sysfs.ts";
import { PERF_PMU_TYPE_SHIFT } from "./_uapi.ts";

/** A generic hardware or cache event's type and config, by perf's name. */
export type LegacyLookup = (name: string) => { type: number; config: number } | undefined;

/** The four config words of perf_event_attr. */
export type ConfigField = "config" | "config1" | "config2" | "config3";

/** The config words a PMU event sets. */
export type ConfigWords = Record<ConfigField, bigint>;

/** One format term: which config word and which bit ranges, low first. */
export interface FormatSpec {
  field: ConfigField;
  ranges: [number, number][];
}

const MAX_U64 = (1n << 64n) - 1n;
const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;
const TERM_PATTERN = /^([A-Za-z_][A-Za-z0-9_.-]*)(?:=(.*))?$/;

/** A sysfs file name is at most NAME_MAX (255) bytes. */
const NAME_BYTES_MAX = 255;

function invalid(event: string, message: string, code = "INVALID_EVENT", hint?: string): PerfError {
  return new PerfError(code, `event ${quote(event)}: ${message}`, { op: "parse", event, hint });
}

function isName(name: string): boolean {
  return name.length <= NAME_BYTES_MAX && NAME_PATTERN.test(name);
}

/**
 * Parses a sysfs format line such as `config:0-7,32-35` or `config1:8`.
 * Returns `null` when the line is malformed.
 */
export function parseFormat(text: string): FormatSpec | null {
  const match = /^(config[123]?):([0-9,\s-]+)$/.exec(text.trim());
  if (match === null) return null;
  const ranges: [number, number][] = [];
  for (const part of match[2].split(",")) {
    const bounds = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part);
    if (bounds === null) return null;
    const low = Number(bounds[1]);
    const high = bounds[2] === undefined ? low : Number(bounds[2]);
    if (low > high || high > 63) return null;
    ranges.push([low, high]);
  }
  return { field: match[1] as ConfigField, ranges };
}

/** Number of bits a format spec holds. */
export function formatWidth(spec: FormatSpec): number {
  return spec.ranges.reduce((sum, [low, high]) => sum + high - low + 1, 0);
}

/**
 * Places `value` into the bit ranges of `spec`: its low bits go to the first
 * range, the next bits to the next range. Returns the bits and their mask,
 * or `null` when the value does not fit.
 */
export function placeBits(
  value: bigint,
  spec: FormatSpec,
): { bits: bigint; mask: bigint } | null {
  const width = formatWidth(spec);
  if (value < 0n || value >= (1n << BigInt(width))) return null;
  let bits = 0n;
  let mask = 0n;
  let rest = value;
  for (const [low, high] of spec.ranges) {
    const size = BigInt(high - low + 1);
    const fieldMask = ((1n << size) - 1n) << BigInt(low);
    bits |= (rest & ((1n << size) - 1n)) << BigInt(low);
    mask |= fieldMask;
    rest >>= size;
  }
  return { bits, mask };
}

/** Parses a term value: decimal or `0x` hex; `null` when it is neither. */
export function parseNumber(text: string): bigint | null {
  const trimmed = text.trim();
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(trimmed)) return null;
  return BigInt(trimmed);
}

/** The PMU's `type`, or `null` if no such PMU. */
export function pmuType(pmu: string): number | null {
  if (!isName(pmu)) return null;
  const type = readLine(`${PMU_ROOT}/${pmu}/type`);
  if (type === null || !/^\d+$/.test(type)) return null;
  return Number(type);
}

/** The PMU's format terms, name -> spec text. */
export function pmuFormats(pmu: string): Map<string, string> {
  const formats = new Map<string, string>();
  for (const name of listDir(`${PMU_ROOT}/${pmu}/format`) ?? []) {
    const text = readLine(`${PMU_ROOT}/${pmu}/format/${name}`);
    if (text !== null) formats.set(name, text);
  }
  return formats;
}

/** The PMU's event aliases (without `.scale`/`.unit` files), name -> terms. */
export function pmuAliases(pmu: string): Map<string, string> {
  const aliases = new Map<string, string>();
  for (const name of listDir(`${PMU_ROOT}/${pmu}/events`) ?? []) {
    if (name.includes(".")) continue;
    const text = readLine(`${PMU_ROOT}/${pmu}/events/${name}`);
    if (text !== null) aliases.set(name, text);
  }
  return aliases;
}

interface _Term {
  key: string;
  value: string | undefined;
}

/** The terms between the slashes; none for "pmu//", which perf opens with config 0. */
function splitTerms(event: string, text: string): _Term[] {
  if (text === "") return [];
  return text.split(",").map((raw) => {
    const match = TERM_PATTERN.exec(raw.trim());
    if (match === null) throw invalid(event, `malformed term ${quote(raw)}`);
    return { key: match[1], value: match[2] };
  });
}

class _Builder {
  readonly words: ConfigWords = { config: 0n, config1: 0n, config2: 0n, config3: 0n };
  readonly formats: Map<string, string>;
  readonly aliases: Map<string, string>;
  readonly needed = new Set<string>();
  /** Set by a generic event name used as a term (`cpu_core/cycles/`). */
  legacyType: number | undefined;
  readonly legacy: LegacyLookup | undefined;
  // Plain fields, not parameter properties: Node runs .ts files by erasing
  // types only, and a parameter property is not erasable.
  readonly event: string;
  readonly pmu: string;

  constructor(event: string, pmu: string, legacy: LegacyLookup | undefined) {
    this.event = event;
    this.pmu = pmu;
    this.legacy = legacy;
    this.formats = pmuFormats(pmu);
    this.aliases = pmuAliases(pmu);
  }

  apply(term: _Term, fromAlias: boolean): void {
    const { key, value } = term;
    if (key === "name") return;
    if (key === "config" || key === "config1" || key === "config2" || key === "config3") {
      // A term without a value is 1, as in perf ("software/config/").
      const number = value === undefined ? 1n : parseNumber(value);
      if (number === null) {
        throw invalid(
          this.event,
          `term "${key}" needs a decimal or 0x number, got ${quote(value!)}`,
        );
      }
      if (number > MAX_U64) {
        throw invalid(
          this.event,
          `term "${key}" must fit 64 bits, got ${value}`,
          "VALUE_OUT_OF_RANGE",
        );
      }
      this.words[key] = number;
      return;
    }
    const formatText = this.formats.get(key);
    if (formatText !== undefined) return this.setFormat(key, formatText, value, fromAlias);
    if (value === undefined && !fromAlias && this.applyLegacy(key)) return;
    const alias = this.aliasName(key);
    if (value === undefined && !fromAlias && alias !== undefined) {
      for (const inner of splitTerms(this.event, this.aliases.get(alias)!)) {
        this.apply(inner, true);
      }
      return;
    }
    const known = [...this.formats.keys(), ...this.aliases.keys()].slice(0, 24);
    throw invalid(
      this.event,
      `PMU ${quote(this.pmu)} has no format term or event named ${quote(key)}` +
        (known.length > 0 ? `; it knows: ${known.join(", ")}` : ""),
      "UNKNOWN_TERM",
    );
  }

  /**
   * A generic event name on a core PMU (`cpu_core/cycles/`,
   * `armv8_cortex_a53/L1-dcache-loads/`), as perf's legacy hardware and
   * cache terms (pmu.c `pmu_config_term`): `PERF_TYPE_HARDWARE` or
   * `PERF_TYPE_HW_CACHE`, with this PMU's type in config bits 32-63 when the
   * machine has several core PMUs, and no extended type when it has one.
   * It wins over the PMU's sysfs alias of the same name (x86 lists
   * `cpu-cycles` and `instructions` in events/): the generic event is what
   * the name means everywhere else, and what `EventSpec.parts` open, so a
   * part's name (`cpu_atom/instructions/`) opens exactly that part.
   */
  applyLegacy(key: string): boolean {
    const legacy = this.legacy?.(key);
    if (legacy === undefined) return false;
    const cores = corePmus();
    const own = cores.find((core) => core.name === this.pmu);
    if (own === undefined) return false;
    this.legacyType = legacy.type;
    const extended = cores.length > 1 ? BigInt(own.type) << PERF_PMU_TYPE_SHIFT : 0n;
    this.words.config = BigInt(legacy.config) | extended;
    return true;
  }

  /** The PMU's event alias named `key`, ignoring case as perf does ("msr/TSC/"). */
  aliasName(key: string): string | undefined {
    if (this.aliases.has(key)) return key;
    const lower = key.toLowerCase();
    for (const name of this.aliases.keys()) if (name.toLowerCase() === lower) return name;
    return undefined;
  }

  setFormat(key: string, formatText: string, value: string | undefined, fromAlias: boolean): void {
    const spec = parseFormat(formatText);
    if (spec === null) {
      throw invalid(this.event, `cannot parse ${this.pmu}/format/${key}: "${formatText}"`);
    }
    if (value === "?") {
      if (fromAlias) this.needed.add(key);
      else throw invalid(this.event, `term ${quote(key)} needs a value, not "?"`);
      return;
    }
    this.needed.delete(key);
    const number = value === undefined ? 1n : parseNumber(value);
    if (number === null) {
      throw invalid(
        this.event,
        `term ${quote(key)} needs a decimal or 0x number, got ${quote(value!)}`,
      );
    }
    const placed = placeBits(number, spec);
    if (placed === null) {
      throw invalid(
        this.event,
        `value ${number} of term "${key}" does not fit ${formatText} (${formatWidth(spec)} bits)`,
        "VALUE_OUT_OF_RANGE",
      );
    }
    this.words[spec.field] = (this.words[spec.field] & ~placed.mask) | placed.bits;
  }
}

/**
 * Resolves `pmu/terms/` into the PMU's type and config words.
 *
 * @param event The whole event string, for errors.
 * @param pmu The PMU's sysfs name.
 * @param terms The text between the slashes.
 * @param legacy Looks up generic event names, which a core PMU takes as terms.
 */
export function resolvePmuEvent(
  event: string,
  pmu: string,
  terms: string,
  legacy?: LegacyLookup,
): { type: number; words: ConfigWords } {
  const type = pmuType(pmu);
  if (type === null) {
    const there = listDir(PMU_ROOT) ?? [];
    const meant = there.find((name) => name.toLowerCase() === pmu.toLowerCase());
    throw invalid(
      event,
      `no PMU named ${quote(pmu)} in ${PMU_ROOT} (there: ${there.join(", ")})`,
      "UNKNOWN_PMU",
      meant === undefined
        ? undefined
        : `PMU names are case-sensitive: did you mean ${quote(meant)}?`,
    );
  }
  const builder = new _Builder(event, pmu, legacy);
  const list = splitTerms(event, terms);
  // Aliases first, so that explicit terms written next to them win.
  const isAlias = (t: _Term) =>
    t.value === undefined && builder.aliasName(t.key) !== undefined &&
    !builder.formats.has(t.key) && !/^config[123]?$/.test(t.key);
  for (const term of list.filter(isAlias)) builder.apply(term, false);
  for (const term of list.filter((t) => !isAlias(t))) builder.apply(term, false);
  if (builder.needed.size > 0) {
    throw invalid(event, `the event alias needs a value for: ${[...builder.needed].join(", ")}`);
  }
  return { type: builder.legacyType ?? type, words: builder.words };
}

/** The PMUs whose events/ directory has an alias named `name`. */
export function pmusWithAlias(name: string): string[] {
  if (!isName(name) || name.includes(".")) return [];
  return (listDir(PMU_ROOT) ?? []).filter((pmu) =>
    readLine(`${PMU_ROOT}/${pmu}/events/${name}`) !== null
  );
}
