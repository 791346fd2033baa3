/**
 * Sampling through the perf ring buffer: the options that turn a counter
 * into a sampler, and the records the kernel writes.
 *
 * A counter opened with `sample` maps 1 + 2^N pages: the metadata page and
 * a ring of data pages that the kernel fills with records. The native core
 * copies whole records out of the ring into one buffer bound once (no call
 * per record), and they are decoded here in TypeScript.
 *
 * @example Sampling this thread at 1000 Hz
 * ```ts
 * import { Counter } from "@perfmmap/perfmmap";
 *
 * using clock = Counter.open("cpu-clock", {
 *   sample: { frequency: 1000 },
 *   sampleType: ["ip", "tid", "time"],
 * });
 * const end = performance.now() + 50;
 * while (performance.now() < end);
 * for (const record of clock.drain()) {
 *   if (record.type === "sample") console.log(record.ip, record.tid, record.time);
 * }
 * ```
 *
 * @module
 */

import type { EventSpec } from "./event.ts";

/**
 * How often to take a sample: every `period` events (for a clock, every
 * `period` nanoseconds), or about `frequency` times per second of the
 * event's time, the kernel adjusting the period as it goes.
 */
export type SampleRate = { period: number } | { frequency: number };

/**
 * What each SAMPLE record carries (`PERF_SAMPLE_*`). The record holds
 * exactly these fields, in the kernel's order:
 *
 * - `"ip"`: the instruction pointer;
 * - `"tid"`: the process and thread ids;
 * - `"time"`: the perf clock in nanoseconds (`CLOCK_MONOTONIC` on current
 *   kernels for software events);
 * - `"addr"`: the data address, for events that have one;
 * - `"id"` / `"stream_id"`: the event's id (see {@link Counter.id}) and the
 *   id of the event that opened the stream (an inherited event's parent);
 * - `"cpu"`: the CPU;
 * - `"period"`: the period when the sample was taken;
 * - `"read"`: the counter's value (a group's: every member's) at the sample;
 * - `"callchain"`: the user-space call chain (frame-pointer walk; kernel
 *   entries are not requested);
 * - `"raw"`: raw tracepoint or PMU data.
 */
export type SampleField =
  | "ip"
  | "tid"
  | "time"
  | "addr"
  | "id"
  | "stream_id"
  | "cpu"
  | "period"
  | "read"
  | "callchain"
  | "raw";

/**
 * When the kernel wakes a waiting reader: after every `events` samples, or
 * once `watermark` bytes are in the ring. The default (neither) wakes at
 * half the ring. {@link Counter.records} also looks at least every 16 ms.
 */
export type WakeupOptions = { events: number } | { watermark: number };

/** The ring buffer. */
export interface RingOptions {
  /**
   * Data pages: a power of two from 1 to 32768 (default 8). The mapping is
   * one more page, the metadata page. Anything else is `EINVAL` before the
   * kernel is asked. Beyond `perf_event_mlock_kb` (516 KiB by default) an
   * unprivileged process gets `EPERM`.
   */
  pages?: number;
  /**
   * Send this counter's records to another counter's ring
   * (`PERF_EVENT_IOC_SET_OUTPUT`) instead of mapping one of its own. Both
   * must count the same thread (or CPU) and use the same `sampleType`.
   */
  output?: RingOutput;
}

/**
 * What `ring.output` takes: a {@link Counter} opened with `sample`. It is
 * declared by the members a Counter has, so that this module of types
 * needs no class; at open, anything but an open sampling Counter from this
 * package is refused with `INVALID_OPTION`.
 */
export interface RingOutput {
  /** Whether it samples into a ring (true for an output). */
  readonly sampling: boolean;
  /** Whether it was closed (an output must be open). */
  readonly closed: boolean;
  /** Its event (named in the error when the sample layouts differ). */
  readonly event: EventSpec;
  /** Its ring's records; see {@link Counter.drain}. */
  drain(): PerfRecord[];
}

/** Side-band records to ask for besides samples. */
export interface TrackOptions {
  /** MMAP2 records for executable mappings (`mmap` + `mmap2`). */
  mmap?: boolean;
  /** COMM records when a thread is renamed or execs (`comm` + `comm_exec`). */
  comm?: boolean;
  /** FORK and EXIT records (`task`). */
  task?: boolean;
}

/** Sampling options of {@link CounterOptions} and of `Group.open`. */
export interface SamplingOptions {
  /** Turns the counter into a sampler; see {@link SampleRate}. */
  sample?: SampleRate;
  /** The fields of each sample (default `["ip", "tid", "time"]`). */
  sampleType?: readonly SampleField[];
  /** See {@link WakeupOptions}. */
  wakeup?: WakeupOptions;
  /** See {@link RingOptions}. */
  ring?: RingOptions;
  /** See {@link TrackOptions}. */
  track?: TrackOptions;
}

/** A counter's value carried in a sample (`"read"`). */
export interface SampleReadValue {
  /** The count. */
  value: number;
  /** The event's id, or `undefined` when the read format has none. */
  id: number | undefined;
}

/** The `"read"` part of a sample. */
export interface SampleRead {
  /** Nanoseconds enabled, or `undefined` when the read format has none. */
  timeEnabled: number | undefined;
  /** Nanoseconds running, or `undefined`. */
  timeRunning: number | undefined;
  /** One value, or one per group member in the group's order. */
  values: SampleReadValue[];
}

/**
 * A PERF_RECORD_SAMPLE. Fields not in the counter's `sampleType` are
 * `undefined`. Numbers are exact up to 2^53: user-space addresses, ids and
 * times are; kernel addresses (above 2^63) are rounded, so an `ip` with
 * `cpuMode` `"kernel"` names a 2 KiB region, not an instruction.
 */
export interface SampleRecord {
  /** The record type. */
  type: "sample";
  /** Where the sample was taken (from the header's `misc`). */
  cpuMode: CpuMode;
  /** The header's raw `misc` bits. */
  misc: number;
  /** The instruction pointer. */
  ip: number | undefined;
  /** The process id. */
  pid: number | undefined;
  /** The thread id. */
  tid: number | undefined;
  /** The time in nanoseconds. */
  time: number | undefined;
  /** The data address. */
  addr: number | undefined;
  /** The event's id. */
  id: number | undefined;
  /** The stream's id. */
  streamId: number | undefined;
  /** The CPU. */
  cpu: number | undefined;
  /** The sample period. */
  period: number | undefined;
  /** The counter value(s) at the sample. */
  read: SampleRead | undefined;
  /** User-space return addresses, innermost first (context markers removed). */
  callchain: number[] | undefined;
  /** Raw data (a copy). */
  raw: Uint8Array | undefined;
}

/** Where a sample was taken: `misc & PERF_RECORD_MISC_CPUMODE_MASK`. */
export type CpuMode =
  | "unknown"
  | "kernel"
  | "user"
  | "hypervisor"
  | "guest-kernel"
  | "guest-user";

/**
 * PERF_RECORD_LOST: the ring was full and the kernel dropped `lost`
 * records. The ring goes on once there is space again.
 */
export interface LostRecord {
  /** The record type. */
  type: "lost";
  /** The id of the event whose records were lost. */
  id: number;
  /** How many records were dropped. */
  lost: number;
  /** When (with `"time"` in `sampleType`), else `undefined`. */
  time: number | undefined;
}

/** PERF_RECORD_THROTTLE / UNTHROTTLE: the kernel paused or resumed sampling. */
export interface ThrottleRecord {
  /** The record type. */
  type: "throttle" | "unthrottle";
  /** When. */
  time: number;
  /** The event's id. */
  id: number;
  /** The stream's id. */
  streamId: number;
}

/** PERF_RECORD_COMM: a thread's name changed (or it exec'd). */
export interface CommRecord {
  /** The record type. */
  type: "comm";
  /** The process id. */
  pid: number;
  /** The thread id. */
  tid: number;
  /** The new name. */
  comm: string;
  /** Whether the change came from exec (`PERF_RECORD_MISC_COMM_EXEC`). */
  exec: boolean;
  /** When (with `"time"` in `sampleType`), else `undefined`. */
  time: number | undefined;
}

/** PERF_RECORD_FORK / EXIT. */
export interface TaskRecord {
  /** The record type. */
  type: "fork" | "exit";
  /** The process id. */
  pid: number;
  /** The parent's process id. */
  ppid: number;
  /** The thread id. */
  tid: number;
  /** The parent's thread id. */
  ptid: number;
  /** When. */
  time: number;
}

/** PERF_RECORD_MMAP2 (or the older MMAP): an executable mapping appeared. */
export interface MmapRecord {
  /** The record type. */
  type: "mmap2" | "mmap";
  /** The process id. */
  pid: number;
  /** The thread id. */
  tid: number;
  /** Start address. */
  addr: number;
  /** Length in bytes. */
  len: number;
  /** File offset of the start. */
  pgoff: number;
  /** Device major number (0 when the record carries a build id). */
  maj: number;
  /** Device minor number. */
  min: number;
  /** Inode number. */
  ino: number;
  /** The file's build id as hex, when the kernel sent one instead of the inode. */
  buildId: string | undefined;
  /** `PROT_*` bits (0 for MMAP). */
  prot: number;
  /** `MAP_*` bits (0 for MMAP). */
  flags: number;
  /** The mapped file's path, or a name such as `//anon`. */
  filename: string;
  /** When (with `"time"` in `sampleType`), else `undefined`. */
  time: number | undefined;
}

/** Any record perfmmap decodes. Other types are skipped and counted. */
export type PerfRecord =
  | SampleRecord
  | LostRecord
  | ThrottleRecord
  | CommRecord
  | TaskRecord
  | MmapRecord;

/** What the ring consumer has seen since the ring was mapped. */
export interface RingStats {
  /** Data pages of the ring. */
  pages: number;
  /** Bytes of the data area. */
  dataBytes: number;
  /** Bytes the kernel has written and nobody has drained yet. */
  pendingBytes: number;
  /** Records copied out of the ring. */
  records: number;
  /** Bytes copied out of the ring. */
  bytes: number;
  /** SAMPLE records decoded. */
  samples: number;
  /** LOST records seen. */
  lostRecords: number;
  /** Records the kernel dropped, summed over the LOST records. */
  lost: number;
  /** THROTTLE records seen. */
  throttles: number;
  /** Records of a type perfmmap does not decode, skipped by their size. */
  unknown: number;
  /** Records whose size disagreed with their contents, skipped. */
  malformed: number;
  /** Records that wrapped around the end of the ring. */
  splitRecords: number;
  /** Times the core found a corrupt ring and skipped to the head. */
  resyncs: number;
  /** `pm_ring_read` calls. */
  reads: number;
}

/** Options of {@link Counter.records}. */
export interface RecordsOptions {
  /**
   * Ends the iteration when aborted: at once, even in the middle of a wait.
   * Anything but an `AbortSignal` is `INVALID_OPTION`.
   */
  signal?: AbortSignal;
  /**
   * The longest the iterator waits before looking at the ring again, in
   * milliseconds (1 to 60 000, default 16): the latency of a record that
   * arrives without a wakeup. Each look costs a thread wakeup (about 0.3 ms
   * of CPU on the project VM), so a larger value lowers the idle cost.
   */
  maxWaitMs?: number;
}
