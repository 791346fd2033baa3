//! Selects the register reader of the target architecture at compile time.
const builtin = @import("builtin");

pub const reader = switch (builtin.cpu.arch) {
    .x86_64 => @import("arch/x86_64.zig"),
    .aarch64 => @import("arch/aarch64.zig"),
    else => @import("arch/none.zig"),
};

/// `pm_arch` result: 1 = x86_64 (rdpmc), 2 = aarch64 (mrs), 0 = no reader.
pub const arch_code: u32 = switch (builtin.cpu.arch) {
    .x86_64 => 1,
    .aarch64 => 2,
    else => 0,
};

test {
    _ = @import("arch/aarch64.zig");
}
