// The record decoder on bytes built here byte by byte, as the kernel lays
// them out (include/uapi/linux/perf_event.h): every sample_type field, the
// side-band records, unknown types and malformed records.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PerfRecord, SampleRecord } from "../mod.ts";
import { newTally, RecordDecoder } from "../src/_records.ts";
import { PERF_RECORD, PERF_SAMPLE } from "../src/_uapi.ts";

/** Builds records: each `record()` call appends header + body. */
class Bytes {
  #bytes: number[] = [];
  #start = 0;

  begin(type: number, misc = 0): this {
    this.#start = this.#bytes.length;
    this.u32(type).u16(misc).u16(0);
    return this;
  }

  end(): this {
    while ((this.#bytes.length - this.#start) % 8 !== 0) this.#bytes.push(0);
    const size = this.#bytes.length - this.#start;
    this.#bytes[this.#start + 6] = size & 0xff;
    this.#bytes[this.#start + 7] = size >> 8;
    return this;
  }

  u16(value: number): this {
    this.#bytes.push(value & 0xff, (value >> 8) & 0xff);
    return this;
  }

  u32(value: number): this {
    for (let i = 0; i < 4; i++) this.#bytes.push((value >>> (8 * i)) & 0xff);
    return this;
  }

  u64(value: bigint): this {
    for (let i = 0n; i < 8n; i++) this.#bytes.push(Number((value >> (8n * i)) & 0xffn));
    return this;
  }

  text(value: string): this {
    for (const byte of new TextEncoder().encode(value)) this.#bytes.push(byte);
    this.#bytes.push(0);
    return this;
  }

  raw(values: number[]): this {
    this.#bytes.push(...values);
    return this;
  }

  decode(decoder: RecordDecoder): { records: PerfRecord[]; tally: ReturnType<typeof newTally> } {
    const bytes = new Uint8Array(this.#bytes);
    const records: PerfRecord[] = [];
    const tally = newTally();
    decoder.decode(bytes, new DataView(bytes.buffer), bytes.length, records, tally);
    return { records, tally };
  }
}

const ALL = PERF_SAMPLE.IP | PERF_SAMPLE.TID | PERF_SAMPLE.TIME | PERF_SAMPLE.ADDR |
  PERF_SAMPLE.ID | PERF_SAMPLE.STREAM_ID | PERF_SAMPLE.CPU | PERF_SAMPLE.PERIOD |
  PERF_SAMPLE.READ | PERF_SAMPLE.CALLCHAIN | PERF_SAMPLE.RAW;
const GROUP_FORMAT = 1 | 2 | 4 | 8 | 16; // TOTAL_TIME_ENABLED|RUNNING|ID|GROUP|LOST
const PERF_CONTEXT_USER = (1n << 64n) - 512n;

describe("record decoder", () => {
  it("a SAMPLE with every supported field, in the kernel's order", () => {
    const decoder = new RecordDecoder({
      sampleType: ALL,
      readFormat: GROUP_FORMAT,
      sampleIdAll: true,
    });
    const bytes = new Bytes()
      .begin(PERF_RECORD.SAMPLE, 2)
      .u64(0x7f00_1234_5678n) // ip
      .u32(100).u32(101) // pid, tid
      .u64(123_456_789_012n) // time
      .u64(0xdead_beefn) // addr
      .u64(7n) // id
      .u64(8n) // stream_id
      .u32(1).u32(0) // cpu, res
      .u64(250_000n) // period
      .u64(2n).u64(1000n).u64(900n) // read: nr, time_enabled, time_running
      .u64(11n).u64(7n).u64(0n) // value, id, lost
      .u64(22n).u64(9n).u64(0n)
      .u64(3n).u64(PERF_CONTEXT_USER).u64(0x4000n).u64(0x5000n) // callchain with a marker
      .u32(3).raw([1, 2, 3]) // raw: size + data
      .end();
    const { records, tally } = bytes.decode(decoder);
    assert.equal(tally.samples, 1);
    assert.equal(tally.malformed, 0);
    const sample = records[0] as SampleRecord;
    assert.deepEqual(sample, {
      type: "sample",
      cpuMode: "user",
      misc: 2,
      ip: 0x7f00_1234_5678,
      pid: 100,
      tid: 101,
      time: 123_456_789_012,
      addr: 0xdead_beef,
      id: 7,
      streamId: 8,
      cpu: 1,
      period: 250_000,
      read: {
        timeEnabled: 1000,
        timeRunning: 900,
        values: [{ value: 11, id: 7 }, { value: 22, id: 9 }],
      },
      callchain: [0x4000, 0x5000],
      raw: new Uint8Array([1, 2, 3]),
    });
  });

  it("fields outside sample_type are undefined; a single read value", () => {
    const decoder = new RecordDecoder({
      sampleType: PERF_SAMPLE.TID | PERF_SAMPLE.READ,
      readFormat: 1 | 2,
      sampleIdAll: false,
    });
    const { records } = new Bytes()
      .begin(PERF_RECORD.SAMPLE, 1)
      .u32(5).u32(6).u64(42n).u64(10n).u64(10n)
      .end()
      .decode(decoder);
    const sample = records[0] as SampleRecord;
    assert.equal(sample.cpuMode, "kernel");
    assert.equal(sample.ip, undefined);
    assert.equal(sample.time, undefined);
    assert.equal(sample.tid, 6);
    assert.deepEqual(sample.read, {
      timeEnabled: 10,
      timeRunning: 10,
      values: [{ value: 42, id: undefined }],
    });
  });

  it("side-band records, with time from the sample_id trailer", () => {
    const sampleType = PERF_SAMPLE.TID | PERF_SAMPLE.TIME; // trailer: pid/tid, time
    const decoder = new RecordDecoder({ sampleType, readFormat: 0, sampleIdAll: true });
    const trailer = (bytes: Bytes, time: bigint) => bytes.u32(1).u32(2).u64(time);
    const bytes = new Bytes();
    trailer(bytes.begin(PERF_RECORD.LOST).u64(7n).u64(321n), 1000n).end();
    bytes.begin(PERF_RECORD.THROTTLE).u64(2000n).u64(7n).u64(7n).end();
    bytes.begin(PERF_RECORD.UNTHROTTLE).u64(2100n).u64(7n).u64(7n).end();
    // COMM: pid, tid, name padded to 8 bytes, then the trailer.
    trailer(bytes.begin(PERF_RECORD.COMM, 1 << 13).u32(10).u32(11).text("worker").raw([0]), 3000n)
      .end();
    bytes.begin(PERF_RECORD.FORK).u32(10).u32(1).u32(12).u32(11).u64(4000n).end();
    bytes.begin(PERF_RECORD.EXIT).u32(10).u32(1).u32(12).u32(11).u64(5000n).end();
    // MMAP2 with maj/min/ino, then one with a build id (misc bit 14).
    bytes.begin(PERF_RECORD.MMAP2).u32(10).u32(11).u64(0x1000n).u64(0x2000n).u64(0n)
      .u32(8).u32(1).u64(99n).u64(0n).u32(5).u32(2).text("/lib/a.so").raw([0, 0, 0, 0, 0, 0]);
    trailer(bytes, 6000n).end();
    bytes.begin(PERF_RECORD.MMAP2, 1 << 14).u32(10).u32(11).u64(0x3000n).u64(0x1000n).u64(0n)
      .raw([4, 0, 0, 0, 0xab, 0xcd, 0xef, 0x01, ...new Array(16).fill(0)])
      .u32(5).u32(2).text("/lib/b.so").raw([0, 0, 0, 0, 0, 0]);
    trailer(bytes, 7000n).end();
    const { records, tally } = bytes.decode(decoder);
    assert.equal(tally.malformed, 0);
    assert.equal(tally.lost, 321);
    assert.equal(tally.lostRecords, 1);
    assert.equal(tally.throttles, 1);
    assert.deepEqual(records[0], { type: "lost", id: 7, lost: 321, time: 1000 });
    assert.deepEqual(records[1], { type: "throttle", time: 2000, id: 7, streamId: 7 });
    assert.equal(records[2].type, "unthrottle");
    assert.deepEqual(records[3], {
      type: "comm",
      pid: 10,
      tid: 11,
      comm: "worker",
      exec: true,
      time: 3000,
    });
    assert.deepEqual(records[4], { type: "fork", pid: 10, ppid: 1, tid: 12, ptid: 11, time: 4000 });
    assert.equal(records[5].type, "exit");
    assert.deepEqual(records[6], {
      type: "mmap2",
      pid: 10,
      tid: 11,
      addr: 0x1000,
      len: 0x2000,
      pgoff: 0,
      maj: 8,
      min: 1,
      ino: 99,
      buildId: undefined,
      prot: 5,
      flags: 2,
      filename: "/lib/a.so",
      time: 6000,
    });
    const built = records[7];
    assert.ok(built.type === "mmap2");
    assert.equal(built.buildId, "abcdef01");
    assert.equal(built.filename, "/lib/b.so");
    assert.equal(built.ino, 0);
  });

  it("unknown types are skipped by their size and counted; decoding goes on", () => {
    const decoder = new RecordDecoder({
      sampleType: PERF_SAMPLE.IP,
      readFormat: 0,
      sampleIdAll: false,
    });
    const { records, tally } = new Bytes()
      .begin(14).u64(1n).u64(2n).u64(3n).end() // PERF_RECORD_SWITCH, not decoded
      .begin(99).end() // header alone
      .begin(PERF_RECORD.SAMPLE, 2).u64(0x400000n).end()
      .decode(decoder);
    assert.equal(tally.unknown, 2);
    assert.equal(tally.records, 3);
    assert.equal(records.length, 1);
    assert.equal((records[0] as SampleRecord).ip, 0x400000);
  });

  it("a record whose fields run past its size is counted as malformed and skipped", () => {
    const decoder = new RecordDecoder({
      sampleType: PERF_SAMPLE.IP | PERF_SAMPLE.CALLCHAIN,
      readFormat: 0,
      sampleIdAll: false,
    });
    const { records, tally } = new Bytes()
      .begin(PERF_RECORD.SAMPLE).u64(1n).u64(1000n).u64(5n).end() // nr 1000, one entry
      .begin(PERF_RECORD.SAMPLE).u64(2n).u64(1n).u64(6n).end()
      .decode(decoder);
    assert.equal(tally.malformed, 1);
    assert.equal(records.length, 1);
    assert.deepEqual((records[0] as SampleRecord).callchain, [6]);
  });

  it("kernel addresses and context markers: markers dropped, kernel ip rounded", () => {
    const decoder = new RecordDecoder({
      sampleType: PERF_SAMPLE.IP | PERF_SAMPLE.CALLCHAIN,
      readFormat: 0,
      sampleIdAll: false,
    });
    const kernelIp = 0xffff_ffff_8100_0000n;
    const { records } = new Bytes()
      .begin(PERF_RECORD.SAMPLE, 1).u64(kernelIp)
      .u64(4n).u64((1n << 64n) - 128n).u64(kernelIp).u64(PERF_CONTEXT_USER).u64(0x1234n)
      .end()
      .decode(decoder);
    const sample = records[0] as SampleRecord;
    assert.equal(sample.cpuMode, "kernel");
    assert.equal(sample.ip, Number(kernelIp));
    assert.deepEqual(sample.callchain, [Number(kernelIp), 0x1234]);
  });

  it("refuses sample_type bits it cannot decode", () => {
    assert.throws(
      () => new RecordDecoder({ sampleType: 1 << 11, readFormat: 0, sampleIdAll: false }),
      RangeError,
    );
  });
});
