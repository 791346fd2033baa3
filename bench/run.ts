/**
 * The benchmark runner: the three runtimes, interleaved, one report.
 *
 *   deno task bench        (or: npm run bench)
 *   <deno|bun|node> bench/run.ts [--quick] [--processes N] [--rounds N]
 *                                [--max-load L [--wait-max-s S]] [--out DIR] [--no-fail]
 *
 * Runs bench/_worker.ts in the pinned Deno, Bun and Node of node_modules/.bin:
 *   1. the custom sampler, N processes per runtime, in an order that changes
 *      from one process to the next (deno bun node, bun node deno, node deno
 *      bun, then the same three reversed), so that drift falls on all;
 *   2. mitata's measure() once per runtime (a cross-check of the sampler);
 *   3. the heap growth over 1 000 000 read() calls, per runtime.
 * Then it checks its ratio targets, prints one PASS/FAIL line per target
 * and runtime, and writes bench/results/latest.{json,md,svg}. Exits 1 when a
 * target fails (after writing everything), unless --no-fail. --max-load waits
 * (up to --wait-max-s, default 1200) until the 1-minute load average is at
 * most L; --out writes the three files to DIR instead.
 *
 * Uses only node: modules, so Deno, Bun and Node all run it.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { CASES, MITATA_EVENTS, MITATA_PAIR_ID, MITATA_PAIR_LABEL } from "./_cases.ts";
import { buildFloor, type FloorRun, type KernelFloor, poolFloor, runFloor } from "./_floor.ts";
import { summarize } from "./_sampler.ts";
import {
  type CaseResult,
  chart,
  checkTargets,
  floorLine,
  markdown,
  type MemoryResult,
  type Results,
  type RuntimeName,
  RUNTIMES,
  shortReason,
} from "./_report.ts";
import type { MemoryOutput, MitataOutput, SampleOutput } from "./_worker.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const worker = join(root, "bench", "_worker.ts");
const defaultResults = join(root, "bench", "results");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

const DENO_FLAGS = ["--allow-ffi", "--allow-env", "--allow-read", "--allow-sys"];
/** Node 26.9+ has node:ffi on by default; its one warning is noise in a worker's output. */
const NODE_FLAGS = ["--disable-warning=ExperimentalWarning"];

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? undefined : process.argv[at + 1];
}

function numberArgument(name: string, fallback: number): number {
  const raw = argument(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) fail(`--${name} needs a positive number`);
  return value;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function note(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

const quick = process.argv.includes("--quick");
const settings = {
  processes: numberArgument("processes", quick ? 1 : 6),
  rounds: numberArgument("rounds", quick ? 40 : 250),
  sampleUs: numberArgument("sample-us", 200),
  warmup: 10,
  mitataMs: quick ? 100 : 250,
  reads: 1_000_000,
  trials: 3,
};

function command(runtime: RuntimeName, mode: string, args: string[]): [string, string[]] {
  if (runtime === "bun") return [bin("bun"), [worker, mode, ...args]];
  if (runtime === "node") {
    const gc = mode === "memory" ? ["--expose-gc"] : [];
    return [bin("node"), [...NODE_FLAGS, ...gc, worker, mode, ...args]];
  }
  const v8 = mode === "memory" ? ["--v8-flags=--expose-gc"] : [];
  return [bin("deno"), ["run", ...DENO_FLAGS, ...v8, worker, mode, ...args]];
}

function runWorker<T>(runtime: RuntimeName, mode: string, args: string[] = []): T {
  const [file, argv] = command(runtime, mode, args);
  const child = spawnSync(file, argv, {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: "1" },
  });
  if (child.error) fail(`${runtime} ${mode}: ${child.error.message}`);
  const lines = (child.stdout ?? "").trim().split("\n");
  if (child.status !== 0) {
    fail(`${runtime} ${mode} exited with ${child.status}:\n${child.stderr}${child.stdout}`);
  }
  try {
    return JSON.parse(lines[lines.length - 1]) as T;
  } catch {
    return fail(`${runtime} ${mode} printed no JSON:\n${child.stdout}\n${child.stderr}`);
  }
}

function version(file: string, args: string[], pattern: RegExp): string {
  const child = spawnSync(file, args, { encoding: "utf8" });
  return child.stdout?.match(pattern)?.[1] ?? "unknown";
}

function packageVersion(name: string): string {
  const path = join(root, "node_modules", name, "package.json");
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")).version : "not installed";
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "unreadable";
  }
}

function cpuName(): string {
  const line = readText("/proc/cpuinfo").split("\n").find((l) => l.startsWith("model name"));
  return line?.split(":")[1]?.trim() ?? os.cpus()[0]?.model ?? "unknown";
}

/** Whether hardware events open here, as the hardware pair case found out. */
function pmu(cases: readonly CaseResult[]): string {
  const cell = cases.find((c) => c.id === "pair_hw_perfmmap")?.sampler.deno;
  if (cell === undefined) return "unknown";
  if (!("unavailable" in cell)) return "present (hardware events open)";
  return `none: ${shortReason(cell.unavailable)}`;
}

async function waitForLoad(): Promise<number> {
  const limit = argument("max-load");
  if (limit === undefined) return 0;
  const max = Number(limit);
  const waitMax = numberArgument("wait-max-s", 1200);
  const start = Date.now();
  while (os.loadavg()[0] > max) {
    const waited = (Date.now() - start) / 1000;
    if (waited > waitMax) {
      note(
        `load average still ${os.loadavg()[0].toFixed(2)} after ${waited.toFixed(0)} s; going on`,
      );
      break;
    }
    note(`load average ${os.loadavg()[0].toFixed(2)} > ${max}; waiting`);
    await new Promise((resolve) => setTimeout(resolve, 15_000));
  }
  return (Date.now() - start) / 1000;
}

/**
 * The runtimes in the order of process `round`: rotated by one each round,
 * and reversed every other set of rounds, so that over 2 x RUNTIMES.length
 * processes each runtime runs in every position equally often, and after
 * each other runtime equally often.
 */
function order(round: number): RuntimeName[] {
  const n = RUNTIMES.length;
  const rotated = RUNTIMES.map((_, i) => RUNTIMES[(i + round) % n]);
  return Math.floor(round / n) % 2 === 0 ? rotated : rotated.reverse();
}

function perRuntime<T>(make: () => T): Record<RuntimeName, T> {
  return Object.fromEntries(RUNTIMES.map((r) => [r, make()])) as Record<RuntimeName, T>;
}

function sampleAll(): {
  samples: Record<RuntimeName, Map<string, number[]>>;
  iterations: Record<RuntimeName, Map<string, number>>;
  unavailable: Record<RuntimeName, Record<string, string>>;
  versions: Record<RuntimeName, string>;
  library: string;
  kernelFloor: KernelFloor;
} {
  const samples = perRuntime(() => new Map<string, number[]>());
  const iterations = perRuntime(() => new Map<string, number>());
  const unavailable = perRuntime((): Record<string, string> => ({}));
  const versions = perRuntime(() => "");
  const libraries = new Set<string>();
  // A machine that sat idle (for instance while --max-load waited) ran the
  // first process measurably slower here, even pure JS: one short process
  // per runtime first, its samples discarded.
  for (const runtime of RUNTIMES) {
    note(`warm-up: ${runtime}`);
    runWorker<SampleOutput>(runtime, "sample", ["--rounds", "20"]);
  }
  // The kernel floor of the group target (C, no runtime), once per set of
  // sampler processes, so that it sees the same machine drift.
  const floorBinary = buildFloor(root);
  const floorRuns: FloorRun[] = [];
  if ("unavailable" in floorBinary) note(`kernel floor: ${floorBinary.unavailable}`);
  for (let p = 0; p < settings.processes; p++) {
    if ("path" in floorBinary) floorRuns.push(runFloor(floorBinary.path));
    for (const runtime of order(p)) {
      note(`sampler ${p + 1}/${settings.processes}: ${runtime}`);
      const out = runWorker<SampleOutput>(runtime, "sample", [
        "--rounds",
        String(settings.rounds),
        "--sample-us",
        String(settings.sampleUs),
        "--warmup",
        String(settings.warmup),
      ]);
      versions[runtime] = out.version;
      libraries.add(out.library);
      Object.assign(unavailable[runtime], out.unavailable);
      for (const [id, c] of Object.entries(out.cases)) {
        samples[runtime].set(id, [...(samples[runtime].get(id) ?? []), ...c.samples]);
        iterations[runtime].set(id, c.iterations);
      }
    }
  }
  if (libraries.size !== 1) fail(`the processes loaded different libraries: ${[...libraries]}`);
  const kernelFloor = "path" in floorBinary
    ? poolFloor(floorRuns, floorBinary.compiler)
    : { unavailable: floorBinary.unavailable };
  return {
    samples,
    iterations,
    unavailable,
    versions,
    library: [...libraries][0],
    kernelFloor,
  };
}

function memoryResult(out: MemoryOutput): MemoryResult {
  const growth: Record<string, number[]> = {};
  for (const [id, trials] of Object.entries(out.cases)) growth[id] = trials.map((t) => t.growth);
  return {
    method: out.method,
    reads: out.reads,
    growth,
    growthMax: Math.max(...Object.values(growth).flat()),
  };
}

async function main(): Promise<void> {
  for (const name of RUNTIMES) {
    if (!existsSync(bin(name))) fail(`${bin(name)} is missing: run \`bash scripts/setup.sh\``);
  }
  const waitedSeconds = await waitForLoad();
  const started = Date.now();
  const loadBefore = os.loadavg();
  if (loadBefore[0] > os.cpus().length / 2) {
    note(
      `load average ${
        loadBefore[0].toFixed(2)
      } on ${os.cpus().length} cores: numbers will be noisy (see --max-load)`,
    );
  }

  const sampled = sampleAll();
  const mitata: Partial<Record<RuntimeName, MitataOutput>> = {};
  const memory: Partial<Record<RuntimeName, MemoryResult>> = {};
  for (const runtime of RUNTIMES) {
    note(`mitata: ${runtime}`);
    mitata[runtime] = runWorker<MitataOutput>(runtime, "mitata", [
      "--min-ms",
      String(settings.mitataMs),
    ]);
  }
  for (const runtime of order(1)) {
    note(`memory: ${runtime}`);
    memory[runtime] = memoryResult(
      runWorker<MemoryOutput>(runtime, "memory", [
        "--reads",
        String(settings.reads),
        "--trials",
        String(settings.trials),
      ]),
    );
  }
  const loadAfter = os.loadavg();

  const labels = [
    ...CASES.map((c) => ({ id: c.id, label: c.label, runtimes: c.runtimes })),
    { id: MITATA_PAIR_ID, label: MITATA_PAIR_LABEL, runtimes: RUNTIMES },
  ];
  const cases: CaseResult[] = labels.map(({ id, label, runtimes }) => {
    const result: CaseResult = { id, label, sampler: {}, mitata: {} };
    for (const runtime of RUNTIMES) {
      if (!runtimes.includes(runtime)) continue;
      const samples = sampled.samples[runtime].get(id);
      const why = sampled.unavailable[runtime][id];
      result.sampler[runtime] = samples !== undefined
        ? { ...summarize(samples), iterations: sampled.iterations[runtime].get(id) }
        : { unavailable: why ?? "did not run" };
      const m = mitata[runtime];
      const mc = m?.cases[id];
      result.mitata[runtime] = mc !== undefined
        ? mc
        : { unavailable: m?.unavailable[id] ?? "did not run" };
    }
    return result;
  });

  const targets = checkTargets(cases, memory, sampled.kernelFloor);
  const passed = targets.filter((t) => t.pass).length;
  const libraryBytes = readFileSync(sampled.library);
  const hwReason = (id: string) =>
    Object.fromEntries(RUNTIMES.map((r) => {
      const cell = cases.find((c) => c.id === id)?.sampler[r];
      return [
        r,
        cell === undefined
          ? "did not run"
          : "unavailable" in cell
          ? cell.unavailable
          : "measured (see the table)",
      ];
    }));
  const results: Results = {
    schema: "perfmmap-bench/1",
    date: new Date().toISOString(),
    command: process.env.npm_lifecycle_event
      ? `npm run ${process.env.npm_lifecycle_event}`
      : `bench/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: {
      cpu: cpuName(),
      cores: os.cpus().length,
      arch: os.arch(),
      kernel: os.release(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      pmu: pmu(cases),
      perfEventParanoid: readText("/proc/sys/kernel/perf_event_paranoid"),
    },
    load: { before: loadBefore, after: loadAfter, waitedSeconds: Math.round(waitedSeconds) },
    versions: {
      deno: sampled.versions.deno || version(bin("deno"), ["--version"], /deno (\S+)/),
      bun: sampled.versions.bun || version(bin("bun"), ["--version"], /(\S+)/),
      node: sampled.versions.node || version(bin("node"), ["--version"], /v(\S+)/),
      mitata: packageVersion("mitata"),
      "@mitata/counters": packageVersion("@mitata/counters"),
      perfmmap: JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version,
    },
    library: {
      path: relative(root, sampled.library),
      bytes: libraryBytes.length,
      sha256: createHash("sha256").update(libraryBytes).digest("hex"),
    },
    method: {
      sampler:
        "bench/_sampler.ts: per case a hand-written loop of n calls; n calibrated so one sample takes about the sample time; all cases sampled round-robin (order rotated each round); a sample is elapsed/n by performance.now(); the loop's own cost is included (see the empty-function case)",
      processesPerRuntime: settings.processes,
      roundsPerProcess: settings.rounds,
      sampleMicroseconds: settings.sampleUs,
      interleaving:
        "one discarded warm-up process per runtime, then per process set an order rotated by one (deno,bun,node / bun,node,deno / node,deno,bun, then the same reversed); samples of all processes are pooled",
      statistics:
        "median, p10 and p90 of the pooled samples (linear interpolation); targets are ratios of medians",
      mitata: `mitata ${
        packageVersion("mitata")
      } measure(op, { min_cpu_time: ${settings.mitataMs} ms }) per case, one process per runtime; its sorted samples give median/p10/p90`,
      memory:
        `${settings.reads} calls in one loop (read() simulated, read() task-clock, Group.readInto() simulated 4 members), after 100 000 warm-up calls; heap in use after forced GC before and after; ${settings.trials} trials each; each target is checked on the largest growth of its cases`,
      hardwarePair: `before/after pairs on ${
        MITATA_EVENTS.join(", ")
      }: perfmmap Counter.read() on each vs @mitata/counters before()/after()`,
    },
    cases,
    targets,
    memory,
    counters: {
      perfmmap: hwReason("pair_hw_perfmmap"),
      "@mitata/counters": hwReason(MITATA_PAIR_ID),
    },
    kernelFloor: sampled.kernelFloor,
    passed,
    failed: targets.length - passed,
  };

  const resultsDir = argument("out") ?? defaultResults;
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, "latest.json"), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(resultsDir, "latest.md"), markdown(results));
  writeFileSync(join(resultsDir, "latest.svg"), chart(results));
  // As the repository's `deno fmt --check` wants them (tables aligned, SVG indented).
  const files = ["latest.json", "latest.md", "latest.svg"].map((f) => join(resultsDir, f));
  const formatted = spawnSync(bin("deno"), ["fmt", "--quiet", ...files], {
    cwd: root,
    encoding: "utf8",
  });
  if (formatted.status !== 0) note(`deno fmt of the results failed: ${formatted.stderr}`);

  for (const t of targets) {
    const value = t.value === null
      ? "n/a"
      : t.unit === "KiB"
      ? `${t.value.toFixed(1)} KiB`
      : `${t.value.toFixed(2)}x`;
    const limit = t.unit === "KiB" ? `${t.limit} KiB` : `${t.limit}`;
    console.log(
      `${t.pass ? "PASS" : "FAIL"}  ${t.runtime.padEnd(4)}  ${
        t.label.replace(/`/g, "")
      }: ${value} (target ${t.op} ${limit})${t.note ? ` — ${t.note}` : ""}`,
    );
  }
  console.log(floorLine(results.kernelFloor).replace(/[`*]/g, ""));
  console.log(
    `bench: ${passed} of ${targets.length} targets met; load ${loadBefore[0].toFixed(2)} -> ${
      loadAfter[0].toFixed(2)
    }; ${results.durationSeconds} s; wrote ${
      relative(process.cwd(), resultsDir) || "."
    }/latest.{json,md,svg}`,
  );
  if (results.failed > 0 && !process.argv.includes("--no-fail")) process.exit(1);
}

await main();
