//! Extrapolation of time_enabled/time_running from a timestamp counter, as in
//! the perf_event_mmap_page comment of the UAPI header.
const std = @import("std");
const assert = std.debug.assert;

pub const TimeFields = struct {
    time_mult: u32,
    time_shift: u16,
    time_offset: u64,
    /// Used only when `user_time_short` is set.
    time_cycles: u64,
    time_mask: u64,
    user_time_short: bool,
};

/// The kernel's shifts stay far below this; above it the u64 split of the
/// multiply would overflow, so a wider multiply takes over.
const shift_split_max = 32;

/// Nanoseconds to add to time_enabled (and to time_running while the counter is
/// on a register) for a timestamp read now. Wraps modulo 2^64 like the kernel,
/// which may store a "negative" time_offset.
pub fn delta(fields: TimeFields, timestamp: u64) u64 {
    const cycles = if (fields.user_time_short)
        fields.time_cycles +% ((timestamp -% fields.time_cycles) & fields.time_mask)
    else
        timestamp;
    if (fields.time_shift > 63) return fields.time_offset;
    const shift: u6 = @intCast(fields.time_shift);
    const mult: u64 = fields.time_mult;
    if (fields.time_shift > shift_split_max) {
        const product: u128 = @as(u128, cycles) * mult;
        return fields.time_offset +% @as(u64, @truncate(product >> shift));
    }
    // quotient * mult wraps like the kernel's; remainder * mult < 2^64
    // because remainder < 2^32 and mult < 2^32.
    const quotient = cycles >> shift;
    const remainder = cycles & ((@as(u64, 1) << shift) - 1);
    assert(remainder <= std.math.maxInt(u32));
    return fields.time_offset +% quotient *% mult +% ((remainder * mult) >> shift);
}

fn deltaReference(fields: TimeFields, timestamp: u64) u64 {
    var cycles: u128 = timestamp;
    if (fields.user_time_short) {
        const elapsed = (@as(u128, timestamp) + (1 << 64) - fields.time_cycles) % (1 << 64);
        cycles = (@as(u128, fields.time_cycles) + (elapsed & fields.time_mask)) % (1 << 64);
    }
    const scaled = (cycles * fields.time_mult) >> @intCast(@min(fields.time_shift, 127));
    return @truncate((scaled + fields.time_offset) % (1 << 64));
}

test "time delta matches a 128-bit reference over random inputs" {
    var prng: std.Random.DefaultPrng = .init(0x5eed_7143);
    const random = prng.random();
    var i: u32 = 0;
    while (i < 200_000) : (i += 1) {
        const mask_bits = random.intRangeAtMost(u7, 1, 64);
        const fields: TimeFields = .{
            .time_mult = random.int(u32),
            .time_shift = random.intRangeAtMost(u16, 0, 63),
            .time_offset = random.int(u64),
            .time_cycles = random.int(u64),
            .time_mask = if (mask_bits == 64) std.math.maxInt(u64) else (@as(u64, 1) << @intCast(mask_bits)) - 1,
            .user_time_short = random.boolean(),
        };
        const timestamp = random.int(u64);
        try std.testing.expectEqual(deltaReference(fields, timestamp), delta(fields, timestamp));
    }
}

test "time delta of typical x86 and arm64 values" {
    // 3 GHz TSC: mult/2^shift = 1/3 ns per cycle.
    const fields: TimeFields = .{
        .time_mult = 1431655765,
        .time_shift = 32,
        .time_offset = 0,
        .time_cycles = 0,
        .time_mask = 0,
        .user_time_short = false,
    };
    try std.testing.expectEqual(@as(u64, 999_999_999), delta(fields, 3_000_000_000));
    // A 56-bit arm64 counter that wrapped: the short form keeps it continuous.
    const short: TimeFields = .{
        .time_mult = 1 << 20,
        .time_shift = 20,
        .time_offset = 0,
        .time_cycles = (1 << 56) - 10,
        .time_mask = (1 << 56) - 1,
        .user_time_short = true,
    };
    try std.testing.expectEqual(@as(u64, (1 << 56) + 5), delta(short, 5));
}
