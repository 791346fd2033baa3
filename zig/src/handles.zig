//! The fixed table of counters and the handles that name them.
//!
//! A handle is a positive i32: bits 0..11 = slot (1..handles_max; slot 0 is
//! never used), bits 12..30 = the slot's generation. Slots are handed out
//! round-robin, so a slot is reused at most once every handles_max opens and
//! a stale handle is caught by its generation.
//!
//! Open, close, and everything that maps, unmaps or walks the table hold a
//! small spin lock. Every other export enters the slot before it touches the
//! counter and leaves it after, so that a close on another thread never
//! unmaps a page or closes an fd under a reader:
//! - a thread that is not the counter's owner (see below) counts itself in
//!   `readers[slot]` with an atomic add, then checks the handle (seq_cst on
//!   both sides, so the closer either sees the count or the reader sees the
//!   retired handle);
//! - the owner thread, the one that opened the counter and reads it in
//!   pm_read's hot path, announces itself with a plain store of the handle
//!   in `owner_reading[slot]` and no read-modify-write: the closer, when it
//!   is another thread, issues membarrier(PRIVATE_EXPEDITED) after retiring
//!   the handle, which puts a full barrier in every running thread of the
//!   process (a thread not running has one from its context switch), so the
//!   closer then sees the announcement or the reader sees the retired
//!   handle. Threads are told apart by their thread pointer (the TCB address
//!   in fs:0 / TPIDR_EL0), one load; without membarrier (an old kernel, a
//!   seccomp filter) no counter has an owner and every reader counts itself.
//! - pm_close retires the handle, waits (bounded) until no reader is inside
//!   the slot, then releases the fd and the mapping. If a reader is still
//!   inside (a retry policy yielding for its 50 000 attempts), the slot is
//!   parked: it stays claimed, and a later open or close releases it once
//!   the readers are gone.
//! Counters die with the thread that opened them: a Worker's isolate is torn
//! down without running its finalizers, so nothing else would ever close
//! what it had open. Each live slot records the opener's thread id; a sweep
//! closes every counter whose opener no longer exists (tgkill(pid, tid, 0)
//! is ESRCH). It runs in pm_open when the opening thread differs from the
//! previous open's (so a Worker's counters go at the next open elsewhere),
//! before TABLE_FULL or EMFILE is reported, and on pm_sweep. A thread id
//! reused by a new thread before a sweep keeps the dead thread's counters
//! until that thread ends too: a late release, never a wrong one. A
//! counter is never swept while its opener lives, whichever thread uses it.
//! A group read (group_read.zig) enters only its leader's slot and reaches
//! the members through their handles, each checked once: one entry instead
//! of one per member. So whatever retires or suspends a group member (its
//! close, its remap) also waits for the readers of its leader's slot, while
//! that leader lives or is parked (`drainedFor`).
//! State that outlives one counter (reader counts, announcements, owners)
//! lives in per-slot arrays, not in the Counter, which is zeroed at claim:
//! a stale reader that failed its check may still undo its count there.
const std = @import("std");
const assert = std.debug.assert;
const builtin = @import("builtin");
const linux = std.os.linux;
const counter_mod = @import("counter.zig");
const syscalls = @import("syscalls.zig");

const Counter = counter_mod.Counter;

pub const handles_max = 4095;
const slot_bits = 12;
const slot_mask = (1 << slot_bits) - 1;
const generation_bits = 19;
const generation_mask = (1 << generation_bits) - 1;
/// Open/close hold the lock for a few syscalls; past this many tries
/// (with sched_yield between them) something is wedged and the call fails.
pub const lock_attempts_max = 1 << 20;
/// pm_close waits this many sched_yields for readers to leave the slot
/// before it parks the slot instead (a reader in the yield phase of the
/// retry policy can stay for 49 000 yields).
const drain_yields_max = 1000;
/// The slot's parked counters are released by a later open or close.
const drain_spins_max = 100;

comptime {
    assert(handles_max == slot_mask);
    assert(slot_bits + generation_bits == 31); // bit 31 stays clear: handles are positive
}

/// Busy: the counter stayed suspended (a remap waiting for a reader that
/// does not leave); the caller may retry.
pub const LookupError = error{ BadHandle, StaleHandle, Busy };
pub const ClaimError = error{ TableFull, LockTimeout };

/// Zero bytes (not `.{}`), so the table lives in .bss, not in the file.
var counters: [handles_max + 1]Counter = std.mem.zeroes([handles_max + 1]Counter);
var generations: [handles_max + 1]u32 = @splat(0);
/// A slot between claim and publish/release is neither free nor live.
var claimed: [handles_max + 1]bool = @splat(false);
var cursor: u32 = 0;
var lock: std.atomic.Mutex = .unlocked;

/// Threads inside the slot that are not its owner (atomic add/sub).
var readers: [handles_max + 1]u32 = @splat(0);
/// The handle the owner thread is reading now, or 0 (plain stores).
var owner_reading: [handles_max + 1]i32 = @splat(0);
/// Thread pointer of the thread that opened the slot's counter; 0 = none
/// (every reader counts itself).
var owner_thread: [handles_max + 1]usize = @splat(0);
/// Thread id of the live counter's opener, 0 while the slot is free: the
/// sweep scans this compact array, not the counters.
var owner_tid: [handles_max + 1]i32 = @splat(0);
/// The thread of the previous pm_open: a different one triggers a sweep.
var last_open_tid: i32 = 0;
/// Closed counters whose resources wait for their readers to leave.
var parked: [handles_max + 1]bool = @splat(false);
var parked_count: u32 = 0;
/// Whether membarrier(PRIVATE_EXPEDITED) is registered (decided once).
var asymmetric: enum(u8) { unknown, yes, no } = .unknown;

pub fn encode(slot: u32, generation: u32) i32 {
    assert(slot >= 1 and slot <= handles_max);
    assert(generation <= generation_mask);
    return @intCast(slot | generation << slot_bits);
}

pub fn slotOf(handle: i32) LookupError!u32 {
    if (handle <= 0) return error.BadHandle;
    const slot: u32 = @as(u32, @intCast(handle)) & slot_mask;
    if (slot == 0) return error.BadHandle;
    return slot;
}

/// The live counter a handle names, for callers that hold the lock (no
/// close can run). Everyone else enters the slot (`enter`, `enterOwner`).
pub fn lookupLocked(handle: i32) LookupError!*Counter {
    assert(lockHeld());
    const counter = &counters[@as(u32, @bitCast(handle)) & slot_mask];
    if (handle > 0 and @atomicLoad(i32, &counter.handle, .acquire) == handle) return counter;
    return lookupFailure(handle);
}

noinline fn lookupFailure(handle: i32) LookupError {
    _ = try slotOf(handle);
    return error.StaleHandle;
}

/// The current thread's pointer (TCB address): unique among live threads,
/// read without a syscall.
pub inline fn threadPointer() usize {
    return switch (builtin.cpu.arch) {
        .x86_64 => asm volatile ("movq %%fs:0, %[ret]"
            : [ret] "=r" (-> usize),
        ),
        .aarch64 => asm volatile ("mrs %[ret], tpidr_el0"
            : [ret] "=r" (-> usize),
        ),
        else => linux.tls.getThreadPointer(),
    };
}

inline fn compilerBarrier() void {
    asm volatile ("" ::: .{ .memory = true });
}

/// Whether this thread is the owner of the counter in `handle`'s slot, so
/// that it may enter with `enterOwner`. A stale handle may match a slot
/// whose new counter this thread owns: enterOwner's check then fails.
pub inline fn isOwner(handle: i32) bool {
    const slot = @as(u32, @bitCast(handle)) & slot_mask;
    return @atomicLoad(usize, &owner_thread[slot], .monotonic) == threadPointer();
}

/// The hot path's entry, for the owner thread only (isOwner): a plain store
/// of the handle, then one compare. `leaveOwner` must follow a success.
pub inline fn enterOwner(handle: i32) LookupError!*Counter {
    const slot = @as(u32, @bitCast(handle)) & slot_mask;
    @atomicStore(i32, &owner_reading[slot], handle, .monotonic);
    // The store must reach memory before the handle is loaded; the hardware
    // order is the closer's membarrier's business, this is the compiler's.
    compilerBarrier();
    const counter = &counters[slot];
    if (handle > 0 and @atomicLoad(i32, &counter.handle, .acquire) == handle) return counter;
    // Only this failure path pays a read-modify-write: a stale reader must
    // not erase the announcement of the slot's next owner.
    _ = @cmpxchgStrong(i32, &owner_reading[slot], handle, 0, .monotonic, .monotonic);
    return lookupFailure(handle);
}

pub inline fn leaveOwner(counter: *Counter) void {
    const slot = slotOfCounter(counter);
    // Release: every load from the page is done before the closer may unmap.
    @atomicStore(i32, &owner_reading[slot], 0, .release);
}

/// Entry for any thread and any export: counts the caller in the slot, then
/// checks the handle. `leave` must follow a success. A counter suspended
/// for a remap (`suspendReaders`) is waited for, a bounded number of yields.
pub fn enter(handle: i32) LookupError!*Counter {
    const slot = @as(u32, @bitCast(handle)) & slot_mask;
    const counter = &counters[slot];
    var waits: u32 = 0;
    while (true) : (waits += 1) {
        _ = @atomicRmw(u32, &readers[slot], .Add, 1, .seq_cst);
        if (handle > 0 and @atomicLoad(i32, &counter.handle, .seq_cst) == handle) return counter;
        _ = @atomicRmw(u32, &readers[slot], .Sub, 1, .release);
        if (handle <= 0 or @atomicLoad(i32, &counter.handle, .acquire) != -handle) return lookupFailure(handle);
        if (waits >= lock_attempts_max) return error.Busy;
        syscalls.schedYield();
    }
}

/// Keeps readers out of a live counter while its mapping changes: the slot
/// holds -handle (no reader's check passes; `enter` waits for it), and the
/// readers inside are waited for. Caller holds the lock; on success it must
/// call `resumeReaders`.
pub fn suspendReaders(counter: *Counter) error{Busy}!void {
    assert(lockHeld());
    const handle = counter.handle;
    assert(handle > 0);
    @atomicStore(i32, &counter.handle, -handle, .seq_cst);
    if (drainedFor(counter, handle, true)) return;
    @atomicStore(i32, &counter.handle, handle, .release);
    return error.Busy;
}

pub fn resumeReaders(counter: *Counter) void {
    assert(lockHeld());
    assert(counter.handle < 0);
    @atomicStore(i32, &counter.handle, -counter.handle, .release);
}

/// How a slot was entered: by its owner (plain store) or counted.
pub const Entry = struct {
    counter: *Counter,
    owner: bool,
};

/// `enterOwner` when this thread owns the slot, else `enter`. `leaveEntry`
/// must follow a success.
pub inline fn enterAny(handle: i32) LookupError!Entry {
    if (isOwner(handle)) {
        if (enterOwner(handle)) |counter| return .{ .counter = counter, .owner = true } else |_| {}
    }
    return .{ .counter = try enter(handle), .owner = false };
}

/// `handle` is the one `enterAny` entered with (its slot is found from it,
/// not from the counter's address).
pub inline fn leaveEntry(entry: Entry, handle: i32) void {
    const slot = @as(u32, @bitCast(handle)) & slot_mask;
    assert(&counters[slot] == entry.counter);
    if (entry.owner) {
        // Release: every load from the page is done before the closer may unmap.
        @atomicStore(i32, &owner_reading[slot], 0, .release);
    } else {
        const before = @atomicRmw(u32, &readers[slot], .Sub, 1, .release);
        assert(before >= 1);
    }
}

/// A member of a group whose leader's slot the caller has entered: the
/// live counter `handle` names, or null (closed, stale, or suspended for a
/// remap; `memberFailure` tells which). No entry of its own: its close and
/// its remap wait for the leader's readers (`drainedFor`). The load of the
/// handle comes after the caller's entry and is ordered with it as `enter`'s
/// own load is (seq_cst: a plain load on x86, LDAR on aarch64, as acquire).
pub inline fn member(handle: i32) ?*Counter {
    const counter = &counters[@as(u32, @bitCast(handle)) & slot_mask];
    if (handle > 0 and @atomicLoad(i32, &counter.handle, .seq_cst) == handle) return counter;
    return null;
}

/// Why `member` found no counter: Busy while it is suspended for a remap,
/// or live again since (the remap ended between `member`'s look and this
/// one); the caller leaves the leader's slot and tries again, as `enter`
/// waits. Else the lookup's error.
pub fn memberFailure(handle: i32) LookupError {
    const counter = &counters[@as(u32, @bitCast(handle)) & slot_mask];
    const now = @atomicLoad(i32, &counter.handle, .acquire);
    if (handle > 0 and (now == -handle or now == handle)) return error.Busy;
    return lookupFailure(handle);
}

pub fn leave(counter: *Counter) void {
    const slot = slotOfCounter(counter);
    const before = @atomicRmw(u32, &readers[slot], .Sub, 1, .release);
    assert(before >= 1);
}

/// The counter in `slot` if it is live (used to walk a group).
pub fn liveAt(slot: u32) ?*Counter {
    assert(slot <= handles_max);
    if (slot == 0) return null;
    const counter = &counters[slot];
    return if (@atomicLoad(i32, &counter.handle, .acquire) > 0) counter else null;
}

pub fn acquireLock() ClaimError!void {
    var attempts: u32 = 0;
    while (attempts < lock_attempts_max) : (attempts += 1) {
        if (lock.tryLock()) return;
        syscalls.schedYield();
    }
    return error.LockTimeout;
}

pub fn releaseLock() void {
    lock.unlock();
}

fn lockHeld() bool {
    return @atomicLoad(std.atomic.Mutex, &lock, .monotonic) == .locked;
}

const MEMBARRIER_CMD_QUERY = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4;

fn membarrier(command: u32) usize {
    return linux.syscall3(.membarrier, command, 0, 0);
}

/// Registers the process for membarrier(PRIVATE_EXPEDITED) once. Caller
/// holds the lock.
fn asymmetricAvailable() bool {
    assert(lockHeld());
    if (asymmetric == .unknown) {
        const commands = membarrier(MEMBARRIER_CMD_QUERY);
        const supported = linux.errno(commands) == .SUCCESS and commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED != 0 and
            linux.errno(membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) == .SUCCESS;
        asymmetric = if (supported) .yes else .no;
    }
    return asymmetric == .yes;
}

pub const Claim = struct { slot: u32, handle: i32, counter: *Counter };

/// Reserves the next free slot after the cursor. Caller holds the lock and
/// must then `publish` or `unclaim` it.
pub fn claim() ClaimError!Claim {
    var probes: u32 = 0;
    while (probes < handles_max) : (probes += 1) {
        cursor = cursor % handles_max + 1;
        const slot = cursor;
        if (claimed[slot] or counters[slot].handle != 0) continue;
        claimed[slot] = true;
        generations[slot] = (generations[slot] + 1) & generation_mask;
        counters[slot] = .{};
        return .{ .slot = slot, .handle = encode(slot, generations[slot]), .counter = &counters[slot] };
    }
    return error.TableFull;
}

/// Makes the claimed slot's counter live, owned by the calling thread.
pub fn publish(reservation: Claim) void {
    assert(claimed[reservation.slot]);
    assert(reservation.counter.handle == 0);
    const owner: usize = if (asymmetricAvailable()) threadPointer() else 0;
    @atomicStore(usize, &owner_thread[reservation.slot], owner, .monotonic);
    owner_tid[reservation.slot] = syscalls.gettid();
    claimed[reservation.slot] = false;
    @atomicStore(i32, &reservation.counter.handle, reservation.handle, .release);
}

pub fn unclaim(reservation: Claim) void {
    assert(claimed[reservation.slot]);
    claimed[reservation.slot] = false;
}

/// Makes the handle stale, waits for the readers inside the slot to leave,
/// and releases the counter's fd and mapping; if they do not leave in time,
/// parks the slot (still claimed) for `reapParked`. Caller holds the lock.
pub fn retireAndRelease(counter: *Counter) void {
    assert(lockHeld());
    assert(counter.handle > 0);
    const slot = slotOfCounter(counter);
    const handle = counter.handle;
    @atomicStore(i32, &counter.handle, 0, .seq_cst);
    owner_tid[slot] = 0;
    if (drainedFor(counter, handle, true)) {
        counter_mod.close(counter);
        return;
    }
    // The retired handle stays in the slot's state for the later check.
    counter.parked_handle = handle;
    claimed[slot] = true;
    parked[slot] = true;
    parked_count += 1;
}

/// A slot entered under `handle`, which a retiring counter waits to empty.
const Watched = struct { slot: u32, handle: i32 };

/// Whether no reader that may touch `counter` (retired or suspended from
/// `handle`) is inside: none in its own slot, and for a group member none
/// in its leader's slot, where group reads enter (see the file comment).
/// The leader counts while it lives or is parked under the member's
/// `leader_handle`; a leader since released took its readers' departure
/// with it. Caller holds the lock.
fn drainedFor(counter: *const Counter, handle: i32, wait: bool) bool {
    assert(lockHeld());
    var watched: [2]Watched = .{ .{ .slot = slotOfCounter(counter), .handle = handle }, undefined };
    var count: usize = 1;
    if (counter.leader_slot != 0) {
        const leader = &counters[counter.leader_slot];
        const leader_handle = counter.leader_handle;
        assert(leader_handle > 0);
        const leads = @atomicLoad(i32, &leader.handle, .acquire) == leader_handle or
            (parked[counter.leader_slot] and leader.parked_handle == leader_handle);
        if (leads) {
            watched[1] = .{ .slot = counter.leader_slot, .handle = leader_handle };
            count = 2;
        }
    }
    return drained(watched[0..count], wait);
}

/// Whether no reader is inside any of the `watched` slots, after a bounded
/// wait when `wait`.
fn drained(watched: []const Watched, wait: bool) bool {
    assert(watched.len >= 1);
    for (watched) |entry| {
        const owner = @atomicLoad(usize, &owner_thread[entry.slot], .monotonic);
        if (owner != 0 and owner != threadPointer()) {
            // Order the retired handle against the owner's plain
            // announcement: one barrier serves every slot watched.
            if (linux.errno(membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)) != .SUCCESS) return false;
            break;
        }
    }
    var tries: u32 = 0;
    while (true) : (tries += 1) {
        const busy = for (watched) |entry| {
            if (@atomicLoad(u32, &readers[entry.slot], .seq_cst) != 0 or
                @atomicLoad(i32, &owner_reading[entry.slot], .seq_cst) == entry.handle) break true;
        } else false;
        if (!busy) return true;
        if (!wait or tries >= drain_spins_max + drain_yields_max) return false;
        if (tries >= drain_spins_max) syscalls.schedYield() else std.atomic.spinLoopHint();
    }
}

/// Releases parked counters whose readers have left. Caller holds the lock.
pub fn reapParked() void {
    assert(lockHeld());
    if (parked_count == 0) return;
    var slot: u32 = 1;
    while (slot <= handles_max) : (slot += 1) {
        if (!parked[slot]) continue;
        const counter = &counters[slot];
        if (!drainedFor(counter, counter.parked_handle, false)) continue;
        counter_mod.close(counter);
        counter.parked_handle = 0;
        parked[slot] = false;
        claimed[slot] = false;
        parked_count -= 1;
    }
}

/// Sweeps when the calling thread is not the one that opened last (see the
/// file comment). Caller holds the lock.
pub fn sweepOnThreadChange() void {
    assert(lockHeld());
    const tid = syscalls.gettid();
    if (tid == last_open_tid) return;
    last_open_tid = tid;
    _ = sweep();
}

/// Closes every live counter whose opening thread has ended; returns how
/// many. Caller holds the lock. One tgkill per distinct thread id (the
/// last few answers are remembered), one pass over `owner_tid`.
pub fn sweep() u32 {
    assert(lockHeld());
    const pid = linux.getpid();
    var known: [known_threads_max]struct { tid: i32, alive: bool } = undefined;
    var known_count: usize = 0;
    var closed: u32 = 0;
    var slot: u32 = 1;
    while (slot <= handles_max) : (slot += 1) {
        const tid = owner_tid[slot];
        if (tid == 0) continue;
        const alive = for (known[0..known_count]) |entry| {
            if (entry.tid == tid) break entry.alive;
        } else alive: {
            const answer = threadAlive(pid, tid);
            known[known_count % known_threads_max] = .{ .tid = tid, .alive = answer };
            known_count = @min(known_count + 1, known_threads_max);
            break :alive answer;
        };
        if (alive) continue;
        const counter = &counters[slot];
        assert(counter.handle > 0);
        retireAndRelease(counter);
        closed += 1;
    }
    return closed;
}

const known_threads_max = 32;

/// Whether thread `tid` of this process exists. Anything but ESRCH (EPERM
/// cannot happen within one process; an error we do not expect) counts as
/// alive: a sweep must never close a live thread's counter.
fn threadAlive(pid: i32, tid: i32) bool {
    assert(tid > 0);
    const rc = linux.syscall3(.tgkill, @as(u32, @bitCast(pid)), @as(u32, @bitCast(tid)), 0);
    return linux.errno(rc) != .SRCH;
}

/// How many closed counters wait for their readers (for tests).
pub fn parkedCount() u32 {
    return parked_count;
}

pub fn slotOfCounter(counter: *const Counter) u32 {
    const slot = (@intFromPtr(counter) - @intFromPtr(&counters[0])) / @sizeOf(Counter);
    assert(slot >= 1 and slot <= handles_max);
    return @intCast(slot);
}

test "handle encoding: slot and generation round-trip, bad handles refused" {
    const handle = encode(4095, generation_mask);
    try std.testing.expect(handle > 0);
    try std.testing.expectEqual(@as(u32, 4095), try slotOf(handle));
    try std.testing.expectError(error.BadHandle, slotOf(0));
    try std.testing.expectError(error.BadHandle, slotOf(-5));
    try std.testing.expectError(error.BadHandle, slotOf(1 << 12)); // slot 0
    try std.testing.expectError(error.StaleHandle, enter(encode(7, 12345)));
}
