//! perfmmap-launch <cmd> [args...]
//!
//! The child half of `perfmmap stat`: the parent forks this (with a pipe on
//! fd 3), opens counters on its pid with enable_on_exec + inherit, then writes
//! one byte. Only then does this exec the command, so the counters see the
//! command's first instruction and nothing of the launcher's.
//!
//! Exit codes (as env(1) and timeout(1)): 125 the launcher failed or the go
//! byte never came (EOF on fd 3), 126 the command could not be run, 127 the
//! command was not found. Links no libc.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;

pub const exit_launcher_failed = 125;
pub const exit_cannot_run = 126;
pub const exit_not_found = 127;

/// The fd the parent passes the go pipe on.
pub const go_fd = 3;
const eintr_retries_max = 1024;
/// The default search path of execvp when PATH is unset.
const path_default = "/bin:/usr/bin";
const path_bytes_max = 4096;
/// PATH entries tried at most; a longer PATH is cut there.
const path_entries_max = 256;
/// Environment entries scanned for PATH at most (the kernel caps the whole
/// environment at a quarter of the stack limit anyway).
const environment_entries_max = 1 << 20;

pub fn main(init: std.process.Init.Minimal) u8 {
    const args = init.args.vector;
    if (args.len < 2) {
        writeAll("usage: perfmmap-launch <cmd> [args...]  (waits for one byte on fd 3, then execs cmd)\n");
        return exit_launcher_failed;
    }
    const envp = init.environ.block.slice.ptr;
    switch (waitForGo(go_fd)) {
        .go => {},
        .eof => return exit_launcher_failed,
        .failed => |e| {
            report("fd 3", e);
            return exit_launcher_failed;
        },
    }
    _ = linux.close(go_fd);
    // args.ptr[args.len] is the kernel's terminating null, so the tail of
    // argv is itself a valid argv for the command.
    const child_argv: [*:null]const ?[*:0]const u8 = @ptrCast(args.ptr + 1);
    const e = execSearch(args[1], child_argv, envp);
    report(std.mem.span(args[1]), e);
    return if (e == .NOENT or e == .NOTDIR) exit_not_found else exit_cannot_run;
}

pub const Wait = union(enum) { go, eof, failed: linux.E };

/// Blocks until the parent writes one byte (go) or closes the pipe (eof).
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

/// execve, searching PATH when `command` has no slash, as execvp does:
/// a later directory may hold it after EACCES/ENOENT/ENOTDIR in an earlier
/// one, and EACCES wins over "not found" in the report. Returns only on failure.
pub fn execSearch(command: [*:0]const u8, argv: [*:null]const ?[*:0]const u8, envp: [*:null]const ?[*:0]const u8) linux.E {
    const name = std.mem.span(command);
    if (name.len == 0) return .NOENT;
    if (std.mem.indexOfScalar(u8, name, '/') != null) return execOnce(command, argv, envp);
    const search = getEnv(envp, "PATH") orelse path_default;
    var saw_access = false;
    var directories = std.mem.splitScalar(u8, search, ':');
    var entries: u32 = 0;
    while (directories.next()) |directory| : (entries += 1) {
        if (entries >= path_entries_max) break;
        var buffer: [path_bytes_max]u8 = undefined;
        const full = joinPath(&buffer, directory, name) orelse continue;
        switch (execOnce(full, argv, envp)) {
            .ACCES => saw_access = true,
            .NOENT, .NOTDIR => {},
            else => |e| return e,
        }
    }
    return if (saw_access) .ACCES else .NOENT;
}

fn execOnce(path: [*:0]const u8, argv: [*:null]const ?[*:0]const u8, envp: [*:null]const ?[*:0]const u8) linux.E {
    const e = linux.errno(linux.execve(path, argv, envp));
    assert(e != .SUCCESS); // execve returns only on failure
    return e;
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

/// The strerror text of the errnos exec and read report.
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
        .LOOP => "Too many levels of symbolic links",
        .NAMETOOLONG => "File name too long",
        .TXTBSY => "Text file busy",
        .BADF => "Bad file descriptor",
        .IO => "Input/output error",
        .INTR => "Interrupted system call",
        else => null,
    };
}

fn writeAll(bytes: []const u8) void {
    var written: usize = 0;
    var attempts: u32 = 0;
    while (written < bytes.len and attempts < eintr_retries_max) : (attempts += 1) {
        const rc = linux.write(2, bytes.ptr + written, bytes.len - written);
        if (linux.errno(rc) == .INTR) continue;
        if (linux.errno(rc) != .SUCCESS or rc == 0) return;
        written += rc;
    }
}
