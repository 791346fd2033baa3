// The library when the module itself was loaded over http(s): from JSR
// (`jsr:@perfmmap/perfmmap` runs from https://jsr.io/...) or any URL import.
// dlopen needs a file, so the library is fetched from the package's own URL
// into a per-version cache, checked against the SHA-256 recorded at release
// time (src/loader/_checksums.ts, written by scripts/release.ts), written
// atomically, and loaded from there. A cached copy is hashed again on every
// start, so a file changed in the cache is fetched anew, never loaded.
//
// In practice this is Deno's path (Bun does not import URLs); the file
// operations still go through whichever runtime runs us.

import { PerfError } from "../errors.ts";
import { envVar, type Runtime } from "./_host.ts";
import { NATIVE_SHA256, RELEASE_VERSION } from "./_checksums.ts";
import { isShippedTarget, LAUNCHER_FILE, LIBRARY_FILE, NATIVE_TARGETS } from "./_target.ts";

/** The folder below the cache home: `<cache home>/perfmmap/<version>/<target>/`. */
export const CACHE_FOLDER = "perfmmap";
/** How long one download may take. */
export const FETCH_TIMEOUT_MS = 30_000;
/** The largest native file we accept (each is tens of KB). */
export const FETCH_BYTES_MAX = 16 << 20;

/** What the remote path produced: a verified local copy, or why there is none. */
export type RemoteOutcome =
  | { readonly path: string; readonly fetched: boolean }
  | { readonly error: PerfError };

interface _DenoFs {
  permissions: {
    querySync(
      descriptor: { name: string; path?: string; host?: string },
    ): { state: string };
  };
  readFile(path: string): Promise<Uint8Array>;
  writeFile(
    path: string,
    data: Uint8Array,
    options: { mode: number; createNew: boolean },
  ): Promise<void>;
  mkdir(path: string, options: { recursive: boolean; mode: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  statSync(path: string): { isDirectory: boolean };
  errors: { NotFound: new (...args: never[]) => Error };
}

interface _NodeFsPromises {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array, options: { mode: number; flag: string }): Promise<void>;
  mkdir(path: string, options: { recursive: boolean; mode: number }): Promise<unknown>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

interface _NodeFs {
  promises: _NodeFsPromises;
  statSync(path: string): { isDirectory(): boolean };
}

/** The few file operations the cache needs, from whichever runtime runs us. */
interface _Files {
  /** Whether the runtime lets us do `access` on `path` without asking. */
  allowed(access: "read" | "write", path: string): boolean;
  /** Whether the runtime lets us fetch from `host` (`name:port`). */
  allowedNet(host: string): boolean;
  /** The file's bytes, or `undefined` if it does not exist. */
  read(path: string): Promise<Uint8Array | undefined>;
  /** Creates `directory` and its parents (mode 0755), if missing. */
  makeDirectory(directory: string): Promise<unknown>;
  /** Writes a file that must not exist yet. */
  writeNew(path: string, bytes: Uint8Array, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Removes `path`, if it exists; never throws. */
  removeQuietly(path: string): Promise<void>;
  /** Whether `path` is a directory, something else, or cannot be looked at. */
  kind(path: string): "directory" | "other" | undefined;
}

function denoFiles(deno: _DenoFs): _Files {
  const granted = (descriptor: { name: string; path?: string; host?: string }) =>
    deno.permissions.querySync(descriptor).state === "granted";
  return {
    allowed: (access, path) => granted({ name: access, path }),
    allowedNet: (host) => granted({ name: "net", host }),
    read: async (path) => {
      try {
        return await deno.readFile(path);
      } catch (error) {
        if (error instanceof deno.errors.NotFound) return undefined;
        throw error;
      }
    },
    makeDirectory: (directory) => deno.mkdir(directory, { recursive: true, mode: 0o755 }),
    writeNew: (path, bytes, mode) => deno.writeFile(path, bytes, { mode, createNew: true }),
    rename: (from, to) => deno.rename(from, to),
    removeQuietly: (path) => deno.remove(path).catch(() => {}),
    kind: (path) => {
      if (!granted({ name: "read", path })) return undefined;
      try {
        return deno.statSync(path).isDirectory ? "directory" : "other";
      } catch {
        return undefined;
      }
    },
  };
}

function nodeFiles(node: _NodeFs): _Files {
  const fs = node.promises;
  return {
    allowed: () => true,
    allowedNet: () => true,
    read: async (path) => {
      try {
        return await fs.readFile(path);
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") return undefined;
        throw error;
      }
    },
    makeDirectory: (directory) => fs.mkdir(directory, { recursive: true, mode: 0o755 }),
    writeNew: (path, bytes, mode) => fs.writeFile(path, bytes, { mode, flag: "wx" }),
    rename: (from, to) => fs.rename(from, to),
    removeQuietly: (path) => fs.rm(path, { force: true }).catch(() => {}),
    kind: (path) => {
      try {
        return node.statSync(path).isDirectory() ? "directory" : "other";
      } catch {
        return undefined;
      }
    },
  };
}

function runtimeFiles(runtime: Runtime): _Files {
  if (runtime === "deno") {
    return denoFiles((globalThis as unknown as { Deno: _DenoFs }).Deno);
  }
  const meta = import.meta as unknown as { require(id: string): _NodeFs };
  return nodeFiles(meta.require("node:fs"));
}

/**
 * Writes `bytes` to a fresh file of our own beside `path`, then renames it
 * over `path`: rename(2) within one directory is atomic, so a reader sees
 * the old file, or no file, or the whole new one.
 */
async function writeAtomically(
  files: _Files,
  path: string,
  bytes: Uint8Array,
  mode: number,
): Promise<void> {
  const slash = path.lastIndexOf("/");
  await files.makeDirectory(path.slice(0, slash));
  const temporary = `${path.slice(0, slash)}/.${path.slice(slash + 1)}.${crypto.randomUUID()}.tmp`;
  try {
    await files.writeNew(temporary, bytes, mode);
    await files.rename(temporary, path);
  } catch (error) {
    await files.removeQuietly(temporary);
    throw error;
  }
}

/** Lowercase hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** True when the module root is served over http(s), so nothing can be dlopen'ed in place. */
export function isRemoteRoot(root: URL): boolean {
  return root.protocol === "https:" || root.protocol === "http:";
}

/**
 * The cache home: `$XDG_CACHE_HOME` when it is an absolute path, else
 * `$HOME/.cache`; `undefined` when neither can be read (Deno without
 * `--allow-env=XDG_CACHE_HOME,HOME`).
 */
export function cacheHome(runtime: Runtime): string | undefined {
  const xdg = envVar(runtime, "XDG_CACHE_HOME").value;
  if (xdg !== undefined && xdg.startsWith("/")) return xdg.replace(/\/+$/, "");
  const home = envVar(runtime, "HOME").value;
  if (home !== undefined && home.startsWith("/")) return `${home.replace(/\/+$/, "")}/.cache`;
  return undefined;
}

/** The Deno flags the remote path needs, for hints. */
function denoFlags(host: string, cacheRoot: string): string {
  return `--allow-ffi --allow-net=${host} --allow-env=XDG_CACHE_HOME,HOME ` +
    `--allow-read=${cacheRoot} --allow-write=${cacheRoot}`;
}

/** The errno name of a file or network error from either runtime ("ENOTDIR"), if any. */
function errnoName(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** What to do when the local copy cannot be set up: the way out for the library itself. */
function localLibrary(): string {
  return `or set PERFMMAP_LIB to a local ${LIBRARY_FILE}`;
}

/**
 * The hint for a cache path that cannot be read or written, from what went
 * wrong: a file where a folder must be, a folder where the file must be, or
 * a folder that cannot be written. The cache home comes from XDG_CACHE_HOME
 * (else $HOME/.cache), so that is the variable to point elsewhere.
 */
function cacheHint(error: unknown, files: _Files, path: string, cacheRoot: string): string {
  const code = errnoName(error);
  const elsewhere = `set XDG_CACHE_HOME to a writable folder, ${localLibrary()}`;
  if (code === "ENOTDIR" || code === "EEXIST") {
    const blocker = fileInTheWay(files, path);
    return blocker === undefined
      ? `a file is in the way of the cache folder ${dirname(path)}: remove it, or ${elsewhere}`
      : `remove the file ${blocker} (the cache needs a folder there), or ${elsewhere}`;
  }
  if (code === "EISDIR") {
    return `remove the folder ${path} (the cached copy is a file), or ${elsewhere}`;
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return `the cache folder ${cacheRoot} cannot be written here (${code}): make it writable, or ${elsewhere}`;
  }
  if (code === "ENOSPC" || code === "EDQUOT") {
    return `the disk holding ${cacheRoot} is full (${code}): free some space, or ${elsewhere}`;
  }
  return elsewhere;
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/**
 * The nearest path above `path` that exists and is not a folder, if one does
 * (looked for upward, so that Deno needs read access to the cache only).
 */
function fileInTheWay(files: _Files, path: string): string | undefined {
  let current = dirname(path);
  for (let depth = 0; depth < 64 && current !== ""; depth++) {
    const kind = files.kind(current);
    if (kind === "other") return current;
    if (kind === "directory") return undefined;
    current = dirname(current);
  }
  return undefined;
}

/** The hint for a download that failed on its way: the network, not the flags. */
function networkHint(host: string, what: string): string {
  return `${what}: retry, or check the network and that ${host} is reachable; ${localLibrary()}`;
}

interface _Fetched {
  readonly path: string;
  readonly fetched: boolean;
}

interface _Request {
  runtime: Runtime;
  files: _Files;
  /** The file's path below the package root, the key of NATIVE_SHA256. */
  key: string;
  url: URL;
  /** Where the verified copy lives. */
  path: string;
  cacheRoot: string;
  mode: number;
}

function failure(
  code: string,
  message: string,
  hint: string,
  cause?: unknown,
): PerfError {
  return new PerfError(code, message, { op: "load", hint, cause });
}

/** Serves `request` from the cache if the copy there matches, else downloads it. */
async function ensureFile(request: _Request): Promise<_Fetched> {
  const { files, url, path, cacheRoot } = request;
  const expected = NATIVE_SHA256[request.key];
  // Only for what Deno refused: a network or file error is not a missing flag.
  const flags = denoFlags(url.host, cacheRoot);
  const hint = `run Deno with ${flags}, ${localLibrary()}`;
  if (!files.allowed("read", path)) {
    throw failure(
      "LIBRARY_CACHE_FAILED",
      `Deno needs --allow-read=${cacheRoot} to use ${path}`,
      hint,
    );
  }
  let cached: Uint8Array | undefined;
  try {
    cached = await files.read(path);
  } catch (error) {
    throw failure(
      "LIBRARY_CACHE_FAILED",
      `cannot read ${path}: ${messageOf(error)}`,
      cacheHint(error, files, path, cacheRoot),
      error,
    );
  }
  if (cached !== undefined && await sha256Hex(cached) === expected) return { path, fetched: false };
  if (!files.allowedNet(url.host)) {
    throw failure(
      "LIBRARY_DOWNLOAD_FAILED",
      `Deno needs --allow-net=${url.host} to download ${url.href}`,
      hint,
    );
  }
  const bytes = await download(url);
  const actual = await sha256Hex(bytes);
  if (actual !== expected) {
    throw failure(
      "LIBRARY_CHECKSUM_MISMATCH",
      `refusing to load ${url.href}: its SHA-256 is ${actual}, but perfmmap ${RELEASE_VERSION} ` +
        `recorded ${expected} for ${request.key}; nothing was cached`,
      `the file was changed after the release or on its way here (a proxy, a broken ` +
        `mirror): retry, and if it persists set PERFMMAP_LIB to a ${LIBRARY_FILE} you trust`,
    );
  }
  if (!files.allowed("write", path)) {
    throw failure(
      "LIBRARY_CACHE_FAILED",
      `Deno needs --allow-write=${cacheRoot} to cache ${path}`,
      hint,
    );
  }
  try {
    await writeAtomically(files, path, bytes, request.mode);
  } catch (error) {
    throw failure(
      "LIBRARY_CACHE_FAILED",
      `cannot write ${path}: ${messageOf(error)}`,
      cacheHint(error, files, path, cacheRoot),
      error,
    );
  }
  return { path, fetched: true };
}

async function download(url: URL): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    const timedOut = (error as { name?: unknown } | null)?.name === "TimeoutError";
    throw failure(
      "LIBRARY_DOWNLOAD_FAILED",
      `cannot download ${url.href}: ${
        timedOut ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s` : messageOf(error)
      }`,
      networkHint(url.host, timedOut ? "the server did not answer" : "the request failed"),
      error,
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    const status = `HTTP ${response.status} ${response.statusText}`.trimEnd();
    throw failure(
      "LIBRARY_DOWNLOAD_FAILED",
      `cannot download ${url.href}: ${status}`,
      networkHint(url.host, `the server answered ${status}`),
    );
  }
  const declared = response.headers.get("content-length");
  const length = declared === null ? undefined : Number(declared);
  if (length !== undefined && length > FETCH_BYTES_MAX) {
    await response.body?.cancel();
    throw failure(
      "LIBRARY_DOWNLOAD_FAILED",
      `refusing ${url.href}: ${length} bytes is more than ${FETCH_BYTES_MAX}`,
      `this is not a perfmmap library; check the URL the module was loaded from, ${localLibrary()}`,
    );
  }
  const cutShort = networkHint(
    url.host,
    "the connection broke off before the whole file came; nothing was cached",
  );
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw failure(
      "LIBRARY_DOWNLOAD_FAILED",
      `the download of ${url.href} was cut short: ${messageOf(error)}`,
      cutShort,
      error,
    );
  }
  if (length !== undefined && Number.isSafeInteger(length) && bytes.length !== length) {
    throw failure(
      "LIBRARY_DOWNLOAD_FAILED",
      `the download of ${url.href} was cut short: ${bytes.length} of ${length} bytes`,
      cutShort,
    );
  }
  if (bytes.length > FETCH_BYTES_MAX) {
    throw failure(
      "LIBRARY_DOWNLOAD_FAILED",
      `refusing ${url.href}: ${bytes.length} bytes is more than ${FETCH_BYTES_MAX}`,
      `this is not a perfmmap library; check the URL the module was loaded from, ${localLibrary()}`,
    );
  }
  return bytes;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Makes a verified local copy of the library for `folder` (for example
 * `linux-x64-gnu`) from the package at `root`, and of the launcher beside it
 * when the release recorded one. The library's outcome is returned; the
 * launcher is best effort (only the CLI's `stat` needs it, and it reports a
 * missing launcher itself), but an unverified launcher is never written.
 *
 * @param runtime The runtime running us.
 * @param root The package root URL (http: or https:).
 * @param folder The native folder for this host.
 * @returns The local path, or the {@link PerfError} to throw on first use.
 */
export async function fetchLibrary(
  runtime: Runtime,
  root: URL,
  folder: string,
): Promise<RemoteOutcome> {
  const key = `native/${folder}/${LIBRARY_FILE}`;
  const url = new URL(key, root);
  if (!isShippedTarget(folder)) {
    return {
      error: failure(
        "LIBRARY_NOT_FOUND",
        `perfmmap ships no ${LIBRARY_FILE} for ${folder} (only ${NATIVE_TARGETS.join(", ")})`,
        `build one for this machine and set PERFMMAP_LIB to its path`,
      ),
    };
  }
  if (RELEASE_VERSION === "" || NATIVE_SHA256[key] === undefined) {
    return {
      error: failure(
        "LIBRARY_UNVERIFIED",
        `no SHA-256 is recorded for ${key}, so it is not downloaded from ${url.href}: this copy ` +
          `of perfmmap was not staged for release (scripts/release.ts writes the checksums)`,
        `import a released perfmmap, or set PERFMMAP_LIB to a local ${LIBRARY_FILE}`,
      ),
    };
  }
  const home = cacheHome(runtime);
  if (home === undefined) {
    const flags = denoFlags(url.host, "$HOME/.cache/perfmmap");
    return {
      error: failure(
        "LIBRARY_CACHE_FAILED",
        `no cache folder for ${LIBRARY_FILE}: neither XDG_CACHE_HOME nor HOME is ` +
          `${runtime === "deno" ? "readable (Deno needs --allow-env=XDG_CACHE_HOME,HOME)" : "set"}`,
        runtime === "deno"
          ? `run Deno with ${flags}, or set PERFMMAP_LIB to a local ${LIBRARY_FILE}`
          : `set HOME or XDG_CACHE_HOME, or PERFMMAP_LIB to a local ${LIBRARY_FILE}`,
      ),
    };
  }
  const cacheRoot = `${home}/${CACHE_FOLDER}`;
  const directory = `${cacheRoot}/${RELEASE_VERSION}/${folder}`;
  const files = runtimeFiles(runtime);
  const common = { runtime, files, cacheRoot };
  const launcherKey = `native/${folder}/${LAUNCHER_FILE}`;
  const launcher = NATIVE_SHA256[launcherKey] === undefined ? Promise.resolve() : ensureFile({
    ...common,
    key: launcherKey,
    url: new URL(launcherKey, root),
    path: `${directory}/${LAUNCHER_FILE}`,
    mode: 0o755,
  }).then(() => {}, () => {});
  try {
    const library = await ensureFile({
      ...common,
      key,
      url,
      path: `${directory}/${LIBRARY_FILE}`,
      mode: 0o644,
    });
    return library;
  } catch (error) {
    if (error instanceof PerfError) return { error };
    return { error: failure("LIBRARY_DOWNLOAD_FAILED", messageOf(error), "", error) };
  } finally {
    await launcher;
  }
}
