//! perfmmap-launch, the real binary, run the way `perfmmap stat` runs it:
//! forked with a pipe on fd 3, counters opened on its pid, then one byte.
const std = @import("std");
const linux = std.os.linux;
const attr_mod = @import("../attr.zig");
const exports = @import("../exports.zig");
const launcher = @import("../launcher.zig");
const support = @import("support.zig");

const testing = std.testing;

var launcher_path_buffer: [4096]u8 = undefined;

/// zig-out/test-bin/perfmmap-launch when run by `zig build test` (cwd zig/),
/// or next to this test executable (the QEMU tier installs both together).
fn launcherPath() ![:0]const u8 {
    const installed = "zig-out/test-bin/perfmmap-launch";
    if (linux.errno(linux.access(installed, linux.X_OK)) == .SUCCESS) return installed;
    const rc = linux.readlink("/proc/self/exe", &launcher_path_buffer, launcher_path_buffer.len - 32);
    if (linux.errno(rc) == .SUCCESS) {
        const directory = std.fs.path.dirname(launcher_path_buffer[0..rc]) orelse "/";
        const name = "/perfmmap-launch";
        @memcpy(launcher_path_buffer[directory.len..][0..name.len], name);
        launcher_path_buffer[directory.len + name.len] = 0;
        const full = launcher_path_buffer[0 .. directory.len + name.len :0];
        if (linux.errno(linux.access(full, linux.X_OK)) == .SUCCESS) return full;
    }
    return support.skip("perfmmap-launch not found (zig-out/test-bin/ or next to the test executable); run `zig build test`", .{});
}

const Child = struct {
    pid: i32,
    go_write: i32,
    stderr_read: i32,
};

/// Forks the launcher with the go pipe on fd 3 and stderr on a pipe.
fn spawn(path: [:0]const u8, argv: [*:null]const ?[*:0]const u8) !Child {
    var go_pipe: [2]i32 = undefined;
    var errors: [2]i32 = undefined;
    var exec_sync: [2]i32 = undefined;
    if (linux.errno(linux.pipe2(&go_pipe, .{ .CLOEXEC = true })) != .SUCCESS) return error.Pipe;
    if (linux.errno(linux.pipe2(&errors, .{ .CLOEXEC = true })) != .SUCCESS) return error.Pipe;
    if (linux.errno(linux.pipe2(&exec_sync, .{ .CLOEXEC = true })) != .SUCCESS) return error.Pipe;
    const envp = [_:null]?[*:0]const u8{"PATH=/usr/local/bin:/usr/bin:/bin"};
    const rc = linux.fork();
    if (linux.errno(rc) != .SUCCESS) return error.Fork;
    if (rc == 0) {
        // Child: only raw syscalls between fork and exec.
        if (go_pipe[0] == launcher.go_fd) {
            // dup2 onto itself would keep close-on-exec.
            _ = linux.fcntl(launcher.go_fd, linux.F.SETFD, 0);
        } else {
            _ = linux.dup2(go_pipe[0], launcher.go_fd);
        }
        _ = linux.dup2(errors[1], 2);
        _ = linux.execve(path, argv, &envp);
        linux.exit_group(99);
    }
    _ = linux.close(go_pipe[0]);
    _ = linux.close(errors[1]);
    // EOF on the close-on-exec pipe: the launcher runs. Counters opened with
    // enable_on_exec before this point would fire on the launcher's own exec
    // (spawn APIs of Deno and Bun return only after the exec, too).
    _ = linux.close(exec_sync[1]);
    var byte: [1]u8 = undefined;
    var reads: u32 = 0;
    while (reads < 1000) : (reads += 1) {
        if (linux.errno(linux.read(exec_sync[0], &byte, 1)) != .INTR) break;
    }
    _ = linux.close(exec_sync[0]);
    return .{ .pid = @intCast(rc), .go_write = go_pipe[1], .stderr_read = errors[0] };
}

/// Waits for the child and returns its exit code (or fails on a signal).
fn finish(child: Child, stderr_text: []u8) !struct { code: u8, stderr: []const u8 } {
    var length: usize = 0;
    var reads: u32 = 0;
    while (reads < 1000) : (reads += 1) {
        const rc = linux.read(child.stderr_read, stderr_text.ptr + length, stderr_text.len - length);
        if (linux.errno(rc) == .INTR) continue;
        if (linux.errno(rc) != .SUCCESS or rc == 0) break;
        length += rc;
    }
    _ = linux.close(child.stderr_read);
    var status: i32 = 0;
    var waits: u32 = 0;
    while (waits < 1000) : (waits += 1) {
        const rc = linux.wait4(child.pid, &status, 0, null);
        if (linux.errno(rc) == .INTR) continue;
        if (linux.errno(rc) != .SUCCESS) return error.Wait;
        break;
    }
    const bits: u32 = @bitCast(status);
    if (bits & 0x7f != 0) return error.KilledBySignal;
    return .{ .code = @truncate(bits >> 8), .stderr = stderr_text[0..length] };
}

fn go(child: Child) void {
    _ = linux.write(child.go_write, "g", 1);
    _ = linux.close(child.go_write);
}

test "launcher: execs the command (PATH search) only after the go byte" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "sh", "-c", "exit 7" };
    const child = try spawn(path, &argv);
    // Counters opened on the waiting child start at exec, as perfmmap stat does.
    var bytes = support.attrBytes(attr_mod.PERF_TYPE_SOFTWARE, attr_mod.PERF_COUNT_SW_TASK_CLOCK, .{
        .disabled = true,
        .enable_on_exec = true,
        .inherit = true,
    });
    const handle = exports.pm_open(&bytes, child.pid, -1, -1, 1 | (1 << 2));
    if (handle < 0) std.debug.print("pm_open on the launcher's pid = {d}\n", .{handle});
    try testing.expect(handle > 0);
    defer _ = exports.pm_close(handle);
    support.sleepMilliseconds(5);
    try testing.expectEqual(@as(f64, 0), exports.pm_read(handle)); // still waiting: nothing counted
    go(child);
    var text: [512]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqual(@as(u8, 7), result.code);
    try testing.expectEqualStrings("", result.stderr);
    try testing.expect(exports.pm_read(handle) > 0); // the command's run was counted
}

test "launcher: EOF on fd 3 exits 125 without exec" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "sh", "-c", "exit 7" };
    const child = try spawn(path, &argv);
    _ = linux.close(child.go_write);
    var text: [512]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqual(@as(u8, launcher.exit_launcher_failed), result.code);
}

test "launcher: a missing command exits 127, a non-executable one 126, with a message" {
    const path = try launcherPath();
    const cases = [_]struct { command: [*:0]const u8, code: u8, message: []const u8 }{
        .{ .command = "perfmmap-no-such-command", .code = 127, .message = "perfmmap-launch: perfmmap-no-such-command: No such file or directory\n" },
        .{ .command = "/proc/version", .code = 126, .message = "perfmmap-launch: /proc/version: Permission denied\n" },
    };
    for (cases) |case| {
        const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", case.command };
        const child = try spawn(path, &argv);
        go(child);
        var text: [512]u8 = undefined;
        const result = try finish(child, &text);
        try testing.expectEqual(case.code, result.code);
        try testing.expectEqualStrings(case.message, result.stderr);
    }
}

test "launcher: no command prints usage and exits 125" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{"perfmmap-launch"};
    const child = try spawn(path, &argv);
    go(child);
    var text: [512]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqual(@as(u8, 125), result.code);
    try testing.expect(std.mem.startsWith(u8, result.stderr, "usage: perfmmap-launch"));
}
