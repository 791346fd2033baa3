// `perfmmap doctor [--json]`: what this machine allows, each finding ok,
// warn or fail, and for each one that is not ok the command that fixes it.

import { Counter, PerfError, probe, type ProbeResult } from "../../mod.ts";
import { parse } from "./_args.ts";
import { runtimeExecutable, runtimeName, writeAll } from "./_io.ts";
import {
  describeSandbox,
  NMI_WATCHDOG_PATH,
  nmiWatchdog,
  nmiWatchdogCost,
  type SandboxFacts,
  sandboxFacts,
  sandboxFix,
} from "../internal.ts";

/** The usage text of `perfmmap doctor`. */
export const DOCTOR_HELP = `Usage: perfmmap doctor [--json]

Checks what this machine allows for perf counting: arch, kernel, VM and PMU,
perf_event_paranoid, root/CAP_PERFMON, perf_user_access (arm64) or the rdpmc
knob (x86), kernel.nmi_watchdog, seccomp and container, the PMUs present, and
whether cycles, instructions, task-clock and page-faults open and read from
userspace. Each line is ok, warn or fail; each
line that is not ok says the command that fixes it.

Options:
  --json      one JSON object (stable keys: schema, ok, checks[], facts)
  -h, --help  this help

Exit status: 0 when counting works here (no fail line), 1 otherwise.`;

/** The outcome of one check. */
export type Status = "ok" | "warn" | "fail";

/** One line of the report. Keys are always present (fix is null when ok). */
export interface Check {
  /** Stable id: library, arch, kernel, pmu, paranoid, privileges, rdpmc or perf_user_access, nmi_watchdog, seccomp, container, pmus, event:<name>. */
  id: string;
  status: Status;
  /** What was found, in one line. */
  summary: string;
  /** The exact command (or step) that fixes it; null when ok. */
  fix: string | null;
}

/** `perfmmap doctor --json`. */
export interface DoctorReport {
  /** Version of this object's shape. */
  schema: 1;
  /** True when no check failed: counting works here. */
  ok: boolean;
  checks: Check[];
  /** Everything probe() found; null when the library did not load. */
  facts: ProbeResult | null;
}

/** The events doctor opens. */
export const DOCTOR_EVENTS = ["cycles", "instructions", "task-clock", "page-faults"] as const;

const HARDWARE = new Set(["cycles", "instructions"]);

function check(id: string, status: Status, summary: string, fix: string | null = null): Check {
  return { id, status, summary, fix: status === "ok" ? null : fix };
}

function noPmuFix(facts: ProbeResult): string {
  if (facts.hypervisor === true) {
    return facts.arch === "aarch64"
      ? "on the VM's host: qemu-system-aarch64 -enable-kvm -cpu host,pmu=on … (libvirt: <pmu state='on'/>), or run on bare metal"
      : "on the VM's host: qemu-system-x86_64 -enable-kvm -cpu host,pmu=on … (libvirt: <pmu state='on'/>), or run on bare metal";
  }
  return "boot a kernel with CONFIG_HW_PERF_EVENTS=y (check: grep HW_PERF_EVENTS /boot/config-$(uname -r); dmesg | grep -i pmu)";
}

function setcapFix(): string {
  return `sudo setcap cap_perfmon=ep ${runtimeExecutable()}`;
}

function privileged(facts: ProbeResult): boolean {
  return facts.capPerfmon === true || facts.capSysAdmin === true;
}

function paranoidCheck(facts: ProbeResult): Check {
  const p = facts.paranoid;
  if (p === null) {
    return check(
      "paranoid",
      "fail",
      "/proc/sys/kernel/perf_event_paranoid is missing: this kernel has no perf_event support",
      "boot a kernel built with CONFIG_PERF_EVENTS=y",
    );
  }
  const meaning = p <= -1
    ? "no restrictions"
    : p === 0
    ? "CPU-wide and kernel counting allowed to all users"
    : p === 1
    ? "users count their own processes, user and kernel mode"
    : p === 2
    ? "users count their own processes in user mode only"
    : "perf_event_open is off for unprivileged users";
  const summary = `kernel.perf_event_paranoid = ${p}: ${meaning}`;
  if (privileged(facts)) return check("paranoid", "ok", `${summary} (bypassed: privileged)`);
  if (p >= 3) {
    return check("paranoid", "fail", summary, "sudo sysctl -w kernel.perf_event_paranoid=2");
  }
  if (p === 2) {
    return check(
      "paranoid",
      "warn",
      `${summary}; kernel-mode counts are excluded`,
      "sudo sysctl -w kernel.perf_event_paranoid=1",
    );
  }
  return check("paranoid", "ok", summary);
}

function privilegeCheck(facts: ProbeResult): Check {
  const caps = [
    facts.capSysAdmin === true ? "CAP_SYS_ADMIN" : "",
    facts.capPerfmon === true ? "CAP_PERFMON" : "",
  ].filter((c) => c !== "");
  if (caps.length > 0) {
    return check("privileges", "ok", `privileged: ${caps.join(", ")} in the effective set`);
  }
  if (facts.capPerfmon === null || facts.capSysAdmin === null) {
    return check(
      "privileges",
      "warn",
      "could not read this process's capabilities",
      setcapFix(),
    );
  }
  if ((facts.paranoid ?? 2) >= 2) {
    return check(
      "privileges",
      "warn",
      "unprivileged (no CAP_PERFMON or CAP_SYS_ADMIN): kernel mode and other users' processes are out of reach",
      setcapFix(),
    );
  }
  return check(
    "privileges",
    "ok",
    `unprivileged, which perf_event_paranoid ${facts.paranoid} allows`,
  );
}

function knobCheck(facts: ProbeResult): Check | undefined {
  if (facts.arch === "aarch64") {
    const access = facts.perfUserAccess;
    if (access === null) {
      return check(
        "perf_user_access",
        "warn",
        "kernel.perf_user_access is missing (Linux before 5.17): no userspace counter reads on arm64",
        "upgrade to Linux 5.17 or later",
      );
    }
    return access === 1
      ? check("perf_user_access", "ok", "kernel.perf_user_access = 1: userspace reads allowed")
      : check(
        "perf_user_access",
        "warn",
        `kernel.perf_user_access = ${access}: every read is a read(2) syscall`,
        "sudo sysctl -w kernel.perf_user_access=1",
      );
  }
  if (facts.arch !== "x86_64") return undefined;
  const knobs: [string, number | null][] = [
    ["cpu", facts.rdpmc.cpu],
    ["cpu_core", facts.rdpmc.cpuCore],
    ["cpu_atom", facts.rdpmc.cpuAtom],
  ];
  const present = knobs.filter(([, value]) => value !== null) as [string, number][];
  if (present.length === 0) {
    return check(
      "rdpmc",
      "warn",
      "no cpu PMU, so no rdpmc knob (/sys/bus/event_source/devices/cpu/rdpmc)",
      noPmuFix(facts),
    );
  }
  const off = present.filter(([, value]) => value === 0);
  const text = present.map(([pmu, value]) => `${pmu}/rdpmc = ${value}`).join(", ");
  if (off.length > 0) {
    return check(
      "rdpmc",
      "warn",
      `${text}: rdpmc is off, every read is a read(2) syscall`,
      off.map(([pmu]) => `echo 1 | sudo tee /sys/bus/event_source/devices/${pmu}/rdpmc`).join(
        " && ",
      ),
    );
  }
  return check("rdpmc", "ok", `${text} (1: while the counter is mmapped, 2: always)`);
}

function userspaceReason(event: string): string | undefined {
  try {
    Counter.open(event, { userspace: "require" }).close();
    return undefined;
  } catch (error) {
    return error instanceof PerfError ? error.hint ?? error.message.split("\n")[0] : String(error);
  }
}

function fixFromHint(hint: string | undefined): string | undefined {
  const command = hint === undefined ? null : /`([^`]+)`/.exec(hint);
  return command === null ? undefined : command[1];
}

function eventCheck(facts: ProbeResult, event: string): Check {
  const found = facts.events[event];
  const id = `event:${event}`;
  if (found === undefined) return check(id, "fail", "not probed", "perfmmap doctor");
  if (!found.opens) {
    const why = `${found.code ?? "error"}${
      found.errno === undefined ? "" : ` (errno ${found.errno})`
    }`;
    const noPmu = facts.cpuPmus.length === 0 && HARDWARE.has(event);
    if (
      noPmu && (found.code === "ENOENT" || found.code === "EOPNOTSUPP" || found.code === "ENODEV")
    ) {
      return check(id, "warn", `does not open: ${why}, no hardware PMU here`, noPmuFix(facts));
    }
    const fix = fixFromHint(found.hint) ?? found.hint ?? "perfmmap list";
    return check(id, "fail", `does not open: ${why}: ${found.message ?? ""}`.trim(), fix);
  }
  if (found.userspace) {
    return check(id, "ok", "opens; userspace fast path active (reads need no syscall)");
  }
  if (!HARDWARE.has(event)) {
    return check(id, "ok", "opens; read with read(2): software events have no userspace fast path");
  }
  const reason = userspaceReason(event) ?? "the kernel gave no register";
  return check(
    id,
    "warn",
    `opens, but reads use read(2): ${reason}`,
    fixFromHint(reason) ?? reason,
  );
}

/** `kernel.nmi_watchdog` and what it costs: a counter per CPU, held for good. */
export function watchdogCheck(facts: ProbeResult, watchdog = nmiWatchdog()): Check {
  if (watchdog === null) {
    return check(
      "nmi_watchdog",
      "ok",
      `${NMI_WATCHDOG_PATH} is missing or unreadable: no NMI watchdog holds a counter that we can see`,
    );
  }
  if (watchdog === 0) {
    return check("nmi_watchdog", "ok", "kernel.nmi_watchdog = 0: every hardware counter is free");
  }
  if (facts.cpuPmus.length === 0) {
    return check(
      "nmi_watchdog",
      "ok",
      `kernel.nmi_watchdog = ${watchdog}, but there is no hardware PMU here, so it holds no counter`,
    );
  }
  return check(
    "nmi_watchdog",
    "warn",
    `kernel.nmi_watchdog = ${watchdog}: ${nmiWatchdogCost()}, so a group gets one counter fewer (a group that needs them all is refused with NOT_COUNTED)`,
    "sudo sysctl -w kernel.nmi_watchdog=0 (for good: kernel.nmi_watchdog = 0 in /etc/sysctl.d/, or nmi_watchdog=0 on the kernel command line)",
  );
}

/** Whether perf_event_open failed the way a seccomp filter fails it. */
function refusedLikeAFilter(facts: ProbeResult): string | undefined {
  const clock = facts.events["task-clock"];
  if (clock === undefined || clock.opens) return undefined;
  return clock.code === "EPERM" || clock.code === "EACCES" || clock.code === "ENOSYS"
    ? clock.code
    : undefined;
}

/** The seccomp state of this process, and whether it lets perf_event_open through. */
export function seccompCheck(facts: ProbeResult, sandbox: SandboxFacts): Check {
  const mode = sandbox.seccomp;
  if (mode === null) {
    const unknown = `seccomp state unknown (/proc/self/status could not be read${
      runtimeName() === "deno" ? ": Deno reads /proc only with --allow-all" : ""
    })`;
    const refused = refusedLikeAFilter(facts);
    // ENOSYS from a kernel that has perf, or EPERM despite the privileges:
    // the kernel's checks did not refuse, so a filter did.
    const filtered = refused === "ENOSYS" && facts.paranoid !== null ||
      (refused !== undefined && privileged(facts));
    if (!filtered) return check("seccomp", "ok", unknown);
    return check(
      "seccomp",
      "fail",
      `${unknown}, but perf_event_open fails with ${refused} where the kernel would allow it: a seccomp filter denies it`,
      sandboxFix({ ...sandbox, seccomp: 2 }, privileged(facts)),
    );
  }
  if (mode === 0) return check("seccomp", "ok", "no seccomp filter (Seccomp: 0)");
  const what = mode === 1 ? "strict seccomp (Seccomp: 1)" : describeSandbox({
    ...sandbox,
    container: null,
  });
  const refused = refusedLikeAFilter(facts);
  if (refused === undefined) {
    return check("seccomp", "ok", `${what}; it lets perf_event_open through (task-clock opens)`);
  }
  return check(
    "seccomp",
    "fail",
    `${what}, and perf_event_open fails with ${refused}: the filter denies it`,
    sandboxFix(sandbox, privileged(facts)),
  );
}

/** Whether this process looks containerized (a hint only). */
export function containerCheck(facts: ProbeResult, sandbox: SandboxFacts): Check {
  if (sandbox.container === null) {
    return check(
      "container",
      "ok",
      "no container seen (/.dockerenv, /run/.containerenv, container=, cgroup)",
    );
  }
  const where = `in a ${sandbox.container} container (${sandbox.containerEvidence})`;
  if (refusedLikeAFilter(facts) !== undefined) {
    return check(
      "container",
      "warn",
      `${where}; perf_event_open is refused here`,
      sandboxFix(sandbox, privileged(facts)),
    );
  }
  return check("container", "ok", `${where}; perf_event_open is allowed`);
}

function pmuCheck(facts: ProbeResult): Check {
  const vm = facts.hypervisor === true
    ? "a VM (cpuinfo: hypervisor)"
    : facts.hypervisor === false
    ? "bare metal (no hypervisor flag)"
    : "unknown whether a VM";
  if (facts.cpuPmus.length > 0) {
    const cores = facts.corePmus.map((p) => `${p.name} (type ${p.type}, CPUs ${p.cpus})`);
    const split = cores.length > 1
      ? `; ${cores.length} kinds of core, so each generic hardware or cache event counts on every one (cpu_core/cycles/, ...) and reads their sum`
      : "";
    return check("pmu", "ok", `${vm}; hardware PMU: ${cores.join(", ")}${split}`);
  }
  return check(
    "pmu",
    "warn",
    `${vm} with no hardware PMU: cycles, instructions and cache events cannot be counted; software events can`,
    noPmuFix(facts),
  );
}

/** Runs every check; never throws for what the machine lacks. */
export function diagnose(): DoctorReport {
  let facts: ProbeResult;
  try {
    facts = probe(DOCTOR_EVENTS);
  } catch (error) {
    if (!(error instanceof PerfError)) throw error;
    const summary = error.message.split("\nhint: ")[0].split("\n").map((l) => l.trim()).join(" ");
    const cli = decodeURIComponent(new URL("../../cli.ts", import.meta.url).pathname);
    const fix = error.code === "FFI_NOT_ALLOWED"
      ? `deno run --allow-ffi --allow-read ${cli} doctor`
      : fixFromHint(error.hint) ?? error.hint ?? "deno run -A build.ts";
    return { schema: 1, ok: false, checks: [check("library", "fail", summary, fix)], facts: null };
  }
  const checks: Check[] = [
    check(
      "library",
      "ok",
      `${facts.library} (ABI ${facts.abiVersion}) loaded by ${facts.runtime} ${facts.runtimeVersion}`,
    ),
    facts.archReader
      ? check(
        "arch",
        "ok",
        `${facts.arch}: userspace reads with ${facts.arch === "aarch64" ? "mrs" : "rdpmc"}`,
      )
      : check(
        "arch",
        "warn",
        `${facts.arch}: perfmmap has no userspace reader here; every read is a read(2) syscall`,
        "none on this CPU; userspace reads exist for x86_64 and aarch64",
      ),
    facts.sysname === "Linux" ? check("kernel", "ok", `Linux ${facts.kernel}`) : check(
      "kernel",
      "fail",
      `${facts.sysname} ${facts.kernel}: perf_event is Linux only`,
      "run on Linux",
    ),
    pmuCheck(facts),
    paranoidCheck(facts),
    privilegeCheck(facts),
  ];
  const knob = knobCheck(facts);
  if (knob !== undefined) checks.push(knob);
  const sandbox = sandboxFacts();
  checks.push(watchdogCheck(facts), seccompCheck(facts, sandbox), containerCheck(facts, sandbox));
  checks.push(check("pmus", "ok", facts.pmus.map((p) => `${p.name} (type ${p.type})`).join(", ")));
  for (const event of DOCTOR_EVENTS) checks.push(eventCheck(facts, event));
  return { schema: 1, ok: checks.every((c) => c.status !== "fail"), checks, facts };
}

/** The report as text: one line per check, its fix under it. */
export function formatDoctor(report: DoctorReport): string {
  const lines: string[] = [];
  const facts = report.facts;
  lines.push(
    facts === null
      ? `perfmmap doctor (${runtimeName()})`
      : `perfmmap doctor (${facts.runtime} ${facts.runtimeVersion}, ${facts.arch}, Linux ${facts.kernel})`,
  );
  lines.push("");
  const width = Math.max(...report.checks.map((c) => c.id.length));
  for (const c of report.checks) {
    lines.push(`${c.status.padEnd(4)}  ${c.id.padEnd(width)}  ${c.summary}`);
    if (c.fix !== null) lines.push(`${" ".repeat(6 + width + 2)}fix: ${c.fix}`);
  }
  lines.push("");
  const warns = report.checks.filter((c) => c.status === "warn").length;
  const fails = report.checks.filter((c) => c.status === "fail").length;
  const tally = `${fails} fail, ${warns} warn`;
  lines.push(
    report.ok
      ? `counting works here (${tally}).`
      : `counting does not work here (${tally}); apply the fixes above.`,
  );
  return lines.join("\n") + "\n";
}

/** Runs `perfmmap doctor`; returns the exit code. */
export function doctor(args: string[]): number {
  const { values } = parse(
    "doctor",
    args,
    { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    false,
  );
  if (values.help === true) {
    writeAll(1, DOCTOR_HELP + "\n");
    return 0;
  }
  const report = diagnose();
  writeAll(1, values.json === true ? JSON.stringify(report) + "\n" : formatDoctor(report));
  return report.ok ? 0 : 1;
}
