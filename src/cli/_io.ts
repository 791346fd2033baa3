// What the command line needs from its runtime, in one file: writing to
// stdout/stderr synchronously, the terminal check, Deno's permission queries,
// and the few environment reads. Everything else goes through node:* modules
// that Deno and Bun both implement (checked: node:child_process, node:fs,
// node:process, node:tty, node:util).

import { writeSync } from "node:fs";
import { isatty } from "node:tty";

interface _DenoPermissions {
  permissions: {
    querySync(descriptor: { name: string; variable?: string; command?: string }): {
      state: string;
    };
  };
  env: { get(name: string): string | undefined };
  execPath(): string;
}

const host = globalThis as unknown as {
  Deno?: _DenoPermissions;
  Bun?: unknown;
  process?: { env: Record<string, string | undefined>; execPath: string };
};

/** The runtime running the CLI. */
export function runtimeName(): "deno" | "bun" | "other" {
  if (host.Bun !== undefined) return "bun";
  if (host.Deno !== undefined) return "deno";
  return "other";
}

/**
 * Writes all of `text` to fd 1 or 2 before returning, so that a following
 * `process.exit` loses nothing (an async stream write could be cut off).
 */
export function writeAll(fd: 1 | 2, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  let spins = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // A non-blocking pipe that is full: wait a little and go on.
      if (code === "EAGAIN" && spins++ < 10_000) continue;
      if (code === "EPIPE") return; // the reader went away (`| head`): nothing to do
      throw error;
    }
  }
}

/** Whether fd 2 is a terminal. */
export function stderrIsTerminal(): boolean {
  try {
    return isatty(2);
  } catch {
    return false;
  }
}

/** Whether Deno would let us read every environment variable (always true in Bun). */
export function envAllowed(): boolean {
  const deno = host.Deno;
  if (deno === undefined || host.Bun !== undefined) return true;
  return deno.permissions.querySync({ name: "env" }).state === "granted";
}

/** Whether Deno would let us run any program (always true in Bun). */
export function runAllowed(): boolean {
  const deno = host.Deno;
  if (deno === undefined || host.Bun !== undefined) return true;
  return deno.permissions.querySync({ name: "run" }).state === "granted";
}

/** One environment variable, or undefined when unset or not allowed. */
export function envVar(name: string): string | undefined {
  const deno = host.Deno;
  if (deno !== undefined && host.Bun === undefined) {
    if (deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return deno.env.get(name);
  }
  return host.process?.env[name];
}

/** The runtime's executable (for the `setcap` fix that doctor prints). */
export function runtimeExecutable(): string {
  const deno = host.Deno;
  if (deno !== undefined && host.Bun === undefined) {
    try {
      return deno.execPath();
    } catch {
      return "deno";
    }
  }
  return host.process?.execPath ?? "bun";
}
