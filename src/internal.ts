/**
 * The few internals that perfmmap's own command line (`src/cli/`) needs and
 * the public API (`mod.ts`) does not offer: the facts behind its hints (the
 * NMI watchdog, seccomp and containers) and the event details `perfmmap
 * stat` prints by.
 *
 * This is NOT a stable API. It is not a package export, it changes with the
 * CLI, and a user script should take what it needs from `mod.ts` (which
 * offers the library's path, the core PMUs, events and their parts, probe
 * results). The CLI imports `mod.ts` and this file only, never `src/_*.ts`,
 * `src/loader/` or `src/ffi/`, so that everything it relies on beyond the
 * public API is listed here. Each export is the internal function itself,
 * documented where the CLI meets it.
 *
 * @example The facts behind `perfmmap doctor`'s hints
 * ```ts
 * import { describeSandbox, nmiWatchdog, sandboxFacts } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * const watchdog = nmiWatchdog(); // 1 on, 0 off, null unknown
 * assert.ok(watchdog === null || Number.isInteger(watchdog));
 * const sandbox = describeSandbox(sandboxFacts()); // "" outside a filter or container
 * assert.equal(typeof sandbox, "string");
 * ```
 *
 * @module
 */

import {
  counterHolders as _counterHolders,
  NMI_WATCHDOG_PATH as _NMI_WATCHDOG_PATH,
  nmiWatchdog as _nmiWatchdog,
  nmiWatchdogCost as _nmiWatchdogCost,
} from "./_counted.ts";
import { PERF_HW_EVENT_MASK as _PERF_HW_EVENT_MASK } from "./_uapi.ts";
import { partNames as _partNames } from "./_hybrid.ts";
import {
  describeSandbox as _describeSandbox,
  type SandboxFacts,
  sandboxFacts as _sandboxFacts,
  sandboxFix as _sandboxFix,
} from "./_sandbox.ts";

export type { SandboxFacts };

/**
 * The bits of a hardware event's `config` that name the event; the bits
 * above (32-63) carry a hybrid part's PMU type (the extended type).
 *
 * @example The generic event of a hybrid part
 * ```ts
 * import { PERF_HW_EVENT_MASK } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * const part = (10n << 32n) | 1n; // cpu_atom/instructions/ when cpu_atom is type 10
 * assert.equal(part & PERF_HW_EVENT_MASK, 1n); // PERF_COUNT_HW_INSTRUCTIONS
 * ```
 */
export const PERF_HW_EVENT_MASK: bigint = _PERF_HW_EVENT_MASK;

/**
 * The names to count an event under, as perf stat shows them: one per core
 * PMU for a generic hardware or cache event on a hybrid CPU
 * (`cpu_atom/cycles/`, `cpu_core/cycles/`), else the name itself.
 *
 * @param name An event in perf's syntax.
 * @returns The names, each of which opens one PMU's part.
 * @throws {PerfError} `INVALID_EVENT` for a name that does not parse.
 *
 * @example One row per part
 * ```ts
 * import { partNames } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(partNames("task-clock"), ["task-clock"]);
 * assert.ok(partNames("cycles").length >= 1); // 2 on Alder Lake
 * ```
 */
export const partNames: (name: string) => string[] = _partNames;

/**
 * Where the kernel's hard-lockup detector is switched (`kernel.nmi_watchdog`).
 *
 * @example
 * ```ts
 * import { NMI_WATCHDOG_PATH } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(NMI_WATCHDOG_PATH, "/proc/sys/kernel/nmi_watchdog");
 * ```
 */
export const NMI_WATCHDOG_PATH: string = _NMI_WATCHDOG_PATH;

/**
 * `kernel.nmi_watchdog`: 1 when the hard-lockup detector runs (and holds a
 * hardware counter on every CPU), 0 when off, `null` when the knob is
 * missing or unreadable. Never throws.
 *
 * @returns The knob's value, or null.
 *
 * @example
 * ```ts
 * import { NMI_WATCHDOG_PATH, nmiWatchdog } from "./internal.ts";
 *
 * const watchdog = nmiWatchdog();
 * console.log(watchdog === null ? `${NMI_WATCHDOG_PATH}: unknown` : `watchdog ${watchdog}`);
 * ```
 */
export const nmiWatchdog: () => number | null = _nmiWatchdog;

/**
 * What the NMI watchdog costs on this CPU, as one clause for a message.
 *
 * @returns The clause.
 *
 * @example
 * ```ts
 * import { nmiWatchdogCost } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(nmiWatchdogCost(), /counter/);
 * ```
 */
export const nmiWatchdogCost: () => string = _nmiWatchdogCost;

/**
 * What holds hardware counters on this machine, as one clause with the
 * fix: for a group or an event that never got on the PMU.
 *
 * @returns The clause.
 *
 * @example
 * ```ts
 * import { counterHolders } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(counterHolders(), /perf/);
 * ```
 */
export const counterHolders: () => string = _counterHolders;

/**
 * This process's seccomp mode and container, read now from /proc where the
 * runtime may read without asking (else each fact is `null`). Never throws.
 *
 * @returns The {@link SandboxFacts}.
 *
 * @example
 * ```ts
 * import { sandboxFacts } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * const facts = sandboxFacts();
 * assert.ok(facts.seccomp === null || [0, 1, 2].includes(facts.seccomp));
 * ```
 */
export const sandboxFacts: () => SandboxFacts = _sandboxFacts;

/**
 * What fixes a seccomp filter or container that denies perf_event_open.
 *
 * @param facts The sandbox, from {@link sandboxFacts}.
 * @param privileged The process already has CAP_PERFMON or CAP_SYS_ADMIN,
 * so only another seccomp profile helps (default false).
 * @returns One sentence of fixes.
 *
 * @example
 * ```ts
 * import { sandboxFacts, sandboxFix } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * const docker = { ...sandboxFacts(), seccomp: 2, container: "docker" };
 * assert.match(sandboxFix(docker), /--cap-add PERFMON/);
 * ```
 */
export const sandboxFix: (facts: SandboxFacts, privileged?: boolean) => string = _sandboxFix;

/**
 * The sandbox in words: "a seccomp filter (…) in a docker container (…)",
 * or `""` when there is neither.
 *
 * @param facts The sandbox, from {@link sandboxFacts}.
 * @returns The description.
 *
 * @example
 * ```ts
 * import { describeSandbox } from "./internal.ts";
 * import assert from "node:assert/strict";
 *
 * const none = { seccomp: 0, seccompFilters: 0, noNewPrivs: false, container: null };
 * assert.equal(describeSandbox({ ...none, containerEvidence: null }), "");
 * assert.equal(
 *   describeSandbox({ ...none, container: "docker", containerEvidence: "/.dockerenv exists" }),
 *   "in a docker container (/.dockerenv exists)",
 * );
 * ```
 */
export const describeSandbox: (facts: SandboxFacts) => string = _describeSandbox;
