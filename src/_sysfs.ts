// sysfs and procfs through the core (pm_read_text, pm_list_dir, pm_sysctl,
// pm_has_capability, pm_uname), so that --allow-ffi alone is enough.

import { native } from "./loader/native.ts";
import { SYSCTL } from "./ffi/symbols.ts";
import type { PerfError } from "./errors.ts";
// _fail.ts imports this file too; both only call each other at run time.
import { coreFailure } from "./_result.ts";
import { knownErrno } from "./_errno.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where the kernel lists the PMUs. */
export const PMU_ROOT = "/sys/bus/event_source/devices";

function encodePath(path: string): number {
  const { pathBuffer } = native();
  const { read, written } = encoder.encodeInto(path, pathBuffer);
  return read === path.length ? written : -1;
}

const EPERM = knownErrno("EPERM");
const ENOENT = knownErrno("ENOENT");
const EACCES = knownErrno("EACCES");
const ENOTDIR = knownErrno("ENOTDIR");
const ERANGE = knownErrno("ERANGE");
const TEXT_BYTES_MAX = 16 << 20;
let large: Uint8Array | undefined;

/**
 * A failed read of sysfs or procfs: only ENOENT and ENOTDIR mean "not
 * there". Anything else (EMFILE, ENOMEM, EACCES, ...) is thrown, with its
 * hint: answering "no such PMU" or "did you mean cs" because this process ran
 * out of fds would be a wrong answer.
 */
function readFailure(result: number, path: string): PerfError {
  return coreFailure(result, { op: "read", event: path });
}

/**
 * Calls `pm_read_text` or `pm_list_dir` with the shared buffer, and on ERANGE
 * (the file or listing is larger, e.g. /proc/cpuinfo on a big machine) with a
 * larger buffer kept for later calls. Returns the bytes, or `null` when the
 * path does not exist (or cannot: it does not fit the path buffer).
 */
function withText(
  path: string,
  call: (path: Uint8Array, length: number, out: Uint8Array, cap: number) => number,
): Uint8Array | null {
  const n = native();
  const length = encodePath(path);
  if (length < 0) return null;
  let out = large ?? n.text;
  for (;;) {
    const result = call(n.pathBuffer, length, out, out.length);
    if (result >= 0) return out.subarray(0, result);
    if (result === -ENOENT || result === -ENOTDIR) return null;
    if (result !== -ERANGE || out.length >= TEXT_BYTES_MAX) throw readFailure(result, path);
    out = large = new Uint8Array(out.length * 4);
  }
}

/**
 * How sysfs and procfs files are read: through the core by default. Tests
 * swap in a reader over a fixture tree (see {@link setSysfsReader}), since
 * the core reads only its allow-listed paths.
 */
export interface SysfsReader {
  /** A file's text, or `null` when it does not exist. */
  readText(path: string): string | null;
  /** A directory's entry names (any order), or `null` when it does not exist. */
  listDir(path: string): string[] | null;
}

const coreReader: SysfsReader = {
  readText(path) {
    const bytes = withText(path, native().symbols.pm_read_text);
    return bytes === null ? null : decoder.decode(bytes);
  },
  listDir(path) {
    const bytes = withText(path, native().symbols.pm_list_dir);
    return bytes === null ? null : decoder.decode(bytes).split("\0").filter((name) => name !== "");
  },
};

let reader: SysfsReader = coreReader;

/**
 * Reads sysfs and procfs with `next` from now on (`undefined`: through the
 * core again), and forgets what was learned from the previous reader. For
 * tests, which describe other machines with fixture trees; not exported
 * from mod.ts.
 */
export function setSysfsReader(next: SysfsReader | undefined): void {
  reader = next ?? coreReader;
  corePmuCache = undefined;
}

/**
 * A file's text, or `null` when it does not exist.
 * @throws {PerfError} Any other failure, such as `EMFILE`.
 */
export function readText(path: string): string | null {
  return reader.readText(path);
}

/** A file's first line, trimmed, or `null` when it does not exist. */
export function readLine(path: string): string | null {
  const text = readText(path);
  return text === null ? null : text.split("\n")[0].trim();
}

/** A directory's entry names, sorted, or `null` when it does not exist. */
export function listDir(path: string): string[] | null {
  return reader.listDir(path)?.sort() ?? null;
}

/** Which knob {@link sysctl} reads. */
export type Knob = keyof typeof SYSCTL;

/**
 * An integer knob, or `null` when the file does not exist on this kernel or
 * may not be read (a sandbox hiding /proc/sys: then the knob is unknown, and
 * callers try and fall back).
 * @throws {PerfError} Any other failure, such as `EMFILE`: a `null` here
 * would be taken (and cached) as a fact about the machine.
 */
export function sysctl(knob: Knob): number | null {
  const value = native().symbols.pm_sysctl(SYSCTL[knob]);
  if (value >= 0) return value;
  if (value === -ENOENT || value === -ENOTDIR || value === -EACCES || value === -EPERM) return null;
  throw readFailure(value, `sysctl ${knob}`);
}

/** Linux capability numbers. */
export const CAP_SYS_ADMIN = 21;
/** Linux capability numbers. */
export const CAP_PERFMON = 38;

/** Whether the effective capability set holds `cap`; `null` if unknown. */
export function hasCapability(cap: number): boolean | null {
  const result = native().symbols.pm_has_capability(cap);
  return result < 0 ? null : result === 1;
}

/** `uname(2)`: sysname, release and machine. */
export function uname(): { sysname: string; release: string; machine: string } {
  const n = native();
  const result = n.symbols.pm_uname(n.text, n.text.length);
  if (result < 0) return { sysname: "Linux", release: "unknown", machine: "unknown" };
  const [sysname = "", release = "", machine = ""] = decoder
    .decode(n.text.subarray(0, result)).split("\0");
  return { sysname, release, machine };
}

/** The PMUs of this machine with their types, sorted by name. */
export function listPmus(): { name: string; type: number }[] {
  const pmus: { name: string; type: number }[] = [];
  for (const name of listDir(PMU_ROOT) ?? []) {
    const type = Number(readLine(`${PMU_ROOT}/${name}/type`));
    if (Number.isInteger(type)) pmus.push({ name, type });
  }
  return pmus;
}

/** Privilege facts that decide defaults and hints, cached per process. */
export interface Privilege {
  /** `perf_event_paranoid`, or `null` if the file is missing. */
  paranoid: number | null;
  /** CAP_PERFMON in the effective set, or `null` if capget failed. */
  perfmon: boolean | null;
  /** CAP_SYS_ADMIN in the effective set, or `null` if capget failed. */
  sysAdmin: boolean | null;
  /**
   * Whether kernel-mode counting is allowed (paranoid < 2 or a cap), or
   * `null` when that cannot be known; then opens try and fall back.
   */
  kernelAllowed: boolean | null;
}

let privilege: Privilege | undefined;

/** The privilege facts, read once. */
export function privileges(): Privilege {
  if (privilege !== undefined) return privilege;
  const paranoid = sysctl("PERF_EVENT_PARANOID");
  const perfmon = hasCapability(CAP_PERFMON);
  const sysAdmin = hasCapability(CAP_SYS_ADMIN);
  let kernelAllowed: boolean | null;
  if (perfmon === true || sysAdmin === true || (paranoid !== null && paranoid < 2)) {
    kernelAllowed = true;
  } else if (perfmon === false && sysAdmin === false && paranoid !== null) {
    kernelAllowed = false;
  } else {
    kernelAllowed = null;
  }
  return privilege = { paranoid, perfmon, sysAdmin, kernelAllowed };
}

/** A PMU that counts the CPU's own events (cycles, instructions). */
export interface CorePmu {
  /** Its sysfs name: `cpu`, `cpu_core`, `cpu_atom`, `armv8_cortex_a53`, ... */
  name: string;
  /** Its `type`: what `perf_event_attr.type` (or the extended type) names it by. */
  type: number;
  /** The CPUs it counts on, as sysfs writes them (`0-15`). */
  cpus: string;
  /** The same CPUs as numbers, ascending. */
  cpuList: number[];
}

let corePmuCache: CorePmu[] | undefined;

/** Most CPUs a list may name: far above any machine, low enough to stay cheap. */
const CPU_LIST_MAX = 1 << 16;

/**
 * Parses a sysfs CPU list such as `0-3,8-11` (or `""` for none). Returns
 * `null` when it is malformed.
 *
 * @param text The list as sysfs writes it.
 * @returns The CPU numbers, ascending and without duplicates.
 */
export function parseCpuList(text: string): number[] | null {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  const cpus = new Set<number>();
  for (const part of trimmed.split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (match === null) return null;
    const low = Number(match[1]);
    const high = match[2] === undefined ? low : Number(match[2]);
    if (high < low || high >= CPU_LIST_MAX) return null;
    for (let cpu = low; cpu <= high; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

/**
 * perf's rule for a core PMU (tools/perf/util/pmu.c `is_pmu_core`): the PMU
 * named `cpu` (or s390's `cpum_cf`), or any PMU with a `cpus` file: Intel
 * hybrid's `cpu_core` and `cpu_atom`, every Arm CPU PMU.
 */
function isCorePmu(name: string): boolean {
  return name === "cpu" || name === "cpum_cf" || readText(`${PMU_ROOT}/${name}/cpus`) !== null;
}

/**
 * The core PMUs with the CPUs each covers, sorted by name as perf sorts them
 * (so `cpu_atom` before `cpu_core`). The CPUs come from the PMU's `cpumask`,
 * else its `cpus` (perf's `pmu_cpumask` order), else, as perf assumes for a
 * core PMU without either, every online CPU. Read once per process.
 */
export function corePmus(): CorePmu[] {
  if (corePmuCache !== undefined) return corePmuCache;
  const found: CorePmu[] = [];
  for (const name of listDir(PMU_ROOT) ?? []) {
    if (!isCorePmu(name)) continue;
    const typeText = readLine(`${PMU_ROOT}/${name}/type`);
    if (typeText === null || !/^\d+$/.test(typeText)) continue;
    const own = readLine(`${PMU_ROOT}/${name}/cpumask`) ?? readLine(`${PMU_ROOT}/${name}/cpus`);
    const cpus = own ?? readLine("/sys/devices/system/cpu/online") ?? "";
    found.push({ name, type: Number(typeText), cpus, cpuList: parseCpuList(cpus) ?? [] });
  }
  return corePmuCache = found;
}

/** Names of the core PMUs: the ones that count CPU events (cycles, instructions). */
export function cpuPmus(): string[] {
  return corePmus().map((pmu) => pmu.name);
}
