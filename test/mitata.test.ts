// The mitata provider: installed under the name @mitata/counters (as the npm
// alias package does), mitata's own run() picks it up. Where the hardware
// events cannot be counted, it prints the reason once and mitata prints no
// counter lines: never "NaN ipc" or "0.00 cycles".

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as counters from "../src/mitata.ts";
import { hardwareSkip, perfFds, QEMU_TIER } from "./_helpers.ts";
import { PerfError } from "../mod.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const LIBRARY = `${ROOT}native/linux-${
  process.arch === "arm64" ? "arm64" : "x64"
}-gnu/libperfmmap.so`;
const CHILD_MS = 120_000;
const SLOW = { timeout: 300_000 };

function local(name: "deno" | "bun"): string {
  const path = `${ROOT}node_modules/.bin/${name}`;
  return existsSync(path) ? path : name;
}

const host = globalThis as unknown as { Bun?: unknown };

/**
 * A project with mitata and our provider as node_modules/@mitata/counters.
 * The provider is src/mitata.ts bundled to one ES module: the shape of the
 * alias package (plain JS inside node_modules, which Deno requires).
 */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), "perfmmap-mitata-"));
  const bundle = spawnSync(local("deno"), ["bundle", "--quiet", `${ROOT}src/mitata.ts`], {
    encoding: "utf8",
    cwd: ROOT,
    timeout: CHILD_MS,
  });
  assert.equal(bundle.status, 0, bundle.stderr);
  const provider = join(dir, "node_modules/@mitata/counters");
  mkdirSync(provider, { recursive: true });
  writeFileSync(join(provider, "index.mjs"), bundle.stdout);
  writeFileSync(
    join(provider, "package.json"),
    JSON.stringify({
      name: "@mitata/counters",
      version: "0.0.0",
      type: "module",
      main: "index.mjs",
    }),
  );
  // A copy, not a link: a link resolves to the repository's node_modules,
  // where the real @mitata/counters is installed.
  cpSync(`${ROOT}node_modules/mitata`, join(dir, "node_modules/mitata"), { recursive: true });
  writeFileSync(join(dir, "deno.json"), JSON.stringify({ nodeModulesDir: "manual" }));
  writeFileSync(
    join(dir, "bench.mjs"),
    `import { bench, run } from "mitata";
bench("sum", () => { let x = 0; for (let i = 0; i < 1000; i++) x += i; return x; });
bench("fill", () => new Uint8Array(256).fill(1));
await run({ colors: false });
`,
  );
  return dir;
}

function runMitata(dir: string): { status: number | null; output: string } {
  const command = host.Bun !== undefined ? [local("bun"), "bench.mjs"] : [
    local("deno"),
    "run",
    "-A",
    "bench.mjs",
  ];
  const child = spawnSync(command[0], command.slice(1), {
    cwd: dir,
    encoding: "utf8",
    timeout: CHILD_MS,
    env: { ...process.env, PERFMMAP_LIB: LIBRARY, NO_COLOR: "1" },
  });
  return { status: child.status, output: `${child.stdout}${child.stderr}` };
}

describe("mitata provider", () => {
  const inGuest = QEMU_TIER &&
    "the QEMU guest runs mitata in the icount boot's bench checks (test/arm64/guest/bench.ts)";
  if (inGuest) console.log(`SKIP reason: ${inGuest}`);
  it("mitata's run() uses it; here: the reason once, and no NaN or 0 anywhere", {
    ...SLOW,
    skip: inGuest,
  }, () => {
    const dir = project();
    try {
      const { status, output } = runMitata(dir);
      assert.equal(status, 0, output);
      assert.match(output, /sum/);
      assert.doesNotMatch(output, /NaN/, output);
      assert.doesNotMatch(output, /\b0\.00 cycles/, output);
      if (hardwareSkip("cycles") === false) {
        assert.match(output, /cycles/);
        assert.match(output, /instructions/);
      } else {
        const reasons = output.match(/perfmmap: mitata prints no hardware counters here/g) ?? [];
        assert.equal(reasons.length, 1, `the reason is printed once:\n${output}`);
        assert.doesNotMatch(output, /ipc|branch misses/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("init() counts where all six events open, else throws a PerfError with the reason", () => {
    const fds = perfFds();
    const allOpen = counters.MITATA_EVENTS.every(([event]) => hardwareSkip(event) === false);
    if (allOpen) {
      counters.init();
      counters.before();
      for (let i = 0; i < 10_000; i++);
      counters.after();
      const result = counters.translate(1, 1);
      assert.ok(result.cycles.avg > 0 && result.instructions.avg > 0);
      counters.deinit();
    } else {
      assert.throws(() => counters.init(), (e) => e instanceof PerfError && e.code !== undefined);
      assert.throws(() => counters.before(), (e) => e instanceof PerfError);
    }
    counters.deinit();
    assert.equal(perfFds(), fds);
  });

  it("mitataCounters(events): a subset for measure(); bad events are INVALID_OPTION", () => {
    for (const events of [[], ["task-clock"], ["cycles", 3]] as unknown[][]) {
      assert.throws(
        () => counters.mitataCounters(events as string[]),
        (e) => e instanceof PerfError && e.code === "INVALID_OPTION",
        JSON.stringify(events),
      );
    }
    const partial = counters.mitataCounters(["cycles", "instructions"]);
    if (hardwareSkip("cycles") === false && hardwareSkip("instructions") === false) {
      partial.init();
      partial.before();
      partial.after();
      const result = partial.translate(1, 1);
      assert.equal(result.cache, null);
      assert.equal(result._bmispred, null);
      assert.ok(result.instructions !== null && result.instructions.avg > 0);
      partial.deinit();
    } else {
      assert.throws(() => partial.init(), (e) => e instanceof PerfError);
    }
  });
});
