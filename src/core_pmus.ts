/**
 * The PMUs that count the CPU's own events, as sysfs lists them.
 *
 * @module
 */

import { type CorePmu, corePmus as sysfsCorePmus } from "./_sysfs.ts";

/**
 * The core PMUs: the ones that count CPU events (cycles, instructions), by
 * perf's rule (the PMU named `cpu`, or any PMU with a `cpus` file), sorted
 * by name as perf sorts them, each with its `type` and the CPUs it covers.
 * One on most machines (`cpu`); several on Intel hybrid (`cpu_atom`,
 * `cpu_core`) and Arm big.LITTLE, where a generic hardware event is counted
 * on each and summed; none in a VM without a virtual PMU, where hardware
 * events do not open.
 *
 * @returns Fresh copies, one per core PMU; read from sysfs once per process.
 * @throws {PerfError} When the library cannot load (sysfs is read through it).
 *
 * @example Is there a hardware PMU here?
 * ```ts
 * import { corePmus } from "@perfmmap/perfmmap";
 * import assert from "node:assert/strict";
 *
 * const cores = corePmus();
 * for (const pmu of cores) {
 *   assert.ok(pmu.type >= 0);
 *   console.log(`${pmu.name}: type ${pmu.type}, CPUs ${pmu.cpus}`);
 * }
 * if (cores.length === 0) console.log("no CPU PMU: only software events count here");
 * ```
 */
export function corePmus(): CorePmu[] {
  return sysfsCorePmus().map((pmu) => ({ ...pmu, cpuList: [...pmu.cpuList] }));
}
