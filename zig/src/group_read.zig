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

/// The output slots, shared by pm_read_values and pm_group_read (ABI.md),
/// named as `GROUP_SLOTS` in src/ffi/symbols.ts (test/abi.test.ts compares
/// them): the header, then `member_stride` slots per member from
/// `members` on, each `value`, `id`, `lost` from the member's first slot.
pub const GroupSlots = struct {
    pub const nr = 0;
    pub const time_enabled = 1;
    pub const time_running = 2;
    pub const members = 3;
    pub const member_stride = 3;
    pub const value = 0;
    pub const id = 1;
    pub const lost = 2;
};

const Slots = GroupSlots;

/// Slots a record of `nr` members fills.
pub fn slotsFor(nr: usize) usize {
    return Slots.members + Slots.member_stride * nr;
}

comptime {
    assert(Slots.nr == 0 and Slots.time_enabled == 1 and Slots.time_running == 2);
    assert(Slots.members == Slots.time_running + 1);
    assert(Slots.value == 0 and Slots.id == 1 and Slots.lost == 2);
    assert(Slots.lost < Slots.member_stride);
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

/// Whether `member`, the `position`-th handle given, belongs where it is:
/// the leader first, then members of that leader in the order they joined
/// it (no repeats; a subset is allowed), all real or all simulated.
inline fn joins(member: *const Counter, leader: *const Counter, position: usize, previous: *const Counter) bool {
    if (position == 0) return member.leader_handle == 0;
    return member.leader_handle == leader.handle and member.simulated == leader.simulated and
        member.group_position > previous.group_position;
}

pub const ListError = handles.LookupError || error{ NotBound, Failed };

/// A group's member list and output, bound once by pm_group_bind: both are
/// the adapter's buffers, which live as long as its Group object, and only
/// that object reads the group. Binding them once keeps the hot call free
/// of buffer arguments, which cost Deno's FFI about 15 ns each.
const Binding = struct {
    /// The leader's handle when bound; a binding whose handle is not the
    /// caller's (another generation of the slot) is no binding.
    handle: i32 = 0,
    count: u32 = 0,
    list: [*]const i32 = undefined,
    out: [*]u64 = undefined,
    cap_slots: u32 = 0,
};

/// Per leader slot. Written under the table lock, once per leader (the
/// handle last, with release); read by the leader's group reads, which
/// have entered the leader's slot, so the leader cannot be closed and the
/// slot not reused under them.
var bindings: [handles.handles_max + 1]Binding = @splat(.{});

pub const BindError = handles.LookupError || error{ NotAGroup, AlreadyBound, TooSmall };

/// pm_group_bind: checks once that `list` is a group (membership of live
/// counters never changes; a closed one fails its read's entry) and that
/// `out` holds its record, then keeps both for pm_group_read. Caller holds
/// the table lock.
pub fn bind(list: []const i32, out: [*]u64, cap_slots: u32) BindError!void {
    assert(list.len >= 1 and list.len <= read_format.group_members_max);
    var previous: ?*const Counter = null;
    var leader: *Counter = undefined;
    for (list, 0..) |handle, i| {
        const member = try handles.lookupLocked(handle);
        if (i == 0) leader = member;
        if (!joins(member, leader, i, previous orelse member)) return error.NotAGroup;
        previous = member;
    }
    if (cap_slots < slotsFor(list.len)) return error.TooSmall;
    const binding = &bindings[handles.slotOfCounter(leader)];
    if (@atomicLoad(i32, &binding.handle, .acquire) == leader.handle) return error.AlreadyBound;
    binding.* = .{ .count = @intCast(list.len), .list = list.ptr, .out = out, .cap_slots = cap_slots };
    @atomicStore(i32, &binding.handle, leader.handle, .release);
}

/// pm_group_read: the bound group of the leader `h`. Enters the leader's
/// slot only (handles.zig: a member's close and remap wait for the readers
/// there), checks each member's handle once, and makes each member's one
/// clean seqlock attempt (pm_read's fast path) in the same pass; at the
/// first member not served so, the whole retry policy takes over from that
/// member on, counting the attempt made. `error.Failed` leaves the code in
/// `failure`.
pub fn readBound(h: i32, exact: bool, failure: *Failure) ListError!Source {
    if (readOnce(h, exact, failure)) |source| return source else |err| switch (err) {
        error.MemberSuspended => return readWaiting(h, exact, failure),
        else => |other| return @errorCast(other),
    }
}

/// A member suspended for a remap is waited for outside the leader's slot,
/// as `handles.enter` waits for a suspended counter (the remap waits for
/// the readers of that slot), as many times: then `Busy`.
noinline fn readWaiting(h: i32, exact: bool, failure: *Failure) ListError!Source {
    var waits: u32 = 0;
    while (waits < handles.lock_attempts_max) : (waits += 1) {
        syscalls.schedYield();
        if (readOnce(h, exact, failure)) |source| return source else |err| switch (err) {
            error.MemberSuspended => {},
            else => |other| return @errorCast(other),
        }
    }
    return error.Busy;
}

/// A member's `Busy`: suspended for a remap (the leader's own `Busy` comes
/// from its entry, which has waited already).
const ReadError = ListError || error{MemberSuspended};

fn memberError(err: handles.LookupError) ReadError {
    return if (err == error.Busy) error.MemberSuspended else err;
}

inline fn readOnce(h: i32, exact: bool, failure: *Failure) ReadError!Source {
    const entry = try handles.enterAny(h);
    defer handles.leaveEntry(entry, h);
    const leader = entry.counter;
    const binding = &bindings[handles.slotOf(h) catch unreachable];
    if (@atomicLoad(i32, &binding.handle, .acquire) != h) return error.NotBound;
    assert(binding.count >= 1 and binding.list[0] == h);
    assert(binding.cap_slots >= slotsFor(binding.count));
    const slots = binding.out[0..binding.cap_slots];
    const list = binding.list[0..binding.count];
    // One pass for each kind of group and each slot format: neither is a
    // branch per member.
    var rest: Fast = undefined;
    const fast = if (leader.simulated)
        (if (exact) readFast(true, true, leader, list, slots, &rest) else readFast(true, false, leader, list, slots, &rest))
    else
        (if (exact) readFast(false, true, leader, list, slots, &rest) else readFast(false, false, leader, list, slots, &rest));
    const whole = fast catch |err| return memberError(err);
    if (whole) return .userspace;
    return readRest(leader, list, slots, exact, rest, failure);
}

/// The leader's fast attempt, then each member's (found by its handle),
/// until one is not served: true when every member was, with the record's
/// header written; else false with `rest` telling how far it came. Each
/// member served is counted as served from userspace at once (`readRest`
/// takes that back if the group is not). Out of line: with only the list,
/// the slots and the times live, the member loop keeps them in registers.
noinline fn readFast(
    comptime simulated: bool,
    comptime exact: bool,
    leader: *Counter,
    list: []const i32,
    slots: []u64,
    rest: *Fast,
) handles.LookupError!bool {
    var times: [2]u64 = undefined;
    switch (attemptLeader(simulated, exact, leader, slots, &times)) {
        .served => {},
        .skipped => {
            rest.* = .{ .served = 0 };
            return false;
        },
        .attempted => {
            rest.* = .{ .served = 0, .attempted = true };
            return false;
        },
    }
    for (list[1..], 1..) |handle, i| {
        const member = handles.member(handle) orelse return handles.memberFailure(handle);
        const outcome = attemptMember(simulated, exact, member, i, slots);
        if (outcome == .served) continue;
        rest.* = .{ .served = i, .attempted = outcome == .attempted, .times = times };
        return false;
    }
    putHeader(slots, list.len, times, exact);
    return true;
}

/// What the fast pass did: the members it served (in order, from the
/// leader), whether it made an attempt on the next one, and the leader's
/// times once the leader is served.
pub const Fast = struct {
    served: usize = 0,
    attempted: bool = false,
    times: [2]u64 = .{ 0, 0 },
};

/// One member's fast attempt: `skipped` for a page the core does not read
/// now (`fast_page` null: mode off, no page, disabled, userspace off for
/// good) or without cap_user_rdpmc, `attempted` for an attempt that was
/// not clean. The policy then decides afresh.
const Outcome = enum { served, skipped, attempted };

/// What the leader's page must show for its fast attempt: userspace reads
/// and times, in the capability layout of every kernel since 3.12 (an
/// older page's bit 0 goes to the policy, which decodes it).
const leader_fast_capabilities = page_mod.cap_bit0_is_deprecated | page_mod.cap_user_rdpmc | page_mod.cap_user_time;

/// The leader's attempt, which also gives the group's times: skipped as a
/// member's is, and also without cap_user_time or with a LOST format.
inline fn attemptLeader(comptime simulated: bool, comptime exact: bool, leader: *Counter, slots: []u64, times: *[2]u64) Outcome {
    const Env = MemberEnv(simulated);
    const page = leader.fast_page orelse return .skipped;
    if (leader.read_format & attr_mod.PERF_FORMAT_LOST != 0) return .skipped;
    const capabilities = page_mod.load(u64, &page.capabilities);
    if (capabilities & leader_fast_capabilities != leader_fast_capabilities) return .skipped;
    var env: Env = .{ .page = page, .counter = leader };
    const value = self_read.attemptValueAndTimes(Env, &env, times) orelse return .attempted;
    served(exact, leader, 0, slots, value);
    return .served;
}

inline fn attemptMember(comptime simulated: bool, comptime exact: bool, member: *Counter, i: usize, slots: []u64) Outcome {
    const Env = MemberEnv(simulated);
    const page = member.fast_page orelse return .skipped;
    if (!self_read.userRdpmc(page)) return .skipped;
    var env: Env = .{ .page = page, .counter = member };
    const value = self_read.attemptValue(Env, &env) orelse return .attempted;
    served(exact, member, i, slots, value);
    return .served;
}

/// Member `i` served by one clean attempt: its slots and its stats.
inline fn served(comptime exact: bool, member: *Counter, i: usize, slots: []u64, value: u64) void {
    const base = slotsFor(i);
    put(slots, base + Slots.value, value, exact);
    // Kernel ids count the events opened since boot: below 2^63, so the
    // signed conversion alone does (put's correction never applies).
    assert(member.id < 1 << 63);
    slots[base + Slots.id] = if (exact) member.id else @bitCast(@as(f64, @floatFromInt(@as(i64, @intCast(member.id)))));
    slots[base + Slots.lost] = 0; // 0 as u64 and as f64 alike
    member.stats.reads_userspace += 1;
    member.stats.last_attempts = 1;
    member.stats.last_yields = 0;
}

inline fn putHeader(slots: []u64, nr: usize, times: [2]u64, exact: bool) void {
    put(slots, Slots.nr, nr, exact);
    put(slots, Slots.time_enabled, times[0], exact);
    put(slots, Slots.time_running, times[1], exact);
}

/// After a fast pass that did not serve every member: finds every member
/// again (a member closed or suspended since fails here, as it would have
/// failed the pass), takes back the userspace reads the pass counted, and
/// runs the retry policy from the first member not served.
noinline fn readRest(leader: *Counter, list: []const i32, slots: []u64, exact: bool, fast: Fast, failure: *Failure) ReadError!Source {
    assert(fast.served < list.len);
    var group: [read_format.group_members_max]*Counter = undefined;
    group[0] = leader;
    for (list[1..], 1..) |handle, i| {
        group[i] = handles.member(handle) orelse return memberError(handles.memberFailure(handle));
    }
    const members = group[0..list.len];
    for (members[0..fast.served]) |member| member.stats.reads_userspace -= 1;
    return read(members, slots, exact, fast, failure) catch error.Failed;
}

/// The whole retry policy from the first member the fast pass did not
/// serve (the members before it keep their values and their one attempt).
fn read(members: []const *Counter, slots: []u64, exact: bool, fast: Fast, failure: *Failure) errno.Error!Source {
    assert(fast.served < members.len);
    if (!userspaceServes(members)) return readSyscall(members, slots, exact, fast.served, failure);
    if (slots.len < slotsFor(members.len)) return errno.fail(failure, errno.fromErrno(.RANGE));
    var times = fast.times;
    for (members[fast.served..], fast.served..) |member, i| {
        const leads = i == 0;
        const attempts_done: u32 = @intFromBool(i == fast.served and fast.attempted);
        const reading = try readMember(member, members[0], leads, attempts_done, failure);
        if (reading.source == .syscall) return readSyscall(members, slots, exact, i + 1, failure);
        assert(reading.source == .userspace);
        if (leads) times = .{ reading.time_enabled_ns, reading.time_running_ns };
        const base = slotsFor(i);
        put(slots, base + Slots.value, reading.value, exact);
        put(slots, base + Slots.id, member.id, exact);
        put(slots, base + Slots.lost, 0, exact);
    }
    putHeader(slots, members.len, times, exact);
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
fn readMember(member: *Counter, leader: *Counter, leads: bool, attempts_done: u32, failure: *Failure) errno.Error!self_read.Reading {
    assert(attempts_done <= 1);
    const policy: self_read.Policy = .{
        .userspace_allowed = counter_mod.userspaceAllowed(member, if (leads) null else leader),
        .fallback = member.fallback,
        .want_time = leads,
    };
    // userspaceServes saw the page a moment ago, and only a close (which
    // waits for this call to leave) or a remap (which keeps callers out)
    // takes it away.
    const page = member.page().?;
    var counts: self_read.Counts = .{ .attempts = attempts_done };
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
    put(slots, Slots.nr, decoded.nr, exact);
    put(slots, Slots.time_enabled, decoded.time_enabled, exact);
    put(slots, Slots.time_running, decoded.time_running, exact);
    var i: u32 = 0;
    while (i < decoded.nr) : (i += 1) {
        const member = decoded.member(i);
        const base = slotsFor(i);
        put(slots, base + Slots.value, member.value, exact);
        put(slots, base + Slots.id, member.id, exact);
        put(slots, base + Slots.lost, member.lost, exact);
    }
}

/// A simulated group's read(2): the members given, each its simulated
/// syscall value and its id, with the leader's simulated syscall times.
fn putSimulated(members: []const *Counter, slots: []u64, exact: bool, failure: *Failure) errno.Error!void {
    assert(members[0].simulated);
    if (slotsFor(members.len) > slots.len) return errno.fail(failure, errno.fromErrno(.RANGE));
    const leader_state = &members[0].sim_state;
    put(slots, Slots.nr, members.len, exact);
    put(slots, Slots.time_enabled, @atomicLoad(u64, &leader_state.syscall_time_enabled, .acquire), exact);
    put(slots, Slots.time_running, @atomicLoad(u64, &leader_state.syscall_time_running, .acquire), exact);
    for (members, 0..) |member, i| {
        const base = slotsFor(i);
        put(slots, base + Slots.value, @atomicLoad(u64, &member.sim_state.syscall_value, .acquire), exact);
        put(slots, base + Slots.id, member.id, exact);
        put(slots, base + Slots.lost, 0, exact);
    }
}

/// One slot: the value as an f64, or its exact u64 bits.
pub inline fn put(slots: []u64, i: usize, value: u64, exact: bool) void {
    slots[i] = if (exact) value else @bitCast(toFloat(value));
}

/// A u64 as f64 by the one-instruction signed conversion, corrected by 2^64
/// when the top bit is set (pm_read's countToFloat; LLVM's unsigned
/// sequence costs several dependent instructions per slot). Exact below 2^53.
inline fn toFloat(value: u64) f64 {
    const signed: i64 = @bitCast(value);
    const converted: f64 = @floatFromInt(signed);
    return if (signed < 0) converted + 0x1p64 else converted;
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
