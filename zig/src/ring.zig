//! The ring-buffer mapping: 1 metadata page + 2^N data pages. Reading the
//! records is a later issue; this validates and (re)maps.
//!
//! The kernel allows one live mapping per fd and refuses a second of another
//! size (EINVAL), so the counter's 1-page self-monitoring mapping is replaced,
//! and put back when the ring goes away.
const std = @import("std");
const assert = std.debug.assert;
const errno = @import("errno.zig");
const syscalls = @import("syscalls.zig");
const system = @import("system.zig");
const counter_mod = @import("counter.zig");

const Counter = counter_mod.Counter;
const Failure = errno.Failure;
const Error = errno.Error;

/// Mapping size limit (metadata page included), from ABI.md.
pub const ring_pages_max = 1 << 16;

/// Whether 1 + `data_pages` is a ring size the kernel accepts.
pub fn dataPagesValid(data_pages: u32) bool {
    if (data_pages == 0 or !std.math.isPowerOfTwo(data_pages)) return false;
    return @as(u64, data_pages) + 1 <= ring_pages_max;
}

pub fn map(counter: *Counter, data_pages: u32, failure: *Failure) Error!void {
    if (!dataPagesValid(data_pages)) return errno.fail(failure, errno.fromErrno(.INVAL));
    if (counter.simulated) return errno.fail(failure, errno.fromErrno(.OPNOTSUPP));
    if (counter.ring_data_pages != 0) return errno.fail(failure, errno.fromErrno(.BUSY));
    assert(counter.fd >= 0);
    const had_page = counter.mapping != null;
    counter_mod.unmap(counter);
    const page_bytes: usize = system.pageSize();
    const bytes = (@as(usize, data_pages) + 1) * page_bytes;
    const mapping = syscalls.mmapShared(counter.fd, bytes, failure) catch |err| {
        if (had_page) restoreMetadataPage(counter);
        return err;
    };
    counter.mapping = mapping;
    counter.mapping_bytes = bytes;
    counter.ring_data_pages = data_pages;
}

pub fn unmap(counter: *Counter, failure: *Failure) Error!void {
    if (counter.simulated) return errno.fail(failure, errno.fromErrno(.OPNOTSUPP));
    if (counter.ring_data_pages == 0) return;
    counter_mod.unmap(counter);
    assert(counter.mapping == null);
    if (counter.mode != .off) restoreMetadataPage(counter);
}

/// Best effort: without the page the counter still reads through read().
fn restoreMetadataPage(counter: *Counter) void {
    assert(counter.mapping == null);
    var failure: Failure = undefined;
    const bytes: usize = system.pageSize();
    const mapping = syscalls.mmapShared(counter.fd, bytes, &failure) catch return;
    counter.mapping = mapping;
    counter.mapping_bytes = bytes;
}

test "ring sizes: 1 + 2^N pages only" {
    try std.testing.expect(dataPagesValid(1));
    try std.testing.expect(dataPagesValid(2));
    try std.testing.expect(dataPagesValid(1 << 15));
    try std.testing.expect(!dataPagesValid(0));
    try std.testing.expect(!dataPagesValid(3));
    try std.testing.expect(!dataPagesValid(6));
    try std.testing.expect(!dataPagesValid(1 << 16)); // 1 + 2^16 pages is over the limit
}
