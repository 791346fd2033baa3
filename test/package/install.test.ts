// Installing the packed artifact the way a user does, with no network: the
// registry is pointed at a closed loopback port, so any lookup would fail.
// `npm pack` of the staged npm tree, then `npm install ./perfmmap-x.tgz` in
// one temporary project and `bun add ./perfmmap-x.tgz` in another; then Bun
// and Deno (through `npm:` and through a path import) open task-clock from
// the installed package, the bin runs, its types check, and PERFMMAP_LIB
// still wins. Staging builds all four targets first (build.ts --all).

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import process from "node:process";
import {
  hostFolder,
  lastJson,
  NATIVE_FILES,
  once,
  otherArchLibrary,
  removeDir,
  ROOT,
  runSync,
  SLOW,
  stageRelease,
  tempDir,
  tool,
} from "./_helpers.ts";

/** A registry nobody listens on: an install that needs the network fails. */
const NO_REGISTRY = "http://127.0.0.1:9/";

const COUNT_SCRIPT = (specifier: string) => `
import { Counter, PerfError, probe } from "${specifier}";
try {
  using clock = Counter.open("task-clock");
  const start = clock.read();
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
  const ns = clock.read() - start;
  console.log(JSON.stringify({ ok: true, ns, x: x > 0, library: probe([]).library }));
} catch (e) {
  if (!(e instanceof PerfError)) throw e;
  console.log(JSON.stringify({ ok: false, code: e.code, message: e.message, hint: e.hint }));
}
`;

const TYPES_OK = `import { Counter, type CounterReading, PerfError } from "perfmmap";
import { SimulatedCounter } from "perfmmap/testing";
export function f(): number {
  using c = Counter.open("task-clock");
  const r: CounterReading = c.readDetailed();
  const e: PerfError | undefined = undefined;
  return c.read() + r.value + (e === undefined ? 0 : 1) + SimulatedCounter.create().read();
}
`;

const TYPES_BAD = `import { Counter } from "perfmmap";
export const wrong: string = Counter.open("task-clock").read();
`;

// A consumer as Deno or Bun sees the world: ES and the web globals (the public
// types name AbortSignal), no Node types; skipLibCheck off, so that our .d.ts
// files themselves are checked.
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: "ESNext",
    module: "ESNext",
    moduleResolution: "bundler",
    strict: true,
    noEmit: true,
    lib: ["ESNext", "DOM"],
    types: [],
    skipLibCheck: false,
  },
};

function writeProject(dir: string): void {
  writeFileSync(
    `${dir}/package.json`,
    JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }),
  );
  writeFileSync(`${dir}/count.ts`, COUNT_SCRIPT("perfmmap"));
  writeFileSync(`${dir}/count_npm.ts`, COUNT_SCRIPT("npm:perfmmap"));
  writeFileSync(`${dir}/count_path.ts`, COUNT_SCRIPT("./node_modules/perfmmap/mod.js"));
}

/**
 * The folder of a real Node older than 24.2 on PATH (no `import.meta.main`,
 * no node:ffi), or why there is none. Runtimes may put a `node` shim on PATH,
 * so each candidate is asked what it is.
 */
function olderNodeDir(): { dir: string; version: string } | string {
  for (const dir of (process.env.PATH ?? "").split(":").filter((d) => d !== "")) {
    if (!existsSync(`${dir}/node`)) continue;
    const asked = spawnSync(`${dir}/node`, [
      "-p",
      "typeof Deno + typeof Bun + ' ' + process.versions.node",
    ], { encoding: "utf8", timeout: 30_000 });
    const [kind, version = ""] = (asked.stdout ?? "").trim().split(" ");
    const [major, minor] = version.split(".").map(Number);
    if (kind === "undefinedundefined" && (major < 24 || (major === 24 && minor < 2))) {
      return { dir, version };
    }
  }
  return "no Node older than 24.2 on PATH";
}

function withoutOverride(): Record<string, string> {
  const env = { ...process.env as Record<string, string> };
  delete env.PERFMMAP_LIB;
  return env;
}

describe("the packed npm artifact, installed offline", () => {
  let work: string | undefined;
  const packed = once(() => {
    work = tempDir("install");
    stageRelease(`${work}/dist`);
    const ran = runSync("npm", ["pack", "--json", "--pack-destination", work], {
      cwd: `${work}/dist/npm`,
    });
    assert.equal(ran.status, 0, ran.stderr);
    const tarball = `${work}/${readdirSync(work).find((name) => name.endsWith(".tgz"))}`;
    for (const dir of [`${work}/npm-project`, `${work}/bun-project`]) {
      mkdirSync(dir, { recursive: true });
      writeProject(dir);
    }
    return { work, tarball };
  });
  const npmProject = () => `${packed().work}/npm-project`;
  const bunProject = () => `${packed().work}/bun-project`;

  after(() => removeDir(work));

  it("npm install ./perfmmap-x.tgz --offline", SLOW, () => {
    const ran = runSync("npm", [
      "install",
      "--offline",
      `--registry=${NO_REGISTRY}`,
      `--cache=${packed().work}/npm-cache`,
      "--no-audit",
      "--no-fund",
      "--no-update-notifier",
      packed().tarball,
    ], { cwd: npmProject() });
    assert.equal(ran.status, 0, `${ran.stdout}\n${ran.stderr}`);
    for (const file of NATIVE_FILES) {
      assert.ok(existsSync(`${npmProject()}/node_modules/perfmmap/${file}`), file);
    }
    assert.ok(lstatSync(`${npmProject()}/node_modules/.bin/perfmmap`).isSymbolicLink());
  });

  it("bun add ./perfmmap-x.tgz with no registry", SLOW, () => {
    const ran = runSync(tool("bun"), ["add", packed().tarball], {
      cwd: bunProject(),
      env: {
        BUN_CONFIG_REGISTRY: NO_REGISTRY,
        BUN_INSTALL_CACHE_DIR: `${packed().work}/bun-cache`,
        NO_COLOR: "1",
      },
    });
    assert.equal(ran.status, 0, `${ran.stdout}\n${ran.stderr}`);
    assert.match(`${ran.stdout}${ran.stderr}`, /installed perfmmap@/);
    for (const file of NATIVE_FILES) {
      assert.ok(existsSync(`${bunProject()}/node_modules/perfmmap/${file}`), file);
    }
  });

  for (const project of ["npm", "bun"] as const) {
    it(`Bun opens task-clock from the ${project}-installed package`, SLOW, () => {
      const dir = project === "npm" ? npmProject() : bunProject();
      const outcome = lastJson(
        runSync(tool("bun"), ["count.ts"], { cwd: dir, env: withoutOverride(), clearEnv: true }),
      );
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.ok((outcome.ns as number) > 0, JSON.stringify(outcome));
      assert.equal(
        outcome.library,
        `${dir}/node_modules/perfmmap/native/${hostFolder()}/libperfmmap.so`,
      );
    });
  }

  it(
    "Deno loads the installed package through npm: (local node_modules), with --allow-ffi only",
    SLOW,
    () => {
      const ran = runSync(tool("deno"), [
        "run",
        "--no-prompt",
        "--node-modules-dir=manual",
        "--allow-ffi",
        "count_npm.ts",
      ], { cwd: npmProject(), env: withoutOverride(), clearEnv: true });
      const outcome = lastJson(ran);
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.match(String(outcome.library), /\/node_modules\/perfmmap\/native\/linux-/);
    },
  );

  it("Deno loads the bun-installed package through a path import", SLOW, () => {
    const ran = runSync(tool("deno"), ["run", "--no-prompt", "--allow-ffi", "count_path.ts"], {
      cwd: bunProject(),
      env: withoutOverride(),
      clearEnv: true,
    });
    const outcome = lastJson(ran);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.ok(String(outcome.library).startsWith(`${bunProject()}/node_modules/perfmmap/`));
  });

  it(
    "the perfmmap bin runs under the node on PATH (Node 26), under `bun --bun`, and Deno runs npm:perfmmap/cli",
    SLOW,
    () => {
      // node_modules/.bin holds the pinned Node 26, Bun and Deno.
      const env = { ...withoutOverride(), PATH: `${ROOT}node_modules/.bin:${process.env.PATH}` };
      const binPath = `${npmProject()}/node_modules/.bin/perfmmap`;
      const bin = runSync(binPath, ["list", "--json"], { cwd: npmProject(), env, clearEnv: true });
      assert.equal(bin.status, 0, bin.stderr);
      assert.match(bin.stdout, /"task-clock"/);
      const doctor = runSync(binPath, ["doctor"], { cwd: npmProject(), env, clearEnv: true });
      assert.match(doctor.stdout, /^perfmmap doctor \(node 26\./, doctor.stdout + doctor.stderr);
      assert.match(doctor.stdout, /ok +library +\S+node_modules\/perfmmap\/native\/linux-/);
      const bun = runSync(tool("bun"), ["--bun", binPath, "doctor"], {
        cwd: npmProject(),
        env,
        clearEnv: true,
      });
      assert.match(bun.stdout, /^perfmmap doctor \(bun /, bun.stdout + bun.stderr);
      const deno = runSync(tool("deno"), [
        "run",
        "--no-prompt",
        "--node-modules-dir=manual",
        "--allow-ffi",
        "npm:perfmmap/cli",
        "doctor",
      ], { cwd: npmProject(), env: withoutOverride(), clearEnv: true });
      assert.match(deno.stdout, /ok +library +\S+node_modules\/perfmmap\/native\/linux-/);
    },
  );

  const older = olderNodeDir();
  it("the perfmmap bin under an older Node first on PATH says which Node it needs", {
    ...SLOW,
    skip: typeof older === "string" ? older : false,
  }, () => {
    const { dir, version } = older as { dir: string; version: string };
    const env = { ...withoutOverride(), PATH: `${dir}:${process.env.PATH}` };
    const bin = runSync(`${npmProject()}/node_modules/.bin/perfmmap`, ["list"], {
      cwd: npmProject(),
      env,
      clearEnv: true,
    });
    // Not a silent exit: Node before 24.2 has no import.meta.main.
    assert.notEqual(bin.status, 0, bin.stdout);
    assert.match(bin.stderr, new RegExp(`Node 26\\.4\\.0 or newer.*this is Node ${version}`));
  });

  it("the shipped .d.ts types check a consumer (and catch a wrong type)", SLOW, () => {
    writeFileSync(
      `${npmProject()}/tsconfig.json`,
      JSON.stringify({ ...CONSUMER_TSCONFIG, files: ["ok.ts"] }),
    );
    writeFileSync(`${npmProject()}/ok.ts`, TYPES_OK);
    const ok = runSync(tool("tsc"), ["-p", "tsconfig.json"], { cwd: npmProject() });
    assert.equal(ok.status, 0, `${ok.stdout}${ok.stderr}`);
    writeFileSync(
      `${npmProject()}/tsconfig.json`,
      JSON.stringify({ ...CONSUMER_TSCONFIG, files: ["bad.ts"] }),
    );
    writeFileSync(`${npmProject()}/bad.ts`, TYPES_BAD);
    const bad = runSync(tool("tsc"), ["-p", "tsconfig.json"], { cwd: npmProject() });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stdout, /bad\.ts.*TS2322: Type 'number' is not assignable to type 'string'/);
  });

  for (const runtime of ["bun", "deno"] as const) {
    it(
      `PERFMMAP_LIB wins over node_modules (${runtime}); the real other-CPU build is LIBRARY_WRONG_ARCH naming both`,
      SLOW,
      () => {
        const other = otherArchLibrary();
        const env = { ...withoutOverride(), PERFMMAP_LIB: other.path };
        const args = runtime === "bun" ? ["count.ts"] : [
          "run",
          "--no-prompt",
          "--node-modules-dir=manual",
          "--allow-ffi",
          "--allow-env=PERFMMAP_LIB",
          "--allow-read",
          "count_npm.ts",
        ];
        const outcome = lastJson(
          runSync(tool(runtime), args, { cwd: npmProject(), env, clearEnv: true }),
        );
        assert.equal(outcome.code, "LIBRARY_WRONG_ARCH", JSON.stringify(outcome));
        assert.match(
          String(outcome.message),
          new RegExp(`${other.path}: built for ${other.built}, but this is ${other.host}`),
        );
        assert.match(String(outcome.message), new RegExp(`this linux-${other.host} machine`));
        assert.match(String(outcome.hint), /PERFMMAP_LIB/);
      },
    );
  }
});
