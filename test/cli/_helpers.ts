// Helpers for the CLI tests: run `cli.ts` under the runtime running the
// tests, find programs on PATH, build the C workloads. Nothing here runs at
// import time.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";

/** The CLI entry point. */
export const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** The permissions `stat` needs under Deno (doctor and list need the first two). */
export const DENO_FLAGS = ["--allow-ffi", "--allow-read", "--allow-run", "--allow-env"];

const host = globalThis as unknown as { Bun?: unknown; Deno?: { execPath(): string } };

/** The runtime running the tests (and the CLI under test). */
export function runtime(): "deno" | "bun" | "node" {
  if (host.Bun !== undefined) return "bun";
  return host.Deno !== undefined ? "deno" : "node";
}

/**
 * argv that runs the CLI under this runtime, with `flags` for Deno. Node
 * prints an ExperimentalWarning on stderr when node:ffi loads, which the
 * tests of stderr must not see.
 */
export function cliCommand(args: readonly string[], flags = DENO_FLAGS): string[] {
  if (runtime() === "bun") return [process.execPath, CLI, ...args];
  if (runtime() === "node") {
    return [process.execPath, "--disable-warning=ExperimentalWarning", CLI, ...args];
  }
  return [host.Deno!.execPath(), "run", "--no-prompt", ...flags, CLI, ...args];
}

/** What a finished process gave. */
export interface Ran {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (60 s at most) and captures its output. */
export function runCli(args: readonly string[], flags = DENO_FLAGS): Ran {
  const [command, ...rest] = cliCommand(args, flags);
  return runSync(command, rest);
}

/** Runs a program to completion (60 s at most) and captures its output. */
export function runSync(command: string, args: readonly string[]): Ran {
  const result = spawnSync(command, [...args], {
    encoding: "utf8",
    timeout: 60_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.error !== undefined) throw result.error;
  return {
    status: result.status,
    signal: result.signal,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

/**
 * Runs the CLI with `extra` open in it as a caller's fds (key: the fd number
 * in the CLI, value: an fd of this process), as a shell's `3<file` or a
 * `make -j` jobserver gives them. 60 s at most.
 */
export function runCliWithFds(
  args: readonly string[],
  extra: Readonly<Record<number, number>>,
  flags = DENO_FLAGS,
): Promise<Ran> {
  const [command, ...rest] = cliCommand(args, flags);
  const highest = Math.max(2, ...Object.keys(extra).map(Number));
  const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "pipe", "pipe"];
  for (let fd = 3; fd <= highest; fd++) stdio.push(extra[fd] ?? "ignore");
  const child = spawn(command, rest, { stdio });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const guard = setTimeout(() => process.kill(child.pid!, "SIGKILL"), 60_000);
  return new Promise((resolve) => {
    child.once("close", (status, signal) => {
      clearTimeout(guard);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** What the command under `stat` prints on stdout once it runs (see {@link runCliAndSignal}). */
export const STARTED = "perfmmap-test: started";

/**
 * Starts the CLI, waits until the command under it prints {@link STARTED}
 * on stdout (so the counters are open and perfmmap's handlers are in
 * place, however slow the machine), then sends `signal` to perfmmap alone or
 * to its whole process group (as a terminal's Ctrl-C does), and collects
 * the output.
 */
export function runCliAndSignal(
  args: readonly string[],
  signal: "SIGINT" | "SIGTERM",
  target: "process" | "group",
): Promise<Ran & { signalledAfterMs: number; exitedAfterMs: number }> {
  const [command, ...rest] = cliCommand(args);
  const child = spawn(command, rest, {
    stdio: ["ignore", "pipe", "pipe"],
    detached: target === "group", // its own process group, like a shell job
  });
  let stdout = "";
  let stderr = "";
  const start = performance.now();
  let signalledAfterMs = -1;
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    if (signalledAfterMs < 0 && stdout.includes(STARTED)) {
      signalledAfterMs = performance.now() - start;
      // A moment more, so that the command is in its sleeps.
      setTimeout(() => process.kill(target === "group" ? -child.pid! : child.pid!, signal), 200);
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const guard = setTimeout(() => process.kill(child.pid!, "SIGKILL"), 60_000);
  return new Promise((resolve) => {
    child.once("close", (status, exitSignal) => {
      clearTimeout(guard);
      resolve({
        status,
        signal: exitSignal,
        stdout,
        stderr,
        signalledAfterMs,
        exitedAfterMs: performance.now() - start,
      });
    });
  });
}

/** The path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const directory of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const path = `${directory === "" ? "." : directory}/${name}`;
    try {
      const info = statSync(path);
      if (info.isFile() && (info.mode & 0o111) !== 0) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The deterministic workload: `work PAGES YIELDS SLEEPS SPINS` writes one
 * byte in each of PAGES fresh pages (no huge pages), calls sched_yield
 * YIELDS times, sleeps 1 ms SLEEPS times (one voluntary context switch
 * each), then spins SPINS iterations.
 */
export const WORKLOAD_C = `#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  long pages = argc > 1 ? atol(argv[1]) : 0, yields = argc > 2 ? atol(argv[2]) : 0;
  long sleeps = argc > 3 ? atol(argv[3]) : 0, spins = argc > 4 ? atol(argv[4]) : 0;
  long size = sysconf(_SC_PAGESIZE);
  if (pages > 0) {
    char *p = mmap(0, pages * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    madvise(p, pages * size, MADV_NOHUGEPAGE);
    for (long i = 0; i < pages; i++) p[i * size] = 1;
  }
  for (long i = 0; i < yields; i++) sched_yield();
  struct timespec ts = {0, 1000000};
  for (long i = 0; i < sleeps; i++) nanosleep(&ts, 0);
  volatile unsigned long x = 0;
  for (long i = 0; i < spins; i++) x += i;
  return argc > 5 ? atoi(argv[5]) : 0;
}
`;

/** A temporary directory with the workload compiled in it. */
export interface Workspace {
  dir: string;
  /** The compiled workload. */
  work: string;
  remove(): void;
}

/** Compiles the workload with `cc` into a fresh temporary directory. */
export function buildWorkload(): Workspace {
  const dir = mkdtempSync(`${tmpdir()}/perfmmap-cli-`);
  const source = `${dir}/work.c`;
  writeFileSync(source, WORKLOAD_C);
  const work = `${dir}/work`;
  const cc = runSync(which("cc") ?? "cc", ["-O2", "-o", work, source]);
  if (cc.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cc failed (${cc.status}): ${cc.stderr}`);
  }
  return { dir, work, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Why the perf agreement tests cannot run here, or false. Never throws. */
export function perfSkip(): string | false {
  try {
    if (which("perf") === undefined) return "Linux perf is not installed (no `perf` on PATH)";
    if (which("cc") === undefined) return "no C compiler (`cc`) to build the workloads";
    return false;
  } catch (error) {
    return `cannot look for perf: ${error}`;
  }
}

/** The CPU PMUs in sysfs (cpu, cpu_core, armv8_*, ...). Never throws. */
export function cpuPmuNames(): string[] {
  try {
    return readdirSync("/sys/bus/event_source/devices").filter((name) =>
      /^(cpu|cpu_core|cpu_atom|arm_pmu|armv[78]_.*|arm_cortex.*)$/.test(name)
    );
  } catch {
    return [];
  }
}

/** Why the workload tests cannot run here, or false. Never throws. */
export function ccSkip(): string | false {
  try {
    return which("cc") === undefined ? "no C compiler (`cc`) to build the workloads" : false;
  } catch (error) {
    return `cannot look for cc: ${error}`;
  }
}

/** One row of `-x,` output: value, unit, event, run time, percent running, metric, metric unit. */
export interface CsvRow {
  value: string;
  unit: string;
  event: string;
  fields: string[];
}

/** The rows of `perf stat -x,` (or ours), keyed by event; other lines ignored. */
export function parseCsv(text: string, separator = ","): Map<string, CsvRow> {
  const rows = new Map<string, CsvRow>();
  for (const line of text.split("\n")) {
    const fields = line.split(separator);
    if (fields.length < 5 || line.startsWith("#")) continue;
    rows.set(fields[2], { value: fields[0], unit: fields[1], event: fields[2], fields });
  }
  return rows;
}

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Asserts that an error output is one line with no stack trace. */
export function oneLine(stderr: string): string | undefined {
  const lines = stderr.split("\n").filter((line) => line.trim() !== "");
  if (lines.length !== 1) return `expected one line on stderr, got ${lines.length}:\n${stderr}`;
  if (/\bat .*:\d+:\d+/.test(stderr) || /Error:/.test(stderr) && !/perfmmap/.test(stderr)) {
    return `stderr looks like a stack trace:\n${stderr}`;
  }
  return undefined;
}
