//! Raw Linux syscalls through std.os.linux with our own errno decoding.
//! Never std.posix: its wrappers turn errnos that happen in practice
//! (EINVAL, ENOENT from perf_event_open) into `unreachable`.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const errno = @import("errno.zig");
const attr_mod = @import("attr.zig");

const Failure = errno.Failure;
const Error = errno.Error;

/// EINTR can only repeat while signals keep arriving; past this many in a row
/// the call reports EINTR instead of looping forever.
pub const eintr_retries_max = 64;

pub fn perfEventOpen(
    attr: *attr_mod.PerfEventAttr,
    pid: i32,
    cpu: i32,
    group_fd: i32,
    flags: u32,
    failure: *Failure,
) Error!i32 {
    assert(flags & attr_mod.PERF_FLAG_FD_CLOEXEC != 0);
    const rc = linux.syscall5(
        .perf_event_open,
        @intFromPtr(attr),
        @as(u32, @bitCast(pid)),
        @as(u32, @bitCast(cpu)),
        @as(u32, @bitCast(group_fd)),
        flags,
    );
    const fd = try errno.check(rc, failure);
    assert(fd <= std.math.maxInt(i32));
    return @intCast(fd);
}

pub fn ioctl(fd: i32, request: u32, argument: usize, failure: *Failure) Error!usize {
    assert(fd >= 0);
    return errno.check(linux.ioctl(fd, request, argument), failure);
}

/// One read() of a perf fd. perf returns a whole record or fails, so a short
/// count is reported to the caller (which knows the expected size).
pub fn readOnce(fd: i32, buffer: []u8, failure: *Failure) Error!usize {
    assert(fd >= 0);
    var retries: u32 = 0;
    while (retries < eintr_retries_max) : (retries += 1) {
        const rc = linux.read(fd, buffer.ptr, buffer.len);
        if (linux.errno(rc) == .INTR) continue;
        const count = try errno.check(rc, failure);
        assert(count <= buffer.len);
        return count;
    }
    return errno.fail(failure, errno.fromErrno(.INTR));
}

pub fn close(fd: i32) void {
    assert(fd >= 0);
    // close() releases the fd even when it reports EINTR/EIO; retrying
    // could close an fd another thread just received.
    _ = linux.close(fd);
}

/// A close-on-exec duplicate of `fd` (the lowest free number).
pub fn dupCloexec(fd: i32, failure: *Failure) Error!i32 {
    assert(fd >= 0);
    const rc = linux.fcntl(fd, linux.F.DUPFD_CLOEXEC, 0);
    const duplicate = try errno.check(rc, failure);
    return @intCast(duplicate);
}

pub fn mmapShared(fd: i32, length_bytes: usize, failure: *Failure) Error![*]align(std.heap.page_size_min) u8 {
    assert(length_bytes > 0);
    const rc = linux.mmap(null, length_bytes, .{ .READ = true, .WRITE = true }, .{ .TYPE = .SHARED }, fd, 0);
    const address = try errno.check(rc, failure);
    return @ptrFromInt(address);
}

pub fn mmapAnonymous(length_bytes: usize, failure: *Failure) Error![*]align(std.heap.page_size_min) u8 {
    assert(length_bytes > 0);
    const rc = linux.mmap(null, length_bytes, .{ .READ = true, .WRITE = true }, .{ .TYPE = .PRIVATE, .ANONYMOUS = true }, -1, 0);
    const address = try errno.check(rc, failure);
    return @ptrFromInt(address);
}

pub fn munmap(memory: [*]const u8, length_bytes: usize) void {
    assert(length_bytes > 0);
    // munmap of a mapping we own fails only on a bad argument (a bug).
    const rc = linux.munmap(memory, length_bytes);
    assert(linux.errno(rc) == .SUCCESS);
}

pub fn schedYield() void {
    _ = linux.sched_yield();
}

pub fn gettid() i32 {
    return linux.gettid();
}

/// Writes all of `bytes` to fd 2, best effort (a log line must never fail a read).
pub fn writeStderr(bytes: []const u8) void {
    var written: usize = 0;
    var attempts: u32 = 0;
    while (written < bytes.len and attempts < eintr_retries_max) : (attempts += 1) {
        const rc = linux.write(2, bytes.ptr + written, bytes.len - written);
        if (linux.errno(rc) == .INTR) continue;
        if (linux.errno(rc) != .SUCCESS or rc == 0) return;
        written += rc;
    }
}

/// Opens `path` read-only with O_CLOEXEC; `directory` adds O_DIRECTORY.
pub fn openRead(path: [*:0]const u8, directory: bool, failure: *Failure) Error!i32 {
    var retries: u32 = 0;
    while (retries < eintr_retries_max) : (retries += 1) {
        const rc = linux.openat(linux.AT.FDCWD, path, .{ .ACCMODE = .RDONLY, .CLOEXEC = true, .DIRECTORY = directory }, 0);
        if (linux.errno(rc) == .INTR) continue;
        const fd = try errno.check(rc, failure);
        return @intCast(fd);
    }
    return errno.fail(failure, errno.fromErrno(.INTR));
}

pub fn getdents64(fd: i32, buffer: []u8, failure: *Failure) Error!usize {
    assert(buffer.len <= std.math.maxInt(c_uint));
    return errno.check(linux.getdents64(fd, buffer.ptr, @intCast(buffer.len)), failure);
}
