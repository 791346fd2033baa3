// One benchmark process, started by run.ts in Deno, Bun or Node. Prints one
// JSON line (the last line of stdout) and nothing else on stdout.
//
//   <runtime> bench/_worker.ts sample [--rounds N] [--sample-us N] [--warmup N]
//   <runtime> bench/_worker.ts mitata [--min-ms N]
//   <runtime> bench/_worker.ts memory [--reads N] [--trials N]
//
// Deno needs --allow-ffi --allow-env --allow-read --allow-sys, and for
// `memory` also --v8-flags=--expose-gc; Node needs --expose-gc for `memory`.

import process from "node:process";
import { CASES, MEMORY_CASES, prepareAll, type Runtime } from "./_cases.ts";
import { type CaseSamples, sample, summarize, type Summary } from "./_sampler.ts";
import { native } from "../src/loader/native.ts";

/** What `sample` prints. */
export interface SampleOutput {
  runtime: string;
  version: string;
  /** The library file the process loaded. */
  library: string;
  cases: Record<string, CaseSamples>;
  /** Cases this runtime has, but whose setup failed: the reason. */
  unavailable: Record<string, string>;
}

/** What `mitata` prints. */
export interface MitataOutput {
  runtime: string;
  version: string;
  cases: Record<string, Summary & { batch: number }>;
  unavailable: Record<string, string>;
}

/** One heap-growth measurement. */
export interface MemoryTrial {
  /** Heap in use after GC before the reads, bytes. */
  before: number;
  /** Heap in use after GC after the reads, bytes. */
  after: number;
  /** after - before. */
  growth: number;
}

/** What `memory` prints. */
export interface MemoryOutput {
  runtime: string;
  version: string;
  /** How heap use was read and how GC was forced. */
  method: string;
  reads: number;
  /** Per case id (MEMORY_CASES): one entry per trial. */
  cases: Record<string, MemoryTrial[]>;
}

interface _Runtime {
  name: Runtime;
  version: string;
  gc: () => void;
  heapUsed: () => number;
  method: string;
}

interface _DenoGlobal {
  version: { deno: string };
  memoryUsage(): { heapUsed: number };
}

interface _BunGlobal {
  version: string;
  gc(force: boolean): void;
}

interface _HeapStats {
  heapStats(): { heapSize: number };
}

interface _NodeProcess {
  versions: { node: string };
  memoryUsage(): { heapUsed: number };
}

const host = globalThis as unknown as {
  Deno?: _DenoGlobal;
  Bun?: _BunGlobal;
  gc?: () => void;
  process?: _NodeProcess;
};

async function runtime(): Promise<_Runtime> {
  const bun = host.Bun;
  if (bun !== undefined) {
    const jscName = "bun:jsc";
    const jsc = (await import(jscName)) as _HeapStats;
    return {
      name: "bun",
      version: bun.version,
      gc: () => bun.gc(true),
      heapUsed: () => jsc.heapStats().heapSize,
      method: "Bun.gc(true) x3, then bun:jsc heapStats().heapSize",
    };
  }
  const deno = host.Deno;
  const node = host.process;
  if (deno === undefined && node?.versions?.node !== undefined) {
    return {
      name: "node",
      version: node.versions.node,
      gc: () => {
        if (host.gc === undefined) throw new Error("run Node with --expose-gc");
        host.gc();
      },
      heapUsed: () => node.memoryUsage().heapUsed,
      method: "gc() x3 (--expose-gc), then process.memoryUsage().heapUsed",
    };
  }
  if (deno === undefined) throw new Error("run this under Deno, Bun or Node");
  return {
    name: "deno",
    version: deno.version.deno,
    gc: () => {
      if (host.gc === undefined) throw new Error("run Deno with --v8-flags=--expose-gc");
      host.gc();
    },
    heapUsed: () => deno.memoryUsage().heapUsed,
    method: "gc() x3 (--v8-flags=--expose-gc), then Deno.memoryUsage().heapUsed",
  };
}

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

async function runSample(rt: _Runtime): Promise<SampleOutput> {
  const { ready, unavailable } = await prepareAll(rt.name);
  const cases = sample(
    ready.map((r) => ({ id: r.id, loop: r.prepared.loop })),
    {
      sampleNs: option("sample-us", 200) * 1000,
      warmupRounds: option("warmup", 10),
      rounds: option("rounds", 200),
    },
  );
  for (const r of ready) r.prepared.close();
  return { runtime: rt.name, version: rt.version, library: native().path, cases, unavailable };
}

interface _MitataStats {
  samples: number[];
  ticks: number;
}

interface _Mitata {
  measure(fn: () => unknown, options: { min_cpu_time: number }): Promise<_MitataStats>;
}

async function runMitata(rt: _Runtime): Promise<MitataOutput> {
  const mitataName = "mitata";
  const mitata = (await import(mitataName)) as _Mitata;
  const { ready, unavailable } = await prepareAll(rt.name);
  const cases: MitataOutput["cases"] = {};
  const minCpuTime = option("min-ms", 250) * 1e6;
  for (const r of ready) {
    const stats = await mitata.measure(r.prepared.op, { min_cpu_time: minCpuTime });
    cases[r.id] = {
      ...summarize(stats.samples),
      batch: Math.round(stats.ticks / stats.samples.length),
    };
  }
  for (const r of ready) r.prepared.close();
  return { runtime: rt.name, version: rt.version, cases, unavailable };
}

function collect(rt: _Runtime): number {
  for (let i = 0; i < 3; i++) rt.gc();
  return rt.heapUsed();
}

function runMemory(rt: _Runtime): MemoryOutput {
  const reads = option("reads", 1_000_000);
  const trials = option("trials", 3);
  const cases: Record<string, MemoryTrial[]> = {};
  for (const id of MEMORY_CASES) {
    const c = CASES.find((candidate) => candidate.id === id)!;
    const prepared = c.setup();
    prepared.loop(100_000); // the same loop, compiled before the baseline
    cases[id] = [];
    for (let trial = 0; trial < trials; trial++) {
      const before = collect(rt);
      prepared.loop(reads);
      const after = collect(rt);
      cases[id].push({ before, after, growth: after - before });
    }
    prepared.close();
  }
  return { runtime: rt.name, version: rt.version, method: rt.method, reads, cases };
}

async function main(): Promise<void> {
  const rt = await runtime();
  native(); // load the library first: a load failure is the one error to show
  const mode = process.argv[2];
  const output = mode === "sample"
    ? await runSample(rt)
    : mode === "mitata"
    ? await runMitata(rt)
    : mode === "memory"
    ? runMemory(rt)
    : undefined;
  if (output === undefined) throw new Error(`unknown mode ${mode}: sample, mitata or memory`);
  console.log(JSON.stringify(output));
}

await main();
