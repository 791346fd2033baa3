//! The ring-buffer mapping of a counter: 1 metadata page + 2^N data pages,
//! drained by ring_reader.zig; waiting for it with poll(2); and sharing one
//! ring between counters (PERF_EVENT_IOC_SET_OUTPUT).
//!
//! The kernel allows one live mapping per fd and refuses a second of another
//! size (EINVAL), so the counter's 1-page self-monitoring mapping is replaced,
//! and put back when the ring goes away.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const errno = @import("errno.zig");
const syscalls = @import("syscalls.zig");
const system = @import("system.zig");
const counter_mod = @import("counter.zig");
const attr_mod = @import("attr.zig");
const ring_reader = @import("ring_reader.zig");

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
    counter.mappings_made += 1;
    counter.ring_data_pages = data_pages;
    counter.ring_stats = .{};
    if (counter.require_at_ring) {
        // The checks pm_open deferred to the first page of this mapping.
        counter_mod.checkRequire(counter, failure) catch |err| {
            counter_mod.unmap(counter);
            return err;
        };
        counter.require_at_ring = false;
    }
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
    counter.mappings_made += 1;
}

/// The counter's ring as ring_reader sees it, or null without a ring.
pub fn viewOf(counter: *const Counter) ?ring_reader.View {
    if (counter.ring_data_pages == 0) return null;
    const mapping = counter.mapping orelse return null;
    const page_bytes: usize = system.pageSize();
    const data_bytes = @as(usize, counter.ring_data_pages) * page_bytes;
    assert(counter.mapping_bytes == page_bytes + data_bytes);
    return .{ .control = @ptrCast(mapping), .data = mapping + page_bytes, .data_bytes = data_bytes };
}

/// Copies whole records into `out` and counts what happened (pm_ring_read).
pub fn read(counter: *Counter, out: []u8, failure: *Failure) Error!usize {
    if (out.len < ring_reader.header_bytes) return errno.fail(failure, errno.fromErrno(.INVAL));
    const view = viewOf(counter) orelse return errno.fail(failure, errno.fromCode(.NO_RING));
    const result = ring_reader.drain(view, out);
    const stats = &counter.ring_stats;
    stats.reads += 1;
    stats.records += result.records;
    stats.bytes += result.bytes;
    stats.split_records += result.split_records;
    stats.resyncs += @intFromBool(result.resynced);
    if (result.too_large) return errno.fail(failure, errno.fromErrno(.RANGE));
    return result.bytes;
}

/// pm_ring_read for callers on any thread: one consumer at a time, so two
/// never copy the same records or race on data_tail.
pub fn readExclusive(counter: *Counter, out: []u8, failure: *Failure) Error!usize {
    var attempts: u32 = 0;
    while (!counter.ring_lock.tryLock()) : (attempts += 1) {
        // The holder copies at most one buffer's worth: a bounded wait.
        if (attempts >= ring_lock_attempts_max) return errno.fail(failure, errno.fromErrno(.AGAIN));
        syscalls.schedYield();
    }
    defer counter.ring_lock.unlock();
    return read(counter, out, failure);
}

const ring_lock_attempts_max = 1 << 20;

/// A wait is always bounded: JavaScript callers loop, and a closed counter
/// must never hold a thread for long.
pub const poll_timeout_max_ms = 60_000;

/// The checks of pm_ring_poll, made inside the counter's slot.
pub fn checkPoll(counter: *const Counter, timeout_ms: i32, failure: *Failure) Error!void {
    if (timeout_ms < 0 or timeout_ms > poll_timeout_max_ms) return errno.fail(failure, errno.fromErrno(.INVAL));
    if (counter.simulated) return errno.fail(failure, errno.fromErrno(.OPNOTSUPP));
    if (counter.ring_data_pages == 0) return errno.fail(failure, errno.fromCode(.NO_RING));
    assert(counter.fd >= 0);
}

/// poll(2) for POLLIN on `fd` (a duplicate of a ring counter's fd). Returns
/// the revents bits (0 on timeout or EINTR, which the caller treats as
/// "look again").
pub fn poll(fd: i32, timeout_ms: i32, failure: *Failure) Error!u32 {
    assert(timeout_ms >= 0 and timeout_ms <= poll_timeout_max_ms);
    assert(fd >= 0);
    var fds = [1]linux.pollfd{.{ .fd = fd, .events = linux.POLL.IN }};
    const rc = linux.poll(&fds, fds.len, timeout_ms);
    if (linux.errno(rc) == .INTR) return 0;
    const ready = try errno.check(rc, failure);
    if (ready == 0) return 0;
    assert(ready == 1);
    return @as(u16, @bitCast(fds[0].revents));
}

/// PERF_EVENT_IOC_SET_OUTPUT: `counter`'s records go to `target`'s ring
/// (null: back to none). The kernel refuses it for an event that is mapped
/// (EINVAL), so a counter's 1-page metadata mapping is dropped first (it
/// then reads through read()) and put back if the kernel refuses, or when
/// the redirection ends. A counter with its own ring is EBUSY.
pub fn setOutput(counter: *Counter, target: ?*const Counter, failure: *Failure) Error!void {
    if (counter.simulated) return errno.fail(failure, errno.fromErrno(.OPNOTSUPP));
    if (counter.ring_data_pages != 0) return errno.fail(failure, errno.fromErrno(.BUSY));
    assert(counter.fd >= 0);
    const target_fd: i32 = if (target) |output| output.fd else -1;
    const had_page = counter.mapping != null;
    counter_mod.unmap(counter);
    // The kernel compares the unsigned long argument with -1: sign-extend.
    const argument: usize = @bitCast(@as(isize, target_fd));
    _ = syscalls.ioctl(counter.fd, attr_mod.PERF_EVENT_IOC_SET_OUTPUT, argument, failure) catch |err| {
        if (had_page) restoreMetadataPage(counter);
        return err;
    };
    if (target == null and counter.mode != .off) restoreMetadataPage(counter);
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
