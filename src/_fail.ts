// Turning a negative native result into one PerfError with a hint built from
// what this machine says (sysctls, capabilities, PMUs present).

import type { PerfError } from "./errors.ts";
import { coreFailure, type FailureContext, plainHint } from "./_result.ts";
import { native } from "./loader/native.ts";
import { cpuPmus, listPmus, privileges, readLine, sysctl, uname } from "./_sysfs.ts";
import { breakpointHint } from "./_watch.ts";
import { PERF_TYPE } from "./_uapi.ts";
import { containerNote, sandboxFacts, sandboxHint } from "./_sandbox.ts";

function isArm64(): boolean {
  return uname().machine === "aarch64";
}

function noPmuHint(): string | undefined {
  if (cpuPmus().length > 0) return undefined;
  const present = listPmus().map((p) => p.name).join(", ");
  return `this VM exposes no hardware PMU (PMUs here: ${present}), so hardware and cache events cannot be counted; use software events such as task-clock, or a machine with a (virtual) PMU`;
}

/**
 * Whether the kernel's own checks (capabilities, perf_event_paranoid) would
 * let this open through, so that an EPERM comes from elsewhere (a seccomp
 * filter, a security module).
 */
function kernelWouldAllow(ctx: FailureContext): boolean {
  const p = privileges();
  if (p.perfmon === true || p.sysAdmin === true) return true;
  if (p.paranoid === null || p.paranoid >= 3) return false;
  if ((ctx.pid ?? 0) !== 0 || ((ctx.cpu ?? -1) >= 0 && ctx.pid === -1)) return false;
  return p.paranoid <= 1 || ctx.excludeKernel === true;
}

/** The hint for ENOSYS from perf_event_open: no perf in the kernel, or a filter. */
function noSyscallHint(ctx: FailureContext): string | undefined {
  if (ctx.op !== "open") return undefined;
  const p = privileges();
  const privileged = p.perfmon === true || p.sysAdmin === true;
  if (sysctl("PERF_EVENT_PARANOID") === null) {
    return "this kernel has no perf_event_open (/proc/sys/kernel/perf_event_paranoid is missing): boot a kernel built with CONFIG_PERF_EVENTS=y";
  }
  const hint = sandboxHint("ENOSYS", kernelWouldAllow(ctx), sandboxFacts(), privileged);
  if (hint !== undefined) return hint;
  return "this kernel has perf_event_open (/proc/sys/kernel/perf_event_paranoid exists), so ENOSYS comes from a seccomp filter this process inherited (a container's profile, systemd's SystemCallFilter=, a sandbox): allow perf_event_open there (`docker run --cap-add PERFMON` or `--security-opt seccomp=<profile.json>`)";
}

function permissionHint(ctx: FailureContext): string {
  if (ctx.op !== "open") return kernelPermissionHint(ctx);
  // A seccomp filter answers before the kernel's checks run.
  const facts = sandboxFacts();
  const p = privileges();
  const privileged = p.perfmon === true || p.sysAdmin === true;
  const sandboxed = sandboxHint("EPERM", kernelWouldAllow(ctx), facts, privileged);
  if (sandboxed !== undefined) return sandboxed;
  const note = containerNote(facts);
  const hint = kernelPermissionHint(ctx);
  return note === undefined ? hint : `${hint}; ${note}`;
}

function kernelPermissionHint(ctx: FailureContext): string {
  const p = privileges();
  const paranoid = p.paranoid ?? "unknown";
  const lacks = p.perfmon === null
    ? "this process's capabilities could not be read"
    : "this process lacks CAP_PERFMON";
  if (p.perfmon || p.sysAdmin) {
    return `the kernel refused although this process has ${
      p.sysAdmin ? "CAP_SYS_ADMIN" : "CAP_PERFMON"
    }; a seccomp filter (a container's profile: \`docker run --security-opt seccomp=<profile.json>\` with one that allows perf_event_open; \`grep Seccomp /proc/self/status\` shows 2 under a filter) or a security module (SELinux, AppArmor, lockdown) may forbid perf_event_open`;
  }
  if (typeof p.paranoid === "number" && p.paranoid >= 3) {
    return `perf_event_paranoid is ${paranoid}, which forbids perf_event_open to unprivileged users: run \`sudo sysctl -w kernel.perf_event_paranoid=2\` or grant CAP_PERFMON to the runtime`;
  }
  if (ctx.cpu !== undefined && ctx.cpu >= 0 && (ctx.pid ?? 0) === -1) {
    return `counting a whole CPU needs perf_event_paranoid <= 0 or CAP_PERFMON, and it is ${paranoid}: run \`sudo sysctl -w kernel.perf_event_paranoid=0\``;
  }
  if (ctx.excludeKernel === false) {
    return `perf_event_paranoid is ${paranoid} and ${lacks}, so kernel-mode counting is denied: add ":u" to the event, or run \`sudo sysctl -w kernel.perf_event_paranoid=1\``;
  }
  if (ctx.pid !== undefined && ctx.pid > 0) {
    return `counting process ${ctx.pid} needs ptrace rights over it (same user, and kernel.yama.ptrace_scope permitting), or CAP_PERFMON`;
  }
  return `perf_event_paranoid is ${paranoid} and ${lacks}: run \`sudo sysctl -w kernel.perf_event_paranoid=1\` or grant CAP_PERFMON`;
}

/**
 * A generic hardware or cache event whose config names a PMU in bits 32-63
 * (the extended type, PERF_PMU_TYPE_SHIFT): the kernel gives ENOENT when no
 * PMU has that type, or when that PMU takes no generic events (only core
 * PMUs do). Undefined when the type is a core PMU's, or there is none.
 */
function extendedTypeHint(ctx: FailureContext): string | undefined {
  if ((ctx.type !== 0 && ctx.type !== 3) || ctx.config === undefined) return undefined;
  const extended = Number(ctx.config >> 32n);
  if (extended === 0) return undefined;
  const pmus = listPmus();
  const owner = pmus.find((pmu) => pmu.type === extended);
  const cores = cpuPmus();
  const coreText = cores.length > 0 ? cores.join(", ") : "none here";
  if (owner === undefined) {
    return `config bits 32-63 name the PMU of type ${extended} (the extended type), and no PMU has that type here (${
      pmus.map((p) => `${p.name}=${p.type}`).join(", ")
    }); use a core PMU's type (core PMUs: ${coreText}) or 0`;
  }
  if (cores.includes(owner.name)) return undefined;
  return `config bits 32-63 name PMU "${owner.name}" (type ${extended}, the extended type), which takes no generic hardware or cache events: only core PMUs do (${coreText})`;
}

function missingEventHint(ctx: FailureContext, name: string): string | undefined {
  const extended = extendedTypeHint(ctx);
  if (extended !== undefined) return extended;
  const kind = ctx.kind;
  if (kind === "hardware" || kind === "cache" || kind === "raw") {
    return noPmuHint() ??
      (kind === "cache"
        ? `this CPU's PMU has no generic mapping for "${ctx.event}"; try a raw or PMU event from \`perfmmap list\``
        : `this CPU's PMU does not support "${ctx.event}"${
          name === "EOPNOTSUPP" ? " in this mode (try without modifiers)" : ""
        }`);
  }
  if (kind === "software") {
    return `this kernel has no software event "${ctx.event}" (it may be too old)`;
  }
  if (kind === "object" && ctx.type !== undefined) {
    const pmus = listPmus();
    if (ctx.type >= 6 && !pmus.some((p) => p.type === ctx.type)) {
      return `no PMU has type ${ctx.type} here (${
        pmus.map((p) => `${p.name}=${p.type}`).join(", ")
      })`;
    }
    return `the PMU of type ${ctx.type} has no event with this config`;
  }
  if (kind === "pmu") {
    return `PMU "${ctx.pmu}" refused this config; see its events with \`perfmmap list ${ctx.pmu}\``;
  }
  return undefined;
}

function userspaceHint(ctx: FailureContext, code: string): string {
  if (ctx.kind === "software") {
    return `"${ctx.event}" is a software event, and the kernel never offers userspace reads for software events; use userspace: "auto" so reads go through read()`;
  }
  if (ctx.kind === "simulated") {
    return "the simulated page says the userspace read is unavailable; set capabilities and index";
  }
  if (code === "NO_ARCH_READER") {
    return `perfmmap reads counters from userspace on x86_64 and aarch64 only, and this is ${uname().machine}; use userspace: "auto"`;
  }
  if (isArm64()) {
    const access = sysctl("PERF_USER_ACCESS");
    if (access !== 1) {
      return `kernel.perf_user_access is ${
        access ?? "missing (kernel older than 5.17)"
      }: run \`sudo sysctl -w kernel.perf_user_access=1\``;
    }
    return "perf_user_access is 1, but the kernel gave no register: userspace reads need a task-bound event (pid 0 or a tid, cpu -1) that is enabled and not chained";
  }
  const knob = sysctl("RDPMC_CPU") ?? sysctl("RDPMC_CPU_CORE");
  if (knob === 0) {
    return "the rdpmc knob /sys/bus/event_source/devices/cpu/rdpmc is 0: run `echo 1 | sudo tee /sys/bus/event_source/devices/cpu/rdpmc`";
  }
  if (code === "USER_INDEX_ZERO") {
    return "the counter has no hardware register now (disabled, or multiplexed out by other events); enable it or open fewer events";
  }
  return noPmuHint() ??
    `the kernel reports cap_user_rdpmc=0 for "${ctx.event}" (rdpmc knob: ${knob ?? "missing"})`;
}

const NOT_SAMPLING =
  "open it with a sample option (e.g. { sample: { period: 1_000_000 } }): only a sampling counter has a period and overflows";

/**
 * The hints of the sampling ioctls (`Counter.setPeriod`, `refresh`,
 * `pauseOutput`), whose EINVAL means something else than at open: the
 * kernel's rules in `perf_event_period()`, `_perf_event_refresh()` and
 * `PERF_EVENT_IOC_PAUSE_OUTPUT`.
 */
function samplingIoctlHint(code: string, ctx: FailureContext): string | undefined {
  if (ctx.op !== "period" && ctx.op !== "refresh" && ctx.op !== "pause_output") return undefined;
  if (code === "EOPNOTSUPP" && ctx.kind === "simulated") {
    return "a simulated counter has no kernel event behind it, so it has no sample period, overflows or ring";
  }
  if (code !== "EINVAL") return undefined;
  if (ctx.sampling !== true) return NOT_SAMPLING;
  if (ctx.op === "refresh") {
    return "the kernel refuses PERF_EVENT_IOC_REFRESH on an inherited counter (opened with inherit: true): open it without inherit";
  }
  if (ctx.op === "period") {
    const rate = sysctl("PERF_EVENT_MAX_SAMPLE_RATE");
    if (rate !== null && ctx.value !== undefined && ctx.value > rate) {
      return `a counter opened with sample.frequency takes the value as a frequency, at most perf_event_max_sample_rate (${rate} Hz here; cpu-clock and task-clock are the exception: the kernel turned their frequency into a period at open)`;
    }
    return "the PMU refused this period (some hardware PMUs bound it)";
  }
  return undefined;
}

function hintFor(code: string, ctx: FailureContext): string | undefined {
  const sampling = samplingIoctlHint(code, ctx);
  if (sampling !== undefined) return sampling;
  if (ctx.type === PERF_TYPE.BREAKPOINT) {
    const hint = breakpointHint(code, ctx.event);
    if (hint !== undefined) return hint;
  }
  switch (code) {
    case "EACCES":
    case "EPERM":
      return permissionHint(ctx);
    case "ENOSYS":
      return noSyscallHint(ctx);
    case "ENOENT":
    case "EOPNOTSUPP":
    case "ENODEV":
    case "ENXIO":
    case "ENOTSUPP":
      return missingEventHint(ctx, code);
    case "EINVAL":
      if (ctx.kind === "pmu") {
        return `PMU "${ctx.pmu}" refused these attributes: many PMUs reject exclude_* bits (":u", or the defaults when unprivileged), a pid, or a config outside their format`;
      }
      if (ctx.cpu !== undefined && ctx.cpu >= 0) {
        const online = readLine("/sys/devices/system/cpu/online");
        return `cpu ${ctx.cpu} may not exist: the online CPUs are ${online ?? "unknown"}`;
      }
      return "the kernel rejected this combination of attributes: check the exclude bits, inherit with a group, and the config";
    case "NO_USER_RDPMC":
    case "NO_ARCH_READER":
    case "USER_INDEX_ZERO":
      return userspaceHint(ctx, code);
    default:
      return plainHint(code, ctx);
  }
}

function safeHint(code: string, ctx: FailureContext): string | undefined {
  try {
    return hintFor(code, ctx);
  } catch {
    return undefined; // a hint must never hide the error it explains
  }
}

/**
 * The PerfError for a negative native result, with a hint from what this
 * machine says (a hint is best effort: it never hides the error).
 */
export function nativeFailure(result: number, ctx: FailureContext): PerfError {
  return coreFailure(result, ctx, (name) => safeHint(name, ctx));
}

/** Forces the library to load so that load errors surface first. */
export function ensureNative(): void {
  native();
}
