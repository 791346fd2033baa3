// The demo: opens counters, measures a built-in workload, and prints what
// each counter saw and how it was read. Runs unchanged under both runtimes:
//
//   deno run --allow-ffi examples/demo.ts
//   bun examples/demo.ts
//
// A counter this machine cannot count is shown as "not supported" with the
// reason; it is never shown as 0.

import { Counter, PerfError, probe } from "../mod.ts";
import { SimulatedCounter } from "../src/testing.ts";

const EVENTS = [
  "cycles",
  "instructions",
  "branch-misses",
  "L1-dcache-load-misses",
  "task-clock",
  "page-faults",
  "context-switches",
  "cpu-migrations",
];

const PAGES = 4096;
const reasons: string[] = [];
const SLEEPS = 5;

/** The built-in workload: touch 16 MiB, sort 200 000 numbers, sleep 5 x 2 ms. */
function workload(): number {
  const memory = new Uint8Array(PAGES * 4096);
  for (let i = 0; i < memory.length; i += 4096) memory[i] = 1;
  const numbers = Float64Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 200_003);
  numbers.sort();
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < SLEEPS; i++) Atomics.wait(cell, 0, 0, 2);
  return memory[0] + numbers[0];
}

/** Median nanoseconds of one read(), over batches, after a warm-up. */
function readCost(counter: Counter): number {
  const batch = 5000;
  const batches: number[] = [];
  let sink = 0;
  for (let b = -3; b < 9; b++) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) sink += counter.read();
    if (b >= 0) batches.push(((performance.now() - start) * 1e6) / batch);
  }
  if (sink < 0) console.log(sink);
  return batches.sort((a, b) => a - b)[4];
}

interface Row {
  event: string;
  count: string;
  source: string;
  cost: string;
  note: string;
}

function format(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function measure(): Row[] {
  const counters = new Map<string, Counter>();
  const rows = new Map<string, Row>();
  for (const event of EVENTS) {
    try {
      counters.set(event, Counter.open(event));
    } catch (error) {
      if (!(error instanceof PerfError)) throw error;
      const reason = error.hint ?? error.message.split("\n")[0];
      if (!reasons.includes(reason)) reasons.push(reason);
      rows.set(event, {
        event,
        count: "not supported",
        source: "-",
        cost: "-",
        note: `${error.code}, see [${reasons.indexOf(reason) + 1}]`,
      });
    }
  }
  const before = new Map([...counters].map(([event, c]) => [event, c.readDetailed()]));
  workload();
  for (const [event, counter] of counters) {
    const start = before.get(event)!;
    const end = counter.readDetailed();
    const enabled = end.timeEnabled - start.timeEnabled;
    const running = end.timeRunning - start.timeRunning;
    const value = end.value - start.value;
    let count: string;
    let note = "";
    if (enabled > 0 && running === 0) {
      count = "not counted";
      note = "the counter never got a hardware slot (multiplexed out)";
    } else if (running < enabled) {
      count = format((value * enabled) / running);
      note = `scaled: ran ${((100 * running) / enabled).toFixed(1)}% of the time`;
    } else {
      count = format(value);
    }
    if (event === "task-clock") note = `${(value / 1e6).toFixed(2)} ms on CPU`;
    rows.set(event, {
      event,
      count,
      source: end.source,
      cost: `${readCost(counter).toFixed(0)} ns`,
      note,
    });
    counter.close();
  }
  return EVENTS.map((event) => rows.get(event)!);
}

function table(rows: Row[]): string {
  const header: Row = {
    event: "event",
    count: "count",
    source: "source",
    cost: "read()",
    note: "",
  };
  const all = [header, ...rows];
  const width = (key: keyof Row) => Math.max(...all.map((row) => row[key].length));
  const [e, c, s, r] = [width("event"), width("count"), width("source"), width("cost")];
  return all.map((row) =>
    `  ${row.event.padEnd(e)}  ${row.count.padStart(c)}  ${row.source.padEnd(s)}  ${
      row.cost.padStart(r)
    }  ${row.note}`.trimEnd()
  ).join("\n");
}

const info = probe();
console.log(
  `perfmmap demo on ${info.runtime} ${info.runtimeVersion}: ${info.arch}, Linux ${info.kernel}, ` +
    `perf_event_paranoid=${info.paranoid ?? "?"}, ` +
    `hardware PMU: ${info.cpuPmus.length > 0 ? info.cpuPmus.join(", ") : "none"}`,
);
console.log(
  `workload: touch ${PAGES} new pages (16 MiB), sort 200 000 numbers, sleep ${SLEEPS} x 2 ms\n`,
);
console.log(table(measure()));
reasons.forEach((reason, i) => console.log(`  [${i + 1}] ${reason}`));

// The userspace path itself, on a simulated page (a heap page that plays the
// kernel): the same seqlock loop that reads a real hardware counter.
using sim = SimulatedCounter.create();
sim.configure({ offset: 1_000_000, register: 0xffff_ffff_ffff }); // 48-bit -1
const reading = sim.readDetailed();
console.log(
  `\nsimulated hardware counter: ${format(reading.value)} from ${reading.source} ` +
    `in ${reading.attempts} attempt(s), read() costs ${readCost(sim).toFixed(0)} ns`,
);
