//! The userspace read of a counter (self-monitoring) and its retry policy.
//!
//! Generic over an environment that supplies the page memory, the register
//! reader, the timestamp, sched_yield and the read() fallback, so tests and
//! simulated counters drive the very loop that real counters run.
//!
//! An `Env` type provides:
//!   page: *const Page
//!   index_max: u32                                     (highest readable index)
//!   fn readRegister(env: *Env, index: u32) u64         (1 <= index <= index_max)
//!   fn readTimestamp(env: *Env) u64
//!   fn yield(env: *Env) void
//!   fn readSyscall(env: *Env, failure: *Failure) Error!Syscall
//!   fn readKnob(env: *Env) ?i64                        (only for `decideAccess`/`readGated`)
const std = @import("std");
const assert = std.debug.assert;
const page_mod = @import("page.zig");
const time = @import("time.zig");
const errno = @import("errno.zig");

const Page = page_mod.Page;
const load = page_mod.load;

/// Attempts 1..attempts_fast_max spin without yielding.
pub const attempts_fast_max = 1000;
/// After this many attempts the read fails with RETRY_EXHAUSTED.
pub const attempts_max = 50_000;
/// Every attempt after the fast phase yields first.
pub const yields_max = attempts_max - attempts_fast_max;

/// read()-served reads that the knob may explain (the verdict is off, or an
/// index 0 outlasted the fast phase) between two looks at the knob. A look
/// opens, reads and closes a /proc or /sys file, about three read(2)s; once
/// per 1024 reads that each cost a read(2) it adds about 0.3%.
pub const knob_recheck_reads = 1024;

comptime {
    assert(attempts_fast_max >= 1);
    assert(attempts_fast_max < attempts_max);
    assert(yields_max == 49_000);
    assert(std.math.isPowerOfTwo(knob_recheck_reads));
    // A knob turned off mid-run is noticed after at most this many fallbacks,
    // each of them attempts_fast_max spins: bounded, and rare next to reads.
    assert(knob_recheck_reads <= attempts_fast_max * 2);
}

pub const Source = enum(u8) { userspace = 1, syscall = 2 };

/// What the read() fallback returns.
pub const Syscall = struct {
    value: u64,
    time_enabled_ns: u64,
    time_running_ns: u64,
};

pub const Reading = struct {
    value: u64,
    time_enabled_ns: u64,
    time_running_ns: u64,
    source: Source,
    /// The page's index and pmc_width of the successful attempt (0 for syscall).
    index: u32,
    pmc_width: u16,
};

/// Counts of the last read, written on every path (including failures).
pub const Counts = struct {
    attempts: u32 = 0,
    yields: u32 = 0,
};

pub const Policy = struct {
    /// The caller's verdict on everything but the page contents: mode not off,
    /// page mapped, arch has a reader, counter not disabled by the core.
    userspace_allowed: bool,
    /// Persistent index == 0 after the fast phase is served by read().
    fallback: bool,
    /// Read time_enabled/time_running (and extrapolate them); pm_read skips it.
    want_time: bool,
    /// The knob's verdict (`Access`) applies: mode auto. Mode require keeps
    /// its own open-time checks and never turns into read() on a verdict.
    knob_gated: bool = false,
};

/// Whether userspace reads are off for good, and when to look at the knob
/// again. The page alone cannot tell "off for good" from "not now": arm64
/// with kernel.perf_user_access=0 keeps cap_user_rdpmc=1 and leaves index 0
/// forever, which is also what a multiplexed-out event shows for a while.
/// The machine's knob tells them apart (arm64 perf_user_access, x86 rdpmc);
/// it can change at any time (root writes it), so the verdict is taken again
/// at open, at enable, and every `knob_recheck_reads` read()-served reads.
pub const Access = struct {
    /// Every read goes to read() at once, with no attempt.
    off: bool = false,
    /// read()-served reads the knob may explain since the last look.
    syscall_reads: u32 = 0,
};

/// The verdict from a page and the knob's value: off when the page withholds
/// userspace reads (cap_user_rdpmc 0) or the knob forbids them (0). A knob
/// that is on, or that cannot be read (`null`), leaves an index 0 to the
/// retry policy as transient.
pub fn accessOff(user_rdpmc: bool, knob: ?i64) bool {
    if (!user_rdpmc) return true;
    const value = knob orelse return false;
    return value == 0;
}

/// Takes the verdict afresh. The knob is read only for a page that offers
/// userspace reads: a software event's page says "off" by itself, so opening
/// one costs no file read.
pub fn decideAccess(comptime Env: type, env: *Env, access: *Access) void {
    const user_rdpmc = userRdpmc(env.page);
    access.* = .{ .off = accessOff(user_rdpmc, if (user_rdpmc) env.readKnob() else null) };
    assert(user_rdpmc or access.off);
}

/// `read` under the verdict (`policy.knob_gated`): off for good goes to
/// read() with no attempt; otherwise the retry policy runs as always. Every
/// `knob_recheck_reads`-th read()-served read that the knob may explain
/// takes the verdict again, so a knob turned on is used and a knob turned
/// off stops the spinning. The caller compares `access.off` before and after
/// to learn whether the verdict changed.
pub inline fn readGated(comptime Env: type, env: *Env, policy: Policy, access: *Access, counts: *Counts, failure: *errno.Failure) Error!Reading {
    // One inlined `read` only: each copy instantiates the arm64 register
    // switch, whose comptime cost would exceed the branch quota twice over.
    var gated = policy;
    gated.userspace_allowed = policy.userspace_allowed and !(policy.knob_gated and access.off);
    const reading = try read(Env, env, gated, counts, failure);
    if (!policy.knob_gated) return reading;
    const knob_may_explain = access.off or counts.attempts > 0;
    if (reading.source == .syscall and policy.userspace_allowed and knob_may_explain) {
        access.syscall_reads += 1;
        if (access.syscall_reads >= knob_recheck_reads) decideAccess(Env, env, access);
    }
    assert(access.syscall_reads < knob_recheck_reads);
    return reading;
}

pub const Error = error{ RetryExhausted, Failed };

/// A valid pmc_width is 1..64: 0 or more than 64 means the page is mid-update
/// or corrupt, and the read retries.
pub fn widthValid(width: u16) bool {
    return width >= 1 and width <= 64;
}

/// `raw` holds a `width`-bit two's-complement count; the register may carry
/// garbage above it.
pub fn signExtend(raw: u64, width: u16) u64 {
    assert(widthValid(width));
    const shift: u6 = @intCast(64 - @as(u32, width));
    const shifted: i64 = @bitCast(raw << shift);
    return @bitCast(shifted >> shift);
}

const Snapshot = struct {
    value: u64,
    index: u32,
    pmc_width: u16,
    time_enabled: u64,
    time_running: u64,
    time_delta: u64,
};

const Attempt = enum {
    /// The snapshot is consistent.
    done,
    /// Odd lock, a lock that moved, or a bad pmc_width: try again.
    retry,
    /// The counter is not on a register now (or on one we cannot read).
    index_zero,
};

/// Inline, so that `counts` and the Reading stay in the caller's registers:
/// out of line, the caller copied `counts` with one 8-byte load right after
/// this function's 4-byte store of `attempts`, a store-forwarding stall on
/// every read.
///
/// `counts` arrives as the caller set it: zero, or one attempt already made
/// by a caller's fast path (pm_read's `readFast`), which this loop continues
/// so the policy's bounds hold for the attempts really made.
pub inline fn read(comptime Env: type, env: *Env, policy: Policy, counts: *Counts, failure: *errno.Failure) Error!Reading {
    assert(counts.attempts <= 1);
    assert(counts.yields == 0);
    // An attempt already made (attempts 1) means the caller's fast path saw
    // the page as readable a moment ago; another thread may since have
    // disabled the counter or taken a verdict of "off", and the read then
    // goes to read() with that one attempt counted.
    if (!policy.userspace_allowed or !userRdpmc(env.page)) return syscallReading(Env, env, failure);
    while (counts.attempts < attempts_max) {
        if (counts.attempts >= attempts_fast_max) {
            env.yield();
            counts.yields += 1;
        }
        counts.attempts += 1;
        // The snapshot stays a local the attempt fills in place: returned
        // inside a tagged union it went through memory, and the 16-byte load
        // of time_enabled/time_running after two 8-byte stores stalled store
        // forwarding on every read.
        var snapshot: Snapshot = undefined;
        switch (attempt(Env, env, policy.want_time, &snapshot)) {
            .done => return userspaceReading(snapshot),
            .retry => {},
            .index_zero => if (policy.fallback and counts.attempts >= attempts_fast_max) {
                return syscallReading(Env, env, failure);
            },
        }
    }
    assert(counts.attempts == attempts_max);
    assert(counts.yields == yields_max);
    return error.RetryExhausted;
}

pub fn userRdpmc(page: *const Page) bool {
    // The header size only qualifies user_time_short; reading it here would
    // cost the hot path an (atomic, so never elided) load for nothing.
    const word = load(u64, &page.capabilities);
    return page_mod.decodeCapabilities(word, 0).user_rdpmc;
}

fn syscallReading(comptime Env: type, env: *Env, failure: *errno.Failure) Error!Reading {
    const result = try env.readSyscall(failure);
    return .{
        .value = result.value,
        .time_enabled_ns = result.time_enabled_ns,
        .time_running_ns = result.time_running_ns,
        .source = .syscall,
        .index = 0,
        .pmc_width = 0,
    };
}

fn userspaceReading(snapshot: Snapshot) Reading {
    assert(snapshot.index != 0);
    assert(widthValid(snapshot.pmc_width));
    // As in the UAPI header: running grows only while on a register.
    return .{
        .value = snapshot.value,
        .time_enabled_ns = snapshot.time_enabled +% snapshot.time_delta,
        .time_running_ns = snapshot.time_running +% snapshot.time_delta,
        .source = .userspace,
        .index = snapshot.index,
        .pmc_width = snapshot.pmc_width,
    };
}

/// One seqlock attempt without times, for pm_read's fast path: the value, or
/// null at the first sign of anything but a clean read (odd lock, index 0 or
/// out of range, bad width, a lock that moved). It returns a value exactly
/// when `attempt` would return `.done`, and the caller's policy, which counts
/// this as its first attempt, classifies the rest. Giving up early instead of
/// reading every field first keeps the hot path to straight-line loads and
/// predicted branches (no flags recomputed after the register read).
pub inline fn attemptValue(comptime Env: type, env: *Env) ?u64 {
    const page = env.page;
    const lock_before = load(u32, &page.lock);
    if (lock_before & 1 != 0) return null;
    const index = load(u32, &page.index);
    const offset = load(i64, &page.offset);
    const width = load(u16, &page.pmc_width);
    if (index == 0 or index > Env.index_max or !widthValid(width)) return null;
    const value = @as(u64, @bitCast(offset)) +% signExtend(env.readRegister(index), width);
    if (load(u32, &page.lock) != lock_before) return null;
    return value;
}

/// `attemptValue` with the times, extrapolated as `attempt` does (for a
/// page with cap_user_time, which the caller checked): a group read's
/// fast attempt on its leader (group_read.zig), whose times are the
/// group's. `times` is written only when a value is returned. The
/// capabilities are decoded only for times that need extrapolating.
pub inline fn attemptValueAndTimes(comptime Env: type, env: *Env, times: *[2]u64) ?u64 {
    const page = env.page;
    const lock_before = load(u32, &page.lock);
    if (lock_before & 1 != 0) return null;
    const enabled = load(u64, &page.time_enabled);
    const running = load(u64, &page.time_running);
    const index = load(u32, &page.index);
    const offset = load(i64, &page.offset);
    const width = load(u16, &page.pmc_width);
    if (index == 0 or index > Env.index_max or !widthValid(width)) return null;
    const value = @as(u64, @bitCast(offset)) +% signExtend(env.readRegister(index), width);
    const delta = if (enabled == running) 0 else delta: {
        const capabilities = page_mod.decodeCapabilities(load(u64, &page.capabilities), load(u32, &page.size));
        break :delta timeDelta(Env, env, capabilities.user_time_short);
    };
    if (load(u32, &page.lock) != lock_before) return null;
    times.* = .{ enabled +% delta, running +% delta };
    return value;
}

/// One pass of the seqlock: every field is read between two reads of `lock`.
inline fn attempt(comptime Env: type, env: *Env, want_time: bool, snapshot: *Snapshot) Attempt {
    const page = env.page;
    const lock_before = load(u32, &page.lock);
    if (lock_before & 1 != 0) return .retry;
    snapshot.* = .{ .value = 0, .index = 0, .pmc_width = 0, .time_enabled = 0, .time_running = 0, .time_delta = 0 };
    if (want_time) timeFields(Env, env, snapshot);
    snapshot.index = load(u32, &page.index);
    const offset = load(i64, &page.offset);
    snapshot.pmc_width = load(u16, &page.pmc_width);
    const readable = snapshot.index != 0 and snapshot.index <= Env.index_max;
    const width_valid = widthValid(snapshot.pmc_width);
    if (readable and width_valid) {
        const raw = env.readRegister(snapshot.index);
        snapshot.value = @as(u64, @bitCast(offset)) +% signExtend(raw, snapshot.pmc_width);
    }
    if (load(u32, &page.lock) != lock_before) return .retry;
    if (!readable) return .index_zero;
    if (!width_valid) return .retry;
    return .done;
}

fn timeFields(comptime Env: type, env: *Env, snapshot: *Snapshot) void {
    const page = env.page;
    snapshot.time_enabled = load(u64, &page.time_enabled);
    snapshot.time_running = load(u64, &page.time_running);
    const capabilities = page_mod.decodeCapabilities(load(u64, &page.capabilities), load(u32, &page.size));
    if (!capabilities.user_time or snapshot.time_enabled == snapshot.time_running) return;
    snapshot.time_delta = timeDelta(Env, env, capabilities.user_time_short);
}

/// Nanoseconds since the page's times were written, from its time fields
/// and the timestamp counter (a page with cap_user_time).
fn timeDelta(comptime Env: type, env: *Env, user_time_short: bool) u64 {
    const page = env.page;
    const fields: time.TimeFields = .{
        .time_mult = load(u32, &page.time_mult),
        .time_shift = load(u16, &page.time_shift),
        .time_offset = load(u64, &page.time_offset),
        .time_cycles = load(u64, &page.time_cycles),
        .time_mask = load(u64, &page.time_mask),
        .user_time_short = user_time_short,
    };
    return time.delta(fields, env.readTimestamp());
}
