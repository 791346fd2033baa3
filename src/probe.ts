/**
 * What this machine offers for perf counting: the base of `perfmmap doctor`.
 *
 * @module
 */

import { native } from "./loader/native.ts";
import { Counter } from "./counter.ts";
import { PerfError } from "./errors.ts";
import { describe, ownArray } from "./_input.ts";
import { corePmus } from "./core_pmus.ts";
import { type CorePmu, cpuPmus, listPmus, privileges, readText, sysctl, uname } from "./_sysfs.ts";

export type { CorePmu };

/** Whether one event opens here, and how it would be read. */
export interface EventProbe {
  /** Whether the event opened. */
  opens: boolean;
  /** Whether reads are served from userspace. */
  userspace: boolean;
  /** How a read was served, when it opened. */
  source?: "userspace" | "syscall";
  /** The page's `cap_user_rdpmc`, when it opened. */
  userRdpmc?: boolean;
  /** The error code, when it did not open. */
  code?: string;
  /** The errno, when the kernel gave one. */
  errno?: number;
  /** The error's message, when it did not open. */
  message?: string;
  /** What to do, when it did not open. */
  hint?: string;
}

/** Everything {@link probe} found. */
export interface ProbeResult {
  /** `"deno"` or `"bun"`. */
  runtime: string;
  /** The runtime's version. */
  runtimeVersion: string;
  /** The library file loaded. */
  library: string;
  /** The library's ABI version. */
  abiVersion: number;
  /** `uname -s`. */
  sysname: string;
  /** `uname -r`: the kernel release. */
  kernel: string;
  /** `uname -m`: `x86_64`, `aarch64`, ... */
  arch: string;
  /** Whether perfmmap has a userspace register reader for this CPU. */
  archReader: boolean;
  /** Whether `/proc/cpuinfo` has the `hypervisor` flag (x86), or `null` if unknown. */
  hypervisor: boolean | null;
  /** `kernel.perf_event_paranoid`, or `null` if missing. */
  paranoid: number | null;
  /** CAP_PERFMON in the effective set, or `null` if unknown. */
  capPerfmon: boolean | null;
  /** CAP_SYS_ADMIN in the effective set, or `null` if unknown. */
  capSysAdmin: boolean | null;
  /** Whether kernel-mode counting is allowed to this process, or `null` if unknown. */
  kernelCounting: boolean | null;
  /** `kernel.perf_user_access` (arm64), or `null` if missing. */
  perfUserAccess: number | null;
  /** The x86 rdpmc knobs, each `null` if missing. */
  rdpmc: { cpu: number | null; cpuCore: number | null; cpuAtom: number | null };
  /** `kernel.perf_event_max_sample_rate`, or `null`. */
  maxSampleRate: number | null;
  /** `kernel.perf_event_mlock_kb`, or `null`. */
  mlockKb: number | null;
  /** The PMUs in `/sys/bus/event_source/devices`, with their types. */
  pmus: { name: string; type: number }[];
  /** The PMUs that count CPU events (cycles, instructions). */
  cpuPmus: string[];
  /**
   * The same core PMUs with their types and the CPUs each covers (sysfs
   * `cpus`). Several of them (Intel hybrid `cpu_core`/`cpu_atom`, Arm
   * big.LITTLE clusters) mean that a generic hardware or cache event is
   * counted on each and summed.
   */
  corePmus: CorePmu[];
  /** Whether a hardware event (cycles or instructions) opens. */
  hardwareEvents: boolean;
  /** Per probed event: whether it opens and how it is read. */
  events: Record<string, EventProbe>;
}

/** The events {@link probe} tries by default. */
export const PROBE_EVENTS: readonly string[] = [
  "cycles",
  "instructions",
  "task-clock",
  "page-faults",
];

function probeEvent(event: string): EventProbe {
  try {
    const counter = Counter.open(event);
    try {
      const reading = counter.readDetailed();
      const page = counter.capabilities;
      return {
        opens: true,
        userspace: page.userspaceActive,
        source: reading.source,
        userRdpmc: page.userRdpmc,
      };
    } finally {
      counter.close();
    }
  } catch (error) {
    if (!(error instanceof PerfError)) throw error;
    return {
      opens: false,
      userspace: false,
      code: error.code,
      errno: error.errno,
      message: error.message.split("\n")[0],
      hint: error.hint,
    };
  }
}

/** More events than this in one probe is a mistake. */
const PROBE_EVENTS_MAX = 1024;

/** The event names, read as own elements of an array of strings. */
function probeNames(events: unknown): string[] {
  let array = false;
  try {
    array = Array.isArray(events);
  } catch {
    // a revoked Proxy
  }
  if (!array) {
    throw new PerfError(
      "INVALID_OPTION",
      `events must be an array of event names, got ${describe(events)}`,
      {
        op: "probe",
      },
    );
  }
  const names = ownArray({ op: "probe" }, "events", events as unknown[], PROBE_EVENTS_MAX);
  names.forEach((name, index) => {
    if (typeof name !== "string") {
      throw new PerfError(
        "INVALID_EVENT",
        `events[${index}] must be an event name (a string), got ${describe(name)}`,
        { op: "probe" },
      );
    }
  });
  return names as string[];
}

function hasHypervisorFlag(): boolean | null {
  const cpuinfo = readText("/proc/cpuinfo");
  if (cpuinfo === null) return null;
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo);
  return flags === null ? null : flags[1].split(/\s+/).includes("hypervisor");
}

/**
 * Finds what this machine offers: kernel, CPU, permission knobs, PMUs, and
 * whether each of a few events opens and reads from userspace.
 *
 * @param events The events to try (default cycles, instructions,
 * task-clock, page-faults).
 * @returns A {@link ProbeResult}.
 * @throws {PerfError} When the library cannot load, or `events` is not an
 * array of strings (`INVALID_OPTION`, `INVALID_EVENT`).
 *
 * @example Checking for hardware counters
 * ```ts
 * import { probe } from "@perfmmap/perfmmap";
 *
 * const info = probe();
 * console.log(info.arch, info.kernel, "paranoid", info.paranoid);
 * if (!info.hardwareEvents) console.log(info.events.cycles.hint);
 * ```
 */
export function probe(events?: readonly string[]): ProbeResult {
  const names = probeNames(events === undefined ? PROBE_EVENTS : events);
  const n = native();
  const system = uname();
  const privilege = privileges();
  const results: Record<string, EventProbe> = {};
  for (const event of names) {
    // An own property even for "__proto__", which plain assignment would
    // take as the object's prototype.
    Object.defineProperty(results, event, {
      value: probeEvent(event),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const hardware = ["cycles", "instructions"].map((e) =>
    Object.hasOwn(results, e) ? results[e] : probeEvent(e)
  );
  return {
    runtime: n.runtime,
    runtimeVersion: n.runtimeVersion,
    library: n.path,
    abiVersion: n.symbols.pm_abi_version(),
    sysname: system.sysname,
    kernel: system.release,
    arch: system.machine,
    archReader: n.symbols.pm_arch() !== 0,
    hypervisor: hasHypervisorFlag(),
    paranoid: privilege.paranoid,
    capPerfmon: privilege.perfmon,
    capSysAdmin: privilege.sysAdmin,
    kernelCounting: privilege.kernelAllowed,
    perfUserAccess: sysctl("PERF_USER_ACCESS"),
    rdpmc: {
      cpu: sysctl("RDPMC_CPU"),
      cpuCore: sysctl("RDPMC_CPU_CORE"),
      cpuAtom: sysctl("RDPMC_CPU_ATOM"),
    },
    maxSampleRate: sysctl("PERF_EVENT_MAX_SAMPLE_RATE"),
    mlockKb: sysctl("PERF_EVENT_MLOCK_KB"),
    pmus: listPmus(),
    cpuPmus: cpuPmus(),
    corePmus: corePmus(),
    hardwareEvents: hardware.some((result) => result.opens),
    events: results,
  };
}
