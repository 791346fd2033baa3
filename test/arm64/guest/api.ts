/**
 * The arm64 tier's fast-path facts, checked through the public API.
 *
 * Runs inside the QEMU guest under the three runtimes, with the same file:
 *
 *   deno run -A test/arm64/guest/api.ts --runtime=deno --run=max
 *   bun run test/arm64/guest/api.ts --runtime=bun --run=max
 *   node --disable-warning=ExperimentalWarning test/arm64/guest/api.ts --runtime=node --run=max
 *
 * `--run` names the boot (see test/arm64/run.sh): max, a57, icount, off. Each
 * check prints one line `@@RESULT <runtime>.api.<check> PASS|FAIL key=value...`
 * that test/arm64/summarize.py expects; an exception inside a check is a FAIL
 * with its message, never a missing line. Not a *.test.ts file on purpose: a
 * host `deno test` must not pick it up on a machine without a PMU.
 *
 * @module
 */

import { Counter, Group, PerfError } from "../../../mod.ts";

// No node:process here: type-checking it would need @types/node from npm.
interface Runtime {
  Deno?: { args: string[]; version: { deno: string }; exitCode: number };
  Bun?: { version: string; argv: string[] };
  process?: { exitCode?: number; argv: string[]; versions: { node?: string } };
}
const host = globalThis as unknown as Runtime;
const argv = host.Deno?.args ?? host.Bun?.argv.slice(2) ?? host.process?.argv.slice(2) ?? [];

const TWO_POW_32 = 2 ** 32;
const BRACKET_SAMPLES = 1000;

const args = new Map(
  argv.filter((a) => a.startsWith("--")).map((a) => {
    const [key, value = ""] = a.slice(2).split("=");
    return [key, value] as const;
  }),
);
const runtime = args.get("runtime") ?? "unknown";
const run = args.get("run") ?? "max";
let failures = 0;

function result(name: string, pass: boolean, detail: string): void {
  if (!pass) failures++;
  console.log(`@@RESULT ${runtime}.api.${name} ${pass ? "PASS" : "FAIL"} ${detail}`);
}

/** Runs one check; a throw becomes a FAIL line with the error. */
function check(name: string, body: () => [boolean, string]): void {
  let pass = false;
  let detail = "";
  try {
    [pass, detail] = body();
  } catch (error) {
    const e = error as PerfError;
    detail = `threw ${e?.name}: code=${e?.code} ${String(e?.message).replaceAll("\n", " ")}` +
      (e?.hint ? ` hint="${e.hint}"` : "");
  }
  result(name, pass, detail);
}

/** A loop whose work grows with `n` and that the JIT cannot remove. */
let sink = 0;
function work(n: number): number {
  let x = sink;
  for (let i = 0; i < n; i++) x = (x + i) | 0;
  sink = x;
  return x;
}

const block = new Uint8Array(4096);

/** `n` fills of a 4 KiB block: work whose cost follows `n`, whatever the JIT. */
function fillBlocks(n: number): void {
  for (let i = 0; i < n; i++) block.fill(i & 0xff);
}

/** Burns about `n` loop iterations so two opens are far apart in cycles. */
function gap(n = 200_000): void {
  work(n);
}

/**
 * `samples` triples a <= u <= b: a and b by read(2) on the counter's fd,
 * u by the userspace path (readDetailed, which says how it was served).
 */
function bracket(c: Counter, samples: number): { good: number; why: string } {
  let good = 0;
  let why = "";
  for (let i = 0; i < samples; i++) {
    const a = c.readSyscall();
    const u = c.readDetailed();
    const b = c.readSyscall();
    if (u.source === "userspace" && a <= u.value && u.value <= b) {
      good++;
    } else if (!why) {
      why = ` first_bad=${i}(a=${a},u=${u.value},b=${b},source=${u.source},index=${u.index})`;
    }
    work(20 + i);
  }
  return { good, why };
}

/** The same through the hot path read(), counted by the core's stats. */
function hotBracket(c: Counter, samples: number): { good: number; userspaceReads: number } {
  const before = c.stats().userspaceReads;
  let good = 0;
  for (let i = 0; i < samples; i++) {
    const a = c.readSyscall();
    const u = c.read();
    const b = c.readSyscall();
    if (a <= u && u <= b) good++;
  }
  return { good, userspaceReads: c.stats().userspaceReads - before };
}

function pageFacts(c: Counter): string {
  const cap = c.capabilities;
  return `cap_user_rdpmc=${cap.userRdpmc ? 1 : 0} index=${cap.index} pmc_width=${cap.pmcWidth} ` +
    `config1=0x${cap.config1.toString(16)} userspace_active=${cap.userspaceActive}`;
}

function checkRequire(expectWidth: number): void {
  check("require", () => {
    using c = Counter.open("cycles", { userspace: "require" });
    gap();
    const d = c.readDetailed();
    const cap = c.capabilities;
    const pass = d.source === "userspace" && cap.userRdpmc && cap.index === 32 &&
      d.index === 32 && cap.pmcWidth === expectWidth && d.value > 0;
    return [
      pass,
      `source=${d.source} value=${d.value} ${pageFacts(c)} expect_width=${expectWidth}`,
    ];
  });
}

function checkBracket(): void {
  check("bracket", () => {
    using c = Counter.open("cycles", { userspace: "require" });
    const slow = bracket(c, BRACKET_SAMPLES);
    const hot = hotBracket(c, BRACKET_SAMPLES);
    const pass = slow.good === BRACKET_SAMPLES && hot.good === BRACKET_SAMPLES &&
      hot.userspaceReads === BRACKET_SAMPLES;
    return [
      pass,
      `bracket=${slow.good}/${BRACKET_SAMPLES} hot_read_bracket=${hot.good}/${BRACKET_SAMPLES} ` +
      `hot_userspace_reads=${hot.userspaceReads}${slow.why}`,
    ];
  });
}

/** Pairs of `values` out of order: i < j with values[i] >= values[j]. */
function inversions(values: readonly number[]): number {
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    for (let j = i + 1; j < values.length; j++) if (values[i] >= values[j]) count++;
  }
  return count;
}

function checkGrow(): void {
  check("grow", () => {
    using c = Counter.open("cycles", { userspace: "require" });
    // Doubling sizes, and the least of 10 rounds per size: a preempted vCPU
    // (cycles follow guest time without icount) inflates single samples,
    // never the least of them. Each iteration fills a 4 KiB block in native
    // code, so the JIT tier the loop itself runs in (which varied in Bun
    // from round to round and from size to size: 12 cycles per iteration of
    // a plain JS loop at one size, 3 at the next) is a small part of the cost.
    const sizes = [1, 2, 4, 8, 16].map((k) => k * 25);
    const least = sizes.map(() => Infinity);
    for (const n of sizes) fillBlocks(n);
    // The order rotates each round: once in Bun one size came out ~5 M
    // cycles slow in all 7 rounds (5 103 628 for 200 blocks against 812 736
    // for 400), a disturbance at the same place in every round; rotated, it
    // cannot fall on the same size every time.
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < sizes.length; k++) {
        const i = (k + round) % sizes.length;
        const before = c.read();
        fillBlocks(sizes[i]);
        least[i] = Math.min(least[i], c.read() - before);
      }
    }
    // Grows with the work: at most one pair of sizes out of order, and the
    // largest above the smallest. Once in Bun (max boot, no icount) the
    // smallest size came out slow in all 10 rounds (46 159 cycles for 25
    // blocks, 33 750 for 50) while the other four still doubled.
    const outOfOrder = inversions(least);
    const grows = outOfOrder <= 1 && least[least.length - 1] > least[0];
    return [
      grows && least[0] > 0,
      `sizes=${sizes.join(",")} least_deltas=${least.join(",")} out_of_order=${outOfOrder}`,
    ];
  });
}

function checkMulti(rawCount: number): void {
  check("multi", () => {
    const counters: Counter[] = [];
    try {
      counters.push(Counter.open("cycles", { userspace: "require" }));
      for (let i = 0; i < rawCount; i++) {
        // Far apart in cycles, so a counter read through another counter's
        // register would land outside its own read() bracket.
        gap();
        counters.push(Counter.open("r11", { userspace: "require" }));
      }
      gap();
      const parts: string[] = [];
      const indices = new Set<number>();
      let own = true;
      for (const [i, c] of counters.entries()) {
        const cap = c.capabilities;
        indices.add(cap.index);
        const b = bracket(c, 200);
        if (b.good !== 200 || !cap.userspaceActive) own = false;
        parts.push(
          `${i === 0 ? "cycles" : "r11"}:idx=${cap.index},w=${cap.pmcWidth},` +
            `cfg1=0x${cap.config1.toString(16)},br=${b.good}/200${b.why}`,
        );
      }
      const want = [32, ...Array.from({ length: rawCount }, (_, i) => i + 1)];
      const placed = want.every((i) => indices.has(i)) && indices.size === want.length;
      return [
        own && placed,
        `counters=${counters.length} indices_ok=${placed ? 1 : 0} ${parts.join(" ")}`,
      ];
    } finally {
      for (const c of counters) c.close();
    }
  });
}

function checkWrap32(): void {
  check("wrap32", () => {
    // cortex-a57 has no 64-bit event counters: the core's config1=0x3 must be
    // refused for INSTRUCTIONS and retried with 0x2, giving pmc_width 32.
    using c = Counter.open("instructions:u", { userspace: "require" });
    const cap = c.capabilities;
    if (cap.pmcWidth !== 32 || cap.config1 !== 2) {
      return [false, `want pmc_width=32 config1=0x2: ${pageFacts(c)}`];
    }
    const target = TWO_POW_32 + 2 ** 28;
    const t0 = performance.now();
    while (c.readSyscall() < target) work(5_000_000);
    const secs = (performance.now() - t0) / 1000;
    const b = bracket(c, BRACKET_SAMPLES);
    const a = c.readSyscall();
    const u = c.readDetailed();
    const big = c.readBigInt();
    const z = c.readSyscall();
    const pass = b.good === BRACKET_SAMPLES && u.source === "userspace" && u.value > TWO_POW_32 &&
      a <= u.value && u.value <= z && BigInt(a) <= big && big <= BigInt(z);
    return [
      pass,
      `${pageFacts(c)} read=${a} user=${u.value} bigint=${big} read2=${z} ` +
      `bracket=${b.good}/${BRACKET_SAMPLES} secs=${secs.toFixed(1)}${b.why}`,
    ];
  });
}

function checkIcount(): void {
  check("icount", () => {
    using c = Counter.open("instructions:u", { userspace: "require" });
    const K = 10_000;
    const rounds = 300;
    const kept = 5;
    const countsK = new Float64Array(kept);
    let count2K = 0;
    // Every sample comes from the same call site as the warm-up, so the JIT
    // has installed its final code for it; the last rounds are the samples.
    for (let round = 0; round < rounds + kept; round++) {
      let before = c.read();
      work(K);
      const k = c.read() - before;
      before = c.read();
      work(2 * K);
      const k2 = c.read() - before;
      if (round >= rounds) {
        countsK[round - rounds] = k;
        count2K = k2;
      }
    }
    const counts = Array.from(countsK);
    const same = counts.filter((n) => n === counts[0]).length;
    // The loop body is at least add, compare and branch: 3 instructions.
    const body = 3;
    const need = counts[0] + K * body;
    const perIteration = (count2K - counts[0]) / K;
    return [
      same === kept && count2K >= need,
      `source=${c.readDetailed().source} K=${K} counts=${counts.join(",")} same=${same}/${kept} ` +
      `count2K=${count2K} need>=${need} per_iteration=${perIteration}`,
    ];
  });
}

function checkRequireRefused(): void {
  check("require-refused", () => {
    try {
      using c = Counter.open("cycles", { userspace: "require" });
      return [false, `opened anyway: ${pageFacts(c)}`];
    } catch (error) {
      if (!(error instanceof PerfError)) throw error;
      const hint = error.hint ?? "";
      return [
        hint.includes("perf_user_access"),
        `code=${error.code} hint="${hint}"`,
      ];
    }
  });
}

function checkAutoSyscall(): void {
  check("auto-syscall", () => {
    using c = Counter.open("cycles", { userspace: "auto" });
    const first = c.readDetailed();
    work(100_000);
    const second = c.readDetailed();
    const pass = first.source === "syscall" && second.source === "syscall" &&
      second.value > first.value && first.value > 0;
    return [
      pass,
      `source=${second.source} values=${first.value},${second.value} attempts=${second.attempts} ` +
      pageFacts(c),
    ];
  });
}

function checkOffCost(): void {
  // `auto` over `off` read cost when perf_user_access=0 (both end in read(2)).
  // The spin phase this guards against would add 1000 seqlock attempts to
  // every read; that none is made is checked exactly below (last_attempts
  // 0). 2, not 1.5: one CI run measured 1.52 in Bun, as the least of five
  // rounds, where other runs measured 1.02 to 1.09.
  const OFF_COST_RATIO_MAX = 2;
  check("off-cost", () => {
    using auto = Counter.open("cycles", { userspace: "auto" });
    using off = Counter.open("cycles", { userspace: "off" });
    const N = 10_000;
    const time = (c: Counter): number => {
      const t0 = performance.now();
      for (let i = 0; i < N; i++) c.read();
      return performance.now() - t0;
    };
    time(auto); // warm both paths
    time(off);
    // The least of five alternating rounds each: the other boot shares the
    // host, and interference only adds (one CI run: 1.56 from single rounds).
    let tAuto = Infinity;
    let tOff = Infinity;
    for (let round = 0; round < 5; round++) {
      tAuto = Math.min(tAuto, time(auto));
      tOff = Math.min(tOff, time(off));
    }
    const ratio = tAuto / tOff;
    const s = auto.stats();
    // With perf_user_access=0 the core reads the knob and sends "auto" to
    // read(2) at once: no fast-spin phase, so about the cost of "off".
    return [
      ratio <= OFF_COST_RATIO_MAX && s.exhausted === 0 && s.lastAttempts === 0,
      `ratio=${ratio.toFixed(2)} (limit ${OFF_COST_RATIO_MAX}) auto_ms=${tAuto.toFixed(1)} ` +
      `read_ms=${tOff.toFixed(1)} ` +
      `reads=${N} last_attempts=${s.lastAttempts} last_yields=${s.lastYields} ` +
      `syscall_reads=${s.syscallReads} index_zero_fallbacks=${s.indexZeroFallbacks}`,
    ];
  });
}

/**
 * A group of cycles and four raw r11 read with one readInto() from
 * userspace (every member under its own seqlock), bracketed by each member's
 * read(2) before and after, 200/200; and the cost of that read against the
 * same group read with one read(2) (a second group opened with userspace
 * "off"), reported with the numbers: emulated times.
 */
function checkGroup(): void {
  check("group", () => {
    const events = ["cycles", "r11", "r11", "r11", "r11"];
    const n = events.length;
    const buffer = new Float64Array(n + 2);
    const N = 2000;
    const time = (group: Group): number => {
      group.readInto(buffer);
      const t0 = performance.now();
      for (let i = 0; i < N; i++) group.readInto(buffer);
      return (performance.now() - t0) / N;
    };
    // One group at a time: two groups of five would not fit the PMU's
    // counters together, and the kernel would multiplex them (index 0, read(2)).
    let good = 0;
    let userspace = 0;
    let why = "";
    let userMs = 0;
    let stats = "";
    {
      using g = Group.open(events, { userspace: "auto" });
      const before = new Float64Array(n);
      const after = new Float64Array(n);
      for (let s = 0; s < 200; s++) {
        for (let i = 0; i < n; i++) before[i] = g.counters[i].readSyscall();
        const source = g.readInto(buffer);
        for (let i = 0; i < n; i++) after[i] = g.counters[i].readSyscall();
        if (source === "userspace") userspace++;
        let ok = source === "userspace";
        for (let i = 0; i < n; i++) {
          if (!(before[i] <= buffer[i] && buffer[i] <= after[i])) {
            ok = false;
            if (!why) {
              why = ` first_bad=${s}(member=${i},a=${before[i]},u=${buffer[i]},b=${after[i]},` +
                `source=${source})`;
            }
          }
        }
        if (ok) good++;
        work(20 + s);
      }
      userMs = time(g);
      // Which member sent reads to read(2), and how: the core's own counts.
      stats = g.counters.map((c, i) => {
        const s = c.stats();
        return `m${i}:user=${s.userspaceReads},sys=${s.syscallReads},idx0=${s.indexZeroFallbacks}`;
      }).join(" ");
    }
    let syscallMs = 0;
    {
      using off = Group.open(events, { userspace: "off" });
      syscallMs = time(off);
    }
    const ratio = syscallMs / userMs;
    return [
      // The bracket is the fact checked here; the cost ratio is reported,
      // not asserted: under TCG every PMU register read is an emulator
      // helper call, so it says little about hardware (issue target: 10x).
      good === 200,
      `members=${n} bracket=${good}/200 userspace_reads=${userspace}/200 ` +
      `group_read2_over_userspace=${ratio.toFixed(1)}x (target 10, not asserted: emulated) ` +
      `userspace_ns=${(userMs * 1e6).toFixed(0)} read2_ns=${(syscallMs * 1e6).toFixed(0)}${why} ` +
      stats,
    ];
  });
}

const version = host.Deno
  ? `deno ${host.Deno.version.deno}`
  : host.Bun
  ? `bun ${host.Bun.version}`
  : `node ${host.process?.versions.node}`;
console.log(`@@INFO ${runtime}.api run=${run} ${version}`);

switch (run) {
  case "max":
    checkRequire(64);
    checkBracket();
    checkGrow();
    checkMulti(6);
    checkGroup();
    break;
  case "a57":
    // CPU_CYCLES keeps the 64-bit cycle counter even on cortex-a57.
    checkRequire(64);
    checkBracket();
    checkGrow();
    checkWrap32();
    break;
  case "icount":
    checkRequire(64);
    checkIcount();
    break;
  case "off":
    checkRequireRefused();
    checkAutoSyscall();
    checkOffCost();
    break;
  default:
    result("run", false, `unknown run ${run}`);
}
if (host.Deno) host.Deno.exitCode = failures === 0 ? 0 : 1;
else if (host.process) host.process.exitCode = failures === 0 ? 0 : 1;
