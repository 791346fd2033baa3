//! The consumer side of the perf ring buffer: copy whole records out of the
//! data pages into a caller's buffer, then hand the space back to the kernel.
//!
//! The protocol (include/uapi/linux/perf_event.h, `data_head` comment):
//!   1. load `data_head` with acquire semantics: every record byte the
//!      kernel wrote before publishing the head is then visible;
//!   2. copy the records in [data_tail, data_head), each of which may wrap
//!      around the end of the data area (a record split across the end);
//!   3. store `data_tail` with release semantics: the kernel may overwrite
//!      the space only after every read of it is done.
//!
//! Generic over memory: `View` names a control page and a data area, so the
//! tests drive the same code with heap memory that plays the kernel.
const std = @import("std");
const assert = std.debug.assert;
const page_mod = @import("page.zig");

const Page = page_mod.Page;

/// `struct perf_event_header`: u32 type, u16 misc, u16 size (whole record).
pub const header_bytes = 8;
const header_size_offset = 6;

/// Largest record the kernel can write: `size` is a u16.
pub const record_bytes_max = std.math.maxInt(u16);

/// A mapped ring: the control page (`data_head`, `data_tail`) and the data
/// area, whose size is a power of two so that positions wrap by masking.
pub const View = struct {
    control: *Page,
    data: [*]u8,
    data_bytes: u64,

    fn mask(view: View) u64 {
        return view.data_bytes - 1;
    }
};

/// What one drain did.
pub const Drain = struct {
    /// Bytes of whole records copied into the caller's buffer.
    bytes: usize = 0,
    records: u32 = 0,
    /// Records that wrapped around the end of the data area.
    split_records: u32 = 0,
    /// A malformed header or an impossible head was met; the tail was moved
    /// to the head (everything pending was dropped) so the ring recovers.
    resynced: bool = false,
    /// The next record is larger than the whole buffer: nothing was copied
    /// and the tail did not move.
    too_large: bool = false,
};

/// Copies as many whole records as fit into `out`, leaving the rest (and any
/// record that does not fit) for the next call. Bounded: at most
/// `out.len / header_bytes` records, since each is at least a header.
pub fn drain(view: View, out: []u8) Drain {
    assert(std.math.isPowerOfTwo(view.data_bytes));
    assert(out.len >= header_bytes);
    const head = @atomicLoad(u64, &view.control.data_head, .acquire);
    // Only the consumer writes data_tail: a plain (monotonic) load suffices.
    var tail = @atomicLoad(u64, &view.control.data_tail, .monotonic);
    var result: Drain = .{};
    if (head -% tail > view.data_bytes) {
        // The kernel never publishes more than a ring's worth past the tail
        // (it drops and counts in a LOST record instead); seeing it means a
        // foreign writer moved data_tail. Start again at the head.
        result.resynced = true;
        tail = head;
    }
    const records_max = out.len / header_bytes;
    while (result.records < records_max) {
        const pending = head -% tail;
        if (pending == 0) break;
        const size = if (pending < header_bytes) 0 else recordSize(view, tail);
        if (size < header_bytes or size > pending) {
            result.resynced = true;
            tail = head;
            break;
        }
        if (result.bytes + size > out.len) {
            result.too_large = result.bytes == 0;
            break;
        }
        if (copyOut(view, tail, out[result.bytes..][0..size])) result.split_records += 1;
        result.bytes += size;
        result.records += 1;
        tail +%= size;
    }
    assert(result.bytes <= out.len);
    assert(head -% tail <= view.data_bytes or result.resynced);
    @atomicStore(u64, &view.control.data_tail, tail, .release);
    return result;
}

/// Bytes the kernel has published and the consumer has not taken yet.
pub fn pendingBytes(view: View) u64 {
    const head = @atomicLoad(u64, &view.control.data_head, .acquire);
    const tail = @atomicLoad(u64, &view.control.data_tail, .monotonic);
    return head -% tail;
}

/// The `size` of the record header at `position`; the header itself may
/// wrap when a producer writes sizes that are not multiples of 8.
fn recordSize(view: View, position: u64) u16 {
    var header: [header_bytes]u8 = undefined;
    _ = copyOut(view, position, &header);
    return std.mem.readInt(u16, header[header_size_offset..][0..2], .little);
}

/// Copies `destination.len` bytes starting at ring position `position`.
/// Returns whether the bytes wrapped around the end of the data area.
fn copyOut(view: View, position: u64, destination: []u8) bool {
    assert(destination.len <= view.data_bytes);
    const offset: usize = @intCast(position & view.mask());
    const first_bytes = @min(destination.len, view.data_bytes - offset);
    @memcpy(destination[0..first_bytes], view.data[offset..][0..first_bytes]);
    const rest_bytes = destination.len - first_bytes;
    if (rest_bytes == 0) return false;
    @memcpy(destination[first_bytes..], view.data[0..rest_bytes]);
    return true;
}

test "copyOut wraps at the end of the data area" {
    var control: Page = std.mem.zeroes(Page);
    var data: [16]u8 = .{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    const view: View = .{ .control = &control, .data = &data, .data_bytes = data.len };
    var out: [6]u8 = undefined;
    try std.testing.expect(copyOut(view, 16 + 13, &out));
    try std.testing.expectEqualSlices(u8, &.{ 13, 14, 15, 0, 1, 2 }, &out);
    try std.testing.expect(!copyOut(view, 2, &out));
    try std.testing.expectEqualSlices(u8, &.{ 2, 3, 4, 5, 6, 7 }, &out);
}
