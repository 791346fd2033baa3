//! The ABI surface with simulated counters: handles, the retry policy as
//! seen through pm_read/pm_stats, and the sim fields.
const std = @import("std");
const exports = @import("../exports.zig");
const handles = @import("../handles.zig");

const testing = std.testing;

const mode_auto = 1;
const flag_fallback = 1 << 2;

const Field = struct {
    const lock = 0;
    const index = 1;
    const offset = 2;
    const pmc_width = 3;
    const capabilities = 4;
    const register = 13;
    const syscall_value = 14;
};

fn set(handle: i32, field: u32, value: u64) !void {
    const result = exports.pm_sim_set(handle, field, @truncate(value), @truncate(value >> 32));
    try testing.expectEqual(@as(i32, 0), result);
}

fn stats(handle: i32) ![8]f64 {
    var out: [8]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_stats(handle, &out));
    return out;
}

test "constants of the ABI" {
    try testing.expectEqual(@as(u32, 4), exports.pm_abi_version());
    try testing.expectEqual(@as(i32, 0), exports.pm_noop());
    try testing.expectEqual(@as(u32, 136), exports.pm_attr_size());
    try expectAtLeast("pm_has_capability(CAP_SYS_ADMIN)", 0, @floatFromInt(exports.pm_has_capability(21)));
    try testing.expectEqual(@as(i32, -22), exports.pm_has_capability(64));
    try expectAtLeast("pm_sysctl(perf_event_paranoid)", -1, exports.pm_sysctl(0));
    try testing.expectEqual(@as(f64, -22), exports.pm_sysctl(99));
}

fn expectAtLeast(what: []const u8, minimum: f64, actual: f64) !void {
    if (actual >= minimum) return;
    std.debug.print("{s} = {d}, expected at least {d}\n", .{ what, actual, minimum });
    return error.TestUnexpectedResult;
}

test "bad and stale handles are typed errors, never a crash" {
    try testing.expectEqual(@as(f64, -10003), exports.pm_read(0));
    try testing.expectEqual(@as(f64, -10003), exports.pm_read(-1));
    try testing.expectEqual(@as(f64, -10003), exports.pm_read(1 << 12));
    try testing.expectEqual(@as(i32, -10002), exports.pm_close(4095 | (77 << 12)));
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    try testing.expect(handle > 0);
    try testing.expectEqual(@as(i32, -1), exports.pm_fd(handle));
    try testing.expectEqual(@as(i32, 0), exports.pm_close(handle));
    try testing.expectEqual(@as(f64, -10002), exports.pm_read(handle));
    try testing.expectEqual(@as(i32, -10002), exports.pm_sim_set(handle, 0, 0, 0));
    // The next open takes the next slot: the old handle stays stale.
    const next = exports.pm_sim_open(mode_auto);
    defer _ = exports.pm_close(next);
    try testing.expect(next != handle);
    try testing.expectEqual(@as(f64, -10002), exports.pm_read(handle));
}

test "pm_read_by_double reads what pm_read reads; a double that is no handle is BAD_HANDLE" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    defer _ = exports.pm_close(handle);
    try set(handle, Field.offset, 1000);
    try set(handle, Field.register, 5);
    try testing.expectEqual(@as(f64, 1005), exports.pm_read(handle));
    const h_float: f64 = @floatFromInt(handle);
    const doubles = [_]f64{
        0,
        -0.0,
        -1,
        h_float + 0.5,
        h_float + 0x1p32,
        std.math.maxInt(i32) + 1.0,
        1e300,
        std.math.nan(f64),
        std.math.inf(f64),
        -std.math.inf(f64),
    };
    try testing.expectEqual(@as(f64, 1005), exports.pm_read_by_double(h_float));
    for (doubles) |h| try testing.expectEqual(@as(f64, -10003), exports.pm_read_by_double(h));
    // A slot out of range and a stale handle answer as pm_read answers them.
    try testing.expectEqual(@as(f64, -10003), exports.pm_read_by_double(1 << 12));
    const stale = exports.pm_sim_open(mode_auto);
    try testing.expectEqual(@as(i32, 0), exports.pm_close(stale));
    try testing.expectEqual(@as(f64, -10002), exports.pm_read_by_double(@floatFromInt(stale)));
}

test "the table holds handles_max counters, then TABLE_FULL" {
    var opened: [handles.handles_max]i32 = undefined;
    var count: usize = 0;
    defer for (opened[0..count]) |handle| {
        _ = exports.pm_close(handle);
    };
    while (count < handles.handles_max) : (count += 1) {
        const handle = exports.pm_sim_open(mode_auto);
        if (handle < 0) break;
        opened[count] = handle;
    }
    try testing.expectEqual(@as(usize, handles.handles_max), count);
    try testing.expectEqual(@as(i32, -10004), exports.pm_sim_open(mode_auto));
}

test "simulated counter: defaults, sign extension and fields" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(f64, 0), exports.pm_read(handle));
    try set(handle, Field.register, 0xFFFF_FFFF_FFFF); // -1 at the default width 48
    try set(handle, Field.offset, 1000);
    try testing.expectEqual(@as(f64, 999), exports.pm_read(handle));
    var detailed: [16]u64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_read_detailed(handle, &detailed));
    const floats: *[16]f64 = @ptrCast(&detailed);
    try testing.expectEqual(@as(f64, 1), floats[3]); // userspace
    try testing.expectEqual(@as(f64, 1), floats[4]); // one attempt
    try testing.expectEqual(@as(f64, 1), floats[6]); // index
    try testing.expectEqual(@as(f64, 48), floats[7]);
    try testing.expectEqual(@as(u64, 999), detailed[8]);
    try testing.expectEqual(@as(i32, -22), exports.pm_sim_set(handle, 21, 0, 0));
    var real_attr: [136]u8 = @splat(0);
    real_attr[0] = 1; // software task-clock
    real_attr[8] = 1;
    const real = exports.pm_open(&real_attr, 0, -1, -1, mode_auto);
    defer _ = exports.pm_close(real);
    try testing.expectEqual(@as(i32, -10008), exports.pm_sim_set(real, 0, 0, 0));
}

test "retry exhaustion is logged once per counter and counted every time" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    defer _ = exports.pm_close(handle);
    try set(handle, Field.lock, 1);
    try testing.expectEqual(@as(f64, -10001), exports.pm_read(handle));
    try testing.expectEqual(@as(f64, -10001), exports.pm_read(handle));
    const out = try stats(handle);
    try testing.expectEqual(@as(f64, 2), out[2]); // exhaustions
    try testing.expectEqual(@as(f64, 1), out[3]); // log lines
    try testing.expectEqual(@as(f64, 50_000), out[4]);
    try testing.expectEqual(@as(f64, 49_000), out[5]);
}

test "index 0 falls back to the simulated read() after 1000 attempts" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    defer _ = exports.pm_close(handle);
    try set(handle, Field.index, 0);
    try set(handle, Field.syscall_value, 31337);
    try testing.expectEqual(@as(f64, 31337), exports.pm_read(handle));
    const out = try stats(handle);
    try testing.expectEqual(@as(f64, 1), out[1]);
    try testing.expectEqual(@as(f64, 1000), out[4]);
    try testing.expectEqual(@as(f64, 0), out[5]);
    try testing.expectEqual(@as(f64, 1), out[6]);
}

test "a counter the core disabled reads through read() without spinning" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    defer _ = exports.pm_close(handle);
    try set(handle, Field.index, 0);
    try set(handle, Field.syscall_value, 5);
    try testing.expectEqual(@as(i32, 0), exports.pm_disable(handle, 0));
    try testing.expectEqual(@as(f64, 5), exports.pm_read(handle));
    try testing.expectEqual(@as(f64, 0), (try stats(handle))[4]);
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    try testing.expectEqual(@as(f64, 5), exports.pm_read(handle));
    try testing.expectEqual(@as(f64, 1000), (try stats(handle))[4]);
}

test "mode off and cap_user_rdpmc=0 read through read() with zero attempts" {
    const off = exports.pm_sim_open(flag_fallback);
    defer _ = exports.pm_close(off);
    try set(off, Field.syscall_value, 8);
    try testing.expectEqual(@as(f64, 8), exports.pm_read(off));
    try testing.expectEqual(@as(f64, 0), (try stats(off))[4]);
    const no_rdpmc = exports.pm_sim_open(mode_auto);
    defer _ = exports.pm_close(no_rdpmc);
    try set(no_rdpmc, Field.capabilities, 0x2);
    try set(no_rdpmc, Field.syscall_value, 9);
    try testing.expectEqual(@as(f64, 9), exports.pm_read(no_rdpmc));
    try testing.expectEqual(@as(f64, 0), (try stats(no_rdpmc))[4]);
    var info: [16]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_page_info(no_rdpmc, &info));
    try testing.expectEqual(@as(f64, 2), info[3]);
    try testing.expectEqual(@as(f64, 0), info[11]);
}

test "uname, read_text and list_dir through the ABI" {
    var out: [4096]u8 = undefined;
    const length = exports.pm_uname(&out, out.len);
    try testing.expect(length > 6);
    try testing.expectEqual(@as(usize, 3), std.mem.count(u8, out[0..@intCast(length)], "\x00"));
    const path = "/proc/sys/kernel/perf_event_paranoid";
    try testing.expect(exports.pm_read_text(path, path.len, &out, out.len) >= 2);
    const denied = "/etc/shadow";
    try testing.expectEqual(@as(i32, -10010), exports.pm_read_text(denied, denied.len, &out, out.len));
    const devices = "/sys/bus/event_source/devices";
    try testing.expect(exports.pm_list_dir(devices, devices.len, &out, out.len) > 0);
}

test {
    _ = @import("race_test.zig");
}
