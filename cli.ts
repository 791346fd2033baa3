#!/usr/bin/env bun
/**
 * The `perfmmap` command line: `perfmmap doctor`, `perfmmap list`,
 * `perfmmap stat -- <command>`.
 *
 * Deno: `deno run --allow-ffi --allow-read --allow-run --allow-env cli.ts …`
 * (`stat` needs --allow-run and --allow-env, for the command it runs;
 * `doctor` and `list` need --allow-ffi only). Bun: `bun cli.ts …`, or the
 * `perfmmap` bin of the npm package. See docs/cli.md.
 *
 * @example Checking the machine
 * ```sh
 * deno run --allow-ffi cli.ts doctor
 * deno run --allow-ffi --allow-read --allow-run --allow-env cli.ts stat -- ls -l
 * ```
 *
 * @module
 */

import process from "node:process";
import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
