// Workers that are terminated while they hold counters: the process must
// live (a wait in flight on a runtime's pool thread must not run into an
// unloaded library), and what the Worker had open must not leak.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { Counter } from "../mod.ts";
import { native } from "../src/loader/native.ts";
import { perfFds, perfMappings } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CRASH_FIXTURE = `${ROOT}test/fixtures/worker_terminate.ts`;
const isDeno = "Deno" in globalThis;
/** The child's whole run: 4 Workers start (Deno compiles each) and stop. */
const CHILD_MS = 60_000;
/**
 * Above the child's bound and a Worker's answer plus its end: Bun's own
 * default (5 s) cut the first test short in the arm64 guest, where the
 * child took longer, and the cut test's late failure was then reported
 * against the next one.
 */
const SLOW = { timeout: 300_000 };

interface ChildResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

// Typed here: types/deno_shim.d.ts (the Bun-side type check) names only
// Deno.Command's synchronous form.
interface DenoChild {
  output(): Promise<
    { code: number; signal: string | null; stdout: Uint8Array; stderr: Uint8Array }
  >;
}
type DenoCommand = new (command: string, options: {
  args: string[];
  cwd: string;
  stdout: "piped";
  stderr: "piped";
  signal: AbortSignal;
}) => DenoChild;

/**
 * Runs `args` under this test's runtime, killed after CHILD_MS. Deno's
 * node:child_process rewrites a spawn of its own binary, so Deno children
 * start through Deno.Command (as in runtime.test.ts).
 */
async function runChild(args: string[]): Promise<ChildResult> {
  if (isDeno) {
    const Command = (globalThis as unknown as { Deno: { Command: DenoCommand } }).Deno.Command;
    const child = new Command(process.execPath, {
      args: ["run", "-A", ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(CHILD_MS),
    });
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.signal === null ? output.code : null,
      signal: output.signal,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, timeout: CHILD_MS });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => stdout += chunk);
    child.stderr.on("data", (chunk) => stderr += chunk);
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

// Typed here: the Bun-side type check (tsc, lib ESNext) has no DOM Worker.
interface WorkerLike {
  onmessage: ((event: { data: { tid: number } }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  postMessage(message: unknown): void;
  terminate(): void;
}
type WorkerConstructor = new (url: string, options: { type: "module" }) => WorkerLike;
const WorkerClass = (globalThis as unknown as { Worker?: WorkerConstructor }).Worker;
const WORKER = new URL("./fixtures/worker_terminate_worker.ts", import.meta.url).href;
const noWorker = WorkerClass === undefined ? "this runtime has no global Worker" : false;
const ANSWER_MS = 20_000;

/** Starts a Worker that opens `counters` task-clock counters; resolves with its thread id. */
function openInWorker(counters: number): Promise<{ worker: WorkerLike; tid: number }> {
  const worker = new WorkerClass!(WORKER, { type: "module" });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.terminate();
      reject(new Error(`the Worker did not answer within ${ANSWER_MS} ms`));
    }, ANSWER_MS);
    worker.onmessage = (event) => {
      clearTimeout(timer);
      resolve({ worker, tid: event.data.tid });
    };
    worker.onerror = (event) => {
      clearTimeout(timer);
      reject(new Error(`the Worker failed: ${event.message}`));
    };
    worker.postMessage({ counters, sample: false });
  });
}

/** Waits (bounded) until thread `tid` of this process has ended. */
async function threadEnded(tid: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (existsSync(`/proc/self/task/${tid}`)) {
    if (performance.now() > deadline) {
      throw new Error(`thread ${tid} still runs 10 s after terminate()`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("Workers: terminate", () => {
  it("terminating a Worker that waits in records() leaves the process alive", SLOW, async () => {
    const child = await runChild([CRASH_FIXTURE, "4"]);
    const seen = `exit ${child.code}, signal ${child.signal}\n${child.stdout}\n${child.stderr}`;
    assert.equal(child.signal, null, `the child died by a signal: ${seen}`);
    assert.equal(child.code, 0, `the child failed: ${seen}`);
    assert.match(child.stdout, /alive/, `the child did not finish: ${seen}`);
  });

  it("a terminated Worker's 100 counters are closed at the next open on another thread", {
    ...SLOW,
    skip: noWorker,
  }, async () => {
    const fdsBefore = perfFds();
    const mappingsBefore = perfMappings();
    const { worker, tid } = await openInWorker(100);
    assert.ok(perfFds() >= fdsBefore + 100, `the Worker holds ${perfFds() - fdsBefore} fds`);
    worker.terminate();
    await threadEnded(tid);
    // This open is on another thread than the Worker's opens: it sweeps.
    Counter.open("task-clock").close();
    assert.equal(perfFds(), fdsBefore, "perf fds left after the sweep");
    assert.equal(perfMappings(), mappingsBefore, "perf mappings left after the sweep");
  });

  it("pm_sweep closes them too, and leaves live threads' counters open", {
    ...SLOW,
    skip: noWorker,
  }, async () => {
    using mine = Counter.open("task-clock");
    const fdsBefore = perfFds();
    const { worker, tid } = await openInWorker(20);
    worker.terminate();
    await threadEnded(tid);
    const n = native();
    assert.equal(n.symbols.pm_sweep(), 20);
    assert.equal(perfFds(), fdsBefore);
    assert.equal(n.symbols.pm_sweep(), 0);
    assert.ok(mine.read() >= 0, "the main thread's counter still reads");
  });
});
