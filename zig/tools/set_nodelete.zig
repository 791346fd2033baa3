//! Build tool: marks a linked shared library DF_1_NODELETE, as `-z nodelete`
//! would (Zig's build API offers no `-z nodelete`, and the flag must be on
//! the library, not asked for by each loader).
//!
//!   set_nodelete <input.so> <output.so>
//!
//! Why the core needs it: Deno runs a `nonblocking` FFI call on a pool
//! thread, and a Worker torn down while such a call waits (pm_ring_wait in
//! poll(2)) drops its DynamicLibrary, whose dlclose unmaps the code that the
//! pool thread then returns into: SIGSEGV for the whole process. With
//! NODELETE, dlclose keeps the library mapped for the life of the process;
//! the handle table is process-global anyway.
//!
//! The linker always writes DT_FLAGS_1 (Zig links with `-z now`, which sets
//! DF_1_NOW there), so the patch ORs one bit into an existing entry and never
//! resizes anything. A library without the entry fails the build.
const std = @import("std");
const assert = std.debug.assert;

const elf_header_bytes = 64;
const program_header_bytes = 56;
const dynamic_entry_bytes = 16;
const PT_DYNAMIC = 2;
const DT_NULL = 0;

comptime {
    assert(@sizeOf(std.elf.Elf64.Ehdr) == elf_header_bytes);
    assert(@sizeOf(std.elf.Elf64.Phdr) == program_header_bytes);
    assert(@sizeOf(std.elf.Elf64_Dyn) == dynamic_entry_bytes);
    assert(std.elf.DF_1_NODELETE == 0x8);
}

pub const PatchError = error{ NotElf64LittleEndian, Truncated, NoDynamicSegment, NoFlags1Entry };

/// Sets DF_1_NODELETE in the DT_FLAGS_1 entry of a 64-bit little-endian ELF
/// shared library (x86_64 and aarch64), in place.
pub fn setNoDelete(bytes: []u8) PatchError!void {
    if (bytes.len < elf_header_bytes or !std.mem.eql(u8, bytes[0..4], "\x7fELF")) return error.NotElf64LittleEndian;
    if (bytes[4] != std.elf.ELFCLASS64 or bytes[5] != std.elf.ELFDATA2LSB) return error.NotElf64LittleEndian;
    const phoff = readU64(bytes, 32) orelse return error.Truncated;
    const phnum = std.mem.readInt(u16, bytes[56..58], .little);
    var i: u64 = 0;
    while (i < phnum) : (i += 1) {
        const header = phoff + i * program_header_bytes;
        const kind = readU32(bytes, header) orelse return error.Truncated;
        if (kind != PT_DYNAMIC) continue;
        const offset = readU64(bytes, header + 8) orelse return error.Truncated;
        const size = readU64(bytes, header + 32) orelse return error.Truncated;
        return patchDynamic(bytes, offset, size);
    }
    return error.NoDynamicSegment;
}

fn patchDynamic(bytes: []u8, offset: u64, size: u64) PatchError!void {
    var entry = offset;
    while (entry + dynamic_entry_bytes <= offset + size) : (entry += dynamic_entry_bytes) {
        const tag = readU64(bytes, entry) orelse return error.Truncated;
        if (tag == DT_NULL) break;
        if (tag != std.elf.DT_FLAGS_1) continue;
        const value = readU64(bytes, entry + 8).?;
        std.mem.writeInt(u64, bytes[@intCast(entry + 8)..][0..8], value | std.elf.DF_1_NODELETE, .little);
        return;
    }
    return error.NoFlags1Entry;
}

fn readU64(bytes: []const u8, at: u64) ?u64 {
    if (at > bytes.len or bytes.len - at < 8) return null;
    return std.mem.readInt(u64, bytes[@intCast(at)..][0..8], .little);
}

fn readU32(bytes: []const u8, at: u64) ?u32 {
    if (at > bytes.len or bytes.len - at < 4) return null;
    return std.mem.readInt(u32, bytes[@intCast(at)..][0..4], .little);
}

pub fn main(init: std.process.Init) !void {
    const arena = init.arena.allocator();
    const io = init.io;
    const args = try init.minimal.args.toSlice(arena);
    if (args.len != 3) {
        std.debug.print("usage: set_nodelete <input.so> <output.so>\n", .{});
        return error.Usage;
    }
    const cwd = std.Io.Dir.cwd();
    const bytes = try cwd.readFileAlloc(io, args[1], arena, .limited(64 << 20));
    setNoDelete(bytes) catch |err| {
        std.debug.print("set_nodelete: {s}: {s}\n", .{ args[1], @errorName(err) });
        return err;
    };
    try cwd.writeFile(io, .{ .sub_path = args[2], .data = bytes, .flags = .{ .permissions = .executable_file } });
}

test "set_nodelete: ORs DF_1_NODELETE into DT_FLAGS_1, refuses what is not a 64-bit LE ELF" {
    // A minimal image: ELF header, one PT_DYNAMIC header, three entries.
    var image = std.mem.zeroes([elf_header_bytes + program_header_bytes + 3 * dynamic_entry_bytes]u8);
    @memcpy(image[0..4], "\x7fELF");
    image[4] = std.elf.ELFCLASS64;
    image[5] = std.elf.ELFDATA2LSB;
    std.mem.writeInt(u64, image[32..40], elf_header_bytes, .little);
    std.mem.writeInt(u16, image[56..58], 1, .little);
    const header = image[elf_header_bytes..][0..program_header_bytes];
    std.mem.writeInt(u32, header[0..4], PT_DYNAMIC, .little);
    const dynamic_offset = elf_header_bytes + program_header_bytes;
    std.mem.writeInt(u64, header[8..16], dynamic_offset, .little);
    std.mem.writeInt(u64, header[32..40], 3 * dynamic_entry_bytes, .little);
    const dynamic = image[dynamic_offset..];
    std.mem.writeInt(u64, dynamic[0..8], std.elf.DT_FLAGS, .little);
    std.mem.writeInt(u64, dynamic[8..16], 0x8, .little); // DF_BIND_NOW: must stay untouched
    std.mem.writeInt(u64, dynamic[16..24], std.elf.DT_FLAGS_1, .little);
    std.mem.writeInt(u64, dynamic[24..32], std.elf.DF_1_NOW, .little);

    try setNoDelete(&image);
    try std.testing.expectEqual(@as(u64, 0x8), std.mem.readInt(u64, dynamic[8..16], .little));
    try std.testing.expectEqual(@as(u64, std.elf.DF_1_NOW | std.elf.DF_1_NODELETE), std.mem.readInt(u64, dynamic[24..32], .little));

    std.mem.writeInt(u64, dynamic[16..24], DT_NULL, .little);
    try std.testing.expectError(error.NoFlags1Entry, setNoDelete(&image));
    image[4] = std.elf.ELFCLASS32;
    try std.testing.expectError(error.NotElf64LittleEndian, setNoDelete(&image));
    try std.testing.expectError(error.NotElf64LittleEndian, setNoDelete(image[0..10]));
}
