//! The read of a whole group in one call (ABI.md: pm_group_read): every
//! member under its own seqlock, by the retry policy of self_read.zig, into
//! the caller's slots, with no allocation; or the whole group by one group
//! read(2) when any member cannot be read from userspace.
//!
//! Why the whole group and never a mix: the members of a group are counted
//! together, and a reader scales them all by one pair of times. Values from
//! registers beside values from read(2) would each carry their own instant
//! and their own times; one read(2) keeps the record one snapshot.
//!
//! The group's times come from the leader's page, extrapolated as
//! self_read.zig does for one counter, which needs `cap_user_time`. Without
//! it the page's times are only as fresh as the last schedule-in, so such a
//! group is served by read(2), times and all.
//!
//! Simulated counters form a group with `joinSimulated` (pm_sim_join); their
//! "read(2)" is each member's simulated syscall value, with the leader's
//! simulated syscall times.
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
const reader = @import("reader.zig");

const Counter = counter_mod.Counter;
const Page = page_mod.Page;
const Failure = errno.Failure;

/// The output slots, shared by pm_read_values and pm_group_read (ABI.md):
/// the header, then `member_slots` slots per member.
pub const slot_nr = 0;
pub const slot_time_enabled = 1;
pub const slot_time_running = 2;
pub const slot_members = 3;
/// Within one member's slots.
pub const member_value = 0;
pub const member_id = 1;
pub const member_lost = 2;
pub const member_slots = 3;

/// Slots a record of `nr` members fills.
pub fn slotsFor(nr: usize) usize {
    return slot_members + member_slots * nr;
}

comptime {
    assert(slot_nr == 0 and slot_time_enabled == 1 and slot_time_running == 2);
    assert(slot_members == slot_time_running + 1);
    assert(member_value == 0 and member_id == 1 and member_lost == 2);
    assert(member_lost < member_slots);
    // The largest record the core decodes fits the largest output.
    assert(slotsFor(read_format.group_members_max) == read_format.words_max);
}

/// pm_group_read's result: which path served the group (the numbers of
/// pm_read_detailed's source slot).
pub const Source = self_read.Source;

comptime {
    assert(@backingInt(Source.userspace) == 1);
    assert(@backingInt(Source.syscall) == 2);
}

/// The members a call has entered (handles.zig), leader first, and how each
/// was entered, so that each is left the same way.
pub const Members = struct {
    counters: [read_format.group_members_max]*Counter = undefined,
    owner: [read_format.group_members_max]bool = undefined,
    count: u32 = 0,

    /// Enters every handle's slot, as pm_read does: the opener's thread with
    /// a plain store, any other with an atomic add. On failure the slots
    /// entered so far are left.
    pub fn enter(members: *Members, list: []const i32) handles.LookupError!void {
        assert(list.len >= 1 and list.len <= read_format.group_members_max);
        assert(members.count == 0);
        errdefer members.leave();
        for (list) |handle| {
            var owner = false;
            const counter = entered: {
                if (handles.isOwner(handle)) {
                    if (handles.enterOwner(handle)) |counter| {
                        owner = true;
                        break :entered counter;
                    } else |_| {}
                }
                break :entered try handles.enter(handle);
            };
            members.counters[members.count] = counter;
            members.owner[members.count] = owner;
            members.count += 1;
        }
        assert(members.count == list.len);
    }

    pub fn leave(members: *Members) void {
        for (members.counters[0..members.count], members.owner[0..members.count]) |counter, owner| {
            if (owner) handles.leaveOwner(counter) else handles.leave(counter);
        }
        members.count = 0;
    }

    pub fn slice(members: *const Members) []const *Counter {
        return members.counters[0..members.count];
    }
};

/// Whether `members` is a group as the caller must give it: the leader
/// first, then members of that leader in the order they joined it (no
/// repeats; a subset is allowed), all real or all simulated.
pub fn isGroup(members: []const *Counter) bool {
    assert(members.len >= 1);
    const leader = members[0];
    if (leader.leader_handle != 0) return false;
    var position = leader.group_position;
    for (members[1..]) |member| {
        if (member.leader_handle != leader.handle) return false;
        if (member.simulated != leader.simulated) return false;
        if (member.group_position <= position) return false;
        position = member.group_position;
    }
    return true;
}

/// Reads the group into `slots` (f64 slots, or u64 slots when `exact`).
/// The caller has entered every member and checked `isGroup`.
pub fn read(members: []const *Counter, slots: []u64, exact: bool, failure: *Failure) errno.Error!Source {
    assert(members.len >= 1 and members.len <= read_format.group_members_max);
    assert(isGroup(members));
    if (!userspaceServes(members)) return readSyscall(members, slots, exact, 0, failure);
    if (slots.len < slotsFor(members.len)) return errno.fail(failure, errno.fromErrno(.RANGE));
    var times: [2]u64 = .{ 0, 0 };
    for (members, 0..) |member, i| {
        const leads = i == 0;
        const reading = try readMember(member, members[0], leads, failure);
        if (reading.source == .syscall) return readSyscall(members, slots, exact, i + 1, failure);
        assert(reading.source == .userspace);
        if (leads) times = .{ reading.time_enabled_ns, reading.time_running_ns };
        const base = slotsFor(i);
        put(slots, base + member_value, reading.value, exact);
        put(slots, base + member_id, member.id, exact);
        put(slots, base + member_lost, 0, exact);
    }
    put(slots, slot_nr, members.len, exact);
    put(slots, slot_time_enabled, times[0], exact);
    put(slots, slot_time_running, times[1], exact);
    for (members) |member| member.stats.reads_userspace += 1;
    return .userspace;
}

/// Whether every member may be read from userspace at all now, checked
/// before any seqlock is read: a group with a software member (its page
/// has no cap_user_rdpmc), a member without a page or with userspace reads
/// off (mode off, disabled, another task, the knob), a leader whose page
/// cannot extrapolate the times, or a format asking for lost counts (which
/// no page holds) goes to read(2) at once, with no attempt.
fn userspaceServes(members: []const *Counter) bool {
    const leader = members[0];
    if (leader.read_format & attr_mod.PERF_FORMAT_LOST != 0) return false;
    const leader_page = leader.page() orelse return false;
    const leader_capabilities = page_mod.decodeCapabilities(
        page_mod.load(u64, &leader_page.capabilities),
        page_mod.load(u32, &leader_page.size),
    );
    if (!leader_capabilities.user_time) return false;
    for (members, 0..) |member, i| {
        const member_leader: ?*const Counter = if (i == 0) null else leader;
        if (!counter_mod.userspaceAllowed(member, member_leader)) return false;
        // Null also when the core found userspace reads off for good (the
        // machine's knob), as reader.refreshFast keeps it.
        const member_page = member.fast_page orelse return false;
        if (!self_read.userRdpmc(member_page)) return false;
    }
    return true;
}

/// One member by the retry policy. A member the policy would serve by its
/// own read() comes back with source syscall, its read() not made: the
/// caller then serves the whole group by one read(2).
fn readMember(member: *Counter, leader: *Counter, leads: bool, failure: *Failure) errno.Error!self_read.Reading {
    const policy: self_read.Policy = .{
        .userspace_allowed = counter_mod.userspaceAllowed(member, if (leads) null else leader),
        .fallback = member.fallback,
        .want_time = leads,
    };
    // userspaceServes saw the page a moment ago, and only a close (which
    // waits for this call to leave) or a remap (which keeps callers out)
    // takes it away.
    const page = member.page().?;
    var counts: self_read.Counts = .{};
    const result = if (member.simulated) result: {
        var env: MemberEnv(true) = .{ .page = page, .counter = member };
        break :result self_read.read(MemberEnv(true), &env, policy, &counts, failure);
    } else result: {
        var env: MemberEnv(false) = .{ .page = page, .counter = member };
        break :result self_read.read(MemberEnv(false), &env, policy, &counts, failure);
    };
    member.stats.last_attempts = counts.attempts;
    member.stats.last_yields = counts.yields;
    const reading = result catch |err| switch (err) {
        error.Failed => return error.Failed,
        error.RetryExhausted => {
            reader.noteExhausted(member);
            return errno.fail(failure, errno.fromCode(.RETRY_EXHAUSTED));
        },
    };
    if (reading.source == .syscall and counts.attempts > 0) member.stats.index_zero_fallbacks += 1;
    return reading;
}

/// The environment of self_read.zig for one member: its page and register.
/// Its read() is never made (see readMember).
fn MemberEnv(comptime simulated: bool) type {
    return struct {
        const Env = @This();

        page: *const Page,
        counter: *Counter,

        pub const index_max: u32 = if (simulated) std.math.maxInt(u32) else arch.reader.index_max;

        pub inline fn readRegister(env: *Env, index: u32) u64 {
            assert(index != 0);
            if (simulated) return @atomicLoad(u64, &env.counter.sim_state.register, .acquire);
            return arch.reader.readCounter(index);
        }

        pub inline fn readTimestamp(env: *Env) u64 {
            if (simulated) return @atomicLoad(u64, &env.counter.sim_state.timestamp, .acquire);
            return arch.reader.readTimestamp();
        }

        pub fn yield(_: *Env) void {
            syscalls.schedYield();
        }

        pub fn readSyscall(_: *Env, _: *Failure) errno.Error!self_read.Syscall {
            return .{ .value = 0, .time_enabled_ns = 0, .time_running_ns = 0 };
        }
    };
}

/// The whole group by one read(2) of the leader (a simulated group: its
/// members' simulated read() values). The first `tried` members went
/// through the policy first and keep its counts in their stats; the others
/// made no attempt.
fn readSyscall(members: []const *Counter, slots: []u64, exact: bool, tried: usize, failure: *Failure) errno.Error!Source {
    assert(tried <= members.len);
    for (members[tried..]) |member| {
        member.stats.last_attempts = 0;
        member.stats.last_yields = 0;
    }
    const leader = members[0];
    if (leader.simulated) {
        try putSimulated(members, slots, exact, failure);
    } else {
        var words: [read_format.words_max]u64 = undefined;
        const decoded = try reader.readDecoded(leader, &words, failure);
        try putDecoded(slots, &decoded, exact, failure);
    }
    for (members) |member| member.stats.reads_syscall += 1;
    return .syscall;
}

/// A decoded read() record into the slots (pm_read_values and the group
/// read's syscall path): `-ERANGE` when it does not fit.
pub fn putDecoded(slots: []u64, decoded: *const read_format.Decoded, exact: bool, failure: *Failure) errno.Error!void {
    if (slotsFor(decoded.nr) > slots.len) return errno.fail(failure, errno.fromErrno(.RANGE));
    put(slots, slot_nr, decoded.nr, exact);
    put(slots, slot_time_enabled, decoded.time_enabled, exact);
    put(slots, slot_time_running, decoded.time_running, exact);
    var i: u32 = 0;
    while (i < decoded.nr) : (i += 1) {
        const member = decoded.member(i);
        const base = slotsFor(i);
        put(slots, base + member_value, member.value, exact);
        put(slots, base + member_id, member.id, exact);
        put(slots, base + member_lost, member.lost, exact);
    }
}

/// A simulated group's read(2): the members given, each its simulated
/// syscall value and its id, with the leader's simulated syscall times.
fn putSimulated(members: []const *Counter, slots: []u64, exact: bool, failure: *Failure) errno.Error!void {
    assert(members[0].simulated);
    if (slotsFor(members.len) > slots.len) return errno.fail(failure, errno.fromErrno(.RANGE));
    const leader_state = &members[0].sim_state;
    put(slots, slot_nr, members.len, exact);
    put(slots, slot_time_enabled, @atomicLoad(u64, &leader_state.syscall_time_enabled, .acquire), exact);
    put(slots, slot_time_running, @atomicLoad(u64, &leader_state.syscall_time_running, .acquire), exact);
    for (members, 0..) |member, i| {
        const base = slotsFor(i);
        put(slots, base + member_value, @atomicLoad(u64, &member.sim_state.syscall_value, .acquire), exact);
        put(slots, base + member_id, member.id, exact);
        put(slots, base + member_lost, 0, exact);
    }
}

/// One slot: the value as an f64, or its exact u64 bits.
pub inline fn put(slots: []u64, i: usize, value: u64, exact: bool) void {
    slots[i] = if (exact) value else @bitCast(@as(f64, @floatFromInt(value)));
}

/// Ids of simulated counters, one per pm_sim_open (under the table lock),
/// from 1. Only compared within one group, like the kernel's.
var simulated_ids_issued: u64 = 0;

/// Makes the simulated counter `member` a member of the simulated `leader`'s
/// group (pm_sim_join). Caller holds the table lock.
/// EINVAL when either is already in another role: the leader a member, the
/// member a leader or a member, or the two the same counter.
pub fn joinSimulated(member: *Counter, leader: *Counter, failure: *Failure) errno.Error!void {
    if (!member.simulated or !leader.simulated) return errno.fail(failure, errno.fromCode(.NOT_SIMULATED));
    if (member == leader or leader.leader_handle != 0) return errno.fail(failure, errno.fromErrno(.INVAL));
    if (member.leader_handle != 0 or member.group_members_opened != 1) return errno.fail(failure, errno.fromErrno(.INVAL));
    assert(leader.handle > 0 and member.handle > 0);
    assert(leader.id != 0 and member.id != leader.id);
    member.leader_handle = leader.handle;
    member.leader_slot = handles.slotOfCounter(leader);
    member.group_position = leader.group_members_opened;
    leader.group_members_opened += 1;
    assert(member.group_position >= 1);
}

/// The next simulated counter's id. Caller holds the table lock.
pub fn nextSimulatedId() u64 {
    simulated_ids_issued += 1;
    return simulated_ids_issued;
}
