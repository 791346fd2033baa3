//! `struct perf_event_attr` and the perf UAPI constants the core uses, named as
//! in include/uapi/linux/perf_event.h so a reader can grep from here to there.
const std = @import("std");
const assert = std.debug.assert;

pub const PERF_ATTR_SIZE_VER0 = 64;
pub const PERF_ATTR_SIZE_VER1 = 72;
pub const PERF_ATTR_SIZE_VER2 = 80;
pub const PERF_ATTR_SIZE_VER3 = 96;
pub const PERF_ATTR_SIZE_VER4 = 104;
pub const PERF_ATTR_SIZE_VER5 = 112;
pub const PERF_ATTR_SIZE_VER6 = 120;
pub const PERF_ATTR_SIZE_VER7 = 128;
pub const PERF_ATTR_SIZE_VER8 = 136;

pub const PERF_TYPE_HARDWARE = 0;
pub const PERF_TYPE_SOFTWARE = 1;
pub const PERF_TYPE_TRACEPOINT = 2;
pub const PERF_TYPE_HW_CACHE = 3;
pub const PERF_TYPE_RAW = 4;
pub const PERF_TYPE_BREAKPOINT = 5;
/// Types at or above this are dynamic PMUs (from sysfs `type`).
pub const PERF_TYPE_MAX = 6;

pub const PERF_COUNT_HW_CPU_CYCLES = 0;
pub const PERF_COUNT_HW_INSTRUCTIONS = 1;
pub const PERF_COUNT_SW_CPU_CLOCK = 0;
pub const PERF_COUNT_SW_TASK_CLOCK = 1;
pub const PERF_COUNT_SW_PAGE_FAULTS = 2;
pub const PERF_COUNT_SW_CONTEXT_SWITCHES = 3;
pub const PERF_COUNT_SW_DUMMY = 9;

pub const PERF_FORMAT_TOTAL_TIME_ENABLED = 1 << 0;
pub const PERF_FORMAT_TOTAL_TIME_RUNNING = 1 << 1;
pub const PERF_FORMAT_ID = 1 << 2;
pub const PERF_FORMAT_GROUP = 1 << 3;
pub const PERF_FORMAT_LOST = 1 << 4;
pub const PERF_FORMAT_MAX = 1 << 5;

pub const PERF_FLAG_FD_NO_GROUP = 1 << 0;
pub const PERF_FLAG_FD_OUTPUT = 1 << 1;
pub const PERF_FLAG_PID_CGROUP = 1 << 2;
pub const PERF_FLAG_FD_CLOEXEC = 1 << 3;

pub const PERF_IOC_FLAG_GROUP = 1 << 0;

/// ioctl request numbers: _IO/_IOW/_IOR('$', nr, ...) as in the UAPI header.
/// The generic encoding is the same on x86_64 and aarch64.
pub const PERF_EVENT_IOC_ENABLE = ioctlNone(0);
pub const PERF_EVENT_IOC_DISABLE = ioctlNone(1);
pub const PERF_EVENT_IOC_REFRESH = ioctlNone(2);
pub const PERF_EVENT_IOC_RESET = ioctlNone(3);
pub const PERF_EVENT_IOC_PERIOD = ioctlWrite(4, 8);
pub const PERF_EVENT_IOC_SET_OUTPUT = ioctlNone(5);
pub const PERF_EVENT_IOC_ID = ioctlRead(7, 8);
pub const PERF_EVENT_IOC_PAUSE_OUTPUT = ioctlWrite(9, 4);
pub const PERF_EVENT_IOC_MODIFY_ATTRIBUTES = ioctlWrite(11, 8);

const ioc_type_perf: u32 = '$';
const ioc_write: u32 = 1;
const ioc_read: u32 = 2;

fn ioctlNone(comptime nr: u8) u32 {
    return (ioc_type_perf << 8) | nr;
}

fn ioctlWrite(comptime nr: u8, comptime size: u14) u32 {
    return (ioc_write << 30) | (@as(u32, size) << 16) | (ioc_type_perf << 8) | nr;
}

fn ioctlRead(comptime nr: u8, comptime size: u14) u32 {
    return (ioc_read << 30) | (@as(u32, size) << 16) | (ioc_type_perf << 8) | nr;
}

comptime {
    // Cross-check against std's copy of the same UAPI numbers.
    const std_ioc = std.os.linux.PERF.EVENT_IOC;
    assert(PERF_EVENT_IOC_ENABLE == std_ioc.ENABLE);
    assert(PERF_EVENT_IOC_RESET == std_ioc.RESET);
    assert(PERF_EVENT_IOC_PERIOD == std_ioc.PERIOD);
    assert(PERF_EVENT_IOC_ID == std_ioc.ID);
    assert(PERF_EVENT_IOC_PAUSE_OUTPUT == std_ioc.PAUSE_OUTPUT);
    assert(PERF_EVENT_IOC_MODIFY_ATTRIBUTES == std_ioc.MODIFY_ATTRIBUTES);
    assert(PERF_FLAG_FD_CLOEXEC == std.os.linux.PERF.FLAG.FD_CLOEXEC);
}

/// The flag bitfield at offset 40, bit for bit as in the UAPI header.
pub const Flags = packed struct(u64) {
    disabled: bool = false,
    inherit: bool = false,
    pinned: bool = false,
    exclusive: bool = false,
    exclude_user: bool = false,
    exclude_kernel: bool = false,
    exclude_hv: bool = false,
    exclude_idle: bool = false,
    mmap: bool = false,
    comm: bool = false,
    freq: bool = false,
    inherit_stat: bool = false,
    enable_on_exec: bool = false,
    task: bool = false,
    watermark: bool = false,
    precise_ip: u2 = 0,
    mmap_data: bool = false,
    sample_id_all: bool = false,
    exclude_host: bool = false,
    exclude_guest: bool = false,
    exclude_callchain_kernel: bool = false,
    exclude_callchain_user: bool = false,
    mmap2: bool = false,
    comm_exec: bool = false,
    use_clockid: bool = false,
    context_switch: bool = false,
    write_backward: bool = false,
    namespaces: bool = false,
    ksymbol: bool = false,
    bpf_event: bool = false,
    aux_output: bool = false,
    cgroup: bool = false,
    text_poke: bool = false,
    build_id: bool = false,
    inherit_thread: bool = false,
    remove_on_exec: bool = false,
    sigtrap: bool = false,
    __reserved_1: u26 = 0,
};

/// `struct perf_event_attr` up to PERF_ATTR_SIZE_VER8. Unions of the UAPI
/// header are named by their first member; the aliases are noted.
pub const PerfEventAttr = extern struct {
    type: u32 = 0,
    size: u32 = PERF_ATTR_SIZE_VER8,
    config: u64 = 0,
    /// Union with sample_freq.
    sample_period: u64 = 0,
    sample_type: u64 = 0,
    read_format: u64 = 0,
    flags: Flags = .{},
    /// Union with wakeup_watermark.
    wakeup_events: u32 = 0,
    bp_type: u32 = 0,
    /// Union with kprobe_func, uprobe_path and config1.
    bp_addr: u64 = 0,
    /// Union with kprobe_addr, probe_offset and config2.
    bp_len: u64 = 0,
    branch_sample_type: u64 = 0,
    sample_regs_user: u64 = 0,
    sample_stack_user: u32 = 0,
    clockid: i32 = 0,
    sample_regs_intr: u64 = 0,
    aux_watermark: u32 = 0,
    sample_max_stack: u16 = 0,
    __reserved_2: u16 = 0,
    aux_sample_size: u32 = 0,
    /// aux_action bits (aux_start_paused, aux_pause, aux_resume) on 6.13+.
    aux_action: u32 = 0,
    sig_data: u64 = 0,
    config3: u64 = 0,

    pub fn config1(attr: *const PerfEventAttr) u64 {
        return attr.bp_addr;
    }

    pub fn setConfig1(attr: *PerfEventAttr, value: u64) void {
        attr.bp_addr = value;
    }
};

comptime {
    const A = PerfEventAttr;
    assert(@sizeOf(A) == PERF_ATTR_SIZE_VER8);
    assert(@offsetOf(A, "type") == 0);
    assert(@offsetOf(A, "size") == 4);
    assert(@offsetOf(A, "config") == 8);
    assert(@offsetOf(A, "sample_period") == 16);
    assert(@offsetOf(A, "sample_type") == 24);
    assert(@offsetOf(A, "read_format") == 32);
    assert(@offsetOf(A, "flags") == 40);
    assert(@offsetOf(A, "wakeup_events") == 48);
    assert(@offsetOf(A, "bp_type") == 52);
    assert(@offsetOf(A, "bp_addr") == 56);
    assert(@offsetOf(A, "bp_len") == PERF_ATTR_SIZE_VER0);
    assert(@offsetOf(A, "branch_sample_type") == PERF_ATTR_SIZE_VER1);
    assert(@offsetOf(A, "sample_regs_user") == PERF_ATTR_SIZE_VER2);
    assert(@offsetOf(A, "sample_stack_user") == 88);
    assert(@offsetOf(A, "clockid") == 92);
    assert(@offsetOf(A, "sample_regs_intr") == PERF_ATTR_SIZE_VER3);
    assert(@offsetOf(A, "aux_watermark") == PERF_ATTR_SIZE_VER4);
    assert(@offsetOf(A, "sample_max_stack") == 108);
    assert(@offsetOf(A, "aux_sample_size") == PERF_ATTR_SIZE_VER5);
    assert(@offsetOf(A, "sig_data") == PERF_ATTR_SIZE_VER6);
    assert(@offsetOf(A, "config3") == PERF_ATTR_SIZE_VER7);
    assert(@bitOffsetOf(Flags, "enable_on_exec") == 12);
    assert(@bitOffsetOf(Flags, "precise_ip") == 15);
    assert(@bitOffsetOf(Flags, "mmap2") == 23);
    assert(@bitOffsetOf(Flags, "sigtrap") == 37);
}

/// Copies the caller's attribute bytes (ABI.md, "Attribute buffer") and sets
/// `size` to ours: the caller's size field is never trusted.
pub fn fromBytes(bytes: *const [PERF_ATTR_SIZE_VER8]u8) PerfEventAttr {
    var attr: PerfEventAttr = undefined;
    @memcpy(std.mem.asBytes(&attr), bytes);
    attr.size = PERF_ATTR_SIZE_VER8;
    assert(attr.size == @sizeOf(PerfEventAttr));
    return attr;
}

test "attr round-trips through bytes with size forced" {
    var bytes: [PERF_ATTR_SIZE_VER8]u8 = @splat(0);
    bytes[0] = PERF_TYPE_SOFTWARE;
    bytes[4] = 7; // a caller's bogus size
    bytes[8] = PERF_COUNT_SW_TASK_CLOCK;
    bytes[40] = 1; // disabled
    bytes[128] = 0x5a; // config3
    const attr = fromBytes(&bytes);
    try std.testing.expectEqual(@as(u32, PERF_TYPE_SOFTWARE), attr.type);
    try std.testing.expectEqual(@as(u32, PERF_ATTR_SIZE_VER8), attr.size);
    try std.testing.expectEqual(@as(u64, PERF_COUNT_SW_TASK_CLOCK), attr.config);
    try std.testing.expect(attr.flags.disabled);
    try std.testing.expectEqual(@as(u64, 0x5a), attr.config3);
}
