// The group read of the core (`pm_group_read`) as Group uses it: which
// groups read from userspace by default, the layout of `Group.readInto`,
// and the checks of its buffer.

import type { EventSpec } from "./event.ts";
import type { ReadSource } from "./reading.ts";
import type { UserspaceMode } from "./_options.ts";
import { PERF_TYPE } from "./_uapi.ts";
import { GROUP_SOURCE } from "./ffi/symbols.ts";
import { PerfError } from "./errors.ts";

/**
 * Dynamic PMUs of the kernel's software context: no counter register, so
 * their pages never offer a userspace read.
 */
const SOFTWARE_CONTEXT_PMUS: ReadonlySet<string> = new Set([
  "software",
  "tracepoint",
  "breakpoint",
  "kprobe",
  "uprobe",
  "msr",
]);

/**
 * Whether an event can be read from a register by userspace at all: the
 * CPU PMU's types (hardware, cache, raw) and dynamic PMU types, but not the
 * kernel's software context (software, tracepoint, breakpoint types, and
 * the dynamic PMUs that live there).
 *
 * @param spec A resolved event.
 * @returns True for an event that may have a register index.
 */
export function mayReadFromRegister(spec: EventSpec): boolean {
  if (spec.kind === "simulated") return true;
  switch (spec.type) {
    case PERF_TYPE.HARDWARE:
    case PERF_TYPE.HW_CACHE:
    case PERF_TYPE.RAW:
      return true;
    default:
      return spec.type >= PERF_TYPE.MAX &&
        (spec.pmu === undefined || !SOFTWARE_CONTEXT_PMUS.has(spec.pmu));
  }
}

/**
 * The `userspace` default of `Group.open`: `"auto"` when every event may be
 * read from a register, else `"off"`. The core serves a group from
 * userspace only when every member can be, so one software member makes
 * the pages of the others useless: they are not mapped.
 *
 * @param specs The group's events.
 * @returns The default mode.
 */
export function groupUserspaceDefault(specs: readonly EventSpec[]): UserspaceMode {
  return specs.length > 0 && specs.every(mayReadFromRegister) ? "auto" : "off";
}

/**
 * `pm_group_read`'s result as a {@link ReadSource}.
 *
 * @param result A non-negative result of `pm_group_read`.
 * @returns The source.
 */
export function groupSource(result: number): ReadSource {
  return result === GROUP_SOURCE.USERSPACE ? "userspace" : "syscall";
}

/**
 * Refuses a `Group.readInto` buffer that is not a `Float64Array` of at least
 * `members + 2` elements, with `INVALID_ARGUMENT`.
 *
 * @param out What the caller passed.
 * @param members The group's size.
 * @param event The leader's name, for the error.
 */
export function checkReadIntoBuffer(out: unknown, members: number, event: string): void {
  if (out instanceof Float64Array && out.length >= members + 2) return;
  const needed = members + 2;
  const shown = out instanceof Float64Array
    ? `a Float64Array of ${out.length}`
    : ArrayBuffer.isView(out)
    ? `a ${Object.prototype.toString.call(out).slice(8, -1)}`
    : out === null
    ? "null"
    : typeof out;
  throw new PerfError(
    "INVALID_ARGUMENT",
    `readInto needs a Float64Array of at least ${needed} elements (${members} values, ` +
      `timeEnabled, timeRunning), got ${shown}`,
    {
      op: "read",
      event,
      hint: `allocate it once: new Float64Array(${needed}), and reuse it for every read`,
    },
  );
}
