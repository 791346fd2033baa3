// Loading: the runtime check, library resolution and its errors, and the
// permissions Deno needs. Each case runs in a child process, because the
// library is loaded once per process.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { probe } from "../mod.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const FIXTURE = `${ROOT}test/fixtures/load.ts`;
const isDeno = "Deno" in globalThis;

interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
  hint?: string;
  [key: string]: unknown;
}

/**
 * Runs a child. Deno's node:child_process rewrites a spawn of its own binary
 * and grants the child every permission, so Deno children start through
 * Deno.Command, which passes the flags as given.
 */
function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): { status: number | null; stdout: string; stderr: string } {
  if (isDeno) {
    const output = new Deno.Command(command, { args, env, clearEnv: true, cwd: ROOT })
      .outputSync();
    const decoder = new TextDecoder();
    return {
      status: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }
  const child = spawnSync(command, args, { env, encoding: "utf8", cwd: ROOT });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

/** Runs the fixture under this test's runtime, with Deno flags if Deno. */
function load(
  options: { env?: Record<string, string>; denoFlags?: string[]; args?: string[] } = {},
): Outcome {
  const denoFlags = options.denoFlags ??
    ["--allow-ffi", "--allow-env=PERFMMAP_LIB", "--allow-read"];
  const extra = options.args ?? [];
  const args = isDeno
    ? ["run", "--no-prompt", ...denoFlags, FIXTURE, ...extra]
    : [FIXTURE, ...extra];
  const env: Record<string, string> = { ...process.env as Record<string, string> };
  delete env.PERFMMAP_LIB;
  Object.assign(env, options.env);
  const child = run(process.execPath, args, env);
  const line = child.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`child failed (status ${child.status}): ${child.stdout}\n${child.stderr}`);
  }
}

function otherArchFixture(): { path: string; built: string } {
  return probe([]).arch === "aarch64"
    ? { path: `${ROOT}test/fixtures/fake_x86_64.so`, built: "x86_64" }
    : { path: `${ROOT}test/fixtures/fake_aarch64.so`, built: "aarch64" };
}

describe("library resolution", () => {
  it("finds the build output beside the module", () => {
    const outcome = load();
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
  });

  it("PERFMMAP_LIB overrides the path", () => {
    const outcome = load({ env: { PERFMMAP_LIB: probe([]).library } });
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
  });

  it("a missing file is LIBRARY_NOT_FOUND, naming the path and the fix", () => {
    const outcome = load({ env: { PERFMMAP_LIB: "/nonexistent/libperfmmap.so" } });
    assert.equal(outcome.code, "LIBRARY_NOT_FOUND", JSON.stringify(outcome));
    assert.match(outcome.message!, /\/nonexistent\/libperfmmap\.so: not found/);
    assert.match(outcome.hint!, /PERFMMAP_LIB/);
  });

  it("a file built for another CPU is LIBRARY_WRONG_ARCH, naming both", () => {
    const { path, built } = otherArchFixture();
    const outcome = load({ env: { PERFMMAP_LIB: path } });
    assert.equal(outcome.code, "LIBRARY_WRONG_ARCH", JSON.stringify(outcome));
    assert.match(outcome.message!, new RegExp(`built for ${built}, but this is (x64|arm64)`));
  });

  it("without read permission Deno says the file may be missing or for another CPU", () => {
    const { path } = otherArchFixture();
    const outcome = load({
      env: { PERFMMAP_LIB: path },
      denoFlags: ["--allow-ffi", "--allow-env=PERFMMAP_LIB"],
    });
    if (isDeno) {
      assert.equal(outcome.code, "LIBRARY_NOT_FOUND", JSON.stringify(outcome));
      assert.match(outcome.message!, /built for another CPU \(Deno needs --allow-read/);
    } else {
      assert.equal(outcome.code, "LIBRARY_WRONG_ARCH", JSON.stringify(outcome));
    }
  });
});

describe("runtimes and permissions", () => {
  it("needs no permission but FFI (Deno: --allow-ffi alone; Bun: none)", () => {
    const outcome = load({ denoFlags: ["--allow-ffi"], args: ["full"] });
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.equal(outcome.group, 2);
    assert.ok((outcome.probe as number) >= 1, "probe reads sysfs through the core");
    assert.ok((outcome.events as number) >= 2);
  });

  it("without FFI permission Deno gives FFI_NOT_ALLOWED (Bun has no permissions)", () => {
    const outcome = load({ denoFlags: [] });
    if (isDeno) {
      assert.equal(outcome.code, "FFI_NOT_ALLOWED", JSON.stringify(outcome));
      assert.match(outcome.hint!, /--allow-ffi/);
    } else {
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
    }
  });

  // Node (the pinned Node 26, and an older Node): test/node.test.ts.
});
