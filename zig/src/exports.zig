//! The C ABI of libperfmmap.so, exactly as zig/ABI.md specifies it.
//! Each export decodes its arguments, calls one module, and encodes the
//! result: `>= 0` success, `< 0` = -code (a Linux errno or a core code).
const std = @import("std");
const assert = std.debug.assert;
const attr_mod = @import("attr.zig");
const page_mod = @import("page.zig");
const errno = @import("errno.zig");
const syscalls = @import("syscalls.zig");
const handles = @import("handles.zig");
const counter_mod = @import("counter.zig");
const reader = @import("reader.zig");
const read_format = @import("read_format.zig");
const ring = @import("ring.zig");
const ring_reader = @import("ring_reader.zig");
const sim = @import("sim.zig");
const sysfs = @import("sysfs.zig");
const system = @import("system.zig");
const arch = @import("arch.zig");
const group_read = @import("group_read.zig");

const Counter = counter_mod.Counter;
const GroupSlots = group_read.GroupSlots;
const Failure = errno.Failure;

pub const abi_version = 4;

/// The output layouts of the exports that fill slots (8 bytes each; ABI.md),
/// one block per layout, named as `src/ffi/symbols.ts` names them there
/// (`value_u64` here is `VALUE_U64` there) with `slots` the output's size:
/// test/abi.test.ts parses both files and fails when they differ, and every
/// export writes its slots by these names, never by a number.
pub const Detailed = struct {
    pub const value = 0;
    pub const time_enabled = 1;
    pub const time_running = 2;
    pub const source = 3;
    pub const attempts = 4;
    pub const yields = 5;
    pub const index = 6;
    pub const pmc_width = 7;
    pub const value_u64 = 8;
    pub const time_enabled_u64 = 9;
    pub const time_running_u64 = 10;
    pub const slots = 16;
};

pub const PageInfo = struct {
    pub const has_page = 0;
    pub const version = 1;
    pub const compat_version = 2;
    pub const capabilities = 3;
    pub const cap_user_rdpmc = 4;
    pub const cap_user_time = 5;
    pub const cap_user_time_zero = 6;
    pub const cap_user_time_short = 7;
    pub const index = 8;
    pub const pmc_width = 9;
    pub const arch_has_reader = 10;
    pub const userspace_active = 11;
    pub const config1_at_open = 12;
    pub const time_shift = 13;
    pub const time_mult = 14;
    pub const page_size_field = 15;
    pub const slots = 16;
};

pub const Stats = struct {
    pub const userspace_reads = 0;
    pub const syscall_reads = 1;
    pub const exhausted = 2;
    pub const exhaustion_log_lines = 3;
    pub const last_attempts = 4;
    pub const last_yields = 5;
    pub const index_zero_fallbacks = 6;
    pub const mappings = 7;
    pub const slots = 8;
};

pub const RingInfo = struct {
    pub const data_pages = 0;
    pub const data_bytes = 1;
    pub const pending_bytes = 2;
    pub const data_head = 3;
    pub const data_tail = 4;
    pub const reads = 5;
    pub const records = 6;
    pub const bytes = 7;
    pub const split_records = 8;
    pub const resyncs = 9;
    pub const page_size = 10;
    pub const slots = 16;
};

pub const Id = struct {
    pub const value = 0;
    pub const slots = 1;
};

/// Every layout's slots are distinct and inside the output.
fn assertLayout(comptime Layout: type) void {
    var used: [Layout.slots]bool = @splat(false);
    for (std.meta.declarations(Layout)) |name| {
        if (std.mem.eql(u8, name, "slots")) continue;
        const slot = @field(Layout, name);
        assert(slot < Layout.slots);
        assert(!used[slot]);
        used[slot] = true;
    }
}

comptime {
    for (.{ Detailed, PageInfo, Stats, RingInfo, Id }) |Layout| assertLayout(Layout);
    // pm_read_detailed and pm_page_info fill 128 bytes, pm_stats 64.
    assert(Detailed.slots * 8 == 128 and PageInfo.slots * 8 == 128 and RingInfo.slots * 8 == 128);
    assert(Stats.slots * 8 == 64 and Id.slots * 8 == 8);
    // The u64 twins follow the f64 slots they repeat.
    assert(Detailed.value_u64 == Detailed.pmc_width + 1);
}

fn lookupFailure(err: handles.LookupError) Failure {
    return switch (err) {
        error.BadHandle => errno.fromCode(.BAD_HANDLE),
        error.StaleHandle => errno.fromCode(.STALE_HANDLE),
        error.Busy => errno.fromErrno(.AGAIN),
    };
}

/// Takes the table lock and releases closed counters whose readers have left.
fn lockTable() handles.ClaimError!void {
    try handles.acquireLock();
    handles.reapParked();
}

fn claimFailure(err: handles.ClaimError) Failure {
    return switch (err) {
        error.TableFull => errno.fromCode(.TABLE_FULL),
        error.LockTimeout => errno.fromErrno(.AGAIN),
    };
}

pub export fn pm_abi_version() u32 {
    return abi_version;
}

pub export fn pm_noop() i32 {
    return 0;
}

pub export fn pm_arch() u32 {
    return arch.arch_code;
}

pub export fn pm_attr_size() u32 {
    return attr_mod.PERF_ATTR_SIZE_VER8;
}

pub export fn pm_open(attr_bytes: *[attr_mod.PERF_ATTR_SIZE_VER8]u8, pid: i32, cpu: i32, group: i32, flags: u32) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    handles.sweepOnThreadChange();
    var request: counter_mod.OpenRequest = .{
        .attr_bytes = attr_bytes,
        .pid = pid,
        .cpu = cpu,
        .leader = null,
        .leader_slot = 0,
        .flags = flags,
    };
    if (group != -1) {
        const leader = handles.lookupLocked(group) catch |err| return lookupFailure(err).result();
        if (leader.simulated) return errno.fromErrno(.BADF).result();
        request.leader = leader;
        request.leader_slot = handles.slotOfCounter(leader);
    }
    const reservation = claimSwept() catch |err| return claimFailure(err).result();
    var failure: Failure = undefined;
    counter_mod.open(reservation.counter, request, &failure) catch {
        // Out of fds: the counters of ended threads may be what holds them.
        const retry = failure == .errno and failure.errno == .MFILE and handles.sweep() > 0;
        if (!retry) {
            handles.unclaim(reservation);
            return failure.result();
        }
        counter_mod.open(reservation.counter, request, &failure) catch {
            handles.unclaim(reservation);
            return failure.result();
        };
    };
    handles.publish(reservation);
    reader.refreshFast(reservation.counter);
    assert(reservation.handle > 0);
    return reservation.handle;
}

/// A slot, after a sweep if the table is full. Caller holds the lock.
fn claimSwept() handles.ClaimError!handles.Claim {
    return handles.claim() catch |err| switch (err) {
        error.TableFull => if (handles.sweep() > 0) handles.claim() else err,
        else => err,
    };
}

/// Closes the counters of threads that have ended (a terminated Worker's):
/// how many, or -code. pm_open also does this when the opening thread
/// changes, and before TABLE_FULL or EMFILE.
pub export fn pm_sweep() i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    return @intCast(handles.sweep());
}

pub export fn pm_sim_open(flags: u32) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    handles.sweepOnThreadChange();
    const reservation = claimSwept() catch |err| return claimFailure(err).result();
    var failure: Failure = undefined;
    counter_mod.openSimulated(reservation.counter, flags, &failure) catch {
        handles.unclaim(reservation);
        return failure.result();
    };
    reservation.counter.id = group_read.nextSimulatedId();
    handles.publish(reservation);
    reader.refreshFast(reservation.counter);
    return reservation.handle;
}

pub export fn pm_close(h: i32) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    const counter = handles.lookupLocked(h) catch |err| return lookupFailure(err).result();
    handles.retireAndRelease(counter);
    return 0;
}

pub export fn pm_fd(h: i32) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    return counter.fd;
}

/// ioctl on a real counter's fd; a simulated counter has none.
fn ioctlResult(counter: *const Counter, request: u32, argument: usize) i32 {
    if (counter.simulated) return errno.fromErrno(.OPNOTSUPP).result();
    var failure: Failure = undefined;
    const rc = syscalls.ioctl(counter.fd, request, argument, &failure) catch return failure.result();
    return @intCast(@min(rc, std.math.maxInt(i32)));
}

/// Marks the counters an ENABLE/DISABLE reached as (not) disabled, so that a
/// disabled counter reads through read() without spinning.
fn noteEnabled(counter: *Counter, flags: u32, disabled: bool) void {
    counter.disabled = disabled;
    // With the group flag the kernel applies the ioctl to the whole group.
    const whole_group = flags & attr_mod.PERF_IOC_FLAG_GROUP != 0;
    // A member's fast path also depends on its leader's state.
    const leads_members = counter.leader_slot == 0 and counter.group_members_opened > 1;
    if (!whole_group and !leads_members) {
        reader.refreshFast(counter);
        return;
    }
    const leader_slot = if (counter.leader_slot != 0) counter.leader_slot else handles.slotOfCounter(counter);
    if (handles.liveAt(leader_slot)) |leader| {
        if (whole_group) leader.disabled = disabled;
        reader.refreshFast(leader);
    }
    // The counter itself is the leader above or a member below.
    var slot: u32 = 1;
    while (slot <= handles.handles_max) : (slot += 1) {
        const member = handles.liveAt(slot) orelse continue;
        if (member.leader_slot != leader_slot) continue;
        if (whole_group) member.disabled = disabled;
        reader.refreshFast(member);
    }
}

/// Under the table lock: a group's enable/disable walks the table.
fn toggle(h: i32, flags: u32, request: u32, disabled: bool) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    const counter = handles.lookupLocked(h) catch |err| return lookupFailure(err).result();
    if (flags & ~@as(u32, attr_mod.PERF_IOC_FLAG_GROUP) != 0) return errno.fromErrno(.INVAL).result();
    if (!counter.simulated) {
        const result = ioctlResult(counter, request, flags);
        if (result < 0) return result;
    }
    noteEnabled(counter, flags, disabled);
    return 0;
}

pub export fn pm_enable(h: i32, flags: u32) i32 {
    return toggle(h, flags, attr_mod.PERF_EVENT_IOC_ENABLE, false);
}

pub export fn pm_disable(h: i32, flags: u32) i32 {
    return toggle(h, flags, attr_mod.PERF_EVENT_IOC_DISABLE, true);
}

pub export fn pm_reset(h: i32, flags: u32) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    if (flags & ~@as(u32, attr_mod.PERF_IOC_FLAG_GROUP) != 0) return errno.fromErrno(.INVAL).result();
    if (counter.simulated) {
        // The simulated kernel zeroes the count: read() and register + offset.
        sim.set(counter.page().?, &counter.sim_state, .syscall_value, 0);
        sim.set(counter.page().?, &counter.sim_state, .register, 0);
        sim.set(counter.page().?, &counter.sim_state, .offset, 0);
        return 0;
    }
    return ioctlResult(counter, attr_mod.PERF_EVENT_IOC_RESET, flags);
}

pub export fn pm_refresh(h: i32, count: i32) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    return ioctlResult(counter, attr_mod.PERF_EVENT_IOC_REFRESH, @as(u32, @bitCast(count)));
}

pub export fn pm_period(h: i32, lo: u32, hi: u32) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    const period: u64 = (@as(u64, hi) << 32) | lo;
    return ioctlResult(counter, attr_mod.PERF_EVENT_IOC_PERIOD, @intFromPtr(&period));
}

pub export fn pm_set_output(h: i32, target: i32) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    const counter = handles.lookupLocked(h) catch |err| return lookupFailure(err).result();
    var output: ?*const Counter = null;
    if (target != -1) {
        const found = handles.lookupLocked(target) catch |err| return lookupFailure(err).result();
        if (found.simulated) return errno.fromErrno(.BADF).result();
        output = found;
    }
    var failure: Failure = undefined;
    handles.suspendReaders(counter) catch return errno.fromErrno(.AGAIN).result();
    defer handles.resumeReaders(counter);
    defer reader.refreshFast(counter);
    ring.setOutput(counter, output, &failure) catch return failure.result();
    return 0;
}

pub export fn pm_pause_output(h: i32, pause: u32) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    return ioctlResult(counter, attr_mod.PERF_EVENT_IOC_PAUSE_OUTPUT, pause);
}

/// The kernel (perf_event_modify_breakpoint) disables the event, applies the
/// new attr, and enables it again unless the `disabled` bit of the attr it
/// then holds is set: the new attr's on success, and on failure the one of
/// the last open or successful change, whatever pm_enable/pm_disable did
/// since. So the core puts its own mark (open's attr.disabled, then
/// pm_enable/pm_disable) in the new attr, and after a refusal it applies
/// the mark again: either way the counter stays enabled or disabled as it
/// was. Under the table lock, as pm_enable/pm_disable, which write the mark.
pub export fn pm_modify_attributes(h: i32, attr_bytes: *[attr_mod.PERF_ATTR_SIZE_VER8]u8) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    const counter = handles.lookupLocked(h) catch |err| return lookupFailure(err).result();
    var attr = attr_mod.fromBytes(attr_bytes);
    attr.flags.disabled = counter.disabled;
    const result = ioctlResult(counter, attr_mod.PERF_EVENT_IOC_MODIFY_ATTRIBUTES, @intFromPtr(&attr));
    if (result < 0 and !counter.simulated) {
        const request = if (counter.disabled) attr_mod.PERF_EVENT_IOC_DISABLE else attr_mod.PERF_EVENT_IOC_ENABLE;
        // Best effort: the refusal is the error to report.
        _ = ioctlResult(counter, request, 0);
    }
    return result;
}

pub export fn pm_id(h: i32, out: *[Id.slots]u64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    if (counter.simulated) {
        out[Id.value] = counter.id; // given by pm_sim_open
        return 0;
    }
    var id: u64 = 0;
    const result = ioctlResult(counter, attr_mod.PERF_EVENT_IOC_ID, @intFromPtr(&id));
    if (result < 0) return result;
    out[Id.value] = id;
    return 0;
}

/// The hot path. The thread that opened the counter enters its slot with a
/// plain store (handles.zig); any other thread, a stale handle or a counter
/// being remapped take the out-of-line entry.
pub export fn pm_read(h: i32) f64 {
    if (handles.isOwner(h)) {
        if (handles.enterOwner(h)) |counter| {
            defer handles.leaveOwner(counter);
            return readCounter(counter);
        } else |_| {}
    }
    return readShared(h);
}

/// A handle passed as a double: the handle when the double is exactly a
/// positive i32, else 0, which every lookup refuses as BAD_HANDLE (as it
/// refuses a negative i32). NaN fails the range check.
fn handleFromDouble(h: f64) i32 {
    if (!(h >= 1 and h <= std.math.maxInt(i32))) return 0;
    const handle: i32 = @intFromFloat(h);
    return if (@as(f64, @floatFromInt(handle)) == h) handle else 0;
}

/// pm_read with the handle as a double, for an FFI where an integer
/// parameter costs more than the read: node:ffi (Node 26) binds a symbol
/// whose parameters are all doubles as V8's fast call itself, and wraps
/// every symbol with an integer parameter in a JavaScript function that
/// range-checks it (2 to 4 times a simulated read).
pub export fn pm_read_by_double(h: f64) f64 {
    return @call(.always_inline, pm_read, .{handleFromDouble(h)});
}

noinline fn readShared(h: i32) f64 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).resultFloat();
    defer handles.leave(counter);
    return readCounter(counter);
}

/// One fast attempt, then the policy. Caller is inside the counter's slot.
inline fn readCounter(counter: *Counter) f64 {
    const attempts_done: u32 = switch (reader.readFast(counter)) {
        .value => |value| return countToFloat(value),
        .skipped => 0,
        .attempted => 1,
    };
    return readPolicy(counter, attempts_done);
}

/// A count as the f64 pm_read returns: the one-instruction signed conversion
/// (x86_64 has no unsigned one before AVX-512, and LLVM's u64 sequence costs
/// several dependent instructions on the hot path), corrected by 2^64 when
/// the top bit is set. Exact below 2^53 like any conversion; above 2^63 (no
/// counter gets there) it may differ from a direct conversion by one ulp.
inline fn countToFloat(value: u64) f64 {
    const signed: i64 = @bitCast(value);
    const converted: f64 = @floatFromInt(signed);
    return if (signed < 0) converted + 0x1p64 else converted;
}

/// The whole retry policy, out of line: pm_read's fast path stays a small
/// leaf function with no large stack frame.
noinline fn readPolicy(counter: *Counter, attempts_done: u32) f64 {
    var failure: Failure = undefined;
    const reading = reader.read(counter, false, attempts_done, &failure) catch return failure.resultFloat();
    return countToFloat(reading.value);
}

pub export fn pm_read_detailed(h: i32, out: *[Detailed.slots]u64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    var failure: Failure = undefined;
    const reading = reader.read(counter, true, 0, &failure) catch return failure.result();
    const floats: *[Detailed.slots]f64 = @ptrCast(out);
    floats.* = @splat(0);
    floats[Detailed.value] = @floatFromInt(reading.value);
    floats[Detailed.time_enabled] = @floatFromInt(reading.time_enabled_ns);
    floats[Detailed.time_running] = @floatFromInt(reading.time_running_ns);
    floats[Detailed.source] = @floatFromInt(@backingInt(reading.source));
    floats[Detailed.attempts] = @floatFromInt(counter.stats.last_attempts);
    floats[Detailed.yields] = @floatFromInt(counter.stats.last_yields);
    floats[Detailed.index] = @floatFromInt(reading.index);
    floats[Detailed.pmc_width] = @floatFromInt(reading.pmc_width);
    out[Detailed.value_u64] = reading.value;
    out[Detailed.time_enabled_u64] = reading.time_enabled_ns;
    out[Detailed.time_running_u64] = reading.time_running_ns;
    return 0;
}

pub export fn pm_read_values(h: i32, out: [*]u64, cap_slots: u32, exact: u32) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    if (exact > 1) return errno.fromErrno(.INVAL).result();
    var failure: Failure = undefined;
    if (counter.simulated) return valuesSimulated(counter, out[0..cap_slots], exact == 1);
    var words: [read_format.words_max]u64 = undefined;
    const decoded = reader.readDecoded(counter, &words, &failure) catch return failure.result();
    group_read.putDecoded(out[0..cap_slots], &decoded, exact == 1, &failure) catch return failure.result();
    return @intCast(decoded.nr);
}

const putSlot = group_read.put;

fn valuesSimulated(counter: *Counter, slots: []u64, exact: bool) i32 {
    assert(counter.simulated);
    if (slots.len < group_read.slotsFor(1)) return errno.fromErrno(.RANGE).result();
    const state = &counter.sim_state;
    const first = GroupSlots.members;
    putSlot(slots, GroupSlots.nr, 1, exact);
    putSlot(slots, GroupSlots.time_enabled, @atomicLoad(u64, &state.syscall_time_enabled, .acquire), exact);
    putSlot(slots, GroupSlots.time_running, @atomicLoad(u64, &state.syscall_time_running, .acquire), exact);
    putSlot(slots, first + GroupSlots.value, @atomicLoad(u64, &state.syscall_value, .acquire), exact);
    putSlot(slots, first + GroupSlots.id, 0, exact);
    putSlot(slots, first + GroupSlots.lost, 0, exact);
    return 1;
}

/// Binds a group's member list and output buffer once (see group_read.zig):
/// the leader's handle first, then members in join order.
pub export fn pm_group_bind(list: [*]const i32, count: u32, out: [*]u64, cap_slots: u32) i32 {
    if (count == 0 or count > read_format.group_members_max) return errno.fromErrno(.INVAL).result();
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    group_read.bind(list[0..count], out, cap_slots) catch |err| return switch (err) {
        error.NotAGroup => errno.fromErrno(.INVAL).result(),
        error.AlreadyBound => errno.fromErrno(.BUSY).result(),
        error.TooSmall => errno.fromErrno(.RANGE).result(),
        error.BadHandle, error.StaleHandle, error.Busy => |lookup| lookupFailure(lookup).result(),
    };
    return 0;
}

/// The group hot path: a whole group in one call, into its bound output:
/// every member from userspace under its own seqlock, or the whole group
/// by one read(2). The result is the source (1 userspace, 2 syscall) or
/// -code; the slots are pm_read_values'.
pub export fn pm_group_read(h: i32, exact: u32) i32 {
    if (exact > 1) return errno.fromErrno(.INVAL).result();
    var failure: Failure = undefined;
    const source = group_read.readBound(h, exact == 1, &failure) catch |err| switch (err) {
        error.NotBound => return errno.fromErrno(.INVAL).result(),
        error.Failed => return failure.result(),
        error.BadHandle, error.StaleHandle, error.Busy => |lookup| return lookupFailure(lookup).result(),
    };
    return @backingInt(source);
}

/// pm_group_read with both parameters as doubles (see pm_read_by_double).
/// An `exact` other than 0 or 1 (NaN, 0.5) is pm_group_read's exact > 1.
pub export fn pm_group_read_by_double(h: f64, exact: f64) i32 {
    const exact_flag: u32 = if (exact == 0) 0 else if (exact == 1) 1 else 2;
    return @call(.always_inline, pm_group_read, .{ handleFromDouble(h), exact_flag });
}

/// Makes a simulated counter a member of a simulated leader's group.
pub export fn pm_sim_join(h: i32, leader_handle: i32) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    const member = handles.lookupLocked(h) catch |err| return lookupFailure(err).result();
    const leader = handles.lookupLocked(leader_handle) catch |err| return lookupFailure(err).result();
    var failure: Failure = undefined;
    group_read.joinSimulated(member, leader, &failure) catch return failure.result();
    reader.refreshFast(member);
    return 0;
}

pub export fn pm_page_info(h: i32, out: *[PageInfo.slots]f64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    out.* = @splat(0);
    out[PageInfo.arch_has_reader] = if (arch.reader.has_reader or counter.simulated) 1 else 0;
    out[PageInfo.config1_at_open] = @floatFromInt(counter.config1_used);
    const page = counter.page() orelse return 0;
    const load = page_mod.load;
    const capabilities_word = load(u64, &page.capabilities);
    const capabilities = page_mod.decodeCapabilities(capabilities_word, load(u32, &page.size));
    const leader = if (counter.leader_slot != 0) handles.liveAt(counter.leader_slot) else null;
    out[PageInfo.has_page] = 1;
    out[PageInfo.version] = @floatFromInt(load(u32, &page.version));
    out[PageInfo.compat_version] = @floatFromInt(load(u32, &page.compat_version));
    out[PageInfo.capabilities] = @floatFromInt(capabilities_word);
    out[PageInfo.cap_user_rdpmc] = @floatFromInt(@intFromBool(capabilities.user_rdpmc));
    out[PageInfo.cap_user_time] = @floatFromInt(@intFromBool(capabilities.user_time));
    out[PageInfo.cap_user_time_zero] = @floatFromInt(@intFromBool(capabilities.user_time_zero));
    out[PageInfo.cap_user_time_short] = @floatFromInt(@intFromBool(capabilities.user_time_short));
    out[PageInfo.index] = @floatFromInt(load(u32, &page.index));
    out[PageInfo.pmc_width] = @floatFromInt(load(u16, &page.pmc_width));
    const active = counter_mod.userspaceAllowed(counter, leader) and capabilities.user_rdpmc and !counter.access.off;
    out[PageInfo.userspace_active] = @floatFromInt(@intFromBool(active));
    out[PageInfo.time_shift] = @floatFromInt(load(u16, &page.time_shift));
    out[PageInfo.time_mult] = @floatFromInt(load(u32, &page.time_mult));
    out[PageInfo.page_size_field] = @floatFromInt(load(u32, &page.size));
    return 0;
}

pub export fn pm_stats(h: i32, out: *[Stats.slots]f64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    const stats = &counter.stats;
    out[Stats.userspace_reads] = @floatFromInt(stats.reads_userspace);
    out[Stats.syscall_reads] = @floatFromInt(stats.reads_syscall);
    out[Stats.exhausted] = @floatFromInt(stats.retry_exhausted);
    out[Stats.exhaustion_log_lines] = @floatFromInt(stats.exhaustion_log_lines);
    out[Stats.last_attempts] = @floatFromInt(stats.last_attempts);
    out[Stats.last_yields] = @floatFromInt(stats.last_yields);
    out[Stats.index_zero_fallbacks] = @floatFromInt(stats.index_zero_fallbacks);
    out[Stats.mappings] = @floatFromInt(counter.mappings_made);
    return 0;
}

pub export fn pm_ring_map(h: i32, data_pages: u32) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    const counter = handles.lookupLocked(h) catch |err| return lookupFailure(err).result();
    var failure: Failure = undefined;
    handles.suspendReaders(counter) catch return errno.fromErrno(.AGAIN).result();
    defer handles.resumeReaders(counter);
    defer reader.refreshFast(counter);
    ring.map(counter, data_pages, &failure) catch return failure.result();
    return 0;
}

/// Copies whole records into `out` (no FFI call per record): bytes copied,
/// 0 when the ring is empty.
pub export fn pm_ring_read(h: i32, out: [*]u8, cap: u32) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    if (cap > std.math.maxInt(i32)) return errno.fromErrno(.INVAL).result();
    var failure: Failure = undefined;
    const bytes = ring.readExclusive(counter, out[0..cap], &failure) catch return failure.result();
    assert(bytes <= cap);
    return @intCast(bytes);
}

pub export fn pm_ring_info(h: i32, out: *[RingInfo.slots]f64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    out.* = @splat(0);
    out[RingInfo.page_size] = @floatFromInt(system.pageSize());
    const view = ring.viewOf(counter) orelse return 0;
    const stats = &counter.ring_stats;
    out[RingInfo.data_pages] = @floatFromInt(counter.ring_data_pages);
    out[RingInfo.data_bytes] = @floatFromInt(view.data_bytes);
    out[RingInfo.pending_bytes] = @floatFromInt(ring_reader.pendingBytes(view));
    out[RingInfo.data_head] = @floatFromInt(@atomicLoad(u64, &view.control.data_head, .acquire));
    out[RingInfo.data_tail] = @floatFromInt(@atomicLoad(u64, &view.control.data_tail, .monotonic));
    out[RingInfo.reads] = @floatFromInt(stats.reads);
    out[RingInfo.records] = @floatFromInt(stats.records);
    out[RingInfo.bytes] = @floatFromInt(stats.bytes);
    out[RingInfo.split_records] = @floatFromInt(stats.split_records);
    out[RingInfo.resyncs] = @floatFromInt(stats.resyncs);
    return 0;
}

/// poll(2) on the counter's fd for at most `timeout_ms` (0..60 000).
/// The wait runs on a duplicate of the fd, outside the slot: a close on
/// another thread neither waits for it nor leaves it polling a reused fd.
pub export fn pm_ring_poll(h: i32, timeout_ms: i32) i32 {
    var failure: Failure = undefined;
    const fd = pollTarget(h, timeout_ms, &failure) catch return failure.result();
    defer syscalls.close(fd);
    const revents = ring.poll(fd, timeout_ms, &failure) catch return failure.result();
    return @intCast(revents);
}

fn pollTarget(h: i32, timeout_ms: i32, failure: *Failure) errno.Error!i32 {
    const counter = handles.enter(h) catch |err| return errno.fail(failure, lookupFailure(err));
    defer handles.leave(counter);
    try ring.checkPoll(counter, timeout_ms, failure);
    return syscalls.dupCloexec(counter.fd, failure);
}

/// The same as pm_ring_poll under a second name, which the symbol table
/// declares `nonblocking` for Deno (it runs on a worker thread there and
/// returns a Promise). Bun binds it as a plain call and never uses it.
pub export fn pm_ring_wait(h: i32, timeout_ms: i32) i32 {
    return pm_ring_poll(h, timeout_ms);
}

pub export fn pm_gettid() i32 {
    return syscalls.gettid();
}

pub export fn pm_sim_set(h: i32, field: u32, lo: u32, hi: u32) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    if (!counter.simulated) return errno.fromCode(.NOT_SIMULATED).result();
    const which = sim.fieldFromInt(field) orelse return errno.fromErrno(.INVAL).result();
    sim.set(counter.page().?, &counter.sim_state, which, (@as(u64, hi) << 32) | lo);
    return 0;
}

pub export fn pm_sysctl(which: u32) f64 {
    var failure: Failure = undefined;
    const value = sysfs.sysctl(which, &failure) catch return failure.resultFloat();
    return @floatFromInt(value);
}

pub export fn pm_has_capability(capability: u32) i32 {
    var failure: Failure = undefined;
    const has = system.hasCapability(capability, &failure) catch return failure.result();
    return @intFromBool(has);
}

pub export fn pm_uname(out: [*]u8, cap: u32) i32 {
    var failure: Failure = undefined;
    const length = system.uname(out[0..cap], &failure) catch return failure.result();
    return @intCast(length);
}

pub export fn pm_read_text(path: [*]const u8, path_len: u32, out: [*]u8, cap: u32) i32 {
    var failure: Failure = undefined;
    if (path_len > sysfs.path_bytes_max) return errno.fromCode(.PATH_DENIED).result();
    const length = sysfs.readText(path[0..path_len], out[0..cap], &failure) catch return failure.result();
    return @intCast(@min(length, std.math.maxInt(i32)));
}

pub export fn pm_list_dir(path: [*]const u8, path_len: u32, out: [*]u8, cap: u32) i32 {
    var failure: Failure = undefined;
    if (path_len > sysfs.path_bytes_max) return errno.fromCode(.PATH_DENIED).result();
    const length = sysfs.listDir(path[0..path_len], out[0..cap], &failure) catch return failure.result();
    return @intCast(@min(length, std.math.maxInt(i32)));
}
