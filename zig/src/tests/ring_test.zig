//! The ring consumer against heap memory that plays the kernel: records
//! split across the end of the ring, partial drains, malformed headers, and
//! a producer thread racing the consumer.
const std = @import("std");
const assert = std.debug.assert;
const page_mod = @import("../page.zig");
const ring_reader = @import("../ring_reader.zig");

const testing = std.testing;
const View = ring_reader.View;

const record_type_test = 9; // PERF_RECORD_SAMPLE; the consumer never looks
const record_bytes_test_max = 1024;
/// Bytes 8..16 of a test record hold its sequence number.
const record_bytes_test_min = 16;

/// A control page followed by a data area, in one aligned heap block.
fn FakeRing(comptime data_bytes: usize) type {
    comptime assert(std.math.isPowerOfTwo(data_bytes));
    return struct {
        const Self = @This();
        memory: [page_mod.page_size_min + data_bytes]u8 align(page_mod.page_size_min) = @splat(0),

        fn view(ring: *Self) View {
            return .{ .control = @ptrCast(&ring.memory), .data = ring.memory[page_mod.page_size_min..].ptr, .data_bytes = data_bytes };
        }

        /// Starts both positions at `position`, as a ring that has run for a while.
        fn startAt(ring: *Self, position: u64) void {
            const control = ring.view().control;
            control.data_head = position;
            control.data_tail = position;
        }
    };
}

/// The kernel's side: writes whole records at its private head, then
/// publishes the head with release semantics.
const Producer = struct {
    view: View,
    head: u64,

    fn init(view: View) Producer {
        return .{ .view = view, .head = view.control.data_head };
    }

    /// Returns false when the ring lacks space (the kernel would count a
    /// lost record instead).
    fn put(producer: *Producer, size: u16, sequence: u64) bool {
        assert(size >= record_bytes_test_min and size <= record_bytes_test_max);
        const tail = @atomicLoad(u64, &producer.view.control.data_tail, .acquire);
        if (producer.view.data_bytes - (producer.head -% tail) < size) return false;
        var record: [record_bytes_test_max]u8 = undefined;
        fillRecord(record[0..size], sequence);
        producer.writeRaw(record[0..size]);
        return true;
    }

    /// Writes bytes at the head with no checks (for malformed records).
    fn writeRaw(producer: *Producer, bytes: []const u8) void {
        const mask = producer.view.data_bytes - 1;
        for (bytes, 0..) |byte, i| producer.view.data[@intCast((producer.head + i) & mask)] = byte;
        producer.head +%= bytes.len;
        @atomicStore(u64, &producer.view.control.data_head, producer.head, .release);
    }
};

fn fillRecord(record: []u8, sequence: u64) void {
    std.mem.writeInt(u32, record[0..4], record_type_test, .little);
    std.mem.writeInt(u16, record[4..6], 0, .little);
    std.mem.writeInt(u16, record[6..8], @intCast(record.len), .little);
    std.mem.writeInt(u64, record[8..16], sequence, .little);
    for (record[16..], 16..) |*byte, i| byte.* = @truncate(sequence +% i);
}

/// Checks the records in `bytes` and returns the sequence after the last.
fn checkRecords(bytes: []const u8, first_sequence: u64) !u64 {
    var sequence = first_sequence;
    var at: usize = 0;
    var records: u32 = 0;
    while (at < bytes.len and records <= bytes.len / ring_reader.header_bytes) : (records += 1) {
        const size = std.mem.readInt(u16, bytes[at + 6 ..][0..2], .little);
        try testing.expect(size >= record_bytes_test_min and at + size <= bytes.len);
        try testing.expectEqual(@as(u32, record_type_test), std.mem.readInt(u32, bytes[at..][0..4], .little));
        try testing.expectEqual(sequence, std.mem.readInt(u64, bytes[at + 8 ..][0..8], .little));
        for (bytes[at + 16 .. at + size], 16..) |byte, i| {
            if (byte != @as(u8, @truncate(sequence +% i))) return error.TornRecord;
        }
        at += size;
        sequence += 1;
    }
    try testing.expectEqual(bytes.len, at);
    return sequence;
}

test "a record split across the end of the ring is copied whole" {
    var ring: FakeRing(256) = .{};
    ring.startAt(3 * 256 + 240); // 16 bytes before the end, after 3 laps
    var producer = Producer.init(ring.view());
    try testing.expect(producer.put(40, 7));
    var out: [512]u8 = undefined;
    const result = ring_reader.drain(ring.view(), &out);
    try testing.expectEqual(@as(usize, 40), result.bytes);
    try testing.expectEqual(@as(u32, 1), result.records);
    try testing.expectEqual(@as(u32, 1), result.split_records);
    try testing.expect(!result.resynced and !result.too_large);
    try testing.expectEqual(@as(u64, 8), try checkRecords(out[0..result.bytes], 7));
    try testing.expectEqual(@as(u64, 3 * 256 + 280), ring.view().control.data_tail);
}

test "a header split across the end (a size that is not a multiple of 8)" {
    var ring: FakeRing(256) = .{};
    ring.startAt(252); // the header's 8 bytes straddle the end: 4 + 4
    var producer = Producer.init(ring.view());
    try testing.expect(producer.put(20, 1));
    try testing.expect(producer.put(36, 2));
    var out: [512]u8 = undefined;
    const result = ring_reader.drain(ring.view(), &out);
    try testing.expectEqual(@as(usize, 56), result.bytes);
    try testing.expectEqual(@as(u32, 1), result.split_records);
    try testing.expectEqual(@as(u64, 3), try checkRecords(out[0..result.bytes], 1));
}

test "records that do not fit stay for the next call" {
    var ring: FakeRing(256) = .{};
    var producer = Producer.init(ring.view());
    for (0..3) |i| try testing.expect(producer.put(48, i));
    var out: [100]u8 = undefined;
    const first = ring_reader.drain(ring.view(), &out);
    try testing.expectEqual(@as(usize, 96), first.bytes);
    try testing.expectEqual(@as(u64, 96), ring.view().control.data_tail);
    try testing.expectEqual(@as(u64, 2), try checkRecords(out[0..first.bytes], 0));
    const second = ring_reader.drain(ring.view(), &out);
    try testing.expectEqual(@as(usize, 48), second.bytes);
    try testing.expectEqual(@as(u64, 3), try checkRecords(out[0..second.bytes], 2));
    const empty = ring_reader.drain(ring.view(), &out);
    try testing.expectEqual(@as(usize, 0), empty.bytes);
    try testing.expectEqual(@as(u64, 144), ring.view().control.data_tail);
    try testing.expectEqual(@as(u64, 0), ring_reader.pendingBytes(ring.view()));
}

test "a record larger than the whole buffer: nothing copied, the tail stays" {
    var ring: FakeRing(256) = .{};
    var producer = Producer.init(ring.view());
    try testing.expect(producer.put(48, 0));
    var out: [32]u8 = undefined;
    const result = ring_reader.drain(ring.view(), &out);
    try testing.expect(result.too_large);
    try testing.expectEqual(@as(usize, 0), result.bytes);
    try testing.expectEqual(@as(u64, 0), ring.view().control.data_tail);
    try testing.expectEqual(@as(u64, 48), ring_reader.pendingBytes(ring.view()));
}

test "a full ring refuses the producer until the consumer drains" {
    var ring: FakeRing(256) = .{};
    var producer = Producer.init(ring.view());
    var sequence: u64 = 0;
    while (producer.put(64, sequence)) sequence += 1;
    try testing.expectEqual(@as(u64, 4), sequence);
    var out: [1024]u8 = undefined;
    const result = ring_reader.drain(ring.view(), &out);
    try testing.expectEqual(@as(usize, 256), result.bytes);
    try testing.expect(producer.put(64, sequence));
}

test "malformed sizes resync to the head, and the ring goes on" {
    var ring: FakeRing(256) = .{};
    var producer = Producer.init(ring.view());
    try testing.expect(producer.put(24, 0));
    var bad: [8]u8 = @splat(0); // a header alone ...
    std.mem.writeInt(u16, bad[6..8], 4, .little); // ... claiming 4 bytes: below a header
    producer.writeRaw(&bad);
    var out: [256]u8 = undefined;
    const result = ring_reader.drain(ring.view(), &out);
    try testing.expect(result.resynced);
    try testing.expectEqual(@as(usize, 24), result.bytes); // the good record before it
    try testing.expectEqual(producer.head, ring.view().control.data_tail);

    std.mem.writeInt(u16, bad[6..8], 200, .little); // more than is published
    producer.writeRaw(&bad);
    try testing.expect(ring_reader.drain(ring.view(), &out).resynced);
    try testing.expect(producer.put(32, 5));
    const after = ring_reader.drain(ring.view(), &out);
    try testing.expect(!after.resynced);
    try testing.expectEqual(@as(u64, 6), try checkRecords(out[0..after.bytes], 5));
}

test "a head more than a ring ahead of the tail resyncs" {
    var ring: FakeRing(256) = .{};
    ring.view().control.data_head = 1000;
    var out: [256]u8 = undefined;
    const result = ring_reader.drain(ring.view(), &out);
    try testing.expect(result.resynced);
    try testing.expectEqual(@as(usize, 0), result.bytes);
    try testing.expectEqual(@as(u64, 1000), ring.view().control.data_tail);
}

test "one drain copies at most cap / 8 records" {
    var ring: FakeRing(4096) = .{};
    var producer = Producer.init(ring.view());
    for (0..100) |i| try testing.expect(producer.put(16, i));
    var out: [64]u8 = undefined;
    const result = ring_reader.drain(ring.view(), &out);
    try testing.expectEqual(@as(u32, 4), result.records);
    try testing.expectEqual(@as(u64, 4), try checkRecords(out[0..result.bytes], 0));
}

const Race = struct {
    ring: FakeRing(4096) = .{},
    records: u64,
    produced: u64 = 0,
    refusals: u64 = 0,
};

/// Sizes cycle through multiples of 8 and odd sizes, so records and headers
/// land on every alignment and wrap at every offset.
const race_sizes = [_]u16{ 16, 24, 40, 20, 64, 200, 36, 1000, 17, 512 };

fn raceProducer(race: *Race) void {
    var producer = Producer.init(race.ring.view());
    var sequence: u64 = 0;
    while (sequence < @atomicLoad(u64, &race.records, .acquire)) {
        if (producer.put(race_sizes[sequence % race_sizes.len], sequence)) {
            sequence += 1;
        } else {
            race.refusals += 1;
            std.atomic.spinLoopHint();
        }
    }
    @atomicStore(u64, &race.produced, sequence, .release);
}

test "producer thread against the consumer: 500 000 records, none lost or torn" {
    var race: Race = .{ .records = 500_000 };
    const thread = try std.Thread.spawn(.{}, raceProducer, .{&race});
    var out: [3000]u8 = undefined;
    var next: u64 = 0;
    var splits: u64 = 0;
    var drains: u64 = 0;
    const drains_max = 1 << 30;
    while (next < race.records and drains < drains_max) : (drains += 1) {
        // Varying caps leave partial batches behind at every position.
        const cap = 1024 + (drains * 7919) % (out.len - 1024);
        const result = ring_reader.drain(race.ring.view(), out[0..cap]);
        try testing.expect(!result.resynced and !result.too_large);
        next = checkRecords(out[0..result.bytes], next) catch |err| {
            @atomicStore(u64, &race.records, 0, .release);
            thread.join();
            return err;
        };
        splits += result.split_records;
    }
    thread.join();
    try testing.expectEqual(race.records, next);
    try testing.expectEqual(race.records, @atomicLoad(u64, &race.produced, .acquire));
    try testing.expect(splits > 1000); // the wrap path ran, a lot
}
