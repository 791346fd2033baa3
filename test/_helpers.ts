// Shared helpers for the test files. Nothing here runs at import time.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import process from "node:process";
import { Counter, PerfError, probe } from "../mod.ts";
import { handleOf } from "../src/_open.ts";

/**
 * This thread's time on a CPU in ns, from the kernel's schedstat (null if
 * absent). The kernel brings a running thread's figure up to date only at a
 * tick or a switch (4 ms apart here, CONFIG_HZ=250), so busy(4) once spun
 * 1.5 ms; getrusage(RUSAGE_SELF), which process.cpuUsage() calls, brings it
 * up to date first.
 */
export function threadCpuNs(): number | null {
  try {
    process.cpuUsage();
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]);
  } catch {
    return null;
  }
}

/**
 * Spins until this thread has run on a CPU for `ms` milliseconds. CPU time,
 * not wall time: on a loaded machine a wall-clock loop may run for a fraction
 * of its length, and task-clock rightly counts only what ran. The oracle is
 * /proc/thread-self/schedstat, independent of perf; where it is missing, wall
 * time. Bounded: gives up after 100x `ms` of wall time plus 5 s.
 */
export function busy(ms: number): number {
  const start = threadCpuNs();
  const wallStart = performance.now();
  const wallLimit = wallStart + ms * 100 + 5000;
  let x = 0;
  for (;;) {
    for (let i = 0; i < 2000; i++) x += Math.sqrt(x + 1);
    const now = performance.now();
    if (start === null ? now - wallStart >= ms : (threadCpuNs()! - start) >= ms * 1e6) break;
    if (now > wallLimit) break;
  }
  return x;
}

/**
 * True inside the arm64 QEMU tier's guest, whose /init is started with
 * `perfmmap.run=<run>` on the kernel command line. Under TCG every syscall
 * costs tens of microseconds, so the loop-count tests (leaks) run a tenth of
 * their host iterations there, and say so; the host runs the full counts.
 */
export const QEMU_TIER: boolean = (() => {
  try {
    return /(^| )perfmmap\.run=/.test(readFileSync("/proc/cmdline", "utf8"));
  } catch {
    return false;
  }
})();

/** `hostCount` on the host; a tenth of it in the QEMU tier, with a printed note. */
export function loopCount(hostCount: number, what: string): number {
  if (!QEMU_TIER) return hostCount;
  const count = Math.max(1, Math.floor(hostCount / 10));
  console.log(`QEMU tier: ${what}: ${count} iterations (the host runs ${hostCount})`);
  return count;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread for `ms` milliseconds (a voluntary context switch). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * The shortest wall time of `fn` in up to `attempts` runs, stopping at the
 * first run under `boundMs`: for the tests that bound a call's time. On this
 * shared VM a burst of steal time or a GC pause can stretch any one run past
 * the bound; work that is really unbounded (a quadratic search, a hang)
 * exceeds it in every run. `fn` must be repeatable.
 */
export function quickestMs(fn: () => void, boundMs: number, attempts = 3): number {
  let best = Infinity;
  for (let attempt = 0; attempt < attempts && best >= boundMs; attempt++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/** Disposes of `value` if it is an object with `Symbol.dispose`; else nothing. */
export function disposeOf(value: unknown): void {
  const closable = value as { [Symbol.dispose]?: () => void } | null;
  if (typeof closable === "object" && closable !== null) closable[Symbol.dispose]?.();
}

/**
 * Runs `fn` again for its time alone (with {@link quickestMs}): what it
 * returns is disposed of, and what it throws is ignored (the first run's
 * outcome was the one checked).
 */
export function runAgain(fn: () => unknown): void {
  try {
    disposeOf(fn());
  } catch {
    // checked on the first run
  }
}

/** {@link quickestMs} for an async `fn`. */
export async function quickestMsAsync(
  fn: () => Promise<void>,
  boundMs: number,
  attempts = 3,
): Promise<number> {
  let best = Infinity;
  for (let attempt = 0; attempt < attempts && best >= boundMs; attempt++) {
    const start = performance.now();
    await fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/** Page size assumed for touching pages (x86_64 and arm64 4K kernels). */
export const PAGE = 4096;

// Touched memory is kept for the life of the process, so that no allocator
// hands the same (already faulted) pages out again; and every allocation is
// large, so that it comes straight from mmap, never from a reused heap.
const kept: Uint8Array[] = [];
const CHUNK_MIN = 64 << 20; // above glibc's largest mmap threshold (32 MiB)

const THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled";
let thpChecked = false;

/**
 * Fails with a clear message when transparent huge pages are `[always]`: then
 * the kernel may back fresh anonymous memory with 2 MiB pages, and touching
 * 2048 new 4K pages costs ~5 faults, not 2048 (Debian's arm64 kernel boots
 * with THP always; the arm64 tier's /init sets `madvise`). There is no sound
 * way to undo that from JS (no madvise(MADV_NOHUGEPAGE) without the core), so
 * the fault-counting tests say why instead of failing on a confusing number.
 */
function checkNoAlwaysThp(): void {
  if (thpChecked) return;
  let mode = "";
  try {
    mode = readFileSync(THP_ENABLED, "utf8").trim();
  } catch {
    // no THP in this kernel: every fresh page is a 4K fault
  }
  if (mode.includes("[always]")) {
    throw new Error(
      `transparent huge pages are "${mode}" (${THP_ENABLED}): fresh memory may fault once per ` +
        "2 MiB, so page-fault counts of touchNewPages() mean nothing; set it to madvise " +
        "(echo madvise > " + THP_ENABLED + ") to run these tests",
    );
  }
  thpChecked = true;
}

/**
 * Writes one byte in each of `pages` pages never touched before. The callers
 * count page faults and expect at least one per page: that assumes 4K faults,
 * which holds unless transparent huge pages are `[always]` (then the kernel may
 * fault a whole 2 MiB at once). That case throws, naming THP, rather than
 * letting a test fail on "page-faults rose by 5".
 */
export function touchNewPages(pages: number): Uint8Array {
  checkNoAlwaysThp();
  const memory = new Uint8Array(Math.max(pages * PAGE, CHUNK_MIN));
  kept.push(memory);
  for (let i = 0; i < pages * PAGE; i += PAGE) memory[i] = 1;
  return memory;
}

/** How many perf event fds this process has open. */
export function perfFds(): number {
  let count = 0;
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).includes("perf_event")) count++;
    } catch {
      // the fd that listed the directory is gone already
    }
  }
  return count;
}

/** All open fds of this process. */
export function allFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** How many mappings of perf event fds this process has. */
export function perfMappings(): number {
  return readFileSync("/proc/self/maps", "utf8").split("\n").filter((line) =>
    line.includes("perf_event")
  ).length;
}

/** All mappings of this process. */
export function allMappings(): number {
  return readFileSync("/proc/self/maps", "utf8").split("\n").filter((line) => line !== "").length;
}

const MISSING_HARDWARE = new Set(["ENOENT", "EOPNOTSUPP", "ENODEV", "ENXIO", "ENOTSUPP"]);
const skipReasons = new Map<string, string | false>();

/**
 * `false` when `event` opens here; otherwise the reason to skip its tests,
 * which is only ever "this machine has no hardware PMU for it". Any other
 * failure returns `false`, so that the test runs and fails loudly. Never
 * throws: it is called while tests are registered.
 */
export function hardwareSkip(event: string): string | false {
  const known = skipReasons.get(event);
  if (known !== undefined) return known;
  let reason: string | false = false;
  try {
    Counter.open(event).close();
  } catch (error) {
    if (error instanceof PerfError && MISSING_HARDWARE.has(error.code)) {
      let pmus = "unknown";
      try {
        const info = probe([]);
        pmus = info.cpuPmus.length === 0
          ? `no CPU PMU (PMUs: ${info.pmus.map((p) => p.name).join(", ")})`
          : `CPU PMU ${info.cpuPmus.join(", ")} lacks it`;
      } catch {
        // keep "unknown"
      }
      reason = `"${event}" cannot be counted on this machine: ${error.code}; ${pmus}`;
      console.log(`SKIP reason: ${reason}`);
    }
  }
  skipReasons.set(event, reason);
  return reason;
}

/** Asserts that `fn` throws a PerfError with `code`, and returns it. */
export function expectPerfError(fn: () => unknown, code: string): PerfError {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof PerfError)) {
      throw new Error(`expected PerfError ${code}, got ${String(error)}`, { cause: error });
    }
    if (error.code !== code) {
      throw new Error(`expected PerfError ${code}, got ${error.code}: ${error.message}`, {
        cause: error,
      });
    }
    return error;
  }
  throw new Error(`expected PerfError ${code}, but nothing was thrown`);
}

/** The native handle of an open counter (its registry entry in src/_open.ts). */
export function counterHandle(counter: object): number {
  const handle = handleOf(counter);
  if (handle === undefined) throw new Error("not an open counter of this package");
  return handle;
}
