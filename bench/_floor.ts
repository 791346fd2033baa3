// The kernel floor of the group target: bench/kernel_floor.c, built with the
// project's pinned Zig (`zig cc`), run between the sampler processes.

import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { findZig, pinnedVersion } from "../build.ts";

/** One run of bench/kernel_floor.c. */
export interface FloorRun {
  /** Median ns of 4 read(2) calls on 4 counters. */
  four_reads_ns: number;
  /** Median ns of one read(2) of the group of 4. */
  group_read_ns: number;
  /** four_reads_ns / group_read_ns. */
  ratio: number;
}

/** The pooled floor, or why it could not be measured. */
export type KernelFloor =
  | {
    /** Medians over the runs. */
    fourReadsNs: number;
    groupReadNs: number;
    ratio: number;
    /** Ratio of every run, in order. */
    ratios: number[];
    compiler: string;
  }
  | { unavailable: string };

/**
 * Builds kernel_floor.c with `zig cc` of the project's pinned Zig, found (or
 * installed) as build.ts finds it.
 *
 * @returns The binary's path and the compiler used, or why not.
 */
export function buildFloor(
  root: string,
): { path: string; compiler: string } | { unavailable: string } {
  const out = join(mkdtempSync(join(os.tmpdir(), "perfmmap-floor-")), "kernel_floor");
  const zig = findZig(pinnedVersion());
  const args = [...zig.prefix, "cc", "-O2", "-o", out, join(root, "bench", "kernel_floor.c")];
  const r = spawnSync(zig.command, args, { encoding: "utf8" });
  if (r.status !== 0) {
    const why = (r.stderr || String(r.error)).trim().slice(0, 200);
    return { unavailable: `could not build bench/kernel_floor.c with ${zig.label}: ${why}` };
  }
  return { path: out, compiler: `${zig.label} cc -O2` };
}

/** Runs the floor binary once. */
export function runFloor(path: string, rounds = 100, calls = 200): FloorRun {
  const r = spawnSync(path, [String(rounds), String(calls)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`kernel_floor exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as FloorRun;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Pools the runs: medians of each field. */
export function poolFloor(runs: FloorRun[], compiler: string): KernelFloor {
  if (runs.length === 0) return { unavailable: "no run" };
  return {
    fourReadsNs: median(runs.map((r) => r.four_reads_ns)),
    groupReadNs: median(runs.map((r) => r.group_read_ns)),
    ratio: median(runs.map((r) => r.ratio)),
    ratios: runs.map((r) => Math.round(r.ratio * 1000) / 1000),
    compiler,
  };
}
