//! Architectures without a userspace counter reader: every read is `read()`.
const std = @import("std");

pub const has_reader = false;
pub const index_max = 0;

pub fn readCounter(index: u32) u64 {
    // Never called: has_reader = false keeps the seqlock path off.
    std.debug.assert(index == 0);
    return 0;
}

pub fn readTimestamp() u64 {
    return 0;
}
