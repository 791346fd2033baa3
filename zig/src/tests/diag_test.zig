const std = @import("std");
const builtin = @import("builtin");
const attr_mod = @import("../attr.zig");
const syscalls = @import("../syscalls.zig");
const errno = @import("../errno.zig");
const page_mod = @import("../page.zig");

fn openRaw(event_type: u32, config: u64, config1: u64) !struct { fd: i32, page: *page_mod.Page } {
    var attr: attr_mod.PerfEventAttr = .{ .type = event_type, .config = config };
    attr.flags.exclude_kernel = true;
    attr.flags.exclude_hv = true;
    attr.setConfig1(config1);
    var failure: errno.Failure = undefined;
    const fd = syscalls.perfEventOpen(&attr, 0, -1, -1, attr_mod.PERF_FLAG_FD_CLOEXEC, &failure) catch {
        std.debug.print("DIAG open type {d} cfg {x} c1 {x} failed {d}\n", .{ event_type, config, config1, failure.code() });
        return error.Open;
    };
    const m = try syscalls.mmapShared(fd, 4096, &failure);
    return .{ .fd = fd, .page = @ptrCast(m) };
}

test "DIAG arm64 allocation" {
    if (builtin.cpu.arch != .aarch64) return error.SkipZigTest;
    const cyc = openRaw(0, 0, 3) catch return error.SkipZigTest;
    std.debug.print("DIAG cycles idx {d} w {d}\n", .{ cyc.page.index, cyc.page.pmc_width });
    var fds: [5]i32 = undefined;
    for (&fds, 0..) |*fd, i| {
        const r = try openRaw(4, 0x11, 2);
        fd.* = r.fd;
        std.debug.print("DIAG raw32 #{d} idx {d}\n", .{ i, r.page.index });
    }
    for (fds) |fd| syscalls.close(fd);
    const wide = try openRaw(4, 0x11, 3);
    std.debug.print("DIAG raw64 idx {d} w {d}\n", .{ wide.page.index, wide.page.pmc_width });
    const after = try openRaw(4, 0x11, 2);
    std.debug.print("DIAG raw32 with raw64 open: idx {d}\n", .{after.page.index});
    syscalls.close(wide.fd);
    const after2 = try openRaw(4, 0x11, 2);
    std.debug.print("DIAG raw32 after raw64 closed (still mapped): idx {d}\n", .{after2.page.index});
    syscalls.munmap(@ptrCast(wide.page), 4096);
    const after3 = try openRaw(4, 0x11, 2);
    std.debug.print("DIAG raw32 after raw64 unmapped: idx {d}\n", .{after3.page.index});
    const wide2 = try openRaw(0, 0, 3);
    std.debug.print("DIAG hw cycles64 #2 idx {d} w {d}\n", .{ wide2.page.index, wide2.page.pmc_width });
}
