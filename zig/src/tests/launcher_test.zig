//! perfmmap-launch, the real binary, run the way `perfmmap stat` runs it:
//! forked with a control socket on a high fd, counters opened on its pid,
//! then one byte; it reports how the command ended on that socket.
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
    /// Our end of the control socket: the go byte out, the status line in.
    control: i32,
    stderr_read: i32,
};

/// Forks the launcher with the control socket on `control_fd` (and, when
/// `extra_fd` is given, an open non-close-on-exec pipe on it, as a caller's
/// inherited fd), stdout and stderr on a pipe.
fn spawnWith(path: [:0]const u8, argv: [*:null]const ?[*:0]const u8, control_fd: i32, extra_fd: ?i32) !Child {
    var control: [2]i32 = undefined;
    var errors: [2]i32 = undefined;
    var exec_sync: [2]i32 = undefined;
    var extra: [2]i32 = undefined;
    if (linux.errno(linux.socketpair(linux.AF.UNIX, linux.SOCK.STREAM | linux.SOCK.CLOEXEC, 0, &control)) != .SUCCESS) return error.Socket;
    if (linux.errno(linux.pipe2(&errors, .{ .CLOEXEC = true })) != .SUCCESS) return error.Pipe;
    if (linux.errno(linux.pipe2(&exec_sync, .{ .CLOEXEC = true })) != .SUCCESS) return error.Pipe;
    if (linux.errno(linux.pipe2(&extra, .{ .CLOEXEC = true })) != .SUCCESS) return error.Pipe;
    const envp = [_:null]?[*:0]const u8{"PATH=/usr/local/bin:/usr/bin:/bin"};
    const rc = linux.fork();
    if (linux.errno(rc) != .SUCCESS) return error.Fork;
    if (rc == 0) {
        // Child: only raw syscalls between fork and exec. dup2 clears
        // close-on-exec on the new fd; the sources here are all above 2 and
        // never equal to the targets, which the tests pick high.
        _ = linux.dup2(control[1], control_fd);
        if (extra_fd) |fd| _ = linux.dup2(extra[0], fd);
        // stdout too: the test runner's own stdout is its protocol.
        _ = linux.dup2(errors[1], 1);
        _ = linux.dup2(errors[1], 2);
        _ = linux.execve(path, argv, &envp);
        linux.exit_group(99);
    }
    _ = linux.close(control[1]);
    _ = linux.close(errors[1]);
    _ = linux.close(extra[0]);
    _ = linux.close(extra[1]);
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
    return .{ .pid = @intCast(rc), .control = control[0], .stderr_read = errors[0] };
}

/// The control fd the tests use: above the fds a test process has open.
const test_control_fd = 40;

/// `perfmmap-launch 40 <command...>` with the control socket on fd 40.
fn spawn(path: [:0]const u8, argv: [*:null]const ?[*:0]const u8) !Child {
    return spawnWith(path, argv, test_control_fd, null);
}

const Finished = struct { code: u8, stderr: []const u8, control: []const u8 };

fn readAll(fd: i32, buffer: []u8) []const u8 {
    var length: usize = 0;
    var reads: u32 = 0;
    while (reads < 1000) : (reads += 1) {
        const rc = linux.read(fd, buffer.ptr + length, buffer.len - length);
        if (linux.errno(rc) == .INTR) continue;
        if (linux.errno(rc) != .SUCCESS or rc == 0) break;
        length += rc;
    }
    _ = linux.close(fd);
    return buffer[0..length];
}

/// Waits for the child and returns its exit code, stderr and control line
/// (or fails on a signal: the launcher itself must never die of one).
fn finish(child: Child, buffer: *[1024]u8) !Finished {
    const stderr_text = readAll(child.stderr_read, buffer[0..512]);
    const control_text = readAll(child.control, buffer[512..]);
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
    return .{ .code = @truncate(bits >> 8), .stderr = stderr_text, .control = control_text };
}

fn go(child: Child) void {
    _ = linux.write(child.control, "g", 1);
    _ = linux.shutdown(child.control, linux.SHUT.WR);
}

/// "exited 7 123456\n" → "exited 7"
fn withoutElapsed(line: []const u8) []const u8 {
    const last_space = std.mem.lastIndexOfScalar(u8, line, ' ') orelse return line;
    return line[0..last_space];
}

test "launcher: execs the command (PATH search) only after the go byte" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "40", "sh", "-c", "exit 7" };
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
    var text: [1024]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqual(@as(u8, 7), result.code);
    try testing.expectEqualStrings("", result.stderr);
    try testing.expectEqualStrings("exited 7", withoutElapsed(result.control));
    try testing.expect(std.mem.endsWith(u8, result.control, "\n"));
    // The command (the launcher's fork) was counted; the launcher was not.
    try testing.expect(exports.pm_read(handle) > 0);
}

test "launcher: EOF on fd 3 exits 125 without exec" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "40", "sh", "-c", "exit 7" };
    const child = try spawn(path, &argv);
    _ = linux.shutdown(child.control, linux.SHUT.WR);
    var text: [1024]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqual(@as(u8, launcher.exit_launcher_failed), result.code);
    try testing.expectEqualStrings("", result.control);
}

test "launcher: a missing command exits 127, one that cannot run 126, with the shell's message" {
    const path = try launcherPath();
    const cases = [_]struct { command: [*:0]const u8, code: u8, message: []const u8, control: []const u8 }{
        .{ .command = "perfmmap-no-such-command", .code = 127, .message = "perfmmap-launch: perfmmap-no-such-command: No such file or directory\n", .control = "failed 2\n" },
        .{ .command = "/proc/version", .code = 126, .message = "perfmmap-launch: /proc/version: Permission denied\n", .control = "failed 13\n" },
        // A shell says "Is a directory" here, not execve's EACCES.
        .{ .command = "/tmp", .code = 126, .message = "perfmmap-launch: /tmp: Is a directory\n", .control = "failed 21\n" },
    };
    for (cases) |case| {
        const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "40", case.command };
        const child = try spawn(path, &argv);
        go(child);
        var text: [1024]u8 = undefined;
        const result = try finish(child, &text);
        try testing.expectEqual(case.code, result.code);
        try testing.expectEqualStrings(case.message, result.stderr);
        try testing.expectEqualStrings(case.control, result.control);
    }
}

test "launcher: a script without #! runs with /bin/sh, as execvp does" {
    const path = try launcherPath();
    const script = "/tmp/perfmmap-launch-test-script";
    const fd = linux.open(script, .{ .ACCMODE = .WRONLY, .CREAT = true, .TRUNC = true, .CLOEXEC = true }, 0o755);
    if (linux.errno(fd) != .SUCCESS) return error.Open;
    const body = "exit $(( $1 + 1 ))\n";
    _ = linux.write(@intCast(fd), body, body.len);
    _ = linux.close(@intCast(fd));
    defer _ = linux.unlink(script);
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "40", script, "41" };
    const child = try spawn(path, &argv);
    go(child);
    var text: [1024]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqualStrings("", result.stderr);
    try testing.expectEqual(@as(u8, 42), result.code);
    try testing.expectEqualStrings("exited 42", withoutElapsed(result.control));
}

test "launcher: a command killed by a real-time signal is reported, and exits 128+N" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "40", "sh", "-c", "kill -35 $$" };
    const child = try spawn(path, &argv);
    go(child);
    var text: [1024]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqualStrings("signaled 35", withoutElapsed(result.control));
    try testing.expectEqual(@as(u8, 128 + 35), result.code);
}

test "launcher: a signal from its parent reaches the command; one from elsewhere does not" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "40", "sh", "-c", "sleep 0.3; exit 3" };
    // From elsewhere (a process that is not the launcher's parent): dropped.
    {
        const child = try spawn(path, &argv);
        go(child);
        support.sleepMilliseconds(50);
        const other = linux.fork();
        if (linux.errno(other) != .SUCCESS) return error.Fork;
        if (other == 0) {
            _ = linux.kill(child.pid, .TERM);
            linux.exit_group(0);
        }
        var status: i32 = 0;
        _ = linux.wait4(@intCast(other), &status, 0, null);
        var text: [1024]u8 = undefined;
        const result = try finish(child, &text);
        try testing.expectEqualStrings("exited 3", withoutElapsed(result.control));
    }
    // From its parent (perfmmap forwarding a signal): passed on.
    {
        const child = try spawn(path, &argv);
        go(child);
        support.sleepMilliseconds(50);
        _ = linux.kill(child.pid, .TERM);
        var text: [1024]u8 = undefined;
        const result = try finish(child, &text);
        try testing.expectEqualStrings("signaled 15", withoutElapsed(result.control));
        try testing.expectEqual(@as(u8, 128 + 15), result.code);
    }
}

test "launcher: the caller's fds reach the command; the control fd does not" {
    const path = try launcherPath();
    // fd 3 is the caller's (a jobserver pipe, say); 40 is the control socket.
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "40", "sh", "-c", "[ -e /proc/$$/fd/3 ] || exit 1; [ -e /proc/$$/fd/40 ] && exit 2; exit 0" };
    const child = try spawnWith(path, &argv, test_control_fd, 3);
    go(child);
    var text: [1024]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqualStrings("exited 0", withoutElapsed(result.control));
}

test "launcher: --list-fds prints the fds it was given from 3 up" {
    const path = try launcherPath();
    // The test's spawn leaves fd 3 (a caller's pipe) and the control socket
    // on fd 40 open in the launcher; its stdout goes to the stderr pipe.
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "--list-fds" };
    const child = try spawnWith(path, &argv, test_control_fd, 3);
    var text: [1024]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqual(@as(u8, 0), result.code);
    try testing.expect(std.mem.endsWith(u8, result.stderr, "\n"));
    // Whatever else the test process was started with passes too.
    var saw_3 = false;
    var saw_control = false;
    var tokens = std.mem.tokenizeAny(u8, result.stderr, " \n");
    while (tokens.next()) |token| {
        const fd = try std.fmt.parseInt(i32, token, 10);
        try testing.expect(fd >= 3);
        saw_3 = saw_3 or fd == 3;
        saw_control = saw_control or fd == test_control_fd;
    }
    try testing.expect(saw_3 and saw_control);
}

test "launcher: a control fd that is not a number, or below 3, is refused with 125" {
    const path = try launcherPath();
    for ([_][*:0]const u8{ "x", "2", "", "-3", "99999999999" }) |fd_text| {
        const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", fd_text, "true" };
        const child = try spawn(path, &argv);
        go(child);
        var text: [1024]u8 = undefined;
        const result = try finish(child, &text);
        try testing.expectEqual(@as(u8, launcher.exit_launcher_failed), result.code);
        try testing.expect(std.mem.startsWith(u8, result.stderr, "perfmmap-launch: the control fd"));
    }
}

test "launcher: no command prints usage and exits 125" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "40" };
    const child = try spawn(path, &argv);
    go(child);
    var text: [1024]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqual(@as(u8, 125), result.code);
    try testing.expect(std.mem.startsWith(u8, result.stderr, "usage: perfmmap-launch"));
}

test "launcher: --deny-perf-event-open takes EPERM (the default), ENOSYS or EACCES" {
    try testing.expectEqual(@as(?linux.E, .PERM), launcher.parseDenyFlag("--deny-perf-event-open"));
    try testing.expectEqual(@as(?linux.E, .PERM), launcher.parseDenyFlag("--deny-perf-event-open=EPERM"));
    try testing.expectEqual(@as(?linux.E, .NOSYS), launcher.parseDenyFlag("--deny-perf-event-open=ENOSYS"));
    try testing.expectEqual(@as(?linux.E, .ACCES), launcher.parseDenyFlag("--deny-perf-event-open=EACCES"));
    for ([_][]const u8{ "--deny-perf-event-open=", "--deny-perf-event-open=eperm", "--deny-perf-event-openX", "--deny", "--deny-perf-event-open=ENOENT" }) |flag| {
        try testing.expectEqual(@as(?linux.E, null), launcher.parseDenyFlag(flag));
    }
}

/// Runs the classic BPF filter over one seccomp_data, as the kernel does
/// for the instructions the filter uses (ld [k], jeq #k, ret #k).
fn runFilter(program: []const launcher.SockFilter, data: linux.SECCOMP.data) !u32 {
    const bytes = std.mem.asBytes(&data);
    var accumulator: u32 = 0;
    var pc: usize = 0;
    var steps: u32 = 0;
    while (pc < program.len and steps < 64) : (steps += 1) {
        const instruction = program[pc];
        switch (instruction.code) {
            0x20 => accumulator = std.mem.readInt(u32, bytes[instruction.k..][0..4], .little),
            0x15 => pc += if (accumulator == instruction.k) instruction.jt else instruction.jf,
            0x06 => return instruction.k,
            else => return error.UnknownInstruction,
        }
        pc += 1;
    }
    return error.FellOffTheEnd;
}

fn seccompData(arch: u32, nr: u32) linux.SECCOMP.data {
    var data = std.mem.zeroes(linux.SECCOMP.data);
    data.arch = arch;
    data.nr = @bitCast(nr);
    return data;
}

test "launcher: the filter denies perf_event_open with the errno, allows the rest, kills another ABI" {
    const native_arch: u32 = switch (@import("builtin").cpu.arch) {
        .x86_64 => 0xC000003E,
        .aarch64 => 0xC00000B7,
        else => return error.SkipZigTest,
    };
    const perf: u32 = @backingInt(linux.SYS.perf_event_open);
    const errno_action: u32 = linux.SECCOMP.RET.ERRNO;
    for ([_]linux.E{ .PERM, .NOSYS, .ACCES }) |denied| {
        const program = launcher.denyFilter(denied);
        const action = errno_action | @as(u32, @backingInt(denied));
        try testing.expectEqual(action, try runFilter(&program, seccompData(native_arch, perf)));
        for ([_]u32{ @backingInt(linux.SYS.getpid), @backingInt(linux.SYS.read), @backingInt(linux.SYS.ioctl), perf + 1, perf - 1 }) |nr| {
            try testing.expectEqual(linux.SECCOMP.RET.ALLOW, try runFilter(&program, seccompData(native_arch, nr)));
        }
        if (@import("builtin").cpu.arch == .x86_64) {
            // x32's perf_event_open: same audit arch, bit 30 set.
            try testing.expectEqual(action, try runFilter(&program, seccompData(native_arch, 0x40000000 | perf)));
            // i386 (int 0x80) is another ABI: killed, never let through.
            try testing.expectEqual(linux.SECCOMP.RET.KILL_PROCESS, try runFilter(&program, seccompData(0x40000003, 336)));
        }
    }
}

test "launcher: under the filter perf_event_open fails with the errno, for real" {
    for ([_]linux.E{ .NOSYS, .PERM }) |denied| {
        const rc = linux.fork();
        if (linux.errno(rc) != .SUCCESS) return error.Fork;
        if (rc == 0) {
            if (launcher.denyPerfEventOpen(denied)) |_| linux.exit_group(100);
            var bytes = support.attrBytes(attr_mod.PERF_TYPE_SOFTWARE, attr_mod.PERF_COUNT_SW_TASK_CLOCK, .{});
            const opened = linux.syscall5(.perf_event_open, @intFromPtr(&bytes), 0, @bitCast(@as(isize, -1)), @bitCast(@as(isize, -1)), 0);
            // Other syscalls still work: the filter denies one.
            if (linux.getpid() <= 0) linux.exit_group(101);
            linux.exit_group(@intCast(@backingInt(linux.errno(opened))));
        }
        var status: i32 = 0;
        _ = linux.wait4(@intCast(rc), &status, 0, null);
        const bits: u32 = @bitCast(status);
        try testing.expect(bits & 0x7f == 0); // not killed
        try testing.expectEqual(@as(u32, @backingInt(denied)), (bits >> 8) & 0xff);
    }
}

test "launcher: --deny-perf-event-open execs the command under the filter" {
    const path = try launcherPath();
    const argv = [_:null]?[*:0]const u8{ "perfmmap-launch", "--deny-perf-event-open=ENOSYS", "--", "sh", "-c", "grep -q '^Seccomp:.2' /proc/self/status && grep -q '^NoNewPrivs:.1' /proc/self/status && exit 9" };
    const child = try spawn(path, &argv);
    var text: [1024]u8 = undefined;
    const result = try finish(child, &text);
    try testing.expectEqualStrings("", result.stderr);
    try testing.expectEqual(@as(u8, 9), result.code);
    // A bad errno name, or no `--`: 125 with a usage line, nothing run.
    for ([_][*:0]const u8{ "--deny-perf-event-open=ENOENT", "--deny-perf-event-open" }) |flag| {
        const bad = [_:null]?[*:0]const u8{ "perfmmap-launch", flag, "sh", "-c", "exit 9" };
        const refused = try spawn(path, &bad);
        const outcome = try finish(refused, &text);
        try testing.expectEqual(@as(u8, launcher.exit_launcher_failed), outcome.code);
        try testing.expect(std.mem.startsWith(u8, outcome.stderr, "perfmmap-launch: --deny") or std.mem.startsWith(u8, outcome.stderr, "usage: perfmmap-launch --deny"));
    }
}
