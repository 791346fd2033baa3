//! Decodes what read() on a perf fd returns, for every combination of the
//! PERF_FORMAT_* bits (TOTAL_TIME_ENABLED, TOTAL_TIME_RUNNING, ID, GROUP, LOST).
//!
//!   without GROUP: value, [time_enabled], [time_running], [id], [lost]
//!   with GROUP:    nr, [time_enabled], [time_running], nr * { value, [id], [lost] }
const std = @import("std");
const assert = std.debug.assert;
const attr = @import("attr.zig");

/// The most members a group read decodes (ABI.md: pm_read_values).
pub const group_members_max = 256;
/// Words of the largest record: nr, two times, then three words per member.
pub const words_max = 3 + 3 * group_members_max;

pub const Member = struct {
    value: u64,
    id: u64,
    lost: u64,
};

pub const Decoded = struct {
    words: []const u64,
    format: u64,
    nr: u32,
    time_enabled: u64,
    time_running: u64,
    members_start: usize,
    /// Words from one member's value to the next member's value.
    member_words: usize,
    /// Words from a member's value to its id (or lost): in a single record
    /// the times sit between them.
    member_tail_offset: usize,

    pub fn member(decoded: *const Decoded, i: u32) Member {
        assert(i < decoded.nr);
        const base = decoded.members_start + @as(usize, i) * decoded.member_words;
        assert(base + decoded.member_words <= decoded.words.len);
        var at = base + decoded.member_tail_offset;
        const id = if (decoded.format & attr.PERF_FORMAT_ID != 0) next(decoded.words, &at) else 0;
        const lost = if (decoded.format & attr.PERF_FORMAT_LOST != 0) next(decoded.words, &at) else 0;
        return .{ .value = decoded.words[base], .id = id, .lost = lost };
    }
};

fn next(words: []const u64, at: *usize) u64 {
    const word = words[at.*];
    at.* += 1;
    return word;
}

pub const DecodeError = error{
    /// Fewer bytes than the format requires: the record is not trusted.
    ShortRead,
    /// A group larger than group_members_max.
    TooManyMembers,
};

/// Words per group member (or of the single record's tail after the times).
pub fn memberWords(format: u64) usize {
    var words: usize = 1;
    if (format & attr.PERF_FORMAT_ID != 0) words += 1;
    if (format & attr.PERF_FORMAT_LOST != 0) words += 1;
    return words;
}

/// Decodes `count_bytes` bytes that read() put at the start of `words`.
pub fn decode(words: []const u64, count_bytes: usize, format: u64) DecodeError!Decoded {
    assert(count_bytes <= words.len * 8);
    const count_words = count_bytes / 8;
    if (count_bytes % 8 != 0 or count_words == 0) return error.ShortRead;
    const group = format & attr.PERF_FORMAT_GROUP != 0;
    const nr: u64 = if (group) words[0] else 1;
    if (nr > group_members_max) return error.TooManyMembers;
    const times = timesWords(format);
    const tail = memberWords(format) - 1;
    const members_start: usize = if (group) 1 + times else 0;
    const member_words: usize = if (group) 1 + tail else 1 + times + tail;
    if (count_words < members_start + @as(usize, @intCast(nr)) * member_words) return error.ShortRead;
    // The times follow nr in a group record and the value in a single one.
    var at: usize = 1;
    const time_enabled = if (format & attr.PERF_FORMAT_TOTAL_TIME_ENABLED != 0) next(words, &at) else 0;
    const time_running = if (format & attr.PERF_FORMAT_TOTAL_TIME_RUNNING != 0) next(words, &at) else 0;
    return .{
        .words = words[0..count_words],
        .format = format,
        .nr = @intCast(nr),
        .time_enabled = time_enabled,
        .time_running = time_running,
        .members_start = members_start,
        .member_words = member_words,
        .member_tail_offset = if (group) 1 else 1 + times,
    };
}

/// Bytes of the record read() returns for `format` and `nr` members.
pub fn recordBytes(format: u64, nr: u32) usize {
    assert(nr >= 1 and nr <= group_members_max);
    const times = timesWords(format);
    if (format & attr.PERF_FORMAT_GROUP == 0) return 8 * (1 + times + memberWords(format) - 1);
    return 8 * (1 + times + @as(usize, nr) * memberWords(format));
}

fn timesWords(format: u64) usize {
    var words: usize = 0;
    if (format & attr.PERF_FORMAT_TOTAL_TIME_ENABLED != 0) words += 1;
    if (format & attr.PERF_FORMAT_TOTAL_TIME_RUNNING != 0) words += 1;
    return words;
}

/// Encodes a record the way the kernel's perf_read_one/perf_read_group do,
/// to test the decoder against every format combination.
fn encodeForTest(format: u64, members: []const Member, time_enabled: u64, time_running: u64, out: []u64) usize {
    var at: usize = 0;
    const group = format & attr.PERF_FORMAT_GROUP != 0;
    out[at] = if (group) members.len else members[0].value;
    at += 1;
    if (format & attr.PERF_FORMAT_TOTAL_TIME_ENABLED != 0) {
        out[at] = time_enabled;
        at += 1;
    }
    if (format & attr.PERF_FORMAT_TOTAL_TIME_RUNNING != 0) {
        out[at] = time_running;
        at += 1;
    }
    for (members, 0..) |m, i| {
        if (group) {
            out[at] = m.value;
            at += 1;
        } else assert(i == 0);
        if (format & attr.PERF_FORMAT_ID != 0) {
            out[at] = m.id;
            at += 1;
        }
        if (format & attr.PERF_FORMAT_LOST != 0) {
            out[at] = m.lost;
            at += 1;
        }
    }
    return at * 8;
}

test "read_format: every combination decodes, groups up to 256 members" {
    var members: [group_members_max]Member = undefined;
    for (&members, 0..) |*m, i| m.* = .{ .value = 1000 + i, .id = 50 + i, .lost = 7 * i };
    var words: [words_max]u64 = undefined;
    var format: u64 = 0;
    while (format < attr.PERF_FORMAT_MAX) : (format += 1) {
        const group = format & attr.PERF_FORMAT_GROUP != 0;
        for ([_]u32{ 1, 2, 64, 256 }) |nr| {
            if (!group and nr != 1) continue;
            const bytes = encodeForTest(format, members[0..nr], 111, 99, &words);
            try std.testing.expectEqual(bytes, recordBytes(format, nr));
            const decoded = try decode(&words, bytes, format);
            try std.testing.expectEqual(nr, decoded.nr);
            const has_enabled = format & attr.PERF_FORMAT_TOTAL_TIME_ENABLED != 0;
            const has_running = format & attr.PERF_FORMAT_TOTAL_TIME_RUNNING != 0;
            try std.testing.expectEqual(@as(u64, if (has_enabled) 111 else 0), decoded.time_enabled);
            try std.testing.expectEqual(@as(u64, if (has_running) 99 else 0), decoded.time_running);
            var i: u32 = 0;
            while (i < nr) : (i += 1) {
                const m = decoded.member(i);
                try std.testing.expectEqual(members[i].value, m.value);
                try std.testing.expectEqual(if (format & attr.PERF_FORMAT_ID != 0) members[i].id else 0, m.id);
                try std.testing.expectEqual(if (format & attr.PERF_FORMAT_LOST != 0) members[i].lost else 0, m.lost);
            }
            // Any shorter record is refused, never half-decoded.
            try std.testing.expectError(error.ShortRead, decode(&words, bytes - 8, format));
            try std.testing.expectError(error.ShortRead, decode(&words, bytes - 3, format));
        }
    }
}

test "read_format: a group larger than the limit is refused" {
    var words: [4]u64 = @splat(0);
    words[0] = group_members_max + 1;
    try std.testing.expectError(error.TooManyMembers, decode(&words, 32, attr.PERF_FORMAT_GROUP));
}
