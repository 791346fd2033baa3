// The results of one run: their JSON shape, the ratio targets, and the
// two human views (markdown table, SVG chart). Pure functions, no I/O.

import type { KernelFloor } from "./_floor.ts";
import type { Summary } from "./_sampler.ts";

/** The runtimes, in column order. */
export const RUNTIMES = ["deno", "bun", "node"] as const;
/** A runtime of the report. */
export type RuntimeName = (typeof RUNTIMES)[number];

/** One case in one runtime: numbers, or why there are none. */
export type Cell = Summary & { iterations?: number; batch?: number } | { unavailable: string };

/** One row of the results. */
export interface CaseResult {
  id: string;
  label: string;
  /** Custom sampler, per runtime; absent when the runtime lacks the case. */
  sampler: Partial<Record<RuntimeName, Cell>>;
  /** mitata's `measure()`, per runtime, as a cross-check. */
  mitata: Partial<Record<RuntimeName, Cell>>;
}

/** Heap growth in one runtime. */
export interface MemoryResult {
  method: string;
  reads: number;
  /** Growth per trial, bytes, per case id. */
  growth: Record<string, number[]>;
  /** The largest growth of any trial and case, bytes. */
  growthMax: number;
}

/** A checked target. */
export interface TargetResult {
  id: string;
  label: string;
  runtime: RuntimeName;
  value: number | null;
  op: "<=" | ">=";
  limit: number;
  unit: "x" | "KiB";
  pass: boolean;
  /** Why there is no value, when there is none. */
  note?: string;
}

/** Everything latest.json holds. */
export interface Results {
  schema: "perfmmap-bench/1";
  date: string;
  command: string;
  durationSeconds: number;
  machine: {
    cpu: string;
    cores: number;
    arch: string;
    kernel: string;
    memoryGiB: number;
    pmu: string;
    perfEventParanoid: string;
  };
  load: { before: number[]; after: number[]; waitedSeconds: number };
  versions: Record<string, string>;
  library: { path: string; bytes: number; sha256: string };
  method: Record<string, string | number>;
  cases: CaseResult[];
  targets: TargetResult[];
  memory: Partial<Record<RuntimeName, MemoryResult>>;
  counters: Record<string, Partial<Record<RuntimeName, string>>>;
  /** bench/kernel_floor.c: the group target's ratio in C, same events, same run. */
  kernelFloor: KernelFloor;
  passed: number;
  failed: number;
}

/** The heap-growth limit, bytes. */
export const HEAP_GROWTH_MAX = 64 * 1024;

/** The runtimes' names in the tables and the chart. */
export const NAMES: Record<RuntimeName, string> = { deno: "Deno", bun: "Bun", node: "Node" };
const COLORS: Record<RuntimeName, string> = { deno: "#2f6db5", bun: "#d9722b", node: "#3c873a" };

/** A markdown table's second line: one column for the label, one per runtime. */
function separator(): string {
  return `|---|${RUNTIMES.map(() => "---").join("|")}|`;
}

interface _RatioTarget {
  id: string;
  label: string;
  numerator: string;
  denominator: string;
  op: "<=" | ">=";
  limits: Record<RuntimeName, number>;
  /**
   * Divide the ratio by the kernel floor's ratio of the same run
   * (bench/kernel_floor.c): for a target the kernel bounds, the binding's
   * share of what C gets.
   */
  overKernelFloor?: boolean;
}

/** The ratio targets the bench checks (never weaken them). */
export const RATIO_TARGETS: readonly _RatioTarget[] = [
  {
    id: "read_sim_over_noop",
    label: "simulated `read()` / no-op FFI call",
    numerator: "read_sim",
    denominator: "ffi_noop",
    op: "<=",
    limits: { deno: 2.0, bun: 3.0, node: 3.0 },
  },
  {
    id: "syscall_over_read_sim",
    label: "syscall `read()` / simulated `read()`",
    numerator: "read_syscall",
    denominator: "read_sim",
    op: ">=",
    limits: { deno: 20, bun: 20, node: 20 },
  },
  {
    id: "group_over_kernel_floor",
    label: "(4 x `Counter.read()` / `Group.readInto()` of 4) / the same ratio in C",
    numerator: "read_4",
    denominator: "group_4_into",
    op: ">=",
    limits: { deno: 0.9, bun: 0.9, node: 0.9 },
    overKernelFloor: true,
  },
  {
    id: "group_into_sim_over_read_sim",
    label: "simulated 4-member `Group.readInto()` / simulated `read()`",
    numerator: "group_into_sim",
    denominator: "read_sim",
    op: "<=",
    limits: { deno: 2, bun: 2, node: 2 },
  },
  {
    id: "performance_now_over_read_sim",
    label: "`performance.now()` / simulated `read()`",
    numerator: "performance_now",
    denominator: "read_sim",
    op: ">=",
    limits: { deno: 1, bun: 1, node: 1 },
  },
];

function median(cell: Cell | undefined): number | null {
  return cell !== undefined && "median" in cell ? cell.median : null;
}

function meets(value: number, op: "<=" | ">=", limit: number): boolean {
  return op === "<=" ? value <= limit : value >= limit;
}

/** The heap-growth targets: which memory cases each one covers. */
const HEAP_TARGETS = [
  {
    id: "heap_growth",
    label: "heap growth over 1 M `read()` (after GC)",
    cases: ["read_sim", "read_syscall"],
  },
  {
    id: "heap_growth_group",
    label: "heap growth over 1 M simulated `Group.readInto()` (after GC)",
    cases: ["group_into_sim"],
  },
] as const;

function ratioValue(
  target: _RatioTarget,
  top: number | null,
  bottom: number | null,
  floor: KernelFloor | undefined,
): { value: number | null; note?: string } {
  if (top === null || bottom === null || bottom <= 0) {
    return { value: null, note: "a case of the ratio did not run" };
  }
  if (!target.overKernelFloor) return { value: top / bottom };
  if (floor === undefined || "unavailable" in floor || !(floor.ratio > 0)) {
    return { value: null, note: "the kernel floor was not measured" };
  }
  return { value: top / bottom / floor.ratio };
}

/**
 * Checks every target against the medians of one run.
 *
 * @param cases The case results.
 * @param memory Heap growth per runtime.
 * @param floor The kernel floor of the same run, for the targets relative to it.
 * @returns One result per target and runtime.
 */
export function checkTargets(
  cases: readonly CaseResult[],
  memory: Partial<Record<RuntimeName, MemoryResult>>,
  floor?: KernelFloor,
): TargetResult[] {
  const byId = new Map(cases.map((c) => [c.id, c]));
  const results: TargetResult[] = [];
  for (const target of RATIO_TARGETS) {
    for (const runtime of RUNTIMES) {
      const top = median(byId.get(target.numerator)?.sampler[runtime]);
      const bottom = median(byId.get(target.denominator)?.sampler[runtime]);
      const { value, note } = ratioValue(target, top, bottom, floor);
      results.push({
        id: target.id,
        label: target.label,
        runtime,
        value,
        op: target.op,
        limit: target.limits[runtime],
        unit: "x",
        pass: value !== null && meets(value, target.op, target.limits[runtime]),
        ...(note === undefined ? {} : { note }),
      });
    }
  }
  for (const target of HEAP_TARGETS) {
    for (const runtime of RUNTIMES) {
      const growth = target.cases.flatMap((id) => memory[runtime]?.growth[id] ?? []);
      const value = growth.length === 0 ? null : Math.max(...growth) / 1024;
      results.push({
        id: target.id,
        label: target.label,
        runtime,
        value,
        op: "<=",
        limit: HEAP_GROWTH_MAX / 1024,
        unit: "KiB",
        pass: value !== null && value <= HEAP_GROWTH_MAX / 1024,
        ...(value === null ? { note: "the memory run did not measure it" } : {}),
      });
    }
  }
  return results;
}

/**
 * A duration in ns, with 3 significant digits and a unit.
 *
 * @param ns Nanoseconds.
 * @returns Such as "5.43 ns", "1.20 µs".
 */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toPrecision(3)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toPrecision(3)} µs`;
  return `${ns.toPrecision(3)} ns`;
}

function formatCell(cell: Cell | undefined): string {
  if (cell === undefined) return "—";
  if ("unavailable" in cell) return `not available (${shortReason(cell.unavailable)})`;
  return `${formatNs(cell.median)} [${formatNs(cell.p10)} – ${
    formatNs(cell.p90)
  }] n=${cell.samples}`;
}

/**
 * The first clause of a reason, short enough for a table cell.
 *
 * @param reason A one-line reason.
 * @returns At most about 60 characters.
 */
export function shortReason(reason: string): string {
  const first = reason.split(/ hint: |\n/)[0];
  return first.length > 70 ? `${first.slice(0, 67)}...` : first;
}

function formatTargetValue(target: TargetResult): string {
  if (target.value === null) return "—";
  return target.unit === "KiB" ? `${target.value.toFixed(1)} KiB` : `${target.value.toFixed(2)}x`;
}

/**
 * The kernel floor of the group target, as one sentence.
 *
 * @param floor The pooled runs of bench/kernel_floor.c.
 * @returns Markdown.
 */
export function floorLine(floor: KernelFloor): string {
  if ("unavailable" in floor) {
    return `Kernel floor of the group target: not measured (${floor.unavailable}).`;
  }
  const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
  return `Kernel floor of the group target, in C with no runtime (\`bench/kernel_floor.c\`, same 4 ` +
    `events and read formats, run between the sampler processes): 4 x read(2) ${
      us(floor.fourReadsNs)
    }, ` +
    `one group read(2) ${us(floor.groupReadNs)}, ratio **${floor.ratio.toFixed(2)}x** ` +
    `(per run: ${floor.ratios.map((r) => r.toFixed(2)).join(", ")}). ` +
    "The group target is the binding's ratio over this one: no binding can beat the kernel's.";
}

/**
 * The ratio table with PASS/FAIL, one row per target, a column per runtime.
 *
 * @param results The run.
 * @returns Markdown.
 */
export function targetTable(results: Results): string {
  const rows = [`| target | ${RUNTIMES.map((r) => NAMES[r]).join(" | ")} |`, separator()];
  const ids = [...new Set(results.targets.map((t) => t.id))];
  for (const id of ids) {
    const cells = RUNTIMES.map((runtime) => {
      const t = results.targets.find((x) => x.id === id && x.runtime === runtime)!;
      const limit = t.unit === "KiB" ? `${t.limit} KiB` : `${t.limit}`;
      return `${formatTargetValue(t)} (${t.op} ${limit}) **${t.pass ? "PASS" : "FAIL"}**`;
    });
    const label = results.targets.find((x) => x.id === id)!.label;
    rows.push(`| ${label} | ${cells.join(" | ")} |`);
  }
  return rows.join("\n");
}

/**
 * The cost table: median [p10 – p90] and sample count per runtime.
 *
 * @param results The run.
 * @returns Markdown.
 */
export function costTable(results: Results): string {
  const rows = [
    `| case | ${RUNTIMES.map((r) => `${NAMES[r]} ${results.versions[r]}`).join(" | ")} |`,
    separator(),
  ];
  for (const c of results.cases) {
    rows.push(`| ${c.label} | ${RUNTIMES.map((r) => formatCell(c.sampler[r])).join(" | ")} |`);
  }
  return rows.join("\n");
}

function mitataTable(results: Results): string {
  const rows = [
    `| case | ${RUNTIMES.map((r) => `${NAMES[r]}: sampler / mitata`).join(" | ")} |`,
    separator(),
  ];
  for (const c of results.cases) {
    const cells = RUNTIMES.map((runtime) => {
      const ours = median(c.sampler[runtime]);
      const theirs = median(c.mitata[runtime]);
      if (ours === null && theirs === null) return "—";
      const a = ours === null ? "—" : formatNs(ours);
      const b = theirs === null ? "—" : formatNs(theirs);
      return `${a} / ${b}`;
    });
    rows.push(`| ${c.label} | ${cells.join(" | ")} |`);
  }
  return rows.join("\n");
}

function memoryTable(results: Results): string {
  const rows = ["| runtime | case | growth per trial (bytes) | method |", "|---|---|---|---|"];
  for (const runtime of RUNTIMES) {
    const m = results.memory[runtime];
    if (m === undefined) continue;
    for (const [id, growth] of Object.entries(m.growth)) {
      rows.push(`| ${runtime} | ${id} x ${m.reads} | ${growth.join(", ")} | ${m.method} |`);
    }
  }
  return rows.join("\n");
}

function countersList(results: Results): string {
  const lines: string[] = [];
  for (const [name, byRuntime] of Object.entries(results.counters)) {
    for (const runtime of RUNTIMES) {
      const said = byRuntime[runtime];
      if (said !== undefined) lines.push(`- ${name}, ${runtime}: ${said}`);
    }
  }
  return lines.join("\n");
}

/**
 * latest.md: the whole run for a reader.
 *
 * @param results The run.
 * @returns Markdown.
 */
export function markdown(results: Results): string {
  const m = results.machine;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  return `# perfmmap benchmarks

${results.date} · ${m.cpu}, ${m.cores} cores, ${m.arch}, Linux ${m.kernel} · PMU: ${m.pmu}
· ${
    RUNTIMES.map((r) => `${NAMES[r]} ${results.versions[r]}`).join(" · ")
  } · mitata ${results.versions.mitata}
· load average before ${load(results.load.before)}, after ${load(results.load.after)}
· library sha256 ${results.library.sha256.slice(0, 16)}

## Targets (ratios of medians, one run): ${results.passed} PASS, ${results.failed} FAIL

${targetTable(results)}

${floorLine(results.kernelFloor)}

## Cost per call: median [p10 – p90], samples

${costTable(results)}

![cost per call](latest.svg)

## Heap growth over ${
    RUNTIMES.map((r) => results.memory[r]?.reads).find((n) => n !== undefined) ?? 0
  } reads, after GC

${memoryTable(results)}

## Hardware counters: what each side said on this machine

${countersList(results)}

## Cross-check: medians of the custom sampler and of mitata's \`measure()\`

${mitataTable(results)}

## Method

${Object.entries(results.method).map(([k, v]) => `- ${k}: ${v}`).join("\n")}
`;
}

function decadeLabel(decade: number): string {
  const units = ["ns", "µs", "ms", "s"];
  const unit = Math.max(0, Math.min(units.length - 1, Math.floor(decade / 3)));
  const value = 10 ** (decade - 3 * unit);
  return `${Number(value.toPrecision(1))} ${units[unit]}`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * latest.svg: bars per case per runtime on a log scale, medians with p10–p90
 * whiskers.
 *
 * @param results The run.
 * @returns SVG text.
 */
export function chart(results: Results): string {
  const cells = results.cases.flatMap((c) =>
    RUNTIMES.map((r) => c.sampler[r]).filter((x): x is Summary => x !== undefined && "median" in x)
  );
  const low = Math.floor(Math.log10(Math.min(...cells.map((c) => c.p10))));
  const high = Math.ceil(Math.log10(Math.max(...cells.map((c) => c.p90))));
  const labelWidth = 330;
  const plotLeft = labelWidth + 10;
  const plotWidth = 560;
  const width = plotLeft + plotWidth + 90;
  const barHeight = 11;
  const rowHeight = RUNTIMES.length * barHeight + 12;
  const top = 74;
  const height = top + rowHeight * results.cases.length + 40;
  const x = (ns: number) => plotLeft + ((Math.log10(ns) - low) / (high - low)) * plotWidth;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">perfmmap: cost per call (median, whiskers p10–p90, log scale)</text>`,
    `<text x="12" y="40" fill="#444">${
      escapeXml(
        `${
          results.date.slice(0, 10)
        } · ${results.machine.cpu}, ${results.machine.cores} cores, no PMU: simulated counter for userspace reads · ${
          RUNTIMES.map((r) => `${NAMES[r]} ${results.versions[r]}`).join(" · ")
        }`,
      )
    }</text>`,
  );
  RUNTIMES.forEach((runtime, k) => {
    const lx = plotLeft + k * 90;
    out.push(
      `<rect x="${lx}" y="50" width="12" height="12" fill="${COLORS[runtime]}"/>`,
      `<text x="${lx + 17}" y="60">${NAMES[runtime]}</text>`,
    );
  });
  for (let decade = low; decade <= high; decade++) {
    const gx = x(10 ** decade).toFixed(1);
    out.push(
      `<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${
        height - 30
      }" stroke="#d0d0d0" stroke-width="1"/>`,
      `<text x="${gx}" y="${height - 14}" text-anchor="middle" fill="#444">${
        decadeLabel(decade)
      }</text>`,
    );
  }
  results.cases.forEach((c, row) => {
    const y0 = top + row * rowHeight;
    out.push(
      `<text x="${labelWidth}" y="${y0 + barHeight + 4}" text-anchor="end">${
        escapeXml(c.label)
      }</text>`,
    );
    RUNTIMES.forEach((runtime, k) => {
      const cell = c.sampler[runtime];
      const y = y0 + k * barHeight;
      if (cell === undefined) return;
      if ("unavailable" in cell) {
        out.push(
          `<text x="${plotLeft + 4}" y="${y + barHeight - 2}" fill="${
            COLORS[runtime]
          }" font-size="11">${NAMES[runtime]}: not available (${
            escapeXml(shortReason(cell.unavailable))
          })</text>`,
        );
        return;
      }
      const end = x(cell.median);
      out.push(
        `<rect x="${plotLeft}" y="${y}" width="${(end - plotLeft).toFixed(1)}" height="${
          barHeight - 1
        }" fill="${COLORS[runtime]}"/>`,
        `<line x1="${x(cell.p10).toFixed(1)}" y1="${y + barHeight / 2 - 0.5}" x2="${
          x(cell.p90).toFixed(1)
        }" y2="${y + barHeight / 2 - 0.5}" stroke="#222" stroke-width="1.2"/>`,
        `<text x="${(Math.max(end, x(cell.p90)) + 5).toFixed(1)}" y="${
          y + barHeight - 2
        }" font-size="11" fill="#222">${formatNs(cell.median)}</text>`,
      );
    });
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
