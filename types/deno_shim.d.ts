// The few Deno APIs this package names, for `tsc` (the Bun-side type check).
// `deno check` uses Deno's own types and never reads this file.

declare namespace Deno {
  type NativeType = "i32" | "u32" | "f64" | "buffer";
  interface ForeignFunction {
    readonly parameters: readonly NativeType[];
    readonly result: NativeType;
  }
  type ForeignLibraryInterface = Readonly<Record<string, ForeignFunction>>;
  interface DynamicLibrary<S> {
    readonly symbols: { readonly [K in keyof S]: (...args: never[]) => unknown };
    close(): void;
  }
  function dlopen<const S extends ForeignLibraryInterface>(
    path: string | URL,
    symbols: S,
  ): DynamicLibrary<S>;
  function execPath(): string;
  class Command {
    constructor(
      command: string,
      options?: {
        args?: string[];
        env?: Record<string, string>;
        clearEnv?: boolean;
        cwd?: string;
      },
    );
    outputSync(): { code: number; stdout: Uint8Array; stderr: Uint8Array };
  }
}
