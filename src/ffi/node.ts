/**
 * The Node adapter: `node:ffi` `dlopen` over the one symbol table.
 *
 * `node:ffi` is reached at call time through `process.getBuiltinModule`, so
 * this file type-checks and loads under Deno and Bun too, where it is never
 * called, and under a Node without `node:ffi`, which gets a typed error.
 *
 * Why the hot symbols are bound to their `_by_double` twins: `node:ffi`
 * (26.10) binds a symbol whose parameters are all doubles (or that has
 * none) as V8's fast-API function itself, and wraps every symbol with an
 * integer or pointer parameter in a JavaScript function that range-checks
 * each argument before the fast call. That check costs 2 to 4 times a
 * simulated read. So `pm_read` and `pm_group_read` are bound to
 * `pm_read_by_double` and `pm_group_read_by_double`, which take the same
 * numbers as doubles and refuse a double that is not one (zig/ABI.md).
 *
 * Why `"buffer"` parameters are bound as `"pointer"`: for a symbol with more
 * than one parameter, Node 26 turns a typed-array argument into a fresh
 * BigInt address on every call (2 to 3 times the cost, and garbage on a hot
 * path). The adapter instead takes each view's address once, with
 * `getRawPointer` (which moves a small array's storage off the V8 heap for
 * good, so the address stays right), keeps it in a WeakMap keyed by the view,
 * and passes that same BigInt every time. The output buffers are bound once
 * (src/loader/native.ts), so every call after the first allocates nothing.
 *
 * @module
 */

import { type NativeSymbols, SYMBOLS, type SymbolType } from "./symbols.ts";
import type { LoadedLibrary } from "./_loaded.ts";

type _NodeType = "i32" | "u32" | "f64" | "pointer";

interface _Signature {
  arguments: _NodeType[];
  return: _NodeType;
}

/** The part of `node:ffi` (Node 26) the adapter uses. */
export interface NodeFfi {
  /** Loads a library and binds `definitions`. */
  dlopen(
    path: string,
    definitions: Record<string, _Signature>,
  ): { lib: { close(): void }; functions: Record<string, _NodeFunction> };
  /** The address of a view's first byte. */
  getRawPointer(view: ArrayBufferView): bigint;
}

// deno-lint-ignore no-explicit-any
type _NodeFunction = (...args: any[]) => any;

const host = globalThis as unknown as {
  process?: { getBuiltinModule?(id: string): unknown };
};

let nodeFfi: NodeFfi | undefined;

/**
 * `node:ffi`, or `undefined` when this Node has none: older than 26.1, or
 * 26.1 to 26.8 without `--experimental-ffi`, or run with
 * `--no-experimental-ffi`.
 *
 * @returns The module, or undefined.
 */
export function loadNodeFfi(): NodeFfi | undefined {
  if (nodeFfi !== undefined) return nodeFfi;
  const module = host.process?.getBuiltinModule?.("node:ffi") as
    | NodeFfi
    | undefined;
  if (module !== undefined && typeof module.dlopen === "function") nodeFfi = module;
  return nodeFfi;
}

function nodeType(type: SymbolType): _NodeType {
  return type === "buffer" ? "pointer" : type;
}

const addresses = new WeakMap<ArrayBufferView, bigint>();

/**
 * The BigInt address a `"pointer"` parameter takes for `view`, computed once
 * per view. An empty or detached view is handed over as it is, so that Node
 * passes a null pointer or throws its own error.
 */
// deno-lint-ignore no-explicit-any
function pointerOf(view: any): bigint | ArrayBufferView {
  const known = addresses.get(view);
  if (known !== undefined && view.byteLength !== 0) return known;
  if (view.byteLength === 0) return view;
  const address = nodeFfi!.getRawPointer(view);
  addresses.set(view, address);
  return address;
}

// deno-lint-ignore no-explicit-any
const same = (value: any) => value;

/**
 * `fn` with each `"buffer"` parameter mapped through {@link pointerOf}. One
 * closure per arity: a rest parameter would allocate an array per call.
 */
function withPointers(fn: _NodeFunction, parameters: readonly SymbolType[]): _NodeFunction {
  const at = (i: number) => parameters[i] === "buffer" ? pointerOf : same;
  const [c0, c1, c2, c3, c4] = [at(0), at(1), at(2), at(3), at(4)];
  switch (parameters.length) {
    case 2:
      return (a: unknown, b: unknown) => fn(c0(a), c1(b));
    case 3:
      return (a: unknown, b: unknown, c: unknown) => fn(c0(a), c1(b), c2(c));
    case 4:
      return (a: unknown, b: unknown, c: unknown, d: unknown) => fn(c0(a), c1(b), c2(c), c3(d));
    case 5:
      return (a: unknown, b: unknown, c: unknown, d: unknown, e: unknown) =>
        fn(c0(a), c1(b), c2(c), c3(d), c4(e));
  }
  throw new Error(`node adapter: no binding for ${parameters.length} parameters`);
}

/**
 * The symbols Node calls through a twin whose parameters are all doubles:
 * the hot paths, where the wrapper of an integer parameter would cost more
 * than the core's work.
 */
export const DOUBLE_TWINS = {
  pm_read: "pm_read_by_double",
  pm_group_read: "pm_group_read_by_double",
} as const satisfies Partial<Record<keyof typeof SYMBOLS, keyof typeof SYMBOLS>>;

/**
 * Opens the library with `node:ffi`. Typed arrays pass as `pointer`
 * arguments, by an address taken once per view; the hot symbols are their
 * double twins ({@link DOUBLE_TWINS}). `nonblocking` symbols are
 * bound as plain blocking ones, which perfmmap never calls in Node.
 *
 * @param path Absolute path of `libperfmmap.so`.
 * @returns The typed symbols and a close function.
 */
export function openWithNode(path: string): LoadedLibrary {
  const ffi = loadNodeFfi();
  if (ffi === undefined) throw new Error("node:ffi is not available in this Node");
  const definitions: Record<string, _Signature> = {};
  for (const [name, definition] of Object.entries(SYMBOLS)) {
    definitions[name] = {
      arguments: definition.parameters.map(nodeType),
      return: nodeType(definition.result),
    };
  }
  const library = ffi.dlopen(path, definitions);
  const symbols: Record<string, _NodeFunction> = {};
  for (const [name, definition] of Object.entries(SYMBOLS)) {
    const fn = library.functions[name];
    const parameters: readonly SymbolType[] = definition.parameters;
    symbols[name] = parameters.includes("buffer") ? withPointers(fn, parameters) : fn;
  }
  for (const [name, twin] of Object.entries(DOUBLE_TWINS)) symbols[name] = library.functions[twin];
  return {
    symbols: symbols as unknown as NativeSymbols,
    nonblocking: false,
    close: () => library.lib.close(),
  };
}

/**
 * The address of a view's first byte: `getRawPointer` of `node:ffi`. A
 * runtime facility, not a library symbol. V8 moves a small typed array's
 * storage off its heap when asked for the address, and never moves it again.
 *
 * @param view A typed array or DataView.
 * @returns The address, or 0n for an empty view.
 */
export function addressWithNode(view: ArrayBufferView): bigint {
  if (view.byteLength === 0) return 0n;
  return loadNodeFfi()!.getRawPointer(view);
}

/** The oldest Node whose `node:ffi` has the fast-call path perfmmap relies on. */
export const NODE_MIN_VERSION = "26.4.0";
/** The first Node whose `node:ffi` needs no `--experimental-ffi`. */
export const NODE_FFI_DEFAULT_VERSION = "26.9.0";

function versionAtLeast(version: string, minimum: string): boolean {
  const have = version.split(".").map(Number);
  const need = minimum.split(".").map(Number);
  for (let i = 0; i < need.length; i++) {
    if ((have[i] ?? 0) !== need[i]) return (have[i] ?? 0) > need[i];
  }
  return true;
}

/** Why this Node cannot run perfmmap: a code, a message and a hint. */
export interface NodeRefusal {
  /** `UNSUPPORTED_RUNTIME` (too old) or `FFI_NOT_ALLOWED` (a flag is missing). */
  code: "UNSUPPORTED_RUNTIME" | "FFI_NOT_ALLOWED";
  /** What is wrong. */
  message: string;
  /** The one thing to do. */
  hint: string;
}

/**
 * Whether this Node can load the core: new enough, and `node:ffi` enabled.
 *
 * @param version `process.versions.node`.
 * @param hasFfi Whether `node:ffi` loads in this process.
 * @returns `undefined` when it can, else why not.
 */
export function nodeRefusal(
  version: string,
  hasFfi: () => boolean = () => loadNodeFfi() !== undefined,
): NodeRefusal | undefined {
  if (!versionAtLeast(version, NODE_MIN_VERSION)) {
    return {
      code: "UNSUPPORTED_RUNTIME",
      message:
        `perfmmap runs on Deno and Bun, and on Node ${NODE_MIN_VERSION} or newer through node:ffi; this is Node ${version}`,
      hint:
        `upgrade to Node ${NODE_FFI_DEFAULT_VERSION} or newer (node:ffi is on by default from there; ${NODE_MIN_VERSION} needs --experimental-ffi), or run the script with \`deno run --allow-ffi\` or with \`bun\``,
    };
  }
  if (hasFfi()) return undefined;
  const byDefault = versionAtLeast(version, NODE_FFI_DEFAULT_VERSION);
  return {
    code: "FFI_NOT_ALLOWED",
    message: byDefault
      ? `node:ffi is turned off in this Node ${version} (--no-experimental-ffi)`
      : `node:ffi needs a flag in Node ${version}`,
    hint: byDefault
      ? "run Node without --no-experimental-ffi"
      : `run Node with --experimental-ffi (on by default from Node ${NODE_FFI_DEFAULT_VERSION})`,
  };
}

/**
 * Whether `error`, thrown by `dlopen`, is the permission model refusing FFI
 * (`--permission` without `--allow-ffi`).
 *
 * @param error What `dlopen` threw.
 * @returns True for Node's `ERR_ACCESS_DENIED` on FFI.
 */
export function isNodeFfiDenied(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_ACCESS_DENIED";
}
