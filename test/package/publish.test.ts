// The staged trees as each registry sees them: `deno publish --dry-run` of
// dist/jsr (no slow types, every library listed) and `npm pack --dry-run`
// of dist/npm (every library and launcher, every export and the bin), and
// the checksum table the release wrote. Staging builds all four targets
// (build.ts --all) and compiles the npm tree: a few seconds when Zig's cache
// is warm.

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import {
  manifest,
  NATIVE_FILES,
  once,
  removeDir,
  runSync,
  sha256File,
  SLOW,
  stageRelease,
  tempDir,
  tool,
} from "./_helpers.ts";

const NO_COLOR = { NO_COLOR: "1" };

describe("staged release", () => {
  let out: string | undefined;
  const staged = once(() => {
    out = tempDir("publish");
    stageRelease(out);
    return out;
  });
  const tree = (name: "jsr" | "npm") => `${staged()}/${name}`;
  after(() => removeDir(out));

  it("deno publish --dry-run passes (no slow types) and lists all four libraries", SLOW, () => {
    const ran = runSync(tool("deno"), ["publish", "--dry-run", "--allow-dirty"], {
      cwd: tree("jsr"),
      env: NO_COLOR,
    });
    const output = `${ran.stdout}${ran.stderr}`;
    assert.equal(ran.status, 0, output);
    assert.match(output, /Checking for slow types in the public API/);
    assert.doesNotMatch(output, /error\[/, "no slow-type or other diagnostics");
    const version = manifest("deno.json").version;
    assert.match(output, new RegExp(`Simulating publish of @perfmmap/perfmmap@${version}`));
    for (const file of [...NATIVE_FILES, "mod.ts", "cli.ts", "LICENSE", "README.md"]) {
      assert.ok(output.includes(`file://${tree("jsr")}/${file} (`), `${file} listed:\n${output}`);
    }
    assert.match(output, /Dry run complete/);
  });

  it("npm pack --dry-run lists every library, launcher, export and the bin", SLOW, () => {
    const ran = runSync("npm", ["pack", "--dry-run", "--json", "--no-update-notifier"], {
      cwd: tree("npm"),
    });
    assert.equal(ran.status, 0, ran.stderr);
    const json = ran.stdout.slice(ran.stdout.indexOf("["));
    const [pack] = JSON.parse(json) as { name: string; files: { path: string; size: number }[] }[];
    assert.equal(pack.name, "perfmmap");
    const listed = new Map(pack.files.map((file) => [file.path, file.size]));
    const libraries = [...listed.keys()].filter((path) => path.endsWith("/libperfmmap.so"));
    assert.equal(libraries.length, 4, libraries.join(", "));
    for (const file of NATIVE_FILES) assert.ok(listed.get(file)! > 1000, `${file} packed`);
    for (
      const file of [
        "mod.js",
        "mod.d.ts",
        "cli.js",
        "cli.d.ts",
        "src/testing.js",
        "src/testing.d.ts",
        "src/loader/_checksums.js",
        "package.json",
        "LICENSE",
        "README.md",
      ]
    ) {
      assert.ok(listed.has(file), `${file} packed`);
    }
    const sources = [...listed.keys()].filter((path) =>
      path.endsWith(".ts") && !path.endsWith(".d.ts")
    );
    assert.deepEqual(sources, [], "no .ts sources: tsc would check them in a consumer's project");
  });

  it("both trees carry the version and the SHA-256 of every native file", SLOW, () => {
    const version = String(manifest("package.json").version);
    for (const name of ["jsr", "npm"] as const) {
      const table = readFileSync(
        `${tree(name)}/src/loader/_checksums.${name === "jsr" ? "ts" : "js"}`,
        "utf8",
      );
      assert.match(
        table,
        new RegExp(`RELEASE_VERSION(: string)? = "${version.replaceAll(".", "\\.")}"`),
      );
      const recorded = new Map(
        [...table.matchAll(/"(native\/[^"]+)":\s*"([0-9a-f]{64})"/g)].map((m) => [m[1], m[2]]),
      );
      assert.equal(recorded.size, NATIVE_FILES.length, table);
      for (const file of NATIVE_FILES) {
        assert.equal(recorded.get(file), sha256File(`${tree(name)}/${file}`), `${name}: ${file}`);
      }
    }
    const sums = readFileSync(`${staged()}/SHA256SUMS`, "utf8");
    assert.equal(sums.trim().split("\n").length, NATIVE_FILES.length);
  });

  it(
    "the published package.json has no scripts or devDependencies; the bin is a Node script",
    SLOW,
    () => {
      const published = JSON.parse(readFileSync(`${tree("npm")}/package.json`, "utf8"));
      assert.equal(published.scripts, undefined);
      assert.equal(published.devDependencies, undefined);
      assert.equal(published.version, manifest("package.json").version);
      assert.match(readFileSync(`${tree("npm")}/cli.js`, "utf8"), /^#!\/usr\/bin\/env node\n/);
      assert.ok(existsSync(`${tree("npm")}/src/loader/_remote.js`));
    },
  );
});
