// The output of `perfmmap stat`: the perf-stat-style table, CSV (-x) and
// JSON lines (--json). Pure functions of the measured results, so that the
// tests can check them without running anything.

/** Why an event has no count. */
export interface Refusal {
  /** The PerfError code (errno name or our own). */
  code: string;
  /** One short line: what went wrong. */
  message: string;
  /** What to do about it, when there is something. */
  hint: string | undefined;
}

/** What an event is, for units and derived metrics. */
export type Role =
  | "task-clock"
  | "cpu-clock"
  | "cycles"
  | "instructions"
  | "branches"
  | "branch-misses"
  | "other";

/** One event over all runs. */
export interface EventResult {
  /** The event as the user wrote it (or the default's name). */
  name: string;
  /** What it is, for units and metrics. */
  role: Role;
  /** Why it has no count; undefined when it was counted. */
  refusal: Refusal | undefined;
  /**
   * Per run: the count scaled by enabled/running when multiplexed. Empty
   * when refused. A run in which it never ran is left out (see `notCounted`).
   */
  values: number[];
  /** Per counted run: nanoseconds enabled. */
  enabled: number[];
  /** Per counted run: nanoseconds on the PMU. */
  running: number[];
  /** Runs in which the counter was open but never ran. */
  notCounted: number;
  /** Why it was not counted (the first such run), when `notCounted` > 0. */
  notCountedWhy?: NotCounted;
}

/** Why an event that was open has no count in a run. */
export interface NotCounted {
  /** One short line: what the counter did (never enabled, never on the PMU). */
  reason: string;
  /** What to do about it, when there is something. */
  hint: string | undefined;
}

/** What a not-counted line says when no reason was recorded. */
const NEVER_RAN = "the counter never ran";

function notCountedReason(event: EventResult): string {
  return event.notCountedWhy?.reason ?? NEVER_RAN;
}

/** How the measured command ended. */
export interface Ending {
  /** Its exit code, or null when a signal ended it. */
  exitCode: number | null;
  /** The signal that ended it, such as "SIGINT", or null. */
  signal: string | null;
  /** Whether we were interrupted (Ctrl-C or a forwarded signal). */
  interrupted: boolean;
}

/** Everything `stat` measured. */
export interface StatReport {
  /** The command and its arguments. */
  command: string[];
  /** Runs asked for with -r. */
  runsRequested: number;
  /** Runs completed. */
  runs: number;
  /** The events, in the order given. */
  events: EventResult[];
  /** Per run: wall-clock nanoseconds from the go byte to the exit. */
  elapsedNs: number[];
  /** How the last run ended. */
  ending: Ending;
}

/** A derived value shown after `#`. */
export interface Metric {
  value: number;
  unit: string;
}

/** Arithmetic mean; 0 for no values. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/**
 * The standard deviation of the mean (sample stddev / sqrt(n)) relative to
 * the mean, in percent: what `perf stat -r` prints as `( +- x% )`.
 * 0 for fewer than two values or a zero mean.
 */
export function relativeStddev(values: readonly number[]): number {
  const n = values.length;
  const average = mean(values);
  if (n < 2 || average === 0) return 0;
  let squares = 0;
  for (const value of values) squares += (value - average) ** 2;
  const stddevOfMean = Math.sqrt(squares / (n - 1) / n);
  return (100 * stddevOfMean) / Math.abs(average);
}

/** `1234567.8` → `"1,234,568"`; fractions kept to `decimals` places. */
export function groupThousands(value: number, decimals = 0): string {
  const fixed = value.toFixed(decimals);
  const [whole, fraction] = fixed.split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = sign === "" ? whole : whole.slice(1);
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + grouped + (fraction === undefined ? "" : `.${fraction}`);
}

function isClock(role: Role): boolean {
  return role === "task-clock" || role === "cpu-clock";
}

function find(report: StatReport, role: Role): EventResult | undefined {
  return report.events.find((e) =>
    e.role === role && e.refusal === undefined && e.values.length > 0
  );
}

function rate(count: number, taskClockNs: number): Metric {
  const perSecond = count / (taskClockNs / 1e9);
  if (perSecond >= 1e9) return { value: perSecond / 1e9, unit: "G/sec" };
  if (perSecond >= 1e6) return { value: perSecond / 1e6, unit: "M/sec" };
  if (perSecond >= 1e3) return { value: perSecond / 1e3, unit: "K/sec" };
  return { value: perSecond, unit: "/sec" };
}

/** The derived value of an event, as perf stat shows it, or undefined. */
export function metricOf(report: StatReport, event: EventResult): Metric | undefined {
  if (event.refusal !== undefined || event.values.length === 0) return undefined;
  const value = mean(event.values);
  const clock = find(report, "task-clock") ?? find(report, "cpu-clock");
  const clockNs = clock === undefined ? 0 : mean(clock.values);
  switch (event.role) {
    case "task-clock":
    case "cpu-clock": {
      const elapsed = mean(report.elapsedNs);
      return elapsed > 0 ? { value: value / elapsed, unit: "CPUs utilized" } : undefined;
    }
    case "cycles":
      return clockNs > 0 ? { value: value / clockNs, unit: "GHz" } : undefined;
    case "instructions": {
      const cycles = find(report, "cycles");
      const cyclesValue = cycles === undefined ? 0 : mean(cycles.values);
      return cyclesValue > 0 ? { value: value / cyclesValue, unit: "insn per cycle" } : undefined;
    }
    case "branch-misses": {
      const branches = find(report, "branches");
      const total = branches === undefined ? 0 : mean(branches.values);
      return total > 0 ? { value: (100 * value) / total, unit: "% of all branches" } : undefined;
    }
    default:
      return clockNs > 0 ? rate(value, clockNs) : undefined;
  }
}

/** The percentage of enabled time the event was on the PMU (100 unless multiplexed). */
export function percentRunning(event: EventResult): number {
  const enabled = mean(event.enabled);
  const running = mean(event.running);
  if (enabled <= 0) return 0;
  return Math.min(100, (100 * running) / enabled);
}

/** The count as perf stat shows it: msec for clocks, else a whole number. */
export function displayValue(event: EventResult, grouped: boolean): string {
  const value = mean(event.values);
  if (isClock(event.role)) {
    const ms = value / 1e6;
    return grouped ? groupThousands(ms, 2) : ms.toFixed(2);
  }
  return grouped ? groupThousands(value) : value.toFixed(0);
}

function unitOf(event: EventResult): string {
  return isClock(event.role) ? "msec" : "";
}

/** Short text for a refusal: `ENOENT: no hardware PMU`-like, no hint. */
function refusalText(refusal: Refusal): string {
  return refusal.message;
}

function state(event: EventResult): "counted" | "not-supported" | "not-counted" {
  if (event.refusal !== undefined) return "not-supported";
  return event.values.length === 0 ? "not-counted" : "counted";
}

function quoteCommand(command: readonly string[]): string {
  return command.join(" ");
}

/**
 * The notes under the table: each distinct hint once, with the events it
 * explains: why an event is not supported, or why it was never counted.
 */
export function refusalNotes(report: StatReport): { events: string[]; text: string }[] {
  const notes: { events: string[]; text: string }[] = [];
  for (const event of report.events) {
    const text = event.refusal !== undefined
      ? event.refusal.hint
      : event.notCounted > 0
      ? event.notCountedWhy?.hint
      : undefined;
    if (text === undefined) continue;
    const note = notes.find((n) => n.text === text);
    if (note === undefined) notes.push({ events: [event.name], text });
    else note.events.push(event.name);
  }
  return notes;
}

/** The perf-stat-style table (what goes to stderr by default). */
export function formatTable(report: StatReport): string {
  const repeated = report.runs > 1;
  const runs = report.runsRequested === 1
    ? ""
    : report.runs === report.runsRequested
    ? ` (${report.runs} runs)`
    : ` (${report.runs} of ${report.runsRequested} runs)`;
  const lines = [
    "",
    ` Performance counter stats for '${quoteCommand(report.command)}'${runs}:`,
    "",
  ];
  const notes = refusalNotes(report);
  for (const event of report.events) {
    lines.push(tableLine(report, event, repeated, notes));
  }
  lines.push("");
  const elapsedS = mean(report.elapsedNs) / 1e9;
  if (repeated) {
    const stddev = (relativeStddev(report.elapsedNs) / 100) * elapsedS;
    lines.push(
      `${elapsedS.toFixed(7).padStart(18)} +- ${stddev.toFixed(7)} seconds time elapsed  ( +- ${
        relativeStddev(report.elapsedNs).toFixed(2).padStart(5)
      }% )`,
    );
  } else {
    lines.push(`${elapsedS.toFixed(9).padStart(18)} seconds time elapsed`);
  }
  lines.push("");
  if (notes.length > 0) {
    const refused = report.events.some((e) => e.refusal?.hint !== undefined);
    const uncounted = report.events.some((e) =>
      e.refusal === undefined && e.notCounted > 0 && e.notCountedWhy?.hint !== undefined
    );
    lines.push(
      refused && uncounted
        ? " Not supported or not counted here:"
        : refused
        ? " Not supported here:"
        : " Not counted here:",
    );
    notes.forEach((note, i) => lines.push(`   [${i + 1}] ${note.events.join(", ")}: ${note.text}`));
    lines.push("");
  }
  return lines.join("\n") + "\n";
}

function tableLine(
  report: StatReport,
  event: EventResult,
  repeated: boolean,
  notes: { events: string[]; text: string }[],
): string {
  const name = event.name.padEnd(32);
  const kind = state(event);
  const index = notes.findIndex((n) => n.events.includes(event.name));
  const see = index < 0 ? "" : ` [${index + 1}]`;
  if (kind === "not-supported") {
    const refusal = event.refusal!;
    return `${"<not supported>".padStart(18)}      ${name} # ${refusalText(refusal)}${see}`;
  }
  if (kind === "not-counted") {
    return `${"<not counted>".padStart(18)}      ${name} # ${notCountedReason(event)}${see}`;
  }
  const head = `${displayValue(event, true).padStart(18)} ${unitOf(event).padEnd(4)} ${name}`;
  const metric = metricOf(report, event);
  const metricText = metric === undefined
    ? ""
    : ` # ${metric.value.toFixed(3).padStart(8)} ${metric.unit}`;
  const percent = percentRunning(event);
  const tail: string[] = [];
  if (repeated) tail.push(`( +- ${relativeStddev(event.values).toFixed(2).padStart(5)}% )`);
  if (percent < 99.995) tail.push(`(${percent.toFixed(2)}%)`);
  if (event.notCounted > 0) {
    const runs = event.values.length + event.notCounted;
    tail.push(`(counted in ${event.values.length} of ${runs} runs${see})`);
  }
  if (tail.length === 0) return metricText === "" ? head.trimEnd() : head + metricText;
  const left = (head + (metricText === "" ? "" : metricText.padEnd(36))).padEnd(88);
  return `${left}  ${tail.join("  ")}`;
}

function csvSafe(text: string, separator: string): string {
  return text.split(separator).join(" ").replace(/[\r\n]+/g, " ");
}

/**
 * One line per event in perf's `-x` layout:
 * `value,unit,event[,stddev%],run-time-ns,percent-running,metric,metric-unit`.
 * A refused event has `<not supported>` as its value and the reason as its
 * last field (perf leaves that field empty).
 */
export function formatCsv(report: StatReport, separator: string): string {
  const repeated = report.runsRequested > 1;
  const lines = report.events.map((event) => {
    const kind = state(event);
    const stddev = repeated ? [`${relativeStddev(event.values).toFixed(2)}%`] : [];
    if (kind !== "counted") {
      const value = kind === "not-supported" ? "<not supported>" : "<not counted>";
      const why = kind === "not-supported"
        ? `${event.refusal!.message}${event.refusal!.hint ? `; ${event.refusal!.hint}` : ""}`
        : `${notCountedReason(event)}${
          event.notCountedWhy?.hint ? `; ${event.notCountedWhy.hint}` : ""
        }`;
      return [value, "", event.name, ...stddev, "0", "0.00", "", csvSafe(why, separator)]
        .join(separator);
    }
    const metric = metricOf(report, event);
    return [
      displayValue(event, false),
      unitOf(event),
      event.name,
      ...stddev,
      mean(event.running).toFixed(0),
      percentRunning(event).toFixed(2),
      metric === undefined ? "" : metric.value.toFixed(3),
      metric === undefined ? "" : metric.unit,
    ].join(separator);
  });
  return lines.join("\n") + "\n";
}

/** The JSON object of one event (one line of `--json`). Keys are always present. */
export function eventJson(report: StatReport, event: EventResult): Record<string, unknown> {
  const kind = state(event);
  const counted = kind === "counted";
  const metric = counted ? metricOf(report, event) : undefined;
  return {
    type: "event",
    event: event.name,
    status: kind,
    value: counted ? mean(event.values) : null,
    unit: isClock(event.role) ? "ns" : "",
    runs: event.values.length,
    stddevPercent: counted && report.runsRequested > 1 ? relativeStddev(event.values) : null,
    timeEnabledNs: counted ? mean(event.enabled) : null,
    timeRunningNs: counted ? mean(event.running) : null,
    percentRunning: counted ? percentRunning(event) : null,
    metric: metric === undefined ? null : { value: metric.value, unit: metric.unit },
    code: event.refusal?.code ?? (kind === "not-counted" ? "NOT_COUNTED" : null),
    reason: event.refusal?.message ?? (kind === "not-counted" ? notCountedReason(event) : null),
    hint: event.refusal?.hint ??
      (kind === "not-counted" ? event.notCountedWhy?.hint ?? null : null),
  };
}

/** The last line of `--json`: the command and how it ended. */
export function summaryJson(report: StatReport): Record<string, unknown> {
  return {
    type: "summary",
    command: report.command,
    runs: report.runs,
    runsRequested: report.runsRequested,
    elapsedNs: Math.round(mean(report.elapsedNs)),
    elapsedStddevPercent: report.runsRequested > 1 ? relativeStddev(report.elapsedNs) : null,
    exitCode: report.ending.exitCode,
    signal: report.ending.signal,
    interrupted: report.ending.interrupted,
  };
}

/** `--json`: one JSON object per line, the events then a summary. */
export function formatJsonLines(report: StatReport): string {
  const lines = report.events.map((event) => JSON.stringify(eventJson(report, event)));
  lines.push(JSON.stringify(summaryJson(report)));
  return lines.join("\n") + "\n";
}
