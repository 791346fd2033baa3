// struct perf_event_attr, PERF_ATTR_SIZE_VER8 (136 bytes), as zig/ABI.md
// lays it out. One buffer per process, rewritten for every open.

import type { Native } from "./loader/native.ts";
import { ATTR_SIZE } from "./ffi/symbols.ts";
import type { EventSpec } from "./event.ts";
import { ATTR_FLAG_BIT as FLAG_BIT, ATTR_OFFSET as AT, PERF_SAMPLE } from "./_uapi.ts";

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
    on((sampling.sampleType & PERF_SAMPLE.CALLCHAIN) !== 0, FLAG_BIT.excludeCallchainKernel) |
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
  view.setUint32(AT.type, spec.type, true);
  view.setUint32(AT.size, ATTR_SIZE, true);
  view.setBigUint64(AT.config, spec.config, true);
  view.setBigUint64(AT.readFormat, BigInt(request.readFormat), true);
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
  view.setUint32(AT.flags, flags >>> 0, true);
  view.setUint32(AT.flags + 4, 0, true);
  if (request.sampling !== undefined) {
    view.setBigUint64(AT.samplePeriod, BigInt(request.sampling.period), true);
    view.setBigUint64(AT.sampleType, BigInt(request.sampling.sampleType), true);
    view.setUint32(AT.wakeup, request.sampling.wakeup, true);
  }
  if (spec.bpType !== undefined) view.setUint32(AT.bpType, spec.bpType, true);
  view.setBigUint64(AT.config1, spec.config1, true);
  view.setBigUint64(AT.config2, spec.config2, true);
  view.setBigUint64(AT.config3, spec.config3, true);
  return n.attr;
}

/** The size the kernel wrote back into the attr on E2BIG. */
export function kernelAttrSize(n: Native): number {
  return n.attrView.getUint32(AT.size, true);
}
