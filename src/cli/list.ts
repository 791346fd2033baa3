// `perfmmap list [--json] [--no-check] [filter]`

import { type CorePmu, corePmus, type EventListing, listEvents } from "../../mod.ts";
import { parse, UsageError } from "./_args.ts";
import { writeAll } from "./_io.ts";
import { CliError, EXIT_FAILURE } from "./_errors.ts";

/** The usage text of `perfmmap list`. */
export const LIST_HELP = `Usage: perfmmap list [--json] [--no-check] [filter]

Lists the generic hardware, software and cache events and the events each
sysfs PMU advertises (/sys/bus/event_source/devices/*/events), and whether
each one opens here (it is opened and closed once, on this process).

  filter       hw | sw | cache | pmu: only that kind; any other text keeps
               events whose name, alias or PMU contains it (case-insensitive)

Options:
  --json       one JSON object: { filter, checked, events: [...] } (the core
               PMUs and their CPUs are in \`perfmmap doctor --json\`'s facts)
  --no-check   do not try to open the events
  -h, --help   this help

Exit status: 0, or 1 when nothing matches the filter.`;

const KIND_FILTERS: Readonly<Record<string, EventListing["kind"]>> = {
  hw: "hardware",
  hardware: "hardware",
  sw: "software",
  software: "software",
  cache: "cache",
  pmu: "pmu",
};

const KIND_LABELS: Readonly<Record<string, string>> = {
  hardware: "Hardware event",
  software: "Software event",
  cache: "Hardware cache event",
  pmu: "Kernel PMU event",
};

/** One event of `list --json`, with every key present. */
export interface ListedEvent {
  name: string;
  aliases: string[];
  kind: string;
  pmu: string | null;
  description: string;
  /** Whether it opens here; null with --no-check. */
  opens: boolean | null;
  code: string | null;
  hint: string | null;
}

/** Lists events for `filter` (kind name or text). */
export function collect(filter: string | undefined, checkOpen: boolean): ListedEvent[] {
  const kind = filter === undefined ? undefined : KIND_FILTERS[filter.toLowerCase()];
  const listings = kind === undefined
    ? listEvents({ check: checkOpen, filter })
    : listEvents({ check: checkOpen }).filter((e) => e.kind === kind);
  return listings.map((e) => ({
    name: e.name,
    aliases: e.aliases,
    kind: e.kind,
    pmu: e.pmu ?? null,
    description: e.description,
    opens: e.opens ?? null,
    code: e.code ?? null,
    hint: e.hint ?? null,
  }));
}

/**
 * The core PMUs and the CPUs each covers, in one paragraph; with several
 * (a hybrid CPU), what that means for generic events.
 */
export function formatCores(cores: readonly Pick<CorePmu, "name" | "type" | "cpus">[]): string {
  if (cores.length === 0) return "No core PMU here: hardware and cache events cannot be counted.\n";
  const shown = cores.map((p) => `${p.name} (type ${p.type}, CPUs ${p.cpus})`).join(", ");
  if (cores.length === 1) return `Core PMU: ${shown}.\n`;
  const first = cores[0].name;
  return `Core PMUs: ${shown}.\nGeneric hardware and cache events count on each and read their sum; ` +
    `name one PMU to count on its CPUs only, e.g. ${first}/cycles/.\n`;
}

/** The text listing: one line per event, then each distinct reason once. */
export function formatList(events: readonly ListedEvent[], checked: boolean): string {
  const notes: string[] = [];
  const rows = events.map((e) => {
    const name = [e.name, ...e.aliases].join(" OR ");
    const label = `[${KIND_LABELS[e.kind] ?? e.kind}]`;
    let status = "";
    if (checked) {
      if (e.opens === true) status = "opens";
      else {
        const text = e.hint ?? "";
        let note = "";
        if (text !== "") {
          let index = notes.indexOf(text);
          if (index < 0) index = notes.push(text) - 1;
          note = ` [${index + 1}]`;
        }
        status = `not supported: ${e.code ?? "error"}${note}`;
      }
    }
    return { name, label, status };
  });
  const nameWidth = Math.min(48, Math.max(20, ...rows.map((r) => r.name.length)));
  const labelWidth = Math.max(...rows.map((r) => r.label.length), 0);
  const lines = rows.map((r) =>
    `  ${r.name.padEnd(nameWidth)}  ${r.label.padEnd(labelWidth)}  ${r.status}`.trimEnd()
  );
  lines.push("");
  if (checked) {
    const opening = events.filter((e) => e.opens === true).length;
    lines.push(`${opening} of ${events.length} events open here.`);
    notes.forEach((text, i) => lines.push(`[${i + 1}] ${text}`));
  } else {
    lines.push(`${events.length} events (not checked; drop --no-check to try each one).`);
  }
  return lines.join("\n") + "\n";
}

/** Runs `perfmmap list`; returns the exit code. */
export function list(args: string[]): number {
  const { values, positionals } = parse(
    "list",
    args,
    {
      json: { type: "boolean" },
      "no-check": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    true,
  );
  if (values.help === true) {
    writeAll(1, LIST_HELP + "\n");
    return 0;
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `list takes one filter, got ${positionals.length}: ${positionals.join(" ")}`,
      "list",
    );
  }
  const filter = positionals[0];
  if (filter !== undefined && filter.trim() === "") {
    throw new UsageError("the filter is empty", "list");
  }
  const checkOpen = values["no-check"] !== true;
  const events = collect(filter, checkOpen);
  if (values.json === true) {
    writeAll(1, JSON.stringify({ filter: filter ?? null, checked: checkOpen, events }) + "\n");
  } else if (events.length > 0) {
    writeAll(1, formatList(events, checkOpen) + "\n" + formatCores(corePmus()));
  }
  if (events.length === 0) {
    throw new CliError(
      `no event matches "${filter}" (try \`perfmmap list\` without a filter)`,
      EXIT_FAILURE,
    );
  }
  return 0;
}
