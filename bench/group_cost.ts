// The cost of a simulated 4-member Group.readInto() against one simulated
// Counter.read(), and what it is made of, in this runtime, interleaved
// rounds, medians (ns per call):
//
//   deno run --allow-ffi --allow-read --allow-env bench/group_cost.ts
//   bun bench/group_cost.ts
//
// The target's ratio is bench/run.ts's, not this one: here the process holds
// one Group, so the JIT specializes readInto on it (JavaScriptCore folds the
// one instance's typed arrays); the runner's worker holds several, and its
// readInto costs a few ns more in Bun. bench/group_core.c gives the core's
// part alone, with no runtime.

import { GROUP_SLOTS, GROUP_SOURCE, SIM_FIELDS } from "../src/ffi/symbols.ts";
import { native } from "../src/loader/native.ts";
import { SIMULATED_GROUP_SIZE, simulatedGroup } from "./_cases.ts";
import { SimulatedCounter } from "../src/testing.ts";

const ITERATIONS = 1_000_000;
const ROUNDS = 21;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const n = native();
const symbols = n.symbols;
const noop = symbols.pm_noop;
const rawRead = symbols.pm_read;
const rawGroupRead = symbols.pm_group_read;
using sim = SimulatedCounter.create().set("offset", 1000).set("register", 1);
using group = simulatedGroup();
// The same group through the raw symbols: four simulated counters joined,
// configured as simulatedGroup() configures its members, and bound.
const handles = [0, 1, 2, 3].map(() => symbols.pm_sim_open(1 | 4)); // mode auto, fallback
for (const [i, handle] of handles.entries()) {
  if (i > 0) symbols.pm_sim_join(handle, handles[0]);
  symbols.pm_sim_set(handle, SIM_FIELDS.capabilities, 0b1110, 0);
  symbols.pm_sim_set(handle, SIM_FIELDS.offset, 1000 * (i + 1), 0);
  symbols.pm_sim_set(handle, SIM_FIELDS.register, 1, 0);
}
const list = new Int32Array(handles);
const slots = new Float64Array(GROUP_SLOTS.MEMBERS + GROUP_SLOTS.MEMBER_STRIDE * handles.length);
const bound = symbols.pm_group_bind(
  new Uint8Array(list.buffer),
  handles.length,
  new Uint8Array(slots.buffer),
  slots.length,
);
const leader = handles[0];
if (bound !== 0 || symbols.pm_group_read(leader, 0) !== GROUP_SOURCE.USERSPACE) {
  throw new Error(`the raw simulated group was not read from userspace (bind ${bound})`);
}
const out = new Float64Array(SIMULATED_GROUP_SIZE + 2);
let sink = 0;

/** What readInto does on the userspace path, with everything in constants. */
function intoLocal(into: Float64Array): number {
  const count = 4;
  if (!(into instanceof Float64Array) || into.length < count + 2) throw new Error("buffer");
  const source = rawGroupRead(leader, 0);
  if (source !== GROUP_SOURCE.USERSPACE) throw new Error("not userspace");
  for (let i = 0; i < count; i++) into[i] = slots[3 + 3 * i];
  into[count] = slots[1];
  into[count + 1] = slots[2];
  return source;
}

const cases: Record<string, (iterations: number) => void> = {
  "noop FFI call": (iterations) => {
    for (let i = 0; i < iterations; i++) sink += noop();
  },
  "Counter.read() sim": (iterations) => {
    for (let i = 0; i < iterations; i++) sink += sim.read();
  },
  "4 x raw pm_read (sim)": (iterations) => {
    const [a, b, c, d] = handles;
    for (let i = 0; i < iterations; i++) {
      sink += rawRead(a) + rawRead(b) + rawRead(c) + rawRead(d);
    }
  },
  "raw pm_group_read (4 sim)": (iterations) => {
    for (let i = 0; i < iterations; i++) sink += rawGroupRead(leader, 0);
  },
  "readInto's steps, in locals": (iterations) => {
    for (let i = 0; i < iterations; i++) intoLocal(out);
    sink += out[0];
  },
  "Group.readInto() (4 sim)": (iterations) => {
    for (let i = 0; i < iterations; i++) group.readInto(out);
    sink += out[0];
  },
};

const samples = new Map<string, number[]>(Object.keys(cases).map((name) => [name, []]));
for (const run of Object.values(cases)) run(ITERATIONS / 10);
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(cases)) {
    const start = performance.now();
    run(ITERATIONS);
    samples.get(name)!.push(((performance.now() - start) * 1e6) / ITERATIONS);
  }
}
if (sink === -1) console.log(sink);
for (const handle of handles.toReversed()) symbols.pm_close(handle);
const result: Record<string, number> = {};
for (const [name, values] of samples) result[name] = median(values);
console.log(`${n.runtime} ${n.runtimeVersion}`);
for (const [name, value] of Object.entries(result)) {
  console.log(`  ${name.padEnd(28)} ${value.toFixed(2)} ns`);
}
console.log(
  `  readInto / read() = ${
    (result["Group.readInto() (4 sim)"] / result["Counter.read() sim"]).toFixed(2)
  }x`,
);
