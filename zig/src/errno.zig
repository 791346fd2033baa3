//! Error codes that cross the C ABI: a Linux errno (1..4095) or one of the
//! core's own codes (10001..). Results are `-code` (see ABI.md, Conventions).
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;

pub const errno_max = 4095;

/// The core's own conditions. Values are part of the ABI.
pub const Code = enum(u32) {
    RETRY_EXHAUSTED = 10001,
    STALE_HANDLE = 10002,
    BAD_HANDLE = 10003,
    TABLE_FULL = 10004,
    NO_USER_RDPMC = 10005,
    NO_ARCH_READER = 10006,
    USER_INDEX_ZERO = 10007,
    NOT_SIMULATED = 10008,
    NO_PAGE = 10009,
    PATH_DENIED = 10010,
    NO_RING = 10011,
};

/// One failure of a core operation, carried as a value (never a panic).
/// `errno` holds a Linux errno; `own` holds one of the core's codes.
pub const Failure = union(enum) {
    errno: linux.E,
    own: Code,

    pub fn code(failure: Failure) u32 {
        const value: u32 = switch (failure) {
            .errno => |e| @backingInt(e),
            .own => |own| @backingInt(own),
        };
        assert(value != 0);
        return value;
    }

    /// The i32 an export returns for this failure.
    pub fn result(failure: Failure) i32 {
        const value: i32 = @intCast(failure.code());
        assert(value > 0);
        return -value;
    }

    /// The f64 an export returns for this failure.
    pub fn resultFloat(failure: Failure) f64 {
        return @floatFromInt(failure.result());
    }
};

pub fn fromErrno(e: linux.E) Failure {
    assert(e != .SUCCESS);
    return .{ .errno = e };
}

pub fn fromCode(own: Code) Failure {
    return .{ .own = own };
}

/// Operations that can fail with any errno return `error.Failed` and write
/// the reason into a caller-provided `*Failure` (a diagnostic out-parameter),
/// because a Zig error cannot carry the errno the ABI must pass through.
pub const Error = error{Failed};

/// Decodes a raw syscall return without std.posix, whose wrappers turn some
/// errnos (EINVAL, ENOENT from perf_event_open) into `unreachable`.
pub fn check(rc: usize, failure: *Failure) Error!usize {
    const e = linux.errno(rc);
    if (e != .SUCCESS) {
        failure.* = fromErrno(e);
        return error.Failed;
    }
    return rc;
}

pub fn fail(failure: *Failure, value: Failure) Error {
    failure.* = value;
    return error.Failed;
}

test "own codes are outside the errno range" {
    inline for (@typeInfo(Code).@"enum".field_values) |value| {
        comptime assert(value > errno_max);
    }
    try std.testing.expectEqual(@as(i32, -10001), fromCode(.RETRY_EXHAUSTED).result());
    try std.testing.expectEqual(@as(i32, -2), fromErrno(.NOENT).result());
}
