// Hybrid and heterogeneous core PMUs (Intel cpu_core/cpu_atom, Arm
// big.LITTLE), driven by sysfs fixture trees of such machines; and what the
// real kernel here says to an extended type it cannot serve.
//
// Expected values come from perf and the kernel, not from this code:
// - tools/perf/Documentation/intel-hybrid.txt: "The PMU type ID is stored at
//   attr.config[63:32]", layouts 0xEEEEEEEE000000AA (hardware) and
//   0xEEEEEEEE00DDCCBB (cache), `perf stat -e cycles` opening config
//   0x400000000 for cpu_core (type 4) and one event per PMU named
//   `cpu_core/cycles/`, `cpu_atom/cycles/`.
// - tools/perf/util/pmu.c: is_pmu_core() is `cpu`, `cpum_cf` or a PMU with
//   a `cpus` file; pmu_cpumask() reads `cpumask`, then `cpus`, else (core
//   PMU) all online CPUs. pmus.c sorts core PMUs by name and
//   perf_pmus__supports_extended_type() needs more than one core PMU.
// - tools/perf/util/parse-events.c: a legacy term on a core PMU
//   (`cpu_core/cycles/`) is PERF_TYPE_HARDWARE with the PMU's type in
//   config[63:32] only when extended types are in use.
// - kernel/events/core.c perf_init_event(): an extended type naming a PMU
//   without PERF_PMU_CAP_EXTENDED_HW_TYPE, or no PMU, fails with ENOENT.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Counter, Group, parseEvent, PerfError, probe } from "../mod.ts";
import {
  corePmus,
  listPmus,
  parseCpuList,
  setSysfsReader,
  type SysfsReader,
} from "../src/_sysfs.ts";
import { writeAttr } from "../src/_attr.ts";
import { ATTR_SIZE } from "../src/ffi/symbols.ts";
import type { Native } from "../src/loader/native.ts";
import type { EventSpec } from "../src/event.ts";
import { combineParts, partNames } from "../src/_hybrid.ts";
import { openCounter } from "../src/counter.ts";
import { roleOf } from "../src/cli/stat.ts";
import { diagnose } from "../src/cli/doctor.ts";
import { formatCores } from "../src/cli/list.ts";
import { resolveOptions } from "../src/_options.ts";
import { busy, expectPerfError, perfFds, touchNewPages } from "./_helpers.ts";

/** A reader over test/fixtures/sysfs/<machine>, standing in for /sys. */
function fixtureReader(machine: string): SysfsReader {
  const root = fileURLToPath(new URL(`./fixtures/sysfs/${machine}`, import.meta.url));
  const local = (path: string) => (path.startsWith("/sys/") ? root + path.slice(4) : undefined);
  const missing = (error: unknown) => {
    const code = (error as { code?: string }).code;
    return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
  };
  return {
    readText(path) {
      const file = local(path);
      if (file === undefined) return null;
      try {
        return readFileSync(file, "utf8");
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
    listDir(path) {
      const dir = local(path);
      if (dir === undefined) return null;
      try {
        return readdirSync(dir);
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
  };
}

/** Runs `fn` on the fixture machine, and always goes back to the real sysfs. */
function on<T>(machine: string, fn: () => T): T {
  setSysfsReader(fixtureReader(machine));
  try {
    return fn();
  } finally {
    setSysfsReader(undefined);
  }
}

/** The attr bytes perfmmap would hand the kernel for `spec` (default flags). */
function attrOf(spec: EventSpec): { type: number; size: number; config: bigint; config1: bigint } {
  const attr = new Uint8Array(ATTR_SIZE);
  const fake = { attr, attrView: new DataView(attr.buffer) } as unknown as Native;
  writeAttr(fake, {
    spec,
    exclude: { user: false, kernel: false, hv: false, idle: false, host: false, guest: false },
    inherit: false,
    pinned: false,
    exclusive: false,
    disabled: false,
    precise: 0,
    readFormat: 3,
  });
  const view = new DataView(attr.buffer);
  return {
    type: view.getUint32(0, true),
    size: view.getUint32(4, true),
    config: view.getBigUint64(8, true),
    config1: view.getBigUint64(56, true),
  };
}

const SHIFT = 32n;

describe("core PMUs from sysfs", () => {
  it("Alder Lake: cpu_atom and cpu_core with their cpus files, in perf's (name) order", () => {
    const cores = on("alderlake", () => corePmus());
    assert.deepEqual(cores.map(({ name, type, cpus }) => ({ name, type, cpus })), [
      { name: "cpu_atom", type: 10, cpus: "16-23" },
      { name: "cpu_core", type: 4, cpus: "0-15" },
    ]);
    assert.deepEqual(cores[0].cpuList, [16, 17, 18, 19, 20, 21, 22, 23]);
    assert.equal(cores[1].cpuList.length, 16);
  });

  it("big.LITTLE: one armv8 PMU per cluster; uncore and software PMUs are not core", () => {
    const cores = on("biglittle", () => corePmus());
    assert.deepEqual(cores.map(({ name, type, cpus }) => ({ name, type, cpus })), [
      { name: "armv8_cortex_a53", type: 8, cpus: "0-3" },
      { name: "armv8_cortex_a72", type: 9, cpus: "4-5" },
    ]);
    const alder = on("alderlake", () => corePmus().map((p) => p.name));
    assert.ok(!alder.includes("uncore_imc_free_running_0"), "a cpumask file is uncore, not core");
  });

  it("a plain machine: the cpu PMU, without a cpus file, covers every online CPU", () => {
    const cores = on("plain", () => corePmus());
    assert.deepEqual(cores, [{
      name: "cpu",
      type: 4,
      cpus: "0-7",
      cpuList: [0, 1, 2, 3, 4, 5, 6, 7],
    }]);
  });

  it("CPU lists parse as sysfs writes them, and malformed ones are refused", () => {
    assert.deepEqual(parseCpuList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
    assert.deepEqual(parseCpuList(""), []);
    assert.equal(parseCpuList("3-1"), null);
    assert.equal(parseCpuList("a"), null);
    assert.equal(parseCpuList("0-999999999"), null);
  });

  it("switching back to the real sysfs forgets the fixture's PMUs", () => {
    on("alderlake", () => corePmus());
    const real = corePmus().map((p) => p.name);
    assert.ok(!real.includes("cpu_atom") || listPmus().some((p) => p.name === "cpu_atom"));
  });
});

describe("generic events expand to one part per core PMU", () => {
  it("Alder Lake cycles: type 0, config 0xEEEEEEEE00000000 per PMU, named cpu_atom/cycles/ and cpu_core/cycles/", () => {
    const spec = on("alderlake", () => parseEvent("cycles"));
    assert.equal(spec.type, 0);
    assert.equal(spec.config, 0n);
    const parts = spec.parts!;
    assert.deepEqual(parts.map((p) => [p.name, p.pmu, p.type, p.config]), [
      ["cpu_atom/cycles/", "cpu_atom", 0, 10n << SHIFT],
      ["cpu_core/cycles/", "cpu_core", 0, 0x4_0000_0000n],
    ]);
    // The bytes handed to the kernel: intel-hybrid.txt's perf stat attr for cpu_core.
    const attr = attrOf(parts[1]);
    assert.deepEqual(attr, { type: 0, size: ATTR_SIZE, config: 0x400000000n, config1: 0n });
    assert.equal(attrOf(parts[0]).config, 0xa00000000n);
  });

  it("every generic hardware event keeps its id in bits 0-31 (0xEEEEEEEE000000AA)", () => {
    const names = ["instructions", "branches", "branch-misses", "cache-misses", "ref-cycles"];
    const ids = [1n, 4n, 5n, 3n, 9n];
    on("alderlake", () => {
      names.forEach((name, i) => {
        const parts = parseEvent(name).parts!;
        assert.deepEqual(parts.map((p) => p.config), [
          (10n << SHIFT) | ids[i],
          (4n << SHIFT) | ids[i],
        ]);
        assert.ok(parts.every((p) => p.type === 0 && p.kind === "hardware"));
      });
    });
  });

  it("cache events: type 3, config 0xEEEEEEEE00DDCCBB", () => {
    const parts = on("alderlake", () => parseEvent("L1-dcache-load-misses").parts!);
    assert.deepEqual(parts.map((p) => [p.name, p.type, p.config]), [
      ["cpu_atom/L1-dcache-load-misses/", 3, (10n << SHIFT) | 0x10000n],
      ["cpu_core/L1-dcache-load-misses/", 3, (4n << SHIFT) | 0x10000n],
    ]);
    const llc = on("alderlake", () => parseEvent("LLC-store-misses").parts!);
    assert.equal(llc[1].config, (4n << SHIFT) | 0x10102n);
  });

  it("modifiers stay with every part, and the part names carry them perf's way (after the slash)", () => {
    const spec = on("alderlake", () => parseEvent("cycles:u"));
    assert.deepEqual(spec.parts!.map((p) => p.name), ["cpu_atom/cycles/u", "cpu_core/cycles/u"]);
    for (const part of spec.parts!) {
      assert.deepEqual(part.modifiers, {
        excludeUser: false,
        excludeKernel: true,
        excludeHv: true,
      });
    }
    // Each part's name opens that part alone.
    const again = on("alderlake", () => parseEvent(spec.parts![1].name));
    assert.equal(again.config, spec.parts![1].config);
    assert.equal(again.modifiers.excludeKernel, true);
    assert.equal(again.parts, undefined);
  });

  it("big.LITTLE instructions: one part per cluster, armv8 types 8 and 9", () => {
    const parts = on("biglittle", () => parseEvent("instructions").parts!);
    assert.deepEqual(parts.map((p) => [p.name, p.type, p.config]), [
      ["armv8_cortex_a53/instructions/", 0, (8n << SHIFT) | 1n],
      ["armv8_cortex_a72/instructions/", 0, (9n << SHIFT) | 1n],
    ]);
  });

  it("a plain machine opens no parts and no extended type (perf: one core PMU, no extended type)", () => {
    on("plain", () => {
      const cycles = parseEvent("cycles");
      assert.equal(cycles.parts, undefined);
      assert.equal(cycles.config, 0n);
      const pmu = parseEvent("cpu/cycles/");
      assert.deepEqual([pmu.type, pmu.config], [0, 0n]);
    });
  });

  it("software, raw and object events never expand", () => {
    on("alderlake", () => {
      assert.equal(parseEvent("task-clock").parts, undefined);
      assert.equal(parseEvent("page-faults:u").parts, undefined);
      // PERF_TYPE_RAW is type 4, the PMU cpu_core registered as (the big core).
      const raw = parseEvent("r1a8");
      assert.deepEqual([raw.type, raw.config, raw.parts], [4, 0x1a8n, undefined]);
      const object = parseEvent({ type: 0, config: 0 });
      assert.equal(object.parts, undefined);
    });
  });
});

describe("pmu/event/ names one PMU exactly", () => {
  it("cpu_core/cycles/ and cpu_atom/branches/: PERF_TYPE_HARDWARE with that PMU's extended type", () => {
    on("alderlake", () => {
      const core = parseEvent("cpu_core/cycles/");
      assert.deepEqual([core.type, core.config, core.pmu, core.parts], [
        0,
        0x400000000n,
        "cpu_core",
        undefined,
      ]);
      const atom = parseEvent("cpu_atom/branches/");
      assert.deepEqual([atom.type, atom.config], [0, 0xa00000004n]);
      const cache = parseEvent("cpu_atom/L1-icache-loads/");
      assert.deepEqual([cache.type, cache.config], [3, (10n << SHIFT) | 0x1n]);
    });
  });

  it("the generic name wins over a sysfs alias of the same name; other aliases resolve as before", () => {
    // x86 lists cpu-cycles and instructions in events/ too (event=0x3c, 0xc0);
    // the generic event is what the name means, and what a part opens.
    const generic = on("alderlake", () => parseEvent("cpu_core/cpu-cycles/"));
    assert.deepEqual([generic.type, generic.config], [0, 0x400000000n]);
    const instructions = on("alderlake", () => parseEvent("cpu_atom/instructions/"));
    assert.deepEqual([instructions.type, instructions.config], [0, 0xa00000001n]);
    const alias = on("alderlake", () => parseEvent("cpu_core/topdown-retiring/"));
    assert.deepEqual([alias.type, alias.config], [4, 0x8000n]);
    const arm = on("biglittle", () => parseEvent("armv8_cortex_a72/cpu_cycles/"));
    assert.deepEqual([arm.type, arm.config], [9, 0x11n]);
    const legacy = on("biglittle", () => parseEvent("armv8_cortex_a53/cycles/"));
    assert.deepEqual([legacy.type, legacy.config], [0, 8n << SHIFT]);
  });

  it("a generic name on a PMU that is not a core PMU is an unknown term", () => {
    on("alderlake", () => expectPerfError(() => parseEvent("msr/cycles/"), "UNKNOWN_TERM"));
  });
});

/** A spec with software parts, so that the parts machinery runs on this VM. */
function softwareParts(): EventSpec {
  const clock = parseEvent("task-clock");
  const faults = parseEvent("page-faults");
  return {
    ...clock,
    name: "both",
    parts: [
      { ...clock, name: "cpu_atom/task-clock/", pmu: "cpu_atom" },
      { ...faults, name: "cpu_core/page-faults/", pmu: "cpu_core" },
    ],
  };
}

describe("a counter of several parts", () => {
  it("read() sums the parts, readDetailed() shows each, close() closes every fd", () => {
    const before = perfFds();
    const counter = openCounter(softwareParts(), resolveOptions("open", {}, { userspace: "auto" }));
    try {
      assert.equal(perfFds(), before + 2, "one fd per part");
      busy(20);
      touchNewPages(64);
      const detailed = counter.readDetailed();
      const parts = detailed.parts!;
      assert.deepEqual(parts.map((p) => [p.name, p.pmu]), [
        ["cpu_atom/task-clock/", "cpu_atom"],
        ["cpu_core/page-faults/", "cpu_core"],
      ]);
      assert.ok(parts[0].value > 1e6, `task-clock part counted ${parts[0].value} ns`);
      assert.ok(parts[1].value >= 64, `page-faults part counted ${parts[1].value}`);
      assert.equal(detailed.value, parts[0].value + parts[1].value);
      assert.equal(detailed.timeRunning, parts[0].timeRunning + parts[1].timeRunning);
      const sum = counter.read();
      assert.ok(sum >= detailed.value, "counts only grow");
      assert.ok(counter.readBigInt() >= BigInt(sum));
      assert.ok(counter.readSyscall() >= sum);
      counter.disable();
      const frozen = counter.read();
      busy(2);
      assert.equal(counter.read(), frozen, "disable() stops every part");
      counter.reset();
      assert.equal(counter.read(), 0, "reset() zeroes every part");
      counter.enable();
      busy(2);
      assert.ok(counter.read() > 0, "enable() starts every part");
      assert.equal(counter.stats().syscallReads > 0, true);
    } finally {
      counter.close();
    }
    assert.equal(perfFds(), before, "close() closes both parts");
    expectPerfError(() => counter.close(), "STALE_HANDLE");
    expectPerfError(() => counter.read(), "STALE_HANDLE");
  });

  it("a part that never ran (the task stayed on the other cores) leaves the sum a count, unscaled", () => {
    using ran = Counter.open("task-clock");
    using idle = Counter.open("task-clock", { enabled: false });
    busy(3);
    const running = { ...ran.readDetailed(), name: "cpu_core/task-clock/", pmu: "cpu_core" };
    const never = { ...idle.readDetailed(), name: "cpu_atom/task-clock/", pmu: "cpu_atom" };
    assert.equal(never.timeRunning, 0);
    const sum = combineParts([never, running]);
    assert.equal(sum.value, running.value);
    assert.equal(sum.timeRunning, running.timeRunning);
    assert.equal(sum.scaled, running.scaled, "no extrapolation for the part that never ran");
    if ("counted" in sum) assert.equal(sum.counted, true);
    const none = combineParts([never, { ...never, name: "cpu_core/task-clock/", pmu: "cpu_core" }]);
    assert.equal(none.timeRunning, 0);
    assert.equal(none.scaled, never.scaled, "no parts ran: the sum is no count either");
    if ("counted" in none) assert.equal(none.counted, false);
  });

  it("a per-CPU counter opens only the part whose PMU covers that CPU", () => {
    const counter = on(
      "alderlake",
      () => openCounter(softwareParts(), resolveOptions("open", { cpu: 0 }, { userspace: "auto" })),
    );
    try {
      assert.equal(
        counter.readDetailed().parts,
        undefined,
        "cpu 0 is a cpu_core CPU: one plain counter",
      );
      assert.equal(counter.event.pmu, "cpu_core");
      assert.equal(counter.event.name, "both");
    } finally {
      counter.close();
    }
  });

  it("sampling and groups refuse an event spread over several PMUs, naming the per-PMU spellings", () => {
    on("alderlake", () => {
      const sampled = expectPerfError(
        () => Counter.open("cycles", { sample: { frequency: 100 } }),
        "MULTIPLE_PMUS",
      );
      assert.match(sampled.hint!, /"cpu_atom\/cycles\/", "cpu_core\/cycles\/"/);
      const before = perfFds();
      const grouped = expectPerfError(
        () => Group.open(["task-clock", "instructions"]),
        "MULTIPLE_PMUS",
      );
      assert.match(grouped.message, /instructions.*cpu_atom, cpu_core/);
      assert.match(grouped.hint!, /"cpu_core\/instructions\/"/);
      assert.equal(perfFds(), before, "nothing left open");
    });
  });
});

describe("the kernel here and the extended type", () => {
  // The arm64 guest's 6.1 kernel opened both PERF_TYPE_HARDWARE cases
  // below: its Arm PMU driver does not check the extended type's bits of a
  // hardware config the way x86 (and later Arm kernels) do.
  const lenient = process.arch === "arm64" &&
    "the arm64 QEMU tier's 6.1 kernel ignores a hardware config's extended-type bits";
  if (lenient) console.log(`SKIP reason: ${lenient}`);
  it("a hardware event whose extended type no PMU has fails with ENOENT, and the hint says why", {
    skip: lenient,
  }, () => {
    const unused = Math.max(...listPmus().map((p) => p.type)) + 1000;
    const error = expectPerfError(
      () => Counter.open({ type: 0, config: BigInt(unused) << SHIFT }),
      "ENOENT",
    );
    assert.equal(error.errno, 2);
    assert.match(error.hint!, new RegExp(`no PMU has that type here`));
    assert.match(error.hint!, new RegExp(`type ${unused}`));
  });

  it("an extended type naming a PMU that takes no generic events (software) fails with ENOENT", {
    skip: lenient,
  }, () => {
    const error = expectPerfError(() => Counter.open({ type: 0, config: 1n << SHIFT }), "ENOENT");
    assert.match(
      error.hint!,
      /PMU "software" \(type 1, the extended type\), which takes no generic/,
    );
  });

  it("a cache event with an extended type is refused the same way", () => {
    const error = expectPerfError(
      () => Counter.open({ type: 3, config: (1n << SHIFT) | 1n }),
      "ENOENT",
    );
    assert.match(error.hint!, /"software"/);
  });

  it("on the fixture hybrid machine, opening cycles here fails with the parts' error and says which PMU refused", (t) => {
    if (corePmus().length > 0) {
      t.skip("this machine has a CPU PMU: the fixture's types would name real PMUs");
      return;
    }
    const before = perfFds();
    const error = on("alderlake", () => expectPerfError(() => Counter.open("cycles"), "ENOENT"));
    assert.match(error.message, /cpu_atom\/cycles\//);
    assert.match(error.hint!, /cpu_atom refused it/);
    assert.ok(error.cause instanceof PerfError);
    assert.equal(perfFds(), before);
  });

  it("probe() lists the core PMUs with their CPUs", () => {
    const info = on("alderlake", () => probe(["task-clock"]));
    assert.deepEqual(info.corePmus.map((p) => `${p.name}:${p.type}:${p.cpus}`), [
      "cpu_atom:10:16-23",
      "cpu_core:4:0-15",
    ]);
    assert.deepEqual(info.cpuPmus, ["cpu_atom", "cpu_core"]);
  });
});

describe("stat, doctor and list on a hybrid machine", () => {
  it("stat counts a generic event as one row per core PMU, named as perf names them", () => {
    on("alderlake", () => {
      assert.deepEqual(partNames("cycles"), ["cpu_atom/cycles/", "cpu_core/cycles/"]);
      assert.deepEqual(partNames("instructions:u"), [
        "cpu_atom/instructions/u",
        "cpu_core/instructions/u",
      ]);
      assert.deepEqual(partNames("task-clock"), ["task-clock"]);
      // Each row keeps its role, so that IPC and the units still work.
      assert.equal(roleOf("cpu_core/cycles/"), "cycles");
      assert.equal(roleOf("cpu_atom/instructions/u"), "instructions");
      assert.equal(roleOf("cpu_atom/branches/"), "branches");
    });
    on("plain", () => assert.deepEqual(partNames("cycles"), ["cycles"]));
  });

  it("doctor names each core PMU with its type and CPUs, and says what several of them mean", () => {
    const report = on("alderlake", () => diagnose());
    const pmu = report.checks.find((c) => c.id === "pmu")!;
    assert.equal(pmu.status, "ok");
    assert.match(pmu.summary, /cpu_atom \(type 10, CPUs 16-23\), cpu_core \(type 4, CPUs 0-15\)/);
    assert.match(pmu.summary, /counts on every one/);
    const arm = on("biglittle", () => diagnose()).checks.find((c) => c.id === "pmu")!;
    assert.match(
      arm.summary,
      /armv8_cortex_a53 \(type 8, CPUs 0-3\), armv8_cortex_a72 \(type 9, CPUs 4-5\)/,
    );
  });

  it("list ends with the core PMUs and their CPUs", () => {
    const hybrid = on("alderlake", () => formatCores(corePmus()));
    assert.match(
      hybrid,
      /^Core PMUs: cpu_atom \(type 10, CPUs 16-23\), cpu_core \(type 4, CPUs 0-15\)\./,
    );
    assert.match(hybrid, /cpu_atom\/cycles\//);
    assert.equal(on("plain", () => formatCores(corePmus())), "Core PMU: cpu (type 4, CPUs 0-7).\n");
    assert.match(formatCores([]), /No core PMU/);
  });
});
