// `perfmmap stat [-e ev,…] [-r N] [-x SEP | --json] [-o FILE] [--] cmd args…`

import { closeSync, existsSync, openSync, statSync, writeSync } from "node:fs";
import process from "node:process";
import { corePmus, nativeLibrary, parseEvent, PerfError } from "../../mod.ts";
import { counterHolders, partNames, PERF_HW_EVENT_MASK } from "../internal.ts";
import { parse, splitCommand, UsageError } from "./_args.ts";
import {
  type EventResult,
  formatCsv,
  formatJsonLines,
  formatTable,
  type Refusal,
  type Role,
  type StatReport,
} from "./_format.ts";
import { envAllowed, envVar, runAllowed, runtimeName, stderrIsTerminal, writeAll } from "./_io.ts";
import {
  argumentTooLong,
  describeError,
  ERRNO_TEXT,
  inheritedFds,
  probeFds,
  RefusedEvent,
  type RunCount,
  type RunEvent,
  runOnce,
  SIGNAL_NUMBERS,
  SignalRelay,
  SpawnFailure,
} from "./_run.ts";
import { CliError, EXIT_FAILURE } from "./_errors.ts";

/** `perf stat`'s default events (perf 6.1), in its order. */
export const DEFAULT_EVENTS: readonly string[] = [
  "task-clock",
  "context-switches",
  "cpu-migrations",
  "page-faults",
  "cycles",
  "instructions",
  "branches",
  "branch-misses",
];

/** Largest -r. */
export const REPEAT_MAX = 100_000;

/** The launcher's file name, next to libperfmmap.so. */
export const LAUNCHER_FILE = "perfmmap-launch";

/** The environment variable that names the launcher (else it is found beside the library). */
export const LAUNCHER_ENV = "PERFMMAP_LAUNCH";

/** The usage text of `perfmmap stat`. */
export const STAT_HELP = `Usage: perfmmap stat [options] [--] <command> [args…]

Counts <command> from its exec to its exit, with its threads and children,
and prints the counts like \`perf stat\` (on stderr, unless -o is given).

Options:
  -e, --event <ev,…>        events to count (repeatable; default: perf stat's
                            defaults that open here, the rest shown as
                            <not supported> with the reason)
  -r, --repeat <N>          run N times; print means and ( +- relative stddev )
  -x, --field-separator <s> CSV output with separator <s> (perf stat -x layout)
      --json                JSON lines: one object per event, then a summary
  -o, --output <file>       write the counts to <file> instead of stderr
  -h, --help                this help

Exit status: the command's exit status; 128+N when signal N ended it;
2 for a usage error; 1 when an event cannot be counted here;
126/127 when the command cannot be run / is not found.

Under Deno: deno run --allow-ffi --allow-read --allow-run --allow-env cli.ts stat …
(-o FILE also needs --allow-write=FILE).

Examples:
  perfmmap stat -- ls -l
  perfmmap stat -e task-clock,page-faults -r 5 -x, -- ./bench
  perfmmap stat --json -o counts.jsonl -- make -j4`;

const OPTIONS = {
  event: { type: "string", short: "e", multiple: true },
  repeat: { type: "string", short: "r" },
  "field-separator": { type: "string", short: "x" },
  json: { type: "boolean" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const;

const VALUED = new Set(["event", "e", "repeat", "r", "field-separator", "x", "output", "o"]);

/** Parsed `stat` arguments. */
export interface StatOptions {
  events: string[] | undefined;
  repeat: number;
  separator: string | undefined;
  json: boolean;
  output: string | undefined;
  command: string[];
  help: boolean;
}

/**
 * Splits an event list at commas outside `pmu/…/` terms:
 * `cycles,cpu/event=0x3c,umask=0/` is two events.
 */
export function splitEvents(text: string): string[] {
  const events: string[] = [];
  let current = "";
  let slashes = 0;
  for (const char of text) {
    if (char === "/") slashes++;
    if (char === "," && slashes % 2 === 0) {
      events.push(current);
      current = "";
      continue;
    }
    current += char;
  }
  events.push(current);
  return events.map((e) => e.trim());
}

/** Parses the arguments after `stat`. Throws {@link UsageError}. */
export function parseStatArgs(args: string[]): StatOptions {
  const { options, command } = splitCommand(args, VALUED);
  const { values } = parse("stat", options, OPTIONS, false);
  if (values.help === true) {
    return {
      events: undefined,
      repeat: 1,
      separator: undefined,
      json: false,
      output: undefined,
      command,
      help: true,
    };
  }
  let events: string[] | undefined;
  if (values.event !== undefined) {
    events = [];
    for (const list of values.event as string[]) {
      const names = splitEvents(list);
      if (names.some((name) => name === "")) {
        throw new UsageError(
          list.trim() === "" ? "-e needs at least one event" : `empty event name in "-e ${list}"`,
          "stat",
        );
      }
      events.push(...names);
    }
  }
  const repeatText = values.repeat as string | undefined;
  let repeat = 1;
  if (repeatText !== undefined) {
    if (!/^\d+$/.test(repeatText.trim())) {
      throw new UsageError(`-r needs a whole number of runs, got "${repeatText}"`, "stat");
    }
    repeat = Number(repeatText.trim());
    if (repeat < 1 || repeat > REPEAT_MAX) {
      throw new UsageError(`-r must be between 1 and ${REPEAT_MAX}, got ${repeatText}`, "stat");
    }
  }
  const separator = values["field-separator"] as string | undefined;
  if (separator !== undefined && separator === "") {
    throw new UsageError("-x needs a separator, such as -x,", "stat");
  }
  const json = values.json === true;
  if (json && separator !== undefined) {
    throw new UsageError("-x and --json cannot be used together", "stat");
  }
  const output = values.output as string | undefined;
  if (output !== undefined && output === "") throw new UsageError("-o needs a file name", "stat");
  if (command.length === 0 || command[0] === "") {
    throw new UsageError("missing command: perfmmap stat [options] [--] <command> [args…]", "stat");
  }
  return { events, repeat, separator, json, output, command, help: false };
}

/** What an event is, from its type and config (aliases and modifiers included). */
export function roleOf(name: string): Role {
  const spec = parseEvent(name);
  if (spec.type === 1 && spec.config === 1n) return "task-clock";
  if (spec.type === 1 && spec.config === 0n) return "cpu-clock";
  if (spec.type === 0) {
    switch (spec.config & PERF_HW_EVENT_MASK) { // without a hybrid part's PMU type
      case 0n:
        return "cycles";
      case 1n:
        return "instructions";
      case 4n:
        return "branches";
      case 5n:
        return "branch-misses";
    }
  }
  return "other";
}

/** One line for a PerfError: its message's first line, then its hint. */
export function errorLine(error: PerfError): string {
  const first = error.message.split("\n")[0];
  return error.hint === undefined ? first : `${first}; ${error.hint}`;
}

const NO_SUCH_EVENT = new Set(["ENOENT", "EOPNOTSUPP", "ENODEV", "ENXIO"]);

/** A short reason for the table; the hint goes into the notes below it. */
export function refusalOf(error: PerfError, hardwarePmu: boolean, role: Role): Refusal {
  const first = error.message.split("\n")[0];
  // `open "cycles": ENOENT (No such file or directory)` → `ENOENT (No such …)`
  let message = first.replace(/^[a-z_]+ "[^"]*": /, "");
  const hardware = role === "cycles" || role === "instructions" || role === "branches" ||
    role === "branch-misses";
  if (NO_SUCH_EVENT.has(error.code) && hardware && !hardwarePmu) {
    message = `no hardware PMU here (${error.code})`;
  } else if (error.code === "EACCES" || error.code === "EPERM") {
    message = `permission denied (${error.code})`;
  }
  return { code: error.code, message, hint: error.hint };
}

function moduleRoot(): string | undefined {
  const url = new URL("../../", import.meta.url);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : undefined;
}

// Any execute bit: node:fs accessSync(X_OK) would need Deno's --allow-sys
// (for the uid). The launcher's execve has the last word and says why.
function isExecutableFile(path: string): boolean {
  try {
    const info = statSync(path);
    return info.isFile() && (info.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Longer command names are cut in messages (the line stays readable). */
const NAME_SHOWN_MAX = 256;

/** The errno name when `path` cannot be stat'ed, else undefined. */
function statError(path: string): string | undefined {
  try {
    statSync(path);
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? code : "ENOENT";
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The launcher: $PERFMMAP_LAUNCH, else beside the loaded library, else in native/. */
export function findLauncher(libraryPath: string): string {
  const tried: string[] = [];
  const fromEnv = envVar(LAUNCHER_ENV);
  if (fromEnv !== undefined && fromEnv !== "") {
    if (isExecutableFile(fromEnv)) return fromEnv;
    throw new CliError(
      `${LAUNCHER_ENV}=${fromEnv} is not an executable file; unset it or point it at ${LAUNCHER_FILE}`,
      EXIT_FAILURE,
    );
  }
  const beside = libraryPath.replace(/[^/]*$/, LAUNCHER_FILE);
  tried.push(beside);
  if (isExecutableFile(beside)) return beside;
  const root = moduleRoot();
  if (root !== undefined) {
    const arch = process.arch === "x64" ? "x64" : process.arch === "arm64" ? "arm64" : process.arch;
    for (const libc of ["gnu", "musl"]) {
      const path = `${root}native/linux-${arch}-${libc}/${LAUNCHER_FILE}`;
      tried.push(path);
      if (isExecutableFile(path)) return path;
    }
  }
  throw new CliError(
    `cannot find the launcher ${LAUNCHER_FILE} (tried ${
      tried.join(", ")
    }); build it with \`deno run -A build.ts\` or set ${LAUNCHER_ENV}`,
    EXIT_FAILURE,
  );
}

/**
 * Looks the command up as execvp will, to report a missing one in one line
 * before anything runs. Returns undefined when PATH cannot be read (Deno
 * without --allow-env); the launcher then reports it.
 */
export function checkCommand(name: string): { code: 126 | 127; message: string } | undefined {
  const shown = name.length > NAME_SHOWN_MAX ? `${name.slice(0, NAME_SHOWN_MAX)}…` : name;
  if (name.includes("/")) {
    const missing = statError(name);
    if (missing !== undefined) {
      // As bash and env(1): 127 when it is not there, 126 for anything else.
      const code = missing === "ENOENT" ? 127 : 126;
      return { code, message: `${shown}: ${ERRNO_TEXT[missing] ?? missing}` };
    }
    if (isDirectory(name)) return { code: 126, message: `${shown}: Is a directory` };
    return isExecutableFile(name)
      ? undefined
      : { code: 126, message: `${shown}: Permission denied` };
  }
  const path = envVar("PATH");
  if (path === undefined) return undefined;
  let denied = false;
  for (const directory of path.split(":")) {
    const candidate = `${directory === "" ? "." : directory}/${name}`;
    if (isExecutableFile(candidate)) return undefined;
    // A directory of that name is skipped, as shells and execvp's search do.
    if (existsSync(candidate) && !isDirectory(candidate)) denied = true;
  }
  return denied
    ? { code: 126, message: `${shown}: Permission denied` }
    : { code: 127, message: `${shown}: command not found` };
}

/**
 * Adds one run's count of an event to its result. A counter that was open
 * but never on the PMU (timeRunning 0) is no count: it is tallied in
 * `notCounted`, with why, and its 0 never joins the values.
 */
export function addCount(event: EventResult, count: RunCount, hardwarePmu: boolean): void {
  if (count.kind === "refused") {
    event.refusal ??= refusalOf(count.error, hardwarePmu, event.role);
  } else if (count.kind === "counted" && count.running > 0) {
    event.values.push(count.value);
    event.enabled.push(count.enabled);
    event.running.push(count.running);
  } else {
    event.notCounted++;
    event.notCountedWhy ??= count.enabled > 0
      ? {
        reason: `enabled for ${
          (count.enabled / 1e6).toFixed(2)
        } ms but never on the PMU (timeRunning 0)`,
        hint:
          `too few free hardware counters: count fewer events at once, or free them: ${counterHolders()}`,
      }
      : { reason: "never enabled: the command ended before the counter started", hint: undefined };
  }
}

function emptyResult(name: string): EventResult {
  return {
    name,
    role: roleOf(name),
    refusal: undefined,
    values: [],
    enabled: [],
    running: [],
    notCounted: 0,
  };
}

function exitCodeOf(exitCode: number | null, signalNumber: number | null): number {
  if (signalNumber !== null) return 128 + signalNumber;
  return exitCode ?? 1;
}

/**
 * Opens `-o FILE` for writing (created, truncated) before anything runs, as
 * perf stat does, so that an unwritable path fails before the command and
 * never after it, with its counts lost.
 */
function openOutput(path: string): number {
  try {
    return openSync(path, "w");
  } catch (error) {
    throw new CliError(`cannot write ${path}: ${describeError(error)}`, EXIT_FAILURE);
  }
}

function writeOutput(fd: number, path: string, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  let attempts = 0;
  try {
    while (offset < bytes.length && attempts++ < 1_000_000) {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    }
  } catch (error) {
    throw new CliError(`cannot write ${path}: ${describeError(error)}`, EXIT_FAILURE);
  }
}

function progress(text: string | undefined): void {
  if (text === undefined) writeAll(2, "\r\x1b[K");
  else writeAll(2, `\r\x1b[K${text}`);
}

/** Runs `perfmmap stat`; returns the exit code. */
export async function stat(args: string[]): Promise<number> {
  // Before anything of ours is open: what the caller gave us goes to the command.
  const procFds = runtimeName() === "bun" ? inheritedFds() : undefined;
  const options = parseStatArgs(args);
  if (options.help) {
    writeAll(1, STAT_HELP + "\n");
    return 0;
  }
  const explicit = options.events !== undefined;
  const names = options.events ?? [...DEFAULT_EVENTS];
  for (const name of names) {
    try {
      parseEvent(name);
    } catch (error) {
      if (error instanceof PerfError) throw new UsageError(errorLine(error), "stat");
      throw error;
    }
  }
  if (!runAllowed()) {
    throw new CliError(
      "running a command needs Deno's --allow-run: deno run --allow-ffi --allow-read --allow-run --allow-env cli.ts stat …",
      EXIT_FAILURE,
    );
  }
  if (!envAllowed()) {
    throw new CliError(
      "under Deno, stat needs --allow-env (node:child_process hands the command your environment): deno run --allow-ffi --allow-read --allow-run --allow-env cli.ts stat …",
      EXIT_FAILURE,
    );
  }
  const library = nativeLibrary(); // a load failure surfaces here as a PerfError
  const launcher = findLauncher(library.path);
  const missing = checkCommand(options.command[0]);
  if (missing !== undefined) throw new CliError(missing.message, missing.code);
  const tooLong = argumentTooLong(options.command);
  if (tooLong !== undefined) throw new CliError(tooLong.message, tooLong.exitCode);
  // Also the warm-up spawn; before -o is open, though Deno opens it close-on-exec anyway.
  const probed = await probeFds(launcher);
  const passed = procFds ?? probed;
  const output = options.output === undefined ? undefined : openOutput(options.output);
  try {
    // As perf stat: a generic event on a hybrid CPU is one row per core PMU.
    const rows = names.flatMap(partNames);
    return await statRuns(options, rows, explicit, launcher, passed, output);
  } finally {
    if (output !== undefined) closeSync(output);
  }
}

async function statRuns(
  options: StatOptions,
  names: string[],
  explicit: boolean,
  launcher: string,
  passed: readonly number[],
  output: number | undefined,
): Promise<number> {
  const hardwarePmu = corePmus().length > 0;

  const events: RunEvent[] = names.map((name) => ({ name, explicit }));
  const results = names.map((name) => emptyResult(name));
  const report: StatReport = {
    command: options.command,
    runsRequested: options.repeat,
    runs: 0,
    events: results,
    elapsedNs: [],
    ending: { exitCode: null, signal: null, interrupted: false },
  };
  const showProgress = options.repeat > 1 && stderrIsTerminal();
  let firstFailure: number | undefined;
  const relay = new SignalRelay();
  relay.install(); // from here on, a signal cannot kill perfmmap before it prints
  try {
    for (let run = 1; run <= options.repeat && !relay.interrupted; run++) {
      if (showProgress) progress(`perfmmap stat: run ${run}/${options.repeat} …`);
      let result;
      try {
        result = await runOnce(launcher, options.command, events, relay, passed);
      } catch (error) {
        if (showProgress) progress(undefined);
        if (error instanceof SpawnFailure) throw new CliError(error.message, error.exitCode);
        if (error instanceof RefusedEvent) {
          const refusal = refusalOf(error.error, hardwarePmu, roleOf(error.event));
          const hint = refusal.hint === undefined ? "" : `; ${refusal.hint}`;
          throw new CliError(
            `cannot count "${error.event}": ${refusal.message}${hint}`,
            EXIT_FAILURE,
          );
        }
        throw error;
      }
      if (showProgress) progress(undefined);
      if (result.execFailed) {
        // The launcher has printed why (one line); there is nothing to count.
        return result.exitCode ?? EXIT_FAILURE;
      }
      if (run === 1 && result.counts.every((c) => c.kind === "refused")) {
        const first = result.counts[0];
        throw new CliError(
          `no event can be counted here${
            first?.kind === "refused" ? `: ${errorLine(first.error)}` : ""
          }`,
          EXIT_FAILURE,
        );
      }
      report.runs = run;
      report.elapsedNs.push(result.elapsedNs);
      report.ending = {
        exitCode: result.exitCode,
        signal: result.signal,
        interrupted: result.interrupted,
      };
      result.counts.forEach((count, i) => addCount(results[i], count, hardwarePmu));
      const code = exitCodeOf(result.exitCode, result.signalNumber);
      if (code !== 0) firstFailure ??= code;
      if (result.signal !== null) {
        writeAll(
          2,
          `perfmmap stat: ${options.command[0]} was killed by signal ${result.signal} (${
            result.signalNumber ?? "?"
          })${options.repeat > 1 ? ` in run ${run}` : ""}\n`,
        );
      }
      if (result.interrupted || result.signal !== null) break;
    }
  } finally {
    relay.uninstall();
  }
  if (report.runs === 0) return 128 + SIGNAL_NUMBERS.SIGINT; // interrupted before any run
  const text = options.json
    ? formatJsonLines(report)
    : options.separator !== undefined
    ? formatCsv(report, options.separator)
    : formatTable(report);
  if (output !== undefined) {
    writeOutput(output, options.output!, text);
  } else {
    writeAll(2, text);
  }
  return firstFailure ?? 0;
}
