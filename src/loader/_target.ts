// Which native folder serves this machine: `linux-<x64|arm64>-<gnu|musl>`.
// The core links no libc, so the gnu and musl folders hold the same file; the
// host's flavour is still chosen (and tried first) so that every error names
// the folder a reader expects, and so that a future libc-linked core needs no
// change here.

import { hostArch, hostOs, listNames, type Runtime } from "./_host.ts";

/** The library's file name. */
export const LIBRARY_FILE = "libperfmmap.so";
/** The launcher's file name (the CLI's `stat`), beside the library. */
export const LAUNCHER_FILE = "perfmmap-launch";

/** Every folder a release ships under `native/`, one library and one launcher each. */
export const NATIVE_TARGETS: readonly string[] = [
  "linux-x64-gnu",
  "linux-x64-musl",
  "linux-arm64-gnu",
  "linux-arm64-musl",
];

/** The facts the choice depends on. */
export interface HostFacts {
  /** `linux` on every supported machine. */
  os: string;
  /** `x64`, `arm64`, or the runtime's raw name for another CPU. */
  arch: string;
  /** True on a musl host (Alpine, Void musl, ...). */
  musl: boolean;
}

/**
 * True when the host's dynamic loader is musl's: `/lib/ld-musl-<cpu>.so.1`
 * exists. glibc hosts have `ld-linux-*` instead. Without read access to
 * `/lib` (Deno without --allow-read) the answer is false, which is harmless
 * because both folders hold the same file.
 */
export function detectMusl(runtime: Runtime): boolean {
  const names = listNames(runtime, "/lib") ?? [];
  return names.some((name) => name.startsWith("ld-musl-"));
}

/** The facts for this process. */
export function hostFacts(runtime: Runtime): HostFacts {
  return { os: hostOs(runtime), arch: hostArch(runtime), musl: detectMusl(runtime) };
}

/** The native folders for `facts`, the host's libc flavour first. */
export function targetFolders(facts: HostFacts): string[] {
  const flavours = facts.musl ? ["musl", "gnu"] : ["gnu", "musl"];
  return flavours.map((libc) => `${facts.os}-${facts.arch}-${libc}`);
}

/** Whether a release ships a library for `folder`. */
export function isShippedTarget(folder: string): boolean {
  return NATIVE_TARGETS.includes(folder);
}
