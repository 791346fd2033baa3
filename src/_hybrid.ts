// A generic hardware or cache event on a machine with several core PMUs
// (Intel hybrid, Arm big.LITTLE): one kernel event per core PMU, read as
// their sum. See EventSpec.parts for how the parts are made.

import {
  adoptCounter,
  Counter,
  type CounterReading,
  openHandle,
  type ReadStats,
} from "./counter.ts";
import { type EventSpec, parseEvent } from "./event.ts";
import { PerfError } from "./errors.ts";
import type { ResolvedOptions } from "./_options.ts";
import { PERF_HW_EVENT_MASK } from "./_event_tables.ts";
import { corePmus } from "./_sysfs.ts";

/** One part of a counter opened on several core PMUs, as `readDetailed()` shows it. */
export interface PartReading extends CounterReading {
  /** The part's name, as perf prints it: `cpu_core/cycles/`. */
  name: string;
  /** The core PMU that counts it. */
  pmu: string;
}

/** The parts to open: all of them, or those whose PMU covers `cpu` when one is given. */
function partsFor(spec: EventSpec, cpu: number): EventSpec[] {
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
function maybeNoExtendedType(error: unknown): boolean {
  return error instanceof PerfError && (error.code === "ENOENT" || error.code === "EINVAL");
}

/**
 * Opens `spec` once per core PMU and returns one counter that reads their
 * sum. A part the kernel refuses makes the open fail (its counts would be
 * missing from every read), with a hint naming the PMUs that can count it.
 * When every part is refused as an unknown type and the plain event opens,
 * the kernel predates extended types: the plain event is returned, as perf
 * does, and counts where the kernel puts it.
 */
export function openParts(spec: EventSpec, options: ResolvedOptions): Counter {
  if (options.sampling !== undefined) {
    const names = spec.parts!.map((part) => part.name);
    throw new PerfError(
      "MULTIPLE_PMUS",
      `"${spec.name}" counts on ${names.length} core PMUs here, and a sampling counter has one ring on one PMU`,
      {
        op: "open",
        event: spec.name,
        hint: `sample each PMU with its own counter: ${names.map((n) => `"${n}"`).join(", ")}`,
      },
    );
  }
  const parts = partsFor(spec, options.cpu);
  if (parts.length === 1) {
    return openSingle({ ...parts[0], name: spec.name }, options);
  }
  const handles: number[] = [];
  const failures: unknown[] = [];
  let refused: EventSpec | undefined;
  for (const part of parts) {
    try {
      handles.push(openHandle(part, options, undefined));
    } catch (error) {
      failures.push(error);
      refused ??= part;
      if (!(error instanceof PerfError)) break;
    }
  }
  if (failures.length === 0) return new (partsClass())(handles, spec, parts);
  for (const handle of handles.reverse()) adoptCounter(handle, spec).close();
  const first = failures[0];
  if (!(first instanceof PerfError)) throw first;
  if (failures.length === parts.length && failures.every(maybeNoExtendedType)) {
    const plain = { ...spec, config: spec.config & PERF_HW_EVENT_MASK, parts: undefined };
    try {
      return openSingle(plain, options);
    } catch {
      // the plain event fails too: the parts' error says more
    }
  }
  const others = parts.filter((part) => part !== refused).map((part) => `"${part.name}"`);
  throw new PerfError(first.code, first.message, {
    errno: first.errno,
    op: first.op,
    event: first.event,
    cause: first,
    hint: `${first.hint === undefined ? "" : `${first.hint}; `}"${spec.name}" counts on every ` +
      `core PMU, and ${refused!.pmu} refused it: to count only on the other cores, open ${
        others.join(" and ")
      }`,
  });
}

/** One plain counter (no sampling: refused above for parts). */
function openSingle(spec: EventSpec, options: ResolvedOptions): Counter {
  return adoptCounter(openHandle(spec, options, undefined), spec);
}

type PartsConstructor = new (handles: number[], spec: EventSpec, parts: EventSpec[]) => Counter;
let partsClassCache: PartsConstructor | undefined;

/**
 * The class is made on first use: this module and counter.ts import each
 * other, and `extends Counter` at load time would run before Counter exists.
 */
function partsClass(): PartsConstructor {
  return partsClassCache ??= class PartsCounter extends Counter {
    // Part 0 is this counter's own handle; the others are plain counters.
    #rest: Counter[];
    #parts: EventSpec[];

    constructor(handles: number[], spec: EventSpec, parts: EventSpec[]) {
      super(handles[0], spec);
      this.#parts = parts;
      this.#rest = handles.slice(1).map((handle, i) => adoptCounter(handle, parts[i + 1]));
    }

    override read(): number {
      let sum = super.read();
      const rest = this.#rest;
      for (let i = 0; i < rest.length; i++) sum += rest[i].read();
      return sum;
    }

    override readBigInt(): bigint {
      let sum = super.readBigInt();
      for (const part of this.#rest) sum += part.readBigInt();
      return sum;
    }

    override readSyscall(): number {
      let sum = super.readSyscall();
      for (const part of this.#rest) sum += part.readSyscall();
      return sum;
    }

    override readDetailed(): CounterReading {
      const readings = [super.readDetailed(), ...this.#rest.map((part) => part.readDetailed())];
      const parts: PartReading[] = readings.map((reading, i) => ({
        ...reading,
        name: this.#parts[i].name,
        pmu: this.#parts[i].pmu!,
      }));
      return combineParts(parts);
    }

    override enable(): void {
      super.enable();
      for (const part of this.#rest) part.enable();
    }

    override disable(): void {
      super.disable();
      for (const part of this.#rest) part.disable();
    }

    override reset(): void {
      super.reset();
      for (const part of this.#rest) part.reset();
    }

    override get userspace(): boolean {
      return super.userspace && this.#rest.every((part) => part.userspace);
    }

    override stats(): ReadStats {
      const total = super.stats();
      for (const part of this.#rest) {
        const stats = part.stats();
        for (const key of Object.keys(total) as (keyof ReadStats)[]) total[key] += stats[key];
      }
      return total;
    }

    override close(): void {
      if (this.closed) return super.close(); // STALE_HANDLE, as for any counter
      let first: unknown;
      for (const part of this.#rest) {
        try {
          part.close();
        } catch (error) {
          first ??= error;
        }
      }
      super.close();
      if (first !== undefined) throw first;
    }
  };
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
