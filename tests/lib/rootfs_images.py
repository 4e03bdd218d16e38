#!/usr/bin/env python3
"""The images of tests/integration/rootfs.bats, as a tests/lib/layer_image.py spec (JSON).

Usage: rootfs_images.py [--token TOKEN] > SPEC.json

Tags (one OCI layout; the test pushes each to REPO:TAG):
  main     three layers, gzip / zstd / uncompressed (the last in GNU format): every member
           kind, special modes, owners past ustar, mtimes, long names and paths, xattrs, then
           whiteouts, an opaque directory, files replaced, a directory replaced by a file and
           back, a hardlinked file replaced under one of its names
  frames   two layers of 6 MiB files: gzip of several members and zstd of several frames
  multi    a list of two platforms (linux/amd64, linux/arm64/v8) sharing a base layer
  hostile  one layer of names a careful extractor refuses (layer_image.py hostile escape)
  nottar   a good layer, then gzip of bytes that are not a tar
  notgzip  gzip media type on bytes that are not gzip
  truncated, pastend   tars that end inside a file's data
"""

import argparse
import json
import sys

T0 = 1514764800          # 2018-01-01
T1 = 1000000000          # 2001-09-09
T2 = 1600000000          # 2020-09-13
T3 = 4102444800          # 2100-01-01: past 2038 (still 11 octal digits)

# security.capability as the kernel stores it (VFS_CAP_REVISION_2, effective bit set):
# cap_net_raw (13) permitted, nothing inheritable
CAP_NET_RAW = "01000002" + "00200000" + "00000000" + "00000000" + "00000000"

LONG_NAME = "n" * 60 + "-a-name-longer-than-one-hundred-bytes-" + "m" * 40  # 138 bytes
LONG_DIRS = ["component-%02d-" % i + "x" * 50 for i in range(5)]           # 5 x 63 bytes
LONG_TARGET = "../" + "/".join(["t" * 40] * 4)                             # 166 bytes


def d(path, mode="0755", **kw):
    return dict(path=path, type="dir", mode=mode, **kw)


def f(path, data="", mode="0644", **kw):
    m = dict(path=path, type="file", mode=mode, **kw)
    if "random" not in kw and "repeat" not in kw:
        m["data"] = data
    return m


def main_image():
    long_path = "/".join(["deep"] + LONG_DIRS)
    l0 = [
        d("etc", mtime=T1),
        f("etc/hosts", "127.0.0.1 localhost\n", mtime=T1),
        f("etc/replaced", "version 1\n", mtime=T1),
        f("etc/removed", "removed by layer 1\n"),
        f("etc/empty", ""),
        f("etc/shadow", "root:*:1::::::\n", mode="0640", gid=42),
        d("usr"), d("usr/bin"),
        f("usr/bin/tool", "#!/bin/sh\necho tool\n", mode="04755"),
        dict(path="usr/bin/tool-hardlink", type="hardlink", target="usr/bin/tool",
             mode="04755"),
        f("usr/bin/sg", "#!/bin/sh\n", mode="02755", gid=50),
        f("usr/bin/both", "#!/bin/sh\n", mode="06711"),
        f("usr/bin/ping", "ping binary\n", mode="0755",
          xattrs={"security.capability": {"hex": CAP_NET_RAW}}),
        dict(path="usr/abs-link", type="symlink", target="/etc/hosts"),
        dict(path="usr/rel-link", type="symlink", target="../etc/hosts"),
        dict(path="usr/dangling", type="symlink", target="/nonexistent/target"),
        dict(path="usr/dir-link", type="symlink", target="bin"),
        dict(path="usr/long-link", type="symlink", target=LONG_TARGET),
        d("tmp", mode="01777", mtime=T2),
        d("shared", mode="03775", gid=100),
        d("opt", mode="0750", uid=7, gid=8, mtime=T2),
        f("opt/kept", "kept\n", uid=7, gid=8),
        d("dev"),
        dict(path="dev/null", type="char", mode="0666", rdev=[1, 3]),
        dict(path="dev/sda", type="block", mode="0660", gid=6, rdev=[8, 0]),
        dict(path="dev/big-minor", type="char", mode="0600", rdev=[250, 70000]),
        dict(path="dev/initctl", type="fifo", mode="0600"),
        d("hl"),
        f("hl/a", "three names\n", mtime=T2),
        dict(path="hl/b", type="hardlink", target="hl/a"),
        dict(path="hl/c", type="hardlink", target="hl/a"),
        d("hl2"),
        f("hl2/x", "old content of x and y\n"),
        dict(path="hl2/y", type="hardlink", target="hl2/x"),
        d("owners"),
        f("owners/nobody", "n\n", uid=65534, gid=65534, uname="nobody", gname="nogroup"),
        f("owners/big-ids", "b\n", uid=3000000, gid=4000000),
        d("xattr-dir", xattrs={"user.dir": "on a directory"}),
        f("xattr-dir/file", "x\n", xattrs={"user.test": "hello",
                                         "user.binary": {"hex": "00ff10ee0a"}}),
        d("swap1"), f("swap1/inner", "inside swap1\n"),
        d("swap2"), f("swap2/inner", "inside swap2\n"),
        d("op"), f("op/a", "a\n"), f("op/b", "b\n"), d("op/sub"), f("op/sub/c", "c\n"),
        d("gone"), f("gone/x", "x\n"), d("gone/sub"), f("gone/sub/y", "y\n"),
        d("long"), f("long/" + LONG_NAME, "a long name\n"),
        d("deep"),
    ]
    p = "deep"
    for c in LONG_DIRS:
        p += "/" + c
        l0.append(d(p))
    l0 += [
        f(long_path + "/file-at-the-end-of-a-path-past-255-bytes", "deep\n", mtime=T3),
        f("with space and ünïcödé файл.txt", "unicode\n"),
        f("random.bin", random=[300 * 1024 + 7, 1]),
        f("time-zero", "epoch\n", mtime=0),
    ]
    l1 = [
        d("etc", mtime=T2),
        dict(path="etc/removed", type="whiteout"),
        f("etc/replaced", "version 2, longer than the first\n", mode="0600", uid=5, mtime=T2),
        dict(path="gone", type="whiteout"),
        d("op", mode="0700"),
        dict(path="op", type="opaque"),
        f("op/new", "new in an opaque dir\n"),
        f("swap1", "swap1 is now a file\n"),
        dict(path="swap2", type="whiteout"),
        dict(path="swap2", type="symlink", target="swap1"),
        d("hl2"),
        f("hl2/x", "x replaced; y keeps the old content\n"),
        f("opt/new", "under a directory this layer does not name\n"),
        dict(path="never-there", type="whiteout"),
        f("zstd-layer.txt", "from the zstd layer\n", mtime=T3),
    ]
    l2 = [
        d("swap1", mode="0711"),
        f("swap1/other", "swap1 is a directory again\n"),
        d("etc", mtime=T2),
        f("etc/replaced", "version 3\n", mtime=T0),
        d("hl"),
        dict(path="hl/c", type="whiteout"),
        d("long"),
        f("long/gnu-" + LONG_NAME, "a GNU long name\n"),
        dict(path="long/gnu-long-link", type="symlink", target=LONG_TARGET + "/gnu"),
        f("plain-layer.txt", "from the uncompressed layer\n"),
    ]
    return {"tag": "main", "platform": "linux/amd64", "layers": [
        {"compression": "gzip", "members": l0},
        {"compression": "zstd", "members": l1},
        {"compression": "none", "format": "gnu", "members": l2},
    ]}


def frames_image():
    return {"tag": "frames", "platform": "linux/amd64", "layers": [
        {"compression": "gzip", "split": 1 << 20, "members": [
            d("data"),
            dict(path="data/six-mib.bin", type="file", random=[6 << 20, 2]),
            f("data/after", "after the big file\n"),
        ]},
        {"compression": "zstd", "split": 1 << 20, "members": [
            d("data"),
            dict(path="data/zstd-six-mib.bin", type="file", random=[6 << 20, 3]),
            dict(path="data/text.txt", type="file", repeat=["zstd frames\n", 200000]),
        ]},
    ]}


def multi_image():
    base = {"compression": "gzip", "members": [
        d("etc"), f("etc/os-release", 'PRETTY_NAME="regfs test"\n')]}
    return {"tag": "multi", "platforms": [
        {"platform": "linux/amd64", "layers": [base, {"compression": "gzip", "members": [
            d("etc"), f("etc/arch", "amd64\n")]}]},
        {"platform": "linux/arm64/v8", "layers": [base, {"compression": "zstd", "members": [
            d("etc"), f("etc/arch", "arm64\n"), f("etc/only-arm", "arm only\n")]}]},
    ]}


def good_layer():
    return {"compression": "gzip", "members": [f("good", "a good layer\n")]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--token", default="regfs-hostile")
    args = ap.parse_args()
    images = [
        main_image(), frames_image(), multi_image(),
        {"tag": "hostile", "layers": [{"compression": "gzip", "hostile": "escape",
                                       "token": args.token}]},
        {"tag": "nottar", "layers": [good_layer(), {"compression": "gzip",
                                                    "hostile": "garbage"}]},
        {"tag": "notgzip", "layers": [good_layer(), {
            "compression": "none", "hostile": "garbage",
            "media_type": "application/vnd.oci.image.layer.v1.tar+gzip"}]},
        {"tag": "truncated", "layers": [{"compression": "gzip", "hostile": "truncated"}]},
        {"tag": "pastend", "layers": [{"compression": "zstd", "hostile": "pastend"}]},
    ]
    json.dump({"images": images}, sys.stdout, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
