// The cost of Counter.read() on a simulated userspace counter against the
// no-op FFI call, in this runtime, or in Deno and Bun side by side (--both).
//
//   deno run --allow-ffi bench/read_cost.ts
//   bun bench/read_cost.ts
//   deno run --allow-ffi --allow-run --allow-read --allow-env bench/read_cost.ts --both
//
// Target: read() <= 2 x no-op + the native read, where the native
// read is estimated as (raw pm_read FFI call - no-op).

import process from "node:process";
import { Counter } from "../mod.ts";
import { SimulatedCounter } from "../src/testing.ts";
import { native } from "../src/loader/native.ts";

interface Case {
  name: string;
  run: (iterations: number) => number;
}

interface Result {
  runtime: string;
  version: string;
  cases: Record<string, number>;
}

const ITERATIONS = 1_000_000;
const ROUNDS = 15;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function measure(): Result {
  const n = native();
  const noop = n.symbols.pm_noop;
  const rawRead = n.symbols.pm_read;
  using sim = SimulatedCounter.create();
  sim.set("offset", 1000).set("register", 1);
  using clock = Counter.open("task-clock");
  // A second simulated counter, driven through the raw symbols only.
  const handle = n.symbols.pm_sim_open(1 | 4); // mode auto, fallback on
  n.symbols.pm_sim_set(handle, 2, 1000, 0); // offset 1000
  let sink = 0;
  const cases: Case[] = [
    {
      name: "noop FFI call",
      run: (iterations) => {
        for (let i = 0; i < iterations; i++) sink += noop();
        return sink;
      },
    },
    {
      name: "raw pm_read (sim)",
      run: (iterations) => {
        for (let i = 0; i < iterations; i++) sink += rawRead(handle);
        return sink;
      },
    },
    {
      name: "Counter.read() (sim, userspace)",
      run: (iterations) => {
        for (let i = 0; i < iterations; i++) sink += sim.read();
        return sink;
      },
    },
    {
      name: "Counter.read() (task-clock, syscall)",
      run: (iterations) => {
        for (let i = 0; i < iterations; i++) sink += clock.read();
        return sink;
      },
    },
  ];
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (const c of cases) c.run(ITERATIONS / 10); // warm up
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      const iterations = c.name.includes("syscall") ? ITERATIONS / 100 : ITERATIONS;
      const start = performance.now();
      c.run(iterations);
      const elapsed = performance.now() - start;
      samples.get(c.name)!.push((elapsed * 1e6) / iterations);
    }
  }
  if (sink === -1) console.log(sink);
  n.symbols.pm_close(handle);
  const result: Record<string, number> = {};
  for (const [name, values] of samples) result[name] = median(values);
  return { runtime: n.runtime, version: n.runtimeVersion, cases: result };
}

function verdict(result: Result): string {
  const noop = result.cases["noop FFI call"];
  const raw = result.cases["raw pm_read (sim)"];
  const read = result.cases["Counter.read() (sim, userspace)"];
  const nativeRead = Math.max(0, raw - noop);
  const limit = 2 * noop + nativeRead;
  return `${result.runtime}: read() ${read.toFixed(1)} ns vs limit 2 x ${noop.toFixed(1)} + ${
    nativeRead.toFixed(1)
  } = ${limit.toFixed(1)} ns -> ${read <= limit ? "PASS" : "FAIL"} (read/noop = ${
    (read / noop).toFixed(2)
  })`;
}

function table(results: Result[]): string {
  const names = Object.keys(results[0].cases);
  const header = `| case | ${
    results.map((r) => `${r.runtime} ${r.version} (ns/call)`).join(" | ")
  } |`;
  const rule = `|---|${results.map(() => "---:").join("|")}|`;
  const rows = names.map((name) =>
    `| ${name} | ${results.map((r) => r.cases[name].toFixed(1)).join(" | ")} |`
  );
  return [header, rule, ...rows].join("\n");
}

async function both(): Promise<void> {
  const { spawnSync } = await import("node:child_process");
  const root = new URL("../", import.meta.url).pathname;
  const script = new URL("./read_cost.ts", import.meta.url).pathname;
  const commands: [string, string[]][] = [
    [`${root}node_modules/.bin/deno`, ["run", "--allow-ffi", script, "--json"]],
    [`${root}node_modules/.bin/bun`, [script, "--json"]],
  ];
  const results: Result[] = [];
  for (const [command, args] of commands) {
    const child = spawnSync(command, args, { encoding: "utf8" });
    if (child.status !== 0) throw new Error(`${command} failed: ${child.stderr}`);
    results.push(JSON.parse(child.stdout.trim().split("\n").pop()!));
  }
  console.log(table(results));
  console.log();
  for (const result of results) console.log(verdict(result));
}

const args = process.argv.slice(2);
if (args.includes("--both")) {
  await both();
} else {
  const result = measure();
  if (args.includes("--json")) {
    console.log(JSON.stringify(result));
  } else {
    console.log(table([result]));
    console.log(verdict(result));
  }
}
