//! The fixed table of counters and the handles that name them.
//!
//! A handle is a positive i32: bits 0..11 = slot (1..handles_max; slot 0 is
//! never used), bits 12..30 = the slot's generation. Slots are handed out
//! round-robin, so a slot is reused at most once every handles_max opens and
//! a stale handle is caught by its generation, never by touching freed state.
//!
//! Lookup is lock-free (one compare of the stored handle); open and close
//! serialize on a small spin lock so two threads never claim one slot.
const std = @import("std");
const assert = std.debug.assert;
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
const lock_attempts_max = 1 << 20;

comptime {
    assert(handles_max == slot_mask);
    assert(slot_bits + generation_bits == 31); // bit 31 stays clear: handles are positive
}

pub const LookupError = error{ BadHandle, StaleHandle };
pub const ClaimError = error{ TableFull, LockTimeout };

/// Zero bytes (not `.{}`), so the table lives in .bss, not in the file.
var counters: [handles_max + 1]Counter = std.mem.zeroes([handles_max + 1]Counter);
var generations: [handles_max + 1]u32 = @splat(0);
/// A slot between claim and publish/release is neither free nor live.
var claimed: [handles_max + 1]bool = @splat(false);
var cursor: u32 = 0;
var lock: std.atomic.Mutex = .unlocked;

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

/// The live counter a handle names. The hot path: no lock, no syscall, and
/// one compare: slot 0 and free slots store 0, live ones their (positive)
/// handle, so a positive handle equal to its slot's stored one is live.
/// Anything else is classified out of line.
pub inline fn lookup(handle: i32) LookupError!*Counter {
    const counter = &counters[@as(u32, @bitCast(handle)) & slot_mask];
    if (handle > 0 and @atomicLoad(i32, &counter.handle, .acquire) == handle) return counter;
    return lookupFailure(handle);
}

noinline fn lookupFailure(handle: i32) LookupError {
    _ = try slotOf(handle);
    return error.StaleHandle;
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

pub fn publish(reservation: Claim) void {
    assert(claimed[reservation.slot]);
    assert(reservation.counter.handle == 0);
    claimed[reservation.slot] = false;
    @atomicStore(i32, &reservation.counter.handle, reservation.handle, .release);
}

pub fn unclaim(reservation: Claim) void {
    assert(claimed[reservation.slot]);
    claimed[reservation.slot] = false;
}

/// Makes the handle stale. Caller holds the lock and has released the
/// counter's resources.
pub fn retire(counter: *Counter) void {
    assert(counter.handle > 0);
    @atomicStore(i32, &counter.handle, 0, .release);
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
    try std.testing.expectError(error.StaleHandle, lookup(encode(7, 12345)));
}
