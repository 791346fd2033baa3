/**
 * Builds the native core (zig/) into native/<folder>/libperfmmap.so.
 *
 * Runs under Deno (`deno run -A build.ts`) and Bun (`bun build.ts`); it uses
 * only `node:` modules so both runtimes execute the same file.
 *
 *   build.ts                                  the host target
 *   build.ts --all                            all four targets
 *   build.ts --target <zig-triple>            one target
 *   build.ts test                             `zig build test` (unit tests on the host)
 *   build.ts fmt-check                        `zig fmt --check` of zig/ (what npm test runs)
 *   build.ts test-exe --target aarch64-linux-gnu
 *                                             the unit-test executable at zig/zig-out/bin/perfmmap-tests
 *   build.ts --release                        all targets, checksums and the staged
 *                                             publishable trees in dist/ (scripts/release.ts)
 *
 * Zig is looked for in this order: $ZIG, `zig` on PATH, `python3 -m ziglang`.
 * Its version must equal `minimum_zig_version` in zig/build.zig.zon (the one
 * place the version is pinned). If none matches, it runs
 * `python3 -m pip install ziglang==<pin>`, or prints that command.
 *
 * Quiet when everything is up to date; Zig's cache makes reruns cheap.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { arch, argv, env, execPath, exit, stderr } from "node:process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const zigDir = join(root, "zig");

/** The four targets of ABI.md ("Build outputs"). */
const TARGETS = [
  "x86_64-linux-gnu",
  "x86_64-linux-musl",
  "aarch64-linux-gnu",
  "aarch64-linux-musl",
];

function fail(message: string): never {
  stderr.write(`build.ts: ${message}\n`);
  exit(1);
}

/** Reads the pinned version from zig/build.zig.zon. */
export function pinnedVersion(): string {
  const zon = readFileSync(join(zigDir, "build.zig.zon"), "utf8");
  const match = zon.match(/\.minimum_zig_version\s*=\s*"([^"]+)"/);
  if (!match) fail("zig/build.zig.zon has no minimum_zig_version");
  return match[1];
}

/** How to run one Zig: `command ...prefix <zig args>`. */
export interface Zig {
  command: string;
  prefix: string[];
  label: string;
}

function versionOf(zig: Zig): string | null {
  const result = spawnSync(zig.command, [...zig.prefix, "version"], { encoding: "utf8" });
  if (result.error || result.status !== 0) return null;
  return result.stdout.trim();
}

function candidates(): Zig[] {
  const list: Zig[] = [];
  if (env.ZIG) list.push({ command: env.ZIG, prefix: [], label: `$ZIG (${env.ZIG})` });
  list.push({ command: "zig", prefix: [], label: "zig on PATH" });
  list.push({ command: "python3", prefix: ["-m", "ziglang"], label: "python3 -m ziglang" });
  return list;
}

/** The first candidate whose version equals the pin; installs it if none. */
export function findZig(pin: string): Zig {
  const mismatches: string[] = [];
  for (const zig of candidates()) {
    const version = versionOf(zig);
    if (version === pin) return zig;
    if (version !== null) mismatches.push(`${zig.label} is ${version}`);
  }
  if (mismatches.length > 0) {
    stderr.write(`build.ts: need Zig ${pin}; found ${mismatches.join(", ")}\n`);
  }
  const install = ["python3", "-m", "pip", "install", `ziglang==${pin}`];
  const pip = spawnSync("python3", ["-m", "pip", "--version"], { encoding: "utf8" });
  if (pip.error || pip.status !== 0) {
    fail(`Zig ${pin} not found and pip is unavailable. Install it with:\n  ${install.join(" ")}`);
  }
  stderr.write(`build.ts: Zig ${pin} not found; running: ${install.join(" ")}\n`);
  const installed = spawnSync(install[0], install.slice(1), { stdio: "inherit" });
  if (installed.status !== 0) fail(`'${install.join(" ")}' failed`);
  const zig: Zig = { command: "python3", prefix: ["-m", "ziglang"], label: "python3 -m ziglang" };
  if (versionOf(zig) !== pin) fail(`after installing, 'python3 -m ziglang version' is not ${pin}`);
  return zig;
}

/** The host's zig triple; musl hosts are recognized by their loader. */
function hostTarget(): string {
  const cpu = arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : null;
  if (cpu === null) fail(`no native target for CPU '${arch}' (use --target)`);
  const musl = existsSync(`/lib/ld-musl-${cpu}.so.1`);
  return `${cpu}-linux-${musl ? "musl" : "gnu"}`;
}

function runZig(zig: Zig, args: string[], summary = "none"): void {
  const result = spawnSync(zig.command, [...zig.prefix, "build", ...args, "--summary", summary], {
    cwd: zigDir,
    stdio: "inherit",
  });
  if (result.error) fail(`could not run ${zig.label}: ${result.error.message}`);
  if (result.status !== 0) fail(`zig build ${args.join(" ")} failed (exit ${result.status})`);
}

interface Options {
  command: "build" | "test" | "test-exe" | "fmt-check" | "release";
  targets: string[];
}

function parseArgs(args: string[]): Options {
  let command: Options["command"] = "build";
  let targets: string[] | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "test" || arg === "test-exe" || arg === "fmt-check") command = arg;
    else if (arg === "--release") command = "release";
    else if (arg === "--all") targets = [...TARGETS];
    else if (arg === "--target") {
      const triple = args[++i];
      if (!triple) fail("--target needs a zig triple");
      if (!TARGETS.includes(triple)) {
        fail(`unknown target '${triple}'; known: ${TARGETS.join(", ")}`);
      }
      targets = [triple];
    } else fail(`unknown argument '${arg}'`);
  }
  return { command, targets: targets ?? [hostTarget()] };
}

function main(): void {
  const options = parseArgs(argv.slice(2));
  if (options.command === "release") {
    // release.ts builds every target itself, then writes checksums and dist/.
    const script = join(root, "scripts", "release.ts");
    const args = "Deno" in globalThis ? ["run", "-A", script] : [script];
    exit(spawnSync(execPath, args, { stdio: "inherit" }).status ?? 1);
  }
  const zig = findZig(pinnedVersion());
  if (options.command === "fmt-check") {
    // Lists the files zig fmt would change, and fails when there are any.
    const result = spawnSync(
      zig.command,
      [...zig.prefix, "fmt", "--check", "build.zig", "src", "tools"],
      { cwd: zigDir, stdio: "inherit" },
    );
    if (result.error) fail(`could not run ${zig.label}: ${result.error.message}`);
    if (result.status !== 0) {
      fail("zig fmt --check: run `zig fmt zig/` (the files are listed above)");
    }
    return;
  }
  if (options.command === "test") {
    // One line with the pass/skip/fail counts; skip reasons print as they happen.
    runZig(zig, ["test"], "line");
    return;
  }
  if (options.command === "test-exe") {
    if (options.targets.length !== 1) fail("test-exe builds one --target");
    // ReleaseSafe: the guest emulates the CPU, and safety checks stay on.
    runZig(zig, ["test-exe", `-Dtarget=${options.targets[0]}`, "-Doptimize=safe"]);
    return;
  }
  for (const target of options.targets) runZig(zig, [`-Dtarget=${target}`]);
}

if (import.meta.main) main();
