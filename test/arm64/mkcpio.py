#!/usr/bin/env python3
"""Writes a newc cpio archive (the initramfs format) from a manifest.

The manifest uses the kernel's gen_init_cpio syntax, one entry a line
(a parent directory not listed is created with mode 755 before its first
entry, because the kernel's unpacker does not create parents):

    dir   <name> <mode>
    file  <name> <source> <mode>
    slink <name> <target> <mode>
    nod   <name> <mode> c|b <major> <minor>

Why not GNU cpio: this needs no staging tree (so no copies of the project's
*.test.ts land inside the repo where a host `deno test` would find them), it
can create /dev/console without mknod, and the output is reproducible
(mtime 0, fixed inode numbers), so an unchanged input gives identical bytes.

Usage: mkcpio.py MANIFEST OUTPUT [--trailer|--no-trailer]
"""

import os
import sys

MODE_TYPE = {"dir": 0o040000, "file": 0o100000, "slink": 0o120000}


def header(ino, mode, nlink, size, rdev_major, rdev_minor, name):
    name_bytes = name.encode() + b"\0"
    fields = [
        ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev_major, rdev_minor,
        len(name_bytes), 0,
    ]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    data = head + name_bytes
    return data + b"\0" * (-len(data) % 4)


def write_entry(out, ino, mode, size, name, payload_writer, rdev=(0, 0)):
    out.write(header(ino, mode, 2 if mode & 0o040000 else 1, size,
                     rdev[0], rdev[1], name))
    written = payload_writer(out)
    assert written == size, (name, written, size)
    out.write(b"\0" * (-size % 4))


def copy_file(source):
    def writer(out):
        total = 0
        with open(source, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    return total
                out.write(chunk)
                total += len(chunk)
    return writer


def main():
    manifest, output = sys.argv[1], sys.argv[2]
    trailer = "--no-trailer" not in sys.argv[3:]
    seen = set()
    with open(manifest) as m, open(output + ".tmp", "wb") as out:
        ino = 721  # arbitrary, fixed: reproducible output
        for line_no, line in enumerate(m, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            kind, name = parts[0], parts[1].lstrip("/")
            if name in seen:
                sys.exit(f"{manifest}:{line_no}: duplicate entry {name}")
            parts_of_name = name.split("/")
            for depth in range(1, len(parts_of_name)):
                parent = "/".join(parts_of_name[:depth])
                if parent not in seen:
                    seen.add(parent)
                    ino += 1
                    write_entry(out, ino, MODE_TYPE["dir"] | 0o755, 0, parent,
                                lambda o: 0)
            seen.add(name)
            ino += 1
            if kind == "dir":
                mode = MODE_TYPE["dir"] | int(parts[2], 8)
                write_entry(out, ino, mode, 0, name, lambda o: 0)
            elif kind == "file":
                source = parts[2]
                size = os.path.getsize(source)
                mode = MODE_TYPE["file"] | int(parts[3], 8)
                write_entry(out, ino, mode, size, name, copy_file(source))
            elif kind == "slink":
                target = parts[2].encode()
                mode = MODE_TYPE["slink"] | int(parts[3], 8)
                write_entry(out, ino, mode, len(target), name,
                            lambda o, t=target: o.write(t))
            elif kind == "nod":
                kind_bits = 0o020000 if parts[3] == "c" else 0o060000
                mode = kind_bits | int(parts[2], 8)
                write_entry(out, ino, mode, 0, name, lambda o: 0,
                            rdev=(int(parts[4]), int(parts[5])))
            else:
                sys.exit(f"{manifest}:{line_no}: unknown entry kind {kind}")
        if trailer:
            write_entry(out, 0, 0, 0, "TRAILER!!!", lambda o: 0)
            # The kernel reads concatenated archives; pad each to 512 bytes.
            out.write(b"\0" * (-out.tell() % 512))
    os.replace(output + ".tmp", output)


if __name__ == "__main__":
    main()
