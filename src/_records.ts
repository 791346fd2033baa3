// Decoding perf ring records (include/uapi/linux/perf_event.h, enum
// perf_event_type) from the bytes pm_ring_read copied out: whole records,
// each starting with its perf_event_header. A SAMPLE is decoded by the
// counter's sample_type exactly; other known types by their fixed layouts;
// unknown types are skipped by their header size and counted.

import type {
  CpuMode,
  PerfRecord,
  SampleField,
  SampleRead,
  SampleReadValue,
  SampleRecord,
} from "./sampling.ts";
import {
  BUILD_ID_BYTES_MAX,
  PERF_CONTEXT_MARKER_LOW,
  PERF_RECORD,
  PERF_RECORD_MISC,
  PERF_SAMPLE,
  READ_FORMAT,
  RECORD_HEADER_BYTES,
} from "./_uapi.ts";

/** The bit of each `sampleType` name. */
export const SAMPLE_FIELD_BITS: Readonly<Record<SampleField, number>> = {
  ip: PERF_SAMPLE.IP,
  tid: PERF_SAMPLE.TID,
  time: PERF_SAMPLE.TIME,
  addr: PERF_SAMPLE.ADDR,
  id: PERF_SAMPLE.ID,
  stream_id: PERF_SAMPLE.STREAM_ID,
  cpu: PERF_SAMPLE.CPU,
  period: PERF_SAMPLE.PERIOD,
  read: PERF_SAMPLE.READ,
  callchain: PERF_SAMPLE.CALLCHAIN,
  raw: PERF_SAMPLE.RAW,
};

/** Bits this decoder understands; others are never requested. */
const SAMPLE_KNOWN = Object.values(SAMPLE_FIELD_BITS).reduce((a, b) => a | b, 0);

const TWO_32 = 4294967296;

const CPU_MODES: readonly CpuMode[] = [
  "unknown",
  "kernel",
  "user",
  "hypervisor",
  "guest-kernel",
  "guest-user",
  "unknown",
  "unknown",
];

/** What the decoder needs to know about the counter that owns the ring. */
export interface RecordLayout {
  /** PERF_SAMPLE_* bits. */
  sampleType: number;
  /** PERF_FORMAT_* bits (for `"read"`). */
  readFormat: number;
  /** Whether non-sample records carry the sample_id trailer. */
  sampleIdAll: boolean;
}

/** Counts kept while decoding. */
export interface DecodeTally {
  records: number;
  samples: number;
  lostRecords: number;
  lost: number;
  throttles: number;
  unknown: number;
  malformed: number;
}

/** A fresh tally. */
export function newTally(): DecodeTally {
  return {
    records: 0,
    samples: 0,
    lostRecords: 0,
    lost: 0,
    throttles: 0,
    unknown: 0,
    malformed: 0,
  };
}

function u64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * TWO_32;
}

const textDecoder = new TextDecoder();

/** The NUL-terminated string at [at, end). */
function cString(bytes: Uint8Array, at: number, end: number): string {
  let nul = at;
  while (nul < end && bytes[nul] !== 0) nul++;
  return textDecoder.decode(bytes.subarray(at, nul));
}

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}

/** Thrown inside a record whose fields run past its size. */
class Malformed extends Error {}

/** Decodes the records of one ring (one layout). */
export class RecordDecoder {
  readonly #sampleType: number;
  readonly #readFormat: number;
  /** Bytes of the sample_id trailer of non-sample records (0 without sample_id_all). */
  readonly #trailerBytes: number;
  /** Offset of `time` in that trailer, or -1. */
  readonly #trailerTime: number;

  constructor(layout: RecordLayout) {
    if ((layout.sampleType & ~SAMPLE_KNOWN) !== 0) {
      throw new RangeError(`sample_type 0x${layout.sampleType.toString(16)} has unknown bits`);
    }
    this.#sampleType = layout.sampleType;
    this.#readFormat = layout.readFormat;
    const s = layout.sampleType;
    const trailerBits = [
      PERF_SAMPLE.TID,
      PERF_SAMPLE.TIME,
      PERF_SAMPLE.ID,
      PERF_SAMPLE.STREAM_ID,
      PERF_SAMPLE.CPU,
      PERF_SAMPLE.IDENTIFIER,
    ];
    const present = trailerBits.filter((bit) => (s & bit) !== 0).length;
    this.#trailerBytes = layout.sampleIdAll ? 8 * present : 0;
    this.#trailerTime = layout.sampleIdAll && (s & PERF_SAMPLE.TIME) !== 0
      ? ((s & PERF_SAMPLE.TID) !== 0 ? 8 : 0)
      : -1;
  }

  /**
   * Decodes the whole records in `bytes[0, length)` (as pm_ring_read wrote
   * them) and appends them to `out`.
   */
  decode(
    bytes: Uint8Array,
    view: DataView,
    length: number,
    out: PerfRecord[],
    tally: DecodeTally,
  ): void {
    let at = 0;
    while (at + RECORD_HEADER_BYTES <= length) {
      const size = view.getUint16(at + 6, true);
      if (size < RECORD_HEADER_BYTES || at + size > length) {
        // The core copies whole records only; this would be a core bug.
        tally.malformed++;
        return;
      }
      tally.records++;
      try {
        const record = this.#record(bytes, view, at, at + size, tally);
        if (record !== undefined) out.push(record);
      } catch (error) {
        if (!(error instanceof Malformed)) throw error;
        tally.malformed++;
      }
      at += size;
    }
  }

  #record(
    bytes: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    tally: DecodeTally,
  ): PerfRecord | undefined {
    const type = view.getUint32(start, true);
    const misc = view.getUint16(start + 4, true);
    const body = start + RECORD_HEADER_BYTES;
    switch (type) {
      case PERF_RECORD.SAMPLE:
        tally.samples++;
        return this.#sample(bytes, view, misc, body, end);
      case PERF_RECORD.LOST: {
        this.#need(body + 16, end);
        const lost = u64(view, body + 8);
        tally.lostRecords++;
        tally.lost += lost;
        return { type: "lost", id: u64(view, body), lost, time: this.#time(view, end) };
      }
      case PERF_RECORD.THROTTLE:
      case PERF_RECORD.UNTHROTTLE:
        this.#need(body + 24, end);
        if (type === PERF_RECORD.THROTTLE) tally.throttles++;
        return {
          type: type === PERF_RECORD.THROTTLE ? "throttle" : "unthrottle",
          time: u64(view, body),
          id: u64(view, body + 8),
          streamId: u64(view, body + 16),
        };
      case PERF_RECORD.COMM:
        this.#need(body + 8, end);
        return {
          type: "comm",
          pid: view.getUint32(body, true),
          tid: view.getUint32(body + 4, true),
          comm: cString(bytes, body + 8, end - this.#trailerBytes),
          exec: (misc & PERF_RECORD_MISC.COMM_EXEC) !== 0,
          time: this.#time(view, end),
        };
      case PERF_RECORD.EXIT:
      case PERF_RECORD.FORK:
        this.#need(body + 24, end);
        return {
          type: type === PERF_RECORD.FORK ? "fork" : "exit",
          pid: view.getUint32(body, true),
          ppid: view.getUint32(body + 4, true),
          tid: view.getUint32(body + 8, true),
          ptid: view.getUint32(body + 12, true),
          time: u64(view, body + 16),
        };
      case PERF_RECORD.MMAP2:
        return this.#mmap2(bytes, view, misc, body, end);
      case PERF_RECORD.MMAP:
        this.#need(body + 32, end);
        return {
          type: "mmap",
          pid: view.getUint32(body, true),
          tid: view.getUint32(body + 4, true),
          addr: u64(view, body + 8),
          len: u64(view, body + 16),
          pgoff: u64(view, body + 24),
          maj: 0,
          min: 0,
          ino: 0,
          buildId: undefined,
          prot: 0,
          flags: 0,
          filename: cString(bytes, body + 32, end - this.#trailerBytes),
          time: this.#time(view, end),
        };
      default:
        tally.unknown++;
        return undefined;
    }
  }

  #need(at: number, end: number): void {
    if (at > end) throw new Malformed();
  }

  /** `time` from the sample_id trailer of a non-sample record. */
  #time(view: DataView, end: number): number | undefined {
    if (this.#trailerTime < 0) return undefined;
    const at = end - this.#trailerBytes + this.#trailerTime;
    return at >= 0 ? u64(view, at) : undefined;
  }

  #mmap2(bytes: Uint8Array, view: DataView, misc: number, body: number, end: number): PerfRecord {
    this.#need(body + 64, end);
    const hasBuildId = (misc & PERF_RECORD_MISC.MMAP_BUILD_ID) !== 0;
    const buildIdBytes = Math.min(view.getUint8(body + 32), BUILD_ID_BYTES_MAX);
    return {
      type: "mmap2",
      pid: view.getUint32(body, true),
      tid: view.getUint32(body + 4, true),
      addr: u64(view, body + 8),
      len: u64(view, body + 16),
      pgoff: u64(view, body + 24),
      maj: hasBuildId ? 0 : view.getUint32(body + 32, true),
      min: hasBuildId ? 0 : view.getUint32(body + 36, true),
      ino: hasBuildId ? 0 : u64(view, body + 40),
      buildId: hasBuildId ? hex(bytes.subarray(body + 36, body + 36 + buildIdBytes)) : undefined,
      prot: view.getUint32(body + 56, true),
      flags: view.getUint32(body + 60, true),
      filename: cString(bytes, body + 64, end - this.#trailerBytes),
      time: this.#time(view, end),
    };
  }

  #sample(
    bytes: Uint8Array,
    view: DataView,
    misc: number,
    body: number,
    end: number,
  ): SampleRecord {
    const s = this.#sampleType;
    let at = body;
    let ip: number | undefined;
    let pid: number | undefined;
    let tid: number | undefined;
    let time: number | undefined;
    let addr: number | undefined;
    let id: number | undefined;
    let streamId: number | undefined;
    let cpu: number | undefined;
    let period: number | undefined;
    let read: SampleRead | undefined;
    let callchain: number[] | undefined;
    let raw: Uint8Array | undefined;
    // The fixed part: every field is 8 bytes, so one bounds check covers it.
    this.#need(at + this.#fixedBytes(), end);
    if (s & PERF_SAMPLE.IP) ip = u64(view, (at += 8) - 8);
    if (s & PERF_SAMPLE.TID) {
      pid = view.getUint32(at, true);
      tid = view.getUint32(at + 4, true);
      at += 8;
    }
    if (s & PERF_SAMPLE.TIME) time = u64(view, (at += 8) - 8);
    if (s & PERF_SAMPLE.ADDR) addr = u64(view, (at += 8) - 8);
    if (s & PERF_SAMPLE.ID) id = u64(view, (at += 8) - 8);
    if (s & PERF_SAMPLE.STREAM_ID) streamId = u64(view, (at += 8) - 8);
    if (s & PERF_SAMPLE.CPU) cpu = view.getUint32((at += 8) - 8, true);
    if (s & PERF_SAMPLE.PERIOD) period = u64(view, (at += 8) - 8);
    if (s & PERF_SAMPLE.READ) {
      const decoded = this.#read(view, at, end);
      read = decoded.read;
      at = decoded.at;
    }
    if (s & PERF_SAMPLE.CALLCHAIN) {
      this.#need(at + 8, end);
      const nr = u64(view, at);
      at += 8;
      this.#need(at + 8 * nr, end);
      callchain = [];
      for (let i = 0; i < nr; i++, at += 8) {
        const high = view.getUint32(at + 4, true);
        const low = view.getUint32(at, true);
        if (high === 0xffffffff && low >= PERF_CONTEXT_MARKER_LOW) continue;
        callchain.push(low + high * TWO_32);
      }
    }
    if (s & PERF_SAMPLE.RAW) {
      this.#need(at + 4, end);
      const size = view.getUint32(at, true);
      this.#need(at + 4 + size, end);
      raw = bytes.slice(at + 4, at + 4 + size);
    }
    return {
      type: "sample",
      cpuMode: CPU_MODES[misc & PERF_RECORD_MISC.CPUMODE_MASK],
      misc,
      ip,
      pid,
      tid,
      time,
      addr,
      id,
      streamId,
      cpu,
      period,
      read,
      callchain,
      raw,
    };
  }

  #fixed = -1;

  /** Bytes of the fields before `read`: 8 for each one present. */
  #fixedBytes(): number {
    if (this.#fixed >= 0) return this.#fixed;
    const fixed = [
      PERF_SAMPLE.IP,
      PERF_SAMPLE.TID,
      PERF_SAMPLE.TIME,
      PERF_SAMPLE.ADDR,
      PERF_SAMPLE.ID,
      PERF_SAMPLE.STREAM_ID,
      PERF_SAMPLE.CPU,
      PERF_SAMPLE.PERIOD,
    ];
    return this.#fixed = 8 * fixed.filter((bit) => (this.#sampleType & bit) !== 0).length;
  }

  #read(view: DataView, start: number, end: number): { read: SampleRead; at: number } {
    const f = this.#readFormat;
    let at = start;
    const next = (): number => {
      this.#need(at + 8, end);
      const value = u64(view, at);
      at += 8;
      return value;
    };
    const values: SampleReadValue[] = [];
    let timeEnabled: number | undefined;
    let timeRunning: number | undefined;
    if (f & READ_FORMAT.GROUP) {
      const nr = next();
      this.#need(at + 8 * nr, end);
      if (f & READ_FORMAT.TOTAL_TIME_ENABLED) timeEnabled = next();
      if (f & READ_FORMAT.TOTAL_TIME_RUNNING) timeRunning = next();
      for (let i = 0; i < nr; i++) {
        const value = next();
        const id = f & READ_FORMAT.ID ? next() : undefined;
        if (f & READ_FORMAT.LOST) next();
        values.push({ value, id });
      }
    } else {
      const value = next();
      if (f & READ_FORMAT.TOTAL_TIME_ENABLED) timeEnabled = next();
      if (f & READ_FORMAT.TOTAL_TIME_RUNNING) timeRunning = next();
      const id = f & READ_FORMAT.ID ? next() : undefined;
      if (f & READ_FORMAT.LOST) next();
      values.push({ value, id });
    }
    return { read: { timeEnabled, timeRunning, values }, at };
  }
}
