/**
 * Scripted mutants of the Zig core (zig/src): small, realistic bugs, each
 * planted alone in a temporary copy of the repository by `run.ts`.
 *
 * `search` must occur exactly once in `file` (otherwise the mutant is
 * reported as "stale": the code moved on and the mutant needs updating).
 * `ts` names the TypeScript test files run after `zig build test` when the
 * Zig tests do not kill the mutant (the Deno and Bun suites, in that order);
 * leave it out for the default set in run.ts.
 *
 * @module
 */

/** One planted bug. */
export interface CoreMutant {
  /** Short stable name. */
  id: string;
  /** Path from the repository root. */
  file: string;
  /** Exact text to replace (must occur once). */
  search: string;
  /** What replaces it. */
  replace: string;
  /** The bug a user would meet. */
  description: string;
  /** TypeScript test files that are relevant (default: run.ts's list). */
  ts?: string[];
}

const SAMPLING = ["test/sampling.test.ts", "test/sampling_decode.test.ts"];

/** The mutants, in the order they run. */
export const CORE_MUTANTS: CoreMutant[] = [
  {
    id: "fast-recheck",
    file: "zig/src/self_read.zig",
    search: "    if (load(u32, &page.lock) != lock_before) return null;\n    return value;",
    replace: "    return value;",
    description: "pm_read's fast attempt drops the final seqlock re-check (torn reads)",
  },
  {
    id: "slow-recheck",
    file: "zig/src/self_read.zig",
    search: "    if (load(u32, &page.lock) != lock_before) return .retry;\n    if (!readable)",
    replace: "    if (!readable)",
    description: "the policy's attempt drops the final seqlock re-check",
  },
  {
    id: "odd-lock",
    file: "zig/src/self_read.zig",
    search: "    if (lock_before & 1 != 0) return .retry;\n    snapshot.*",
    replace: "    snapshot.*",
    description: "an odd lock (kernel mid-update) is read instead of retried",
  },
  {
    id: "time-without-cap",
    file: "zig/src/self_read.zig",
    search:
      "if (!capabilities.user_time or snapshot.time_enabled == snapshot.time_running) return;",
    replace: "if (snapshot.time_enabled == snapshot.time_running) return;",
    description: "times are extrapolated without cap_user_time",
  },
  {
    id: "running-not-extrapolated",
    file: "zig/src/self_read.zig",
    search: ".time_running_ns = snapshot.time_running +% snapshot.time_delta,",
    replace: ".time_running_ns = snapshot.time_running,",
    description: "time_running is not extrapolated while the counter is on a register",
  },
  {
    id: "yield-late",
    file: "zig/src/self_read.zig",
    search: "        if (counts.attempts >= attempts_fast_max) {\n            env.yield();",
    replace: "        if (counts.attempts > attempts_fast_max) {\n            env.yield();",
    description: "the yield phase starts one attempt late",
  },
  {
    id: "fallback-ignored",
    file: "zig/src/self_read.zig",
    search: ".index_zero => if (policy.fallback and counts.attempts >= attempts_fast_max) {",
    replace: ".index_zero => if (counts.attempts >= attempts_fast_max) {",
    description: "index 0 falls back to read() even with fallback off",
  },
  {
    id: "fallback-immediate",
    file: "zig/src/self_read.zig",
    search: ".index_zero => if (policy.fallback and counts.attempts >= attempts_fast_max) {",
    replace: ".index_zero => if (policy.fallback) {",
    description: "a transient index 0 falls back at once instead of after the fast phase",
  },
  {
    id: "width-zero-valid",
    file: "zig/src/self_read.zig",
    search: "return width >= 1 and width <= 64;",
    replace: "return width <= 64;",
    description: "pmc_width 0 is trusted",
  },
  {
    id: "zero-extend",
    file: "zig/src/self_read.zig",
    search:
      "    const shifted: i64 = @bitCast(raw << shift);\n    return @bitCast(shifted >> shift);",
    replace: "    return (raw << shift) >> shift;",
    description: "the register is zero-extended instead of sign-extended",
  },
  {
    id: "time-short-ignored",
    file: "zig/src/time.zig",
    search: "const cycles = if (fields.user_time_short)",
    replace: "const cycles = if (false and fields.user_time_short)",
    description: "cap_user_time_short (time_cycles/time_mask) is ignored",
  },
  {
    id: "times-swapped-decode",
    file: "zig/src/read_format.zig",
    search:
      "    const time_enabled = if (format & attr.PERF_FORMAT_TOTAL_TIME_ENABLED != 0) next(words, &at) else 0;\n" +
      "    const time_running = if (format & attr.PERF_FORMAT_TOTAL_TIME_RUNNING != 0) next(words, &at) else 0;",
    replace:
      "    const time_running = if (format & attr.PERF_FORMAT_TOTAL_TIME_RUNNING != 0) next(words, &at) else 0;\n" +
      "    const time_enabled = if (format & attr.PERF_FORMAT_TOTAL_TIME_ENABLED != 0) next(words, &at) else 0;",
    description: "read()'s time_enabled and time_running are decoded in swapped order",
  },
  {
    id: "values-slots-swapped",
    file: "zig/src/exports.zig",
    search:
      "    putSlot(slots, 1, decoded.time_enabled, exact == 1);\n    putSlot(slots, 2, decoded.time_running, exact == 1);",
    replace:
      "    putSlot(slots, 1, decoded.time_running, exact == 1);\n    putSlot(slots, 2, decoded.time_enabled, exact == 1);",
    description: "pm_read_values writes time_enabled and time_running into swapped slots",
    ts: ["test/group.test.ts", "test/contract.test.ts"],
  },
  {
    id: "member-by-position",
    file: "zig/src/reader.zig",
    search: "    if (counter.read_format & attr_mod.PERF_FORMAT_ID != 0) {",
    replace: "    if (false) {",
    description: "a group member's read() value is found by position, not by id",
    ts: ["test/group.test.ts"],
  },
  {
    id: "generation-ignored",
    file: "zig/src/handles.zig",
    search:
      "if (handle > 0 and @atomicLoad(i32, &counter.handle, .acquire) == handle) return counter;",
    replace: "if (handle > 0 and @atomicLoad(i32, &counter.handle, .acquire) > 0) return counter;",
    description: "a stale handle is accepted once its slot is reused (generation ignored)",
    ts: ["test/contract.test.ts", "test/software.test.ts"],
  },
  {
    id: "generation-not-bumped",
    file: "zig/src/handles.zig",
    search: "generations[slot] = (generations[slot] + 1) & generation_mask;",
    replace: "generations[slot] = generations[slot] & generation_mask;",
    description: "a reused slot hands out the same handle again",
    ts: ["test/contract.test.ts", "test/software.test.ts"],
  },
  {
    id: "close-not-retired",
    file: "zig/src/exports.zig",
    search: "    handles.retire(counter);\n",
    replace: "",
    description: "pm_close leaves the handle live",
    ts: ["test/contract.test.ts", "test/software.test.ts"],
  },
  {
    id: "fd-leak",
    file: "zig/src/counter.zig",
    search: "    if (counter.fd >= 0) syscalls.close(counter.fd);\n",
    replace: "",
    description: "close leaks the perf fd",
    ts: ["test/leaks.test.ts"],
  },
  {
    id: "exhaustion-logged-always",
    file: "zig/src/reader.zig",
    search: "    if (counter.stats.exhaustion_log_lines != 0) return;\n",
    replace: "",
    description: "retry exhaustion is logged on every read, not once per counter",
  },
  {
    id: "count-over-2^63",
    file: "zig/src/exports.zig",
    search: "return if (signed < 0) converted + 0x1p64 else converted;",
    replace: "return converted;",
    description: "pm_read returns counts at or above 2^63 as negative numbers",
  },
  {
    id: "tail-plain-store",
    file: "zig/src/ring_reader.zig",
    search: "@atomicStore(u64, &view.control.data_tail, tail, .release);",
    replace: "@atomicStore(u64, &view.control.data_tail, tail, .monotonic);",
    description: "data_tail is stored without release ordering (arm64 could see reused space)",
    ts: SAMPLING,
  },
  {
    id: "tail-never-stored",
    file: "zig/src/ring_reader.zig",
    search: "@atomicStore(u64, &view.control.data_tail, tail, .release);",
    replace: "_ = &tail;",
    description: "data_tail is never stored: the ring fills up and sampling stops",
    ts: SAMPLING,
  },
  {
    id: "ring-size-unchecked",
    file: "zig/src/ring.zig",
    search: "    if (data_pages == 0 or !std.math.isPowerOfTwo(data_pages)) return false;",
    replace: "    if (data_pages == 0) return false;",
    description: "a ring of 1 + non-power-of-two pages is accepted",
    ts: SAMPLING,
  },
  {
    id: "aarch64-12-13-swapped",
    file: "zig/src/arch/aarch64.zig",
    search: "    return pmevcntrEl0(@intCast(index - 1));",
    replace:
      "    return pmevcntrEl0(@intCast(if (index == 12) 12 else if (index == 13) 11 else index - 1));",
    description: "the widely copied register table with entries 12 and 13 swapped",
    ts: [],
  },
];
