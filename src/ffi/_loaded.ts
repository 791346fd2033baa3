import type { NativeSymbols } from "./symbols.ts";

/** What an adapter returns: the typed symbols, what they can do, and a way to unload them. */
export interface LoadedLibrary {
  /** The library's functions, typed from the symbol table. */
  readonly symbols: NativeSymbols;
  /**
   * Whether the symbols marked `nonblocking` in the table run on another
   * thread and return a Promise (Deno). When false (Bun, Node) they are
   * bound as plain calls that block the JS thread for as long as they wait,
   * so the layer above must not call them.
   */
  readonly nonblocking: boolean;
  /** Unloads the library. */
  close(): void;
}
