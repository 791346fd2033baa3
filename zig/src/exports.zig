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
const Failure = errno.Failure;

pub const abi_version = 4;

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

pub export fn pm_page_size() u32 {
    return system.pageSize();
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

pub export fn pm_id(h: i32, out: *[1]u64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    if (counter.simulated) {
        out[0] = counter.id; // given by pm_sim_open
        return 0;
    }
    var id: u64 = 0;
    const result = ioctlResult(counter, attr_mod.PERF_EVENT_IOC_ID, @intFromPtr(&id));
    if (result < 0) return result;
    out[0] = id;
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

pub export fn pm_read_detailed(h: i32, out: *[16]u64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    var failure: Failure = undefined;
    const reading = reader.read(counter, true, 0, &failure) catch return failure.result();
    const floats: *[16]f64 = @ptrCast(out);
    floats.* = @splat(0);
    floats[0] = @floatFromInt(reading.value);
    floats[1] = @floatFromInt(reading.time_enabled_ns);
    floats[2] = @floatFromInt(reading.time_running_ns);
    floats[3] = @floatFromInt(@backingInt(reading.source));
    floats[4] = @floatFromInt(counter.stats.last_attempts);
    floats[5] = @floatFromInt(counter.stats.last_yields);
    floats[6] = @floatFromInt(reading.index);
    floats[7] = @floatFromInt(reading.pmc_width);
    out[8] = reading.value;
    out[9] = reading.time_enabled_ns;
    out[10] = reading.time_running_ns;
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
    const first = group_read.slot_members;
    putSlot(slots, group_read.slot_nr, 1, exact);
    putSlot(slots, group_read.slot_time_enabled, @atomicLoad(u64, &state.syscall_time_enabled, .acquire), exact);
    putSlot(slots, group_read.slot_time_running, @atomicLoad(u64, &state.syscall_time_running, .acquire), exact);
    putSlot(slots, first + group_read.member_value, @atomicLoad(u64, &state.syscall_value, .acquire), exact);
    putSlot(slots, first + group_read.member_id, 0, exact);
    putSlot(slots, first + group_read.member_lost, 0, exact);
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

pub export fn pm_page_info(h: i32, out: *[16]f64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    out.* = @splat(0);
    out[10] = if (arch.reader.has_reader or counter.simulated) 1 else 0;
    out[12] = @floatFromInt(counter.config1_used);
    const page = counter.page() orelse return 0;
    const load = page_mod.load;
    const capabilities_word = load(u64, &page.capabilities);
    const capabilities = page_mod.decodeCapabilities(capabilities_word, load(u32, &page.size));
    const leader = if (counter.leader_slot != 0) handles.liveAt(counter.leader_slot) else null;
    out[0] = 1;
    out[1] = @floatFromInt(load(u32, &page.version));
    out[2] = @floatFromInt(load(u32, &page.compat_version));
    out[3] = @floatFromInt(capabilities_word);
    out[4] = @floatFromInt(@intFromBool(capabilities.user_rdpmc));
    out[5] = @floatFromInt(@intFromBool(capabilities.user_time));
    out[6] = @floatFromInt(@intFromBool(capabilities.user_time_zero));
    out[7] = @floatFromInt(@intFromBool(capabilities.user_time_short));
    out[8] = @floatFromInt(load(u32, &page.index));
    out[9] = @floatFromInt(load(u16, &page.pmc_width));
    const active = counter_mod.userspaceAllowed(counter, leader) and capabilities.user_rdpmc and !counter.access.off;
    out[11] = @floatFromInt(@intFromBool(active));
    out[13] = @floatFromInt(load(u16, &page.time_shift));
    out[14] = @floatFromInt(load(u32, &page.time_mult));
    out[15] = @floatFromInt(load(u32, &page.size));
    return 0;
}

pub export fn pm_stats(h: i32, out: *[8]f64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    const stats = &counter.stats;
    out.* = .{
        @floatFromInt(stats.reads_userspace),
        @floatFromInt(stats.reads_syscall),
        @floatFromInt(stats.retry_exhausted),
        @floatFromInt(stats.exhaustion_log_lines),
        @floatFromInt(stats.last_attempts),
        @floatFromInt(stats.last_yields),
        @floatFromInt(stats.index_zero_fallbacks),
        @floatFromInt(counter.mappings_made),
    };
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

pub export fn pm_ring_unmap(h: i32) i32 {
    lockTable() catch |err| return claimFailure(err).result();
    defer handles.releaseLock();
    const counter = handles.lookupLocked(h) catch |err| return lookupFailure(err).result();
    var failure: Failure = undefined;
    handles.suspendReaders(counter) catch return errno.fromErrno(.AGAIN).result();
    defer handles.resumeReaders(counter);
    defer reader.refreshFast(counter);
    ring.unmap(counter, &failure) catch return failure.result();
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

pub export fn pm_ring_info(h: i32, out: *[16]f64) i32 {
    const counter = handles.enter(h) catch |err| return lookupFailure(err).result();
    defer handles.leave(counter);
    out.* = @splat(0);
    out[10] = @floatFromInt(system.pageSize());
    const view = ring.viewOf(counter) orelse return 0;
    const stats = &counter.ring_stats;
    out[0] = @floatFromInt(counter.ring_data_pages);
    out[1] = @floatFromInt(view.data_bytes);
    out[2] = @floatFromInt(ring_reader.pendingBytes(view));
    out[3] = @floatFromInt(@atomicLoad(u64, &view.control.data_head, .acquire));
    out[4] = @floatFromInt(@atomicLoad(u64, &view.control.data_tail, .monotonic));
    out[5] = @floatFromInt(stats.reads);
    out[6] = @floatFromInt(stats.records);
    out[7] = @floatFromInt(stats.bytes);
    out[8] = @floatFromInt(stats.split_records);
    out[9] = @floatFromInt(stats.resyncs);
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
