// Argument parsing on node:util parseArgs (jsr:@std/cli is unreachable
// here), with one error type for every usage mistake: it becomes one line on
// stderr and exit code 2.

import { parseArgs } from "node:util";

/** Exit code of a usage error (bad flag, missing argument), as getopt tools use. */
export const EXIT_USAGE = 2;

/** A mistake in the command line: printed as one line, then exit 2. */
export class UsageError extends Error {
  /** The subcommand whose usage applies, for the "see --help" pointer. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** A parseArgs option table. */
export type OptionTable = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

/** parseArgs' result, narrowed to what the subcommands use. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Parses `args` strictly: an unknown flag, a missing value or a stray
 * argument becomes a {@link UsageError} naming `command`.
 */
export function parse(
  command: string,
  args: string[],
  options: OptionTable,
  allowPositionals: boolean,
): Parsed {
  try {
    const result = parseArgs({ args, options, strict: true, allowPositionals });
    return result as unknown as Parsed;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // Node's messages are good ("Unknown option '--x'"); keep only their first sentence.
    throw new UsageError(firstSentence(message), command);
  }
}

function firstSentence(message: string): string {
  const lines = message.split("\n");
  // "Option '-r' argument is ambiguous." (`-r -0`): keep node's way out too.
  const dash = lines.find((line) => line.startsWith("To specify an option argument"));
  if (/argument is ambiguous/.test(lines[0]) && dash !== undefined) {
    return `${lines[0].replace(/\.$/, "")}: ${dash.replace(/\.$/, "").replace(/^T/, "t")}`;
  }
  const line = lines[0];
  const cut = line.indexOf(". ");
  return cut < 0 ? line : line.slice(0, cut);
}

/**
 * Splits `perfmmap stat [options] [--] cmd args…` at the command: the first
 * argument that is neither an option nor an option's value, or the argument
 * after `--`. The command's own flags (`ls -l`) are never parsed as ours.
 *
 * @param args The arguments after `stat`.
 * @param valued Long and short names of the options that take a value.
 */
export function splitCommand(
  args: string[],
  valued: ReadonlySet<string>,
): { options: string[]; command: string[] } {
  let i = 0;
  while (i < args.length) {
    const arg = args[i];
    if (arg === "--") return { options: args.slice(0, i), command: args.slice(i + 1) };
    if (arg.startsWith("--")) {
      const name = arg.slice(2).split("=")[0];
      i += !arg.includes("=") && valued.has(name) ? 2 : 1;
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      // A short flag takes its value from the rest of the word (-r5) or the next word.
      i += arg.length === 2 && valued.has(arg.slice(1)) ? 2 : 1;
      continue;
    }
    break;
  }
  return { options: args.slice(0, Math.min(i, args.length)), command: args.slice(i) };
}
