// What the library loader needs from the runtime before the native library
// is loaded: the runtime's name and version, the CPU, one environment
// variable, and (only to explain a failure) a look at files. Every access is
// guarded by Deno's permission query so that nothing ever prompts, and by
// Node's permission model (`--permission`) so that nothing throws.

/** The runtimes perfmmap supports. */
export type Runtime = "deno" | "bun" | "node";

interface _DenoHost {
  version: { deno: string };
  build: { arch: string; os: string; target: string };
  env: { get(name: string): string | undefined };
  permissions: {
    querySync(
      descriptor: { name: string; variable?: string; path?: string },
    ): { state: string };
  };
  openSync(path: string): {
    readSync(buffer: Uint8Array): number | null;
    close(): void;
  };
  readDirSync(path: string): Iterable<{ name: string }>;
}

interface _NodeFs {
  openSync(path: string, flags: string): number;
  readSync(fd: number, buffer: Uint8Array): number;
  closeSync(fd: number): void;
  readdirSync(path: string): string[];
}

interface _BunProcess {
  versions: { bun: string; node?: string };
  arch: string;
  platform: string;
  env: Record<string, string | undefined>;
  /** Node: `process.getBuiltinModule` (Node 22.3+; Bun and Deno have it too). */
  getBuiltinModule?(id: string): unknown;
  /** Node's permission model, when the process runs with `--permission`. */
  permission?: { has(scope: string, reference?: string): boolean };
}

const host = globalThis as unknown as {
  Deno?: _DenoHost;
  Bun?: unknown;
  process?: _BunProcess;
};

/**
 * Which runtime runs us, or `undefined` (browsers, ...). Deno and Bun both
 * set `process.versions.node` too, so they are asked first. Any Node is
 * `"node"`; whether it has a usable `node:ffi` is decided on first use.
 */
export function detectRuntime(): Runtime | undefined {
  if (host.Bun !== undefined && host.process?.versions?.bun !== undefined) {
    return "bun";
  }
  if (host.Deno?.version?.deno !== undefined) return "deno";
  if (host.process?.versions?.node !== undefined) return "node";
  return undefined;
}

/** The runtime's version string. */
export function runtimeVersion(runtime: Runtime): string {
  if (runtime === "deno") return host.Deno!.version.deno;
  return runtime === "bun" ? host.process!.versions.bun : host.process!.versions.node!;
}

/** The CPU as the native folders name it: `x64`, `arm64`, or the raw name. */
export function hostArch(runtime: Runtime): string {
  const raw = runtime === "deno" ? host.Deno!.build.arch : host.process!.arch;
  if (raw === "x86_64" || raw === "x64") return "x64";
  if (raw === "aarch64" || raw === "arm64") return "arm64";
  return raw;
}

/** The OS name (`linux` on every supported machine). */
export function hostOs(runtime: Runtime): string {
  return runtime === "deno" ? host.Deno!.build.os : host.process!.platform;
}

/**
 * One environment variable, or `undefined` if unset or, under Deno, not
 * allowed (`--allow-env=NAME`); `allowed` says which.
 */
export function envVar(
  runtime: Runtime,
  name: string,
): { value: string | undefined; allowed: boolean } {
  if (runtime !== "deno") return { value: host.process!.env[name], allowed: true };
  const deno = host.Deno!;
  if (deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return { value: undefined, allowed: false };
  }
  return { value: deno.env.get(name), allowed: true };
}

function nodeFs(): _NodeFs {
  const builtin = host.process?.getBuiltinModule?.("node:fs") as _NodeFs | undefined;
  if (builtin !== undefined) return builtin;
  const meta = import.meta as unknown as { require(id: string): _NodeFs };
  return meta.require("node:fs");
}

/** True when reading `path` will not prompt or fail for lack of permission. */
export function mayRead(runtime: Runtime, path: string): boolean {
  if (runtime === "bun") return true;
  if (runtime === "node") {
    return host.process!.permission?.has("fs.read", path) ?? true;
  }
  return host.Deno!.permissions.querySync({ name: "read", path }).state ===
    "granted";
}

/** The first `length` bytes of a file, or `null` if it cannot be read. */
export function readHead(
  runtime: Runtime,
  path: string,
  length: number,
): Uint8Array | null {
  if (!mayRead(runtime, path)) return null;
  const buffer = new Uint8Array(length);
  try {
    if (runtime === "deno") {
      const file = host.Deno!.openSync(path);
      try {
        const n = file.readSync(buffer) ?? 0;
        return buffer.subarray(0, n);
      } finally {
        file.close();
      }
    }
    const fs = nodeFs();
    const fd = fs.openSync(path, "r");
    try {
      return buffer.subarray(0, fs.readSync(fd, buffer));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** Names in a directory, or `null` if it cannot be listed. */
export function listNames(runtime: Runtime, path: string): string[] | null {
  if (!mayRead(runtime, path)) return null;
  try {
    if (runtime === "deno") {
      return [...host.Deno!.readDirSync(path)].map((entry) => entry.name);
    }
    return nodeFs().readdirSync(path);
  } catch {
    return null;
  }
}
