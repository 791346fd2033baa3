//! Checks of the contracts a mutation run showed unguarded: each test here
//! fails when one small, realistic bug is planted (scripts/mutate/ plants
//! them) and passes without it.
//!
//!   - pm_read's inlined fast attempt re-checks the seqlock after the
//!     register read (a scripted lock that moves, and a writer thread);
//!   - times are extrapolated only with cap_user_time;
//!   - the ring's data_tail store keeps release ordering and page loads keep
//!     acquire ordering (x86 cannot show either, so the source is checked);
//!   - std's errno numbers are the kernel's (the UAPI headers, when present);
//!   - a stale handle stays stale once its slot really is reused.
const std = @import("std");
const assert = std.debug.assert;
const linux = std.os.linux;
const page_mod = @import("../page.zig");
const self_read = @import("../self_read.zig");
const errno = @import("../errno.zig");
const sim = @import("../sim.zig");
const exports = @import("../exports.zig");
const handles = @import("../handles.zig");
const syscalls = @import("../syscalls.zig");
const support = @import("support.zig");

const Page = page_mod.Page;
const Failure = errno.Failure;
const testing = std.testing;

const mode_auto = 1;
const flag_fallback = 1 << 2;

/// Field numbers of pm_sim_set (sim.Field).
const field_lock = @backingInt(sim.Field.lock);
const field_offset = @backingInt(sim.Field.offset);
const field_capabilities = @backingInt(sim.Field.capabilities);
const field_time_enabled = @backingInt(sim.Field.time_enabled);
const field_time_running = @backingInt(sim.Field.time_running);
const field_time_mult = @backingInt(sim.Field.time_mult);
const field_time_shift = @backingInt(sim.Field.time_shift);
const field_time_offset = @backingInt(sim.Field.time_offset);
const field_register = @backingInt(sim.Field.register);
const field_syscall_value = @backingInt(sim.Field.syscall_value);
const field_timestamp = @backingInt(sim.Field.timestamp);

/// An environment whose register read lets "the kernel" bump the lock, for
/// its first `lock_moves` reads: the attempt must then not return a value.
const MovingLockEnv = struct {
    page: *Page,
    register: u64 = 0,
    timestamp: u64 = 0,
    register_reads: u32 = 0,
    lock_moves: u32 = 0,
    yields: u32 = 0,

    pub const index_max: u32 = std.math.maxInt(u32);

    pub fn readRegister(env: *MovingLockEnv, index: u32) u64 {
        assert(index != 0);
        env.register_reads += 1;
        if (env.register_reads <= env.lock_moves) {
            // A whole kernel update between the reader's loads: new offset,
            // lock two further on. The value read is then torn.
            env.page.lock +%= 2;
            env.page.offset +%= 1_000_000;
        }
        return env.register;
    }

    pub fn readTimestamp(env: *MovingLockEnv) u64 {
        return env.timestamp;
    }

    pub fn yield(env: *MovingLockEnv) void {
        env.yields += 1;
    }

    pub fn readSyscall(_: *MovingLockEnv, failure: *Failure) errno.Error!self_read.Syscall {
        return errno.fail(failure, errno.fromErrno(.INVAL));
    }
};

fn newPage() Page {
    var page: Page = undefined;
    sim.initPage(&page);
    return page;
}

test "fast attempt: a lock that moves during the register read gives no value" {
    var page = newPage();
    page.offset = 100;
    var env: MovingLockEnv = .{ .page = &page, .register = 5, .lock_moves = 1 };
    try testing.expectEqual(@as(?u64, null), self_read.attemptValue(MovingLockEnv, &env));
    try testing.expectEqual(@as(u32, 1), env.register_reads);
    // The lock now stays put: the next attempt reads the new offset.
    try testing.expectEqual(@as(?u64, 1_000_105), self_read.attemptValue(MovingLockEnv, &env));
}

test "fast attempt: an odd lock, index 0 or a bad width gives no value" {
    var page = newPage();
    var env: MovingLockEnv = .{ .page = &page, .register = 5 };
    try testing.expectEqual(@as(?u64, 5), self_read.attemptValue(MovingLockEnv, &env));
    page.lock = 3;
    try testing.expectEqual(@as(?u64, null), self_read.attemptValue(MovingLockEnv, &env));
    page.lock = 4;
    page.index = 0;
    try testing.expectEqual(@as(?u64, null), self_read.attemptValue(MovingLockEnv, &env));
    page.index = 1;
    for ([_]u16{ 0, 65 }) |width| {
        page.pmc_width = width;
        try testing.expectEqual(@as(?u64, null), self_read.attemptValue(MovingLockEnv, &env));
    }
    try testing.expectEqual(@as(u32, 1), env.register_reads); // only the clean attempt read it
}

test "policy: a lock that moves on every read for 1500 attempts ends after 1501 attempts, 501 yields" {
    var page = newPage();
    var env: MovingLockEnv = .{ .page = &page, .register = 7, .lock_moves = 1500 };
    var counts: self_read.Counts = .{};
    var failure: Failure = undefined;
    const policy: self_read.Policy = .{ .userspace_allowed = true, .fallback = true, .want_time = false };
    const reading = try self_read.read(MovingLockEnv, &env, policy, &counts, &failure);
    try testing.expectEqual(@as(u64, 7 + 1500 * 1_000_000), reading.value);
    try testing.expectEqual(@as(u32, 1501), counts.attempts);
    try testing.expectEqual(@as(u32, 501), counts.yields);
    try testing.expectEqual(@as(u32, 501), env.yields);
}

fn simSet(handle: i32, field: u32, value: u64) void {
    const result = exports.pm_sim_set(handle, field, @truncate(value), @truncate(value >> 32));
    assert(result == 0);
}

/// The invariant the writer keeps: offset + register == torture_value.
const torture_value = 0x1234_5678;
const torture_reads_min = 4_000_000;

const PmReadTorture = struct {
    handle: i32,
    stop: bool = false,
    writes: u64 = 0,
};

/// Plays the kernel through pm_sim_set, as a concurrent thread: lock odd,
/// offset, register, lock even. Every store is a release (sim.zig).
fn pmReadWriter(torture: *PmReadTorture) void {
    var generation: u64 = 1;
    var lock: u64 = 0;
    while (!@atomicLoad(bool, &torture.stop, .acquire)) : (generation += 1) {
        simSet(torture.handle, field_lock, lock + 1);
        const register = (generation *% 7919) & ((1 << 46) - 1);
        simSet(torture.handle, field_offset, @bitCast(torture_value - @as(i64, @intCast(register))));
        simSet(torture.handle, field_register, register);
        lock += 2;
        simSet(torture.handle, field_lock, lock);
        @atomicStore(u64, &torture.writes, generation, .release);
        // Pauses of varying length leave windows, so reads both collide and
        // complete (a writer that never pauses starves every reader).
        var pause = generation % 32;
        while (pause > 0) : (pause -= 1) std.atomic.spinLoopHint();
    }
}

test "pm_read against a writer thread never returns a torn value" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    try testing.expect(handle > 0);
    defer _ = exports.pm_close(handle);
    simSet(handle, field_offset, torture_value);
    simSet(handle, field_syscall_value, torture_value); // a fallback would not tear either
    var torture: PmReadTorture = .{ .handle = handle };
    const writer = try std.Thread.spawn(.{}, pmReadWriter, .{&torture});
    var reads: u64 = 0;
    var torn: u64 = 0;
    var first_torn: f64 = 0;
    const reads_wanted = support.loopCount(torture_reads_min, "pm_read torture reads");
    while (reads < reads_wanted) : (reads += 1) {
        const value = exports.pm_read(handle);
        if (value != torture_value) {
            if (torn == 0) first_torn = value;
            torn += 1;
        }
    }
    @atomicStore(bool, &torture.stop, true, .release);
    writer.join();
    if (torn != 0) {
        std.debug.print("pm_read: {d} torn reads of {d}, the first {d} (expected {d})\n", .{ torn, reads, first_torn, torture_value });
        return error.TornRead;
    }
    // Without contention the test would prove nothing.
    try testing.expect(@atomicLoad(u64, &torture.writes, .acquire) > 1000);
}

test "times: without cap_user_time the page's times are returned as read" {
    var page = newPage();
    page.time_enabled = 1000;
    page.time_running = 600;
    page.time_mult = 1 << 10;
    page.time_shift = 10; // 1 ns per tick: a delta would be visible
    page.time_offset = 50;
    var env: MovingLockEnv = .{ .page = &page, .register = 1, .timestamp = 800 };
    var counts: self_read.Counts = .{};
    var failure: Failure = undefined;
    const policy: self_read.Policy = .{ .userspace_allowed = true, .fallback = true, .want_time = true };
    var reading = try self_read.read(MovingLockEnv, &env, policy, &counts, &failure);
    try testing.expectEqual(@as(u64, 1000), reading.time_enabled_ns);
    try testing.expectEqual(@as(u64, 600), reading.time_running_ns);
    // The same page with the capability is extrapolated: the fields matter.
    page.capabilities |= page_mod.cap_user_time;
    counts = .{};
    reading = try self_read.read(MovingLockEnv, &env, policy, &counts, &failure);
    try testing.expectEqual(@as(u64, 1850), reading.time_enabled_ns);
    try testing.expectEqual(@as(u64, 1450), reading.time_running_ns);
}

test "times through pm_read_detailed: extrapolated with cap_user_time only" {
    const handle = exports.pm_sim_open(mode_auto | flag_fallback);
    try testing.expect(handle > 0);
    defer _ = exports.pm_close(handle);
    simSet(handle, field_time_enabled, 1000);
    simSet(handle, field_time_running, 600);
    simSet(handle, field_time_mult, 3);
    simSet(handle, field_time_shift, 1);
    simSet(handle, field_time_offset, 10);
    simSet(handle, field_timestamp, 100); // delta = 10 + 100 * 3 >> 1 = 160
    var out: [16]u64 = undefined;
    const floats: *const [16]f64 = @ptrCast(&out);
    try testing.expectEqual(@as(i32, 0), exports.pm_read_detailed(handle, &out));
    try testing.expectEqual(@as(f64, 1000), floats[1]);
    try testing.expectEqual(@as(f64, 600), floats[2]);
    try testing.expectEqual(@as(f64, 1), floats[3]); // userspace
    simSet(handle, field_capabilities, page_mod.cap_bit0_is_deprecated | page_mod.cap_user_rdpmc | page_mod.cap_user_time);
    try testing.expectEqual(@as(i32, 0), exports.pm_read_detailed(handle, &out));
    try testing.expectEqual(@as(f64, 1160), floats[1]);
    try testing.expectEqual(@as(f64, 760), floats[2]);
}

/// The text of a function (from its `fn name(` to the next line that opens
/// with `}`), or null.
fn functionText(source: []const u8, signature: []const u8) ?[]const u8 {
    const start = std.mem.indexOf(u8, source, signature) orelse return null;
    const end = std.mem.indexOfPos(u8, source, start, "\n}") orelse return null;
    return source[start..end];
}

/// Every line of `source` that mentions `field` and is an atomic access of
/// `kind` ("@atomicStore(" or "@atomicLoad(") must name `ordering`; returns
/// how many such lines there are. A plain assignment to the field fails.
fn expectOrdering(file: []const u8, source: []const u8, kind: []const u8, field: []const u8, ordering: []const u8) !usize {
    var lines = std.mem.splitScalar(u8, source, '\n');
    var found: usize = 0;
    var number: usize = 0;
    while (lines.next()) |line| {
        number += 1;
        const code = if (std.mem.indexOf(u8, line, "//")) |at| line[0..at] else line;
        if (std.mem.indexOf(u8, code, field) == null) continue;
        var assignment_buffer: [64]u8 = undefined;
        const assignment = try std.fmt.bufPrint(&assignment_buffer, "{s} =", .{field});
        if (std.mem.indexOf(u8, code, assignment) != null) {
            std.debug.print("{s}:{d}: a plain store to {s}: {s}\n", .{ file, number, field, line });
            return error.PlainStore;
        }
        if (std.mem.indexOf(u8, code, kind) == null) continue;
        found += 1;
        if (std.mem.indexOf(u8, code, ordering) == null) {
            std.debug.print("{s}:{d}: {s}{s}) without {s}: {s}\n", .{ file, number, kind, field, ordering, line });
            return error.OrderingLost;
        }
    }
    return found;
}

test "ring: data_head is loaded with acquire and data_tail stored with release (source check)" {
    // x86's ordering hides a plain store (the arm64 tier's ring tests run the
    // consumer on a weakly ordered CPU); this check holds on every host.
    const source = @embedFile("../ring_reader.zig");
    const drain = functionText(source, "pub fn drain(") orelse return error.NoDrainFunction;
    try testing.expect(try expectOrdering("ring_reader.zig drain", drain, "@atomicStore(", "data_tail", ".release") >= 1);
    try testing.expect(try expectOrdering("ring_reader.zig drain", drain, "@atomicLoad(", "data_head", ".acquire") >= 1);
    _ = try expectOrdering("ring_reader.zig", source, "@atomicStore(", "data_tail", ".release");
    _ = try expectOrdering("ring_reader.zig", source, "@atomicLoad(", "data_head", ".acquire");
    const ring_source = @embedFile("../ring.zig");
    _ = try expectOrdering("ring.zig", ring_source, "@atomicStore(", "data_tail", ".release");
    _ = try expectOrdering("ring.zig", ring_source, "@atomicLoad(", "data_head", ".acquire");
}

test "page: every page field load is an acquire (source check)" {
    // The seqlock's closing re-read of `lock` must not move before the field
    // reads; on x86 a relaxed load would pass every runtime test.
    const load = functionText(@embedFile("../page.zig"), "pub inline fn load(") orelse return error.NoLoadFunction;
    try testing.expect(std.mem.indexOf(u8, load, "@atomicLoad(T, field, .acquire)") != null);
}

/// Reads a whole small file with the core's own syscalls (no libc).
fn readSmallFile(path: [*:0]const u8, buffer: []u8) ![]const u8 {
    var failure: Failure = undefined;
    const fd = syscalls.openRead(path, false, &failure) catch return error.OpenFailed;
    defer syscalls.close(fd);
    var length: usize = 0;
    var reads: u32 = 0;
    while (reads < 1024) : (reads += 1) {
        if (length == buffer.len) return error.FileTooLarge;
        const count = syscalls.readOnce(fd, buffer[length..], &failure) catch return error.ReadFailed;
        if (count == 0) return buffer[0..length];
        length += count;
    }
    return error.FileTooLarge;
}

/// Checks `#define E<NAME> <number>` lines of a header against std's
/// linux.E; returns how many were checked.
fn expectHeaderErrnos(path: [*:0]const u8, text: []const u8) !usize {
    var checked: usize = 0;
    var lines = std.mem.splitScalar(u8, text, '\n');
    while (lines.next()) |line| {
        var words = std.mem.tokenizeAny(u8, line, " \t");
        const directive = words.next() orelse continue;
        if (!std.mem.eql(u8, directive, "#define")) continue;
        const name = words.next() orelse continue;
        const value_text = words.next() orelse continue;
        if (name.len < 2 or name[0] != 'E') continue;
        const number = std.fmt.parseInt(u16, value_text, 10) catch continue; // aliases: EWOULDBLOCK EAGAIN
        const field = name[1..];
        const value = std.meta.stringToEnum(linux.E, field) orelse {
            std.debug.print("{s}: {s} = {d} has no member in std.os.linux.E\n", .{ path, name, number });
            return error.ErrnoMissing;
        };
        if (@backingInt(value) != number) {
            std.debug.print("{s}: {s} is {d}; std.os.linux.E.{s} is {d}\n", .{ path, name, number, field, @backingInt(value) });
            return error.ErrnoMismatch;
        }
        checked += 1;
    }
    return checked;
}

test "errno: std's numbers are the kernel's for this architecture (UAPI headers)" {
    // x86_64 and aarch64 both use asm-generic's numbering.
    var buffer: [32 * 1024]u8 = undefined;
    const base = readSmallFile("/usr/include/asm-generic/errno-base.h", &buffer) catch |err|
        return support.skip("/usr/include/asm-generic/errno-base.h unreadable ({s}); install linux-libc-dev", .{@errorName(err)});
    const base_count = try expectHeaderErrnos("errno-base.h", base);
    try testing.expectEqual(@as(usize, 34), base_count);
    const rest = readSmallFile("/usr/include/asm-generic/errno.h", &buffer) catch |err|
        return support.skip("/usr/include/asm-generic/errno.h unreadable ({s})", .{@errorName(err)});
    try testing.expect(try expectHeaderErrnos("errno.h", rest) >= 95);
    // The codes the core names itself.
    try testing.expectEqual(@as(i32, -13), errno.fromErrno(.ACCES).result());
    try testing.expectEqual(@as(i32, -1), errno.fromErrno(.PERM).result());
    try testing.expectEqual(@as(i32, -7), errno.fromErrno(.@"2BIG").result());
    try testing.expectEqual(@as(i32, -95), errno.fromErrno(.OPNOTSUPP).result());
}

test "a stale handle stays stale while its slot is reused by a live counter" {
    const old = exports.pm_sim_open(mode_auto | flag_fallback);
    try testing.expect(old > 0);
    const old_slot = try handles.slotOf(old);
    try testing.expectEqual(@as(i32, 0), exports.pm_close(old));
    // Slots are handed out in turn: the old one comes back within handles_max opens.
    var opens: u32 = 0;
    while (opens < handles.handles_max) : (opens += 1) {
        const handle = exports.pm_sim_open(mode_auto | flag_fallback);
        try testing.expect(handle > 0);
        defer _ = exports.pm_close(handle);
        if (try handles.slotOf(handle) != old_slot) continue;
        try testing.expect(handle != old);
        simSet(handle, field_register, 4242);
        try testing.expectEqual(@as(f64, 4242), exports.pm_read(handle));
        try testing.expectEqual(@as(f64, -10002), exports.pm_read(old));
        var out: [8]f64 = undefined;
        try testing.expectEqual(@as(i32, -10002), exports.pm_stats(old, &out));
        try testing.expectEqual(@as(i32, -10002), exports.pm_sim_set(old, field_register, 1, 0));
        try testing.expectEqual(@as(i32, -10002), exports.pm_close(old));
        try testing.expectEqual(@as(f64, 4242), exports.pm_read(handle)); // untouched by the stale calls
        return;
    }
    std.debug.print("slot {d} was not reused in {d} opens\n", .{ old_slot, opens });
    return error.SlotNotReused;
}
