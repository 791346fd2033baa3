// struct perf_event_attr, PERF_ATTR_SIZE_VER8 (136 bytes), as zig/ABI.md
// lays it out. One buffer per process, rewritten for every open.

import type { Native } from "./ffi/native.ts";
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
  enableOnExec: 12,
  preciseIp: 15,
  excludeHost: 19,
  excludeGuest: 20,
} as const;

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
    on(request.exclude.guest, FLAG_BIT.excludeGuest);
  view.setUint32(40, flags >>> 0, true);
  view.setUint32(44, 0, true);
  view.setBigUint64(56, spec.config1, true);
  view.setBigUint64(64, spec.config2, true);
  view.setBigUint64(128, spec.config3, true);
  return n.attr;
}

/** The size the kernel wrote back into the attr on E2BIG. */
export function kernelAttrSize(n: Native): number {
  return n.attrView.getUint32(4, true);
}
