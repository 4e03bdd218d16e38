#!/usr/bin/env python3
"""Read one directory through many open streams at once, a few entries at a time.

Usage: getdents_streams.py DIR STREAMS BUFSIZE

Opens DIR STREAMS times and reads the streams round-robin with getdents64(2) into a buffer of
BUFSIZE bytes, so that each READDIR the kernel sends continues a listing the others have moved
past.  Prints, for each stream, one line: the number of names it read and the number of
distinct ones, then "ok" if every stream read the same set of names with none twice.  Exit
status 1 otherwise.  (Python's os.scandir reads with a large buffer and cannot interleave.)
"""

import ctypes
import os
import struct
import sys

SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def getdents(fd, buf):
    n = libc.syscall(SYS_GETDENTS64, fd, buf, len(buf))
    if n < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    names, pos = [], 0
    raw = buf.raw[:n]
    while pos < n:
        _ino, _off, reclen, _type = struct.unpack_from("<QqHB", raw, pos)
        name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
        names.append(name.decode("utf-8", "surrogateescape"))
        pos += reclen
    return names


def main():
    path, streams, bufsize = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    fds = [os.open(path, os.O_RDONLY | os.O_DIRECTORY) for _ in range(streams)]
    bufs = [ctypes.create_string_buffer(bufsize) for _ in range(streams)]
    seen = [[] for _ in range(streams)]
    live = set(range(streams))
    while live:
        for i in sorted(live):
            got = getdents(fds[i], bufs[i])
            if not got:
                live.discard(i)
                os.close(fds[i])
            seen[i].extend(got)
    ok = True
    first = set(seen[0])
    for i, names in enumerate(seen):
        print(len(names), len(set(names)))
        ok = ok and len(names) == len(set(names)) and set(names) == first
    if ok:
        print("ok")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
