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
    close: () => library.close(),
  };
}
