// The consumer of one counter's ring: batched copies through pm_ring_read
// into one buffer bound once per process, decoding, statistics, and waiting
// without spinning.
//
// Waiting (Counter.records): the adapter says whether it can wait off the JS
// thread (Native.ringWait is set or not); this file never asks which
// runtime runs it.
// - Deno: pm_ring_wait is declared `nonblocking`, so Native.ringWait is set:
//   poll(2) on the perf fd runs on a Deno worker thread and the JS thread
//   stays free. Each wait is at most WAIT_SLICE_MS (or `maxWaitMs`), so
//   records below the kernel's wakeup watermark (or a closed counter) are
//   noticed within that time.
// - Bun and Node have no nonblocking FFI calls, so no Native.ringWait: a
//   blocking poll would freeze the JS thread. They sleep with setTimeout,
//   1 ms doubling to WAIT_SLICE_MS (or `maxWaitMs`), and drain (one
//   pm_ring_read, no syscall) after each sleep. Back to 1 ms only when a
//   read brings a quarter of the ring or more: a trickle must not pin it
//   there. (A cpu-clock sampler on this thread samples the waiting itself;
//   under QEMU TCG a wake-up costs ~1 ms, so resetting on any record fed
//   itself: half a CPU spent "idle".)
// Measured idle cost on the project VM: ~2.5% of one CPU for either, the
// same as a bare `setTimeout(16)` loop; a larger maxWaitMs lowers it.

import { type Native, native } from "./loader/native.ts";
import { RING_INFO } from "./ffi/symbols.ts";
import { nativeFailure } from "./_fail.ts";
import { PerfError } from "./errors.ts";
import { sysctl } from "./_sysfs.ts";
import { ownRecord } from "./_input.ts";
import { type DecodeTally, newTally, RecordDecoder, type RecordLayout } from "./_records.ts";
import type { PerfRecord, RecordsOptions, RingStats } from "./sampling.ts";

/**
 * Bytes of the shared copy buffer: above the largest record (64 KiB), and
 * large enough that a default 8-page ring drains in one call.
 */
export const RING_BUFFER_BYTES = 256 << 10;
/** A read of at least 1/RING_FILLING of the ring's data resets the back-off. */
const RING_FILLING = 4;
/** Longest single wait before looking again (ms), unless `maxWaitMs` says otherwise. */
export const WAIT_SLICE_MS = 16;
/** The core bounds one poll(2) at 60 s. */
const WAIT_MAX_MS = 60_000;
const BACKOFF_FIRST_MS = 1;

let shared: { bytes: Uint8Array; view: DataView } | undefined;

function buffer(): { bytes: Uint8Array; view: DataView } {
  if (shared !== undefined) return shared;
  const bytes = new Uint8Array(RING_BUFFER_BYTES);
  return shared = { bytes, view: new DataView(bytes.buffer) };
}

const info = new Float64Array(16);
const infoBytes = new Uint8Array(info.buffer);

function badOption(message: string, event: string): PerfError {
  return new PerfError("INVALID_OPTION", `records() ${message}`, { op: "records", event });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  return typeof value === "object" || typeof value === "function"
    ? `a ${typeof value}`
    : String(value);
}

const RECORDS_KEYS = ["signal", "maxWaitMs"] as const;

/** `options` of records(), checked; read from its own properties only. */
function recordsOptions(
  options: unknown,
  event: string,
): { signal: AbortSignal | undefined; slice: number } {
  if (options === undefined) return { signal: undefined, slice: WAIT_SLICE_MS };
  // Own properties only, each read once; throwing getters and revoked
  // Proxies become INVALID_OPTION with their cause.
  const given = ownRecord({ op: "records", event }, "records() options", options);
  for (const key of Object.keys(given)) {
    if (!(RECORDS_KEYS as readonly string[]).includes(key)) {
      throw badOption(`unknown option "${key}" (known: ${RECORDS_KEYS.join(", ")})`, event);
    }
  }
  // Only undefined means "not given"; null is a wrong value, as everywhere.
  const own = (key: string) => given[key];
  const signal = own("signal");
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw badOption(`option signal must be an AbortSignal, got ${describe(signal)}`, event);
  }
  const slice = own("maxWaitMs") === undefined ? WAIT_SLICE_MS : own("maxWaitMs");
  if (typeof slice !== "number" || !Number.isInteger(slice) || slice < 1 || slice > WAIT_MAX_MS) {
    throw badOption(
      `option maxWaitMs must be an integer from 1 to ${WAIT_MAX_MS}, got ${describe(slice)}`,
      event,
    );
  }
  return { signal, slice };
}

/**
 * Ends the current wait of one records() loop early: when its signal aborts
 * or its counter closes. A wait resolves on whichever comes first, its own
 * end or `wake()`.
 */
class Waker {
  #resolve: (() => void) | undefined;

  /** `pending`, or sooner if `wake()` is called while it is pending. */
  race<T>(pending: T | Promise<T>): Promise<T | undefined> {
    const woken = new Promise<undefined>((resolve) => {
      this.#resolve = () => resolve(undefined);
    });
    return Promise.race([pending, woken]).finally(() => this.#resolve = undefined);
  }

  wake = (): void => {
    this.#resolve?.();
  };
}

/** Sleeps `ms`, or less when `waker` wakes; the timer is cleared either way. */
async function sleep(ms: number, waker: Waker): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await waker.race(new Promise<void>((resolve) => timer = setTimeout(resolve, ms)));
  } finally {
    clearTimeout(timer);
  }
}

/** One macrotask turn, so that timers and abort events run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** What was being done when mapping or redirecting a ring failed. */
export interface RingFailureContext {
  op: "ring_map" | "set_output";
  event: string;
  pages: number;
  inherit: boolean;
  cpu: number;
}

function ringHint(code: string, ctx: RingFailureContext): string | undefined {
  if (ctx.op === "set_output" && code === "EINVAL") {
    return "records can go to another counter's ring only when both count the same thread (or the same CPU) with the same clock";
  }
  if (code === "EINVAL" && ctx.inherit && ctx.cpu === -1) {
    return "the kernel maps no ring for an inherited counter on any CPU (cpu -1): drop inherit, or open one sampling counter per CPU";
  }
  if (code === "EPERM" || code === "ENOMEM") {
    const limit = sysctl("PERF_EVENT_MLOCK_KB");
    const kib = (ctx.pages + 1) * 4;
    return `a ${ctx.pages}-page ring locks about ${kib} KiB, above what kernel.perf_event_mlock_kb (${
      limit ?? "unknown"
    }) and RLIMIT_MEMLOCK allow this process: use fewer pages, or CAP_IPC_LOCK`;
  }
  return undefined;
}

/** The PerfError of a failed pm_ring_map / pm_set_output, with a ring-specific hint. */
export function ringFailure(result: number, ctx: RingFailureContext): PerfError {
  const base = nativeFailure(result, { op: ctx.op, event: ctx.event });
  const hint = ringHint(base.code, ctx);
  if (hint === undefined) return base;
  const message = base.message.split("\nhint:")[0];
  return new PerfError(base.code, message, {
    errno: base.errno,
    op: ctx.op,
    event: ctx.event,
    hint,
  });
}

/** Where a failure is reported from. */
export interface RingContext {
  event: string;
}

/** One counter's ring. */
export class Ring {
  readonly #handle: number;
  readonly #native: Native;
  readonly #decoder: RecordDecoder;
  readonly #context: RingContext;
  readonly #tally: DecodeTally = newTally();
  readonly #isClosed: () => boolean;

  constructor(
    handle: number,
    layout: RecordLayout,
    context: RingContext,
    isClosed: () => boolean,
  ) {
    this.#handle = handle;
    this.#native = native();
    this.#decoder = new RecordDecoder(layout);
    this.#context = context;
    this.#isClosed = isClosed;
  }

  #fail(result: number, op: string): Error {
    return nativeFailure(result, { op, event: this.#context.event });
  }

  /** One pm_ring_read into the shared buffer; decoded records go to `out`. */
  #readOnce(out: PerfRecord[]): number {
    const { bytes, view } = buffer();
    const copied = this.#native.symbols.pm_ring_read(this.#handle, bytes, bytes.length);
    if (copied < 0) throw this.#fail(copied, "drain");
    if (copied > 0) this.#decoder.decode(bytes, view, copied, out, this.#tally);
    return copied;
  }

  /**
   * Everything pending now. Bounded: at most enough calls to empty a full
   * ring once, so a producer faster than the consumer cannot keep it here.
   */
  drain(): PerfRecord[] {
    const out: PerfRecord[] = [];
    const dataBytes = this.#dataBytes();
    const callsMax = Math.ceil(dataBytes / RING_BUFFER_BYTES) + 1;
    for (let call = 0; call < callsMax; call++) {
      if (this.#readOnce(out) === 0) break;
    }
    return out;
  }

  #dataBytesCached = 0;

  #dataBytes(): number {
    if (this.#dataBytesCached > 0) return this.#dataBytesCached;
    this.#info();
    return this.#dataBytesCached = info[RING_INFO.DATA_BYTES];
  }

  #info(): void {
    const result = this.#native.symbols.pm_ring_info(this.#handle, infoBytes);
    if (result < 0) throw this.#fail(result, "ring_info");
  }

  /** The consumer's statistics. */
  stats(): RingStats {
    this.#info();
    const t = this.#tally;
    return {
      pages: info[RING_INFO.DATA_PAGES],
      dataBytes: info[RING_INFO.DATA_BYTES],
      pendingBytes: info[RING_INFO.PENDING_BYTES],
      records: info[RING_INFO.RECORDS],
      bytes: info[RING_INFO.BYTES],
      samples: t.samples,
      lostRecords: t.lostRecords,
      lost: t.lost,
      throttles: t.throttles,
      unknown: t.unknown,
      malformed: t.malformed,
      splitRecords: info[RING_INFO.SPLIT_RECORDS],
      resyncs: info[RING_INFO.RESYNCS],
      reads: info[RING_INFO.READS],
    };
  }

  /** The waits of the records() loops now running on this ring. */
  readonly #wakers = new Set<Waker>();

  /** Ends every records() wait now (the counter is closing). */
  wake(): void {
    for (const waker of this.#wakers) waker.wake();
  }

  /**
   * Waits (without spinning) until records may be ready; see the file
   * comment. Ends early when `waker` wakes: an abort or a close.
   */
  async #wait(delay: number, slice: number, waker: Waker): Promise<number> {
    const ringWait = this.#native.ringWait;
    if (ringWait !== undefined) {
      // The poll cannot be cancelled: a woken wait leaves it to end on its
      // own within the slice (at once when the counter closes, which unmaps
      // the ring and so wakes poll(2)).
      const result = await waker.race(ringWait(this.#handle, slice));
      if (result !== undefined && result < 0 && !this.#isClosed()) throw this.#fail(result, "wait");
      return delay;
    }
    await sleep(delay, waker);
    return Math.min(delay * 2, slice);
  }

  /**
   * Records as they arrive, until the counter closes or `signal` aborts.
   * The options are checked now, not at the first `next()`.
   */
  records(options?: RecordsOptions): AsyncGenerator<PerfRecord, void, undefined> {
    const { signal, slice } = recordsOptions(options, this.#context.event);
    return this.#records(signal, slice);
  }

  async *#records(
    signal: AbortSignal | undefined,
    slice: number,
  ): AsyncGenerator<PerfRecord, void, undefined> {
    const stopped = () => this.#isClosed() || signal?.aborted === true;
    if (stopped()) return;
    const waker = new Waker();
    this.#wakers.add(waker);
    signal?.addEventListener("abort", waker.wake);
    try {
      let delay = Math.min(BACKOFF_FIRST_MS, slice);
      // A producer as fast as the consumer never leaves the ring empty, so
      // the loop would never wait, and timers (an AbortSignal.timeout, the
      // caller's own) would never run: after a full ring's worth of reads
      // in a row, give the event loop one turn.
      const readsInRowMax = Math.ceil(this.#dataBytes() / RING_BUFFER_BYTES) + 1;
      let readsInRow = 0;
      const batch: PerfRecord[] = [];
      while (!stopped()) {
        batch.length = 0;
        const copied = this.#readOnce(batch);
        if (copied > 0) {
          // Look again soon only while the ring is filling (see the file comment).
          if (copied * RING_FILLING >= this.#dataBytes()) delay = BACKOFF_FIRST_MS;
          for (const record of batch) {
            yield record;
            if (stopped()) return;
          }
          if (++readsInRow >= readsInRowMax) {
            readsInRow = 0;
            await turn();
          }
          continue;
        }
        readsInRow = 0;
        delay = await this.#wait(delay, slice, waker);
      }
    } finally {
      signal?.removeEventListener("abort", waker.wake);
      this.#wakers.delete(waker);
    }
  }
}
