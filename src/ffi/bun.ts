/**
 * The Bun adapter: `bun:ffi` `dlopen` over the one symbol table.
 *
 * `bun:ffi` is required at call time through `import.meta.require`, so this
 * file type-checks and loads under Deno too, where it is never called.
 *
 * @module
 */

import { type NativeSymbols, SYMBOLS, type SymbolType } from "./symbols.ts";
import type { LoadedLibrary } from "./_loaded.ts";

type _BunType = "i32" | "u32" | "f64" | "ptr";

interface _BunFfi {
  ptr(view: ArrayBufferView): number | null;
  dlopen(
    path: string,
    symbols: Record<string, { args: _BunType[]; returns: _BunType }>,
  ): { symbols: unknown; close(): void };
}

function bunType(type: SymbolType): _BunType {
  return type === "buffer" ? "ptr" : type;
}

/**
 * Opens the library with `bun:ffi`. Typed arrays pass as `ptr` arguments.
 *
 * @param path Absolute path of `libperfmmap.so`.
 * @returns The typed symbols and a close function.
 */
export function openWithBun(path: string): LoadedLibrary {
  const meta = import.meta as unknown as { require(id: string): _BunFfi };
  const ffi = meta.require("bun:ffi");
  const symbols: Record<string, { args: _BunType[]; returns: _BunType }> = {};
  for (const [name, definition] of Object.entries(SYMBOLS)) {
    symbols[name] = {
      args: definition.parameters.map(bunType),
      returns: bunType(definition.result),
    };
  }
  const library = ffi.dlopen(path, symbols);
  return {
    symbols: library.symbols as NativeSymbols,
    // bun:ffi has no calls on another thread: nonblocking symbols block.
    nonblocking: false,
    close: () => library.close(),
  };
}

let bunFfi: _BunFfi | undefined;

/**
 * The address of a view's first byte: `ptr()` of `bun:ffi`. A runtime
 * facility, not a library symbol. In JSC a typed array of up to 1000
 * elements may keep its storage in the GC heap until its ArrayBuffer is
 * first needed, and then moves it; callers that keep the address must read
 * `view.buffer` first (see `src/_watch.ts`).
 *
 * @param view A typed array or DataView.
 * @returns The address, or 0n for an empty view.
 */
export function addressWithBun(view: ArrayBufferView): bigint {
  const meta = import.meta as unknown as { require(id: string): _BunFfi };
  bunFfi ??= meta.require("bun:ffi");
  const address = bunFfi.ptr(view);
  return typeof address === "number" ? BigInt(address) : 0n;
}
