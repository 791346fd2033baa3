//! One counter: its fd, its mapping, its read policy and its statistics.
//! Opening (with the arm64 config1 negotiation and the userspace=require
//! checks), reading through the retry policy, and closing.
const std = @import("std");
const builtin = @import("builtin");
const assert = std.debug.assert;
const attr_mod = @import("attr.zig");
const page_mod = @import("page.zig");
const errno = @import("errno.zig");
const syscalls = @import("syscalls.zig");
const self_read = @import("self_read.zig");
const read_format = @import("read_format.zig");
const arch = @import("arch.zig");
const sim = @import("sim.zig");
const system = @import("system.zig");
const sysfs = @import("sysfs.zig");

const Page = page_mod.Page;
const Failure = errno.Failure;
const Error = errno.Error;
const PerfEventAttr = attr_mod.PerfEventAttr;

pub const Mode = enum(u2) { off = 0, auto = 1, require = 2 };

/// pm_open/pm_sim_open flag bits (ABI.md).
pub const open_flag_mode_mask = 0b11;
pub const open_flag_fallback = 1 << 2;
/// Bits 3..5 carry PERF_FLAG_FD_NO_GROUP, _FD_OUTPUT and _PID_CGROUP.
const open_flag_kernel_shift = 3;
/// A ring follows (pm_ring_map or pm_set_output): no metadata page now.
/// Mapping 1 page, unmapping it and mapping 1 + 2^N pages made the kernel
/// wait for an RCU grace period in the second mmap (7-15 ms per counter);
/// the ring's first page is the metadata page, so one mmap serves both.
pub const open_flag_ring = 1 << 6;
const open_flags_known = 0b111_1111;

/// config1 bits of the arm64 PMU: bit 0 asks for a 64-bit counter, bit 1 for
/// userspace access (ARMPMU_EVT_64BIT, ARMPMU_EVT_RDPMC).
pub const arm64_config1_64bit = 1 << 0;
pub const arm64_config1_user_access = 1 << 1;

pub const Stats = struct {
    reads_userspace: u64 = 0,
    reads_syscall: u64 = 0,
    retry_exhausted: u64 = 0,
    exhaustion_log_lines: u32 = 0,
    last_attempts: u32 = 0,
    last_yields: u32 = 0,
    index_zero_fallbacks: u64 = 0,
};

/// What the ring consumer did (pm_ring_info); zeroed when a ring is mapped.
pub const RingStats = struct {
    reads: u64 = 0,
    records: u64 = 0,
    bytes: u64 = 0,
    split_records: u64 = 0,
    resyncs: u64 = 0,
};

pub const Counter = struct {
    /// The live handle; 0 while the slot is free (see handles.zig).
    handle: i32 = 0,
    /// -1 for a simulated counter.
    fd: i32 = -1,
    simulated: bool = false,
    mapping: ?[*]align(std.heap.page_size_min) u8 = null,
    mapping_bytes: usize = 0,
    /// The page pm_read's one-attempt fast path reads, or null to send every
    /// read through the whole policy: reader.refreshFast sets it from
    /// userspaceAllowed after each change of mode, mapping or enabled state;
    /// unmap clears it before the munmap, so it never outlives the mapping.
    /// If it is stale the other way (a counter since disabled), the page's
    /// index 0 sends the read to the policy, which decides afresh.
    fast_page: ?*const Page = null,
    /// Data pages of the ring mapping; 0 while only the metadata page is mapped.
    ring_data_pages: u32 = 0,
    /// Opened in mode require with a ring to follow: the require checks run
    /// when the ring (and so the metadata page) is mapped.
    require_at_ring: bool = false,
    /// mmap calls that mapped this counter's pages (pm_stats slot 7).
    mappings_made: u32 = 0,
    mode: Mode = .off,
    fallback: bool = false,
    /// Userspace reads are valid only in the task the counter measures.
    self_task: bool = false,
    /// Known disabled (attr.disabled at open, or pm_disable): read() serves it
    /// with no spinning, since its index is 0 until enabled.
    disabled: bool = false,
    /// Mode auto: whether the knob says userspace reads are off for good
    /// (self_read.Access); taken by reader.refreshFast and by the reads.
    access: self_read.Access = .{},
    read_format: u64 = 0,
    config1_used: u64 = 0,
    /// PERF_EVENT_IOC_ID, fetched at open for group-format reads.
    id: u64 = 0,
    /// Slot of the group leader (0 when this counter leads or is alone), and
    /// this counter's position in the group's read() record.
    leader_slot: u32 = 0,
    /// The leader's handle (0 when this counter leads or is alone): a group
    /// read checks it, so a member of a closed leader never passes for a
    /// member of the slot's next counter.
    leader_handle: i32 = 0,
    group_position: u32 = 0,
    group_members_opened: u32 = 1,
    sim_state: sim.State = .{},
    /// Serializes pm_ring_read: two consumers of one ring would copy the
    /// same records and race on data_tail.
    ring_lock: std.atomic.Mutex = .unlocked,
    /// The handle of a closed counter whose slot is parked until its
    /// readers leave (see handles.zig); 0 otherwise.
    parked_handle: i32 = 0,
    stats: Stats = .{},
    ring_stats: RingStats = .{},

    pub fn page(counter: *const Counter) ?*Page {
        const mapping = counter.mapping orelse return null;
        return @ptrCast(mapping);
    }
};

pub const OpenRequest = struct {
    attr_bytes: *[attr_mod.PERF_ATTR_SIZE_VER8]u8,
    pid: i32,
    cpu: i32,
    /// The leader counter, or null for -1.
    leader: ?*Counter,
    leader_slot: u32,
    flags: u32,
};

pub fn modeOf(flags: u32, failure: *Failure) Error!Mode {
    if (flags & ~@as(u32, open_flags_known) != 0) return errno.fail(failure, errno.fromErrno(.INVAL));
    const mode = flags & open_flag_mode_mask;
    if (mode > @backingInt(Mode.require)) return errno.fail(failure, errno.fromErrno(.INVAL));
    return @fromBackingInt(@as(u2, @intCast(mode)));
}

/// Opens a real counter into `counter` (a freshly claimed, zeroed slot).
/// On failure nothing stays open or mapped.
pub fn open(counter: *Counter, request: OpenRequest, failure: *Failure) Error!void {
    assert(counter.handle == 0 and counter.mapping == null);
    const mode = try modeOf(request.flags, failure);
    var attr = attr_mod.fromBytes(request.attr_bytes);
    const self_task = request.pid == 0 or request.pid == syscalls.gettid();
    const cgroup = request.flags & (attr_mod.PERF_FLAG_PID_CGROUP << open_flag_kernel_shift) != 0;
    if (mode == .require and (!self_task or cgroup)) return errno.fail(failure, errno.fromErrno(.INVAL));
    if (mode != .off and wantsArm64UserAccess(attr.type)) {
        const width_bit: u64 = if (arm64WantsWide(&attr)) arm64_config1_64bit else 0;
        attr.setConfig1(attr.config1() | width_bit | arm64_config1_user_access);
    }
    const fd = openNegotiated(&attr, request, failure) catch |err| {
        if (failure.* == .errno and failure.errno == .@"2BIG") {
            // The kernel wrote its own size into attr.size; hand it back.
            std.mem.writeInt(u32, request.attr_bytes[4..8], attr.size, .little);
        }
        return err;
    };
    counter.* = .{
        .fd = fd,
        .mode = mode,
        .fallback = request.flags & open_flag_fallback != 0,
        .self_task = self_task and !cgroup,
        .disabled = attr.flags.disabled,
        .read_format = attr.read_format,
        .config1_used = attr.config1(),
        .leader_slot = request.leader_slot,
        .leader_handle = if (request.leader) |leader| leader.handle else 0,
    };
    errdefer close(counter);
    const ring_follows = request.flags & open_flag_ring != 0;
    if (mode != .off and !ring_follows) try mapMetadataPage(counter, mode, failure);
    if (narrowable(counter, request.leader)) try reopenNarrow(counter, &attr, request, failure);
    if (attr.read_format & attr_mod.PERF_FORMAT_GROUP != 0) {
        _ = try syscalls.ioctl(counter.fd, attr_mod.PERF_EVENT_IOC_ID, @intFromPtr(&counter.id), failure);
    }
    counter.require_at_ring = mode == .require and ring_follows;
    if (mode == .require and !ring_follows) try checkRequireInGroup(counter, request.leader, failure);
    if (request.leader) |leader| {
        counter.group_position = leader.group_members_opened;
        leader.group_members_opened += 1;
    }
}

/// An arm64 core without 64-bit event counters accepts a 64-bit CPU_CYCLES
/// request (no EOPNOTSUPP: the cycle counter could hold it) but, once the
/// cycle counter is taken, cannot schedule it anywhere userspace may read:
/// the page shows index 0 although user access is on. A 32-bit counter
/// (config1 bit 1 alone) gets a register, as the EOPNOTSUPP path does.
/// A member of a disabled leader (a group opened before it is enabled) is
/// off the registers for that reason alone: its index 0 says nothing.
fn narrowable(counter: *const Counter, leader: ?*const Counter) bool {
    if (builtin.cpu.arch != .aarch64 or offRegisters(counter, leader) or !counter.self_task) return false;
    const wanted = arm64_config1_64bit | arm64_config1_user_access;
    if (counter.config1_used & wanted != wanted) return false;
    const the_page = counter.page() orelse return false;
    const capabilities = page_mod.decodeCapabilities(page_mod.load(u64, &the_page.capabilities), page_mod.load(u32, &the_page.size));
    if (!capabilities.user_rdpmc or page_mod.load(u32, &the_page.index) != 0) return false;
    var failure: Failure = undefined;
    const user_access = sysfs.sysctl(sysctl_perf_user_access, &failure) catch return false;
    return user_access == 1;
}

const sysctl_perf_user_access: u32 = @backingInt(sysfs.Knob.perf_user_access);
/// pm_sysctl numbers of the x86 rdpmc knob: cpu, then cpu_core and cpu_atom
/// on hybrid CPUs (their files show the one setting all core PMUs share).
const sysctls_x86_rdpmc = [_]u32{
    @backingInt(sysfs.Knob.rdpmc_cpu),
    @backingInt(sysfs.Knob.rdpmc_cpu_core),
    @backingInt(sysfs.Knob.rdpmc_cpu_atom),
};

/// The machine's userspace-read knob, or null where there is none or it
/// cannot be read: arm64 kernel.perf_user_access (0 leaves index 0 forever
/// while cap_user_rdpmc stays 1); x86 the rdpmc file (0 makes rdpmc fault).
pub fn userAccessKnob() ?i64 {
    var failure: Failure = undefined;
    switch (builtin.cpu.arch) {
        .aarch64 => return sysfs.sysctl(sysctl_perf_user_access, &failure) catch null,
        .x86_64 => {
            for (sysctls_x86_rdpmc) |which| {
                if (sysfs.sysctl(which, &failure)) |value| return value else |_| {}
            }
            return null;
        },
        else => return null,
    }
}

fn reopenNarrow(counter: *Counter, attr: *PerfEventAttr, request: OpenRequest, failure: *Failure) Error!void {
    assert(counter.config1_used & arm64_config1_64bit != 0);
    close(counter);
    attr.setConfig1(attr.config1() & ~@as(u64, arm64_config1_64bit));
    attr.size = attr_mod.PERF_ATTR_SIZE_VER8;
    @atomicStore(bool, &arm64_long_counters_absent, true, .monotonic);
    counter.fd = try syscalls.perfEventOpen(attr, request.pid, request.cpu, groupFd(request), kernelFlags(request), failure);
    counter.config1_used = attr.config1();
    try mapMetadataPage(counter, counter.mode, failure);
}

fn groupFd(request: OpenRequest) i32 {
    return if (request.leader) |leader| leader.fd else -1;
}

fn kernelFlags(request: OpenRequest) u32 {
    return (request.flags >> open_flag_kernel_shift) | attr_mod.PERF_FLAG_FD_CLOEXEC;
}

/// Set once an open showed that the CPU PMU has no 64-bit event counters
/// (EOPNOTSUPP, or a 64-bit CPU_CYCLES event left off the registers). From
/// then on only the cycle-counter event asks for 64 bits: on such a core
/// (QEMU cortex-a57 on Linux 6.1) the doomed 64-bit attempts were seen to
/// keep later 32-bit events off the registers.
var arm64_long_counters_absent: bool = false;

fn arm64WantsWide(attr: *const PerfEventAttr) bool {
    if (!@atomicLoad(bool, &arm64_long_counters_absent, .monotonic)) return true;
    return attr.type == attr_mod.PERF_TYPE_HARDWARE and attr.config & 0xffff_ffff == attr_mod.PERF_COUNT_HW_CPU_CYCLES;
}

/// On arm64 userspace access is per event (config1 bits); only the CPU PMU's
/// event types can carry it. A dynamic type gets the bits only if it is an
/// Arm CPU PMU: kprobe, uprobe or SPE use config1 for other things.
fn wantsArm64UserAccess(event_type: u32) bool {
    if (builtin.cpu.arch != .aarch64) return false;
    return switch (event_type) {
        attr_mod.PERF_TYPE_HARDWARE, attr_mod.PERF_TYPE_HW_CACHE, attr_mod.PERF_TYPE_RAW => true,
        else => event_type >= attr_mod.PERF_TYPE_MAX and sysfs.isArmCpuPmu(event_type),
    };
}

/// perf_event_open, retried once without the 64-bit bit on arm64 cores that
/// refuse it (EOPNOTSUPP): they give a 32-bit counter instead.
fn openNegotiated(attr: *PerfEventAttr, request: OpenRequest, failure: *Failure) Error!i32 {
    const group_fd = groupFd(request);
    const kernel_flags = kernelFlags(request);
    const first = syscalls.perfEventOpen(attr, request.pid, request.cpu, group_fd, kernel_flags, failure);
    if (first) |fd| return fd else |_| {}
    const retry = builtin.cpu.arch == .aarch64 and failure.* == .errno and failure.errno == .OPNOTSUPP and
        attr.config1() & arm64_config1_user_access != 0 and attr.config1() & arm64_config1_64bit != 0;
    if (!retry) return error.Failed;
    @atomicStore(bool, &arm64_long_counters_absent, true, .monotonic);
    attr.setConfig1(attr.config1() & ~@as(u64, arm64_config1_64bit));
    attr.size = attr_mod.PERF_ATTR_SIZE_VER8;
    return syscalls.perfEventOpen(attr, request.pid, request.cpu, group_fd, kernel_flags, failure);
}

fn mapMetadataPage(counter: *Counter, mode: Mode, failure: *Failure) Error!void {
    assert(counter.mapping == null);
    const bytes = system.pageSize();
    const mapping = syscalls.mmapShared(counter.fd, bytes, failure) catch |err| {
        // The kernel refuses to map inherited per-task counters (EINVAL);
        // in auto mode such a counter simply reads through read().
        if (mode == .auto) return;
        return err;
    };
    counter.mapping = mapping;
    counter.mapping_bytes = bytes;
    counter.mappings_made += 1;
}

/// Whether the counter is off the registers because it, or its group's
/// leader, is disabled (a member of a disabled leader counts as disabled).
fn offRegisters(counter: *const Counter, leader: ?*const Counter) bool {
    if (counter.disabled) return true;
    const group_leader = leader orelse return false;
    return group_leader.disabled;
}

pub fn checkRequire(counter: *Counter, failure: *Failure) Error!void {
    return checkRequireInGroup(counter, null, failure);
}

/// The require checks of a counter opened under `leader` (null: alone).
fn checkRequireInGroup(counter: *Counter, leader: ?*const Counter, failure: *Failure) Error!void {
    assert(counter.mode == .require);
    if (!arch.reader.has_reader) return errno.fail(failure, errno.fromCode(.NO_ARCH_READER));
    const the_page = counter.page() orelse return errno.fail(failure, errno.fromCode(.NO_PAGE));
    const capabilities = page_mod.decodeCapabilities(page_mod.load(u64, &the_page.capabilities), page_mod.load(u32, &the_page.size));
    if (!capabilities.user_rdpmc) return errno.fail(failure, errno.fromCode(.NO_USER_RDPMC));
    // An enabled counter of this task is on a register right after open;
    // index 0 then means the kernel withholds it (arm64 perf_user_access=0).
    if (!offRegisters(counter, leader) and page_mod.load(u32, &the_page.index) == 0) {
        return errno.fail(failure, errno.fromCode(.USER_INDEX_ZERO));
    }
}

/// Opens a simulated counter (no fd; page in anonymous memory).
pub fn openSimulated(counter: *Counter, flags: u32, failure: *Failure) Error!void {
    assert(counter.handle == 0 and counter.mapping == null);
    const mode = try modeOf(flags, failure);
    const bytes = system.pageSize();
    const mapping = try syscalls.mmapAnonymous(bytes, failure);
    counter.* = .{
        .fd = -1,
        .simulated = true,
        .mapping = mapping,
        .mapping_bytes = bytes,
        .mode = mode,
        .fallback = flags & open_flag_fallback != 0,
        .self_task = true,
    };
    sim.initPage(counter.page().?);
}

pub fn unmap(counter: *Counter) void {
    counter.fast_page = null;
    const mapping = counter.mapping orelse return;
    assert(counter.mapping_bytes > 0);
    syscalls.munmap(mapping, counter.mapping_bytes);
    counter.mapping = null;
    counter.mapping_bytes = 0;
    counter.ring_data_pages = 0;
}

/// Unmaps, then closes the fd (ABI: pm_close).
pub fn close(counter: *Counter) void {
    unmap(counter);
    if (counter.fd >= 0) syscalls.close(counter.fd);
    counter.fd = -1;
}

/// Whether the seqlock path may run at all for this counter now.
pub fn userspaceAllowed(counter: *const Counter, leader: ?*const Counter) bool {
    if (counter.mode == .off or counter.mapping == null or !counter.self_task) return false;
    if (!counter.simulated and !arch.reader.has_reader) return false;
    if (counter.disabled) return false;
    if (leader) |group_leader| if (group_leader.disabled) return false;
    return true;
}
