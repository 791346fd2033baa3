// The parts of include/uapi/linux/perf_event.h (and hw_breakpoint.h) that
// the TypeScript side needs, in one place. The Zig core has its own mirror
// (zig/src/attr.zig, read_format.zig, ring.zig); the attr offsets here are
// the ones zig/ABI.md documents for the 136-byte PERF_ATTR_SIZE_VER8.
// Nothing here computes: every other module reads its bits from this one.

/** `enum perf_type_id` (PERF_TYPE_*). */
export const PERF_TYPE = {
  HARDWARE: 0,
  SOFTWARE: 1,
  TRACEPOINT: 2,
  HW_CACHE: 3,
  RAW: 4,
  BREAKPOINT: 5,
  MAX: 6,
} as const;

/**
 * PERF_PMU_TYPE_SHIFT: a `PERF_TYPE_HARDWARE` or `PERF_TYPE_HW_CACHE` event
 * names the core PMU that should count it by that PMU's sysfs type in
 * `config` bits 32-63 (the "extended type", Linux 5.13+ on Intel hybrid,
 * 6.6+ on Arm). Zero there means the kernel's default.
 */
export const PERF_PMU_TYPE_SHIFT = 32n;

/** PERF_HW_EVENT_MASK: the event's own bits of an extended-type config. */
export const PERF_HW_EVENT_MASK = 0xffff_ffffn;

/** `enum perf_event_read_format` (PERF_FORMAT_*). */
export const READ_FORMAT = {
  TOTAL_TIME_ENABLED: 1 << 0,
  TOTAL_TIME_RUNNING: 1 << 1,
  ID: 1 << 2,
  GROUP: 1 << 3,
  LOST: 1 << 4,
} as const;

/** `enum perf_event_sample_format` (PERF_SAMPLE_*), the bits this module uses. */
export const PERF_SAMPLE = {
  IP: 1 << 0,
  TID: 1 << 1,
  TIME: 1 << 2,
  ADDR: 1 << 3,
  READ: 1 << 4,
  CALLCHAIN: 1 << 5,
  ID: 1 << 6,
  CPU: 1 << 7,
  PERIOD: 1 << 8,
  STREAM_ID: 1 << 9,
  RAW: 1 << 10,
  IDENTIFIER: 1 << 16,
} as const;

/** `enum perf_event_type` (PERF_RECORD_*), the records this module decodes. */
export const PERF_RECORD = {
  MMAP: 1,
  LOST: 2,
  COMM: 3,
  EXIT: 4,
  THROTTLE: 5,
  UNTHROTTLE: 6,
  FORK: 7,
  SAMPLE: 9,
  MMAP2: 10,
} as const;

/** `perf_event_header.misc` bits (PERF_RECORD_MISC_*). */
export const PERF_RECORD_MISC = {
  CPUMODE_MASK: 7,
  COMM_EXEC: 1 << 13,
  MMAP_BUILD_ID: 1 << 14,
} as const;

/** `sizeof(struct perf_event_header)`. */
export const RECORD_HEADER_BYTES = 8;

/** PERF_CONTEXT_MAX = (u64)-4095, low word: callchain entries at or above it are markers. */
export const PERF_CONTEXT_MARKER_LOW = 0xfffff001;

/** The longest build id an MMAP2 record carries (`BUILD_ID_SIZE_MAX`). */
export const BUILD_ID_BYTES_MAX = 20;

/** Bit numbers of `perf_event_attr`'s flag word (the u64 at offset 40). */
export const ATTR_FLAG_BIT = {
  disabled: 0,
  inherit: 1,
  pinned: 2,
  exclusive: 3,
  excludeUser: 4,
  excludeKernel: 5,
  excludeHv: 6,
  excludeIdle: 7,
  mmap: 8,
  comm: 9,
  freq: 10,
  enableOnExec: 12,
  task: 13,
  watermark: 14,
  preciseIp: 15,
  sampleIdAll: 18,
  excludeHost: 19,
  excludeGuest: 20,
  excludeCallchainKernel: 21,
  mmap2: 23,
  commExec: 24,
} as const;

/** Byte offsets of the `perf_event_attr` fields this module writes (PERF_ATTR_SIZE_VER8). */
export const ATTR_OFFSET = {
  type: 0,
  size: 4,
  config: 8,
  samplePeriod: 16,
  sampleType: 24,
  readFormat: 32,
  flags: 40,
  wakeup: 48,
  bpType: 52,
  config1: 56,
  config2: 64,
  config3: 128,
} as const;

/** `HW_BREAKPOINT_R`, `_W`, `_RW`, `_X`, by access name. */
export const HW_BREAKPOINT_TYPE = { r: 1, w: 2, rw: 3, x: 4 } as const;
