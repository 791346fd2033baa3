/**
 * The `perfmmap` command line: `doctor`, `list`, `stat` and `leak`.
 *
 * @module
 */

import { PerfError } from "../../mod.ts";
import { EXIT_USAGE, UsageError } from "./_args.ts";
import { CliError, EXIT_FAILURE } from "./_errors.ts";
import { envVar, writeAll } from "./_io.ts";
import { doctor } from "./doctor.ts";
import { leak } from "./leak.ts";
import { list } from "./list.ts";
import { stat } from "./stat.ts";

/** Exit code of a bug in perfmmap itself (sysexits EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

/** The top-level usage text. */
export const MAIN_HELP = `Usage: perfmmap <command> [options]

Linux perf_event counters from Deno, Bun and Node.

Commands:
  doctor   what this machine allows for counting, and how to fix what it does not
  list     the events, and whether each one opens here
  stat     count a command from its exec to its exit, like \`perf stat\`
  leak     does a function's cost depend on a secret? (a timing-leak test)

Run \`perfmmap <command> --help\` for a command's options.`;

const COMMANDS: Record<string, (args: string[]) => number | Promise<number>> = {
  doctor,
  list,
  stat,
  leak,
};

function oneLine(text: string): string {
  return text.split("\n").map((line) => line.trim()).filter((line) => line !== "").join(" ");
}

/**
 * Runs the command line and returns the exit code. Every failure becomes one
 * line on stderr, never a stack trace (set PERFMMAP_DEBUG=1 to see one).
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === undefined) {
      writeAll(2, MAIN_HELP + "\n");
      return EXIT_USAGE;
    }
    if (command === "-h" || command === "--help" || command === "help") {
      writeAll(1, MAIN_HELP + "\n");
      return 0;
    }
    const run = COMMANDS[command];
    if (run === undefined) {
      const what = command.startsWith("-")
        ? `unknown option '${command}'`
        : `unknown command '${command}'`;
      throw new UsageError(`${what}; the commands are doctor, list, stat and leak`);
    }
    return await run(rest);
  } catch (error) {
    const name = command !== undefined && command in COMMANDS ? `perfmmap ${command}` : "perfmmap";
    if (error instanceof UsageError) {
      const help = error.command === undefined
        ? "perfmmap --help"
        : `perfmmap ${error.command} --help`;
      writeAll(2, `${name}: ${oneLine(error.message)} (see \`${help}\`)\n`);
      return EXIT_USAGE;
    }
    if (error instanceof CliError) {
      writeAll(2, `${name}: ${oneLine(error.message)}\n`);
      return error.exitCode;
    }
    if (error instanceof PerfError) {
      const hint = error.hint === undefined ? "" : `; ${error.hint}`;
      writeAll(2, `${name}: ${oneLine(error.message.split("\nhint: ")[0])}${oneLine(hint)}\n`);
      return EXIT_FAILURE;
    }
    const message = error instanceof Error ? error.message : String(error);
    writeAll(2, `${name}: internal error: ${oneLine(message)}\n`);
    if (envVar("PERFMMAP_DEBUG") === "1" && error instanceof Error) writeAll(2, `${error.stack}\n`);
    return EXIT_INTERNAL;
  }
}
