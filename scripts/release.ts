/**
 * Stages the publishable trees of perfmmap, one per registry, from this
 * checkout:
 *
 *   dist/jsr/                  the TypeScript sources, README, LICENSE, deno.json and
 *                              native/; `cd dist/jsr && deno publish`
 *   dist/npm/                  the same module compiled to JavaScript with .d.ts types
 *                              (Deno refuses to strip types under node_modules), README,
 *                              LICENSE, package.json and native/; `npm publish dist/npm`
 *   dist/perfmmap-<v>.tgz      `npm pack` of dist/npm
 *   dist/SHA256SUMS            the native files' checksums, `sha256sum -c` format
 *
 * In both trees src/loader/_checksums.ts is rewritten with the version and the
 * SHA-256 of every native file, which the module checks before it loads a
 * library it had to download (JSR, see src/loader/_remote.ts).
 *
 * Steps: refuse unless package.json and deno.json carry one version; build
 * all four targets (`build.ts --all`, cheap when Zig's cache is warm); check
 * that every target has its library and launcher for the right CPU; stage;
 * compile the npm tree with tsc; then verify both trees as their registry
 * will see them (`deno publish --dry-run`, `npm pack`), requiring every
 * native file in each list.
 *
 *   deno run -A scripts/release.ts [--no-build] [--no-verify] [--root DIR] [--out DIR]
 *   bun scripts/release.ts …      (only node: modules, like build.ts)
 *
 * Time: about 10-40 s, most of it `deno publish --dry-run` (a type check).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The native folders and the CPU each must be built for (ELF e_machine). */
export const TARGETS: Readonly<Record<string, { machine: number; cpu: string }>> = {
  "linux-x64-gnu": { machine: 62, cpu: "x86_64" },
  "linux-x64-musl": { machine: 62, cpu: "x86_64" },
  "linux-arm64-gnu": { machine: 183, cpu: "aarch64" },
  "linux-arm64-musl": { machine: 183, cpu: "aarch64" },
};
/** The files each native folder ships. */
export const NATIVE_FILES = ["libperfmmap.so", "perfmmap-launch"] as const;
/** The generated checksum table, relative to the package root. */
export const CHECKSUMS_FILE = "src/loader/_checksums.ts";

const TOOL_TIMEOUT_MS = 300_000;

class ReleaseError extends Error {}

function fail(message: string): never {
  throw new ReleaseError(message);
}

function log(message: string): void {
  process.stderr.write(`release: ${message}\n`);
}

interface Options {
  root: string;
  out: string;
  build: boolean;
  verify: boolean;
}

function parseArgs(args: string[]): Options {
  const here = dirname(fileURLToPath(import.meta.url));
  let root = resolve(here, "..");
  let out: string | undefined;
  let build = true;
  let verify = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--no-build") build = false;
    else if (arg === "--no-verify") verify = false;
    else if (arg === "--root" || arg === "--out") {
      const value = args[++i];
      if (value === undefined) fail(`${arg} needs a directory`);
      if (arg === "--root") root = resolve(value);
      else out = resolve(value);
    } else fail(`unknown argument '${arg}' (known: --no-build, --no-verify, --root, --out)`);
  }
  return { root, out: out ?? join(root, "dist"), build, verify };
}

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  if (!existsSync(path)) fail(`${path} is missing`);
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    fail(`${path} is not JSON: ${(error as Error).message}`);
  }
}

/** The two manifests, after checking that they agree on version and license. */
export function checkManifests(root: string): { npm: Json; jsr: Json; version: string } {
  const npm = readJson(join(root, "package.json"));
  const jsr = readJson(join(root, "deno.json"));
  if (typeof npm.version !== "string" || typeof jsr.version !== "string") {
    fail("package.json and deno.json must both have a version");
  }
  if (npm.version !== jsr.version) {
    fail(
      `package.json has version ${npm.version} but deno.json has ${jsr.version}; ` +
        `perfmmap has one version: set both to the same value`,
    );
  }
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(npm.version)) {
    fail(`version '${npm.version}' is not semver (x.y.z or x.y.z-pre)`);
  }
  if (npm.license !== jsr.license) {
    fail(`package.json license ${npm.license} differs from deno.json license ${jsr.license}`);
  }
  return { npm, jsr, version: npm.version };
}

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, {
    cwd,
    env: { ...process.env, NO_COLOR: "1" },
    encoding: "utf8",
    timeout: TOOL_TIMEOUT_MS,
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.error) fail(`cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    fail(
      `${command} ${
        args.join(" ")
      } failed (exit ${result.status}):\n${result.stdout}${result.stderr}`,
    );
  }
  return `${result.stdout}${result.stderr}`;
}

function tool(root: string, name: string): string {
  const local = join(root, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
}

function buildAll(root: string): void {
  log("building all four targets (build.ts --all)");
  const deno = tool(root, "deno");
  const result = spawnSync(deno, ["run", "-A", join(root, "build.ts"), "--all"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    timeout: TOOL_TIMEOUT_MS,
  });
  if (result.error) fail(`cannot run build.ts: ${result.error.message}`);
  if (result.status !== 0) fail(`build.ts --all failed (exit ${result.status})`);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Every native file, checked for its CPU, with its checksum, keyed by path below the root. */
function nativeFiles(root: string): Map<string, { sha256: string; bytes: number }> {
  const files = new Map<string, { sha256: string; bytes: number }>();
  for (const [folder, { machine, cpu }] of Object.entries(TARGETS)) {
    for (const name of NATIVE_FILES) {
      const key = `native/${folder}/${name}`;
      const path = join(root, key);
      if (!existsSync(path)) {
        fail(`${key} is missing; build it with \`deno run -A build.ts --all\``);
      }
      const bytes = readFileSync(path);
      const isElf64 = bytes.length >= 20 && bytes[0] === 0x7f && bytes[1] === 0x45 &&
        bytes[2] === 0x4c && bytes[3] === 0x46 && bytes[4] === 2;
      const found = bytes.length >= 20 ? bytes[18] | (bytes[19] << 8) : -1;
      if (!isElf64 || found !== machine) {
        fail(`${key} is not a 64-bit ELF for ${cpu} (e_machine ${found}, want ${machine})`);
      }
      files.set(key, { sha256: sha256(bytes), bytes: bytes.length });
    }
  }
  return files;
}

/** The text of src/loader/_checksums.ts for a release. */
export function checksumsSource(
  version: string,
  files: ReadonlyMap<string, { sha256: string }>,
): string {
  const entries = [...files.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([key, { sha256 }]) => `  "${key}":\n    "${sha256}",`);
  return `// Generated by scripts/release.ts for perfmmap ${version}. Do not edit: the
// module checks every native file it downloads against this table.

/** The package version the checksums belong to; \`""\` in a checkout that was never staged. */
export const RELEASE_VERSION: string = "${version}";

/** SHA-256 (lowercase hex) of each shipped native file, by its path below the package root. */
export const NATIVE_SHA256: Readonly<Record<string, string>> = {
${entries.join("\n")}
};
`;
}

function copyTree(from: string, to: string, keep: (path: string) => boolean): void {
  const info = statSync(from);
  if (info.isDirectory()) {
    for (const name of readdirSync(from).sort()) copyTree(join(from, name), join(to, name), keep);
    return;
  }
  if (!keep(from)) return;
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, info.mode & 0o777);
}

function copyNative(root: string, tree: string): void {
  for (const folder of Object.keys(TARGETS)) {
    for (const name of NATIVE_FILES) {
      const key = `native/${folder}/${name}`;
      copyTree(join(root, key), join(tree, key), () => true);
      chmodSync(join(tree, key), 0o755);
    }
  }
}

/** dist/jsr: what deno.json's publish.include names, native/ limited to the shipped files. */
function stageJsr(root: string, tree: string, manifest: Json, checksums: string): void {
  const include = (manifest.publish as { include?: unknown } | undefined)?.include;
  if (!Array.isArray(include) || include.length === 0) fail("deno.json has no publish.include");
  for (const entry of include as string[]) {
    const clean = entry.replace(/\/+$/, "");
    if (clean === "native") continue;
    const from = join(root, clean);
    if (!existsSync(from)) fail(`deno.json publish.include names ${entry}, which is missing`);
    // Sources only: a stray emitted .js or .d.ts must not shadow the .ts on JSR.
    copyTree(from, join(tree, clean), (path) => !/\.(js|d\.ts)$/.test(path));
  }
  copyNative(root, tree);
  writeFileSync(join(tree, CHECKSUMS_FILE), checksums);
}

/** dist/npm: the JSR tree compiled by tsc, with package.json and native/. */
function stageNpm(root: string, jsrTree: string, tree: string, manifest: Json): void {
  const config = {
    compilerOptions: {
      // ES2022 lowers `using`, so a Node too old for the API still parses the
      // module and gets UNSUPPORTED_RUNTIME instead of a SyntaxError.
      target: "ES2022",
      module: "ESNext",
      moduleResolution: "bundler",
      rewriteRelativeImportExtensions: true,
      declaration: true,
      strict: true,
      lib: ["ESNext"],
      types: ["node"],
      typeRoots: [join(root, "node_modules", "@types")],
      skipLibCheck: true,
      rootDir: jsrTree,
      outDir: tree,
      newLine: "lf",
    },
    // The modules package.json's exports and bin name, and all they import;
    // plus the Deno names the adapters use, declared for tsc (not emitted).
    files: [
      ...entryPoints(manifest).filter((path) => path.endsWith(".js"))
        .map((path) => join(jsrTree, path.replace(/\.js$/, ".ts"))),
      join(root, "types", "deno_shim.d.ts"),
    ],
  };
  const configPath = join(dirname(tree), "tsconfig.npm.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  log("compiling the npm tree (tsc)");
  run(tool(root, "tsc"), ["-p", configPath], root);
  rmSync(configPath);
  chmodSync(join(tree, "cli.js"), 0o755);
  for (const name of ["README.md", "LICENSE"]) copyFileSync(join(root, name), join(tree, name));
  copyNative(root, tree);
  const published: Json = { ...manifest };
  delete published.scripts; // the checkout's tasks (and its prepack guard)
  delete published.devDependencies;
  writeFileSync(join(tree, "package.json"), `${JSON.stringify(published, null, 2)}\n`);
}

/** The npm package a user installs under the name `@mitata/counters` (an npm alias). */
export const MITATA_ALIAS = "perfmmap-mitata-counters";

/**
 * dist/mitata-counters: a package of two lines that re-exports
 * `perfmmap/mitata`. mitata's `run()` imports `@mitata/counters` by name, so
 * `bun add @mitata/counters@npm:perfmmap-mitata-counters` (or the same alias
 * in package.json, for Deno) puts perfmmap's counters under mitata with no
 * change to the benchmark file.
 */
function stageMitataAlias(tree: string, version: string): void {
  mkdirSync(tree, { recursive: true });
  const manifest = {
    name: MITATA_ALIAS,
    version,
    description: "perfmmap's counters for mitata: install it as @mitata/counters",
    license: "MIT",
    type: "module",
    main: "./index.js",
    types: "./index.d.ts",
    exports: { ".": { types: "./index.d.ts", default: "./index.js" } },
    os: ["linux"],
    dependencies: { perfmmap: version },
  };
  writeFileSync(join(tree, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const line = 'export * from "perfmmap/mitata";\n';
  writeFileSync(join(tree, "index.js"), line);
  writeFileSync(join(tree, "index.d.ts"), line);
}

const ANSI_COLOR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** The file list of `deno publish --dry-run`, as paths below the tree. */
export function parseDenoDryRun(output: string, tree: string): string[] {
  const plain = output.replace(ANSI_COLOR, "");
  const prefix = `file://${tree}/`;
  return plain.split("\n").map((line) => line.trim())
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length).replace(/ \([^)]*\)$/, ""));
}

interface PackResult {
  tarball: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
  output: string;
}

function verifyJsr(root: string, tree: string, files: Iterable<string>): string {
  log("deno publish --dry-run in the JSR tree");
  const output = run(tool(root, "deno"), ["publish", "--dry-run", "--allow-dirty"], tree);
  const listed = new Set(parseDenoDryRun(output, tree));
  for (const key of files) {
    if (!listed.has(key)) fail(`deno publish --dry-run does not list ${key}:\n${output}`);
  }
  return output;
}

function verifyNpm(tree: string, out: string, files: Iterable<string>): PackResult {
  log("npm pack of the npm tree");
  const output = run("npm", ["pack", "--json", "--pack-destination", out], tree);
  const json = output.slice(output.indexOf("["), output.lastIndexOf("]") + 1);
  const [pack] = JSON.parse(json) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string; size: number }[];
  }[];
  const listed = new Set(pack.files.map((file) => file.path));
  const manifest = readJson(join(tree, "package.json"));
  const required = [...files, "package.json", "LICENSE", "README.md", ...entryPoints(manifest)];
  for (const path of required) {
    if (!listed.has(path)) fail(`npm pack leaves out ${path}`);
  }
  return {
    tarball: join(out, pack.filename),
    size: pack.size,
    unpackedSize: pack.unpackedSize,
    files: pack.files,
    output,
  };
}

/** Every file package.json's exports and bin point at, without "./". */
export function entryPoints(manifest: Json): string[] {
  const paths: string[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === "string") paths.push(value.replace(/^\.\//, ""));
    else if (value !== null && typeof value === "object") Object.values(value).forEach(visit);
  };
  visit(manifest.exports);
  visit(manifest.bin);
  return [...new Set(paths)];
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const { root, out } = options;
  const { npm, jsr, version } = checkManifests(root);
  if (relative(out, root) === "" || !relative(out, root).startsWith("..")) {
    fail(`--out ${out} must not be the checkout or contain it`);
  }
  if (options.build) buildAll(root);
  const files = nativeFiles(root);
  const checksums = checksumsSource(version, files);
  const jsrTree = join(out, "jsr");
  const npmTree = join(out, "npm");
  // Only what this script makes: --out may be a folder that holds other things.
  for (const name of ["jsr", "npm", "mitata-counters", "SHA256SUMS", "tsconfig.npm.json"]) {
    rmSync(join(out, name), { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
  for (const name of readdirSync(out)) {
    if (/^perfmmap-.*\.tgz$/.test(name)) rmSync(join(out, name));
  }
  stageJsr(root, jsrTree, jsr, checksums);
  stageNpm(root, jsrTree, npmTree, npm);
  stageMitataAlias(join(out, "mitata-counters"), version);
  const sums = [...files.entries()].map(([key, { sha256 }]) => `${sha256}  ${key}\n`).join("");
  writeFileSync(join(out, "SHA256SUMS"), sums);
  log(`staged perfmmap ${version} in ${jsrTree} and ${npmTree}`);
  for (const [key, { sha256, bytes }] of files) log(`  ${sha256}  ${key} (${bytes} B)`);
  if (!options.verify) return;
  const dryRun = verifyJsr(root, jsrTree, files.keys());
  log(`JSR: ${parseDenoDryRun(dryRun, jsrTree).length} files, every native file listed`);
  const pack = verifyNpm(npmTree, out, files.keys());
  log(
    `npm: ${pack.tarball} (${pack.size} B packed, ${pack.unpackedSize} B unpacked, ` +
      `${pack.files.length} files), every native file listed`,
  );
  log(`publish: (cd ${jsrTree} && deno publish) and npm publish ${pack.tarball}`);
}

if (import.meta.main) {
  try {
    main();
  } catch (error) {
    if (!(error instanceof ReleaseError)) throw error;
    process.stderr.write(`release: ${error.message}\n`);
    process.exit(1);
  }
}
