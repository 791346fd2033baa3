// struct perf_event_attr, PERF_ATTR_SIZE_VER8 (136 bytes), as zig/ABI.md
// lays it out. One buffer per process, rewritten for every open.

import type { Native } from "./loader/native.ts";
import { ATTR_SIZE } from "./ffi/symbols.ts";
import type { EventSpec } from "./event.ts";

/** PERF_FORMAT_* */
export const READ_FORMAT = {
  TOTAL_TIME_ENABLED: 1,
  TOTAL_TIME_RUNNING: 2,
  ID: 4,
  GROUP: 8,
  LOST: 16,
} as const;

// Bit numbers of the flag word at offset 40.
const FLAG_BIT = {
  disabled: 0,
  inherit: 1,
  pinned: 2,
  exclusive: 3,
  excludeUser: 4,
  excludeKernel: 5,
  excludeHv: 6,
  excludeIdle: 7,
  mmap: 8,
  comm: 9,
  freq: 10,
  enableOnExec: 12,
  task: 13,
  watermark: 14,
  preciseIp: 15,
  sampleIdAll: 18,
  excludeHost: 19,
  excludeGuest: 20,
  excludeCallchainKernel: 21,
  mmap2: 23,
  commExec: 24,
} as const;

/** PERF_SAMPLE_CALLCHAIN: the chain asked for is the user one. */
const SAMPLE_CALLCHAIN = 1 << 5;

/** The sampling part of an attr (see ResolvedSampling). */
export interface AttrSampling {
  /** sample_period, or sample_freq when `freq`. */
  period: number;
  freq: boolean;
  sampleType: number;
  /** wakeup_events, or wakeup_watermark when `watermark`. */
  wakeup: number;
  watermark: boolean;
  track: { mmap: boolean; comm: boolean; task: boolean };
}

/** Which privilege levels and states are not counted. */
export interface Exclusions {
  user: boolean;
  kernel: boolean;
  hv: boolean;
  idle: boolean;
  host: boolean;
  guest: boolean;
}

/** Everything an attr needs besides the event's config words. */
export interface AttrRequest {
  spec: EventSpec;
  exclude: Exclusions;
  inherit: boolean;
  pinned: boolean;
  exclusive: boolean;
  disabled: boolean;
  /** Enable at the next exec of the counted task (`enable_on_exec`). */
  enableOnExec?: boolean;
  precise: number;
  readFormat: number;
  /** Present for a counter that samples into a ring. */
  sampling?: AttrSampling;
}

function samplingFlags(sampling: AttrSampling | undefined): number {
  if (sampling === undefined) return 0;
  const on = (flag: boolean, bit: number) => (flag ? 1 << bit : 0);
  const { track } = sampling;
  return on(sampling.freq, FLAG_BIT.freq) |
    on(sampling.watermark, FLAG_BIT.watermark) |
    on(true, FLAG_BIT.sampleIdAll) |
    on((sampling.sampleType & SAMPLE_CALLCHAIN) !== 0, FLAG_BIT.excludeCallchainKernel) |
    on(track.mmap, FLAG_BIT.mmap) |
    on(track.mmap, FLAG_BIT.mmap2) |
    on(track.comm, FLAG_BIT.comm) |
    on(track.comm, FLAG_BIT.commExec) |
    on(track.task, FLAG_BIT.task);
}

/** Writes the attr into the shared buffer and returns that buffer. */
export function writeAttr(n: Native, request: AttrRequest): Uint8Array {
  const view = n.attrView;
  n.attr.fill(0);
  const { spec } = request;
  view.setUint32(0, spec.type, true);
  view.setUint32(4, ATTR_SIZE, true);
  view.setBigUint64(8, spec.config, true);
  view.setBigUint64(32, BigInt(request.readFormat), true);
  const on = (flag: boolean, bit: number) => (flag ? 1 << bit : 0);
  const flags = on(request.disabled, FLAG_BIT.disabled) |
    on(request.inherit, FLAG_BIT.inherit) |
    on(request.pinned, FLAG_BIT.pinned) |
    on(request.exclusive, FLAG_BIT.exclusive) |
    on(request.exclude.user, FLAG_BIT.excludeUser) |
    on(request.exclude.kernel, FLAG_BIT.excludeKernel) |
    on(request.exclude.hv, FLAG_BIT.excludeHv) |
    on(request.exclude.idle, FLAG_BIT.excludeIdle) |
    on(request.enableOnExec ?? false, FLAG_BIT.enableOnExec) |
    ((request.precise & 3) << FLAG_BIT.preciseIp) |
    on(request.exclude.host, FLAG_BIT.excludeHost) |
    on(request.exclude.guest, FLAG_BIT.excludeGuest) |
    samplingFlags(request.sampling);
  view.setUint32(40, flags >>> 0, true);
  view.setUint32(44, 0, true);
  if (request.sampling !== undefined) {
    view.setBigUint64(16, BigInt(request.sampling.period), true);
    view.setBigUint64(24, BigInt(request.sampling.sampleType), true);
    view.setUint32(48, request.sampling.wakeup, true);
  }
  if (spec.bpType !== undefined) view.setUint32(52, spec.bpType, true); // bp_type
  view.setBigUint64(56, spec.config1, true);
  view.setBigUint64(64, spec.config2, true);
  view.setBigUint64(128, spec.config3, true);
  return n.attr;
}

/** The size the kernel wrote back into the attr on E2BIG. */
export function kernelAttrSize(n: Native): number {
  return n.attrView.getUint32(4, true);
}
