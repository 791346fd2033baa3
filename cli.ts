#!/usr/bin/env node
/**
 * The `perfmmap` command line: `perfmmap doctor`, `perfmmap list`,
 * `perfmmap stat -- <command>`.
 *
 * Deno: `deno run --allow-ffi --allow-read --allow-run --allow-env cli.ts …`
 * (`stat` needs --allow-run and --allow-env, for the command it runs;
 * `doctor` and `list` need --allow-ffi only). Bun: `bun cli.ts …`. Node 26:
 * `node cli.ts …`. The `perfmmap` bin of the npm package (this file,
 * compiled) starts the `node` on PATH, since npm comes with Node; under Bun
 * run it as `bunx --bun perfmmap`. See docs/cli.md.
 *
 * @example Checking the machine
 * ```sh
 * deno run --allow-ffi cli.ts doctor
 * deno run --allow-ffi --allow-read --allow-run --allow-env cli.ts stat -- ls -l
 * ```
 *
 * @module
 */

import { realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { main } from "./src/cli/main.ts";

/**
 * Node before 24.2 has no `import.meta.main`: there this file is the program
 * when it is the script Node started, so that an old Node running the bin
 * prints why it cannot count instead of exiting without a word.
 */
function startedByOldNode(): boolean {
  const script = process.argv[1];
  if (script === undefined || import.meta.url.slice(0, 5) !== "file:") return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (import.meta.main ?? startedByOldNode()) {
  process.exit(await main(process.argv.slice(2)));
}
