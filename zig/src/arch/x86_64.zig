//! x86_64 register reader: `rdpmc` with ECX = index - 1, `rdtsc` for time.
const std = @import("std");
const assert = std.debug.assert;

pub const has_reader = true;
/// rdpmc takes any ECX; the kernel decides which indices it hands out.
pub const index_max = std.math.maxInt(u32);

pub inline fn readCounter(index: u32) u64 {
    assert(index >= 1);
    var low: u32 = undefined;
    var high: u32 = undefined;
    asm volatile ("rdpmc"
        : [low] "={eax}" (low),
          [high] "={edx}" (high),
        : [counter] "{ecx}" (index - 1),
    );
    return (@as(u64, high) << 32) | low;
}

pub inline fn readTimestamp() u64 {
    var low: u32 = undefined;
    var high: u32 = undefined;
    asm volatile ("rdtsc"
        : [low] "={eax}" (low),
          [high] "={edx}" (high),
    );
    return (@as(u64, high) << 32) | low;
}
