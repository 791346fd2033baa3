/**
 * Linux perf_event counters for Deno and Bun, read from userspace.
 *
 * perfmmap opens hardware and software performance counters with
 * `perf_event_open(2)` through a small native core (Zig, no libc), maps each
 * counter's metadata page, and reads it without a syscall (x86 `rdpmc`,
 * arm64 `mrs`) when the kernel allows; otherwise with `read(2)`. The same
 * script runs under `deno run --allow-ffi` and under `bun`.
 *
 * @example Counting a workload
 * ```ts
 * import { Counter, Group } from "@perfmmap/perfmmap";
 *
 * using clock = Counter.open("task-clock");
 * const start = clock.read();
 * for (let i = 0; i < 1e6; i++);
 * console.log(`${clock.read() - start} ns on CPU`);
 *
 * using group = Group.open(["page-faults", "context-switches"]);
 * new Uint8Array(1 << 20).fill(1);
 * console.log(group.read().values);
 * ```
 *
 * @example Counting the writes to a typed array element (hardware watchpoint)
 * ```ts
 * import { Watchpoint } from "@perfmmap/perfmmap";
 *
 * const data = new Float64Array(8);
 * using writes = Watchpoint.open({ array: data, index: 3 }, { access: "w" });
 * for (let i = 0; i < 1000; i++) data[3] = i;
 * console.log(writes.read()); // 1000
 * ```
 *
 * @module
 */

export { Counter } from "./src/counter.ts";
export { type CounterOptions, type NotForWatchpoints, type UserspaceMode } from "./src/_options.ts";
export {
  type CounterReading,
  type PageCapabilities,
  type PartReading,
  type ReadSource,
  type ReadStats,
} from "./src/reading.ts";
export {
  Group,
  GROUP_MAX_EVENTS,
  type GroupReading,
  type GroupReadingBigInt,
} from "./src/group.ts";
export {
  type EventInput,
  type EventKind,
  type EventModifiers,
  type EventObject,
  type EventSpec,
  parseEvent,
} from "./src/event.ts";
export {
  errnoMessage,
  errnoName,
  errnoNumber,
  PerfError,
  type PerfErrorCode,
  type PerfErrorOptions,
} from "./src/errors.ts";
export {
  type CommRecord,
  type CpuMode,
  type LostRecord,
  type MmapRecord,
  type PerfRecord,
  type RecordsOptions,
  type RingOptions,
  type RingOutput,
  type RingStats,
  type SampleField,
  type SampleRate,
  type SampleRead,
  type SampleReadValue,
  type SampleRecord,
  type SamplingOptions,
  type TaskRecord,
  type ThrottleRecord,
  type TrackOptions,
  type WakeupOptions,
} from "./src/sampling.ts";
export {
  type CorePmu,
  type EventProbe,
  probe,
  PROBE_EVENTS,
  type ProbeResult,
} from "./src/probe.ts";
export { type EventListing, listEvents, type ListEventsOptions } from "./src/list_events.ts";
export { corePmus } from "./src/core_pmus.ts";
export { type NativeLibrary, nativeLibrary } from "./src/library.ts";
export {
  type AnyTypedArray,
  type WatchAccess,
  type WatchLength,
  Watchpoint,
  type WatchpointEvent,
  type WatchpointOptions,
  type WatchTarget,
} from "./src/watchpoint.ts";
export {
  type Distribution,
  distribution,
  measure,
  MEASURE_DEFAULT_EVENTS,
  type MeasuredEvent,
  type MeasureOptions,
  type MeasureResult,
  type UncountedEvent,
} from "./src/measure.ts";
export {
  type CroppedT,
  LEAK_T_THRESHOLD,
  LEAK_TEST_EVENTS,
  type LeakCase,
  type LeakClasses,
  leakTest,
  type LeakTestOptions,
  type LeakTestResult,
  type QuantileComparison,
} from "./src/leak.ts";
