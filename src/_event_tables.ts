// The generic events of include/uapi/linux/perf_event.h, under perf's names
// and aliases (tools/perf/util/parse-events.c, evsel.c).

/** A named generic event: its canonical name, aliases and config. */
export interface GenericEvent {
  name: string;
  aliases: readonly string[];
  config: number;
  description: string;
}

/** PERF_COUNT_HW_* */
export const HARDWARE_EVENTS: readonly GenericEvent[] = [
  { name: "cpu-cycles", aliases: ["cycles"], config: 0, description: "CPU cycles" },
  { name: "instructions", aliases: [], config: 1, description: "retired instructions" },
  {
    name: "cache-references",
    aliases: [],
    config: 2,
    description: "cache accesses (usually the last level)",
  },
  {
    name: "cache-misses",
    aliases: [],
    config: 3,
    description: "cache misses (usually the last level)",
  },
  {
    name: "branch-instructions",
    aliases: ["branches"],
    config: 4,
    description: "retired branch instructions",
  },
  { name: "branch-misses", aliases: [], config: 5, description: "mispredicted branches" },
  { name: "bus-cycles", aliases: [], config: 6, description: "bus cycles" },
  {
    name: "stalled-cycles-frontend",
    aliases: ["idle-cycles-frontend"],
    config: 7,
    description: "cycles stalled in the frontend",
  },
  {
    name: "stalled-cycles-backend",
    aliases: ["idle-cycles-backend"],
    config: 8,
    description: "cycles stalled in the backend",
  },
  {
    name: "ref-cycles",
    aliases: [],
    config: 9,
    description: "reference cycles, unaffected by frequency scaling",
  },
];

/** PERF_COUNT_SW_* */
export const SOFTWARE_EVENTS: readonly GenericEvent[] = [
  { name: "cpu-clock", aliases: [], config: 0, description: "per-CPU clock, ns" },
  { name: "task-clock", aliases: [], config: 1, description: "time this task ran, ns" },
  { name: "page-faults", aliases: ["faults"], config: 2, description: "page faults" },
  { name: "context-switches", aliases: ["cs"], config: 3, description: "context switches" },
  {
    name: "cpu-migrations",
    aliases: ["migrations"],
    config: 4,
    description: "migrations between CPUs",
  },
  { name: "minor-faults", aliases: [], config: 5, description: "page faults served without I/O" },
  { name: "major-faults", aliases: [], config: 6, description: "page faults that needed I/O" },
  {
    name: "alignment-faults",
    aliases: [],
    config: 7,
    description: "alignment faults fixed up by the kernel",
  },
  {
    name: "emulation-faults",
    aliases: [],
    config: 8,
    description: "instructions emulated by the kernel",
  },
  { name: "dummy", aliases: [], config: 9, description: "a placeholder that counts nothing" },
  { name: "bpf-output", aliases: [], config: 10, description: "BPF output (sampling only)" },
  { name: "cgroup-switches", aliases: [], config: 11, description: "switches between cgroups" },
];

/** PERF_COUNT_HW_CACHE_* ids with perf's aliases, canonical name first. */
export const CACHE_IDS: readonly (readonly string[])[] = [
  ["L1-dcache", "l1-d", "l1d", "L1-data"],
  ["L1-icache", "l1-i", "l1i", "L1-instruction"],
  ["LLC", "L2"],
  ["dTLB", "d-tlb", "Data-TLB"],
  ["iTLB", "i-tlb", "Instruction-TLB"],
  ["branch", "branches", "bpu", "btb", "bpc"],
  ["node"],
];

/** PERF_COUNT_HW_CACHE_OP_* with aliases. */
export const CACHE_OPS: readonly (readonly string[])[] = [
  ["load", "loads", "read"],
  ["store", "stores", "write"],
  ["prefetch", "prefetches", "speculative-read", "speculative-load"],
];

/** PERF_COUNT_HW_CACHE_RESULT_* with aliases. */
export const CACHE_RESULTS: readonly (readonly string[])[] = [
  ["refs", "Reference", "ops", "access"],
  ["misses", "miss"],
];

// Which ops perf lists for each cache (evsel__hw_cache_stat): bit 0 load,
// bit 1 store, bit 2 prefetch.
const CACHE_OPS_LISTED: readonly number[] = [0b111, 0b101, 0b111, 0b111, 0b001, 0b001, 0b111];

/** The generic cache events perf lists, e.g. `L1-dcache-load-misses`. */
export function cacheEventNames(): { name: string; config: number }[] {
  const events: { name: string; config: number }[] = [];
  CACHE_IDS.forEach((ids, id) => {
    CACHE_OPS.forEach((ops, op) => {
      if ((CACHE_OPS_LISTED[id] & (1 << op)) === 0) return;
      const plural = ops[1];
      events.push({ name: `${ids[0]}-${plural}`, config: id | (op << 8) });
      events.push({
        name: `${ids[0]}-${ops[0]}-misses`,
        config: id | (op << 8) | (1 << 16),
      });
    });
  });
  return events;
}
