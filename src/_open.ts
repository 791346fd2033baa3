// The one route from an event to the kernel, for Counter, Group members,
// Watchpoint and SimulatedCounter:
//   1. the event and the options resolve into one attr request, a pure
//      value (attrRequest): the event's modifiers beat the options, which
//      beat the defaults, for every field, here and nowhere else;
//   2. the request is written into the attr buffer and opened (openEvent),
//      once more with kernel and hypervisor excluded when the kernel refuses
//      them and the user left them to the defaults, as perf does;
//   3. a sampler's ring is mapped, or redirected to its output's ring;
//   4. the handle is adopted by its object, which registers it here
//      (registerHandle), so that another open can name it as a ring output.
// Classes live above this module; it hands out handle numbers only.

import { type Native, native } from "./loader/native.ts";
import { OPEN_FLAGS } from "./ffi/symbols.ts";
import { type EventInput, type EventSpec, parseEvent } from "./event.ts";
import { type AttrRequest, type Exclusions, kernelAttrSize, writeAttr } from "./_attr.ts";
import { nativeFailure } from "./_fail.ts";
import { PerfError } from "./errors.ts";
import { knownErrno } from "./_errno.ts";
import {
  type OptionDefaults,
  type ResolvedOptions,
  type ResolvedSampling,
  resolveOptions,
  type UserspaceMode,
} from "./_options.ts";
import type { RecordLayout } from "./_records.ts";
import { ringFailure } from "./_ring.ts";
import { privileges } from "./_sysfs.ts";
import { PERF_HW_EVENT_MASK, PERF_SAMPLE, PERF_TYPE, READ_FORMAT } from "./_uapi.ts";
import { noExtendedType, partsFor, refusedPartError } from "./_hybrid.ts";

const EACCES = knownErrno("EACCES");
const EPERM = knownErrno("EPERM");
const EINVAL = knownErrno("EINVAL");

/** The read format of a counter that is not in a group. */
export const SINGLE_READ_FORMAT = READ_FORMAT.TOTAL_TIME_ENABLED | READ_FORMAT.TOTAL_TIME_RUNNING;

/** The most members a group record holds (`pm_read_values` decodes up to 256). */
export const GROUP_RECORD_MEMBERS_MAX = 256;

/** What a group member adds to its open: the leader's handle and the group's read format. */
export interface GroupPlace {
  /** The leader's handle, or -1 for the leader itself. */
  leader: number;
  readFormat: number;
  /** Open disabled (the leader: the group is enabled as one). */
  disabled: boolean;
}

/** An event and its options, checked; nothing is opened yet. */
export interface Resolved {
  spec: EventSpec;
  options: ResolvedOptions;
}

/**
 * Parses the event and validates the options (the event first: a bad event
 * is the error a user sees first).
 */
export function resolveEvent(
  event: EventInput,
  options: unknown,
  defaults: OptionDefaults,
): Resolved {
  const spec = parseEvent(event);
  return { spec, options: resolveOptions("open", options, defaults) };
}

// ---- the registry of open handles --------------------------------------

interface Owned {
  handle: number;
  /** How its own ring's records are laid out, when it maps one. */
  ring: RecordLayout | undefined;
}

/** The objects that own an open handle. Weak: it never keeps one alive. */
const owners = new WeakMap<object, Owned>();

/**
 * Records that `owner` holds `handle` (and a ring laid out as `ring`), so
 * that a later open can use it as a ring output. A brand too: a look-alike
 * object is not in here.
 */
export function registerHandle(
  owner: object,
  handle: number,
  ring: RecordLayout | undefined,
): void {
  owners.set(owner, { handle, ring });
}

/** Forgets `owner` (it was closed). */
export function releaseHandle(owner: object): void {
  owners.delete(owner);
}

/** The open handle of `owner`, or undefined when it holds none (closed, or a look-alike). */
export function handleOf(owner: unknown): number | undefined {
  return typeof owner === "object" && owner !== null ? owners.get(owner)?.handle : undefined;
}

// ---- the attr request ------------------------------------------------------

/**
 * The exclude bits: kernel and hypervisor are excluded by default only when
 * this process may not count them (perf_event_paranoid >= 2 without
 * CAP_PERFMON), as `perf` itself falls back; options override defaults, and
 * `:u`/`:k`/`:h` modifiers override both. `restricted` forces the fallback.
 */
export function exclusions(
  options: ResolvedOptions,
  spec: EventSpec,
  restricted: boolean = privileges().kernelAllowed === false,
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

/**
 * Everything the attr says, from the event, its modifiers and the options:
 * modifiers (`:u`, `:k`, `:D`, `:e`, `:p`) beat options, options beat
 * defaults.
 */
export function attrRequest(
  spec: EventSpec,
  options: ResolvedOptions,
  group: GroupPlace | undefined,
  exclude: Exclusions = exclusions(options, spec),
): AttrRequest {
  return {
    spec,
    exclude,
    inherit: options.inherit,
    enableOnExec: options.enableOnExec,
    pinned: spec.modifiers.pinned ?? options.pinned,
    exclusive: spec.modifiers.exclusive ?? options.exclusive,
    disabled: group?.disabled ?? !options.enabled,
    precise: spec.modifiers.precise ?? 0,
    readFormat: group?.readFormat ?? SINGLE_READ_FORMAT,
    sampling: options.sampling,
  };
}

/** What the records of a counter opened with `sampling` look like. */
export function recordLayout(
  sampling: ResolvedSampling | undefined,
  readFormat: number,
): RecordLayout | undefined {
  if (sampling === undefined) return undefined;
  return { sampleType: sampling.sampleType, readFormat, sampleIdAll: true };
}

// ---- opening -------------------------------------------------------------

/**
 * A counter that sends its records to `output`'s ring must write them the
 * way that ring is decoded.
 */
function checkOutput(spec: EventSpec, sampling: ResolvedSampling, readFormat: number): void {
  const output = sampling.output;
  if (output === undefined) return;
  const theirs = typeof output === "object" && output !== null
    ? owners.get(output)?.ring
    : undefined;
  const ours = recordLayout(sampling, readFormat)!;
  if (theirs === undefined) {
    throw new PerfError("INVALID_OPTION", "ring.output must be an open counter with its own ring", {
      op: "open",
      event: spec.name,
      hint: "open the output counter with a sample option first, and keep it open",
    });
  }
  if (theirs.sampleType !== ours.sampleType || theirs.readFormat !== ours.readFormat) {
    throw new PerfError(
      "INVALID_OPTION",
      `ring.output "${output.event.name}" writes samples with another sampleType`,
      {
        op: "open",
        event: spec.name,
        hint: "records in one ring are decoded one way: give both counters the same sampleType",
      },
    );
  }
}

/** A sampling-specific hint for an EINVAL at open, where the generic one would mislead. */
function samplingOpenFailure(
  failure: PerfError,
  options: ResolvedOptions,
  inGroup: boolean,
): PerfError | undefined {
  const sampling = options.sampling;
  if (sampling === undefined || failure.code !== "EINVAL") return undefined;
  if ((sampling.sampleType & PERF_SAMPLE.READ) === 0 || !options.inherit) return undefined;
  return new PerfError(failure.code, failure.message.split("\nhint:")[0], {
    errno: failure.errno,
    op: failure.op,
    event: failure.event,
    hint: `this kernel refuses sampleType "read" on an inherited ${
      inGroup ? "group" : "counter"
    } (the sample could not hold the children's counts): drop inherit, or drop "read"`,
  });
}

/** Maps the ring, or redirects to the output counter's; closes the handle on failure. */
function attachRing(n: Native, handle: number, spec: EventSpec, options: ResolvedOptions): void {
  const sampling = options.sampling!;
  const output = sampling.output;
  const result = output === undefined
    ? n.symbols.pm_ring_map(handle, sampling.pages)
    : n.symbols.pm_set_output(handle, handleOf(output) ?? -1);
  if (result >= 0) return;
  n.symbols.pm_close(handle);
  throw ringFailure(result, {
    op: output === undefined ? "ring_map" : "set_output",
    event: spec.name,
    pages: sampling.pages,
    inherit: options.inherit,
    cpu: options.cpu,
  });
}

function modeFlags(mode: UserspaceMode, fallback: boolean): number {
  const bits = mode === "off"
    ? OPEN_FLAGS.MODE_OFF
    : mode === "auto"
    ? OPEN_FLAGS.MODE_AUTO
    : OPEN_FLAGS.MODE_REQUIRE;
  return bits | (fallback ? OPEN_FLAGS.FALLBACK : 0);
}

function openOnce(
  n: Native,
  request: AttrRequest,
  options: ResolvedOptions,
  group: GroupPlace | undefined,
): number {
  return n.symbols.pm_open(
    writeAttr(n, request),
    options.pid,
    options.cpu,
    group?.leader ?? -1,
    modeFlags(options.userspace, options.fallback) |
      // The ring is mapped next, once: its first page is the metadata page.
      (options.sampling === undefined ? 0 : OPEN_FLAGS.RING),
  );
}

/**
 * Opens one event: a counter, a group member (`group`), or a watchpoint.
 *
 * @returns The handle; the caller adopts it (and registers it).
 * @throws {PerfError} The kernel's refusal, with a hint for this machine.
 */
export function openEvent(
  spec: EventSpec,
  options: ResolvedOptions,
  group: GroupPlace | undefined,
): number {
  const n = native();
  if (options.sampling !== undefined) {
    checkOutput(spec, options.sampling, group?.readFormat ?? SINGLE_READ_FORMAT);
  }
  let request = attrRequest(spec, options, group);
  let handle = openOnce(n, request, options, group);
  if (
    (handle === -EACCES || handle === -EPERM) && !request.exclude.kernel &&
    mayRetryRestricted(options, spec)
  ) {
    // As perf does: without the right to count kernel mode, count user mode.
    request = attrRequest(spec, options, group, exclusions(options, spec, true));
    handle = openOnce(n, request, options, group);
  }
  if (handle < 0) {
    const failure = nativeFailure(handle, {
      op: "open",
      event: spec.name,
      kind: spec.kind,
      type: spec.type,
      config: spec.config,
      pmu: spec.pmu,
      pid: options.pid,
      cpu: options.cpu,
      excludeKernel: request.exclude.kernel,
      attrSize: kernelAttrSize(n),
    });
    throw samplingOpenFailure(failure, options, group !== undefined) ?? failure;
  }
  if (options.sampling !== undefined) attachRing(n, handle, spec, options);
  if (spec.type === PERF_TYPE.BREAKPOINT) openedWith.set(spec, request);
  return handle;
}

// ---- moving a breakpoint -------------------------------------------------

/**
 * The attr request each open breakpoint spec was opened with. The kernel
 * changes a breakpoint (PERF_EVENT_IOC_MODIFY_ATTRIBUTES) only when the new
 * attr equals the old one byte for byte but for bp_addr, bp_len, bp_type and
 * disabled, so a move must repeat every other bit, including the exclude
 * bits a restricted retry chose. Weak: it lives as long as the spec, which
 * its counter holds.
 */
const openedWith = new WeakMap<EventSpec, AttrRequest>();

/**
 * Moves the open breakpoint `handle`, opened as `from`, to the address,
 * length and access of `to`, keeping its fd and debug register
 * (`pm_modify_attributes`; the core keeps it enabled or disabled as it is).
 *
 * @returns 0, or the core's negative result; `-EINVAL` when `from` was not
 * opened here as a breakpoint.
 */
export function modifyBreakpoint(handle: number, from: EventSpec, to: EventSpec): number {
  const opened = openedWith.get(from);
  if (opened === undefined || to.type !== PERF_TYPE.BREAKPOINT) return -EINVAL;
  const n = native();
  const request: AttrRequest = { ...opened, spec: to };
  const result = n.symbols.pm_modify_attributes(handle, writeAttr(n, request));
  if (result >= 0) openedWith.set(to, request);
  return result;
}

/**
 * Opens a generic event on every core PMU that should count it (Intel
 * hybrid, Arm big.LITTLE). A part the kernel refuses makes the open fail
 * (its counts would be missing from every read), with a hint naming the
 * PMUs that can count it. When every part is refused as an unknown type and
 * the plain event opens, the kernel predates extended types: the plain
 * event is returned, as perf does, and counts where the kernel puts it.
 *
 * @returns One handle per part (`parts[i]` is `handles[i]`'s event), or
 * one handle and its single event.
 */
export function openParts(
  spec: EventSpec,
  options: ResolvedOptions,
): { handles: number[]; parts: EventSpec[] } {
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
    const single = { ...parts[0], name: spec.name };
    return { handles: [openEvent(single, options, undefined)], parts: [single] };
  }
  const handles: number[] = [];
  const failures: unknown[] = [];
  let refused: EventSpec | undefined;
  for (const part of parts) {
    try {
      handles.push(openEvent(part, options, undefined));
    } catch (error) {
      failures.push(error);
      refused ??= part;
      if (!(error instanceof PerfError)) break;
    }
  }
  if (failures.length === 0) return { handles, parts };
  const n = native();
  for (const handle of handles.reverse()) n.symbols.pm_close(handle);
  const first = failures[0];
  if (!(first instanceof PerfError)) throw first;
  if (failures.length === parts.length && failures.every(noExtendedType)) {
    const plain = { ...spec, config: spec.config & PERF_HW_EVENT_MASK, parts: undefined };
    try {
      return { handles: [openEvent(plain, options, undefined)], parts: [plain] };
    } catch {
      // the plain event fails too: the parts' error says more
    }
  }
  throw refusedPartError(spec, parts, refused!, first);
}

/** Opens a simulated handle (see `testing.ts`). */
export function openSimulated(mode: UserspaceMode, fallback: boolean): number {
  const handle = native().symbols.pm_sim_open(modeFlags(mode, fallback));
  if (handle < 0) {
    throw nativeFailure(handle, { op: "open", event: "simulated", kind: "simulated" });
  }
  return handle;
}
