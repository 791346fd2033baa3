// The two manifests: one version, the publication fields each registry
// reads, and scripts/release.ts refusing to stage when they disagree.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { targetFolders } from "../../src/loader/_target.ts";
import { manifest, NATIVE_FILES, removeDir, ROOT, runSync, tempDir, tool } from "./_helpers.ts";

describe("manifests", () => {
  it("package.json and deno.json carry one version and one license", () => {
    const npm = manifest("package.json");
    const jsr = manifest("deno.json");
    assert.equal(npm.version, jsr.version);
    assert.match(String(npm.version), /^\d+\.\d+\.\d+/);
    assert.equal(npm.license, "MIT");
    assert.equal(jsr.license, "MIT");
    assert.match(
      readFileSync(`${ROOT}LICENSE`, "utf8"),
      /^MIT License\n\nCopyright \(c\) \d{4} perfmmap authors\n/,
    );
  });

  it("package.json states linux x64/arm64, Deno, Bun and Node 26, and types for every export", () => {
    const npm = manifest("package.json");
    assert.equal(npm.name, "perfmmap");
    assert.deepEqual(npm.os, ["linux"]);
    assert.deepEqual(npm.cpu, ["x64", "arm64"]);
    const engines = npm.engines as Record<string, string>;
    assert.ok(engines.deno && engines.bun, JSON.stringify(engines));
    // node:ffi with its fast-call path (src/ffi/node.ts: NODE_MIN_VERSION).
    assert.equal(engines.node, ">=26.4.0");
    assert.match(String(npm.description), /Deno, Bun and Node 26/);
    const exports = npm.exports as Record<string, unknown>;
    for (const entry of [".", "./testing", "./mitata", "./deno-bench", "./cli"]) {
      const target = exports[entry] as { types?: string; default?: string };
      assert.match(target.types ?? "", /\.d\.ts$/, entry);
      assert.match(target.default ?? "", /\.js$/, entry);
    }
    assert.deepEqual(npm.bin, { perfmmap: "./cli.js" });
    const files = npm.files as string[];
    for (const pattern of ["native/linux-*/libperfmmap.so", "native/linux-*/perfmmap-launch"]) {
      assert.ok(files.includes(pattern), pattern);
    }
    assert.ok(files.includes("LICENSE") && files.includes("README.md"));
  });

  it("deno.json names the JSR package, its exports, and publishes the libraries", () => {
    const jsr = manifest("deno.json");
    assert.equal(jsr.name, "@perfmmap/perfmmap");
    assert.deepEqual(Object.keys(jsr.exports as object), [
      ".",
      "./testing",
      "./mitata",
      "./deno-bench",
      "./cli",
    ]);
    const include = (jsr.publish as { include: string[] }).include;
    for (const entry of ["mod.ts", "cli.ts", "src/", "README.md", "LICENSE", "native/"]) {
      assert.ok(include.includes(entry), entry);
    }
  });

  it("a musl host prefers the musl folder, a glibc host the gnu one", () => {
    assert.deepEqual(targetFolders({ os: "linux", arch: "x64", musl: false }), [
      "linux-x64-gnu",
      "linux-x64-musl",
    ]);
    assert.deepEqual(targetFolders({ os: "linux", arch: "arm64", musl: true }), [
      "linux-arm64-musl",
      "linux-arm64-gnu",
    ]);
  });
});

describe("scripts/release.ts refuses a bad checkout", () => {
  function release(root: string): { status: number | null; stderr: string } {
    const ran = runSync(tool("deno"), [
      "run",
      "-A",
      `${ROOT}scripts/release.ts`,
      "--root",
      root,
      "--out",
      `${root}/out`,
      "--no-build",
    ]);
    return { status: ran.status, stderr: ran.stderr };
  }

  it("two versions: refuses before building or staging anything", () => {
    const root = tempDir("release-versions");
    try {
      const npm = manifest("package.json");
      const jsr = { ...manifest("deno.json"), version: "9.9.9" };
      writeFileSync(`${root}/package.json`, JSON.stringify(npm));
      writeFileSync(`${root}/deno.json`, JSON.stringify(jsr));
      const { status, stderr } = release(root);
      assert.equal(status, 1, stderr);
      assert.match(
        stderr,
        new RegExp(`package\\.json has version ${npm.version} but deno\\.json has 9\\.9\\.9`),
      );
      assert.ok(!existsSync(`${root}/out`), "nothing staged");
    } finally {
      removeDir(root);
    }
  });

  it("a missing native file: refuses, naming it and the build command", () => {
    const root = tempDir("release-native");
    try {
      copyFileSync(`${ROOT}package.json`, `${root}/package.json`);
      copyFileSync(`${ROOT}deno.json`, `${root}/deno.json`);
      const { status, stderr } = release(root);
      assert.equal(status, 1, stderr);
      assert.match(stderr, new RegExp(`${NATIVE_FILES[0]} is missing; build it with`));
      assert.ok(!existsSync(`${root}/out`), "nothing staged");
    } finally {
      removeDir(root);
    }
  });
});
