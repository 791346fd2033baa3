// `perfmmap leak <module> <export>`: runs a module's exported leak-test case
// with leakTest() and prints the verdict with its evidence.

import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { type LeakCase, leakTest, type LeakTestResult, PerfError } from "../../mod.ts";
import { parse, UsageError } from "./_args.ts";
import { writeAll } from "./_io.ts";
import { CliError, EXIT_FAILURE } from "./_errors.ts";

/** The usage text of `perfmmap leak`. */
export const LEAK_HELP = `Usage: perfmmap leak [options] <module> <export>

Tests whether a function's cost depends on its input's class (dudect's
method: two input classes interleaved at random, a counter read around each
call, Welch's t-test). <module> is a file; <export> names what it exports:
  { fn, classes: { a, b }, options? }   (or a function that returns it)
where fn(input) is the function under test and a() and b() return a fresh
input of each class.

Options:
  -e, --event E     the event to count (default: instructions, else cycles,
                    else task-clock)
  --max-ms N        the sampling budget in milliseconds (default 10000)
  --seed N          the seed of the class order and the bootstrap
  --json            the whole result as one JSON object
  -h, --help        this help

Exit status: 0 no leak detected, 1 leak, 3 inconclusive, 2 usage error,
4 the module or export could not be used; 1 also when no event can be
counted here (with the reason).`;

/** Exit code of an inconclusive test. */
export const EXIT_INCONCLUSIVE = 3;
/** Exit code of a module or export that cannot be used. */
export const EXIT_BAD_CASE = 4;

function integerFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer of at least ${min}, got '${value}'`, "leak");
  }
  return n;
}

async function loadCase(module: string, name: string): Promise<LeakCase<unknown>> {
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(pathToFileURL(resolve(module)).href);
  } catch (error) {
    throw new CliError(`cannot import ${module}: ${thrown(error)}`, EXIT_BAD_CASE);
  }
  if (!Object.hasOwn(namespace, name)) {
    const known = Object.keys(namespace).join(", ") || "nothing";
    throw new CliError(`${module} has no export '${name}' (it exports ${known})`, EXIT_BAD_CASE);
  }
  let value = namespace[name];
  if (typeof value === "function") {
    try {
      value = (value as () => unknown)();
    } catch (error) {
      throw new CliError(`${module}'s '${name}()' threw: ${thrown(error)}`, EXIT_BAD_CASE);
    }
  }
  const fn = typeof value === "object" && value !== null
    ? Object.getOwnPropertyDescriptor(value, "fn")?.value
    : undefined;
  if (typeof fn !== "function") {
    throw new CliError(
      `${module}'s '${name}' is not a leak-test case: export { fn, classes: { a, b } }`,
      EXIT_BAD_CASE,
    );
  }
  return value as LeakCase<unknown>;
}

function thrown(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

function fixed(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
}

/** The human report of one result. */
export function formatLeak(label: string, r: LeakTestResult): string {
  const q = r.quantiles;
  const lines = [
    `${label}: ${r.verdict}`,
    `  ${r.reason}`,
    `  event ${r.event}, ${r.batch} call(s) per sample, ${r.samples.a} + ${r.samples.b} samples, ` +
    `stopped: ${r.stopped}`,
    `  ${r.event} per call: class a ${fixed(r.means.a)}, class b ${fixed(r.means.b)}, ` +
    `effect ${fixed(r.effect)}`,
    `  Welch's t ${r.t.toFixed(2)}; largest |t| over dudect's crops ${r.maxAbsT.toFixed(2)} ` +
    `(threshold 4.5)`,
    `  deciles: shift ${fixed(q.shift)} [${fixed(q.shiftInterval[0])}, ${
      fixed(q.shiftInterval[1])
    }], ` +
    `tail ${fixed(q.tail)} [${fixed(q.tailInterval[0])}, ${
      fixed(q.tailInterval[1])
    }] (99% bootstrap)`,
  ];
  for (const skipped of r.skipped) {
    lines.push(`  (${skipped.event} not counted here: ${skipped.code})`);
  }
  return lines.join("\n");
}

/** `perfmmap leak`; returns the exit code. */
export async function leak(args: string[]): Promise<number> {
  const { values, positionals } = parse("leak", args, {
    event: { type: "string", short: "e" },
    "max-ms": { type: "string" },
    seed: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help === true) {
    writeAll(1, LEAK_HELP + "\n");
    return 0;
  }
  if (positionals.length !== 2) {
    throw new UsageError(
      positionals.length < 2 ? "needs a module and an export" : `unexpected '${positionals[2]}'`,
      "leak",
    );
  }
  const [module, name] = positionals;
  const overrides: Record<string, unknown> = {};
  if (typeof values.event === "string") overrides.event = values.event;
  const maxMs = integerFlag("max-ms", values["max-ms"] as string | undefined, 1);
  if (maxMs !== undefined) overrides.maxMs = maxMs;
  const seed = integerFlag("seed", values.seed as string | undefined, 0);
  if (seed !== undefined) overrides.seed = seed;
  const testCase = await loadCase(module, name);
  let result: LeakTestResult;
  try {
    result = leakTest(testCase.fn, {
      ...(testCase.options ?? {}),
      ...overrides,
      classes: testCase.classes,
    });
  } catch (error) {
    if (error instanceof PerfError && error.code === "INVALID_OPTION") {
      throw new CliError(`${module}'s '${name}': ${thrown(error)}`, EXIT_BAD_CASE);
    }
    if (error instanceof PerfError) throw error;
    // The function under test (or a class's generator) threw.
    throw new CliError(
      `${module}'s '${name}' threw while it was tested: ${thrown(error)}`,
      EXIT_BAD_CASE,
    );
  }
  writeAll(
    1,
    values.json === true ? `${JSON.stringify(result)}\n` : `${formatLeak(name, result)}\n`,
  );
  if (result.verdict === "leak") return EXIT_FAILURE;
  return result.verdict === "inconclusive" ? EXIT_INCONCLUSIVE : 0;
}
