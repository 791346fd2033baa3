//! aarch64 register reader. The kernel's `index` names the register:
//! 32 = PMCCNTR_EL0 (the cycle counter), 1..31 = PMEVCNTR<index-1>_EL0.
//!
//! Each read is one MRS whose instruction word is encoded here from the
//! system-register fields and emitted with `.inst`, so the test below can
//! decode exactly the words that run (a widely copied table swaps 12 and 13).
const std = @import("std");
const assert = std.debug.assert;

pub const has_reader = true;
pub const index_max = index_cycle_counter;

/// The user index the kernel gives the cycle counter (ARMV8_IDX_CYCLE_COUNTER_USER).
pub const index_cycle_counter = 32;
const event_counters_max = 31;

pub const SystemRegister = struct {
    op0: u2,
    op1: u3,
    crn: u4,
    crm: u4,
    op2: u3,
};

/// PMCCNTR_EL0: op0=3, op1=3, CRn=9, CRm=13, op2=0 (Arm ARM, D24.5).
pub const pmccntr_el0: SystemRegister = .{ .op0 = 3, .op1 = 3, .crn = 9, .crm = 13, .op2 = 0 };

/// PMEVCNTR<n>_EL0: op0=3, op1=3, CRn=14, CRm=0b10:n[4:3], op2=n[2:0].
pub fn pmevcntrEl0(n: u5) SystemRegister {
    assert(n < event_counters_max);
    return .{ .op0 = 3, .op1 = 3, .crn = 14, .crm = 0b1000 | @as(u4, @intCast(n >> 3)), .op2 = @truncate(n) };
}

/// The system register the kernel's user `index` refers to.
pub fn registerForIndex(index: u32) SystemRegister {
    assert(index >= 1 and index <= index_max);
    if (index == index_cycle_counter) return pmccntr_el0;
    return pmevcntrEl0(@intCast(index - 1));
}

/// `MRS Xt, <sysreg>`: 1101010100 | L=1 | op0 | op1 | CRn | CRm | op2 | Rt.
pub fn mrsWord(register: SystemRegister, rt: u5) u32 {
    const word = @as(u32, 0xD5200000) | @as(u32, register.op0) << 19 | @as(u32, register.op1) << 16 |
        @as(u32, register.crn) << 12 | @as(u32, register.crm) << 8 | @as(u32, register.op2) << 5 | rt;
    assert(word & 0xFFF0_0000 == 0xD530_0000); // MRS with op0 >= 2
    return word;
}

/// The instruction word `readCounter` executes for `index` (result in x0).
pub fn readCounterWord(index: u32) u32 {
    return mrsWord(registerForIndex(index), 0);
}

/// The `.inst` line for each index, formatted once: readCounter is inlined at
/// every call site, and formatting 32 words at each one ran past the
/// compiler's comptime branch quota once the group reader added sites.
const read_counter_asm = table: {
    @setEvalBranchQuota(20_000);
    var lines: [index_max + 1][]const u8 = undefined;
    lines[0] = "";
    for (1..index_max + 1) |i| {
        lines[i] = std.fmt.comptimePrint(".inst 0x{x:0>8}", .{readCounterWord(@intCast(i))});
    }
    break :table lines;
};

pub inline fn readCounter(index: u32) u64 {
    return switch (index) {
        inline 1...index_max => |i| asm volatile (read_counter_asm[i]
            : [value] "={x0}" (-> u64),
        ),
        else => value: {
            // self_read checks 1 <= index <= index_max before calling.
            assert(false);
            break :value 0;
        },
    };
}

pub inline fn readTimestamp() u64 {
    return asm volatile ("mrs %[value], cntvct_el0"
        : [value] "=r" (-> u64),
    );
}

const Decoded = struct { op0: u32, op1: u32, crn: u32, crm: u32, op2: u32, rt: u32 };

fn decodeMrs(word: u32) Decoded {
    return .{
        .op0 = (word >> 19) & 0b11,
        .op1 = (word >> 16) & 0b111,
        .crn = (word >> 12) & 0b1111,
        .crm = (word >> 8) & 0b1111,
        .op2 = (word >> 5) & 0b111,
        .rt = word & 0b11111,
    };
}

test "aarch64 register map: every index 1..32 decodes to its own register" {
    var seen: [index_max + 1]u32 = undefined;
    var index: u32 = 1;
    while (index <= index_max) : (index += 1) {
        const word = readCounterWord(index);
        // Bits 31..20: MRS (L=1) with op0[1] = 1.
        try std.testing.expectEqual(@as(u32, 0xD53), word >> 20);
        const fields = decodeMrs(word);
        try std.testing.expectEqual(@as(u32, 3), fields.op0);
        try std.testing.expectEqual(@as(u32, 3), fields.op1);
        try std.testing.expectEqual(@as(u32, 0), fields.rt);
        if (index == 32) {
            try std.testing.expectEqual(@as(u32, 9), fields.crn);
            try std.testing.expectEqual(@as(u32, 13), fields.crm);
            try std.testing.expectEqual(@as(u32, 0), fields.op2);
        } else {
            // The counter number n = CRm[1:0]:op2 must equal index - 1.
            try std.testing.expectEqual(@as(u32, 14), fields.crn);
            try std.testing.expectEqual(@as(u32, 0b10), fields.crm >> 2);
            try std.testing.expectEqual(index - 1, (fields.crm & 0b11) << 3 | fields.op2);
        }
        for (seen[1..index]) |other| try std.testing.expect(other != word);
        seen[index] = word;
    }
    // Words the GNU and LLVM assemblers produce for these mnemonics.
    try std.testing.expectEqual(@as(u32, 0xD53B9D00), readCounterWord(32)); // mrs x0, pmccntr_el0
    try std.testing.expectEqual(@as(u32, 0xD53BE800), readCounterWord(1)); // mrs x0, pmevcntr0_el0
    try std.testing.expectEqual(@as(u32, 0xD53BE960), readCounterWord(12)); // mrs x0, pmevcntr11_el0
    try std.testing.expectEqual(@as(u32, 0xD53BE980), readCounterWord(13)); // mrs x0, pmevcntr12_el0
    try std.testing.expectEqual(@as(u32, 0xD53BEBC0), readCounterWord(31)); // mrs x0, pmevcntr30_el0
}
