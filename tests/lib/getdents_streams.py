#!/usr/bin/env python3
"""Read directories through many open streams at once, a few entries at a time.

Usage: getdents_streams.py BUFSIZE DIR...

Opens one stream per DIR argument (name a directory several times for several streams over
it) and reads them round-robin with getdents64(2) into buffers of BUFSIZE bytes, so that each
READDIR the kernel sends continues a listing that others have moved past.  Then each
stream's names must be its directory's (os.listdir, plus . and ..), each once.  Prints one
line a stream, "DIR: N names, M distinct" for a stream that fails that, and "ok" if none did
(exit 0; else 1).  (Python's os.scandir reads with a large buffer and cannot interleave.)
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
        names.append(raw[pos + 19:pos + reclen].split(b"\0", 1)[0].decode("utf-8", "surrogateescape"))
        pos += reclen
    return names


def main():
    bufsize, dirs = int(sys.argv[1]), sys.argv[2:]
    fds = [os.open(d, os.O_RDONLY | os.O_DIRECTORY) for d in dirs]
    bufs = [ctypes.create_string_buffer(bufsize) for _ in dirs]
    seen = [[] for _ in dirs]
    live = set(range(len(dirs)))
    while live:
        for i in sorted(live):
            got = getdents(fds[i], bufs[i])
            if not got:
                live.discard(i)
                os.close(fds[i])
            seen[i].extend(got)
    bad = 0
    for d, names in zip(dirs, seen):
        want = set(os.listdir(d)) | {".", ".."}
        if len(names) != len(set(names)) or set(names) != want:
            print("%s: %d names, %d distinct, %d wanted" % (d, len(names), len(set(names)), len(want)))
            bad += 1
    if not bad:
        print("ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
