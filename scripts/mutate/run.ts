/**
 * Mutation run of the Zig core: plants each mutant of core_mutants.ts, one
 * at a time, in a temporary copy of the repository, and runs the checks
 * that should kill it. Run on demand, never in CI; it never writes to the
 * repository it was started from.
 *
 *   node_modules/.bin/deno run -A scripts/mutate/run.ts [options]
 *
 *   --only a,b      only the mutants with these ids
 *   --worktree      copy the working tree's uncommitted files too (default:
 *                   the committed HEAD, so other work in progress cannot
 *                   break the baseline)
 *   --full-ts       run every top-level test/*.test.ts for each mutant
 *                   instead of the mutant's relevant files
 *   --timeout S     per-command limit in seconds (default 600); a mutant
 *                   that makes a check hang past it counts as killed
 *   --keep          keep the temporary copy (its path is printed)
 *   --no-baseline   skip the unmutated run (faster; trust the tree is green)
 *
 * For each mutant, in order, stopping at the first that fails:
 *   1. `deno run -A build.ts test` (Zig unit tests, Debug: asserts on);
 *   2. `deno run -A build.ts` (the ReleaseFast library the suites load);
 *   3. `deno test -A <files>`, then 4. `bun test <files>`.
 * A mutant that does not compile is reported as "invalid" and left out of
 * the score. The arm64 tier, test/package and test/cli are not run.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { argv, env, exit } from "node:process";
import { fileURLToPath } from "node:url";
import { CORE_MUTANTS, type CoreMutant } from "./core_mutants.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The TypeScript files run for a mutant that names none. */
const DEFAULT_TS = ["test/contract.test.ts", "test/userspace.test.ts"];

interface Args {
  only: Set<string> | undefined;
  worktree: boolean;
  fullTs: boolean;
  timeoutS: number;
  keep: boolean;
  baseline: boolean;
}

function parseArgs(args: string[]): Args {
  const parsed: Args = {
    only: undefined,
    worktree: false,
    fullTs: false,
    timeoutS: 600,
    keep: false,
    baseline: true,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--only") parsed.only = new Set((args[++i] ?? "").split(","));
    else if (arg === "--worktree") parsed.worktree = true;
    else if (arg === "--full-ts") parsed.fullTs = true;
    else if (arg === "--timeout") parsed.timeoutS = Number(args[++i]);
    else if (arg === "--keep") parsed.keep = true;
    else if (arg === "--no-baseline") parsed.baseline = false;
    else {
      console.error(`run.ts: unknown argument ${arg}`);
      exit(2);
    }
  }
  if (!Number.isFinite(parsed.timeoutS) || parsed.timeoutS < 1) {
    console.error("run.ts: --timeout needs a number of seconds");
    exit(2);
  }
  return parsed;
}

interface Step {
  ok: boolean;
  timedOut: boolean;
  output: string;
  seconds: number;
}

/** Runs `command` under coreutils `timeout`, which kills its whole process group. */
function run(cwd: string, command: string[], timeoutS: number): Step {
  const start = performance.now();
  const result = spawnSync(
    "timeout",
    ["-k", "10", String(timeoutS), ...command],
    { cwd, encoding: "utf8", maxBuffer: 256 << 20, env: { ...env, NO_COLOR: "1" } },
  );
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error?.message ?? ""}`;
  return {
    ok: result.status === 0,
    timedOut: result.status === 124 || result.status === 137,
    output,
    seconds: (performance.now() - start) / 1000,
  };
}

function git(args: string[], cwd = root): string {
  const result = spawnSync("git", args, { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/** A copy of the repository in a temporary folder; node_modules is a symlink. */
function makeCopy(worktree: boolean): string {
  const base = mkdtempSync(join(tmpdir(), "perfmmap-mutate-"));
  const copy = join(base, "repo");
  git(["clone", "-q", "--no-hardlinks", root, copy], base);
  if (worktree) {
    const changed = git(["ls-files", "-m", "-o", "--exclude-standard", "-z"]).split("\0");
    for (const file of changed.filter((f) => f !== "")) {
      const source = join(root, file);
      if (!existsSync(source)) continue;
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      writeFileSync(join(copy, file), readFileSync(source));
    }
    for (const file of git(["ls-files", "-d", "-z"]).split("\0").filter((f) => f !== "")) {
      rmSync(join(copy, file), { force: true });
    }
  }
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  return copy;
}

function topLevelTests(copy: string): string[] {
  return readdirSync(join(copy, "test"))
    .filter((name) => name.endsWith(".test.ts"))
    .sort()
    .map((name) => `test/${name}`);
}

type Outcome = "killed" | "survived" | "invalid" | "stale";

interface Result {
  mutant: CoreMutant;
  outcome: Outcome;
  /** Which check killed it (or why it is invalid/stale). */
  by: string;
  seconds: number;
}

const deno = (copy: string) => join(copy, "node_modules", ".bin", "deno");
const bun = (copy: string) => join(copy, "node_modules", ".bin", "bun");

/** A Zig compile error names a .zig file, line and column. */
function compileError(output: string): boolean {
  return /\.zig:\d+:\d+: error:/.test(output);
}

/** Lines worth showing from a failing check. */
function excerpt(output: string): string {
  const lines = output.split("\n").filter((line) =>
    /error|fail|FAIL|expected|torn|not ok|panic|Assertion|✗|\(fail\)/i.test(line)
  );
  return lines.slice(0, 6).map((line) => `      ${line.slice(0, 200)}`).join("\n");
}

/**
 * Runs a check, and once more when it fails without a timeout or a compile
 * error: on this shared 2-core machine a timing test may fail under load, so
 * a mutant counts as killed only by a check that fails twice.
 */
function runTwice(copy: string, command: string[], timeoutS: number): Step {
  const first = run(copy, command, timeoutS);
  if (first.ok || first.timedOut || compileError(first.output)) return first;
  const second = run(copy, command, timeoutS);
  if (second.ok) {
    console.log(`      (failed once, passed on the rerun: ${command.slice(1, 4).join(" ")})`);
  }
  return second;
}

/** Runs the checks in order; returns the first that fails. */
function check(
  copy: string,
  files: string[],
  timeoutS: number,
): { failed: string; step: Step } | undefined {
  const zigTest = runTwice(copy, [deno(copy), "run", "-A", "build.ts", "test"], timeoutS);
  if (!zigTest.ok) return { failed: "zig build test", step: zigTest };
  if (files.length === 0) return undefined;
  const build = run(copy, [deno(copy), "run", "-A", "build.ts"], timeoutS);
  if (!build.ok) return { failed: "build.ts", step: build };
  const denoTest = runTwice(copy, [deno(copy), "test", "-A", ...files], timeoutS);
  if (!denoTest.ok) return { failed: "deno test", step: denoTest };
  const bunTest = runTwice(copy, [bun(copy), "test", ...files.map((f) => `./${f}`)], timeoutS);
  if (!bunTest.ok) return { failed: "bun test", step: bunTest };
  return undefined;
}

function plant(copy: string, mutant: CoreMutant): string | undefined {
  const path = join(copy, mutant.file);
  if (!existsSync(path)) return undefined;
  const original = readFileSync(path, "utf8");
  const occurrences = original.split(mutant.search).length - 1;
  if (occurrences !== 1) return undefined;
  writeFileSync(path, original.replace(mutant.search, () => mutant.replace));
  return original;
}

function main(): void {
  const args = parseArgs(argv.slice(2));
  const mutants = CORE_MUTANTS.filter((m) => args.only === undefined || args.only.has(m.id));
  if (mutants.length === 0) {
    console.error("run.ts: no mutant matches --only");
    exit(2);
  }
  const copy = makeCopy(args.worktree);
  console.log(`copy: ${copy} (${args.worktree ? "HEAD + working tree" : "HEAD"} of ${root})`);
  const filesOf = (m: CoreMutant) =>
    args.fullTs
      ? topLevelTests(copy)
      : (m.ts ?? DEFAULT_TS).filter((f) => existsSync(join(copy, f)));
  if (args.baseline) {
    const union = [...new Set(mutants.flatMap(filesOf))].sort();
    console.log(`baseline: zig build test + ${union.length} TS files, unmutated`);
    const failure = check(copy, union, args.timeoutS);
    if (failure !== undefined) {
      console.error(
        `baseline fails at ${failure.failed}: fix the tree first\n${
          failure.step.output.slice(-4000)
        }`,
      );
      exit(1);
    }
  }
  const results: Result[] = [];
  for (const mutant of mutants) {
    const start = performance.now();
    const original = plant(copy, mutant);
    if (original === undefined) {
      results.push({
        mutant,
        outcome: "stale",
        by: "search text not found exactly once",
        seconds: 0,
      });
      console.log(`STALE     ${mutant.id}: ${mutant.file} no longer has the search text once`);
      continue;
    }
    let result: Result;
    try {
      const failure = check(copy, filesOf(mutant), args.timeoutS);
      const seconds = (performance.now() - start) / 1000;
      if (failure === undefined) {
        result = { mutant, outcome: "survived", by: "", seconds };
      } else if (compileError(failure.step.output)) {
        result = { mutant, outcome: "invalid", by: `${failure.failed}: compile error`, seconds };
      } else {
        const how = failure.step.timedOut ? " (timeout)" : "";
        result = { mutant, outcome: "killed", by: `${failure.failed}${how}`, seconds };
      }
      const label = result.outcome.toUpperCase().padEnd(9);
      console.log(
        `${label} ${mutant.id} (${seconds.toFixed(0)} s)${result.by ? `: ${result.by}` : ""}`,
      );
      if (failure !== undefined && result.outcome !== "survived") {
        console.log(excerpt(failure.step.output));
      }
    } finally {
      writeFileSync(join(copy, mutant.file), original);
    }
    results.push(result);
  }
  report(results);
  if (!args.keep) rmSync(dirname(copy), { recursive: true, force: true });
  else console.log(`kept: ${copy}`);
}

function report(results: Result[]): void {
  const count = (outcome: Outcome) => results.filter((r) => r.outcome === outcome).length;
  const killed = count("killed");
  const survived = count("survived");
  const scored = killed + survived;
  console.log("\n== Zig core mutants ==");
  for (const r of results) {
    console.log(`${r.outcome.padEnd(8)} ${r.mutant.id.padEnd(26)} ${r.by || r.mutant.description}`);
  }
  const score = scored === 0 ? 0 : (100 * killed) / scored;
  console.log(
    `\nscore: ${killed}/${scored} killed = ${score.toFixed(1)}%` +
      ` (invalid ${count("invalid")}, stale ${count("stale")})`,
  );
  const survivors = results.filter((r) => r.outcome === "survived");
  if (survivors.length > 0) {
    console.log("survivors:");
    for (const r of survivors) {
      console.log(`  ${r.mutant.id}: ${r.mutant.description} (${r.mutant.file})`);
    }
  }
}

main();
