import type { NativeSymbols } from "./symbols.ts";

/** What an adapter returns: the typed symbols and a way to unload them. */
export interface LoadedLibrary {
  /** The library's functions, typed from the symbol table. */
  readonly symbols: NativeSymbols;
  /** Unloads the library. */
  close(): void;
}
