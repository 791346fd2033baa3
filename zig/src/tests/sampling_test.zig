//! Real sampling on the running kernel through the exported ABI: cpu-clock
//! samples drained from the ring, a slow consumer that loses records,
//! poll(2) wakeups, and two counters sharing one ring (SET_OUTPUT).
const std = @import("std");
const builtin = @import("builtin");
const linux = std.os.linux;
const attr_mod = @import("../attr.zig");
const exports = @import("../exports.zig");
const support = @import("support.zig");

const testing = std.testing;

const mode_off = 0;
const mode_auto = 1;
const PERF_SAMPLE_IP = 1 << 0;
const PERF_SAMPLE_TID = 1 << 1;
const PERF_SAMPLE_TIME = 1 << 2;
const PERF_SAMPLE_ID = 1 << 6;
const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;
const E = struct {
    const INVAL = 22;
    const RANGE = 34;
    const BUSY = 16;
};
const no_ring = -10011;

const Sampling = struct {
    period: u64,
    freq: bool = false,
    sample_type: u64 = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME,
    wakeup_events: u32 = 0,
    data_pages: u32 = 8,
    flags: u32 = mode_off,
};

/// Opens cpu-clock on this thread, disabled, with a ring of `data_pages`.
fn openSampling(sampling: Sampling) !i32 {
    var attr: attr_mod.PerfEventAttr = .{
        .type = attr_mod.PERF_TYPE_SOFTWARE,
        .config = attr_mod.PERF_COUNT_SW_CPU_CLOCK,
        .sample_period = sampling.period,
        .sample_type = sampling.sample_type,
        .wakeup_events = sampling.wakeup_events,
    };
    attr.flags = .{ .disabled = true, .exclude_kernel = true, .exclude_hv = true, .freq = sampling.freq };
    var bytes: [attr_mod.PERF_ATTR_SIZE_VER8]u8 = undefined;
    @memcpy(&bytes, std.mem.asBytes(&attr));
    const handle = exports.pm_open(&bytes, 0, -1, -1, sampling.flags);
    if (handle < 0) {
        std.debug.print("pm_open(cpu-clock sampling) = {d}\n", .{handle});
        return error.OpenFailed;
    }
    errdefer _ = exports.pm_close(handle);
    if (sampling.data_pages != 0) try testing.expectEqual(@as(i32, 0), exports.pm_ring_map(handle, sampling.data_pages));
    return handle;
}

const spinFor = support.spinCpuMilliseconds;

const Tally = struct {
    samples: u32 = 0,
    lost_records: u32 = 0,
    lost: u64 = 0,
    other: u32 = 0,
    bad_tid: u32 = 0,
    zero_ip: u32 = 0,
    time_backwards: u32 = 0,
    last_time: u64 = 0,
    samples_after_lost: u32 = 0,
    ids: [2]u64 = .{ 0, 0 },
    per_id: [2]u32 = .{ 0, 0 },
};

var drain_buffer: [1 << 16]u8 align(8) = undefined;

/// Drains the ring until it is empty; samples are IP|TID|TIME[|ID].
fn drainAll(handle: i32, tally: *Tally, with_id: bool) !void {
    var calls: u32 = 0;
    while (calls < 10_000) : (calls += 1) {
        const bytes = exports.pm_ring_read(handle, &drain_buffer, drain_buffer.len);
        try testing.expect(bytes >= 0);
        if (bytes == 0) return;
        tallyRecords(drain_buffer[0..@intCast(bytes)], tally, with_id);
    }
    return error.NeverEmpty;
}

fn tallyRecords(bytes: []const u8, tally: *Tally, with_id: bool) void {
    const tid: u32 = @bitCast(linux.gettid());
    var at: usize = 0;
    while (at + 8 <= bytes.len) {
        const record_type = std.mem.readInt(u32, bytes[at..][0..4], .little);
        const size = std.mem.readInt(u16, bytes[at + 6 ..][0..2], .little);
        const body = bytes[at + 8 .. at + size];
        at += size;
        switch (record_type) {
            PERF_RECORD_SAMPLE => tallySample(body, tally, tid, with_id),
            PERF_RECORD_LOST => {
                tally.lost_records += 1;
                tally.lost += std.mem.readInt(u64, body[8..16], .little);
            },
            else => tally.other += 1,
        }
    }
}

fn tallySample(body: []const u8, tally: *Tally, tid: u32, with_id: bool) void {
    const ip = std.mem.readInt(u64, body[0..8], .little);
    const sample_tid = std.mem.readInt(u32, body[12..16], .little);
    const time = std.mem.readInt(u64, body[16..24], .little);
    tally.samples += 1;
    if (tally.lost_records > 0) tally.samples_after_lost += 1;
    tally.zero_ip += @intFromBool(ip == 0);
    tally.bad_tid += @intFromBool(sample_tid != tid);
    tally.time_backwards += @intFromBool(time < tally.last_time);
    tally.last_time = time;
    if (!with_id) return;
    const id = std.mem.readInt(u64, body[24..32], .little);
    for (&tally.ids, &tally.per_id) |*known, *count| {
        if (known.* == 0) known.* = id;
        if (known.* == id) {
            count.* += 1;
            return;
        }
    }
}

/// Whether the sample-count windows apply. cpu-clock is an hrtimer that the
/// kernel re-arms one period after it is handled (hrtimer_forward_now), so
/// late timer interrupts lose periods. On hardware they are not late. The
/// only aarch64 machine these tests run on is the QEMU TCG tier, where an
/// emulated timer interrupt lands late by a varying amount: the same 300 ms
/// test gave 134 and then 59 samples with the kernel's rate limiter off. So
/// there the count windows are skipped, with this printed reason, and every
/// other check (thread, IP, time order, no loss, SET_OUTPUT routing) runs.
const count_windows_apply = builtin.cpu.arch != .aarch64;
const count_windows_skip_reason = "SKIP (count window only): aarch64 here means QEMU TCG, whose late timer interrupts drop cpu-clock periods unpredictably\n";

test "cpu-clock at 1000 Hz for 300 ms: 200..400 samples of this thread, in time order" {
    const handle = try openSampling(.{ .period = 1000, .freq = true });
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    spinFor(300);
    try testing.expectEqual(@as(i32, 0), exports.pm_disable(handle, 0));
    var tally: Tally = .{};
    try drainAll(handle, &tally, false);
    if (tally.samples < 200 or tally.samples > 400) std.debug.print("samples: {d}\n", .{tally.samples});
    if (count_windows_apply) {
        try testing.expect(tally.samples >= 200 and tally.samples <= 400);
    } else {
        std.debug.print(count_windows_skip_reason, .{});
        try testing.expect(tally.samples > 0 and tally.samples <= 400);
    }
    try testing.expectEqual(@as(u32, 0), tally.bad_tid);
    try testing.expectEqual(@as(u32, 0), tally.zero_ip);
    try testing.expectEqual(@as(u32, 0), tally.time_backwards);
    try testing.expectEqual(@as(u32, 0), tally.lost_records);
    var info: [16]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_ring_info(handle, &info));
    try testing.expectEqual(@as(f64, 8), info[0]);
    try testing.expectEqual(@as(f64, 0), info[2]); // nothing pending
    try testing.expectEqual(@as(f64, @floatFromInt(tally.samples + tally.other)), info[6]);
    try testing.expect(exports.pm_read(handle) > 0); // counting still works beside the ring
}

test "a slow consumer of a 1-page ring sees LOST with a count, then samples again" {
    if (!count_windows_apply) {
        // It needs ~2000 samples in 200 ms to overflow the ring; see count_windows_apply.
        std.debug.print("SKIP: a slow consumer needs a 10 kHz cpu-clock, which QEMU TCG (the only aarch64 here) does not deliver\n", .{});
        return error.SkipZigTest;
    }
    const handle = try openSampling(.{ .period = 100_000, .data_pages = 1 }); // 10 kHz
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    spinFor(200); // ~2000 samples of 32 bytes into 4096 bytes
    var tally: Tally = .{};
    try drainAll(handle, &tally, false);
    spinFor(50);
    try testing.expectEqual(@as(i32, 0), exports.pm_disable(handle, 0));
    try drainAll(handle, &tally, false);
    try testing.expect(tally.lost_records >= 1);
    try testing.expect(tally.lost > 100);
    try testing.expect(tally.samples_after_lost > 100);
}

test "poll: POLLIN once wakeup_events samples are in; bounded timeouts" {
    const handle = try openSampling(.{ .period = 1000, .freq = true, .wakeup_events = 1 });
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(i32, 0), exports.pm_ring_poll(handle, 0)); // disabled: nothing
    try testing.expectEqual(@as(i32, 0), exports.pm_ring_poll(handle, 5)); // times out
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    // Only this thread's running makes samples (blocked in poll it makes
    // none), so spin until one is in: 20 ms on a host; QEMU TCG drops timer
    // ticks and may need more (seen: none in the first 20 ms). At most 2 s.
    // The kernel reports POLLIN once per wakeup (perf_poll clears it), so
    // the loop keeps the answer it got.
    var revents: i32 = 0;
    var rounds: u32 = 0;
    while (rounds < 100 and revents & linux.POLL.IN == 0) : (rounds += 1) {
        spinFor(20);
        revents = exports.pm_ring_poll(handle, if (rounds == 0) 1000 else 0);
    }
    try testing.expect(revents & linux.POLL.IN != 0);
    try testing.expectEqual(@as(i32, 0), exports.pm_ring_wait(handle, 0) & ~@as(i32, linux.POLL.IN));
    try testing.expectEqual(-@as(i32, E.INVAL), exports.pm_ring_poll(handle, -1));
    try testing.expectEqual(-@as(i32, E.INVAL), exports.pm_ring_poll(handle, 60_001));
}

test "ring read and poll errors: no ring, tiny buffer, record larger than the buffer" {
    const handle = try openSampling(.{ .period = 1000, .freq = true, .data_pages = 0, .flags = mode_auto });
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(i32, no_ring), exports.pm_ring_read(handle, &drain_buffer, drain_buffer.len));
    try testing.expectEqual(@as(i32, no_ring), exports.pm_ring_poll(handle, 0));
    var info: [16]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_ring_info(handle, &info));
    try testing.expectEqual(@as(f64, 0), info[0]);
    try testing.expectEqual(@as(i32, 0), exports.pm_ring_map(handle, 2));
    try testing.expectEqual(-@as(i32, E.INVAL), exports.pm_ring_read(handle, &drain_buffer, 4));
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    // Spin until a record is in (0: none yet; QEMU TCG drops timer ticks):
    // 10 ms on a host, at most 2 s. A 16-byte buffer never takes a record.
    var pending: i32 = 0;
    var rounds: u32 = 0;
    while (pending == 0 and rounds < 200) : (rounds += 1) {
        spinFor(10);
        pending = exports.pm_ring_read(handle, &drain_buffer, 16);
    }
    try testing.expectEqual(-@as(i32, E.RANGE), pending);
    try testing.expect(exports.pm_ring_read(handle, &drain_buffer, 32) > 0);
    try testing.expectEqual(@as(f64, 10002), -@as(f64, @floatFromInt(exports.pm_ring_read(handle + (1 << 12), &drain_buffer, 32))));
}

test "SET_OUTPUT: a second counter's samples arrive in the first one's ring" {
    const sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ID;
    const owner = try openSampling(.{ .period = 1000, .freq = true, .sample_type = sample_type });
    defer _ = exports.pm_close(owner);
    // Opened in auto mode, so it has a metadata page the core must drop first.
    const guest = try openSampling(.{ .period = 1000, .freq = true, .sample_type = sample_type, .data_pages = 0, .flags = mode_auto });
    defer _ = exports.pm_close(guest);
    try testing.expectEqual(-@as(i32, E.BUSY), exports.pm_set_output(owner, guest)); // owner has its own ring
    try testing.expectEqual(@as(i32, 0), exports.pm_set_output(guest, owner));
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(owner, 0));
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(guest, 0));
    spinFor(100);
    try testing.expectEqual(@as(i32, 0), exports.pm_disable(owner, 0));
    try testing.expectEqual(@as(i32, 0), exports.pm_disable(guest, 0));
    var tally: Tally = .{};
    try drainAll(owner, &tally, true);
    if (count_windows_apply) {
        try testing.expect(tally.per_id[0] > 30 and tally.per_id[1] > 30);
    } else {
        std.debug.print(count_windows_skip_reason, .{});
        try testing.expect(tally.per_id[0] > 0 and tally.per_id[1] > 0);
    }
    try testing.expect(tally.ids[0] != tally.ids[1]);
    try testing.expect(exports.pm_read(guest) > 0);
    // Ending the redirection puts the guest's metadata page back.
    try testing.expectEqual(@as(i32, 0), exports.pm_set_output(guest, -1));
    var info: [16]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_page_info(guest, &info));
    try testing.expectEqual(@as(f64, 1), info[0]);
}

test "pm_gettid is the calling thread" {
    try testing.expectEqual(linux.gettid(), exports.pm_gettid());
}

const flag_ring = 1 << 6;
const mode_require = 2;
const stats_slot_mappings = 7;
const page_info_has_page = 0;

fn mappingsMade(handle: i32) !f64 {
    var stats: [8]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_stats(handle, &stats));
    return stats[stats_slot_mappings];
}

test "a ring opened with the ring flag is mapped once (1 + 2^N pages), and its first page is the metadata page" {
    const once = try openSampling(.{ .period = 1000, .flags = mode_auto | flag_ring });
    defer _ = exports.pm_close(once);
    try testing.expectEqual(@as(f64, 1), try mappingsMade(once));
    var info: [16]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_page_info(once, &info));
    try testing.expectEqual(@as(f64, 1), info[page_info_has_page]);
    // Without the flag: the 1-page mapping, then the ring (the slow way).
    const twice = try openSampling(.{ .period = 1000, .flags = mode_auto });
    defer _ = exports.pm_close(twice);
    try testing.expectEqual(@as(f64, 2), try mappingsMade(twice));
}

test "mode require with the ring flag: the require checks run at pm_ring_map" {
    // A software event's page has cap_user_rdpmc = 0: NO_USER_RDPMC, at
    // open without the flag, at the ring mapping with it (then unmapped).
    // page-faults, not cpu-clock: arm64 (6.1) takes cap_user_rdpmc from
    // hw.flags, which for the hrtimer clocks shares its bytes with the
    // timer, so a cpu-clock page there can say 1.
    var attr: attr_mod.PerfEventAttr = .{
        .type = attr_mod.PERF_TYPE_SOFTWARE,
        .config = attr_mod.PERF_COUNT_SW_PAGE_FAULTS,
        .sample_period = 1_000_000,
        .sample_type = PERF_SAMPLE_IP,
    };
    attr.flags = .{ .disabled = true, .exclude_kernel = true, .exclude_hv = true };
    var bytes: [attr_mod.PERF_ATTR_SIZE_VER8]u8 = undefined;
    @memcpy(&bytes, std.mem.asBytes(&attr));
    try testing.expectEqual(@as(i32, -10005), exports.pm_open(&bytes, 0, -1, -1, mode_require));
    const handle = exports.pm_open(&bytes, 0, -1, -1, mode_require | flag_ring);
    try testing.expect(handle > 0);
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(f64, 0), try mappingsMade(handle));
    try testing.expectEqual(@as(i32, -10005), exports.pm_ring_map(handle, 2));
    var info: [16]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), exports.pm_page_info(handle, &info));
    try testing.expectEqual(@as(f64, 0), info[page_info_has_page]);
}

// ---- the sampling ioctls: REFRESH, PERIOD, PAUSE_OUTPUT ---------------------

fn drainTally(handle: i32) !Tally {
    var tally: Tally = .{};
    try drainAll(handle, &tally, false);
    return tally;
}

test "pm_refresh: a disabled sampler enabled for 3 overflows writes exactly 3 samples, then is off" {
    const handle = try openSampling(.{ .period = 1_000_000 }); // 1 ms of cpu-clock
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(i32, 0), exports.pm_refresh(handle, 3));
    spinFor(100); // ~100 periods: far more than 3 even under QEMU TCG
    try testing.expectEqual(@as(u32, 3), (try drainTally(handle)).samples);
    spinFor(20);
    try testing.expectEqual(@as(u32, 0), (try drainTally(handle)).samples); // the kernel disabled it
    // Once the limit has run out, an enable samples without one.
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    spinFor(50);
    try testing.expect((try drainTally(handle)).samples > 3);
    try testing.expectEqual(@as(i32, 0), exports.pm_disable(handle, 0));
}

test "pm_period: the kernel refuses 0 and bit 63; a shorter period samples more often" {
    const handle = try openSampling(.{ .period = 10_000_000 }); // 10 ms
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(i32, -E.INVAL), exports.pm_period(handle, 0, 0));
    try testing.expectEqual(@as(i32, -E.INVAL), exports.pm_period(handle, 0, 1 << 31));
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    spinFor(100);
    const slow = (try drainTally(handle)).samples;
    try testing.expectEqual(@as(i32, 0), exports.pm_period(handle, 1_000_000, 0)); // 1 ms
    spinFor(100);
    const fast = (try drainTally(handle)).samples;
    try testing.expectEqual(@as(i32, 0), exports.pm_disable(handle, 0));
    if (count_windows_apply) {
        try testing.expect(slow >= 5 and slow <= 15);
        try testing.expect(fast >= 50 and fast <= 150);
    } else {
        std.debug.print(count_windows_skip_reason, .{});
        try testing.expect(fast > slow);
    }
}

test "pm_period, pm_refresh, pm_pause_output: EINVAL without sampling or a ring; EOPNOTSUPP when simulated" {
    var bytes = support.attrBytes(attr_mod.PERF_TYPE_SOFTWARE, attr_mod.PERF_COUNT_SW_TASK_CLOCK, .{});
    const counting = exports.pm_open(&bytes, 0, -1, -1, mode_off);
    try testing.expect(counting > 0);
    defer _ = exports.pm_close(counting);
    try testing.expectEqual(@as(i32, -E.INVAL), exports.pm_period(counting, 1000, 0));
    try testing.expectEqual(@as(i32, -E.INVAL), exports.pm_refresh(counting, 1));
    try testing.expectEqual(@as(i32, -E.INVAL), exports.pm_pause_output(counting, 1));
    const ringless = try openSampling(.{ .period = 1_000_000, .data_pages = 0 });
    defer _ = exports.pm_close(ringless);
    try testing.expectEqual(@as(i32, -E.INVAL), exports.pm_pause_output(ringless, 1));
    const simulated = exports.pm_sim_open(mode_auto);
    defer _ = exports.pm_close(simulated);
    const opnotsupp: i32 = -95;
    try testing.expectEqual(opnotsupp, exports.pm_period(simulated, 1000, 0));
    try testing.expectEqual(opnotsupp, exports.pm_refresh(simulated, 1));
    try testing.expectEqual(opnotsupp, exports.pm_pause_output(simulated, 1));
}

test "pm_pause_output: nothing is written while paused; after resume one LOST record counts it" {
    const handle = try openSampling(.{ .period = 1_000_000 });
    defer _ = exports.pm_close(handle);
    try testing.expectEqual(@as(i32, 0), exports.pm_pause_output(handle, 1));
    try testing.expectEqual(@as(i32, 0), exports.pm_enable(handle, 0));
    spinFor(50);
    const paused = try drainTally(handle);
    try testing.expectEqual(@as(u32, 0), paused.samples);
    try testing.expectEqual(@as(u32, 0), paused.lost_records);
    try testing.expectEqual(@as(i32, 0), exports.pm_pause_output(handle, 0));
    spinFor(20);
    try testing.expectEqual(@as(i32, 0), exports.pm_disable(handle, 0));
    const resumed = try drainTally(handle);
    try testing.expectEqual(@as(u32, 1), resumed.lost_records);
    try testing.expect(resumed.lost >= 1);
    try testing.expect(resumed.samples_after_lost >= 1);
}
