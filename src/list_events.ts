/**
 * Every event perfmmap knows by name, and whether each opens here.
 *
 * @module
 */

import { Counter } from "./counter.ts";
import { PerfError, quote } from "./errors.ts";
import { describe, ownRecord } from "./_input.ts";
import type { EventKind } from "./event.ts";
import { cacheEventNames, HARDWARE_EVENTS, SOFTWARE_EVENTS } from "./_event_tables.ts";
import { pmuAliases } from "./_pmu.ts";
import { listPmus } from "./_sysfs.ts";

/** One listed event. */
export interface EventListing {
  /** The name to pass to `Counter.open`. */
  name: string;
  /** Other names for it. */
  aliases: string[];
  /** Generic hardware, software, cache, or a sysfs PMU's alias. */
  kind: EventKind;
  /** The PMU, for PMU aliases. */
  pmu?: string;
  /** What it counts (generic events), or its sysfs terms (PMU aliases). */
  description: string;
  /** Whether it opens here; `undefined` when not checked. */
  opens?: boolean;
  /** The error code when it does not open. */
  code?: string;
  /** What to do when it does not open. */
  hint?: string;
}

/** Options of {@link listEvents}. */
export interface ListEventsOptions {
  /** Try to open each event (default true). */
  check?: boolean;
  /** Keep only events whose name, alias or PMU contains this text (case-insensitive). */
  filter?: string;
}

function check(listing: EventListing): EventListing {
  try {
    Counter.open(listing.name, { userspace: "off" }).close();
    return { ...listing, opens: true };
  } catch (error) {
    if (!(error instanceof PerfError)) throw error;
    return { ...listing, opens: false, code: error.code, hint: error.hint };
  }
}

/**
 * Lists the generic hardware, software and cache events and the aliases each
 * sysfs PMU advertises, and says which open on this machine.
 *
 * @param options `check` (default true) and `filter`.
 * @returns The events, generic ones first.
 *
 * @example Listing what opens
 * ```ts
 * import { listEvents } from "@perfmmap/perfmmap";
 *
 * for (const e of listEvents()) {
 *   console.log(e.name, e.opens ? "ok" : `not supported (${e.code})`);
 * }
 * ```
 */
export function listEvents(options?: ListEventsOptions): EventListing[] {
  const { filter, check: checking } = listOptions(options);
  const listings: EventListing[] = [];
  for (const e of HARDWARE_EVENTS) {
    listings.push({
      name: e.name,
      aliases: [...e.aliases],
      kind: "hardware",
      description: e.description,
    });
  }
  for (const e of SOFTWARE_EVENTS) {
    listings.push({
      name: e.name,
      aliases: [...e.aliases],
      kind: "software",
      description: e.description,
    });
  }
  for (const e of cacheEventNames()) {
    listings.push({ name: e.name, aliases: [], kind: "cache", description: "generic cache event" });
  }
  for (const { name: pmu } of listPmus()) {
    for (const [alias, terms] of pmuAliases(pmu)) {
      listings.push({
        name: `${pmu}/${alias}/`,
        aliases: [],
        kind: "pmu",
        pmu,
        description: terms,
      });
    }
  }
  const kept = filter === undefined
    ? listings
    : listings.filter((e) =>
      [e.name, ...e.aliases, e.pmu ?? ""].some((text) => text.toLowerCase().includes(filter))
    );
  return checking ? kept.map(check) : kept;
}

/** The options, read from own properties only and checked. */
function listOptions(options: unknown): { filter: string | undefined; check: boolean } {
  const context = { op: "list" };
  const own = ownRecord(context, "options", options === undefined ? {} : options);
  for (const key of Object.keys(own)) {
    if (key !== "check" && key !== "filter") {
      throw new PerfError("INVALID_OPTION", `unknown option ${quote(key)} (known: check, filter)`, {
        op: "list",
      });
    }
  }
  if (own.check !== undefined && typeof own.check !== "boolean") {
    throw new PerfError(
      "INVALID_OPTION",
      `option check must be a boolean, got ${describe(own.check)}`,
      { op: "list" },
    );
  }
  if (own.filter !== undefined && typeof own.filter !== "string") {
    throw new PerfError(
      "INVALID_OPTION",
      `option filter must be a string, got ${describe(own.filter)}`,
      { op: "list" },
    );
  }
  return { filter: own.filter?.toLowerCase(), check: own.check !== false };
}
