//! The seqlock loop and the retry policy, driven by a heap page that plays
//! the kernel (DESIGN.md, "Test seam").
const std = @import("std");
const assert = std.debug.assert;
const page_mod = @import("../page.zig");
const self_read = @import("../self_read.zig");
const errno = @import("../errno.zig");
const sim = @import("../sim.zig");
const support = @import("support.zig");

const Page = page_mod.Page;
const Failure = errno.Failure;
const testing = std.testing;

/// A scripted environment: counts yields and read() calls, and can move the
/// lock under the reader for its first `lock_moves` register reads.
const ScriptEnv = struct {
    page: *Page,
    register: u64 = 0,
    timestamp: u64 = 0,
    syscall_value: u64 = 424242,
    yields: u32 = 0,
    syscalls: u32 = 0,
    register_reads: u32 = 0,
    lock_moves: u32 = 0,
    /// The machine's userspace-read knob as the seam returns it (null: none).
    knob: ?i64 = 1,
    knob_reads: u32 = 0,

    pub const index_max: u32 = std.math.maxInt(u32);

    pub fn readRegister(env: *ScriptEnv, index: u32) u64 {
        assert(index != 0);
        env.register_reads += 1;
        if (env.register_reads <= env.lock_moves) env.page.lock += 2; // a kernel update in between
        return env.register;
    }

    pub fn readTimestamp(env: *ScriptEnv) u64 {
        return env.timestamp;
    }

    pub fn yield(env: *ScriptEnv) void {
        env.yields += 1;
    }

    pub fn readSyscall(env: *ScriptEnv, _: *Failure) errno.Error!self_read.Syscall {
        env.syscalls += 1;
        return .{ .value = env.syscall_value, .time_enabled_ns = 7, .time_running_ns = 5 };
    }

    pub fn readKnob(env: *ScriptEnv) ?i64 {
        env.knob_reads += 1;
        return env.knob;
    }
};

const policy_default: self_read.Policy = .{ .userspace_allowed = true, .fallback = true, .want_time = false };

fn newPage() Page {
    var page: Page = undefined;
    sim.initPage(&page);
    return page;
}

fn readScript(env: *ScriptEnv, policy: self_read.Policy, counts: *self_read.Counts) self_read.Error!self_read.Reading {
    var failure: Failure = undefined;
    counts.* = .{}; // each read starts with no attempts made
    return self_read.read(ScriptEnv, env, policy, counts, &failure);
}

test "sign extension at widths 32, 40, 48 and 64" {
    const cases = [_]struct { raw: u64, width: u16, expected: i64 }{
        .{ .raw = 0xFFFF_FFFF, .width = 32, .expected = -1 },
        .{ .raw = 0xDEAD_BEEF_0000_0005, .width = 32, .expected = 5 },
        .{ .raw = 0x7FFF_FFFF, .width = 32, .expected = 0x7FFF_FFFF },
        .{ .raw = 0x8000_0000, .width = 32, .expected = -0x8000_0000 },
        .{ .raw = 0xFF_FFFF_FFFF, .width = 40, .expected = -1 },
        .{ .raw = 0x80_0000_0000, .width = 40, .expected = -(1 << 39) },
        .{ .raw = 0xABCD_0012_3456_789A, .width = 40, .expected = 0x12_3456_789A },
        .{ .raw = 0xFFFF_FFFF_FFFF, .width = 48, .expected = -1 },
        .{ .raw = 0x7FFF_FFFF_FFFF, .width = 48, .expected = (1 << 47) - 1 },
        .{ .raw = 0x1234_8000_0000_0000, .width = 48, .expected = -(1 << 47) },
        .{ .raw = 0xFFFF_FFFF_FFFF_FFFF, .width = 64, .expected = -1 },
        .{ .raw = 0x7FFF_FFFF_FFFF_FFFF, .width = 64, .expected = std.math.maxInt(i64) },
    };
    for (cases) |case| {
        const result: i64 = @bitCast(self_read.signExtend(case.raw, case.width));
        try testing.expectEqual(case.expected, result);
    }
}

test "offset 2^47-1 across a 48-bit wrap counts on by one; a negative offset subtracts" {
    var page = newPage();
    var env: ScriptEnv = .{ .page = &page };
    var counts: self_read.Counts = .{};
    page.offset = (1 << 47) - 1;
    page.pmc_width = 48;
    const raws = [_]u64{ (1 << 48) - 2, (1 << 48) - 1, 0, 1, 2 };
    var expected: u64 = (1 << 47) - 3;
    for (raws) |raw| {
        env.register = raw | 0xABCD_0000_0000_0000; // bits above the width are noise
        const reading = try readScript(&env, policy_default, &counts);
        try testing.expectEqual(expected, reading.value);
        try testing.expectEqual(self_read.Source.userspace, reading.source);
        expected += 1;
    }
    page.offset = -1000;
    env.register = 5000;
    try testing.expectEqual(@as(u64, 4000), (try readScript(&env, policy_default, &counts)).value);
    page.offset = -(1 << 40);
    page.pmc_width = 32;
    env.register = 0xFFFF_FFFF; // -1 at 32 bits
    const negative: i64 = @bitCast((try readScript(&env, policy_default, &counts)).value);
    try testing.expectEqual(-(1 << 40) - 1, negative);
}

test "retry policy: a lock that stays odd exhausts after exactly 50 000 attempts, 49 000 yields" {
    var page = newPage();
    page.lock = 1;
    var env: ScriptEnv = .{ .page = &page };
    var counts: self_read.Counts = .{};
    try testing.expectError(error.RetryExhausted, readScript(&env, policy_default, &counts));
    try testing.expectEqual(@as(u32, 50_000), counts.attempts);
    try testing.expectEqual(@as(u32, 49_000), counts.yields);
    try testing.expectEqual(@as(u32, 49_000), env.yields);
    try testing.expectEqual(@as(u32, 0), env.syscalls);
}

test "retry policy: index 0 falls back to read() after exactly 1000 attempts" {
    var page = newPage();
    page.index = 0;
    var env: ScriptEnv = .{ .page = &page };
    var counts: self_read.Counts = .{};
    const reading = try readScript(&env, policy_default, &counts);
    try testing.expectEqual(self_read.Source.syscall, reading.source);
    try testing.expectEqual(@as(u64, 424242), reading.value);
    try testing.expectEqual(@as(u64, 7), reading.time_enabled_ns);
    try testing.expectEqual(@as(u32, 1000), counts.attempts);
    try testing.expectEqual(@as(u32, 0), counts.yields);
    try testing.expectEqual(@as(u32, 1), env.syscalls);
    try testing.expectEqual(@as(u32, 0), env.register_reads);
}

test "retry policy: index 0 with fallback off exhausts" {
    var page = newPage();
    page.index = 0;
    var env: ScriptEnv = .{ .page = &page };
    var counts: self_read.Counts = .{};
    var policy = policy_default;
    policy.fallback = false;
    try testing.expectError(error.RetryExhausted, readScript(&env, policy, &counts));
    try testing.expectEqual(@as(u32, 50_000), counts.attempts);
    try testing.expectEqual(@as(u32, 49_000), counts.yields);
    try testing.expectEqual(@as(u32, 0), env.syscalls);
}

test "retry policy: cap_user_rdpmc == 0 or userspace not allowed makes zero attempts" {
    var page = newPage();
    page.capabilities = page_mod.cap_bit0_is_deprecated; // what a software event shows
    var env: ScriptEnv = .{ .page = &page };
    var counts: self_read.Counts = .{};
    const reading = try readScript(&env, policy_default, &counts);
    try testing.expectEqual(self_read.Source.syscall, reading.source);
    try testing.expectEqual(@as(u32, 0), counts.attempts);
    try testing.expectEqual(@as(u32, 1), env.syscalls);

    page = newPage();
    var policy = policy_default;
    policy.userspace_allowed = false;
    _ = try readScript(&env, policy, &counts);
    try testing.expectEqual(@as(u32, 0), counts.attempts);
    try testing.expectEqual(@as(u32, 2), env.syscalls);
}

test "retry policy: a lock that moves during the read retries, then succeeds" {
    var page = newPage();
    var env: ScriptEnv = .{ .page = &page, .register = 99, .lock_moves = 1500 };
    var counts: self_read.Counts = .{};
    const reading = try readScript(&env, policy_default, &counts);
    try testing.expectEqual(@as(u64, 99), reading.value);
    try testing.expectEqual(@as(u32, 1501), counts.attempts);
    try testing.expectEqual(@as(u32, 501), counts.yields);
}

test "retry policy: pmc_width 0 or 65 is never trusted" {
    for ([_]u16{ 0, 65 }) |width| {
        var page = newPage();
        page.pmc_width = width;
        var env: ScriptEnv = .{ .page = &page };
        var counts: self_read.Counts = .{};
        try testing.expectError(error.RetryExhausted, readScript(&env, policy_default, &counts));
        try testing.expectEqual(@as(u32, 0), env.register_reads);
        try testing.expectEqual(@as(u32, 0), env.syscalls);
    }
}

test "time: enabled/running extrapolated only when cap_user_time and they differ" {
    var page = newPage();
    page.capabilities |= page_mod.cap_user_time;
    page.time_enabled = 1000;
    page.time_running = 600;
    page.time_mult = 1 << 10;
    page.time_shift = 10; // 1 ns per tick
    page.time_offset = @bitCast(@as(i64, -500));
    var env: ScriptEnv = .{ .page = &page, .timestamp = 800 };
    var counts: self_read.Counts = .{};
    var policy = policy_default;
    policy.want_time = true;
    var reading = try readScript(&env, policy, &counts);
    try testing.expectEqual(@as(u64, 1300), reading.time_enabled_ns);
    try testing.expectEqual(@as(u64, 900), reading.time_running_ns);
    page.time_running = 1000; // equal: the kernel's algorithm leaves them as they are
    reading = try readScript(&env, policy, &counts);
    try testing.expectEqual(@as(u64, 1000), reading.time_enabled_ns);
    try testing.expectEqual(@as(u64, 1000), reading.time_running_ns);
}

/// Reads between the writer's updates: a shared page and register cell.
const Torture = struct {
    page: Page,
    register: u64 align(8) = 0,
    stop: bool = false,
    writes: u64 = 0,
};

/// The invariant the writer keeps across two fields: offset + register == constant.
const torture_value = 0x1234_5678;
const torture_reads_min = 10_000_000;
const writer_pause_spins_max = 32;

const TortureEnv = struct {
    page: *const Page,
    register: *const u64,

    pub const index_max: u32 = std.math.maxInt(u32);

    pub fn readRegister(env: *TortureEnv, index: u32) u64 {
        assert(index != 0);
        return @atomicLoad(u64, env.register, .acquire);
    }

    pub fn readTimestamp(_: *TortureEnv) u64 {
        return 0;
    }

    pub fn yield(_: *TortureEnv) void {
        std.Thread.yield() catch {};
    }

    /// The torture page never shows index 0 and fallback is off.
    pub fn readSyscall(_: *TortureEnv, failure: *Failure) errno.Error!self_read.Syscall {
        return errno.fail(failure, errno.fromErrno(.INVAL));
    }
};

fn tortureWriter(torture: *Torture) void {
    var generation: u64 = 1;
    while (!@atomicLoad(bool, &torture.stop, .acquire)) : (generation += 1) {
        const lock = @atomicLoad(u32, &torture.page.lock, .monotonic);
        @atomicStore(u32, &torture.page.lock, lock +% 1, .monotonic);
        const register = (generation *% 7919) & ((1 << 46) - 1);
        @atomicStore(i64, &torture.page.offset, torture_value - @as(i64, @intCast(register)), .release);
        @atomicStore(u64, &torture.register, register, .release);
        @atomicStore(u64, &torture.page.time_enabled, generation, .release);
        @atomicStore(u64, &torture.page.time_running, generation, .release);
        @atomicStore(u32, &torture.page.index, @intCast(generation % 31 + 1), .release);
        @atomicStore(u32, &torture.page.lock, lock +% 2, .release);
        torture.writes = generation;
        // A writer that never pauses starves every reader (each attempt sees
        // the lock move), which the kernel never does; a short pause of
        // varying length leaves windows while keeping readers colliding.
        var pause = generation % writer_pause_spins_max;
        while (pause > 0) : (pause -= 1) std.atomic.spinLoopHint();
    }
}

test "seqlock torture: 10 million reads against a writer never return a torn value" {
    var torture: Torture = .{ .page = newPage() };
    torture.page.offset = torture_value; // generation 0: register 0
    const writer = try std.Thread.spawn(.{}, tortureWriter, .{&torture});
    var env: TortureEnv = .{ .page = &torture.page, .register = &torture.register };
    const policy: self_read.Policy = .{ .userspace_allowed = true, .fallback = false, .want_time = true };
    var retried_reads: u64 = 0;
    var reads: u64 = 0;
    var failure: Failure = undefined;
    const reads_wanted = support.loopCount(torture_reads_min, "seqlock torture reads");
    while (reads < reads_wanted) : (reads += 1) {
        var counts: self_read.Counts = .{};
        const reading = self_read.read(TortureEnv, &env, policy, &counts, &failure) catch |err| {
            @atomicStore(bool, &torture.stop, true, .release);
            writer.join();
            return err;
        };
        if (reading.value != torture_value or reading.time_enabled_ns != reading.time_running_ns) {
            @atomicStore(bool, &torture.stop, true, .release);
            writer.join();
            std.debug.print("torn read #{d}: value {x}, enabled {d}, running {d}\n", .{ reads, reading.value, reading.time_enabled_ns, reading.time_running_ns });
            return error.TornRead;
        }
        if (counts.attempts > 1) retried_reads += 1;
    }
    @atomicStore(bool, &torture.stop, true, .release);
    writer.join();
    // Without contention the test would prove nothing.
    try testing.expect(torture.writes > 1000);
    try testing.expect(retried_reads > 0);
}

// The knob's verdict (self_read.Access): off for good reads by read() at
// once; an index 0 with the knob on stays the retry policy's.

const policy_auto: self_read.Policy = .{ .userspace_allowed = true, .fallback = true, .want_time = false, .knob_gated = true };

fn readGated(env: *ScriptEnv, policy: self_read.Policy, access: *self_read.Access, counts: *self_read.Counts) self_read.Error!self_read.Reading {
    var failure: Failure = undefined;
    counts.* = .{};
    return self_read.readGated(ScriptEnv, env, policy, access, counts, &failure);
}

/// What arm64 shows with kernel.perf_user_access=0: the event asked for
/// user access, so cap_user_rdpmc=1 and pmc_width are set, and index is 0.
fn pageUserAccessOff() Page {
    var page = newPage();
    page.index = 0;
    page.pmc_width = 64;
    return page;
}

test "verdict: off when the page withholds userspace reads or the knob is 0; on or unknown knob is not" {
    try testing.expect(self_read.accessOff(false, null));
    try testing.expect(self_read.accessOff(false, 1));
    try testing.expect(self_read.accessOff(true, 0));
    try testing.expect(!self_read.accessOff(true, 1));
    try testing.expect(!self_read.accessOff(true, 2)); // x86 rdpmc=2: always
    try testing.expect(!self_read.accessOff(true, null)); // no knob: trust the page
}

test "knob off for good (arm64 perf_user_access=0): index 0 forever is read by read() with 0 attempts, 0 yields" {
    var page = pageUserAccessOff();
    var env: ScriptEnv = .{ .page = &page, .knob = 0 };
    var access: self_read.Access = .{};
    self_read.decideAccess(ScriptEnv, &env, &access);
    try testing.expect(access.off);
    try testing.expectEqual(@as(u32, 1), env.knob_reads);
    var counts: self_read.Counts = .{};
    const reads = 3 * self_read.knob_recheck_reads + 5;
    var i: u32 = 0;
    while (i < reads) : (i += 1) {
        const reading = try readGated(&env, policy_auto, &access, &counts);
        try testing.expectEqual(self_read.Source.syscall, reading.source);
        try testing.expectEqual(@as(u64, 424242), reading.value);
        try testing.expectEqual(@as(u32, 0), counts.attempts);
        try testing.expectEqual(@as(u32, 0), counts.yields);
    }
    try testing.expectEqual(reads, env.syscalls);
    try testing.expectEqual(@as(u32, 0), env.register_reads);
    try testing.expectEqual(@as(u32, 0), env.yields);
    // One look at open, then one per knob_recheck_reads reads: 1 + 3.
    try testing.expectEqual(@as(u32, 4), env.knob_reads);
    try testing.expect(access.off);
}

test "knob on (a multiplexed-out event): index 0 keeps the retry policy, 1000 attempts then read()" {
    var page = pageUserAccessOff();
    var env: ScriptEnv = .{ .page = &page, .knob = 1 };
    var access: self_read.Access = .{};
    self_read.decideAccess(ScriptEnv, &env, &access);
    try testing.expect(!access.off);
    var counts: self_read.Counts = .{};
    var i: u32 = 0;
    while (i < 3) : (i += 1) {
        const reading = try readGated(&env, policy_auto, &access, &counts);
        try testing.expectEqual(self_read.Source.syscall, reading.source);
        try testing.expectEqual(@as(u32, 1000), counts.attempts);
        try testing.expectEqual(@as(u32, 0), counts.yields);
    }
    try testing.expectEqual(@as(u32, 3), env.syscalls);
    // Back on a register: served from userspace in one attempt.
    page.index = 3;
    env.register = 17;
    const reading = try readGated(&env, policy_auto, &access, &counts);
    try testing.expectEqual(self_read.Source.userspace, reading.source);
    try testing.expectEqual(@as(u32, 1), counts.attempts);
    try testing.expectEqual(@as(u64, 17), reading.value);
    try testing.expectEqual(@as(u32, 1), env.knob_reads);
}

test "knob unreadable (no such file): index 0 is taken as transient" {
    var page = pageUserAccessOff();
    var env: ScriptEnv = .{ .page = &page, .knob = null };
    var access: self_read.Access = .{};
    self_read.decideAccess(ScriptEnv, &env, &access);
    try testing.expect(!access.off);
    var counts: self_read.Counts = .{};
    _ = try readGated(&env, policy_auto, &access, &counts);
    try testing.expectEqual(@as(u32, 1000), counts.attempts);
}

test "cap_user_rdpmc 0 is off without reading the knob" {
    var page = newPage();
    page.capabilities = page_mod.cap_bit0_is_deprecated;
    var env: ScriptEnv = .{ .page = &page, .knob = 1 };
    var access: self_read.Access = .{};
    self_read.decideAccess(ScriptEnv, &env, &access);
    try testing.expect(access.off);
    try testing.expectEqual(@as(u32, 0), env.knob_reads);
}

test "a knob turned off mid-run is seen at the 1024th fallback; turned on again, at the 1024th read() after" {
    var page = pageUserAccessOff();
    var env: ScriptEnv = .{ .page = &page, .knob = 1 };
    var access: self_read.Access = .{};
    self_read.decideAccess(ScriptEnv, &env, &access);
    env.knob = 0; // root writes the sysctl; the core is not told
    var counts: self_read.Counts = .{};
    var i: u32 = 0;
    while (i < self_read.knob_recheck_reads) : (i += 1) {
        _ = try readGated(&env, policy_auto, &access, &counts);
        try testing.expectEqual(@as(u32, 1000), counts.attempts);
    }
    try testing.expect(access.off);
    try testing.expectEqual(@as(u32, 2), env.knob_reads);
    _ = try readGated(&env, policy_auto, &access, &counts);
    try testing.expectEqual(@as(u32, 0), counts.attempts);

    env.knob = 1;
    page.index = 32;
    i = 1; // one read()-served read since the last look, above
    while (i < self_read.knob_recheck_reads) : (i += 1) {
        const reading = try readGated(&env, policy_auto, &access, &counts);
        try testing.expectEqual(self_read.Source.syscall, reading.source);
        try testing.expectEqual(@as(u32, 0), counts.attempts);
    }
    try testing.expect(!access.off);
    try testing.expectEqual(@as(u32, 3), env.knob_reads);
    const reading = try readGated(&env, policy_auto, &access, &counts);
    try testing.expectEqual(self_read.Source.userspace, reading.source);
    try testing.expectEqual(@as(u32, 1), counts.attempts);
}

test "not gated (mode require) or not allowed (disabled): the knob is never consulted" {
    var page = pageUserAccessOff();
    var env: ScriptEnv = .{ .page = &page, .knob = 0 };
    var access: self_read.Access = .{};
    var counts: self_read.Counts = .{};
    var policy = policy_auto;
    policy.knob_gated = false;
    var i: u32 = 0;
    while (i < self_read.knob_recheck_reads + 1) : (i += 1) {
        _ = try readGated(&env, policy, &access, &counts);
        try testing.expectEqual(@as(u32, 1000), counts.attempts);
    }
    policy = policy_auto;
    policy.userspace_allowed = false;
    i = 0;
    while (i < self_read.knob_recheck_reads + 1) : (i += 1) {
        _ = try readGated(&env, policy, &access, &counts);
        try testing.expectEqual(@as(u32, 0), counts.attempts);
    }
    try testing.expectEqual(@as(u32, 0), env.knob_reads);
    try testing.expect(!access.off);
}

test "off for good with fallback off still never spins: the verdict is not a retry" {
    var page = pageUserAccessOff();
    var env: ScriptEnv = .{ .page = &page, .knob = 0 };
    var access: self_read.Access = .{};
    self_read.decideAccess(ScriptEnv, &env, &access);
    var counts: self_read.Counts = .{};
    var policy = policy_auto;
    policy.fallback = false;
    const reading = try readGated(&env, policy, &access, &counts);
    try testing.expectEqual(self_read.Source.syscall, reading.source);
    try testing.expectEqual(@as(u32, 0), counts.attempts);
    try testing.expectEqual(@as(u32, 0), env.yields);
}
