// `perfmmap leak <module> <export>`: a module's exported case, the verdict
// with its evidence and its exit code, and one line for each kind of bad
// input.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { oneLine, runCli } from "./_helpers.ts";

const EXAMPLE = new URL("../../examples/leak.ts", import.meta.url).pathname;
const SLOW = { timeout: 300_000 };

describe("perfmmap leak", () => {
  it("flags the early-exit comparison: verdict, evidence, exit 1", SLOW, () => {
    const r = runCli(["leak", "--max-ms", "4000", "--seed", "3", EXAMPLE, "earlyExitCase"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^earlyExitCase: leak$/m);
    assert.match(r.stdout, /Welch's t/);
    assert.match(r.stdout, /deciles: shift/);
    assert.doesNotMatch(r.stdout, /NaN/);
  });

  it("--json gives the whole result", SLOW, () => {
    const r = runCli(["leak", "--json", "--max-ms", "1500", EXAMPLE, "constantTimeCase"]);
    assert.ok(r.status === 0 || r.status === 3, `exit ${r.status}: ${r.stderr}`);
    const result = JSON.parse(r.stdout);
    assert.notEqual(result.verdict, "leak");
    assert.ok(result.samples.a > 0 && typeof result.maxAbsT === "number");
  });

  it("bad input: one line and its exit code", SLOW, () => {
    const dir = mkdtempSync(join(tmpdir(), "perfmmap-leak-"));
    try {
      const module = join(dir, "cases.ts");
      writeFileSync(
        module,
        `export const throws = () => { throw new Error("factory failed"); };
export const notACase = { classes: {} };
export const fnThrows = { fn: () => { throw new Error("under test"); }, classes: { a: () => 1, b: () => 2 } };
export const badClasses = { fn: () => 1, classes: { a: 1, b: 2 } };
`,
      );
      const rows: [string[], number, RegExp][] = [
        [["leak"], 2, /needs a module and an export/],
        [["leak", module], 2, /needs a module and an export/],
        [["leak", module, "a", "b"], 2, /unexpected 'b'/],
        [["leak", "--max-ms", "0", module, "x"], 2, /--max-ms must be an integer/],
        [["leak", "--max-ms", "1e3", module, "x"], 2, /--max-ms must be an integer/],
        [["leak", "--seed", "NaN", module, "x"], 2, /--seed must be an integer/],
        [["leak", "--bogus", module, "x"], 2, /Unknown option/],
        [["leak", join(dir, "missing.ts"), "x"], 4, /cannot import/],
        [["leak", module, "nope"], 4, /has no export 'nope'/],
        [["leak", module, "throws"], 4, /'throws\(\)' threw: factory failed/],
        [["leak", module, "notACase"], 4, /is not a leak-test case/],
        [["leak", module, "fnThrows"], 4, /threw while it was tested: under test/],
        [["leak", module, "badClasses"], 4, /classes\.a and classes\.b must be functions/],
      ];
      for (const [args, status, message] of rows) {
        const r = runCli(args);
        assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(oneLine(r.stderr), undefined, args.join(" "));
        assert.match(r.stderr, message, args.join(" "));
        assert.doesNotMatch(r.stderr, /internal error/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
