//! Builds the perfmmap native core.
//!
//!   zig build                              all four targets into ../native/<folder>/
//!   zig build -Dtarget=x86_64-linux-gnu    one target
//!   zig build test                         unit tests on the host (-Doptimize for the tests)
//!   zig build test-exe -Dtarget=aarch64-linux-gnu
//!                                          the test executable, at zig-out/bin/perfmmap-tests
//!
//! Libraries and the launcher are always ReleaseFast and link no libc, so the
//! gnu and musl folders hold the same code: both exist so that resolution by
//! folder name is uniform.
const std = @import("std");

const NativeTarget = struct {
    folder: []const u8,
    triple: []const u8,
};

/// The folder names are part of the ABI (see ABI.md, "Build outputs").
const native_targets = [_]NativeTarget{
    .{ .folder = "linux-x64-gnu", .triple = "x86_64-linux-gnu" },
    .{ .folder = "linux-x64-musl", .triple = "x86_64-linux-musl" },
    .{ .folder = "linux-arm64-gnu", .triple = "aarch64-linux-gnu" },
    .{ .folder = "linux-arm64-musl", .triple = "aarch64-linux-musl" },
};

pub fn build(b: *std.Build) void {
    const target_triple = b.option([]const u8, "target", "One zig target triple (default: all four)");
    const optimize_tests = b.option(std.builtin.Optimize, "optimize", "Optimization of the tests (default Debug)") orelse .debug;

    const install_native = b.addUpdateSourceFiles();
    const set_nodelete = b.addExecutable(.{
        .name = "set_nodelete",
        .root_module = b.createModule(.{
            .root_source_file = b.path("tools/set_nodelete.zig"),
            .target = b.graph.host,
            .optimize = .debug,
        }),
    });
    b.getInstallStep().dependOn(&install_native.step);
    for (native_targets) |native| {
        if (target_triple) |triple| {
            if (!std.mem.eql(u8, triple, native.triple)) continue;
        }
        const target = resolve(b, native.triple);
        const library = markNoDelete(b, set_nodelete, addCore(b, target));
        const launcher = addLauncher(b, target);
        const folder = b.fmt("../native/{s}/", .{native.folder});
        install_native.addCopyFileToSource(library, b.fmt("{s}libperfmmap.so", .{folder}));
        install_native.addCopyFileToSource(launcher.getEmittedBin(), b.fmt("{s}perfmmap-launch", .{folder}));
    }

    const test_target = if (target_triple) |triple| resolve(b, triple) else b.graph.host;
    const tests = b.addTest(.{
        .name = "perfmmap-tests",
        .root_module = b.createModule(.{
            .root_source_file = b.path("src/tests.zig"),
            .target = test_target,
            .optimize = optimize_tests,
            .link_libc = false,
        }),
    });
    const launcher_for_tests = addLauncher(b, test_target);
    // The launcher tests exec the real launcher binary (the test runner
    // takes no extra arguments, so they find it by path): for `test` in
    // zig-out/test-bin/, for `test-exe` next to perfmmap-tests in zig-out/bin/.
    const run_tests = b.addRunArtifact(tests);
    run_tests.setCwd(b.path("."));
    run_tests.step.dependOn(&b.addInstallArtifact(launcher_for_tests, .{
        .dest_dir = .{ .override = .{ .custom = "test-bin" } },
    }).step);
    const test_step = b.step("test", "Run the unit tests");
    test_step.dependOn(&run_tests.step);
    const tool_tests = b.addTest(.{ .name = "set_nodelete-tests", .root_module = set_nodelete.root_module });
    test_step.dependOn(&b.addRunArtifact(tool_tests).step);

    const test_exe_step = b.step("test-exe", "Install the test executable and launcher (for the QEMU tier)");
    test_exe_step.dependOn(&b.addInstallArtifact(tests, .{}).step);
    test_exe_step.dependOn(&b.addInstallArtifact(launcher_for_tests, .{}).step);
}

fn resolve(b: *std.Build, triple: []const u8) std.Build.ResolvedTarget {
    const query = std.Target.Query.parse(.{ .arch_os_abi = triple }) catch
        std.debug.panic("bad -Dtarget triple: {s}", .{triple});
    return b.resolveTargetQuery(query);
}

fn addCore(b: *std.Build, target: std.Build.ResolvedTarget) *std.Build.Step.Compile {
    return b.addLibrary(.{
        .name = "perfmmap",
        .linkage = .dynamic,
        .root_module = b.createModule(.{
            .root_source_file = b.path("src/exports.zig"),
            .target = target,
            .optimize = .fast,
            .link_libc = false,
            .pic = true,
            .strip = true,
        }),
    });
}

/// The library with DF_1_NODELETE set (see tools/set_nodelete.zig): an
/// unload never unmaps code that a runtime's pool thread may still be in.
fn markNoDelete(b: *std.Build, set_nodelete: *std.Build.Step.Compile, library: *std.Build.Step.Compile) std.Build.LazyPath {
    const patch = b.addRunArtifact(set_nodelete);
    patch.addFileArg(library.getEmittedBin());
    return patch.addOutputFileArg("libperfmmap.so");
}

fn addLauncher(b: *std.Build, target: std.Build.ResolvedTarget) *std.Build.Step.Compile {
    return b.addExecutable(.{
        .name = "perfmmap-launch",
        .root_module = b.createModule(.{
            .root_source_file = b.path("src/launcher.zig"),
            .target = target,
            .optimize = .fast,
            .link_libc = false,
            .single_threaded = true,
            .strip = true,
        }),
    });
}
