// Finding and loading libperfmmap.so. In order:
//   1. PERFMMAP_LIB, in every install mode;
//   2. a module loaded from files (a checkout, node_modules, Deno's npm
//      cache): native/<os>-<arch>-<libc>/ beside the module;
//   3. a module loaded over http(s) (JSR): a verified copy in the per-version
//      cache, fetched from the package's own URL (see _remote.ts). That
//      download is asynchronous, so it runs while this module is evaluated
//      (top-level await) and its outcome is used, or thrown, on first use.
// A failure names every path tried, why each failed, and what to do.

import { PerfError } from "../errors.ts";
import { openWithBun } from "../ffi/bun.ts";
import { openWithDeno } from "../ffi/deno.ts";
import { isNodeFfiDenied, openWithNode } from "../ffi/node.ts";
import { detectRuntime, envVar, hostArch, mayRead, readHead, type Runtime } from "./_host.ts";
import type { LoadedLibrary } from "../ffi/_loaded.ts";
import { fetchLibrary, isRemoteRoot, type RemoteOutcome } from "./_remote.ts";
import { hostFacts, LIBRARY_FILE, targetFolders } from "./_target.ts";

/** The environment variable that names the library file. */
export const LIBRARY_ENV = "PERFMMAP_LIB";
export { LIBRARY_FILE };
/** The command that builds the library for this machine. */
export const BUILD_COMMAND = "deno run -A build.ts";

const ELF_MACHINES: ReadonlyMap<number, string> = new Map([
  [3, "x86 (32-bit)"],
  [40, "arm (32-bit)"],
  [62, "x86_64"],
  [183, "aarch64"],
  [243, "riscv"],
]);
const ELF_MACHINE_OF_ARCH: Readonly<Record<string, number>> = {
  x64: 62,
  arm64: 183,
};

/** The package root: the folder (or URL) that holds mod.ts and native/. */
const ROOT_URL = new URL("../../", import.meta.url);

function rootDirectory(): string | undefined {
  if (ROOT_URL.protocol !== "file:") return undefined;
  return decodeURIComponent(ROOT_URL.pathname);
}

function overridePath(runtime: Runtime): { value: string | undefined; allowed: boolean } {
  const env = envVar(runtime, LIBRARY_ENV);
  return { value: env.value === "" ? undefined : env.value, allowed: env.allowed };
}

/**
 * The remote path's outcome, settled before anything can call
 * {@link loadLibrary}; `undefined` unless the module was loaded over http(s)
 * by a supported runtime without PERFMMAP_LIB.
 */
const remote: RemoteOutcome | undefined = await prepareRemote();

async function prepareRemote(): Promise<RemoteOutcome | undefined> {
  if (!isRemoteRoot(ROOT_URL)) return undefined;
  const runtime = detectRuntime();
  if (runtime === undefined || overridePath(runtime).value !== undefined) return undefined;
  return await fetchLibrary(runtime, ROOT_URL, targetFolders(hostFacts(runtime))[0]);
}

interface _Candidates {
  paths: string[];
  notes: string[];
  explicit: boolean;
}

function candidates(runtime: Runtime): _Candidates {
  const env = overridePath(runtime);
  if (env.value !== undefined) {
    return { paths: [env.value], notes: [], explicit: true };
  }
  const notes = env.allowed ? [] : [
    `${LIBRARY_ENV} was not consulted: Deno needs --allow-env=${LIBRARY_ENV} to read it`,
  ];
  if (remote !== undefined) {
    if ("error" in remote) throw remote.error;
    return { paths: [remote.path], notes, explicit: false };
  }
  const root = rootDirectory();
  if (root === undefined) {
    notes.push(
      `the module was loaded from ${import.meta.url}, not from files: set ${LIBRARY_ENV}`,
    );
    return { paths: [], notes, explicit: false };
  }
  const paths = targetFolders(hostFacts(runtime)).map((folder) =>
    `${root}native/${folder}/${LIBRARY_FILE}`
  );
  return { paths, notes, explicit: false };
}

function open(runtime: Runtime, path: string): LoadedLibrary {
  if (runtime === "node") return openWithNode(path);
  return runtime === "deno" ? openWithDeno(path) : openWithBun(path);
}

interface _Failure {
  path: string;
  message: string;
  kind: "missing" | "wrong-arch" | "other";
}

function classify(runtime: Runtime, path: string, message: string): _Failure {
  const head = readHead(runtime, path, 20);
  if (head !== null && head.length >= 20 && head[0] === 0x7f && head[1] === 0x45) {
    const machine = head[18] | (head[19] << 8);
    const expected = ELF_MACHINE_OF_ARCH[hostArch(runtime)];
    if (machine !== expected || head[4] !== 2) {
      const built = ELF_MACHINES.get(machine) ?? `ELF machine ${machine}`;
      return {
        path,
        message: `built for ${built}, but this is ${hostArch(runtime)}`,
        kind: "wrong-arch",
      };
    }
  }
  if (/no such file|not found|cannot open shared object file/i.test(message)) {
    // glibc says "No such file" for a file built for another CPU too.
    const unsure = head === null && !mayRead(runtime, path);
    return {
      path,
      message: unsure
        ? "not found, or built for another CPU (Deno needs --allow-read to tell which)"
        : "not found",
      kind: "missing",
    };
  }
  return { path, message, kind: "other" };
}

function loadFailure(
  runtime: Runtime,
  found: _Candidates,
  failures: _Failure[],
): PerfError {
  const arch = hostArch(runtime);
  const lines = failures.map((f) => `  ${f.path}: ${f.message}`);
  const tried = lines.length === 0 ? "  (no path to try)" : lines.join("\n");
  const notes = found.notes.map((note) => `\n(${note})`).join("");
  const where = `linux-${arch}`;
  const build = found.explicit
    ? `point ${LIBRARY_ENV} at a ${LIBRARY_FILE} built for ${arch}, or unset it`
    : `build it with \`${BUILD_COMMAND}\` in ${
      rootDirectory() ?? "the module's folder"
    }, or set ${LIBRARY_ENV} to its path`;
  if (failures.length > 0 && failures.every((f) => f.kind === "wrong-arch")) {
    return new PerfError(
      "LIBRARY_WRONG_ARCH",
      `${LIBRARY_FILE} is built for another CPU than this ${where} machine; tried:\n${tried}${notes}`,
      { op: "load", hint: build },
    );
  }
  const code = failures.some((f) => f.kind === "other")
    ? "LIBRARY_LOAD_FAILED"
    : "LIBRARY_NOT_FOUND";
  const what = code === "LIBRARY_NOT_FOUND" ? "cannot find" : "cannot load";
  return new PerfError(
    code,
    `${what} ${LIBRARY_FILE} for ${where}; tried:\n${tried}${notes}`,
    { op: "load", hint: build },
  );
}

/** Loads the library for `runtime`, or throws a {@link PerfError}. */
export function loadLibrary(
  runtime: Runtime,
): { library: LoadedLibrary; path: string } {
  const found = candidates(runtime);
  const failures: _Failure[] = [];
  for (const path of found.paths) {
    try {
      return { library: open(runtime, path), path };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof Error && error.name === "NotCapable") {
        throw new PerfError(
          "FFI_NOT_ALLOWED",
          `Deno refused to load ${path}: ${message}`,
          {
            op: "load",
            hint: "run Deno with --allow-ffi (perfmmap needs no other permission)",
            cause: error,
          },
        );
      }
      if (runtime === "node" && isNodeFfiDenied(error)) {
        throw new PerfError(
          "FFI_NOT_ALLOWED",
          `Node's permission model refused to load ${path}: ${message}`,
          {
            op: "load",
            hint: "run Node with --allow-ffi beside --permission",
            cause: error,
          },
        );
      }
      failures.push(classify(runtime, path, message));
    }
  }
  throw loadFailure(runtime, found, failures);
}
