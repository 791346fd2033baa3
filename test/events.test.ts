// Event syntax: generic names, modifiers, cache events, raw events, PMU
// strings with format bit ranges and aliases; and the events listing.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { listEvents, parseEvent, probe } from "../mod.ts";
import { formatWidth, parseFormat, placeBits } from "../src/_pmu.ts";
import { cacheEventNames } from "../src/_event_tables.ts";

describe("generic events", () => {
  const cases: [string, number, bigint][] = [
    ["cycles", 0, 0n],
    ["cpu-cycles", 0, 0n],
    ["instructions", 0, 1n],
    ["cache-references", 0, 2n],
    ["cache-misses", 0, 3n],
    ["branches", 0, 4n],
    ["branch-instructions", 0, 4n],
    ["branch-misses", 0, 5n],
    ["bus-cycles", 0, 6n],
    ["stalled-cycles-frontend", 0, 7n],
    ["stalled-cycles-backend", 0, 8n],
    ["ref-cycles", 0, 9n],
    ["cpu-clock", 1, 0n],
    ["task-clock", 1, 1n],
    ["page-faults", 1, 2n],
    ["faults", 1, 2n],
    ["context-switches", 1, 3n],
    ["cs", 1, 3n],
    ["cpu-migrations", 1, 4n],
    ["migrations", 1, 4n],
    ["minor-faults", 1, 5n],
    ["major-faults", 1, 6n],
    ["alignment-faults", 1, 7n],
    ["emulation-faults", 1, 8n],
    ["dummy", 1, 9n],
  ];
  for (const [name, type, config] of cases) {
    it(`${name} is type ${type} config ${config}`, () => {
      const spec = parseEvent(name);
      assert.equal(spec.type, type);
      assert.equal(spec.config, config);
      assert.equal(spec.name, name);
    });
  }

  it("modifiers set the exclude bits as perf does", () => {
    assert.deepEqual(parseEvent("instructions:u").modifiers, {
      excludeUser: false,
      excludeKernel: true,
      excludeHv: true,
    });
    assert.deepEqual(parseEvent("cycles:k").modifiers, {
      excludeUser: true,
      excludeKernel: false,
      excludeHv: true,
    });
    assert.deepEqual(parseEvent("cycles:uk").modifiers, {
      excludeUser: false,
      excludeKernel: false,
      excludeHv: true,
    });
    assert.deepEqual(parseEvent("cycles:ppD").modifiers, { precise: 2, pinned: true });
    assert.deepEqual(parseEvent("cycles").modifiers, {});
    assert.deepEqual(parseEvent("cycles:HI").modifiers, { excludeGuest: true, excludeIdle: true });
  });
});

describe("cache events", () => {
  const cases: [string, number][] = [
    ["L1-dcache-loads", 0x0_00_00],
    ["L1-dcache-load-misses", 0x1_00_00],
    ["L1-dcache-stores", 0x0_01_00],
    ["L1-dcache-store-misses", 0x1_01_00],
    ["L1-dcache-prefetches", 0x0_02_00],
    ["L1-dcache-prefetch-misses", 0x1_02_00],
    ["L1-icache-loads", 0x0_00_01],
    ["L1-icache-load-misses", 0x1_00_01],
    ["LLC-loads", 0x0_00_02],
    ["LLC-load-misses", 0x1_00_02],
    ["LLC-store-misses", 0x1_01_02],
    ["dTLB-loads", 0x0_00_03],
    ["dTLB-load-misses", 0x1_00_03],
    ["iTLB-load-misses", 0x1_00_04],
    ["branch-loads", 0x0_00_05],
    ["branch-load-misses", 0x1_00_05],
    ["node-loads", 0x0_00_06],
    ["node-store-misses", 0x1_01_06],
    // perf's aliases and defaults
    ["l1d-read-miss", 0x1_00_00],
    ["L1-data-write-access", 0x0_01_00],
    ["LLC-misses", 0x1_00_02],
    ["L2-speculative-read-misses", 0x1_02_02],
    ["Data-TLB-loads", 0x0_00_03],
    ["l1-i-load-misses:u", 0x1_00_01],
  ];
  for (const [name, config] of cases) {
    it(`${name} is type 3 config 0x${config.toString(16)}`, () => {
      const spec = parseEvent(name);
      assert.equal(spec.type, 3);
      assert.equal(spec.kind, "cache");
      assert.equal(spec.config, BigInt(config));
    });
  }

  it("every listed cache event parses back to its config", () => {
    const names = cacheEventNames();
    assert.ok(names.length >= 30);
    for (const { name, config } of names) assert.equal(parseEvent(name).config, BigInt(config));
  });
});

describe("raw and object events", () => {
  it("r<hex> is a raw event", () => {
    const spec = parseEvent("r1a8");
    assert.equal(spec.type, 4);
    assert.equal(spec.kind, "raw");
    assert.equal(spec.config, 0x1a8n);
    assert.equal(parseEvent("rFFFFFFFFFFFFFFFF").config, (1n << 64n) - 1n);
    assert.equal(parseEvent("r0:u").modifiers.excludeKernel, true);
  });

  it("the object form takes numbers and bigints", () => {
    const spec = parseEvent({ type: 4, config: 0x1a8, config1: 3n, config2: 1, config3: 2n });
    assert.deepEqual(
      [spec.type, spec.config, spec.config1, spec.config2, spec.config3, spec.kind],
      [4, 0x1a8n, 3n, 1n, 2n, "raw"],
    );
    assert.equal(parseEvent({ type: 1, config: 1 }).kind, "software");
    assert.equal(parseEvent({ type: 9, config: 0, name: "tsc" }).name, "tsc");
    assert.equal(parseEvent({ type: 9, config: (1n << 64n) - 1n }).config, (1n << 64n) - 1n);
  });
});

describe("PMU format bit ranges", () => {
  it("parses sysfs format lines", () => {
    assert.deepEqual(parseFormat("config:0-7"), { field: "config", ranges: [[0, 7]] });
    assert.deepEqual(parseFormat("config:0-7,32-35"), {
      field: "config",
      ranges: [[0, 7], [32, 35]],
    });
    assert.deepEqual(parseFormat("config1:8"), { field: "config1", ranges: [[8, 8]] });
    assert.deepEqual(parseFormat("config3:0-63\n"), { field: "config3", ranges: [[0, 63]] });
    assert.equal(parseFormat("config:7-0"), null);
    assert.equal(parseFormat("config:0-64"), null);
    assert.equal(parseFormat("period:0-7"), null);
  });

  it("splits a value over disjoint ranges, low bits first", () => {
    const spec = parseFormat("config:0-7,32-35")!;
    assert.equal(formatWidth(spec), 12);
    const placed = placeBits(0xabcn, spec)!;
    assert.equal(placed.bits, 0xbcn | (0xan << 32n));
    assert.equal(placed.mask, 0xffn | (0xfn << 32n));
    assert.equal(placeBits(0x1000n, spec), null, "13 bits do not fit 12");
    assert.equal(placeBits(0xfffn, spec)!.bits, 0xffn | (0xfn << 32n));
  });

  it("places a single-bit flag", () => {
    const spec = parseFormat("config:18")!;
    assert.equal(placeBits(1n, spec)!.bits, 1n << 18n);
    assert.equal(placeBits(2n, spec), null);
  });
});

describe("sysfs PMUs", () => {
  it("resolves a PMU's type, format terms and aliases from sysfs", (t) => {
    const pmus = probe([]).pmus;
    const msr = pmus.find((pmu) => pmu.name === "msr");
    if (msr === undefined) {
      // Not an x86 machine: the software PMU has a type but no terms.
      const software = pmus.find((pmu) => pmu.name === "software")!;
      const spec = parseEvent("software/config=3/");
      assert.equal(spec.type, software.type);
      assert.equal(spec.config, 3n);
      t.diagnostic("no msr PMU: checked software/config=3/ only");
      return;
    }
    const byAlias = parseEvent("msr/tsc/");
    assert.equal(byAlias.type, msr.type);
    assert.equal(byAlias.kind, "pmu");
    assert.equal(byAlias.pmu, "msr");
    const byTerm = parseEvent("msr/event=0x5/");
    assert.equal(byTerm.config, 5n);
    const overridden = parseEvent("msr/tsc,event=0x2/");
    assert.equal(overridden.config, 2n, "explicit terms win over the alias");
    const withModifier = parseEvent("msr/event=1/u");
    assert.equal(withModifier.modifiers.excludeKernel, true);
    assert.equal(parseEvent("tsc").pmu, "msr", "a bare alias is searched in every PMU");
  });

  it("the software PMU takes config terms directly", () => {
    const spec = parseEvent("software/config=0x2,config1=7/");
    assert.equal(spec.type, 1);
    assert.equal(spec.config, 2n);
    assert.equal(spec.config1, 7n);
  });
});

describe("listEvents", () => {
  it("lists generic, software, cache and PMU events and says which open", () => {
    const events = listEvents();
    const byName = new Map(events.map((e) => [e.name, e]));
    assert.ok(events.length >= 10 + 12 + 30);
    for (const name of ["cpu-cycles", "task-clock", "L1-dcache-load-misses"]) {
      assert.ok(byName.has(name), name);
    }
    assert.equal(byName.get("task-clock")!.opens, true);
    assert.equal(byName.get("page-faults")!.opens, true);
    const info = probe();
    assert.equal(byName.get("cpu-cycles")!.opens, info.events.cycles.opens);
    for (const event of events) {
      assert.equal(typeof event.opens, "boolean");
      if (!event.opens) assert.equal(typeof event.code, "string", event.name);
    }
    const pmuEvents = events.filter((e) => e.kind === "pmu");
    for (const event of pmuEvents) assert.match(event.name, /^[^/]+\/[^/]+\/$/);
  });

  it("filters, and can skip the open check", () => {
    const events = listEvents({ filter: "CLOCK", check: false });
    assert.deepEqual(events.map((e) => e.name).sort(), ["cpu-clock", "task-clock"]);
    assert.equal(events[0].opens, undefined);
  });
});

describe("probe", () => {
  it("reports this machine", () => {
    const info = probe();
    assert.ok(info.runtime === "deno" || info.runtime === "bun");
    assert.equal(info.abiVersion, 1);
    assert.equal(info.sysname, "Linux");
    assert.ok(info.arch === "x86_64" || info.arch === "aarch64", info.arch);
    assert.match(info.kernel, /^\d+\.\d+/);
    assert.ok(info.paranoid === null || Number.isInteger(info.paranoid));
    assert.ok(info.pmus.some((pmu) => pmu.name === "software" && pmu.type === 1));
    assert.equal(info.events["task-clock"].opens, true);
    assert.equal(info.events["task-clock"].userspace, false);
    assert.equal(info.events["task-clock"].source, "syscall");
    if (!info.hardwareEvents) {
      assert.match(info.events.cycles.hint ?? "", /PMU/);
    }
    if (info.arch === "x86_64") assert.equal(info.perfUserAccess, null);
  });
});
