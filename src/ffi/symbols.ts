/**
 * The one table of native symbols exported by `libperfmmap.so`.
 *
 * It mirrors `zig/ABI.md` (version 4) exactly: change both or neither. The
 * shape is Deno's (`parameters`/`result`); the Bun adapter translates
 * `"buffer"` to `"ptr"`. Hot symbols take `i32` handles and return `f64` or
 * `i32`, never `u64`, so that no call creates a BigInt. `test/abi.test.ts`
 * compares this file with the core's sources: every `export fn`, every
 * output layout (`DETAILED` is `Detailed` in `zig/src/exports.zig`, and so
 * on), the core's codes and the version.
 *
 * @module
 */

/** The native types the table uses, named as in `Deno.NativeType`. */
export type SymbolType = "i32" | "u32" | "f64" | "buffer";

/** One symbol: its parameter types and its result type. */
export interface SymbolDefinition {
  /** Parameter types, in order. */
  readonly parameters: readonly SymbolType[];
  /** Result type. */
  readonly result: SymbolType;
  /**
   * Deno runs the call on a worker thread and returns a Promise. Bun has no
   * such calls and binds the symbol as a plain (blocking) one, which
   * perfmmap never calls there.
   */
  readonly nonblocking?: boolean;
}

/** ABI version this table describes (`pm_abi_version()`). */
export const ABI_VERSION = 4;

/** Every symbol of `libperfmmap.so`, with its C prototype. */
export const SYMBOLS = {
  // uint32_t pm_abi_version(void);  /* 4 */
  pm_abi_version: { parameters: [], result: "u32" },
  // int32_t pm_noop(void);  /* 0; the FFI floor for benchmarks */
  pm_noop: { parameters: [], result: "i32" },
  // uint32_t pm_arch(void);  /* 1 x86_64 rdpmc, 2 aarch64 mrs, 0 none */
  pm_arch: { parameters: [], result: "u32" },
  // uint32_t pm_attr_size(void);  /* 136 */
  pm_attr_size: { parameters: [], result: "u32" },

  // int32_t pm_open(const uint8_t *attr, int32_t pid, int32_t cpu,
  //                 int32_t group, uint32_t flags);
  pm_open: {
    parameters: [
      "buffer", // const uint8_t *attr: 136-byte struct perf_event_attr
      "i32", // int32_t pid
      "i32", // int32_t cpu
      "i32", // int32_t group: leader handle or -1
      "u32", // uint32_t flags: bits 0-1 mode, 2 fallback, 3-5 PERF_FLAG_*, 6 ring
    ],
    result: "i32", // handle, or -code
  },
  // int32_t pm_close(int32_t h);
  pm_close: { parameters: ["i32" /* int32_t h */], result: "i32" },
  // int32_t pm_fd(int32_t h);
  pm_fd: { parameters: ["i32" /* int32_t h */], result: "i32" },
  // int32_t pm_enable(int32_t h, uint32_t flags);
  pm_enable: {
    parameters: [
      "i32", // int32_t h
      "u32", // uint32_t flags: bit 0 PERF_IOC_FLAG_GROUP
    ],
    result: "i32",
  },
  // int32_t pm_disable(int32_t h, uint32_t flags);
  pm_disable: {
    parameters: [
      "i32", // int32_t h
      "u32", // uint32_t flags: bit 0 PERF_IOC_FLAG_GROUP
    ],
    result: "i32",
  },
  // int32_t pm_reset(int32_t h, uint32_t flags);
  pm_reset: {
    parameters: [
      "i32", // int32_t h
      "u32", // uint32_t flags: bit 0 PERF_IOC_FLAG_GROUP
    ],
    result: "i32",
  },
  // int32_t pm_refresh(int32_t h, int32_t count);
  pm_refresh: {
    parameters: [
      "i32", // int32_t h
      "i32", // int32_t count
    ],
    result: "i32",
  },
  // int32_t pm_period(int32_t h, uint32_t lo, uint32_t hi);
  pm_period: {
    parameters: [
      "i32", // int32_t h
      "u32", // uint32_t lo: low 32 bits of the period
      "u32", // uint32_t hi: high 32 bits of the period
    ],
    result: "i32",
  },
  // int32_t pm_set_output(int32_t h, int32_t target);
  pm_set_output: {
    parameters: [
      "i32", // int32_t h
      "i32", // int32_t target: handle, or -1 to stop
    ],
    result: "i32",
  },
  // int32_t pm_pause_output(int32_t h, uint32_t pause);
  pm_pause_output: {
    parameters: [
      "i32", // int32_t h
      "u32", // uint32_t pause
    ],
    result: "i32",
  },
  // int32_t pm_modify_attributes(int32_t h, const uint8_t *attr);
  pm_modify_attributes: {
    parameters: [
      "i32", // int32_t h
      "buffer", // const uint8_t *attr: 136-byte struct perf_event_attr
    ],
    result: "i32",
  },
  // int32_t pm_id(int32_t h, uint8_t *out);
  pm_id: {
    parameters: [
      "i32", // int32_t h
      "buffer", // uint8_t *out: 8 bytes, u64 slot 0 = PERF_EVENT_IOC_ID
    ],
    result: "i32",
  },

  // double pm_read(int32_t h);  /* hot path: value, or -code */
  pm_read: { parameters: ["i32" /* int32_t h */], result: "f64" },
  // double pm_read_by_double(double h);  /* pm_read for node:ffi (ABI.md) */
  pm_read_by_double: { parameters: ["f64" /* double h: a handle */], result: "f64" },
  // int32_t pm_read_detailed(int32_t h, uint8_t *out);
  pm_read_detailed: {
    parameters: [
      "i32", // int32_t h
      "buffer", // uint8_t *out: 128 bytes, see DETAILED
    ],
    result: "i32",
  },
  // int32_t pm_read_values(int32_t h, uint8_t *out, uint32_t cap_slots,
  //                        uint32_t exact);
  pm_read_values: {
    parameters: [
      "i32", // int32_t h
      "buffer", // uint8_t *out: cap_slots 8-byte slots
      "u32", // uint32_t cap_slots
      "u32", // uint32_t exact: 0 f64 slots, 1 u64 slots
    ],
    result: "i32", // nr, or -code
  },
  // int32_t pm_group_bind(const int32_t *members, uint32_t count,
  //                       uint8_t *out, uint32_t cap_slots);
  pm_group_bind: {
    parameters: [
      "buffer", // const int32_t *members: the leader's handle, then members in join order; kept
      "u32", // uint32_t count: 1..256
      "buffer", // uint8_t *out: cap_slots 8-byte slots, see GROUP_SLOTS; kept
      "u32", // uint32_t cap_slots
    ],
    result: "i32", // 0, or -code
  },
  // int32_t pm_group_read(int32_t leader, uint32_t exact);  /* group hot path */
  pm_group_read: {
    parameters: [
      "i32", // int32_t leader: a handle bound by pm_group_bind
      "u32", // uint32_t exact: 0 f64 slots, 1 u64 slots
    ],
    result: "i32", // GROUP_SOURCE (1 userspace, 2 syscall), or -code
  },
  // int32_t pm_group_read_by_double(double leader, double exact);  /* for node:ffi */
  pm_group_read_by_double: {
    parameters: [
      "f64", // double leader: a handle bound by pm_group_bind
      "f64", // double exact: 0 f64 slots, 1 u64 slots
    ],
    result: "i32", // GROUP_SOURCE, or -code
  },
  // int32_t pm_page_info(int32_t h, uint8_t *out);
  pm_page_info: {
    parameters: [
      "i32", // int32_t h
      "buffer", // uint8_t *out: 128 bytes, see PAGE_INFO
    ],
    result: "i32",
  },
  // int32_t pm_stats(int32_t h, uint8_t *out);
  pm_stats: {
    parameters: [
      "i32", // int32_t h
      "buffer", // uint8_t *out: 64 bytes, see STATS
    ],
    result: "i32",
  },
  // int32_t pm_ring_map(int32_t h, uint32_t data_pages);
  pm_ring_map: {
    parameters: [
      "i32", // int32_t h
      "u32", // uint32_t data_pages: a power of two >= 1
    ],
    result: "i32",
  },
  // int32_t pm_ring_read(int32_t h, uint8_t *out, uint32_t cap);
  pm_ring_read: {
    parameters: [
      "i32", // int32_t h
      "buffer", // uint8_t *out: whole records, each with its perf_event_header
      "u32", // uint32_t cap: bytes of out (>= 8)
    ],
    result: "i32", // bytes copied (0: ring empty), or -code
  },
  // int32_t pm_ring_info(int32_t h, uint8_t *out);
  pm_ring_info: {
    parameters: [
      "i32", // int32_t h
      "buffer", // uint8_t *out: 128 bytes, see RING_INFO
    ],
    result: "i32",
  },
  // int32_t pm_ring_poll(int32_t h, int32_t timeout_ms);
  pm_ring_poll: {
    parameters: [
      "i32", // int32_t h
      "i32", // int32_t timeout_ms: 0..60000
    ],
    result: "i32", // revents (POLLIN 1, POLLHUP 16), 0 on timeout, or -code
  },
  // int32_t pm_ring_wait(int32_t h, int32_t timeout_ms);  /* = pm_ring_poll */
  pm_ring_wait: {
    parameters: [
      "i32", // int32_t h
      "i32", // int32_t timeout_ms: 0..60000
    ],
    result: "i32",
    nonblocking: true, // Deno: a Promise, the wait runs on a worker thread
  },
  // int32_t pm_gettid(void);
  pm_gettid: { parameters: [], result: "i32" },
  // int32_t pm_sweep(void);  /* closes the counters of ended threads */
  pm_sweep: { parameters: [], result: "i32" /* how many, or -code */ },

  // int32_t pm_sim_open(uint32_t flags);
  pm_sim_open: {
    parameters: ["u32" /* uint32_t flags: as pm_open */],
    result: "i32",
  },
  // int32_t pm_sim_set(int32_t h, uint32_t field, uint32_t lo, uint32_t hi);
  pm_sim_set: {
    parameters: [
      "i32", // int32_t h
      "u32", // uint32_t field: see SIM_FIELDS
      "u32", // uint32_t lo: low 32 bits of the value
      "u32", // uint32_t hi: high 32 bits of the value
    ],
    result: "i32",
  },

  // int32_t pm_sim_join(int32_t h, int32_t leader);
  pm_sim_join: {
    parameters: [
      "i32", // int32_t h: a simulated counter alone
      "i32", // int32_t leader: a simulated counter that is no member
    ],
    result: "i32",
  },

  // double pm_sysctl(uint32_t which);
  pm_sysctl: {
    parameters: ["u32" /* uint32_t which: see SYSCTL */],
    result: "f64", // the knob's integer value, or -code
  },
  // int32_t pm_has_capability(uint32_t cap);
  pm_has_capability: {
    parameters: ["u32" /* uint32_t cap: CAP_PERFMON 38, CAP_SYS_ADMIN 21 */],
    result: "i32",
  },
  // int32_t pm_uname(uint8_t *out, uint32_t cap);
  pm_uname: {
    parameters: [
      "buffer", // uint8_t *out: "sysname\0release\0machine\0"
      "u32", // uint32_t cap
    ],
    result: "i32", // length, or -code
  },
  // int32_t pm_read_text(const uint8_t *path, uint32_t path_len,
  //                      uint8_t *out, uint32_t cap);
  pm_read_text: {
    parameters: [
      "buffer", // const uint8_t *path: not NUL-terminated
      "u32", // uint32_t path_len
      "buffer", // uint8_t *out
      "u32", // uint32_t cap
    ],
    result: "i32", // length, or -code
  },
  // int32_t pm_list_dir(const uint8_t *path, uint32_t path_len,
  //                     uint8_t *out, uint32_t cap);
  pm_list_dir: {
    parameters: [
      "buffer", // const uint8_t *path: not NUL-terminated
      "u32", // uint32_t path_len
      "buffer", // uint8_t *out: NUL-terminated entry names
      "u32", // uint32_t cap
    ],
    result: "i32", // length, or -code
  },
} as const satisfies Record<string, SymbolDefinition>;

/** The symbol table's type. */
export type Symbols = typeof SYMBOLS;

/** The JS type a native type maps to in both runtimes. */
export type JsType<T extends SymbolType> = T extends "buffer" ? Uint8Array
  : number;

type _JsParameters<P extends readonly SymbolType[]> = {
  -readonly [K in keyof P]: P[K] extends SymbolType ? JsType<P[K]> : never;
};

/** The loaded library's functions, typed from {@link SYMBOLS}. */
export type NativeSymbols = {
  readonly [K in keyof Symbols]: (
    ...args: _JsParameters<Symbols[K]["parameters"]>
  ) => Symbols[K] extends { readonly nonblocking: true }
    // A Promise in Deno; a plain value in Bun, which never calls these.
    ? Promise<JsType<Symbols[K]["result"]>> | JsType<Symbols[K]["result"]>
    : JsType<Symbols[K]["result"]>;
};

/** Flags of `pm_open` and `pm_sim_open` (ABI.md). */
export const OPEN_FLAGS = {
  /** Bits 0-1: userspace mode off. */
  MODE_OFF: 0,
  /** Bits 0-1: userspace mode auto. */
  MODE_AUTO: 1,
  /** Bits 0-1: userspace mode require. */
  MODE_REQUIRE: 2,
  /** Bit 2: fall back to `read()` when `index == 0` persists. */
  FALLBACK: 1 << 2,
  /** Bit 3: `PERF_FLAG_FD_NO_GROUP`. */
  FD_NO_GROUP: 1 << 3,
  /** Bit 4: `PERF_FLAG_FD_OUTPUT`. */
  FD_OUTPUT: 1 << 4,
  /** Bit 5: `PERF_FLAG_PID_CGROUP`. */
  PID_CGROUP: 1 << 5,
  /**
   * Bit 6: a ring follows (`pm_ring_map` or `pm_set_output`), so no 1-page
   * metadata mapping now: the ring's first page serves the userspace read.
   */
  RING: 1 << 6,
} as const;

/** `pm_enable`/`pm_disable`/`pm_reset` flag bit 0: `PERF_IOC_FLAG_GROUP`. */
export const IOC_FLAG_GROUP = 1;

/** Slots of `pm_read_detailed`'s 128-byte output. */
export const DETAILED = {
  VALUE: 0,
  TIME_ENABLED: 1,
  TIME_RUNNING: 2,
  SOURCE: 3,
  ATTEMPTS: 4,
  YIELDS: 5,
  INDEX: 6,
  PMC_WIDTH: 7,
  VALUE_U64: 8,
  TIME_ENABLED_U64: 9,
  TIME_RUNNING_U64: 10,
} as const;

/**
 * Slots of a group record, `pm_read_values`' and `pm_group_read`'s: the
 * header, then `MEMBER_STRIDE` slots per member from `MEMBERS` on, each
 * `VALUE`, `ID`, `LOST` from the member's first slot (0 where the read
 * format lacks the field; a userspace read has no lost count).
 */
export const GROUP_SLOTS = {
  NR: 0,
  TIME_ENABLED: 1,
  TIME_RUNNING: 2,
  MEMBERS: 3,
  MEMBER_STRIDE: 3,
  VALUE: 0,
  ID: 1,
  LOST: 2,
} as const;

/** `pm_group_read`'s result: which path served the whole group. */
export const GROUP_SOURCE = {
  USERSPACE: 1,
  SYSCALL: 2,
} as const;

/** Slots of `pm_page_info`'s 128-byte output. */
export const PAGE_INFO = {
  HAS_PAGE: 0,
  VERSION: 1,
  COMPAT_VERSION: 2,
  CAPABILITIES: 3,
  CAP_USER_RDPMC: 4,
  CAP_USER_TIME: 5,
  CAP_USER_TIME_ZERO: 6,
  CAP_USER_TIME_SHORT: 7,
  INDEX: 8,
  PMC_WIDTH: 9,
  ARCH_HAS_READER: 10,
  USERSPACE_ACTIVE: 11,
  CONFIG1_AT_OPEN: 12,
  TIME_SHIFT: 13,
  TIME_MULT: 14,
  PAGE_SIZE_FIELD: 15,
} as const;

/** Slots of `pm_stats`'s 64-byte output. */
export const STATS = {
  USERSPACE_READS: 0,
  SYSCALL_READS: 1,
  EXHAUSTED: 2,
  EXHAUSTION_LOG_LINES: 3,
  LAST_ATTEMPTS: 4,
  LAST_YIELDS: 5,
  INDEX_ZERO_FALLBACKS: 6,
  MAPPINGS: 7,
} as const;

/** Slot of `pm_id`'s 8-byte output (u64). */
export const ID = {
  VALUE: 0,
} as const;

/** Slots of `pm_ring_info`'s 128-byte output (f64). */
export const RING_INFO = {
  DATA_PAGES: 0,
  DATA_BYTES: 1,
  PENDING_BYTES: 2,
  DATA_HEAD: 3,
  DATA_TAIL: 4,
  READS: 5,
  RECORDS: 6,
  BYTES: 7,
  SPLIT_RECORDS: 8,
  RESYNCS: 9,
  PAGE_SIZE: 10,
} as const;

/** `pm_sim_set` field numbers. */
export const SIM_FIELDS = {
  lock: 0,
  index: 1,
  offset: 2,
  pmcWidth: 3,
  capabilities: 4,
  timeEnabled: 5,
  timeRunning: 6,
  timeMult: 7,
  timeShift: 8,
  timeOffset: 9,
  timeZero: 10,
  timeCycles: 11,
  timeMask: 12,
  register: 13,
  syscallValue: 14,
  timestamp: 15,
  syscallTimeEnabled: 16,
  syscallTimeRunning: 17,
  pageVersion: 18,
  pageSizeField: 19,
  userAccessKnob: 20,
} as const;

/** `pm_sysctl` knob numbers. */
export const SYSCTL = {
  PERF_EVENT_PARANOID: 0,
  PERF_USER_ACCESS: 1,
  RDPMC_CPU: 2,
  RDPMC_CPU_CORE: 3,
  RDPMC_CPU_ATOM: 4,
  PERF_EVENT_MAX_SAMPLE_RATE: 5,
  PERF_EVENT_MLOCK_KB: 6,
} as const;

/** Our own codes (ABI.md "Conventions"), above the errno range. */
export const CORE_CODES = {
  10001: "RETRY_EXHAUSTED",
  10002: "STALE_HANDLE",
  10003: "BAD_HANDLE",
  10004: "TABLE_FULL",
  10005: "NO_USER_RDPMC",
  10006: "NO_ARCH_READER",
  10007: "USER_INDEX_ZERO",
  10008: "NOT_SIMULATED",
  10009: "NO_PAGE",
  10010: "PATH_DENIED",
  10011: "NO_RING",
} as const;

/** The name of one of the core's own codes. */
export type CoreCodeName = (typeof CORE_CODES)[keyof typeof CORE_CODES];

/**
 * The negative result the core returns for its code `name` (what a failed
 * call returns), for TypeScript that reports the same failure itself.
 */
export function coreResult(name: CoreCodeName): number {
  for (const [code, known] of Object.entries(CORE_CODES)) if (known === name) return -Number(code);
  throw new Error(`no core code ${name}`); // unreachable: the type lists the names
}

/** Size of `struct perf_event_attr` we build (`PERF_ATTR_SIZE_VER8`). */
export const ATTR_SIZE = 136;
/**
 * Bytes of `pm_read_detailed` output, and of the one buffer the adapters
 * give every fixed-size output: each of the other `*_BYTES` fits in it.
 */
export const DETAILED_BYTES = 128;
/** Bytes of `pm_page_info` output. */
export const PAGE_INFO_BYTES = 128;
/** Bytes of `pm_stats` output. */
export const STATS_BYTES = 64;
/** Bytes of `pm_ring_info` output. */
export const RING_INFO_BYTES = 128;
/** Bytes of `pm_id` output. */
export const ID_BYTES = 8;

/**
 * The core's retry policy for a userspace read (zig/src/self_read.zig):
 * attempts that spin, then attempts with a `sched_yield` between them, up
 * to the last one; then `RETRY_EXHAUSTED`.
 */
export const RETRY_POLICY = { FAST_ATTEMPTS: 1000, ATTEMPTS_MAX: 50_000 } as const;

/** Handles the core's table holds at once (zig/src/handles.zig); one more is `TABLE_FULL`. */
export const HANDLES_MAX = 4095;
