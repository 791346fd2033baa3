//! Helpers shared by the tests that use the real kernel.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const attr_mod = @import("../attr.zig");
const syscalls = @import("../syscalls.zig");
const errno = @import("../errno.zig");

pub const AttrOptions = struct {
    disabled: bool = false,
    inherit: bool = false,
    enable_on_exec: bool = false,
    read_format: u64 = 0,
    config1: u64 = 0,
    /// Context switches happen in the kernel: with exclude_kernel they read 0.
    exclude_kernel: bool = true,
};

/// The attribute bytes a caller hands pm_open. exclude_kernel/exclude_hv
/// keep the tests runnable at perf_event_paranoid 2 without privileges.
pub fn attrBytes(event_type: u32, config: u64, options: AttrOptions) [attr_mod.PERF_ATTR_SIZE_VER8]u8 {
    var attr: attr_mod.PerfEventAttr = .{ .type = event_type, .config = config, .read_format = options.read_format };
    attr.flags = .{
        .disabled = options.disabled,
        .inherit = options.inherit,
        .enable_on_exec = options.enable_on_exec,
        .exclude_kernel = options.exclude_kernel,
        .exclude_hv = true,
    };
    attr.setConfig1(options.config1);
    var bytes: [attr_mod.PERF_ATTR_SIZE_VER8]u8 = undefined;
    @memcpy(&bytes, std.mem.asBytes(&attr));
    return bytes;
}

pub fn skip(comptime format: []const u8, args: anytype) error{SkipZigTest} {
    std.debug.print("SKIP: " ++ format ++ "\n", args);
    return error.SkipZigTest;
}

/// Entries in a directory (without . and ..), e.g. /proc/self/fd.
pub fn countEntries(path: [*:0]const u8) !usize {
    var failure: errno.Failure = undefined;
    const fd = syscalls.openRead(path, true, &failure) catch return error.OpenFailed;
    defer syscalls.close(fd);
    var entries: usize = 0;
    var buffer: [8192]u8 align(8) = undefined;
    var calls: u32 = 0;
    while (calls < 100_000) : (calls += 1) {
        const count = syscalls.getdents64(fd, &buffer, &failure) catch return error.ReadFailed;
        if (count == 0) return entries;
        var at: usize = 0;
        while (at < count) {
            const record_bytes = std.mem.readInt(u16, buffer[at + 16 ..][0..2], .little);
            const name = std.mem.sliceTo(buffer[at + 19 .. at + record_bytes], 0);
            if (!std.mem.eql(u8, name, ".") and !std.mem.eql(u8, name, "..")) entries += 1;
            at += record_bytes;
        }
    }
    return error.TooManyEntries;
}

var maps_buffer: [4 << 20]u8 = undefined;

/// Lines of /proc/self/maps: one per mapping.
pub fn countMappings() !usize {
    var failure: errno.Failure = undefined;
    const fd = syscalls.openRead("/proc/self/maps", false, &failure) catch return error.OpenFailed;
    defer syscalls.close(fd);
    var length: usize = 0;
    var reads: u32 = 0;
    while (reads < 100_000) : (reads += 1) {
        const count = syscalls.readOnce(fd, maps_buffer[length..], &failure) catch return error.ReadFailed;
        if (count == 0) return std.mem.count(u8, maps_buffer[0..length], "\n");
        length += count;
        if (length == maps_buffer.len) return error.TooLarge;
    }
    return error.TooLarge;
}

/// True inside the arm64 QEMU tier's guest: its /init is started with
/// `perfmmap.run=<run>` on the kernel command line. Under TCG a syscall costs
/// tens of microseconds, so the long loops run a tenth of their host count
/// there (see `loopCount`); the host always runs the full count.
pub fn qemuTier() bool {
    var failure: errno.Failure = undefined;
    const fd = syscalls.openRead("/proc/cmdline", false, &failure) catch return false;
    defer syscalls.close(fd);
    var buffer: [4096]u8 = undefined;
    const count = syscalls.readOnce(fd, &buffer, &failure) catch return false;
    const line = buffer[0..count];
    var words = std.mem.tokenizeAny(u8, line, " \n");
    while (words.next()) |word| {
        if (std.mem.startsWith(u8, word, "perfmmap.run=")) return true;
    }
    return false;
}

/// `host_count` on the host; a tenth of it in the QEMU tier, with a printed note.
pub fn loopCount(host_count: u64, what: []const u8) u64 {
    assert(host_count >= 10);
    if (!qemuTier()) return host_count;
    const count = host_count / 10;
    std.debug.print("QEMU tier: {s}: {d} iterations (the host runs {d})\n", .{ what, count, host_count });
    return count;
}

pub fn sleepMilliseconds(milliseconds: u32) void {
    const request: linux.timespec = .{ .sec = 0, .nsec = @as(isize, milliseconds) * std.time.ns_per_ms };
    _ = linux.nanosleep(&request, null);
}

/// Burns CPU for a while so that clocks and cycles move: `iterations` real
/// loop turns. The barrier on `i` keeps LLVM from replacing the loop by its
/// closed form (it did: 20 M "iterations" took 0.2 ms of task-clock).
pub fn spin(iterations: u64) void {
    var i: u64 = 0;
    var sink: u64 = 0;
    while (i < iterations) : (i += 1) {
        std.mem.doNotOptimizeAway(i);
        sink +%= i *% 0x9E37_79B9;
    }
    std.mem.doNotOptimizeAway(sink);
}

/// This thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
pub fn threadCpuNanoseconds() u64 {
    var ts: linux.timespec = undefined;
    _ = linux.clock_gettime(.THREAD_CPUTIME_ID, &ts);
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}

/// CLOCK_MONOTONIC in milliseconds: for waits bounded by time, which a
/// count of spins is not (under QEMU a spin costs many times the host's).
pub fn monotonicMilliseconds() u64 {
    var ts: linux.timespec = undefined;
    _ = linux.clock_gettime(.MONOTONIC, &ts);
    return @as(u64, @intCast(ts.sec)) * std.time.ms_per_s + @as(u64, @intCast(ts.nsec)) / std.time.ns_per_ms;
}

/// Burns `milliseconds` of this thread's CPU time. Clocks that tick only
/// while the thread runs (task-clock, cpu-clock) then move by the same
/// amount on an idle host, a loaded one and an emulated guest.
pub fn spinCpuMilliseconds(milliseconds: u64) void {
    const end = threadCpuNanoseconds() + milliseconds * std.time.ns_per_ms;
    var laps: u64 = 0;
    while (threadCpuNanoseconds() < end and laps < 1 << 40) : (laps += 1) spin(1000);
}
