// Whether a reading is a count at all, and why not. A counter or group that
// was never on the PMU (`time_running` 0) reads 0: that is no measurement,
// and scaling it by enabled/running would divide by zero. Readings say so
// (`counted: false`, `scaled: null`, a reason) instead of showing the 0.
//
// Also the facts about what holds the hardware counters, shared by the
// not-counted reasons, Group.open's check and `doctor`.

import { readLine, uname } from "./_sysfs.ts";

/** Where the kernel's hard-lockup detector is switched. */
export const NMI_WATCHDOG_PATH = "/proc/sys/kernel/nmi_watchdog";

/**
 * `kernel.nmi_watchdog`: 1 when the hard-lockup detector runs, 0 when off,
 * `null` when the knob is missing (a kernel without it) or unreadable.
 * Never throws: it only feeds messages.
 */
export function nmiWatchdog(): number | null {
  try {
    const text = readLine(NMI_WATCHDOG_PATH);
    const value = text === null ? NaN : Number(text);
    return Number.isInteger(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * What the NMI watchdog costs here, in one clause: on x86 the hard-lockup
 * detector is a pinned `cycles` event on every CPU, which holds one
 * general-purpose counter per CPU (or the fixed cycles counter, depending
 * on the CPU model), for good; on arm64 it holds one PMU counter when
 * the kernel builds it on perf (pseudo-NMI).
 */
export function nmiWatchdogCost(): string {
  const machine = (() => {
    try {
      return uname().machine;
    } catch {
      return "unknown";
    }
  })();
  return machine === "aarch64"
    ? "when the kernel's hard-lockup detector is built on perf, it holds one PMU counter on every CPU"
    : "it holds one hardware counter on every CPU (a pinned cycles event)";
}

/**
 * What holds hardware counters on this machine, as one clause with the fix,
 * for messages about a group that never got on the PMU.
 */
export function counterHolders(): string {
  const watchdog = nmiWatchdog();
  const others = "other perf users (perf record/stat, profilers, pinned or exclusive groups)";
  if (watchdog !== null && watchdog > 0) {
    return `the NMI watchdog is on (kernel.nmi_watchdog = ${watchdog}: ${nmiWatchdogCost()}; \`sudo sysctl -w kernel.nmi_watchdog=0\` frees it), and ${others} may hold more`;
  }
  return `${others} may hold them${
    watchdog === 0 ? " (the NMI watchdog is off here)" : ""
  }; \`perf stat -a sleep 1\` and \`ls -l /proc/*/fd | grep perf_event\` show who counts`;
}

/**
 * Why a reading with these times is not a count, or `null` when it is one
 * (`timeRunning > 0`).
 *
 * @param timeEnabled Nanoseconds enabled.
 * @param timeRunning Nanoseconds on the PMU.
 * @returns The reason, one sentence, or null.
 */
export function notCountedReason(timeEnabled: number, timeRunning: number): string | null {
  if (timeRunning > 0) return null;
  if (!(timeEnabled > 0)) {
    return "never enabled (timeEnabled and timeRunning are 0): opened disabled, or waiting for exec";
  }
  return `enabled for ${
    formatNs(timeEnabled)
  } but never on the PMU (timeRunning 0): it did not fit in the free hardware counters, or it is bound to a CPU the task did not run on`;
}

/**
 * The multiplexing factor `timeEnabled / timeRunning` of a counted reading;
 * 1 when the counter was on the PMU the whole time (or the extrapolated
 * times came out with running ahead of enabled).
 */
export function scaleFactor(timeEnabled: number, timeRunning: number): number {
  return timeRunning > 0 && timeEnabled > timeRunning ? timeEnabled / timeRunning : 1;
}

function formatNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns} ns`;
}
