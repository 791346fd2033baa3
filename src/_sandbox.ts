// Seccomp filters and containers: what makes perf_event_open fail with EPERM
// or ENOSYS although the kernel and this process's privileges would allow
// it. Read from /proc/self/status (`Seccomp:`, `Seccomp_filters:`,
// `NoNewPrivs:`) and a few container markers, through the runtime's own file
// reads: only when the runtime may read without asking (Deno's --allow-read),
// and never throwing, because these facts only feed hints. Container
// detection is a hint, never a decision.

import { detectRuntime, envVar, readHead, type Runtime } from "./loader/_host.ts";

/** What this process's sandbox looks like. */
export interface SandboxFacts {
  /** `Seccomp:` of /proc/self/status: 0 none, 1 strict, 2 filter; null if unknown. */
  seccomp: number | null;
  /** `Seccomp_filters:`, the number of filters installed; null if unknown. */
  seccompFilters: number | null;
  /** `NoNewPrivs:`; null if unknown. */
  noNewPrivs: boolean | null;
  /** The container engine seen ("docker", "podman", "kubernetes", "lxc", ...), or null. */
  container: string | null;
  /** What showed the container (a file, a variable, a cgroup path), or null. */
  containerEvidence: string | null;
}

const STATUS_BYTES_MAX = 16 << 10;
const ENVIRON_BYTES_MAX = 64 << 10;
const CGROUP_BYTES_MAX = 16 << 10;
const decoder = new TextDecoder();

function readSmall(runtime: Runtime, path: string, length: number): string | null {
  const bytes = readHead(runtime, path, length);
  return bytes === null ? null : decoder.decode(bytes);
}

function statusField(status: string | null, name: string): number | null {
  if (status === null) return null;
  const match = new RegExp(`^${name}:\\s*(\\d+)\\s*$`, "m").exec(status);
  return match === null ? null : Number(match[1]);
}

/** Engines named in cgroup paths, in the order they are looked for. */
const CGROUP_ENGINES: readonly [RegExp, string][] = [
  [/kubepods/, "kubernetes"],
  [/libpod|\/podman/, "podman"],
  [/docker/, "docker"],
  [/containerd|cri-containerd/, "containerd"],
  [/\/lxc|lxc\.payload/, "lxc"],
];

function containerOf(runtime: Runtime): { name: string; evidence: string } | null {
  if (readHead(runtime, "/.dockerenv", 1) !== null) {
    return { name: "docker", evidence: "/.dockerenv exists" };
  }
  if (readHead(runtime, "/run/.containerenv", 1) !== null) {
    return { name: "podman", evidence: "/run/.containerenv exists" };
  }
  const own = envVar(runtime, "container").value;
  if (own !== undefined && own !== "") {
    return { name: own, evidence: `container=${own} in the environment` };
  }
  const init = readSmall(runtime, "/proc/1/environ", ENVIRON_BYTES_MAX);
  const fromInit = init?.split("\0").find((entry) => entry.startsWith("container="));
  if (fromInit !== undefined && fromInit.length > "container=".length) {
    return {
      name: fromInit.slice("container=".length),
      evidence: `${fromInit} in /proc/1/environ`,
    };
  }
  if (envVar(runtime, "KUBERNETES_SERVICE_HOST").value !== undefined) {
    return { name: "kubernetes", evidence: "KUBERNETES_SERVICE_HOST is set" };
  }
  const cgroup = readSmall(runtime, "/proc/self/cgroup", CGROUP_BYTES_MAX);
  if (cgroup !== null) {
    for (const [pattern, name] of CGROUP_ENGINES) {
      const line = cgroup.split("\n").find((l) => pattern.test(l));
      if (line !== undefined) {
        return { name, evidence: `/proc/self/cgroup: ${line.trim().slice(0, 80)}` };
      }
    }
  }
  return null;
}

/**
 * The seccomp and container facts of this process, read now (a filter can
 * be added while it runs). Never throws.
 */
export function sandboxFacts(): SandboxFacts {
  const unknown: SandboxFacts = {
    seccomp: null,
    seccompFilters: null,
    noNewPrivs: null,
    container: null,
    containerEvidence: null,
  };
  try {
    const runtime = detectRuntime();
    if (runtime === undefined) return unknown;
    const status = readSmall(runtime, "/proc/self/status", STATUS_BYTES_MAX);
    const noNewPrivs = statusField(status, "NoNewPrivs");
    const container = containerOf(runtime);
    return {
      seccomp: statusField(status, "Seccomp"),
      seccompFilters: statusField(status, "Seccomp_filters"),
      noNewPrivs: noNewPrivs === null ? null : noNewPrivs === 1,
      container: container?.name ?? null,
      containerEvidence: container?.evidence ?? null,
    };
  } catch {
    return unknown;
  }
}

/**
 * What fixes a seccomp filter or container that denies perf_event_open.
 * `privileged`: this process has CAP_PERFMON or CAP_SYS_ADMIN already, so
 * the profile denies the syscall whatever the capabilities: adding one is no
 * fix, another profile is.
 */
export function sandboxFix(facts: SandboxFacts, privileged = false): string {
  const engine = facts.container;
  if (privileged && facts.seccomp === 2) {
    const run = engine === "podman" ? "podman run" : "docker run";
    return engine === null
      ? "this process already has CAP_PERFMON or CAP_SYS_ADMIN, so the inherited seccomp filter denies perf_event_open outright: allow it in that filter (systemd: SystemCallFilter=; a container: `--security-opt seccomp=<profile.json>`), or run outside it"
      : `this container already has CAP_PERFMON or CAP_SYS_ADMIN, so its seccomp profile denies perf_event_open outright: start it with \`${run} --security-opt seccomp=<profile.json>\` and a profile that allows perf_event_open (Docker's default profile does, given CAP_PERFMON), or \`--privileged\``;
  }
  if (engine === "kubernetes") {
    return "give the pod's container `securityContext.capabilities.add: [\"PERFMON\"]` (Docker's default seccomp profile then allows perf_event_open) or a seccompProfile that allows perf_event_open";
  }
  if (engine !== null) {
    const run = engine === "podman" ? "podman run" : "docker run";
    return `run the container with \`${run} --cap-add PERFMON\` (its default seccomp profile allows perf_event_open only with CAP_PERFMON or CAP_SYS_ADMIN; older engines need \`--cap-add SYS_ADMIN\`), or \`--security-opt seccomp=<profile.json>\` with a profile that allows perf_event_open, or \`--privileged\``;
  }
  return "allow perf_event_open in the seccomp filter this process inherited (a container's seccomp profile: `docker run --cap-add PERFMON` or `--security-opt seccomp=<profile.json>`; systemd: SystemCallFilter=; a sandbox or CI runner's policy), or run outside it";
}

/** "a seccomp filter (Seccomp: 2, 1 filter) in a docker container (/.dockerenv exists)". */
export function describeSandbox(facts: SandboxFacts): string {
  const parts: string[] = [];
  if (facts.seccomp === 2) {
    const filters = facts.seccompFilters;
    parts.push(
      `a seccomp filter (Seccomp: 2 in /proc/self/status${
        filters === null ? "" : `, ${filters} filter${filters === 1 ? "" : "s"}`
      })`,
    );
  }
  if (facts.container !== null) {
    parts.push(`in a ${facts.container} container (${facts.containerEvidence})`);
  }
  return parts.join(" ");
}

/**
 * The hint for a perf_event_open that failed with `code` (EPERM, EACCES,
 * ENOSYS) under a seccomp filter (or, for ENOSYS, in a container), or
 * undefined when neither is seen: an EPERM with no filter came from the
 * kernel's own checks (see {@link containerNote}). `kernelWouldAllow`: the kernel's own checks (privileges,
 * perf_event_paranoid) would have let this open through, so the filter is
 * the likely cause, not merely a possible one. `privileged`: see
 * {@link sandboxFix}.
 */
export function sandboxHint(
  code: string,
  kernelWouldAllow: boolean,
  facts: SandboxFacts = sandboxFacts(),
  privileged = false,
): string | undefined {
  const filtered = facts.seccomp === 2;
  if (!filtered && facts.container === null) return undefined;
  const where = describeSandbox(facts);
  if (code === "ENOSYS") {
    // The caller checked that the kernel has perf: only a filter says ENOSYS.
    const filter = filtered ? where : `a seccomp filter ${where}`;
    return `perf_event_open is blocked: this kernel has it, so ENOSYS comes from ${filter}; ${
      sandboxFix({ ...facts, seccomp: 2 }, privileged)
    }`;
  }
  if (!filtered) return undefined; // the kernel's checks refused: see containerNote
  return kernelWouldAllow
    ? `perf_event_open was refused by ${where}: the kernel's own checks would allow it here; ${
      sandboxFix(facts, privileged)
    }`
    : `this process runs under ${where}, which may deny perf_event_open (${code}); ${
      sandboxFix(facts, privileged)
    }; if it allows it, perf_event_paranoid or the missing CAP_PERFMON refused it`;
}

/**
 * For an EPERM or EACCES from the kernel's own checks in a container: how
 * the container gets the capability, or undefined outside one.
 */
export function containerNote(facts: SandboxFacts = sandboxFacts()): string | undefined {
  if (facts.container === null || facts.seccomp === 2) return undefined;
  const run = facts.container === "podman" ? "podman run" : "docker run";
  return `this runs in a ${facts.container} container (${facts.containerEvidence}), which drops CAP_PERFMON unless started with \`${run} --cap-add PERFMON\``;
}
