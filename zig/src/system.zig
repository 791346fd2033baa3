//! Facts about the running system: page size, uname, capabilities.
//! The library links no libc and is loaded by a foreign host, so std's auxv
//! (filled by Zig's own start code) is empty here: the page size comes from
//! /proc/self/auxv instead.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const errno = @import("errno.zig");
const syscalls = @import("syscalls.zig");

const Failure = errno.Failure;
const Error = errno.Error;

const page_size_default = 4096;
const auxv_bytes_max = 4096;
const AT_PAGESZ = 6;
const AT_NULL = 0;

/// 0 until first computed; the value is the same from every thread, so a
/// benign race just computes it twice.
var page_size_cached: u32 = 0;

pub fn pageSize() u32 {
    const cached = @atomicLoad(u32, &page_size_cached, .monotonic);
    if (cached != 0) return cached;
    const size = pageSizeFromAuxv() orelse page_size_default;
    assert(std.math.isPowerOfTwo(size));
    @atomicStore(u32, &page_size_cached, size, .monotonic);
    return size;
}

fn pageSizeFromAuxv() ?u32 {
    var failure: Failure = undefined;
    const fd = syscalls.openRead("/proc/self/auxv", false, &failure) catch return null;
    defer syscalls.close(fd);
    var words: [auxv_bytes_max / 8]u64 = undefined;
    const count = syscalls.readOnce(fd, std.mem.sliceAsBytes(&words), &failure) catch return null;
    var i: usize = 0;
    while (i + 1 < count / 8) : (i += 2) {
        if (words[i] == AT_NULL) break;
        if (words[i] != AT_PAGESZ) continue;
        const size = words[i + 1];
        if (size < 4096 or size > 1 << 20 or !std.math.isPowerOfTwo(size)) return null;
        return @intCast(size);
    }
    return null;
}

/// Writes "sysname\0release\0machine\0" into `out`; ERANGE if it does not fit.
pub fn uname(out: []u8, failure: *Failure) Error!usize {
    var names: linux.utsname = undefined;
    _ = try errno.check(linux.uname(&names), failure);
    var length: usize = 0;
    const parts = [_][]const u8{ &names.sysname, &names.release, &names.machine };
    for (parts) |part| {
        const text = std.mem.sliceTo(part, 0);
        if (length + text.len + 1 > out.len) return errno.fail(failure, errno.fromErrno(.RANGE));
        @memcpy(out[length..][0..text.len], text);
        out[length + text.len] = 0;
        length += text.len + 1;
    }
    assert(length <= out.len);
    return length;
}

const capabilities_bits_max = 64;
const _LINUX_CAPABILITY_VERSION_3 = 0x20080522;

// Mirrors `struct __user_cap_header_struct` of linux/capability.h. Our own
// copy because std's `cap_user_header_t` declares `pid` as usize: the kernel
// then reads the padding as the pid and capget fails with ESRCH.
const CapUserHeader = extern struct { version: u32, pid: i32 };
// Mirrors `struct __user_cap_data_struct`.
const CapUserData = extern struct { effective: u32, permitted: u32, inheritable: u32 };

comptime {
    assert(@sizeOf(CapUserHeader) == 8);
    assert(@sizeOf(CapUserData) == 12);
}

/// Whether `capability` (e.g. CAP_PERFMON=38, CAP_SYS_ADMIN=21) is in the
/// effective set of this thread.
pub fn hasCapability(capability: u32, failure: *Failure) Error!bool {
    if (capability >= capabilities_bits_max) return errno.fail(failure, errno.fromErrno(.INVAL));
    var header: CapUserHeader = .{ .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    var data: [2]CapUserData = undefined;
    _ = try errno.check(linux.syscall2(.capget, @intFromPtr(&header), @intFromPtr(&data)), failure);
    const word = data[capability / 32].effective;
    return (word >> @intCast(capability % 32)) & 1 != 0;
}

test "capget answers for this thread (no ESRCH from a misread pid)" {
    // The oracle is the kernel's own report of this task's effective set.
    var failure: Failure = undefined;
    var status: [8192]u8 = undefined;
    const fd = try syscalls.openRead("/proc/self/status", false, &failure);
    defer syscalls.close(fd);
    const length = try syscalls.readOnce(fd, &status, &failure);
    const key = "CapEff:\t";
    const start = (std.mem.indexOf(u8, status[0..length], key) orelse return error.TestUnexpectedResult) + key.len;
    const effective = try std.fmt.parseInt(u64, status[start .. start + 16], 16);
    for ([_]u32{ 0, 21, 38, 39 }) |capability| {
        const expected = (effective >> @intCast(capability)) & 1 != 0;
        try std.testing.expectEqual(expected, try hasCapability(capability, &failure));
    }
    try std.testing.expectError(error.Failed, hasCapability(64, &failure));
}

test "page size is a power of two of at least 4 KiB" {
    const size = pageSize();
    try std.testing.expect(size >= 4096 and std.math.isPowerOfTwo(size));
}

test "uname names Linux and fits only a large enough buffer" {
    var buffer: [1024]u8 = undefined;
    var failure: Failure = undefined;
    const length = try uname(&buffer, &failure);
    try std.testing.expect(std.mem.startsWith(u8, buffer[0..length], "Linux\x00"));
    var small: [4]u8 = undefined;
    try std.testing.expectError(error.Failed, uname(&small, &failure));
    try std.testing.expectEqual(@as(u32, 34), failure.code());
}
