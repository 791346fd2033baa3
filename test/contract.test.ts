// Contracts a mutation run showed unguarded (scripts/mutate/ plants the
// bugs): the errno tables against the kernel's numbers, what a user sees of
// the retry policy and of the times on a simulated page, counts at or above
// 2^63, `:u`/`:k` modifiers winning over `exclude`, the `fallback` default
// and the flags that reach pm_open, and a stale handle while its slot is
// really reused.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants } from "node:os";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { arch, execPath } from "node:process";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { Counter } from "../mod.ts";
import { SimulatedCounter } from "../src/testing.ts";
import { ERRNO, ERRNO_BY_NAME } from "../src/_errno.ts";
import { resolveOptions } from "../src/_options.ts";
import { exclusions, mayRetryRestricted } from "../src/_open.ts";
import { privileges } from "../src/_sysfs.ts";
import { parseEvent } from "../src/event.ts";
import { native } from "../src/loader/native.ts";
import { HANDLES_MAX, OPEN_FLAGS, RETRY_POLICY } from "../src/ffi/symbols.ts";
import { expectPerfError, sleepSync } from "./_helpers.ts";
import type { SimulatedField } from "../src/testing.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CAP_BIT0_IS_DEPRECATED = 1 << 1;
const CAP_USER_RDPMC = 1 << 2;
const CAP_USER_TIME = 1 << 3;
const CAP_USER_TIME_SHORT = 1 << 5;
const SLOT_MASK = 0xfff;
// 50 000 attempts with 49 000 sched_yield calls take long in an emulated CPU.
const SLOW = { timeout: 300_000 };

/** `#define E<NAME> <number>` lines of the kernel's UAPI errno headers. */
function headerErrnos(): Map<string, number> | undefined {
  const base = "/usr/include/asm-generic/errno-base.h";
  const rest = "/usr/include/asm-generic/errno.h";
  if (!existsSync(base) || !existsSync(rest)) return undefined;
  const numbers = new Map<string, number>();
  for (const text of [readFileSync(base, "utf8"), readFileSync(rest, "utf8")]) {
    for (const match of text.matchAll(/^#define\s+(E[A-Z0-9]+)\s+(\d+)\b/gm)) {
      numbers.set(match[1], Number(match[2]));
    }
  }
  return numbers;
}

/** The arch's asm/errno.h must be asm-generic's (x86_64 and aarch64 are). */
function archUsesGenericErrnos(): boolean | undefined {
  const triple = arch === "x64" ? "x86_64-linux-gnu" : "aarch64-linux-gnu";
  const path = `/usr/include/${triple}/asm/errno.h`;
  if (!existsSync(path)) return undefined;
  return /#include <asm-generic\/errno\.h>/.test(readFileSync(path, "utf8"));
}

/** Every .ts file under src/. */
function sourceFiles(folder = join(ROOT, "src")): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Wraps one native symbol for the duration of `body`, recording calls. */
function spyOn<T>(
  name: "pm_open" | "pm_sim_open",
  body: (calls: { args: number[]; result: number }[]) => T,
): T {
  const symbols = native().symbols as unknown as Record<string, (...args: unknown[]) => number>;
  const original = symbols[name];
  const calls: { args: number[]; result: number }[] = [];
  symbols[name] = (...args: unknown[]) => {
    const result = original(...args);
    calls.push({ args: args.map((a) => typeof a === "number" ? a : NaN), result });
    return result;
  };
  try {
    return body(calls);
  } finally {
    symbols[name] = original;
  }
}

describe("errno tables match the kernel's numbers", () => {
  it("every entry of src/_errno.ts has the UAPI number of its name", (t) => {
    const kernel = headerErrnos();
    if (kernel === undefined) {
      t.skip(
        "no /usr/include/asm-generic/errno*.h (install linux-libc-dev); node:os is checked below",
      );
      return;
    }
    assert.notEqual(archUsesGenericErrnos(), false, "this arch's asm/errno.h is not asm-generic's");
    // Kernel-internal codes (include/linux/errno.h) that ioctls can leak.
    const internal = new Map([["ERESTARTSYS", 512], ["ENOTSUPP", 524]]);
    // Both directions: a number given twice would hide one name from ERRNO.
    assert.equal(ERRNO.size, ERRNO_BY_NAME.size, "two names share a number in src/_errno.ts");
    for (const [name, number] of ERRNO_BY_NAME) {
      assert.equal(ERRNO.get(number)?.[0], name, `${name} (${number}) does not map back to itself`);
    }
    let checked = 0;
    for (const [number, [name]] of ERRNO) {
      const expected: number | undefined = kernel.get(name) ?? internal.get(name);
      assert.notEqual(expected, undefined, `${name} is not a kernel errno name`);
      assert.equal(
        number,
        expected,
        `${name} is ${expected} in the kernel, ${number} in src/_errno.ts`,
      );
      checked++;
    }
    assert.ok(checked >= 130, `only ${checked} entries checked`);
    const missing = [...kernel.keys()].filter((name) =>
      ![...ERRNO.values()].some(([known]) => known === name) &&
      !["EWOULDBLOCK", "EDEADLOCK"].includes(name) // aliases of EAGAIN, EDEADLK
    );
    if (missing.length > 0) {
      console.log(`kernel errnos without a name in src/_errno.ts: ${missing.join(", ")}`);
    }
  });

  it("every entry node:os knows has node:os's number", () => {
    const known = constants.errno as Record<string, number>;
    let checked = 0;
    for (const [name, number] of ERRNO_BY_NAME) {
      if (known[name] === undefined) continue;
      assert.equal(
        number,
        known[name],
        `${name} is ${known[name]} in node:os, ${number} in src/_errno.ts`,
      );
      checked++;
    }
    assert.ok(checked >= 70, `only ${checked} entries checked against node:os`);
  });

  it("src/ names errnos through src/_errno.ts only: no errno number written as a literal", () => {
    let named = 0;
    for (const file of sourceFiles()) {
      const text = readFileSync(file, "utf8");
      const literal = text.match(/\bconst (E[A-Z0-9]+) = \d+;/);
      assert.equal(literal, null, `${file}: ${literal?.[0]} (use knownErrno("${literal?.[1]}"))`);
      for (const [, name] of text.matchAll(/knownErrno\("([A-Z0-9]+)"\)/g)) {
        assert.ok(ERRNO_BY_NAME.has(name), `${file}: knownErrno("${name}") names no errno`);
        named++;
      }
    }
    assert.ok(named >= 5, `only ${named} knownErrno() uses found in src/ (the scan is broken)`);
  });

  // The core's own codes against zig/src/errno.zig: test/abi.test.ts, with
  // the rest of the ABI.
});

describe("what a user sees of the retry policy and the times (simulated page)", () => {
  it("times without cap_user_time are returned as read", () => {
    using sim = SimulatedCounter.create();
    sim.configure({
      capabilities: CAP_BIT0_IS_DEPRECATED | CAP_USER_RDPMC,
      timeEnabled: 1000,
      timeRunning: 600,
      timeMult: 3,
      timeShift: 1,
      timeOffset: 10,
      timestamp: 100, // with the capability: delta 160
      register: 50,
    });
    let reading = sim.readDetailed();
    assert.equal(reading.source, "userspace");
    assert.equal(reading.timeEnabled, 1000);
    assert.equal(reading.timeRunning, 600);
    sim.set("capabilities", CAP_BIT0_IS_DEPRECATED | CAP_USER_RDPMC | CAP_USER_TIME);
    reading = sim.readDetailed();
    assert.equal(reading.timeEnabled, 1160, "the same fields are used once the capability is set");
    assert.equal(reading.timeRunning, 760);
  });

  it("equal times are not extrapolated; cap_user_time_short folds the timestamp by time_mask", () => {
    using sim = SimulatedCounter.create();
    sim.configure({
      capabilities: CAP_BIT0_IS_DEPRECATED | CAP_USER_RDPMC | CAP_USER_TIME,
      timeEnabled: 500,
      timeRunning: 500,
      timeMult: 1,
      timeShift: 0,
      timestamp: 1_000_000,
    });
    assert.equal(sim.readDetailed().timeEnabled, 500);
    sim.configure({
      capabilities: CAP_BIT0_IS_DEPRECATED | CAP_USER_RDPMC | CAP_USER_TIME | CAP_USER_TIME_SHORT,
      timeRunning: 400,
      timeCycles: 0x1000,
      timeMask: 0xff,
      timestamp: 0x12_3456, // cycles = 0x1000 + ((0x123456 - 0x1000) & 0xff) = 0x1056
    });
    const reading = sim.readDetailed();
    assert.equal(reading.timeEnabled, 500 + 0x1056);
    assert.equal(reading.timeRunning, 400 + 0x1056);
    sim.set("capabilities", CAP_BIT0_IS_DEPRECATED | CAP_USER_RDPMC | CAP_USER_TIME);
    assert.equal(
      sim.readDetailed().timeEnabled,
      500 + 0x12_3456,
      "without the short flag: the timestamp",
    );
  });

  it("attempts, yields and sources: exact counts in readDetailed and stats()", () => {
    using sim = SimulatedCounter.create();
    sim.configure({ index: 0, syscallValue: 77, register: 5 });
    let reading = sim.readDetailed();
    assert.deepEqual(
      [reading.source, reading.value, reading.attempts, reading.yields],
      ["syscall", 77, 1000, 0],
      "index 0 falls back after exactly the 1000 fast attempts, before any yield",
    );
    assert.equal(sim.read(), 77);
    let stats = sim.stats();
    assert.deepEqual(
      [stats.lastAttempts, stats.lastYields, stats.syscallReads, stats.indexZeroFallbacks],
      [1000, 0, 2, 2],
    );
    sim.set("index", 1);
    assert.equal(sim.read(), 5);
    stats = sim.stats();
    assert.deepEqual([stats.lastAttempts, stats.lastYields, stats.userspaceReads], [1, 0, 1]);
    reading = sim.readDetailed();
    assert.deepEqual([reading.source, reading.attempts, reading.yields], ["userspace", 1, 0]);
  });

  it("counts at and above 2^63 read as positive numbers", () => {
    using sim = SimulatedCounter.create();
    sim.configure({ pmcWidth: 64, offset: 0, register: (1n << 63n) + (1n << 62n) });
    assert.equal(sim.read(), 2 ** 63 + 2 ** 62);
    assert.equal(sim.readBigInt(), (1n << 63n) + (1n << 62n));
    sim.set("register", (1n << 64n) - 2048n);
    assert.equal(sim.read(), 2 ** 64 - 2048);
  });
});

describe("retry exhaustion through the policy (49 000 yields: slow on a loaded machine)", () => {
  it(
    "fallback off: index 0, then an odd lock, exhaust after 50 000 attempts and 49 000 yields, logged once",
    SLOW,
    () => {
      using sim = SimulatedCounter.create({ fallback: false });
      sim.set("index", 0);
      expectPerfError(() => sim.readDetailed(), "RETRY_EXHAUSTED");
      let stats = sim.stats();
      assert.deepEqual([stats.lastAttempts, stats.lastYields, stats.exhausted], [
        50_000,
        49_000,
        1,
      ]);
      sim.set("index", 1).set("lock", 1);
      expectPerfError(() => sim.read(), "RETRY_EXHAUSTED");
      stats = sim.stats();
      assert.deepEqual(
        [stats.lastAttempts, stats.lastYields, stats.exhausted, stats.exhaustionLogLines],
        [50_000, 49_000, 2, 1],
      );
    },
  );

  it("an exhausting counter writes one line to stderr however often it exhausts", SLOW, () => {
    const testing = pathToFileURL(join(ROOT, "src", "testing.ts")).href;
    const code = `import { SimulatedCounter } from ${JSON.stringify(testing)};
      const sim = SimulatedCounter.create();
      sim.set("lock", 1);
      for (let i = 0; i < 3; i++) { try { sim.read(); } catch { /* RETRY_EXHAUSTED */ } }
      sim.close();`;
    const args = "Deno" in globalThis ? ["eval", code] : ["-e", code];
    const child = spawnSync(execPath, args, { encoding: "utf8", timeout: 240_000 });
    assert.equal(child.error, undefined, `the child did not finish: ${child.error}`);
    assert.equal(child.status, 0, child.stderr);
    const lines = child.stderr.split("\n").filter((line) =>
      /gave up after 50000 attempts/.test(line)
    );
    assert.equal(lines.length, 1, `stderr of three exhaustions:\n${child.stderr}`);
  });
});

describe("modifiers win over exclude", () => {
  it("exclusions(): :u and :k decide kernel and user whatever exclude says", () => {
    const options = resolveOptions("open", { exclude: { kernel: false, user: true } }, {
      userspace: "auto",
    });
    const user = exclusions(options, parseEvent("context-switches:u"), false);
    assert.equal(user.kernel, true, ":u excludes the kernel even with exclude.kernel false");
    assert.equal(user.user, false, ":u counts user mode even with exclude.user true");
    const kernel = exclusions(options, parseEvent("context-switches:k"), false);
    assert.equal(kernel.kernel, false);
    assert.equal(kernel.user, true);
    const plain = exclusions(options, parseEvent("context-switches"), false);
    assert.deepEqual(
      [plain.kernel, plain.user],
      [false, true],
      "without a modifier, exclude applies",
    );
  });

  it('"context-switches:u" with exclude.kernel false counts 0 across sleeps', () => {
    using switches = Counter.open("context-switches:u", { exclude: { kernel: false } });
    const before = switches.read();
    for (let i = 0; i < 5; i++) sleepSync(2);
    assert.equal(
      switches.read() - before,
      0,
      "context switches happen in the kernel, which :u excludes",
    );
  });

  it('"context-switches:k" with exclude.kernel true still counts the sleeps', (t) => {
    let switches: Counter;
    try {
      switches = Counter.open("context-switches:k", { exclude: { kernel: true } });
    } catch (error) {
      t.skip(`kernel-mode counting is not allowed here: ${String(error)}`);
      return;
    }
    using _ = switches;
    const before = switches.read();
    for (let i = 0; i < 5; i++) sleepSync(2);
    // Counted at all is the fact (an exclude that beat the modifier would
    // count 0); the arm64 guest once counted 4 switches for 5 sleeps.
    assert.ok(switches.read() - before >= 1, `grew ${switches.read() - before}, expected >= 1`);
  });
});

describe("the fallback default", () => {
  it("resolves to true, with userspace auto", () => {
    const options = resolveOptions("open", undefined, { userspace: "auto" });
    assert.equal(options.fallback, true);
    assert.equal(options.userspace, "auto");
    assert.equal(
      resolveOptions("open", { fallback: false }, { userspace: "auto" }).fallback,
      false,
    );
  });

  it("reaches pm_open as the FALLBACK flag (and not when fallback is false)", () => {
    const flags = spyOn("pm_open", (calls) => {
      Counter.open("task-clock").close();
      Counter.open("task-clock", { fallback: false }).close();
      return calls.map((call) => call.args[4]);
    });
    assert.equal(flags.length, 2, "pm_open was called once per open");
    assert.equal(flags[0] & OPEN_FLAGS.FALLBACK, OPEN_FLAGS.FALLBACK, `default flags ${flags[0]}`);
    assert.equal(flags[0] & 3, OPEN_FLAGS.MODE_AUTO);
    assert.equal(flags[1] & OPEN_FLAGS.FALLBACK, 0, `fallback: false flags ${flags[1]}`);
  });

  it("a simulated counter with default options serves a persistent index 0 by the syscall", () => {
    using sim = SimulatedCounter.create();
    sim.configure({ index: 0, syscallValue: 31 });
    const reading = sim.readDetailed();
    assert.equal(reading.source, "syscall");
    assert.equal(reading.value, 31);
  });
});

describe("option resolution: defaults, and the option each error names", () => {
  const AUTO = { userspace: "auto" as const };

  it("resolves every default", () => {
    const { sampling, ...rest } = resolveOptions("open", {}, AUTO);
    assert.equal(sampling, undefined);
    assert.deepEqual({ ...rest, exclude: { ...rest.exclude } }, {
      pid: 0,
      cpu: -1,
      exclude: {},
      inherit: false,
      pinned: false,
      exclusive: false,
      enabled: true,
      userspace: "auto",
      fallback: true,
      enableOnExec: false,
    });
    assert.equal(resolveOptions("open", {}, { userspace: "off" }).userspace, "off");
  });

  it("pid -1 needs a cpu: accepted with cpu 0, refused with cpu -1", () => {
    assert.deepEqual(
      [
        resolveOptions("open", { pid: -1, cpu: 0 }, AUTO).pid,
        resolveOptions("open", { pid: 5 }, AUTO).cpu,
      ],
      [-1, -1],
    );
    const error = expectPerfError(
      () => resolveOptions("open", { pid: -1 }, AUTO),
      "INVALID_OPTION",
    );
    assert.equal(error.op, "open");
  });

  it("a bad value's error names the option, with the op", () => {
    const cases: [Record<string, unknown> | unknown, RegExp][] = [
      [{ inherit: 1 }, /inherit/],
      [{ pinned: 1 }, /pinned/],
      [{ exclusive: 1 }, /exclusive/],
      [{ enabled: 1 }, /enabled/],
      [{ fallback: 1 }, /fallback/],
      [{ enableOnExec: 1 }, /enableOnExec/],
      [{ pid: 1.5 }, /pid/],
      [{ cpu: "0" }, /cpu/],
      [{ exclude: 1 }, /exclude/],
      [{ nope: 1 }, /known: pid, cpu, /],
      [7, /options must be an object/],
      [{
        get pid() {
          throw new Error("a getter that throws");
        },
      }, /options could not be read: a getter that throws/],
    ];
    for (const [options, message] of cases) {
      const error = expectPerfError(() => resolveOptions("open", options, AUTO), "INVALID_OPTION");
      assert.match(error.message, message);
      assert.equal(error.op, "open", `op of ${message}`);
    }
  });

  it("exclusions: nothing by default; every modifier decides its own bit", () => {
    const defaults = resolveOptions("open", {}, AUTO);
    const none = { user: false, kernel: false, hv: false, idle: false, host: false, guest: false };
    assert.deepEqual(exclusions(defaults, parseEvent("task-clock"), false), none);
    assert.deepEqual(exclusions(defaults, parseEvent("task-clock"), true), {
      ...none,
      kernel: true,
      hv: true,
    });
    const everything = resolveOptions("open", {
      exclude: { user: false, kernel: false, hv: false, idle: false },
    }, AUTO);
    assert.deepEqual(exclusions(everything, parseEvent("task-clock:u"), false), {
      ...none,
      kernel: true,
      hv: true,
    });
    assert.deepEqual(exclusions(everything, parseEvent("task-clock:k"), false), {
      ...none,
      user: true,
      hv: true,
    });
    assert.deepEqual(exclusions(everything, parseEvent("task-clock:IGH"), false), {
      ...none,
      idle: true,
      host: true,
      guest: true,
    });
    const allOut = resolveOptions("open", { exclude: { user: true, hv: true, idle: true } }, AUTO);
    assert.deepEqual(exclusions(allOut, parseEvent("task-clock"), false), {
      ...none,
      user: true,
      hv: true,
      idle: true,
    });
  });

  it("the restricted default follows this process's privileges", () => {
    const restricted = privileges().kernelAllowed === false;
    const defaults = resolveOptions("open", {}, AUTO);
    assert.equal(exclusions(defaults, parseEvent("task-clock")).kernel, restricted);
    assert.equal(mayRetryRestricted(defaults, parseEvent("task-clock")), !restricted);
    assert.equal(mayRetryRestricted(defaults, parseEvent("task-clock:u")), false, ":u decides");
    for (const kernel of [false, true]) {
      const options = resolveOptions("open", { exclude: { kernel } }, AUTO);
      assert.equal(
        mayRetryRestricted(options, parseEvent("task-clock")),
        false,
        `exclude.kernel ${kernel}`,
      );
    }
  });

  it("context-switches with default options counts the sleeps where the kernel may be counted", (t) => {
    if (privileges().kernelAllowed === false) {
      t.skip("this process may not count kernel mode: the default excludes it, as perf does");
      return;
    }
    using switches = Counter.open("context-switches");
    const before = switches.read();
    for (let i = 0; i < 5; i++) sleepSync(2);
    // Counted at all is the fact (an exclude that beat the modifier would
    // count 0); the arm64 guest once counted 4 switches for 5 sleeps.
    assert.ok(switches.read() - before >= 1, `grew ${switches.read() - before}, expected >= 1`);
  });
});

describe("simulated counter input: codes, ops and names", () => {
  it("create: each mode and fallback value is accepted; anything else is named", () => {
    for (const userspace of ["auto", "require", "off"] as const) {
      for (const fallback of [true, false]) {
        SimulatedCounter.create({ userspace, fallback }).close();
      }
    }
    const cases: [unknown, RegExp][] = [
      [{ nope: 1 }, /"nope".*known: userspace, fallback/],
      [{ userspace: "fast" }, /userspace must be "auto", "require" or "off"/],
      [{ fallback: 1 }, /fallback must be a boolean/],
      [7, /options/],
    ];
    for (const [options, message] of cases) {
      const error = expectPerfError(
        () => SimulatedCounter.create(options as { fallback: boolean }),
        "INVALID_OPTION",
      );
      assert.match(error.message, message);
      assert.deepEqual([error.op, error.event], ["open", "simulated"], `op/event of ${message}`);
    }
  });

  it("set: unknown fields, non-integers and values past 64 bits are refused and named", () => {
    using sim = SimulatedCounter.create();
    assert.deepEqual([sim.event.name, sim.event.kind], ["simulated", "simulated"]);
    const cases: [() => unknown, string, RegExp][] = [
      [() => sim.set("nope" as SimulatedField, 1), "INVALID_OPTION", /"nope".*known: lock, index/],
      [() => sim.set("lock", 1.5), "VALUE_OUT_OF_RANGE", /lock must be a safe integer/],
      [
        () => sim.set("lock", "1" as unknown as number),
        "INVALID_OPTION",
        /lock must be a number or a bigint/,
      ],
      [() => sim.set("register", 1n << 64n), "VALUE_OUT_OF_RANGE", /register must fit 64 bits/],
      [() => sim.set("offset", -(1n << 63n) - 1n), "VALUE_OUT_OF_RANGE", /offset must fit 64 bits/],
      [() => sim.configure(7 as unknown as Record<string, number>), "INVALID_OPTION", /fields/],
    ];
    for (const [call, code, message] of cases) {
      const error = expectPerfError(call, code);
      assert.match(error.message, message);
      assert.equal(error.op, "sim_set", `op of ${message}`);
      // The range error names no event today; where one is named it is this one.
      if (error.event !== undefined) assert.equal(error.event, "simulated", `event of ${message}`);
    }
    sim.configure({ pmcWidth: 64, offset: -(1n << 63n), register: (1n << 64n) - 1n });
    assert.equal(sim.readBigInt(), (1n << 63n) - 1n, "both 64-bit edges are accepted");
    sim.configure({ pmcWidth: 48, offset: 5, register: undefined });
    assert.equal(
      sim.read(),
      4,
      "an undefined register is skipped: all ones is -1 at 48 bits",
    );
    sim.close();
    const stale = expectPerfError(() => sim.set("lock", 0), "STALE_HANDLE");
    assert.deepEqual([stale.op, stale.event], ["sim_set", "simulated"]);
  });
});

describe("handles", () => {
  it("a stale handle stays stale while its slot is reused by a live counter", () => {
    const reused = spyOn("pm_sim_open", (calls) => {
      const old = SimulatedCounter.create();
      const oldHandle = calls[0].result;
      old.close();
      for (let i = 0; i < HANDLES_MAX; i++) {
        using fresh = SimulatedCounter.create();
        const handle = calls[calls.length - 1].result;
        if ((handle & SLOT_MASK) !== (oldHandle & SLOT_MASK)) continue;
        assert.notEqual(handle, oldHandle, "the reused slot has a new generation");
        fresh.set("register", 4242);
        expectPerfError(() => old.read(), "STALE_HANDLE");
        expectPerfError(() => old.readDetailed(), "STALE_HANDLE");
        expectPerfError(() => old.set("register", 1), "STALE_HANDLE");
        assert.equal(fresh.read(), 4242, "the stale calls did not touch the new counter");
        return i + 1;
      }
      return undefined;
    });
    assert.notEqual(reused, undefined, `the slot was not reused within ${HANDLES_MAX} opens`);
  });
});

describe("the core's limits have one home: TypeScript mirrors Zig's numbers", () => {
  const noZig = !existsSync(join(ROOT, "zig", "src", "self_read.zig")) &&
    "no zig/ sources here (the arm64 guest ships the built library only)";
  if (noZig) console.log(`SKIP reason: ${noZig}`);
  const zigConst = (file: string, name: string): number => {
    const text = readFileSync(join(ROOT, "zig", "src", file), "utf8");
    const match = text.match(new RegExp(`pub const ${name} = ([0-9_]+);`));
    assert.ok(match, `zig/src/${file} has no \`pub const ${name} = <n>;\``);
    return Number(match[1].replaceAll("_", ""));
  };
  it("the retry policy and the handle table's size", { skip: noZig }, () => {
    assert.equal(RETRY_POLICY.FAST_ATTEMPTS, zigConst("self_read.zig", "attempts_fast_max"));
    assert.equal(RETRY_POLICY.ATTEMPTS_MAX, zigConst("self_read.zig", "attempts_max"));
    assert.equal(HANDLES_MAX, zigConst("handles.zig", "handles_max"));
  });
});
