// Hardware watchpoints: turning a target (a typed array element, a byte of a
// buffer, or an address) into a PERF_TYPE_BREAKPOINT event spec, with every
// check the kernel would make done first; the count of watchpoints open in
// this thread; and the hints for the kernel's refusals.

import { PerfError, quote } from "./errors.ts";
import type { EventSpec } from "./event.ts";
import { addressOf } from "./loader/native.ts";
import { uname } from "./_sysfs.ts";
import { describe as describeValue, ownRecord } from "./_input.ts";
import { HW_BREAKPOINT_TYPE, PERF_TYPE } from "./_uapi.ts";

/** What a watchpoint counts: reads, writes, both, or execution. */
export type WatchAccess = "r" | "w" | "rw" | "x";

/** The lengths the debug registers watch (`HW_BREAKPOINT_LEN_*`). */
export type WatchLength = 1 | 2 | 4 | 8;

const ACCESS_BY_TYPE = ["", "r", "w", "rw", "x"] as const;
const LENGTHS: readonly number[] = [1, 2, 4, 8];
const ADDRESS_MAX = (1n << 64n) - 1n;

/** A TypedArray of any element type. */
export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** A watched range, resolved and checked. */
export interface WatchRequest {
  address: bigint;
  length: WatchLength;
  access: WatchAccess;
  /** What keeps the memory alive: the ArrayBuffer, or undefined for an address. */
  buffer: ArrayBufferLike | undefined;
  /** Where the watched bytes end, from the start of `buffer`. */
  end?: number;
}

// The op the checks below report: "open", or "modify_attributes" while
// resolveMove runs a watchpoint's new target through the same checks.
let checkingFor = "open";

function fail(code: string, message: string, hint?: string): PerfError {
  return new PerfError(code, message, { op: checkingFor, event: "watchpoint", hint });
}

function describe(value: unknown): string {
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  return describeValue(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isDetached(buffer: ArrayBufferLike): boolean {
  return (buffer as { detached?: boolean }).detached === true;
}

function machine(): string {
  try {
    return uname().machine;
  } catch {
    return "unknown";
  }
}

/** Checks `access` and `length` (when given) and applies the defaults. */
export function resolveAccess(
  access: unknown,
  length: unknown,
  elementBytes: number | undefined,
): { access: WatchAccess; length: WatchLength } {
  const resolvedAccess = access === undefined ? "w" : access;
  if (typeof resolvedAccess !== "string" || !Object.hasOwn(HW_BREAKPOINT_TYPE, resolvedAccess)) {
    throw fail(
      "INVALID_OPTION",
      `option access must be "r", "w", "rw" or "x", got ${describe(access)}`,
    );
  }
  const x = resolvedAccess === "x";
  const resolvedLength = length === undefined ? (x ? 8 : elementBytes) : length;
  if (resolvedLength === undefined) {
    throw fail(
      "INVALID_OPTION",
      "option length is needed for a buffer or address target: 1, 2, 4 or 8 bytes",
      "give e.g. { length: 8 }; for an array element it defaults to the element size",
    );
  }
  if (typeof resolvedLength !== "number" || !LENGTHS.includes(resolvedLength)) {
    throw fail(
      "INVALID_OPTION",
      `option length must be 1, 2, 4 or 8, got ${describe(resolvedLength)}`,
      "the debug registers watch 1, 2, 4 or 8 aligned bytes; watch a larger object with several watchpoints",
    );
  }
  if (x && machine() === "x86_64" && resolvedLength !== 8) {
    throw fail(
      "INVALID_OPTION",
      `an execute breakpoint ("x") on x86_64 needs length 8, got ${resolvedLength}`,
      "the kernel accepts only bp_len = sizeof(long) for x86 instruction breakpoints; leave length out",
    );
  }
  return { access: resolvedAccess as WatchAccess, length: resolvedLength as WatchLength };
}

function checkAlignment(address: bigint, access: WatchAccess, length: WatchLength): void {
  // x86 instruction breakpoints watch one instruction start, at any address;
  // arm64 instructions are 4-byte aligned.
  const align = access === "x" ? (machine() === "aarch64" ? 4 : 1) : length;
  if (address % BigInt(align) === 0n) return;
  throw fail(
    "MISALIGNED_ADDRESS",
    `address 0x${address.toString(16)} is not aligned to ${align} bytes`,
    access === "x"
      ? "arm64 instructions start at multiples of 4"
      : `a watchpoint of ${length} bytes must start at a multiple of ${length}: pick a smaller length or an aligned offset`,
  );
}

function checkIndex(name: string, value: unknown, limit: number, unit: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw fail("INVALID_TARGET", `${name} must be an integer, got ${describe(value)}`);
  }
  if (value < 0 || value >= limit) {
    throw fail(
      "VALUE_OUT_OF_RANGE",
      `${name} ${value} is outside the ${limit} ${unit}${limit === 1 ? "" : "s"} of the target`,
    );
  }
  return value;
}

function checkRange(end: number, size: number, what: string, length: number): void {
  if (end <= size) return;
  throw fail(
    "VALUE_OUT_OF_RANGE",
    `a watchpoint of ${length} byte(s) there ends ${
      end - size
    } byte(s) past the end of the ${size}-byte ${what}`,
    "pick a smaller length or an offset further from the end",
  );
}

function detached(what: string): PerfError {
  return fail(
    "DETACHED_BUFFER",
    `the ${what}'s ArrayBuffer is detached (transferred or posted away)`,
    "watch the buffer that now owns the memory",
  );
}

/**
 * The address of a view's byte 0 after making its storage permanent: in Bun a
 * typed array of up to 1000 elements keeps its storage in the GC heap until
 * its ArrayBuffer is first needed (`.buffer`, or optimized code that uses the
 * array), and then copies it to a new place. Reading `.buffer` first moves
 * it once, now, so the address stays right. Deno's `UnsafePointer.of`
 * already returns off-heap storage that the GC does not move.
 */
function stableAddress(view: ArrayBufferView): bigint {
  void view.buffer;
  return addressOf(view);
}

function fromArray(target: Record<string, unknown>, options: Options): WatchRequest {
  const array = target.array;
  if (!ArrayBuffer.isView(array) || array instanceof DataView) {
    throw fail("INVALID_TARGET", `target.array must be a typed array, got ${describe(array)}`);
  }
  const typed = array as AnyTypedArray;
  if (isDetached(typed.buffer)) throw detached("array");
  const bytes = typed.BYTES_PER_ELEMENT;
  const index = checkIndex("target.index", target.index, typed.length, "element");
  const { access, length } = resolveAccess(options.access, options.length, bytes);
  checkRange(index * bytes + length, typed.byteLength, "array", length);
  const address = stableAddress(typed) + BigInt(index * bytes);
  checkAlignment(address, access, length);
  const end = typed.byteOffset + index * bytes + length;
  return { address, length, access, buffer: typed.buffer, end };
}

function fromBuffer(target: Record<string, unknown>, options: Options): WatchRequest {
  const source = target.buffer;
  const isBuffer = source instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer === "function" && source instanceof SharedArrayBuffer);
  if (!isBuffer && !(source instanceof DataView)) {
    throw fail(
      "INVALID_TARGET",
      `target.buffer must be an ArrayBuffer, SharedArrayBuffer or DataView, got ${
        describe(source)
      }`,
    );
  }
  const buffer = source instanceof DataView ? source.buffer : source as ArrayBufferLike;
  if (isDetached(buffer)) throw detached(source instanceof DataView ? "DataView" : "buffer");
  const size = source instanceof DataView ? source.byteLength : buffer.byteLength;
  const what = source instanceof DataView ? "DataView" : "buffer";
  const offset = checkIndex("target.byteOffset", target.byteOffset, size, "byte");
  const { access, length } = resolveAccess(options.access, options.length, options.lengthDefault);
  checkRange(offset + length, size, what, length);
  const view = source instanceof DataView ? source : new Uint8Array(buffer);
  const address = stableAddress(view) + BigInt(offset);
  checkAlignment(address, access, length);
  const end = (source instanceof DataView ? source.byteOffset : 0) + offset + length;
  return { address, length, access, buffer, end };
}

function fromAddress(target: Record<string, unknown>, options: Options): WatchRequest {
  const address = target.address;
  if (typeof address !== "bigint" || address < 0n || address > ADDRESS_MAX) {
    throw fail(
      "INVALID_TARGET",
      `target.address must be a bigint from 0n to 2n ** 64n - 1n, got ${describe(address)}`,
    );
  }
  const { access, length } = resolveAccess(options.access, options.length, options.lengthDefault);
  checkAlignment(address, access, length);
  return { address, length, access, buffer: undefined };
}

/** The watch options this file reads. */
export interface Options {
  access?: unknown;
  length?: unknown;
  /** The length of a buffer or address target given none (at open: none, so it is required). */
  lengthDefault?: WatchLength;
}

const TARGET_KEYS: Readonly<Record<string, readonly string[]>> = {
  array: ["array", "index"],
  buffer: ["buffer", "byteOffset"],
  address: ["address"],
};

/**
 * Resolves a target: `{ array, index }`, `{ buffer, byteOffset }` or
 * `{ address }`. Every check is made here, before the kernel is asked.
 */
export function resolveTarget(target: unknown, options: Options): WatchRequest {
  if (!isObject(target) || isArray(target) || ArrayBuffer.isView(target)) {
    throw fail(
      "INVALID_TARGET",
      `target must be { array, index }, { buffer, byteOffset } or { address }, got ${
        describe(target)
      }`,
    );
  }
  // Own properties only: `Object.prototype.address = 0n` makes no target.
  const own = ownRecord(
    { op: checkingFor, code: "INVALID_TARGET", event: "watchpoint" },
    "target",
    target,
  );
  const kinds = Object.keys(TARGET_KEYS).filter((key) => Object.hasOwn(own, key));
  if (kinds.length !== 1) {
    throw fail(
      "INVALID_TARGET",
      `target needs exactly one of array, buffer or address, got ${
        kinds.length === 0 ? "none" : kinds.join(" and ")
      }`,
    );
  }
  const kind = kinds[0];
  for (const key of Object.keys(own)) {
    if (!TARGET_KEYS[kind].includes(key)) {
      throw fail(
        "INVALID_TARGET",
        `unknown key ${quote(key)} in a ${kind} target (known: ${TARGET_KEYS[kind].join(", ")})`,
      );
    }
  }
  if (kind === "array") return fromArray(own, options);
  if (kind === "buffer") return fromBuffer(own, options);
  return fromAddress(own, options);
}

const MOVE_KEYS: readonly string[] = ["access", "length"];

/**
 * Resolves the new target of a watchpoint's move (`Watchpoint.retarget`)
 * with the checks of {@link resolveTarget}, reported as op
 * "modify_attributes". Its options are `access` and `length` only (the
 * kernel moves a breakpoint only when nothing else changes); `access`
 * defaults to the watchpoint's own, and `length` to the element size for an
 * array target (as at open), else to the watchpoint's own.
 */
export function resolveMove(
  target: unknown,
  options: unknown,
  current: { access: WatchAccess; length: WatchLength },
): WatchRequest {
  const outer = checkingFor;
  checkingFor = "modify_attributes";
  try {
    const own = options === undefined
      ? {}
      : ownRecord({ op: checkingFor, event: "watchpoint" }, "options", options);
    for (const key of Object.keys(own)) {
      if (MOVE_KEYS.includes(key)) continue;
      throw fail(
        "INVALID_OPTION",
        `unknown option ${quote(key)} for retarget (known: access, length)`,
        "the other options are fixed at open: the kernel moves a breakpoint only when nothing but its address, length and access changes",
      );
    }
    return resolveTarget(target, {
      access: own.access === undefined ? current.access : own.access,
      length: own.length,
      lengthDefault: current.length,
    });
  } finally {
    checkingFor = outer;
  }
}

function isArray(value: unknown): boolean {
  try {
    return Array.isArray(value);
  } catch {
    return false; // a revoked Proxy: ownRecord reports it
  }
}

/** The perf name of a watchpoint, as `perf record -e` writes it. */
export function watchName(request: WatchRequest): string {
  return `mem:0x${request.address.toString(16)}/${request.length}:${request.access}`;
}

// Each spec keeps its buffer alive: a Counter holds its spec for its lifetime.
const keepAlive = new WeakMap<EventSpec, ArrayBufferLike>();
// Where each spec's watched bytes end, from the start of its buffer.
const watchedEnd = new WeakMap<EventSpec, number>();

/** The event spec of a resolved watchpoint. */
export function watchSpec(request: WatchRequest): EventSpec {
  const spec: EventSpec = {
    name: watchName(request),
    kind: "object",
    type: PERF_TYPE.BREAKPOINT,
    config: 0n,
    config1: request.address,
    config2: BigInt(request.length),
    config3: 0n,
    modifiers: {},
    bpType: HW_BREAKPOINT_TYPE[request.access],
  };
  if (request.buffer !== undefined) {
    keepAlive.set(spec, request.buffer);
    if (request.end !== undefined) watchedEnd.set(spec, request.end);
  }
  return spec;
}

/** The access a breakpoint spec watches. */
export function accessOf(spec: EventSpec): WatchAccess {
  return ACCESS_BY_TYPE[spec.bpType ?? 0] as WatchAccess;
}

// What Group.open accepts for a watchpoint member: made only by watchEvent.
const events = new WeakMap<object, EventSpec>();

/** A watchpoint resolved for a Group (see `Watchpoint.event`). */
export interface WatchpointEvent {
  /** Always `"watchpoint"`. */
  readonly kind: "watchpoint";
  /** The perf name, `mem:0x<address>/<length>:<access>`. */
  readonly name: string;
  /** The watched address. */
  readonly address: bigint;
  /** The watched length in bytes. */
  readonly length: WatchLength;
  /** What is counted. */
  readonly access: WatchAccess;
}

/** Makes the Group member for a resolved request. */
export function watchEvent(request: WatchRequest): WatchpointEvent {
  const spec = watchSpec(request);
  const event: WatchpointEvent = Object.freeze({
    kind: "watchpoint",
    name: spec.name,
    address: request.address,
    length: request.length,
    access: request.access,
  });
  events.set(event, spec);
  return event;
}

/**
 * The spec of a WatchpointEvent, or undefined for anything else. Checked
 * again here, when Group.open is about to open it: the buffer may have been
 * transferred (detached) or shrunk since `Watchpoint.event`, and then the
 * address points at memory the buffer no longer owns.
 */
export function watchpointSpec(event: unknown): EventSpec | undefined {
  const spec = isObject(event) ? events.get(event) : undefined;
  if (spec === undefined) return undefined;
  const buffer = keepAlive.get(spec);
  if (buffer !== undefined && isDetached(buffer)) throw detached("watchpoint event");
  const end = watchedEnd.get(spec);
  if (buffer !== undefined && end !== undefined && buffer.byteLength < end) {
    throw fail(
      "VALUE_OUT_OF_RANGE",
      `the watched bytes end at byte ${end} of a buffer resized to ${buffer.byteLength} bytes`,
      "watch memory inside the buffer as it is now: make the event again after resizing",
    );
  }
  return spec;
}

type Tracked = { readonly closed: boolean; readonly event: EventSpec };

// The watchpoints this thread opened through perfmmap and has not closed
// (a Worker has its own copy of this module, and its own debug registers).
// Weak: a watchpoint dropped without close must stay collectable, so that
// collecting it closes it and frees its register.
const live = new Set<WeakRef<Tracked>>();

/** Counts a watchpoint (or group member) as holding a debug register. */
export function trackWatchpoints(counters: readonly Tracked[]): void {
  for (const counter of counters) {
    if (counter.event.type === PERF_TYPE.BREAKPOINT) live.add(new WeakRef(counter));
  }
}

/** Watchpoints open in this thread now (a dropped one until it is collected). */
export function watchpointsHeld(): number {
  for (const ref of live) {
    const counter = ref.deref();
    if (counter === undefined || counter.closed) live.delete(ref);
  }
  return live.size;
}

function registersHint(): string {
  const arch = machine();
  if (arch === "x86_64") {
    return "x86_64 has 4 debug registers (DR0-DR3) per thread, shared by watchpoints and execute breakpoints";
  }
  if (arch === "aarch64") {
    return "arm64 CPUs have 2 to 16 watchpoint registers per thread, and separate ones for execute breakpoints (the kernel logs how many at boot: `dmesg | grep hw-breakpoint`)";
  }
  return `${arch} has a few debug registers per thread`;
}

function spaceHint(): string {
  const held = watchpointsHeld();
  const own = `this thread holds ${held} open watchpoint${held === 1 ? "" : "s"} from perfmmap`;
  const others = held < 4
    ? "; the rest may be held by a debugger (ptrace) or by other breakpoint events on this thread"
    : "";
  return `${registersHint()}, and ${own}${others}: close one (or leave its \`using\` block) before opening another; one dropped without close frees its register only when the garbage collector collects it`;
}

function invalidHint(name: string | undefined): string {
  const access = name?.match(/:(r|w|rw|x)$/)?.[1];
  if (access === "r" && machine() === "x86_64") {
    return 'x86 debug registers cannot watch reads alone, only writes or reads-and-writes: use access "rw" (to count reads only, open "rw" and "w" on the same address and subtract)';
  }
  return "a watchpoint watches 1, 2, 4 or 8 bytes at an address aligned to its length, in user space (a kernel address needs exclude.kernel false and privileges); an x86 execute breakpoint needs length 8";
}

/** A hint for the kernel's refusal of a breakpoint event, or undefined. */
export function breakpointHint(code: string, event: string | undefined): string | undefined {
  switch (code) {
    case "ENOSPC":
      return spaceHint();
    case "EINVAL":
      return invalidHint(event);
    case "ENOENT":
    case "ENODEV":
    case "EOPNOTSUPP":
      return "this kernel or CPU has no hardware breakpoints for perf (see /sys/bus/event_source/devices/breakpoint); lengths other than 1, 2, 4 and 8 need AMD's range breakpoints";
    default:
      return undefined; // EACCES and the rest: the generic hints apply
  }
}
