//! Reads a counter: binds the generic self_read loop to a real counter
//! (mmap page + arch register + read() on the fd) or a simulated one (heap
//! page + memory cells), and keeps the per-counter statistics.
const std = @import("std");
const assert = std.debug.assert;
const attr_mod = @import("attr.zig");
const page_mod = @import("page.zig");
const errno = @import("errno.zig");
const syscalls = @import("syscalls.zig");
const self_read = @import("self_read.zig");
const read_format = @import("read_format.zig");
const arch = @import("arch.zig");
const counter_mod = @import("counter.zig");
const handles = @import("handles.zig");
const sim = @import("sim.zig");

const Counter = counter_mod.Counter;
const Page = page_mod.Page;
const Failure = errno.Failure;

/// Stands in for the page of a counter that has none; never read, because
/// such a counter's policy forbids the userspace path.
const page_absent: Page = std.mem.zeroes(Page);

const RealEnv = struct {
    page: *const Page,
    counter: *Counter,

    pub const index_max: u32 = arch.reader.index_max;

    pub inline fn readRegister(_: *RealEnv, index: u32) u64 {
        return arch.reader.readCounter(index);
    }

    pub inline fn readTimestamp(_: *RealEnv) u64 {
        return arch.reader.readTimestamp();
    }

    pub fn yield(_: *RealEnv) void {
        syscalls.schedYield();
    }

    pub fn readSyscall(env: *RealEnv, failure: *Failure) errno.Error!self_read.Syscall {
        return readSyscallReal(env.counter, failure);
    }

    pub fn readKnob(_: *RealEnv) ?i64 {
        return counter_mod.userAccessKnob();
    }
};

const SimEnv = struct {
    page: *const Page,
    counter: *Counter,

    pub const index_max: u32 = std.math.maxInt(u32);

    pub inline fn readRegister(env: *SimEnv, index: u32) u64 {
        assert(index != 0);
        return @atomicLoad(u64, &env.counter.sim_state.register, .acquire);
    }

    pub inline fn readTimestamp(env: *SimEnv) u64 {
        return @atomicLoad(u64, &env.counter.sim_state.timestamp, .acquire);
    }

    pub fn yield(_: *SimEnv) void {
        syscalls.schedYield();
    }

    pub fn readSyscall(env: *SimEnv, _: *Failure) errno.Error!self_read.Syscall {
        const state = &env.counter.sim_state;
        return .{
            .value = @atomicLoad(u64, &state.syscall_value, .acquire),
            .time_enabled_ns = @atomicLoad(u64, &state.syscall_time_enabled, .acquire),
            .time_running_ns = @atomicLoad(u64, &state.syscall_time_running, .acquire),
        };
    }

    pub fn readKnob(env: *SimEnv) ?i64 {
        return sim.knob(&env.counter.sim_state);
    }
};

/// What pm_read's fast path did: served the read, made no attempt (the
/// policy would not read from userspace), or made one attempt that failed.
pub const Fast = union(enum) {
    value: u64,
    skipped,
    attempted,
};

/// The hot path of pm_read: one clean seqlock attempt. Anything else goes to
/// the whole policy, which counts this attempt as its first.
pub inline fn readFast(counter: *Counter) Fast {
    const page = counter.fast_page orelse return .skipped;
    if (!self_read.userRdpmc(page)) return .skipped;
    const value = if (counter.simulated) value: {
        var env: SimEnv = .{ .page = page, .counter = counter };
        break :value self_read.attemptValue(SimEnv, &env);
    } else value: {
        var env: RealEnv = .{ .page = page, .counter = counter };
        break :value self_read.attemptValue(RealEnv, &env);
    };
    const served = value orelse return .attempted;
    counter.stats.reads_userspace += 1;
    counter.stats.last_attempts = 1;
    counter.stats.last_yields = 0;
    return .{ .value = served };
}

/// Takes the knob's verdict afresh (mode auto, a page the policy may read),
/// then recomputes `counter.fast_page` (see Counter): the page when the
/// policy would read from userspace now, else null. Called by every export
/// that changes a counter's mapping or enabled state, after the change: so
/// the knob is read at open and at enable.
pub fn refreshFast(counter: *Counter) void {
    const leader = if (counter.leader_slot != 0) handles.liveAt(counter.leader_slot) else null;
    counter.access = .{};
    if (counter.mode == .auto and counter_mod.userspaceAllowed(counter, leader)) {
        const page = counter.page().?;
        if (counter.simulated) {
            var env: SimEnv = .{ .page = page, .counter = counter };
            self_read.decideAccess(SimEnv, &env, &counter.access);
        } else {
            var env: RealEnv = .{ .page = page, .counter = counter };
            self_read.decideAccess(RealEnv, &env, &counter.access);
        }
    }
    setFast(counter, leader);
}

/// `fast_page` from the current state and verdict, without a look at the knob.
fn setFast(counter: *Counter, leader: ?*const Counter) void {
    const allowed = counter_mod.userspaceAllowed(counter, leader) and !counter.access.off;
    counter.fast_page = if (allowed) counter.page() else null;
}

/// Reads by the retry policy and records the outcome in the counter's stats.
/// `attempts_done` is 1 when pm_read's fast path already made a failed
/// attempt, else 0.
pub inline fn read(counter: *Counter, want_time: bool, attempts_done: u32, failure: *Failure) errno.Error!self_read.Reading {
    assert(attempts_done <= 1);
    const leader = if (counter.leader_slot != 0) handles.liveAt(counter.leader_slot) else null;
    const policy: self_read.Policy = .{
        .userspace_allowed = counter_mod.userspaceAllowed(counter, leader),
        .fallback = counter.fallback,
        .want_time = want_time,
        .knob_gated = counter.mode == .auto,
    };
    const page: *const Page = counter.page() orelse &page_absent;
    var counts: self_read.Counts = .{ .attempts = attempts_done };
    const off_before = counter.access.off;
    const result = if (counter.simulated) result: {
        var env: SimEnv = .{ .page = page, .counter = counter };
        break :result self_read.readGated(SimEnv, &env, policy, &counter.access, &counts, failure);
    } else result: {
        var env: RealEnv = .{ .page = page, .counter = counter };
        break :result self_read.readGated(RealEnv, &env, policy, &counter.access, &counts, failure);
    };
    if (counter.access.off != off_before) setFast(counter, leader);
    counter.stats.last_attempts = counts.attempts;
    counter.stats.last_yields = counts.yields;
    const reading = result catch |err| switch (err) {
        error.Failed => return error.Failed,
        error.RetryExhausted => {
            noteExhausted(counter);
            return errno.fail(failure, errno.fromCode(.RETRY_EXHAUSTED));
        },
    };
    switch (reading.source) {
        .userspace => counter.stats.reads_userspace += 1,
        .syscall => {
            counter.stats.reads_syscall += 1;
            if (counts.attempts > 0) counter.stats.index_zero_fallbacks += 1;
        },
    }
    return reading;
}

/// The first exhaustion of a counter writes one line to stderr; later ones
/// only count, so a wedged counter cannot flood the log.
pub fn noteExhausted(counter: *Counter) void {
    counter.stats.retry_exhausted += 1;
    if (counter.stats.exhaustion_log_lines != 0) return;
    counter.stats.exhaustion_log_lines = 1;
    var line: [256]u8 = undefined;
    const text = std.fmt.bufPrint(&line, "perfmmap: counter {d}: userspace read gave up after {d} attempts ({d} yields): " ++
        "RETRY_EXHAUSTED; further exhaustions of this counter are counted, not logged\n", .{
        counter.handle, self_read.attempts_max, self_read.yields_max,
    }) catch line[0..0];
    syscalls.writeStderr(text);
}

/// read() on the fd, decoded by the counter's read_format into this counter's
/// value and times.
fn readSyscallReal(counter: *Counter, failure: *Failure) errno.Error!self_read.Syscall {
    var words: [read_format.words_max]u64 = undefined;
    const decoded = try readDecoded(counter, &words, failure);
    const member = decoded.member(memberIndex(counter, &decoded));
    return .{ .value = member.value, .time_enabled_ns = decoded.time_enabled, .time_running_ns = decoded.time_running };
}

pub fn readDecoded(counter: *Counter, words: *[read_format.words_max]u64, failure: *Failure) errno.Error!read_format.Decoded {
    assert(counter.fd >= 0);
    const count = try syscalls.readOnce(counter.fd, std.mem.sliceAsBytes(words), failure);
    // A pinned counter that could not be scheduled reads as end-of-file.
    if (count == 0) return errno.fail(failure, errno.fromErrno(.NODATA));
    return read_format.decode(words, count, counter.read_format) catch |err| switch (err) {
        error.ShortRead => errno.fail(failure, errno.fromErrno(.IO)),
        error.TooManyMembers => errno.fail(failure, errno.fromErrno(.RANGE)),
    };
}

/// Which member of a group record is this counter: by id when the format has
/// ids, else by the position it was opened in.
fn memberIndex(counter: *const Counter, decoded: *const read_format.Decoded) u32 {
    assert(decoded.nr >= 1);
    if (counter.read_format & attr_mod.PERF_FORMAT_GROUP == 0) return 0;
    if (counter.read_format & attr_mod.PERF_FORMAT_ID != 0) {
        var i: u32 = 0;
        while (i < decoded.nr) : (i += 1) {
            if (decoded.member(i).id == counter.id) return i;
        }
    }
    return @min(counter.group_position, decoded.nr - 1);
}
