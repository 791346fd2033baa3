// Workers that are terminated while they hold counters: the process must
// live (a wait in flight on a runtime's pool thread must not run into an
// unloaded library), and what the Worker had open must not leak.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";

const ROOT = new URL("../", import.meta.url).pathname;
const CRASH_FIXTURE = `${ROOT}test/fixtures/worker_terminate.ts`;
const isDeno = "Deno" in globalThis;
/** The child's whole run: 4 Workers start (Deno compiles each) and stop. */
const CHILD_MS = 60_000;

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

describe("Workers: terminate", () => {
  it("terminating a Worker that waits in records() leaves the process alive", async () => {
    const child = await runChild([CRASH_FIXTURE, "4"]);
    const seen = `exit ${child.code}, signal ${child.signal}\n${child.stdout}\n${child.stderr}`;
    assert.equal(child.signal, null, `the child died by a signal: ${seen}`);
    assert.equal(child.code, 0, `the child failed: ${seen}`);
    assert.match(child.stdout, /alive/, `the child did not finish: ${seen}`);
  });
});
