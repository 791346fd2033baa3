/**
 * The Deno adapter: `Deno.dlopen` over the one symbol table.
 *
 * @module
 */

import { type NativeSymbols, SYMBOLS } from "./symbols.ts";
import type { LoadedLibrary } from "./_loaded.ts";

// Compile-time proof that the table is a valid Deno FFI interface.
const _table: Deno.ForeignLibraryInterface = SYMBOLS;

/**
 * Opens the library with `Deno.dlopen`. Needs `--allow-ffi` only.
 *
 * @param path Absolute path of `libperfmmap.so`.
 * @returns The typed symbols and a close function.
 */
export function openWithDeno(path: string): LoadedLibrary {
  const library = Deno.dlopen(path, _table as typeof SYMBOLS);
  return {
    symbols: library.symbols as unknown as NativeSymbols,
    nonblocking: true,
    close: () => library.close(),
  };
}

interface _DenoPointers {
  of(value: ArrayBufferView): unknown;
  value(pointer: unknown): number | bigint;
}

/**
 * The address of a view's first byte: `Deno.UnsafePointer.of` and
 * `Deno.UnsafePointer.value`. A runtime facility, not a library symbol.
 * Deno returns the off-heap backing store (a small typed array is moved off
 * the V8 heap first), which the garbage collector does not move.
 *
 * @param view A typed array or DataView.
 * @returns The address, or 0n for an empty view.
 */
export function addressWithDeno(view: ArrayBufferView): bigint {
  const host = globalThis as unknown as { Deno: { UnsafePointer: _DenoPointers } };
  const pointers = host.Deno.UnsafePointer;
  const pointer = pointers.of(view);
  return pointer === null ? 0n : BigInt(pointers.value(pointer));
}
