// A generic hardware or cache event on a machine with several core PMUs
// (Intel hybrid, Arm big.LITTLE): one kernel event per core PMU, read as
// their sum. See EventSpec.parts for how the parts are made. The opening is
// _open.ts's (openParts); the reading is Counter's; the rules are here.

import { type EventSpec, parseEvent } from "./event.ts";
import { PerfError } from "./errors.ts";
import type { CounterReading, PartReading } from "./reading.ts";
import { corePmus } from "./_sysfs.ts";

/** The parts to open: all of them, or those whose PMU covers `cpu` when one is given. */
export function partsFor(spec: EventSpec, cpu: number): EventSpec[] {
  const parts = spec.parts!;
  if (cpu < 0) return parts;
  // A per-CPU event opens only on the PMU of that CPU: the other PMU's
  // event_init refuses a CPU it does not cover (ENOENT).
  const covering = new Set(
    corePmus().filter((pmu) => pmu.cpuList.includes(cpu)).map((pmu) => pmu.name),
  );
  const kept = parts.filter((part) => covering.has(part.pmu!));
  return kept.length > 0 ? kept : parts;
}

/** Errors that say the kernel took no extended type (before Linux 5.13, or 6.6 on Arm). */
export function noExtendedType(error: unknown): boolean {
  return error instanceof PerfError && (error.code === "ENOENT" || error.code === "EINVAL");
}

/**
 * The error for a part the kernel refused: the kernel's own, with a hint
 * naming the PMUs that can count the event.
 */
export function refusedPartError(
  spec: EventSpec,
  parts: readonly EventSpec[],
  refused: EventSpec,
  first: PerfError,
): PerfError {
  const others = parts.filter((part) => part !== refused).map((part) => `"${part.name}"`);
  return new PerfError(first.code, first.message, {
    errno: first.errno,
    op: first.op,
    event: first.event,
    cause: first,
    hint: `${first.hint === undefined ? "" : `${first.hint}; `}"${spec.name}" counts on every ` +
      `core PMU, and ${refused.pmu} refused it: to count only on the other cores, open ${
        others.join(" and ")
      }`,
  });
}

/**
 * The sum of the parts. Each part of a task's event is enabled while the
 * task runs and running while it runs on that PMU's CPUs, so the parts'
 * running times add up to the enabled time unless the PMUs multiplexed:
 * `timeEnabled` is the longest part's, `timeRunning` the sum, and `scaled`
 * corrects the sum for multiplexing only (`value * enabled / running` when
 * running < enabled), never a part's absence from the other cores. A part
 * that never ran (the task stayed on the other kind of core) is no reason
 * to call the sum "not counted"; all of them never running is.
 */
export function combineParts(parts: PartReading[]): CounterReading & { parts: PartReading[] } {
  let value = 0, timeEnabled = 0, timeRunning = 0, attempts = 0, yields = 0;
  let userspace = true;
  // The part that ran longest carries the "was it counted" fields: it ran
  // (so the sum is a count) unless no part ever did.
  let longest = parts[0];
  for (const part of parts) {
    value += part.value;
    timeEnabled = Math.max(timeEnabled, part.timeEnabled);
    timeRunning += part.timeRunning;
    attempts += part.attempts;
    yields += part.yields;
    userspace &&= part.source === "userspace";
    if (part.timeRunning > longest.timeRunning) longest = part;
  }
  const { name: _name, pmu: _pmu, ...counted } = longest;
  return {
    ...counted,
    value,
    timeEnabled,
    timeRunning,
    scaled: timeRunning > 0
      ? value * (timeEnabled > timeRunning ? timeEnabled / timeRunning : 1)
      : counted.scaled,
    source: userspace ? "userspace" : "syscall",
    attempts,
    yields,
    index: parts[0].index,
    pmcWidth: parts[0].pmcWidth,
    parts,
  };
}

/**
 * Refuses a group member that counts on several core PMUs: the kernel
 * schedules a group on one PMU, so perf splits such a group into one group
 * per PMU; perfmmap asks for the PMU to be named instead.
 *
 * @param specs The group's events.
 * @throws {PerfError} `MULTIPLE_PMUS`, naming the per-PMU spellings.
 */
export function refuseGroupParts(specs: readonly EventSpec[]): void {
  const spread = specs.find((spec) => spec.parts !== undefined);
  if (spread === undefined) return;
  const pmus = spread.parts!.map((part) => part.pmu!);
  const names = spread.parts!.map((part) => `"${part.name}"`);
  throw new PerfError(
    "MULTIPLE_PMUS",
    `group member "${spread.name}" counts on ${pmus.length} core PMUs here (${
      pmus.join(", ")
    }), and a group is scheduled on one PMU`,
    {
      op: "open",
      event: spread.name,
      hint: `open one group per PMU, naming it in each event (${names.join(", ")}), ` +
        `and add the groups' counts; or count "${spread.name}" alone with Counter.open, which sums the PMUs`,
    },
  );
}

/**
 * The names to count `name` under, one per core PMU when it has parts
 * (`cycles` is `cpu_atom/cycles/` and `cpu_core/cycles/` on Alder Lake), as
 * perf stat shows them; else `[name]`.
 *
 * @param name An event in perf's syntax.
 * @returns The names, each of which opens one PMU's part.
 */
export function partNames(name: string): string[] {
  return parseEvent(name).parts?.map((part) => part.name) ?? [name];
}
