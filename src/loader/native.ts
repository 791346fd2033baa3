/**
 * The runtime-neutral view of the native core, behind one lazily created
 * singleton. The adapter (Deno, Bun or Node) is picked when the library is first
 * needed; every output buffer is allocated here, once.
 *
 * @module
 */

import { PerfError } from "../errors.ts";
import { detectRuntime, type Runtime, runtimeVersion } from "./_host.ts";
import { loadLibrary } from "./_library.ts";
import { addressWithBun } from "../ffi/bun.ts";
import { addressWithDeno } from "../ffi/deno.ts";
import { addressWithNode, nodeRefusal } from "../ffi/node.ts";
import { ABI_VERSION, ATTR_SIZE, DETAILED_BYTES, type NativeSymbols } from "../ffi/symbols.ts";

/** Bytes of the shared text buffer for `pm_read_text`/`pm_list_dir`. */
export const TEXT_BYTES = 1 << 16;
/** Bytes of the shared path buffer. */
export const PATH_BYTES = 4096;

/** The loaded core and the buffers bound to it. */
export interface Native {
  /** The runtime whose adapter loaded the library. */
  readonly runtime: Runtime;
  /** The runtime's version. */
  readonly runtimeVersion: string;
  /** The library file that was loaded. */
  readonly path: string;
  /** The library's functions. */
  readonly symbols: NativeSymbols;
  /**
   * `pm_ring_wait` as a Promise whose poll(2) runs off the JS thread, when
   * the adapter can call it that way (Deno); `undefined` when the wait would
   * block the JS thread (Bun, Node), so that callers wait with timers.
   */
  readonly ringWait: ((handle: number, timeoutMs: number) => Promise<number>) | undefined;
  /** 128-byte output buffer for `pm_read_detailed`, `pm_page_info`, ... */
  readonly out: Uint8Array;
  /** `out` as f64 slots. */
  readonly outF64: Float64Array;
  /** `out` as u64 slots. */
  readonly outU64: BigUint64Array;
  /** The 136-byte `perf_event_attr` buffer. */
  readonly attr: Uint8Array;
  /** `attr` as a little-endian view. */
  readonly attrView: DataView;
  /** Path input buffer for `pm_read_text`/`pm_list_dir`. */
  readonly pathBuffer: Uint8Array;
  /** Text output buffer for `pm_read_text`/`pm_list_dir`/`pm_uname`. */
  readonly text: Uint8Array;
}

let instance: Native | undefined;

function supportedRuntime(): Runtime {
  const runtime = detectRuntime();
  if (runtime === "node") {
    const refusal = nodeRefusal(runtimeVersion(runtime));
    if (refusal === undefined) return runtime;
    throw new PerfError(refusal.code, refusal.message, { op: "load", hint: refusal.hint });
  }
  if (runtime !== undefined) return runtime;
  throw new PerfError(
    "UNSUPPORTED_RUNTIME",
    "perfmmap runs on Deno, Bun and Node 26, not on this runtime",
    {
      op: "load",
      hint: "run the script with `deno run --allow-ffi`, with `bun`, or with Node 26.4+",
    },
  );
}

function create(): Native {
  const runtime = supportedRuntime();
  const { library, path } = loadLibrary(runtime);
  const symbols = library.symbols;
  const abi = symbols.pm_abi_version();
  const attrSize = symbols.pm_attr_size();
  if (abi !== ABI_VERSION || attrSize !== ATTR_SIZE) {
    library.close();
    throw new PerfError(
      "ABI_MISMATCH",
      `${path} speaks ABI ${abi} with a ${attrSize}-byte attr; this module needs ABI ${ABI_VERSION} with ${ATTR_SIZE} bytes`,
      { op: "load", hint: "rebuild the library with `deno run -A build.ts`" },
    );
  }
  const out = new Uint8Array(DETAILED_BYTES);
  const attr = new Uint8Array(ATTR_SIZE);
  return {
    runtime,
    runtimeVersion: runtimeVersion(runtime),
    path,
    symbols,
    ringWait: library.nonblocking
      ? (handle, timeoutMs) => symbols.pm_ring_wait(handle, timeoutMs) as Promise<number>
      : undefined,
    out,
    outF64: new Float64Array(out.buffer),
    outU64: new BigUint64Array(out.buffer),
    attr,
    attrView: new DataView(attr.buffer),
    pathBuffer: new Uint8Array(PATH_BYTES),
    text: new Uint8Array(TEXT_BYTES),
  };
}

/**
 * The native core, loaded on first use.
 *
 * @returns The singleton; throws a PerfError if the library cannot load.
 */
export function native(): Native {
  return instance ??= create();
}

/**
 * The address of a view's first byte, from the runtime (not the library):
 * for hardware watchpoints, which the kernel sets on an address.
 *
 * @param view A typed array or DataView; read its `.buffer` first so that
 * Bun does not move a small array's storage afterwards.
 * @returns The address as a bigint, or 0n for an empty view.
 */
export function addressOf(view: ArrayBufferView): bigint {
  const runtime = native().runtime;
  if (runtime === "node") return addressWithNode(view);
  return runtime === "deno" ? addressWithDeno(view) : addressWithBun(view);
}
