// A tiny sampling profiler: the top functions of a busy loop by IP.
//
//   deno run -A --v8-flags=--perf-basic-prof examples/profile.ts
//   BUN_JSC_useJITDump=1 bun examples/profile.ts
//
// Samples this thread's cpu-clock at 4 kHz through the ring buffer, then
// names each IP: JIT-compiled JavaScript from the map the runtime writes
// (Deno/V8: /tmp/perf-<pid>.map; Bun/JavaScriptCore: a JITDump file
// /tmp/jit-<tid>-<pid>-*), native code by its module in /proc/self/maps.

import { readdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import process from "node:process";
import { Counter, type SampleRecord } from "../mod.ts";

function sumOfRoots(n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.sqrt(i);
  return sum;
}

function hashText(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash;
}

function sortCopy(values: number[]): number {
  return [...values].sort((a, b) => a - b)[0];
}

type Range = { start: number; end: number; name: string };

/** JIT code ranges: the V8 perf map, or JSC's JITDump code-load records. */
function jitRanges(pid: number): Range[] {
  const ranges: Range[] = [];
  try {
    for (const line of readFileSync(`/tmp/perf-${pid}.map`, "utf8").split("\n")) {
      const [start, size, ...name] = line.split(" ");
      if (name.length > 0) {
        const from = parseInt(start, 16);
        ranges.push({ start: from, end: from + parseInt(size, 16), name: name.join(" ") });
      }
    }
  } catch { /* no perf map: not Deno with --perf-basic-prof */ }
  const directory = process.env.BUN_JSC_jitDumpDirectory ?? "/tmp";
  const dumps = readdirSync(directory).filter((f) => new RegExp(`^jit-\\d+-${pid}\\b`).test(f));
  for (const file of dumps) {
    const bytes = readFileSync(`${directory}/${file}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // Header: 40 bytes. Records: u32 id, u32 size, u64 time; id 0 = JIT_CODE_LOAD:
    // u32 pid, u32 tid, u64 vma, u64 code_addr, u64 code_size, u64 index, name\0.
    for (let at = 40; at + 16 <= bytes.length;) {
      const id = view.getUint32(at, true);
      const size = view.getUint32(at + 4, true);
      if (size < 16 || at + size > bytes.length) break;
      if (id === 0) {
        const start = Number(view.getBigUint64(at + 32, true));
        const length = Number(view.getBigUint64(at + 40, true));
        const nameEnd = bytes.indexOf(0, at + 56);
        const name = new TextDecoder().decode(bytes.subarray(at + 56, nameEnd));
        ranges.push({ start, end: start + length, name });
      }
      at += size;
    }
  }
  return ranges.sort((a, b) => a.start - b.start);
}

/** Executable mappings of this process, named by their file. */
function moduleRanges(): Range[] {
  return readFileSync("/proc/self/maps", "utf8").split("\n").flatMap((line) => {
    const [span, perms, , , , path] = line.split(/\s+/);
    if (!perms?.includes("x")) return [];
    const [start, end] = span.split("-").map((hex) => parseInt(hex, 16));
    return [{ start, end, name: path ? `[${basename(path)}]` : "[anonymous code]" }];
  });
}

function find(ranges: Range[], ip: number): string | undefined {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (ranges[middle].end <= ip) low = middle + 1;
    else if (ranges[middle].start > ip) high = middle - 1;
    else return ranges[middle].name;
  }
  return undefined;
}

using clock = Counter.open("cpu-clock", { sample: { frequency: 4000 }, sampleType: ["ip"] });
const values = Array.from({ length: 2000 }, (_, i) => (i * 7919) % 2000);
const samples: SampleRecord[] = [];
const end = performance.now() + 1000;
let sink = 0;
while (performance.now() < end) {
  sink += sumOfRoots(20_000) + hashText("perfmmap".repeat(500)) + sortCopy(values);
  for (const record of clock.drain()) if (record.type === "sample") samples.push(record);
}
clock.disable();

const jit = jitRanges(process.pid); // read at the end: the runtime appends as it compiles
const modules = moduleRanges().sort((a, b) => a.start - b.start);
const counts = new Map<string, number>();
for (const { ip, cpuMode } of samples) {
  const name = cpuMode === "kernel"
    ? "[kernel]"
    : find(jit, ip!) ?? find(modules, ip!) ?? "[unknown]";
  counts.set(name, (counts.get(name) ?? 0) + 1);
}
const total = samples.length;
console.log(
  `${total} samples, ${clock.ringStats().lost} lost (checksum ${sink % 997}); top by IP:`,
);
for (const [name, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
  console.log(`${(100 * count / total).toFixed(1).padStart(5)}%  ${name.slice(0, 90)}`);
}
