//! Root of `zig build test` (and of the perfmmap-tests executable the arm64
//! QEMU tier runs): every module's own tests, then the tests against the
//! real kernel and the real launcher binary.
test {
    _ = @import("errno.zig");
    _ = @import("attr.zig");
    _ = @import("page.zig");
    _ = @import("time.zig");
    _ = @import("arch.zig");
    _ = @import("read_format.zig");
    _ = @import("self_read.zig");
    _ = @import("handles.zig");
    _ = @import("sim.zig");
    _ = @import("sysfs.zig");
    _ = @import("system.zig");
    _ = @import("ring.zig");
    _ = @import("ring_reader.zig");
    _ = @import("exports.zig");
    _ = @import("tests/self_read_test.zig");
    _ = @import("tests/access_test.zig");
    _ = @import("tests/exports_test.zig");
    _ = @import("tests/events_test.zig");
    _ = @import("tests/hardware_test.zig");
    _ = @import("tests/launcher_test.zig");
    _ = @import("tests/ring_test.zig");
    _ = @import("tests/sampling_test.zig");
    _ = @import("tests/contract_test.zig");
    _ = @import("tests/group_read_test.zig");
    _ = @import("tests/race_test.zig");
}
