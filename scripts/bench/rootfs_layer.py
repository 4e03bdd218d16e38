#!/usr/bin/env python3
"""A realistic image layer for scripts/bench.sh's B6 rows, made from this machine's own /usr.

A gzip tar of real files (binaries, shared objects, Python and Perl modules, headers, man pages,
documentation, time zones): at most --mib MiB of file data in all (default 230: 210 MiB taken,
18,691 entries, 235 MB of tar, 88 MB of gzip on the Debian 12 machine of docs/performance.md),
taken root by root below in sorted order, each root up to its share of the total (what a smaller
root leaves is not handed on), files over 16 MiB left out.  Deterministic for a given /usr:
entries in sorted order, every mtime 2024-01-01, owner and group 0 (root), PAX headers, gzip
level 6 (Docker's) with no name or time in its header.  Symlinks stay links; files with several
names in a root are tar hardlinks.

Usage: rootfs_layer.py --out BLOB.tar.gz [--mib N] [--json OUT.json]
Prints (and with --json writes) what was made: the blob's sha256 digest and size, the tar's
sha256 (the diff_id) and size, the entry count, and a small regular file deep in the layer (the
last one of the tar between 1 and 8 KiB, at least 4 levels down), for B6 cat.
"""

import argparse
import gzip
import hashlib
import json
import os
import stat
import sys
import tarfile
import time

MTIME = 1704067200  # 2024-01-01T00:00:00Z
FILE_MAX = 16 << 20

# (root, share of the total); what is missing on a machine is skipped
ROOTS = [
    ("usr/bin", 0.28),
    ("usr/sbin", 0.02),
    ("usr/lib/python3.11", 0.15),
    ("usr/lib/python3/dist-packages", 0.10),
    ("usr/share/perl", 0.04),
    ("usr/lib/x86_64-linux-gnu/perl", 0.03),
    ("usr/include", 0.14),
    ("usr/share/man", 0.05),
    ("usr/share/doc", 0.10),
    ("usr/share/vim", 0.05),
    ("usr/share/i18n", 0.03),
    ("usr/share/zoneinfo", 0.01),
]


class HashingWriter:
    """A write-only file that hashes and counts what passes through to @f."""

    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def flush(self):
        self.f.flush()


def walk(top):
    """Paths below @top (relative to /), directories before their contents, sorted."""
    for d, dirs, files in os.walk("/" + top):
        dirs.sort()
        yield d[1:]
        for name in sorted(files):
            yield os.path.join(d, name)[1:]
        # symlinks to directories come in dirs: they are entries too, not followed
        for name in list(dirs):
            if os.path.islink(os.path.join(d, name)):
                yield os.path.join(d, name)[1:]
                dirs.remove(name)


def normalise(ti):
    ti.mtime = MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def build(out, mib):
    budget = mib << 20
    raw = open(out + ".tmp", "wb")
    hw = None
    gz = gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=0)
    hw = HashingWriter(gz)
    tar = tarfile.open(fileobj=hw, mode="w|", format=tarfile.PAX_FORMAT)
    entries = data = 0
    deep = None
    done_dirs = set()
    try:
        for root, share in ROOTS:
            if not os.path.isdir("/" + root):
                continue
            left = int(budget * share)
            # the root's parents first
            parts = root.split("/")
            for i in range(1, len(parts)):
                p = "/".join(parts[:i])
                if p not in done_dirs:
                    tar.addfile(normalise(tar.gettarinfo("/" + p, p)))
                    done_dirs.add(p)
                    entries += 1
            for path in walk(root):
                try:
                    st = os.lstat("/" + path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    if st.st_size > FILE_MAX:
                        continue
                    if st.st_size > left:
                        break
                elif not (stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    continue
                ti = normalise(tar.gettarinfo("/" + path, path))
                if ti.isreg():
                    try:
                        with open("/" + path, "rb") as f:
                            tar.addfile(ti, f)
                    except OSError:
                        continue
                    left -= ti.size
                    data += ti.size
                    if 1024 <= ti.size <= 8192 and path.count("/") >= 4:
                        deep = {"path": path, "size": ti.size}
                else:
                    tar.addfile(ti)
                if ti.isdir():
                    done_dirs.add(path)
                entries += 1
        tar.close()
        gz.close()
        raw.close()
    except BaseException:
        raw.close()
        os.unlink(out + ".tmp")
        raise
    h = hashlib.sha256()
    with open(out + ".tmp", "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    os.rename(out + ".tmp", out)
    if deep:
        with open("/" + deep["path"], "rb") as f:
            deep["sha256"] = hashlib.sha256(f.read()).hexdigest()
    return {
        "blob": out,
        "digest": "sha256:" + h.hexdigest(),
        "size": os.path.getsize(out),
        "diff_id": "sha256:" + hw.h.hexdigest(),
        "tar_size": hw.n,
        "data_bytes": data,
        "entries": entries,
        "deep_file": deep,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--mib", type=int, default=230)
    ap.add_argument("--json")
    args = ap.parse_args()
    t0 = time.monotonic()
    r = build(args.out, args.mib)
    r["seconds"] = round(time.monotonic() - t0, 1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1, sort_keys=True)
            f.write("\n")
    json.dump(r, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
