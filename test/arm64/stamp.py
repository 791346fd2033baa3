#!/usr/bin/env python3
"""Copies QEMU's console from stdin to LOG, and writes the host's elapsed
seconds of every "@@" marker line to TIMES ("<secs> <line>").

Inside an icount guest the clock is virtual (1 ns per instruction), so guest
uptimes say nothing about how long a step took on this host; these do.

Usage: qemu-system-aarch64 ... | stamp.py LOG TIMES
"""

import sys
import time

start = time.monotonic()
with open(sys.argv[1], "wb") as log, open(sys.argv[2], "w") as times:
    for raw in sys.stdin.buffer:
        log.write(raw)
        at = raw.find(b"@@")
        if at >= 0:
            line = raw[at:].decode(errors="replace").rstrip("\r\n")
            times.write(f"{time.monotonic() - start:.2f} {line}\n")
            times.flush()
            log.flush()
