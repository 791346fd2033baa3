//! Simulated counters: the test seam of ABI.md (pm_sim_open / pm_sim_set).
//! The page lives in anonymous memory and the register is a memory cell, so
//! TypeScript tests and benchmarks can play the kernel and drive the real
//! seqlock loop on a machine without a PMU.
const std = @import("std");
const assert = std.debug.assert;
const page_mod = @import("page.zig");

const Page = page_mod.Page;

/// The values the simulated hardware and read() return.
pub const State = struct {
    register: u64 = 0,
    timestamp: u64 = 0,
    syscall_value: u64 = 0,
    syscall_time_enabled: u64 = 0,
    syscall_time_running: u64 = 0,
    /// The simulated machine's userspace-read knob (arm64 perf_user_access,
    /// x86 rdpmc), as i64 bits: 0 off, 1 or 2 on, negative = no such knob.
    /// The core reads it when it takes the verdict (open, enable, and every
    /// self_read.knob_recheck_reads read()-served reads), as it reads the real
    /// sysctl: setting it is a root writing the knob, not a notification.
    user_access_knob: u64 = 1,
};

/// ABI.md defaults: version 0, cap_user_rdpmc=1, lock=0, index=1,
/// pmc_width=48, offset=0; `size` is what a current kernel writes.
pub fn initPage(page: *Page) void {
    page.* = std.mem.zeroes(Page);
    page.capabilities = page_mod.cap_bit0_is_deprecated | page_mod.cap_user_rdpmc;
    page.index = 1;
    page.pmc_width = 48;
    page.size = page_mod.header_size_kernel;
    assert(page.lock == 0);
}

pub const Field = enum(u32) {
    lock = 0,
    index = 1,
    offset = 2,
    pmc_width = 3,
    capabilities = 4,
    time_enabled = 5,
    time_running = 6,
    time_mult = 7,
    time_shift = 8,
    time_offset = 9,
    time_zero = 10,
    time_cycles = 11,
    time_mask = 12,
    register = 13,
    syscall_value = 14,
    timestamp = 15,
    syscall_time_enabled = 16,
    syscall_time_running = 17,
    version = 18,
    size = 19,
    user_access_knob = 20,
};

pub const field_count = 21;

pub fn fieldFromInt(value: u32) ?Field {
    if (value >= field_count) return null;
    return @fromBackingInt(value);
}

/// The knob as the core's reader returns it: null for "no such knob".
pub fn knob(state: *const State) ?i64 {
    const value: i64 = @bitCast(@atomicLoad(u64, &state.user_access_knob, .acquire));
    return if (value < 0) null else value;
}

/// Stores with release ordering, so a reader that sees the new value also
/// sees every store before it (the torture test's writer relies on this).
fn store(comptime T: type, field: *T, value: u64) void {
    const Bits = @Int(.unsigned, @bitSizeOf(T));
    const bits: Bits = @truncate(value);
    @atomicStore(T, field, @bitCast(bits), .release);
}

/// Sets one field to `value` (truncated to the field's width, as the ABI's
/// lo/hi pair is always 64 bits).
pub fn set(page: *Page, state: *State, field: Field, value: u64) void {
    switch (field) {
        .lock => store(u32, &page.lock, value),
        .index => store(u32, &page.index, value),
        .offset => store(i64, &page.offset, value),
        .pmc_width => store(u16, &page.pmc_width, value),
        .capabilities => store(u64, &page.capabilities, value),
        .time_enabled => store(u64, &page.time_enabled, value),
        .time_running => store(u64, &page.time_running, value),
        .time_mult => store(u32, &page.time_mult, value),
        .time_shift => store(u16, &page.time_shift, value),
        .time_offset => store(u64, &page.time_offset, value),
        .time_zero => store(u64, &page.time_zero, value),
        .time_cycles => store(u64, &page.time_cycles, value),
        .time_mask => store(u64, &page.time_mask, value),
        .register => store(u64, &state.register, value),
        .syscall_value => store(u64, &state.syscall_value, value),
        .timestamp => store(u64, &state.timestamp, value),
        .syscall_time_enabled => store(u64, &state.syscall_time_enabled, value),
        .syscall_time_running => store(u64, &state.syscall_time_running, value),
        .version => store(u32, &page.version, value),
        .size => store(u32, &page.size, value),
        .user_access_knob => store(u64, &state.user_access_knob, value),
    }
}

test "every field number maps to a field and 21 is unknown" {
    var i: u32 = 0;
    while (i < field_count) : (i += 1) try std.testing.expect(fieldFromInt(i) != null);
    try std.testing.expect(fieldFromInt(field_count) == null);
}

test "offset field keeps i64 bits" {
    var page: Page = undefined;
    var state: State = .{};
    initPage(&page);
    set(&page, &state, .offset, @bitCast(@as(i64, -5)));
    try std.testing.expectEqual(@as(i64, -5), page.offset);
    set(&page, &state, .pmc_width, 0x1_0020);
    try std.testing.expectEqual(@as(u16, 0x20), page.pmc_width);
}

test "the knob field: on by default, 0 off, negative means no knob" {
    var page: Page = undefined;
    var state: State = .{};
    initPage(&page);
    try std.testing.expectEqual(@as(?i64, 1), knob(&state));
    set(&page, &state, .user_access_knob, 0);
    try std.testing.expectEqual(@as(?i64, 0), knob(&state));
    set(&page, &state, .user_access_knob, @bitCast(@as(i64, -2)));
    try std.testing.expectEqual(@as(?i64, null), knob(&state));
}
