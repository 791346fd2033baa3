//! The knob's verdict through the ABI, on simulated counters: a knob that
//! says userspace reads are off for good sends every read to read() with no
//! attempt; the verdict is taken at open and enable and every
//! self_read.knob_recheck_reads read()-served reads, never on each read.
const std = @import("std");
const exports = @import("../exports.zig");
const self_read = @import("../self_read.zig");
const sim = @import("../sim.zig");

const testing = std.testing;

const mode_auto = 1;
const mode_require = 2;
const flag_fallback = 1 << 2;

fn set(handle: i32, field: sim.Field, value: u64) !void {
    const result = exports.pm_sim_set(handle, @backingInt(field), @truncate(value), @truncate(value >> 32));
    try testing.expectEqual(@as(i32, 0), result);
}

/// pm_read, then the attempts it made (pm_stats slot 4).
fn readAttempts(handle: i32, expected_value: f64) !f64 {
    try testing.expectEqual(expected_value, exports.pm_read(handle));
    var out: [8]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_stats(handle, &out));
    return out[4];
}

fn pageActive(handle: i32) !f64 {
    var out: [16]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_page_info(handle, &out));
    return out[11];
}

test "knob 0 seen at enable: index 0 forever reads by read() with 0 attempts, and the page is not active" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    try testing.expect(handle > 0);
    defer _ = exports.pm_close(handle);
    try set(handle, .index, 0);
    try set(handle, .syscall_value, 55);
    try set(handle, .user_access_knob, 0);
    // Not yet looked at: the verdict of open (knob 1) stands.
    try testing.expectEqual(@as(f64, 1000), try readAttempts(handle, 55));
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    try testing.expectEqual(@as(f64, 0), try pageActive(handle));
    var i: u32 = 0;
    while (i < 3 * self_read.knob_recheck_reads) : (i += 1) {
        try testing.expectEqual(@as(f64, 0), try readAttempts(handle, 55));
    }
    var stats: [8]f64 = undefined;
    _ = exports.pm_stats(handle, &stats);
    try testing.expectEqual(@as(f64, 1), stats[6]); // the one fallback before enable
    try testing.expectEqual(@as(f64, 0), stats[0]);
}

test "knob on: an index 0 keeps the retry policy (1000 attempts, then read())" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    defer _ = exports.pm_close(handle);
    try set(handle, .user_access_knob, 1);
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    try set(handle, .index, 0);
    try set(handle, .syscall_value, 9);
    try testing.expectEqual(@as(f64, 1000), try readAttempts(handle, 9));
    try testing.expectEqual(@as(f64, 1), try pageActive(handle));
    try set(handle, .index, 1);
    try set(handle, .register, 4);
    try testing.expectEqual(@as(f64, 1), try readAttempts(handle, 4));
}

test "the verdict follows the knob within knob_recheck_reads reads, both ways, and the fast path comes back" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    defer _ = exports.pm_close(handle);
    try set(handle, .index, 0);
    try set(handle, .syscall_value, 3);
    try set(handle, .user_access_knob, 0);
    var i: u32 = 0;
    while (i < self_read.knob_recheck_reads) : (i += 1) {
        try testing.expectEqual(@as(f64, 1000), try readAttempts(handle, 3));
    }
    try testing.expectEqual(@as(f64, 0), try readAttempts(handle, 3));
    try testing.expectEqual(@as(f64, 0), try pageActive(handle));
    try set(handle, .user_access_knob, 1);
    try set(handle, .index, 7);
    try set(handle, .register, 11);
    i = 1;
    while (i < self_read.knob_recheck_reads) : (i += 1) {
        try testing.expectEqual(@as(f64, 0), try readAttempts(handle, 3));
    }
    try testing.expectEqual(@as(f64, 1), try pageActive(handle));
    try testing.expectEqual(@as(f64, 1), try readAttempts(handle, 11));
}

test "mode require is not gated by the knob: it keeps its own checks" {
    const handle = exports.pm_sim_open(mode_require | flag_fallback);
    defer _ = exports.pm_close(handle);
    try set(handle, .user_access_knob, 0);
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    try set(handle, .index, 0);
    try set(handle, .syscall_value, 8);
    try testing.expectEqual(@as(f64, 1000), try readAttempts(handle, 8));
}

test "a knob field that says 'no such knob' (negative) leaves index 0 to the retry policy" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    defer _ = exports.pm_close(handle);
    try set(handle, .user_access_knob, @bitCast(@as(i64, -1)));
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    try set(handle, .index, 0);
    try testing.expectEqual(@as(f64, 1000), try readAttempts(handle, 0));
}
