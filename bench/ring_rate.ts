// Records per second drained from the ring, against `perf record` sampling
// the same event (cpu-clock) at the same frequency on the same busy thread;
// and what one record costs the consumer (copy, then copy + decode).
//
//   deno run -A bench/ring_rate.ts [--seconds 2] [--freqs 1000,10000,50000]
//   bun bench/ring_rate.ts
//   deno run -A bench/ring_rate.ts --both      Deno and Bun, one after the other
//
// The busy thread is this runtime's JS thread. perfmmap samples it with
// sampleType ip, tid, time, period (perf record's own sample_type for
// `-e cpu-clock -F f`), draining every 10 ms. perf record attaches to the same
// thread (`-t <tid>`) while the same loop runs. perf writes to a tmpfs file
// (/dev/shm): with `-o /dev/null` it runs but cannot report how many samples
// it wrote ("Captured and wrote 0.000 MB /dev/null"), and tmpfs costs the
// same memcpy. Rates are per wall second of the loop; the ratio is ours /
// perf's (1.00: every sample the kernel took reached JS).

import process from "node:process";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, rmSync, statSync } from "node:fs";
import { Counter } from "../mod.ts";
import { handleOf } from "../src/_open.ts";
import { native } from "../src/loader/native.ts";

interface RateRow {
  frequency: number;
  /** perfmmap: samples per CPU second of the busy thread. */
  ours: number;
  /** perfmmap: samples per wall second. */
  oursWall: number;
  oursLost: number;
  /** perf record: samples per CPU second of the same thread. */
  perf: number | null;
  /** Median cost of one drain() call (every 10 ms) in microseconds. */
  drainUsPerCall: number;
}

interface Capacity {
  records: number;
  copyNsPerRecord: number;
  drainNsPerRecord: number;
}

interface Result {
  runtime: string;
  version: string;
  seconds: number;
  rows: RateRow[];
  capacity: Capacity;
}

const SAMPLE_TYPE = ["ip", "tid", "time", "period"] as const;
const DRAIN_EVERY_MS = 10;

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

let sink = 0;

/** Busy work for `ms` of wall time, calling `between` every DRAIN_EVERY_MS. */
function busyFor(ms: number, between: () => void): void {
  const end = performance.now() + ms;
  let next = performance.now() + DRAIN_EVERY_MS;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) sink += Math.sqrt(i + sink);
    if (performance.now() >= next) {
      between();
      next += DRAIN_EVERY_MS;
    }
  }
  between();
}

function ours(frequency: number, seconds: number): Omit<RateRow, "perf"> {
  using clock = Counter.open("cpu-clock", {
    sample: { frequency },
    sampleType: SAMPLE_TYPE,
    ring: { pages: 256 },
  });
  let samples = 0;
  const callsMs: number[] = [];
  const cpuStart = clock.read(); // cpu-clock counts this thread's CPU nanoseconds
  busyFor(seconds * 1000, () => {
    const start = performance.now();
    const batch = clock.drain();
    callsMs.push(performance.now() - start);
    for (const record of batch) if (record.type === "sample") samples++;
  });
  const cpuSeconds = (clock.read() - cpuStart) / 1e9;
  return {
    frequency,
    ours: samples / cpuSeconds,
    oursWall: samples / seconds,
    oursLost: clock.ringStats().lost,
    drainUsPerCall: median(callsMs) * 1e3,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** perf record on this thread while the same loop runs; samples per CPU second. */
async function perfRecord(frequency: number, seconds: number): Promise<number | null> {
  const output = `/dev/shm/perfmmap-ring-rate-${process.pid}.data`;
  const tid = native().symbols.pm_gettid();
  const args = ["record", "-e", "cpu-clock", "-F", String(frequency), "-t", String(tid)];
  const child = spawn("perf", [...args, "-o", output], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  // perf has attached once it has written its header.
  for (let i = 0; i < 200 && !(existsSync(output) && statSync(output).size > 0); i++) {
    await sleep(10);
  }
  await sleep(100);
  using thread = Counter.open("task-clock"); // counting only: this thread's CPU time
  const cpuStart = thread.read();
  busyFor(seconds * 1000, () => {});
  const cpuSeconds = (thread.read() - cpuStart) / 1e9;
  child.kill("SIGINT");
  await exited;
  rmSync(output, { force: true });
  const match = stderr.match(/\((\d+) samples\)/);
  if (match === null) {
    console.error(`perf record gave no sample count:\n${stderr}`);
    return null;
  }
  return Number(match[1]) / cpuSeconds;
}

const CAPACITY_ROUNDS = 7;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * The consumer's cost per record on a full ring: fill a 256-page ring at
 * 100 kHz without draining, then time the raw copies (pm_ring_read alone);
 * fill again and time drain() (copy + decode in TypeScript). Medians of
 * CAPACITY_ROUNDS rounds, so that the JIT has warmed up.
 */
function capacity(): Capacity {
  using clock = Counter.open("cpu-clock", {
    sample: { period: 10_000 },
    sampleType: SAMPLE_TYPE,
    ring: { pages: 256 },
    enabled: false,
  });
  const n = native();
  const handle = handleOf(clock)!;
  const buffer = new Uint8Array(256 << 10);
  const target = clock.ringStats().dataBytes * 0.9;
  const fill = () => {
    clock.enable();
    const end = performance.now() + 10_000;
    while (clock.ringStats().pendingBytes < target && performance.now() < end) {
      for (let i = 0; i < 10_000; i++) sink += Math.sqrt(i + sink);
    }
    clock.disable();
  };
  const copy: number[] = [];
  const drain: number[] = [];
  let records = 0;
  for (let round = 0; round < CAPACITY_ROUNDS; round++) {
    fill();
    const before = clock.ringStats().records;
    let start = performance.now();
    while (n.symbols.pm_ring_read(handle, buffer, buffer.length) > 0) sink++;
    copy.push(((performance.now() - start) * 1e6) / (clock.ringStats().records - before));
    fill();
    start = performance.now();
    records = clock.drain().length;
    drain.push(((performance.now() - start) * 1e6) / records);
  }
  return { records, copyNsPerRecord: median(copy), drainNsPerRecord: median(drain) };
}

async function measure(): Promise<Result> {
  const seconds = Number(flag("--seconds", "2"));
  const frequencies = flag("--freqs", "1000,10000,50000").split(",").map(Number);
  const hasPerf = spawnSync("perf", ["--version"]).status === 0;
  const rows: RateRow[] = [];
  for (const frequency of frequencies) {
    const row = ours(frequency, seconds);
    rows.push({ ...row, perf: hasPerf ? await perfRecord(frequency, seconds) : null });
  }
  const n = native();
  return {
    runtime: n.runtime,
    version: n.runtimeVersion,
    seconds,
    rows,
    capacity: capacity(),
  };
}

function print(result: Result): void {
  console.log(
    `\n${result.runtime} ${result.version}: cpu-clock samples per CPU second of the busy thread, ${result.seconds} s loop each`,
  );
  console.log(
    "  freq Hz   perfmmap   perf record   ratio   lost   perfmmap/wall s   drain us/call",
  );
  for (const row of result.rows) {
    const perf = row.perf === null ? "n/a" : row.perf.toFixed(0);
    const ratio = row.perf === null || row.perf === 0 ? "n/a" : (row.ours / row.perf).toFixed(3);
    console.log(
      `  ${String(row.frequency).padStart(7)}   ${row.ours.toFixed(0).padStart(8)}   ${
        perf.padStart(11)
      }   ${ratio.padStart(5)}   ${String(row.oursLost).padStart(4)}   ${
        row.oursWall.toFixed(0).padStart(15)
      }   ${row.drainUsPerCall.toFixed(1).padStart(13)}`,
    );
  }
  const c = result.capacity;
  console.log(
    `  full 256-page ring (${c.records} records), medians of ${CAPACITY_ROUNDS}: copy ${
      c.copyNsPerRecord.toFixed(0)
    } ns/record, copy + decode ${c.drainNsPerRecord.toFixed(0)} ns/record ` +
      `(${(1e9 / c.drainNsPerRecord / 1e6).toFixed(1)} M records/s)`,
  );
}

function both(): void {
  const script = new URL(import.meta.url).pathname;
  const root = new URL("../", import.meta.url).pathname;
  const passed = process.argv.slice(2).filter((arg) => arg !== "--both");
  const runs: [string, string[]][] = [
    [`${root}node_modules/.bin/deno`, ["run", "-A", script, "--json", ...passed]],
    [`${root}node_modules/.bin/bun`, [script, "--json", ...passed]],
  ];
  for (const [command, args] of runs) {
    const child = spawnSync(command, args, { encoding: "utf8" });
    if (child.status !== 0) {
      console.error(`${command} failed:\n${child.stderr}`);
      continue;
    }
    print(JSON.parse(child.stdout.trim().split("\n").pop()!));
  }
}

if (process.argv.includes("--both")) {
  both();
} else {
  const result = await measure();
  if (process.argv.includes("--json")) console.log(JSON.stringify(result));
  else print(result);
}
