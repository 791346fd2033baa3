//! Reading the kernel's knobs and PMU descriptions: pm_read_text,
//! pm_list_dir and pm_sysctl. Only paths on an allow-list are opened, so the
//! library cannot be turned into a general file reader.
const std = @import("std");
const assert = std.debug.assert;
const errno = @import("errno.zig");
const syscalls = @import("syscalls.zig");

const Failure = errno.Failure;
const Error = errno.Error;

pub const path_bytes_max = 4095;
/// A sysfs/procfs text file is produced in one go; reads beyond this many
/// chunks mean the file is not the small text the caller expects.
const read_chunks_max = 1024;
const getdents_calls_max = 65536;
const sysctl_bytes_max = 64;

const allowed_prefixes = [_][]const u8{
    "/sys/bus/event_source/devices/",
    "/sys/devices/",
    "/proc/sys/kernel/",
};
const allowed_exact = [_][]const u8{"/proc/cpuinfo"};

/// The knobs of pm_sysctl, by number (ABI.md); `sysctl_paths` is indexed by it.
pub const Knob = enum(u32) {
    perf_event_paranoid = 0,
    perf_user_access = 1,
    rdpmc_cpu = 2,
    rdpmc_cpu_core = 3,
    rdpmc_cpu_atom = 4,
    perf_event_max_sample_rate = 5,
    perf_event_mlock_kb = 6,
};

/// The file of each knob, in `Knob` order.
pub const sysctl_paths = [_][:0]const u8{
    "/proc/sys/kernel/perf_event_paranoid",
    "/proc/sys/kernel/perf_user_access",
    "/sys/bus/event_source/devices/cpu/rdpmc",
    "/sys/bus/event_source/devices/cpu_core/rdpmc",
    "/sys/bus/event_source/devices/cpu_atom/rdpmc",
    "/proc/sys/kernel/perf_event_max_sample_rate",
    "/proc/sys/kernel/perf_event_mlock_kb",
};

comptime {
    // A knob and its file stay paired: rdpmc_<pmu> is <pmu>'s rdpmc file,
    // any other knob is the file of its own name.
    const knobs = @typeInfo(Knob).@"enum";
    std.debug.assert(sysctl_paths.len == knobs.field_names.len);
    for (knobs.field_names, knobs.field_values) |name, value| {
        const want = if (std.mem.startsWith(u8, name, "rdpmc_"))
            "/" ++ name["rdpmc_".len..] ++ "/rdpmc"
        else
            "/" ++ name;
        std.debug.assert(std.mem.endsWith(u8, sysctl_paths[value], want));
    }
}

/// Whether `path` may be opened: absolute, on the allow-list, no `..` or `.`
/// segment, no NUL byte.
pub fn allowed(path: []const u8) bool {
    if (path.len == 0 or path.len > path_bytes_max) return false;
    if (std.mem.indexOfScalar(u8, path, 0) != null) return false;
    var segments = std.mem.splitScalar(u8, path, '/');
    while (segments.next()) |segment| {
        if (std.mem.eql(u8, segment, "..") or std.mem.eql(u8, segment, ".")) return false;
    }
    for (allowed_exact) |exact| if (std.mem.eql(u8, path, exact)) return true;
    for (allowed_prefixes) |prefix| {
        // The directory itself (with or without its slash) or anything below.
        if (std.mem.startsWith(u8, path, prefix)) return true;
        if (std.mem.eql(u8, path, prefix[0 .. prefix.len - 1])) return true;
    }
    return false;
}

fn terminated(path: []const u8, buffer: *[path_bytes_max + 1]u8) [:0]const u8 {
    assert(path.len <= path_bytes_max);
    @memcpy(buffer[0..path.len], path);
    buffer[path.len] = 0;
    return buffer[0..path.len :0];
}

/// Reads the whole file into `out`; ERANGE if it does not fit.
pub fn readText(path: []const u8, out: []u8, failure: *Failure) Error!usize {
    if (!allowed(path)) return errno.fail(failure, errno.fromCode(.PATH_DENIED));
    var path_buffer: [path_bytes_max + 1]u8 = undefined;
    return readFile(terminated(path, &path_buffer), out, failure);
}

fn readFile(path: [*:0]const u8, out: []u8, failure: *Failure) Error!usize {
    const fd = try syscalls.openRead(path, false, failure);
    defer syscalls.close(fd);
    var length: usize = 0;
    var chunks: u32 = 0;
    while (chunks < read_chunks_max) : (chunks += 1) {
        var probe: [1]u8 = undefined;
        // A full buffer still needs one more read to tell EOF from "too big".
        const space = if (length < out.len) out[length..] else probe[0..];
        const count = try syscalls.readOnce(fd, space, failure);
        if (count == 0) return length;
        if (length >= out.len) return errno.fail(failure, errno.fromErrno(.RANGE));
        length += count;
    }
    return errno.fail(failure, errno.fromErrno(.FBIG));
}

/// Writes the entry names (no `.`/`..`), each NUL-terminated; ERANGE if
/// they do not fit.
pub fn listDir(path: []const u8, out: []u8, failure: *Failure) Error!usize {
    if (!allowed(path)) return errno.fail(failure, errno.fromCode(.PATH_DENIED));
    var path_buffer: [path_bytes_max + 1]u8 = undefined;
    const fd = try syscalls.openRead(terminated(path, &path_buffer), true, failure);
    defer syscalls.close(fd);
    var length: usize = 0;
    var entries: [4096]u8 align(8) = undefined;
    var calls: u32 = 0;
    while (calls < getdents_calls_max) : (calls += 1) {
        const count = try syscalls.getdents64(fd, &entries, failure);
        if (count == 0) return length;
        length = try appendNames(entries[0..count], out, length, failure);
    }
    return errno.fail(failure, errno.fromErrno(.FBIG));
}

/// Appends the names of one getdents64 batch (struct linux_dirent64:
/// d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[]).
fn appendNames(batch: []const u8, out: []u8, start: usize, failure: *Failure) Error!usize {
    var length = start;
    var at: usize = 0;
    while (at + 19 < batch.len) {
        const record_bytes = std.mem.readInt(u16, batch[at + 16 ..][0..2], .little);
        if (record_bytes < 20 or at + record_bytes > batch.len) return errno.fail(failure, errno.fromErrno(.IO));
        const name = std.mem.sliceTo(batch[at + 19 .. at + record_bytes], 0);
        at += record_bytes;
        if (std.mem.eql(u8, name, ".") or std.mem.eql(u8, name, "..")) continue;
        if (length + name.len + 1 > out.len) return errno.fail(failure, errno.fromErrno(.RANGE));
        @memcpy(out[length..][0..name.len], name);
        out[length + name.len] = 0;
        length += name.len + 1;
    }
    assert(length <= out.len);
    return length;
}

const pmu_devices_path = "/sys/bus/event_source/devices";
/// Name prefixes of the arm_pmu driver's CPU PMUs ("armv8_pmuv3_0",
/// "armv8_cortex_a57", "armv9_cortex_a710", ...): the only dynamic PMUs whose
/// config1 bits 0/1 mean "64-bit counter" and "user access". Others (kprobe,
/// uprobe, arm_spe, arm_cmn) use config1 for something else entirely.
const arm_cpu_pmu_prefixes = [_][]const u8{ "armv8_", "armv9_" };
const pmu_names_bytes_max = 16384;

/// Whether the dynamic PMU `event_type` is an Arm CPU PMU (by sysfs name).
pub fn isArmCpuPmu(event_type: u32) bool {
    var names: [pmu_names_bytes_max]u8 = undefined;
    var failure: Failure = undefined;
    const length = listDir(pmu_devices_path, &names, &failure) catch return false;
    var entries = std.mem.splitScalar(u8, names[0..length], 0);
    while (entries.next()) |name| {
        if (name.len == 0) continue;
        const type_of_name = pmuType(name) orelse continue;
        if (type_of_name != event_type) continue;
        for (arm_cpu_pmu_prefixes) |prefix| if (std.mem.startsWith(u8, name, prefix)) return true;
        return false;
    }
    return false;
}

fn pmuType(name: []const u8) ?u32 {
    var path: [path_bytes_max + 1]u8 = undefined;
    const text = std.fmt.bufPrint(path[0..path_bytes_max], pmu_devices_path ++ "/{s}/type", .{name}) catch return null;
    path[text.len] = 0;
    var content: [sysctl_bytes_max]u8 = undefined;
    var failure: Failure = undefined;
    const length = readFile(path[0..text.len :0], &content, &failure) catch return null;
    return std.fmt.parseInt(u32, std.mem.trim(u8, content[0..length], " \t\n"), 10) catch null;
}

/// The integer in knob `which` (ABI.md: pm_sysctl).
pub fn sysctl(which: u32, failure: *Failure) Error!i64 {
    if (which >= sysctl_paths.len) return errno.fail(failure, errno.fromErrno(.INVAL));
    var text: [sysctl_bytes_max]u8 = undefined;
    const length = try readFile(sysctl_paths[which], &text, failure);
    const trimmed = std.mem.trim(u8, text[0..length], " \t\n");
    return std.fmt.parseInt(i64, trimmed, 10) catch errno.fail(failure, errno.fromErrno(.INVAL));
}

test "PMU type lookup: software is not an Arm CPU PMU, unknown types are not either" {
    try std.testing.expectEqual(@as(?u32, 1), pmuType("software"));
    try std.testing.expect(!isArmCpuPmu(1));
    try std.testing.expect(!isArmCpuPmu(0x7fff_0000));
}

test "allow-list: prefixes, exact names, no traversal" {
    try std.testing.expect(allowed("/sys/bus/event_source/devices/cpu/type"));
    try std.testing.expect(allowed("/sys/devices/system/cpu/online"));
    try std.testing.expect(allowed("/proc/sys/kernel/perf_event_paranoid"));
    try std.testing.expect(allowed("/proc/cpuinfo"));
    try std.testing.expect(!allowed("/proc/cpuinfo2"));
    try std.testing.expect(!allowed("/etc/passwd"));
    try std.testing.expect(!allowed("/sys/devices/../../etc/passwd"));
    try std.testing.expect(!allowed("/sys/devices/./x"));
    try std.testing.expect(allowed("/sys/bus/event_source/devices"));
    try std.testing.expect(!allowed("/sys/devicesX"));
    try std.testing.expect(!allowed("/sys"));
    try std.testing.expect(!allowed("/proc/sys/kernel/x\x00y"));
    try std.testing.expect(!allowed("sys/devices/x"));
}

test "sysctl reads perf_event_paranoid; read_text and list_dir work and refuse" {
    var failure: Failure = undefined;
    const paranoid = try sysctl(@backingInt(Knob.perf_event_paranoid), &failure);
    try std.testing.expect(paranoid >= -1 and paranoid <= 4);
    try std.testing.expectError(error.Failed, sysctl(sysctl_paths.len, &failure));
    var out: [8192]u8 = undefined;
    const length = try readText("/proc/sys/kernel/perf_event_paranoid", &out, &failure);
    try std.testing.expect(length >= 2);
    try std.testing.expectError(error.Failed, readText("/etc/hostname", &out, &failure));
    try std.testing.expectEqual(@as(u32, 10010), failure.code());
    const names = try listDir("/sys/bus/event_source/devices", &out, &failure);
    try std.testing.expect(std.mem.indexOf(u8, out[0..names], "software\x00") != null);
    try std.testing.expect(!std.mem.startsWith(u8, out[0..names], ".\x00"));
    try std.testing.expect(!std.mem.startsWith(u8, out[0..names], "..\x00"));
    try std.testing.expect(std.mem.indexOf(u8, out[0..names], "\x00.\x00") == null);
    try std.testing.expect(std.mem.indexOf(u8, out[0..names], "\x00..\x00") == null);
    var tiny: [3]u8 = undefined;
    try std.testing.expectError(error.Failed, listDir("/sys/bus/event_source/devices", &tiny, &failure));
    try std.testing.expectEqual(@as(u32, 34), failure.code());
}
