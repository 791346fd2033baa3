//! perfmmap-launch <control-fd> <cmd> [args...]
//! perfmmap-launch --list-fds
//! perfmmap-launch --deny-perf-event-open[=EPERM|ENOSYS|EACCES] -- <cmd> [args...]
//!
//! The child half of `perfmmap stat`. The parent spawns this with a socket on
//! <control-fd>, opens counters on its pid with enable_on_exec + inherit,
//! then writes one byte on the socket. Only then does the launcher fork; the
//! fork execs the command. The fork inherits the counters, still disabled,
//! and the kernel enables them at the fork's exec, so they see the command's
//! first instruction and nothing of the launcher's: the launcher itself never
//! execs, so its own copies stay disabled.
//!
//! The launcher stays to wait for the command, and writes how it ended on the
//! control socket as one line (see `Status`). The parent needs this because
//! the runtimes map a child's wait status through their own signal tables:
//! one of them throws on a real-time signal, another reports exit code 0.
//!
//! The control fd is above every fd the caller passes on (the parent picks it),
//! and is made close-on-exec here, so the command gets the caller's fds 3 and
//! up as `perf stat` gives them, and never the control socket.
//!
//! `--list-fds` prints the fds from 3 up that the launcher was started with,
//! in decimal, one line, and exits 0. Deno hands a child every fd of its own
//! that is not close-on-exec, which are exactly the fds its caller gave it, but
//! needs --allow-all to let a script read /proc/self/fd: so perfmmap asks the
//! launcher which fds arrived.
//!
//! Signals: all are blocked in the launcher, which must outlive the command to
//! report it. A signal its parent sends (perfmmap forwarding a SIGTERM) is
//! passed on to the command; one from anywhere else is dropped, because it was
//! sent to the whole process group (a terminal's Ctrl-C) and the command got
//! its own copy.
//!
//! `--deny-perf-event-open` runs the command (no fork, no control fd) under a
//! seccomp filter that fails perf_event_open with the errno given (EPERM by
//! default), as a container's seccomp profile does: Docker's default profile
//! refuses it with EPERM unless the container has CAP_PERFMON or
//! CAP_SYS_ADMIN, and filters that predate the syscall say ENOSYS. It sets
//! no_new_privs first (an unprivileged process may install a filter only
//! then). The filter checks the architecture in seccomp_data: a syscall of
//! another ABI (an i386 int 0x80 on x86_64) kills the process rather than
//! slipping past, and on x86_64 the x32 number of perf_event_open is refused
//! too. This is how perfmmap's tests see what a user in a container sees.
//!
//! Exit codes (as env(1) and timeout(1)): 125 the launcher failed or the go
//! byte never came (EOF on the control fd), 126 the command could not be run,
//! 127 the command was not found; otherwise the command's status as a shell
//! gives it (its exit code, or 128 + N after signal N). Links no libc.
const std = @import("std");
const builtin = @import("builtin");
const linux = std.os.linux;
const assert = std.debug.assert;

pub const exit_launcher_failed = 125;
pub const exit_cannot_run = 126;
pub const exit_not_found = 127;
/// A shell's exit status for a command ended by signal N is this plus N.
pub const exit_signal_base = 128;

/// The lowest control fd: 0-2 are the command's stdio.
pub const control_fd_min = 3;
/// Above any fd a process can have (the kernel's nr_open ceiling is 2^30).
const control_fd_max = 1 << 30;
const eintr_retries_max = 1024;
/// The default search path of execvp when PATH is unset.
const path_default = "/bin:/usr/bin";
/// What execvp runs a file with when the kernel says ENOEXEC (no `#!`).
const shell_path = "/bin/sh";
const path_bytes_max = 4096;
/// PATH entries tried at most; a longer PATH is cut there.
const path_entries_max = 256;
/// Environment entries scanned for PATH at most (the kernel caps the whole
/// environment at a quarter of the stack limit anyway).
const environment_entries_max = 1 << 20;
/// "signaled 64 18446744073709551615\n" and the like fit with room to spare.
const status_line_bytes_max = 64;
/// si_code of a signal a process sent (kill, sigqueue, tgkill: SI_USER is 0,
/// the others negative); the kernel's own are positive
/// (include/uapi/asm-generic/siginfo.h).
const si_user_max = 0;

comptime {
    assert(control_fd_min == 3);
    assert(exit_signal_base + linux.NSIG - 1 <= 255);
    assert(exit_launcher_failed < exit_cannot_run and exit_cannot_run < exit_not_found);
}

pub fn main(init: std.process.Init.Minimal) u8 {
    const args = init.args.vector;
    if (args.len == 2 and std.mem.eql(u8, std.mem.span(args[1]), "--list-fds")) {
        return listFds();
    }
    if (args.len >= 2 and std.mem.startsWith(u8, std.mem.span(args[1]), deny_flag)) {
        return denyAndExec(args, init.environ.block.slice.ptr);
    }
    if (args.len < 3) {
        writeAll("usage: perfmmap-launch <control-fd> <cmd> [args...]  (waits for one byte on control-fd, then runs cmd)\n");
        return exit_launcher_failed;
    }
    const control_fd = parseFd(std.mem.span(args[1])) orelse {
        writeAll("perfmmap-launch: the control fd must be a number from 3 up\n");
        return exit_launcher_failed;
    };
    // Close-on-exec: the command must not get the control socket.
    const cloexec = linux.errno(linux.fcntl(control_fd, linux.F.SETFD, linux.FD_CLOEXEC));
    if (cloexec != .SUCCESS) {
        report("control fd", cloexec);
        return exit_launcher_failed;
    }
    switch (waitForGo(control_fd)) {
        .go => {},
        .eof => return exit_launcher_failed,
        .failed => |e| {
            report("control fd", e);
            return exit_launcher_failed;
        },
    }
    // args.ptr[args.len] is the kernel's terminating null; the slot before
    // the command (the control fd's text) is free for the /bin/sh fallback.
    const slots: [*:null]?[*:0]const u8 = @ptrCast(@constCast(args.ptr + 1));
    const status = run(slots, init.environ.block.slice.ptr);
    sendStatus(control_fd, status);
    return status.exitCode();
}

const deny_flag = "--deny-perf-event-open";

/// `--deny-perf-event-open[=E] -- <cmd> [args...]`: installs the filter and
/// execs the command in this process.
fn denyAndExec(args: []const [*:0]const u8, envp: [*:null]const ?[*:0]const u8) u8 {
    assert(args.len >= 2);
    const denied = parseDenyFlag(std.mem.span(args[1])) orelse {
        writeAll("perfmmap-launch: " ++ deny_flag ++ " takes =EPERM, =ENOSYS or =EACCES\n");
        return exit_launcher_failed;
    };
    if (args.len < 4 or !std.mem.eql(u8, std.mem.span(args[2]), "--")) {
        writeAll("usage: perfmmap-launch " ++ deny_flag ++ "[=EPERM|ENOSYS|EACCES] -- <cmd> [args...]\n");
        return exit_launcher_failed;
    }
    if (denyPerfEventOpen(denied)) |e| {
        report("seccomp", e);
        return exit_launcher_failed;
    }
    // args[2] ("--") is the spare slot before the command, for /bin/sh.
    const slots: [*:null]?[*:0]const u8 = @ptrCast(@constCast(args.ptr + 2));
    const e = execSearch(slots, envp);
    report(std.mem.span(args[3]), e);
    return exitForExec(e);
}

/// The errno of `--deny-perf-event-open[=E]`, or null for anything else.
pub fn parseDenyFlag(flag: []const u8) ?linux.E {
    if (!std.mem.startsWith(u8, flag, deny_flag)) return null;
    const rest = flag[deny_flag.len..];
    if (rest.len == 0) return .PERM;
    if (rest[0] != '=') return null;
    const name = rest[1..];
    if (std.mem.eql(u8, name, "EPERM")) return .PERM;
    if (std.mem.eql(u8, name, "ENOSYS")) return .NOSYS;
    if (std.mem.eql(u8, name, "EACCES")) return .ACCES;
    return null;
}

/// A classic BPF instruction (linux/filter.h `struct sock_filter`).
pub const SockFilter = extern struct { code: u16, jt: u8, jf: u8, k: u32 };
/// linux/filter.h `struct sock_fprog`.
const SockFprog = extern struct { len: u16, filter: [*]const SockFilter };

comptime {
    assert(@sizeOf(SockFilter) == 8);
    assert(@offsetOf(SockFilter, "k") == 4);
    assert(@offsetOf(SockFprog, "filter") == @sizeOf(usize));
    assert(@offsetOf(linux.SECCOMP.data, "nr") == 0);
    assert(@offsetOf(linux.SECCOMP.data, "arch") == 4);
}

// linux/bpf_common.h
const bpf_ld_w_abs: u16 = 0x00 | 0x00 | 0x20; // BPF_LD | BPF_W | BPF_ABS
const bpf_jeq_k: u16 = 0x05 | 0x10 | 0x00; // BPF_JMP | BPF_JEQ | BPF_K
const bpf_ret_k: u16 = 0x06 | 0x00; // BPF_RET | BPF_K

/// linux/audit.h AUDIT_ARCH_*: the ELF machine with __AUDIT_ARCH_64BIT and
/// __AUDIT_ARCH_LE (std's table does not compile in this Zig).
const audit_arch_64bit_le: u32 = 0x80000000 | 0x40000000;
const audit_arch: u32 = switch (builtin.cpu.arch) {
    .x86_64 => audit_arch_64bit_le | 62, // EM_X86_64
    .aarch64 => audit_arch_64bit_le | 183, // EM_AARCH64
    else => @compileError("perfmmap-launch's seccomp filter knows x86_64 and aarch64"),
};

comptime {
    assert(audit_arch == 0xC000003E or audit_arch == 0xC00000B7);
}

/// The syscall numbers of perf_event_open this architecture's native ABI
/// accepts: on x86_64 the x32 one too (same audit arch, bit 30 set).
const perf_event_open_numbers = if (builtin.cpu.arch == .x86_64)
    [_]u32{ @backingInt(linux.SYS.perf_event_open), 0x40000000 | @as(u32, @backingInt(linux.SYS.perf_event_open)) }
else
    [_]u32{@backingInt(linux.SYS.perf_event_open)};

/// Instructions of the filter: load arch, compare, kill; load nr, one
/// compare per number; allow, deny.
pub const deny_filter_len = 4 + perf_event_open_numbers.len + 2;

/// The filter: another ABI is killed, perf_event_open fails with `denied`,
/// everything else is allowed.
pub fn denyFilter(denied: linux.E) [deny_filter_len]SockFilter {
    const errno_value: u32 = @backingInt(denied);
    assert(errno_value > 0 and errno_value <= linux.SECCOMP.RET.DATA);
    const numbers = perf_event_open_numbers.len;
    var program: [deny_filter_len]SockFilter = undefined;
    program[0] = .{ .code = bpf_ld_w_abs, .jt = 0, .jf = 0, .k = @offsetOf(linux.SECCOMP.data, "arch") };
    program[1] = .{ .code = bpf_jeq_k, .jt = 1, .jf = 0, .k = audit_arch };
    program[2] = .{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = linux.SECCOMP.RET.KILL_PROCESS };
    program[3] = .{ .code = bpf_ld_w_abs, .jt = 0, .jf = 0, .k = @offsetOf(linux.SECCOMP.data, "nr") };
    for (perf_event_open_numbers, 0..) |number, i| {
        // A match jumps over the remaining compares and the allow.
        const to_deny: u8 = @intCast(numbers - i);
        program[4 + i] = .{ .code = bpf_jeq_k, .jt = to_deny, .jf = 0, .k = number };
    }
    program[4 + numbers] = .{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = linux.SECCOMP.RET.ALLOW };
    program[5 + numbers] = .{ .code = bpf_ret_k, .jt = 0, .jf = 0, .k = linux.SECCOMP.RET.ERRNO | errno_value };
    return program;
}

/// Sets no_new_privs and installs the filter on this thread (inherited by
/// every fork and kept across exec). Returns the errno on failure.
pub fn denyPerfEventOpen(denied: linux.E) ?linux.E {
    const no_new_privs = linux.prctl(@backingInt(linux.PR.SET_NO_NEW_PRIVS), 1, 0, 0, 0);
    if (linux.errno(no_new_privs) != .SUCCESS) return linux.errno(no_new_privs);
    const program = denyFilter(denied);
    const fprog = SockFprog{ .len = program.len, .filter = &program };
    const installed = linux.seccomp(linux.SECCOMP.SET_MODE_FILTER, 0, &fprog);
    if (linux.errno(installed) != .SUCCESS) return linux.errno(installed);
    return null;
}

/// Directory entries read per getdents64 call.
const dirent_buffer_bytes = 4096;
/// getdents64 calls at most: a million fds, far above any process's limit.
const dirent_reads_max = 1 << 14;

/// `--list-fds`: "3 5 10\n" on stdout (an empty line when there are none).
fn listFds() u8 {
    const rc = linux.open("/proc/self/fd", .{ .ACCMODE = .RDONLY, .DIRECTORY = true, .CLOEXEC = true }, 0);
    if (linux.errno(rc) != .SUCCESS) {
        report("/proc/self/fd", linux.errno(rc));
        return exit_launcher_failed;
    }
    const directory: i32 = @intCast(rc);
    defer _ = linux.close(directory);
    var buffer: [dirent_buffer_bytes]u8 align(@alignOf(linux.dirent64)) = undefined;
    var reads: u32 = 0;
    var first = true;
    while (reads < dirent_reads_max) : (reads += 1) {
        const length = linux.getdents64(directory, &buffer, buffer.len);
        if (linux.errno(length) == .INTR) continue;
        if (linux.errno(length) != .SUCCESS) {
            report("/proc/self/fd", linux.errno(length));
            return exit_launcher_failed;
        }
        if (length == 0) break;
        var offset: usize = 0;
        while (offset < length) {
            const entry: *align(1) const linux.dirent64 = @ptrCast(&buffer[offset]);
            assert(entry.reclen > 0);
            const name = std.mem.sliceTo(@as([*:0]const u8, @ptrCast(&buffer[offset + @offsetOf(linux.dirent64, "name")])), 0);
            offset += entry.reclen;
            const fd = std.fmt.parseInt(i32, name, 10) catch continue; // "." and ".."
            if (fd < control_fd_min or fd == directory) continue;
            if (!first) writeAllTo(1, " ");
            writeAllTo(1, name);
            first = false;
        }
    }
    writeAllTo(1, "\n");
    return 0;
}

/// How the command ended, as the control line says it.
pub const Status = union(enum) {
    /// "exited <code> <elapsed_ns>"
    exited: struct { code: u8, elapsed_ns: u64 },
    /// "signaled <signo> <elapsed_ns>"
    signaled: struct { signal: u32, elapsed_ns: u64 },
    /// "failed <errno>": the command never ran (the launcher printed why).
    failed: linux.E,

    pub fn exitCode(status: Status) u8 {
        return switch (status) {
            .exited => |e| e.code,
            .signaled => |s| @intCast(@as(u32, exit_signal_base) + @min(s.signal, linux.NSIG - 1)),
            .failed => |e| exitForExec(e),
        };
    }

    /// The control line, "\n"-terminated, in `buffer`.
    pub fn format(status: Status, buffer: *[status_line_bytes_max]u8) []const u8 {
        return switch (status) {
            .exited => |e| std.fmt.bufPrint(buffer, "exited {d} {d}\n", .{ e.code, e.elapsed_ns }),
            .signaled => |s| std.fmt.bufPrint(buffer, "signaled {d} {d}\n", .{ s.signal, s.elapsed_ns }),
            .failed => |e| std.fmt.bufPrint(buffer, "failed {d}\n", .{@backingInt(e)}),
        } catch unreachable; // status_line_bytes_max holds the longest line
    }
};

/// 127 for "not found", 126 for anything else that stops an exec, as bash
/// and env(1) exit (ENOTDIR too: a file where a folder of the path should be).
pub fn exitForExec(e: linux.E) u8 {
    return if (e == .NOENT) exit_not_found else exit_cannot_run;
}

/// A decimal fd from `control_fd_min` up, or null.
pub fn parseFd(text: []const u8) ?i32 {
    if (text.len == 0 or text.len > 10) return null;
    const value = std.fmt.parseInt(u32, text, 10) catch return null;
    if (value < control_fd_min or value >= control_fd_max) return null;
    return @intCast(value);
}

pub const Wait = union(enum) { go, eof, failed: linux.E };

/// Blocks until the parent writes one byte (go) or closes the socket (eof).
pub fn waitForGo(fd: i32) Wait {
    var byte: [1]u8 = undefined;
    var retries: u32 = 0;
    while (retries < eintr_retries_max) : (retries += 1) {
        const rc = linux.read(fd, &byte, 1);
        switch (linux.errno(rc)) {
            .SUCCESS => return if (rc == 1) .go else .eof,
            .INTR => continue,
            else => |e| return .{ .failed = e },
        }
    }
    return .{ .failed = .INTR };
}

/// Forks, execs the command in the fork, waits for it. `slots[1]` is the
/// command, `slots[0]` a spare slot.
fn run(slots: [*:null]?[*:0]const u8, envp: [*:null]const ?[*:0]const u8) Status {
    assert(slots[1] != null);
    // Blocked before the fork, so that no signal can end the launcher between
    // the fork and its wait; the fork restores the caller's mask before exec.
    var mask_all = linux.sigfillset();
    var mask_caller: linux.sigset_t = undefined;
    const blocked = linux.errno(linux.sigprocmask(linux.SIG.BLOCK, &mask_all, &mask_caller));
    if (blocked != .SUCCESS) {
        report("sigprocmask", blocked);
        return .{ .failed = blocked };
    }
    // The fork reports a failed exec on this pipe; a successful exec closes it.
    var exec_pipe: [2]i32 = undefined;
    const piped = linux.errno(linux.pipe2(&exec_pipe, .{ .CLOEXEC = true }));
    if (piped != .SUCCESS) {
        report("pipe", piped);
        return .{ .failed = piped };
    }
    const start_ns = monotonicNs();
    const rc = linux.fork();
    if (linux.errno(rc) != .SUCCESS) {
        report("fork", linux.errno(rc));
        return .{ .failed = linux.errno(rc) };
    }
    if (rc == 0) {
        _ = linux.sigprocmask(linux.SIG.SETMASK, &mask_caller, null);
        const e = execSearch(slots, envp);
        report(std.mem.span(slots[1].?), e);
        var bytes: [4]u8 = undefined;
        std.mem.writeInt(u32, &bytes, @backingInt(e), .little);
        _ = linux.write(exec_pipe[1], &bytes, bytes.len);
        linux.exit_group(exitForExec(e));
    }
    const pid: i32 = @intCast(rc);
    _ = linux.close(exec_pipe[1]);
    const exec_error = readExecError(exec_pipe[0]);
    _ = linux.close(exec_pipe[0]);
    const wait_status = supervise(pid);
    const elapsed_ns = monotonicNs() -| start_ns;
    if (exec_error) |e| return .{ .failed = e };
    const bits: u32 = @bitCast(wait_status);
    if (linux.W.IFSIGNALED(bits)) {
        return .{ .signaled = .{ .signal = bits & 0x7f, .elapsed_ns = elapsed_ns } };
    }
    return .{ .exited = .{ .code = linux.W.EXITSTATUS(bits), .elapsed_ns = elapsed_ns } };
}

/// The errno the fork wrote, or null on EOF (the exec succeeded).
fn readExecError(fd: i32) ?linux.E {
    var bytes: [4]u8 = undefined;
    var retries: u32 = 0;
    while (retries < eintr_retries_max) : (retries += 1) {
        const rc = linux.read(fd, &bytes, bytes.len);
        switch (linux.errno(rc)) {
            .INTR => continue,
            .SUCCESS => {
                if (rc != bytes.len) return null;
                return @fromBackingInt(@intCast(std.mem.readInt(u32, &bytes, .little)));
            },
            else => return null,
        }
    }
    return null;
}

/// Waits for the command (every signal blocked), passing on the signals the
/// parent sends. Returns its wait status. Bounded by the command's life: it
/// returns when the command is reaped.
fn supervise(pid: i32) i32 {
    assert(pid > 0);
    const parent = linux.getppid();
    var set = linux.sigfillset();
    var status: i32 = 0;
    while (true) {
        var info: linux.siginfo_t = undefined;
        const rc = linux.syscall4(.rt_sigtimedwait, @intFromPtr(&set), @intFromPtr(&info), 0, linux.NSIG / 8);
        switch (linux.errno(rc)) {
            .SUCCESS => {},
            .INTR, .AGAIN => continue,
            // Cannot happen with a valid set; waiting without forwarding
            // still reports the command.
            else => return waitBlocking(pid),
        }
        const signal: u32 = @intCast(rc);
        if (signal == @backingInt(linux.SIG.CHLD)) {
            const reaped = linux.wait4(pid, &status, linux.W.NOHANG, null);
            if (linux.errno(reaped) == .SUCCESS and reaped == @as(usize, @intCast(pid))) return status;
            if (linux.errno(reaped) == .CHILD) return waitBlocking(pid);
            continue;
        }
        // Reaping happens only here, so the pid cannot be reused under us.
        if (info.code <= si_user_max and info.fields.common.first.piduid.pid == parent) {
            _ = linux.kill(pid, @fromBackingInt(@intCast(signal)));
        }
    }
}

fn waitBlocking(pid: i32) i32 {
    var status: i32 = 0;
    var retries: u32 = 0;
    while (retries < eintr_retries_max) : (retries += 1) {
        const rc = linux.wait4(pid, &status, 0, null);
        if (linux.errno(rc) == .INTR) continue;
        return status;
    }
    return status;
}

fn monotonicNs() u64 {
    var now: linux.timespec = undefined;
    if (linux.errno(linux.clock_gettime(.MONOTONIC, &now)) != .SUCCESS) return 0;
    return @as(u64, @intCast(now.sec)) * std.time.ns_per_s + @as(u64, @intCast(now.nsec));
}

fn sendStatus(fd: i32, status: Status) void {
    var buffer: [status_line_bytes_max]u8 = undefined;
    writeAllTo(fd, status.format(&buffer));
}

/// execve, searching PATH when the command has no slash, as execvp does:
/// a later directory may hold it after EACCES/ENOENT/ENOTDIR in an earlier
/// one, and EACCES wins over "not found" in the report; a file the kernel
/// cannot run (ENOEXEC: no `#!`) runs with /bin/sh. `slots[1]` is the
/// command and `slots[0]` a spare slot for that. Returns only on failure.
pub fn execSearch(slots: [*:null]?[*:0]const u8, envp: [*:null]const ?[*:0]const u8) linux.E {
    const command = slots[1].?;
    const name = std.mem.span(command);
    if (name.len == 0) return .NOENT;
    if (std.mem.indexOfScalar(u8, name, '/') != null) return execFile(command, slots, envp);
    const search = getEnv(envp, "PATH") orelse path_default;
    var saw_access = false;
    var directories = std.mem.splitScalar(u8, search, ':');
    var entries: u32 = 0;
    while (directories.next()) |directory| : (entries += 1) {
        if (entries >= path_entries_max) break;
        var buffer: [path_bytes_max]u8 = undefined;
        const full = joinPath(&buffer, directory, name) orelse continue;
        switch (execFile(full, slots, envp)) {
            .ACCES => saw_access = true,
            // A directory of that name is not the command (shells go on too).
            .NOENT, .NOTDIR, .ISDIR => {},
            else => |e| return e,
        }
    }
    return if (saw_access) .ACCES else .NOENT;
}

/// One execve of `path`; ENOEXEC runs it with /bin/sh, and EACCES on a
/// directory becomes EISDIR (what a shell says).
fn execFile(path: [*:0]const u8, slots: [*:null]?[*:0]const u8, envp: [*:null]const ?[*:0]const u8) linux.E {
    const argv: [*:null]const ?[*:0]const u8 = slots + 1;
    const e = linux.errno(linux.execve(path, argv, envp));
    assert(e != .SUCCESS); // execve returns only on failure
    switch (e) {
        .NOEXEC => {
            const command = slots[1];
            const spare = slots[0];
            slots[0] = shell_path;
            slots[1] = path;
            _ = linux.execve(shell_path, slots, envp);
            slots[0] = spare;
            slots[1] = command;
            return .NOEXEC;
        },
        .ACCES => return if (isDirectory(path)) .ISDIR else .ACCES,
        else => return e,
    }
}

fn isDirectory(path: [*:0]const u8) bool {
    var info: linux.Statx = undefined;
    const rc = linux.statx(linux.AT.FDCWD, path, 0, .{ .TYPE = true }, &info);
    if (linux.errno(rc) != .SUCCESS or !info.mask.TYPE) return false;
    return info.mode & linux.S.IFMT == linux.S.IFDIR;
}

/// "<directory>/<name>\0" in `buffer`; an empty entry means the current directory.
fn joinPath(buffer: *[path_bytes_max]u8, directory: []const u8, name: []const u8) ?[*:0]const u8 {
    const prefix = if (directory.len == 0) "." else directory;
    if (prefix.len + 1 + name.len + 1 > buffer.len) return null;
    @memcpy(buffer[0..prefix.len], prefix);
    buffer[prefix.len] = '/';
    @memcpy(buffer[prefix.len + 1 ..][0..name.len], name);
    buffer[prefix.len + 1 + name.len] = 0;
    return buffer[0 .. prefix.len + 1 + name.len :0];
}

fn getEnv(envp: [*:null]const ?[*:0]const u8, key: []const u8) ?[]const u8 {
    var i: usize = 0;
    while (envp[i]) |entry| : (i += 1) {
        if (i >= environment_entries_max) return null;
        const text = std.mem.span(entry);
        if (text.len > key.len and std.mem.startsWith(u8, text, key) and text[key.len] == '=') {
            return text[key.len + 1 ..];
        }
    }
    return null;
}

/// "perfmmap-launch: <what>: <text>\n" on stderr.
fn report(what: []const u8, e: linux.E) void {
    writeAll("perfmmap-launch: ");
    writeAll(what);
    writeAll(": ");
    var number: [24]u8 = undefined;
    writeAll(describe(e) orelse std.fmt.bufPrint(&number, "error {d}", .{@backingInt(e)}) catch "error");
    writeAll("\n");
}

/// The strerror text of the errnos exec, fork and read report.
pub fn describe(e: linux.E) ?[]const u8 {
    return switch (e) {
        .NOENT => "No such file or directory",
        .ACCES => "Permission denied",
        .PERM => "Operation not permitted",
        .NOEXEC => "Exec format error",
        .NOTDIR => "Not a directory",
        .ISDIR => "Is a directory",
        .@"2BIG" => "Argument list too long",
        .NOMEM => "Cannot allocate memory",
        .AGAIN => "Resource temporarily unavailable",
        .LOOP => "Too many levels of symbolic links",
        .NAMETOOLONG => "File name too long",
        .TXTBSY => "Text file busy",
        .BADF => "Bad file descriptor",
        .IO => "Input/output error",
        .INTR => "Interrupted system call",
        .MFILE => "Too many open files",
        .NFILE => "Too many open files in system",
        .LIBBAD => "Accessing a corrupted shared library",
        .INVAL => "Invalid argument",
        else => null,
    };
}

fn writeAll(bytes: []const u8) void {
    writeAllTo(2, bytes);
}

fn writeAllTo(fd: i32, bytes: []const u8) void {
    var written: usize = 0;
    var attempts: u32 = 0;
    while (written < bytes.len and attempts < eintr_retries_max) : (attempts += 1) {
        const rc = linux.write(fd, bytes.ptr + written, bytes.len - written);
        if (linux.errno(rc) == .INTR) continue;
        if (linux.errno(rc) != .SUCCESS or rc == 0) return;
        written += rc;
    }
}
