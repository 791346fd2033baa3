// Helpers for the packaging tests: run tools and runtimes, stage a release
// into a temporary folder, and serve a folder over loopback HTTP. Nothing
// here runs at import time.

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import process from "node:process";

/** The checkout, with a trailing slash. */
export const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** True when `deno test` runs these tests; false under `bun test`. */
export const isDeno = "Deno" in globalThis;

/** The four shipped folders and the CPU each is built for. */
export const TARGETS = {
  "linux-x64-gnu": "x86_64",
  "linux-x64-musl": "x86_64",
  "linux-arm64-gnu": "aarch64",
  "linux-arm64-musl": "aarch64",
} as const;

/** Every native file a release ships, below the package root. */
export const NATIVE_FILES: readonly string[] = Object.keys(TARGETS).flatMap((folder) => [
  `native/${folder}/libperfmmap.so`,
  `native/${folder}/perfmmap-launch`,
]);

/** A bound on every child process. */
export const CHILD_TIMEOUT_MS = 120_000;

/**
 * The per-test timeout of these tests. Their set-up (staging a release)
 * runs inside the first test that needs it, not in a `before` hook: Bun's
 * node:test ignores a hook's timeout and stops hooks after 5 s.
 */
export const SLOW = { timeout: 600_000 };

/**
 * `make()` once, on first call; later calls return the same value or throw
 * the same error, so one failed set-up fails every test that needs it.
 */
export function once<T>(make: () => T): () => T {
  let state: { value: T } | { error: unknown } | undefined;
  return () => {
    if (state === undefined) {
      try {
        state = { value: make() };
      } catch (error) {
        state = { error };
      }
    }
    if ("error" in state) throw state.error;
    return state.value;
  };
}

/** The pinned tool `name` from node_modules/.bin. */
export function tool(name: "deno" | "bun" | "tsc"): string {
  return `${ROOT}node_modules/.bin/${name}`;
}

/** What a finished process gave. */
export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** How to run a child. `env` replaces the environment when `clearEnv` is set. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  clearEnv?: boolean;
  timeoutMs?: number;
}

interface _DenoCommand {
  Command: new (command: string, options: {
    args: string[];
    cwd?: string;
    env?: Record<string, string>;
    clearEnv?: boolean;
    stdout: "piped";
    stderr: "piped";
    stdin: "null";
    signal?: AbortSignal;
  }) => {
    output(): Promise<{ code: number; stdout: Uint8Array; stderr: Uint8Array }>;
    outputSync(): { code: number; stdout: Uint8Array; stderr: Uint8Array };
  };
}

function childEnv(options: RunOptions): Record<string, string> {
  if (options.clearEnv) return { ...options.env };
  return { ...process.env as Record<string, string>, ...options.env };
}

/** A `Deno.Command` with a cleared environment, piped output and a timeout. */
function denoCommand(
  command: string,
  args: readonly string[],
  cwd: string | undefined,
  env: Record<string, string>,
  timeout: number,
) {
  const deno = (globalThis as unknown as { Deno: _DenoCommand }).Deno;
  return new deno.Command(command, {
    args: [...args],
    cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    signal: AbortSignal.timeout(timeout),
  });
}

function decoded(output: { code: number; stdout: Uint8Array; stderr: Uint8Array }): Ran {
  const decoder = new TextDecoder();
  return {
    status: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Runs a program to completion. Under Deno, children start through
 * Deno.Command: Deno's node:child_process rewrites a spawn of the deno
 * binary and grants it every permission, which would hide what a Deno
 * child is refused.
 */
export function runSync(command: string, args: readonly string[], options: RunOptions = {}): Ran {
  const env = childEnv(options);
  const timeout = options.timeoutMs ?? CHILD_TIMEOUT_MS;
  if (isDeno) return decoded(denoCommand(command, args, options.cwd, env, timeout).outputSync());
  const result = spawnSync(command, [...args], {
    cwd: options.cwd,
    env,
    encoding: "utf8",
    timeout,
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** {@link runSync}, without blocking this process's event loop (for the HTTP server). */
export async function runAsync(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<Ran> {
  const env = childEnv(options);
  const timeout = options.timeoutMs ?? CHILD_TIMEOUT_MS;
  if (isDeno) return decoded(await denoCommand(command, args, options.cwd, env, timeout).output());
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const guard = setTimeout(() => child.kill("SIGKILL"), timeout);
  return await new Promise((resolve, reject) => {
    child.once("error", (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.once("close", (status) => {
      clearTimeout(guard);
      resolve({ status, stdout, stderr });
    });
  });
}

/** The last line of stdout as JSON, or an error showing everything the child said. */
export function lastJson(ran: Ran): Record<string, unknown> {
  const line = ran.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`child gave no JSON (status ${ran.status}):\n${ran.stdout}\n${ran.stderr}`);
  }
}

/** A fresh temporary folder; remove it with {@link removeDir}. */
export function tempDir(label: string): string {
  return mkdtempSync(`${tmpdir()}/perfmmap-${label}-`);
}

/** Removes a folder made by {@link tempDir}. */
export function removeDir(path: string | undefined): void {
  if (path !== undefined) rmSync(path, { recursive: true, force: true });
}

/**
 * Stages a release into `out` with scripts/release.ts: it builds all four
 * targets first (build.ts --all; about a second when Zig's cache is warm,
 * a minute or two from cold) and compiles the npm tree. `verify` adds the
 * release's own `deno publish --dry-run` and `npm pack` (the tarball lands
 * in `out`).
 */
export function stageRelease(out: string, verify = false): Ran {
  const args = ["run", "-A", `${ROOT}scripts/release.ts`, "--out", out];
  if (!verify) args.push("--no-verify");
  const ran = runSync(tool("deno"), args, { cwd: ROOT, timeoutMs: 600_000 });
  if (ran.status !== 0) {
    throw new Error(`release.ts failed (${ran.status}):\n${ran.stdout}\n${ran.stderr}`);
  }
  return ran;
}

/** Lowercase hex SHA-256 of a file. */
export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** The host's CPU as the native folders name it. */
export function hostArch(): "x64" | "arm64" {
  if (process.arch === "x64" || process.arch === "arm64") return process.arch;
  throw new Error(`no native target for ${process.arch}`);
}

/** The native folder this machine loads, by the rule src/loader/_target.ts applies. */
export function hostFolder(): string {
  const cpu = hostArch() === "x64" ? "x86_64" : "aarch64";
  const musl = existsSync(`/lib/ld-musl-${cpu}.so.1`);
  return `linux-${hostArch()}-${musl ? "musl" : "gnu"}`;
}

/** The real build for the other CPU (aarch64 on x86_64 and vice versa). */
export function otherArchLibrary(): { path: string; built: string; host: string } {
  return hostArch() === "x64"
    ? { path: `${ROOT}native/linux-arm64-gnu/libperfmmap.so`, built: "aarch64", host: "x64" }
    : { path: `${ROOT}native/linux-x64-gnu/libperfmmap.so`, built: "x86_64", host: "arm64" };
}

/** The package.json or deno.json of the checkout. */
export function manifest(name: "package.json" | "deno.json"): Record<string, unknown> {
  return JSON.parse(readFileSync(`${ROOT}${name}`, "utf8"));
}

/** A loopback HTTP server over folders, with a log of every request. */
export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** `127.0.0.1:<port>`, for Deno's --allow-import and --allow-net. */
  readonly host: string;
  /** Every request path, in order. */
  readonly log: string[];
  /** What to serve instead of the files, by request path; `null` answers 404. */
  readonly overrides: Map<string, Override>;
  close(): Promise<void>;
}

/**
 * An answer in place of a file: a body (200), `null` (404), another status,
 * or a body cut short: `truncate` bytes of it sent under a Content-Length
 * of the whole, then the connection dropped.
 */
export type Override =
  | Uint8Array
  | null
  | { status: number }
  | { body: Uint8Array; truncate: number };

function contentType(path: string): string {
  if (path.endsWith(".ts")) return "application/typescript; charset=utf-8";
  if (path.endsWith(".js")) return "application/javascript; charset=utf-8";
  if (path.endsWith(".json")) return "application/json";
  return "application/octet-stream";
}

/**
 * Serves `mounts` (URL prefix such as `/release/` → folder) on 127.0.0.1
 * at a free port, GET only, no directory listings, no `..`.
 */
export async function serveFolders(mounts: Record<string, string>): Promise<StaticServer> {
  const log: string[] = [];
  const overrides = new Map<string, Override>();
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
    log.push(path);
    const override = overrides.get(path);
    if (override !== undefined) {
      if (override !== null && "truncate" in override) {
        response.writeHead(200, {
          "content-type": contentType(path),
          "content-length": String(override.body.length),
        });
        response.write(override.body.subarray(0, override.truncate), () => {
          response.socket?.destroy();
        });
        return;
      }
      if (override !== null && "status" in override) {
        response.writeHead(override.status);
        response.end();
        return;
      }
      response.writeHead(override === null ? 404 : 200, { "content-type": contentType(path) });
      response.end(override ?? undefined);
      return;
    }
    const mount = Object.keys(mounts).find((prefix) => path.startsWith(prefix));
    const file = mount === undefined ? undefined : mounts[mount] + path.slice(mount.length);
    if (
      request.method !== "GET" || file === undefined || path.includes("..") ||
      !existsSync(file) || !statSync(file).isFile()
    ) {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(200, { "content-type": contentType(path) });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  const host = `127.0.0.1:${address.port}`;
  return {
    origin: `http://${host}`,
    host,
    log,
    overrides,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
