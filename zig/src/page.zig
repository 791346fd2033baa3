//! `struct perf_event_mmap_page`: the first page of a perf mapping, shared
//! with the kernel. Field names mirror the UAPI header.
const std = @import("std");
const assert = std.debug.assert;

pub const Page = extern struct {
    version: u32,
    compat_version: u32,
    /// Seqlock: odd while the kernel writes.
    lock: u32,
    /// Hardware counter number + 1; 0 = not readable from userspace now.
    index: u32,
    offset: i64,
    time_enabled: u64,
    time_running: u64,
    capabilities: u64,
    pmc_width: u16,
    time_shift: u16,
    time_mult: u32,
    time_offset: u64,
    time_zero: u64,
    /// Header size: fields past it are not written by this kernel.
    size: u32,
    __reserved_1: u32,
    time_cycles: u64,
    time_mask: u64,
    __reserved: [116 * 8]u8,
    data_head: u64,
    data_tail: u64,
    data_offset: u64,
    data_size: u64,
    aux_head: u64,
    aux_tail: u64,
    aux_offset: u64,
    aux_size: u64,
};

comptime {
    assert(@offsetOf(Page, "version") == 0);
    assert(@offsetOf(Page, "compat_version") == 4);
    assert(@offsetOf(Page, "lock") == 8);
    assert(@offsetOf(Page, "index") == 12);
    assert(@offsetOf(Page, "offset") == 16);
    assert(@offsetOf(Page, "time_enabled") == 24);
    assert(@offsetOf(Page, "time_running") == 32);
    assert(@offsetOf(Page, "capabilities") == 40);
    assert(@offsetOf(Page, "pmc_width") == 48);
    assert(@offsetOf(Page, "time_shift") == 50);
    assert(@offsetOf(Page, "time_mult") == 52);
    assert(@offsetOf(Page, "time_offset") == 56);
    assert(@offsetOf(Page, "time_zero") == 64);
    assert(@offsetOf(Page, "size") == 72);
    assert(@offsetOf(Page, "time_cycles") == 80);
    assert(@offsetOf(Page, "time_mask") == 88);
    assert(@offsetOf(Page, "__reserved") == header_size_kernel);
    assert(@offsetOf(Page, "data_head") == 1024);
    assert(@offsetOf(Page, "data_tail") == 1032);
    assert(@offsetOf(Page, "aux_size") == 1080);
    assert(@sizeOf(Page) == 1088);
    assert(@sizeOf(Page) <= page_size_min);
}

/// The kernel writes `size = offsetof(struct perf_event_mmap_page, __reserved)`.
pub const header_size_kernel = 96;
/// The smallest page of any supported target; every mapping is at least this.
pub const page_size_min = 4096;
/// `size` must cover time_cycles/time_mask before cap_user_time_short is trusted.
pub const header_size_time_short = @offsetOf(Page, "time_mask") + 8;

/// Capability bits of the `capabilities` word (UAPI names without `cap_`).
pub const cap_bit0 = 1 << 0;
pub const cap_bit0_is_deprecated = 1 << 1;
pub const cap_user_rdpmc = 1 << 2;
pub const cap_user_time = 1 << 3;
pub const cap_user_time_zero = 1 << 4;
pub const cap_user_time_short = 1 << 5;

pub const Capabilities = struct {
    user_rdpmc: bool,
    user_time: bool,
    user_time_zero: bool,
    user_time_short: bool,
};

/// Decodes the capability word of a page whose header is `header_size` bytes.
/// Before Linux 3.12 bit 0 stood for both rdpmc and time (the bits aliased);
/// `bit0_is_deprecated` tells the newer layout apart.
pub fn decodeCapabilities(word: u64, header_size: u32) Capabilities {
    if (word & cap_bit0_is_deprecated == 0) {
        const both = word & cap_bit0 != 0;
        return .{ .user_rdpmc = both, .user_time = both, .user_time_zero = false, .user_time_short = false };
    }
    const short_trusted = header_size >= header_size_time_short;
    return .{
        .user_rdpmc = word & cap_user_rdpmc != 0,
        .user_time = word & cap_user_time != 0,
        .user_time_zero = word & cap_user_time_zero != 0,
        .user_time_short = short_trusted and word & cap_user_time_short != 0,
    };
}

/// Loads a page field with acquire ordering: the seqlock's closing re-read of
/// `lock` must not move before any field read (Zig has no standalone fence).
pub inline fn load(comptime T: type, field: *const T) T {
    return @atomicLoad(T, field, .acquire);
}

test "capabilities decode new and pre-3.12 layouts" {
    const new = decodeCapabilities(cap_bit0_is_deprecated | cap_user_rdpmc | cap_user_time_short, header_size_kernel);
    try std.testing.expect(new.user_rdpmc and !new.user_time and new.user_time_short);
    const short_untrusted = decodeCapabilities(cap_bit0_is_deprecated | cap_user_time_short, 72);
    try std.testing.expect(!short_untrusted.user_time_short);
    const old = decodeCapabilities(cap_bit0, 0);
    try std.testing.expect(old.user_rdpmc and old.user_time);
    // What a software event shows on this VM (DESIGN.md, measured facts).
    const software = decodeCapabilities(0x2, header_size_kernel);
    try std.testing.expect(!software.user_rdpmc and !software.user_time);
}
