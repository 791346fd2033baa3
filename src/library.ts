/**
 * Which native library perfmmap runs on, and who loaded it.
 *
 * @module
 */

import { native } from "./loader/native.ts";

/** The loaded native core: its file, its ABI, and the runtime that loaded it. */
export interface NativeLibrary {
  /** The `libperfmmap.so` file that was loaded (`PERFMMAP_LIB`, `native/`, or the download cache). */
  path: string;
  /** The ABI version the library speaks (`pm_abi_version()`). */
  abiVersion: number;
  /** The runtime whose FFI loaded it: `"deno"`, `"bun"` or `"node"`. */
  runtime: string;
  /** That runtime's version. */
  runtimeVersion: string;
}

/**
 * The native library, loaded now if nothing has loaded it yet: call it
 * first to meet a load failure before any counter is opened, or to say in a
 * report which library file ran.
 *
 * @returns A fresh {@link NativeLibrary} each call.
 * @throws {PerfError} When the library cannot load (`LIBRARY_NOT_FOUND`,
 * `LIBRARY_WRONG_ARCH`, `FFI_NOT_ALLOWED`, `ABI_MISMATCH`, ...), with a hint
 * that names every path tried.
 *
 * @example Naming the library in a report
 * ```ts
 * import { nativeLibrary } from "@perfmmap/perfmmap";
 * import assert from "node:assert/strict";
 *
 * const library = nativeLibrary();
 * assert.match(library.path, /\.so$/);
 * console.log(`${library.path} (ABI ${library.abiVersion}), ${library.runtime} ${library.runtimeVersion}`);
 * ```
 */
export function nativeLibrary(): NativeLibrary {
  const n = native();
  return {
    path: n.path,
    abiVersion: n.symbols.pm_abi_version(),
    runtime: n.runtime,
    runtimeVersion: n.runtimeVersion,
  };
}
