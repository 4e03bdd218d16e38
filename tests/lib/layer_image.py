#!/usr/bin/env python3
"""Build OCI image layouts from a spec of layers, tar member by tar member, for the rootfs tests.

tests/integration/rootfs.bats needs layers whose every header is chosen: each kind of tar member
(directory, file, symlink, hardlink, character and block device, FIFO), special permission bits,
owners past ustar's fields, mtimes, names past 100 bytes and paths past 255, PAX xattrs, OCI
whiteouts, gzip / zstd / uncompressed blobs, and tars that a careful extractor refuses in part
or in whole.  Python's tarfile normalizes or refuses several of those, so the tar is written
here header by header (POSIX ustar + PAX 'x' records, or GNU with ././@LongLink and base-256
numbers).  Standard library only; zstd blobs come from the `zstd` command.

The result is an OCI image layout (oci-layout, index.json, blobs/sha256/...) that `skopeo copy
oci:DIR:TAG docker://...` pushes and `umoci unpack --image DIR:TAG` unpacks.  A multi-platform
image is an image index blob named TAG in index.json; each of its manifests is also named
TAG-<os>-<arch>[-<variant>] there, for umoci, which unpacks manifests only.

Usage:
  layer_image.py build SPEC.json LAYOUT [--summary OUT.json]
  layer_image.py hostile KIND OUT.tar [--token TOKEN]   (an uncompressed hostile tar, alone)

SPEC (JSON):
  {"images": [IMAGE, ...]}
  IMAGE = {"tag": T, "platform": "linux/amd64", "layers": [LAYER, ...]}
        | {"tag": T, "platforms": [{"platform": "linux/arm64/v8", "layers": [...]}, ...]}
  LAYER = {"compression": "gzip"|"zstd"|"none" (default gzip), "format": "pax"|"gnu",
           "split": N (gzip: a member per N compressed-input bytes; zstd: a frame per N),
           "level": N, "media_type": override (e.g. a gzip type on bytes that are not gzip),
           and one of:
             "members": [MEMBER, ...]
             "hostile": "escape"|"truncated"|"pastend"|"garbage", "token": T
             "tar_file": PATH           an existing uncompressed tar, compressed as asked
             "generate": {"prefix": P, "count": N, "size": S, "seed": X}   N files of S bytes
          }
  MEMBER = {"path": P, "type": "dir"|"file"|"symlink"|"hardlink"|"char"|"block"|"fifo"
                               |"whiteout"|"opaque"|"sparse",
            "mode": "0755" (octal string or int), "uid", "gid", "uname", "gname", "mtime",
            content of a file: "data": TEXT | "data_hex": HEX | "random": [SIZE, SEED]
                               | "repeat": [TEXT, COUNT],
            "target": link target (symlink: as written; hardlink: the path it names),
            "rdev": [MAJOR, MINOR], "xattrs": {NAME: TEXT | {"hex": HEX}},
            "sparse": {"realsize": N, "data_at": OFFSET, "data": TEXT}}
  "whiteout" writes the empty file DIR/.wh.NAME for path DIR/NAME; "opaque" writes
  PATH/.wh..wh..opq.  Defaults: mode 0644 (file), 0755 (dir), 0777 (symlink), 0644 (others);
  uid/gid 0; mtime 1514764800.

Summary JSON: {"layout": DIR, "images": {TAG: IMAGE_SUMMARY}} with
  IMAGE_SUMMARY (image) = {"kind": "image", "digest", "size", "media_type", "platform",
     "platform_dir": "linux-arm64-v8", "config_digest",
     "layers": [{"name": "00-sha256:<hex>", "digest", "size", "media_type", "compression",
                 "diff_id", "entries": [PATH, ...] (the members as written, markers included),
                 "implied": [PATH, ...] (directories the members imply but do not name)}],
     "merged": {PATH: TYPE} (the merged tree a runtime unpacks; no markers)}
     -- "entries", "implied" and "merged" only for layers given as "members"
  IMAGE_SUMMARY (index) = {"kind": "index", "digest", "size", "media_type",
     "platforms": {PLATFORM_DIR: IMAGE_SUMMARY}}
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
REF_NAME = "org.opencontainers.image.ref.name"
FIXED_MTIME = 1514764800  # 2018-01-01T00:00:00Z
BLOCK = 512

TYPEFLAGS = {"file": b"0", "hardlink": b"1", "symlink": b"2", "char": b"3", "block": b"4",
             "dir": b"5", "fifo": b"6", "whiteout": b"0", "opaque": b"0", "sparse": b"S"}
DEFAULT_MODES = {"file": 0o644, "dir": 0o755, "symlink": 0o777, "hardlink": 0o644,
                 "char": 0o644, "block": 0o644, "fifo": 0o644, "whiteout": 0o644,
                 "opaque": 0o644, "sparse": 0o644}


# --- tar writing ------------------------------------------------------------------------------

def _octal(value, width):
    """A numeric header field: octal digits then NUL, or None when it does not fit."""
    if 0 <= value < 8 ** (width - 1):
        return ("%0*o" % (width - 1, value)).encode() + b"\0"
    return None


def _base256(value, width):
    """GNU's base-256 form of a numeric field (first byte 0x80), for values octal cannot hold."""
    if value < 0:
        value += 1 << (8 * width - 1)  # two's complement below the marker bit
        out = bytearray(value.to_bytes(width, "big"))
        out[0] |= 0xFF
        return bytes(out)
    out = bytearray(value.to_bytes(width, "big"))
    out[0] |= 0x80
    return bytes(out)


def _pax_record(key, value):
    """One PAX record "LEN key=value\\n", LEN counting itself."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def _pad(data):
    return data + b"\0" * (-len(data) % BLOCK)


class TarWriter:
    """Writes tar members to a binary file, POSIX (pax) or GNU style, headers built by hand."""

    def __init__(self, out, fmt="pax"):
        if fmt not in ("pax", "gnu"):
            raise ValueError("format must be pax or gnu, not %r" % fmt)
        self.out = out
        self.fmt = fmt
        self.pax_seq = 0

    def header(self, name, typeflag, mode=0o644, uid=0, gid=0, size=0, mtime=FIXED_MTIME,
               linkname="", uname="", gname="", devmajor=0, devminor=0, gnu_sparse=None,
               check_fit=True):
        """One 512-byte header.  Fields that do not fit raise unless check_fit is False (then
        they are cut, which the caller has covered with a PAX or GNU long-name record)."""
        h = bytearray(BLOCK)
        bname = name.encode("utf-8", "surrogateescape")
        blink = linkname.encode("utf-8", "surrogateescape")
        prefix = b""
        if len(bname) > 100:
            # ustar's prefix field: split at a '/' so that both halves fit
            cut = bname.rfind(b"/", 0, 156)
            if self.fmt == "pax" and 0 < cut and len(bname) - cut - 1 <= 100 and cut <= 155:
                prefix, bname = bname[:cut], bname[cut + 1:]
            elif check_fit:
                raise ValueError("name too long for the header: %r" % name)
        if len(blink) > 100 and check_fit:
            raise ValueError("link name too long for the header: %r" % linkname)
        h[0:100] = bname[:100].ljust(100, b"\0")

        def num(off, width, value, what):
            f = _octal(value, width)
            if f is None:
                if self.fmt == "gnu" or not check_fit:
                    f = _base256(value, width) if self.fmt == "gnu" else b"\0" * width
                else:
                    raise ValueError("%s %d does not fit" % (what, value))
            h[off:off + width] = f

        num(100, 8, mode, "mode")
        num(108, 8, uid, "uid")
        num(116, 8, gid, "gid")
        num(124, 12, size, "size")
        num(136, 12, mtime, "mtime")
        h[156:157] = typeflag
        h[157:257] = blink[:100].ljust(100, b"\0")
        if self.fmt == "gnu":
            h[257:265] = b"ustar  \0"
        else:
            h[257:265] = b"ustar\x0000"
        h[265:297] = uname.encode()[:32].ljust(32, b"\0")
        h[297:329] = gname.encode()[:32].ljust(32, b"\0")
        num(329, 8, devmajor, "devmajor")
        num(337, 8, devminor, "devminor")
        if self.fmt == "pax":
            h[345:500] = prefix.ljust(155, b"\0")
        elif gnu_sparse is not None:
            # old GNU sparse: up to 4 (offset, numbytes) pairs at 386, realsize at 483
            realsize, chunks = gnu_sparse
            for i, (off, n) in enumerate(chunks[:4]):
                h[386 + 24 * i:398 + 24 * i] = _octal(off, 12) or _base256(off, 12)
                h[398 + 24 * i:410 + 24 * i] = _octal(n, 12) or _base256(n, 12)
            h[482] = 0
            h[483:495] = _octal(realsize, 12) or _base256(realsize, 12)
        h[148:156] = b" " * 8
        h[148:156] = ("%06o" % sum(h)).encode() + b"\0 "
        return bytes(h)

    def raw(self, data):
        self.out.write(data)

    def member(self, name, typeflag, data=b"", linkname="", xattrs=None, **fields):
        """A whole member: extension records as needed, the header, the data padded."""
        size = fields.pop("size", len(data))
        bname = name.encode("utf-8", "surrogateescape")
        blink = linkname.encode("utf-8", "surrogateescape")
        if self.fmt == "pax":
            records = []
            fits_name = len(bname) <= 100 or self._splits(bname)
            if not fits_name or not bname.isascii():
                records.append(_pax_record("path", bname))
            if len(blink) > 100 or not blink.isascii():
                records.append(_pax_record("linkpath", blink))
            for key, width in (("uid", 8), ("gid", 8), ("mtime", 12)):
                if key in fields and _octal(fields[key], width) is None:
                    records.append(_pax_record(key, str(fields[key])))
            if _octal(size, 12) is None:
                records.append(_pax_record("size", str(size)))
            for k in sorted(xattrs or {}):
                records.append(_pax_record("SCHILY.xattr." + k, xattrs[k]))
            if records:
                body = b"".join(records)
                self.pax_seq += 1
                short = ("PaxHeaders.%d/" % self.pax_seq
                         + os.path.basename(bname.decode("utf-8", "surrogateescape")))
                short = short.encode("utf-8", "surrogateescape")[:99].decode("utf-8", "ignore")
                self.out.write(self.header(short, b"x", size=len(body), check_fit=False))
                self.out.write(_pad(body))
            self.out.write(self.header(name, typeflag, size=size, linkname=linkname,
                                       check_fit=False, **fields))
        else:
            if xattrs:
                raise ValueError("xattrs need the pax format: %r" % name)
            if len(blink) > 100:
                body = blink + b"\0"
                self.out.write(self.header("././@LongLink", b"K", size=len(body)))
                self.out.write(_pad(body))
            if len(bname) > 100:
                body = bname + b"\0"
                self.out.write(self.header("././@LongLink", b"L", size=len(body)))
                self.out.write(_pad(body))
            self.out.write(self.header(name, typeflag, size=size, linkname=linkname,
                                       check_fit=False, **fields))
        self.out.write(_pad(data))

    @staticmethod
    def _splits(bname):
        cut = bname.rfind(b"/", 0, 156)
        return 0 < cut <= 155 and len(bname) - cut - 1 <= 100

    def close(self):
        self.out.write(b"\0" * (2 * BLOCK))


def file_content(m):
    """The bytes of a file member from its spec."""
    if "data" in m:
        return m["data"].encode("utf-8")
    if "data_hex" in m:
        return bytes.fromhex(m["data_hex"])
    if "random" in m:
        size, seed = m["random"]
        return random.Random(seed).randbytes(size)
    if "repeat" in m:
        text, count = m["repeat"]
        return text.encode("utf-8") * count
    return b""


def _mode(m, kind):
    mode = m.get("mode", DEFAULT_MODES[kind])
    return int(mode, 8) if isinstance(mode, str) else int(mode)


def _xattrs(m):
    out = {}
    for k, v in (m.get("xattrs") or {}).items():
        out[k] = bytes.fromhex(v["hex"]) if isinstance(v, dict) else v.encode("utf-8")
    return out


def write_member(tw, m):
    """Write one spec member; returns the path as written in the tar."""
    kind = m.get("type", "file")
    path = m["path"]
    fields = {"mode": _mode(m, kind), "uid": m.get("uid", 0), "gid": m.get("gid", 0),
              "mtime": m.get("mtime", FIXED_MTIME), "uname": m.get("uname", ""),
              "gname": m.get("gname", "")}
    xattrs = _xattrs(m)
    if kind == "whiteout":
        d, _, base = path.rpartition("/")
        path = (d + "/" if d else "") + ".wh." + base
        tw.member(path, b"0", **fields)
    elif kind == "opaque":
        path = path.rstrip("/") + "/.wh..wh..opq"
        tw.member(path, b"0", **fields)
    elif kind == "dir":
        path = path.rstrip("/") + "/"
        tw.member(path, b"5", xattrs=xattrs, **fields)
    elif kind == "file":
        tw.member(path, b"0", data=file_content(m), xattrs=xattrs, **fields)
    elif kind in ("symlink", "hardlink"):
        tw.member(path, TYPEFLAGS[kind], linkname=m["target"], xattrs=xattrs, **fields)
    elif kind in ("char", "block"):
        major, minor = m["rdev"]
        tw.member(path, TYPEFLAGS[kind], devmajor=major, devminor=minor, xattrs=xattrs,
                  **fields)
    elif kind == "fifo":
        tw.member(path, b"6", xattrs=xattrs, **fields)
    elif kind == "sparse":
        # an old-GNU sparse member: one stored chunk at data_at of a realsize file
        sp = m["sparse"]
        data = sp.get("data", "end").encode()
        gnu = TarWriter(tw.out, "gnu")
        gnu.out.write(gnu.header(path, b"S", size=len(data), gnu_sparse=(
            sp["realsize"], [(sp["data_at"], len(data))]), check_fit=False, **fields))
        gnu.out.write(_pad(data))
    else:
        raise ValueError("unknown member type %r" % kind)
    return path


# --- hostile tars -----------------------------------------------------------------------------

def hostile_tar(kind, token="regfs-hostile"):
    """The bytes of an uncompressed tar a careful extractor refuses in part ("escape") or whole."""
    buf = io.BytesIO()
    tw = TarWriter(buf, "pax")
    if kind == "escape":
        # shown: ok, abs/path-TOKEN (leading '/' dropped), d (a symlink), f (a file),
        # early (a hardlink to a later entry: listed, read is EIO), later, sparse (listed)
        tw.member("ok", b"0", data=b"fine\n")
        tw.member("../%s-dotdot" % token, b"0", data=b"escaped\n")
        tw.member("a/../../%s-inner-dotdot" % token, b"0", data=b"escaped\n")
        tw.member("/abs/path-%s" % token, b"0", data=b"absolute\n")
        tw.member("d", b"2", linkname="/tmp", mode=0o777)
        tw.member("d/%s-through-symlink" % token, b"0", data=b"through a symlink\n")
        tw.member("r", b"2", linkname="..", mode=0o777)
        tw.member("r/%s-through-dotdot-link" % token, b"0", data=b"through a symlink\n")
        tw.member("f", b"0", data=b"a file\n")
        tw.member("f/%s-below-file" % token, b"0", data=b"below a file\n")
        tw.member("early", b"1", linkname="later")
        tw.member("later", b"0", data=b"later\n")
        tw.member("hl-abs", b"1", linkname="/etc/passwd")
        tw.member("hl-dotdot", b"1", linkname="../../../../etc/passwd")
        tw.member("..", b"5", mode=0o777)
        write_member(tw, {"path": "sparse", "type": "sparse",
                          "sparse": {"realsize": 1 << 40, "data_at": (1 << 40) - 4,
                                     "data": "end"}})
        tw.member("last", b"0", data=b"the last entry\n")
        tw.close()
    elif kind == "truncated":
        # a good tar cut in the middle of a file's data: no end, no padding
        tw.member("first", b"0", data=b"first\n")
        tw.member("big", b"0", data=random.Random(5).randbytes(64 * 1024))
        return buf.getvalue()[:BLOCK * 2 + BLOCK + 10000]
    elif kind == "pastend":
        # the last header claims 1 GiB but 1 KiB and the end-of-archive blocks follow
        tw.member("first", b"0", data=b"first\n")
        tw.raw(tw.header("huge", b"0", size=1 << 30))
        tw.raw(b"x" * 1024)
        tw.close()
    elif kind == "garbage":
        return random.Random(11).randbytes(100 * 1024)
    else:
        raise ValueError("unknown hostile kind %r" % kind)
    return buf.getvalue()


# --- merging (the oracle for what a runtime unpacks) -----------------------------------------

def _parent(p):
    return p.rpartition("/")[0]


def _norm(path):
    parts = [c for c in path.split("/") if c not in ("", ".")]
    return "/".join(parts)


def layer_entries(members):
    """(written paths, implied directories, [(normalized path, kind)]) of a members layer."""
    written, named, kinds = [], set(), []
    for m in members:
        kind = m.get("type", "file")
        p = _norm(m["path"])
        if kind == "whiteout":
            d, _, base = p.rpartition("/")
            p = (d + "/" if d else "") + ".wh." + base
        elif kind == "opaque":
            p = p + "/.wh..wh..opq"
        written.append(p)
        named.add(p)
        kinds.append((p, kind))
    implied = set()
    for p in written:
        q = _parent(p)
        while q and q not in named:
            implied.add(q)
            q = _parent(q)
    return written, sorted(implied), kinds


def merge(tree, kinds):
    """Lay one layer ([(path, kind)]) over tree ({path: type}), as an OCI runtime unpacks."""
    def remove(p):
        for q in [q for q in tree if q == p or q.startswith(p + "/")]:
            del tree[q]

    # whiteouts apply to the layers below only: first, then the layer's own entries
    for p, kind in kinds:
        d, _, base = p.rpartition("/")
        if kind == "opaque":
            d = _parent(p)
            for q in [q for q in tree if d == "" or q.startswith(d + "/")]:
                del tree[q]
        elif kind == "whiteout":
            remove((d + "/" if d else "") + base[len(".wh."):])
    for p, kind in kinds:
        if kind in ("whiteout", "opaque"):
            continue
        t = {"file": "f", "hardlink": "f", "sparse": "f", "dir": "d", "symlink": "l",
             "char": "c", "block": "b", "fifo": "p"}[kind]
        q = _parent(p)
        chain = []
        while q:
            chain.append(q)
            q = _parent(q)
        for q in reversed(chain):
            if tree.get(q, "d") != "d":
                remove(q)
            tree.setdefault(q, "d")
        if p in tree and not (tree[p] == "d" and t == "d"):
            remove(p)
        tree[p] = t
    return tree


# --- blobs and the layout ---------------------------------------------------------------------

class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    def blob_path(self, digest):
        return os.path.join(self.root, "blobs", "sha256", digest.split(":", 1)[1])

    def put_bytes(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(self.blob_path(digest), "wb") as f:
            f.write(data)
        return digest, len(data)

    def put_file(self, path):
        """Move the file at path into the blobs; returns (digest, size)."""
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()
        size = os.path.getsize(path)
        shutil.move(path, self.blob_path(digest))
        return digest, size

    def put_json(self, obj):
        return self.put_bytes(json.dumps(obj, indent=2, sort_keys=True).encode())

    def name(self, desc, ref):
        d = dict(desc)
        d["annotations"] = {REF_NAME: ref}
        self.index["manifests"] = [m for m in self.index["manifests"]
                                   if m.get("annotations", {}).get(REF_NAME) != ref]
        self.index["manifests"].append(d)

    def close(self):
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump(self.index, f, indent=2)


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def compress(tar_path, out_path, compression, split=0, level=None):
    """Compress tar_path into out_path: gzip (mtime 0, no name; a member per `split` input
    bytes when split is set), zstd (the zstd command; a frame per `split` input bytes) or
    none (a copy)."""
    if compression == "none":
        shutil.copyfile(tar_path, out_path)
        return
    if compression not in ("gzip", "zstd"):
        raise ValueError("unknown compression %r" % compression)
    zstd = ["zstd", "-q", "-c", "-%d" % (level or 3)]
    with open(tar_path, "rb") as src, open(out_path, "wb") as dst:
        if not split and compression == "zstd":
            subprocess.run(zstd, stdin=src, stdout=dst, check=True)
            return
        if not split:
            with gzip.GzipFile(filename="", mode="wb", fileobj=dst, mtime=0,
                               compresslevel=level or 6) as g:
                shutil.copyfileobj(src, g, 1 << 20)
            return
        for data in iter(lambda: src.read(split), b""):
            if compression == "zstd":
                dst.write(subprocess.run(zstd, input=data, stdout=subprocess.PIPE,
                                         check=True).stdout)
            else:
                with gzip.GzipFile(filename="", mode="wb", fileobj=dst, mtime=0,
                                   compresslevel=level or 6) as g:
                    g.write(data)


def generate_tar(out, gen, fmt):
    """N files of S pseudo-random bytes each (half repeated, so they compress about 2:1)."""
    tw = TarWriter(out, fmt)
    rnd = random.Random(gen.get("seed", 1))
    prefix = gen.get("prefix", "data/")
    per_dir = gen.get("per_dir", 1000)
    count, size = gen["count"], gen["size"]
    made = set()
    for i in range(count):
        d = "%sd%04d" % (prefix, i // per_dir)
        for q in (prefix.rstrip("/"), d):
            if q and q not in made:
                made.add(q)
                tw.member(q + "/", b"5", mode=0o755)
        half = rnd.randbytes(size // 2)
        tw.member("%s/f%07d" % (d, i), b"0", data=(half + half + b"\n" * (size % 2)))
    tw.close()


def build_layer(layout, spec, tmpdir):
    """Write one layer's blob; returns its descriptor, diff_id and summary."""
    compression = spec.get("compression", "gzip")
    fmt = spec.get("format", "pax")
    tar_path = os.path.join(tmpdir, "layer.tar")
    summary = {"compression": compression}
    if "members" in spec:
        with open(tar_path, "wb") as f:
            tw = TarWriter(f, fmt)
            for m in spec["members"]:
                write_member(tw, m)
            tw.close()
        written, implied, kinds = layer_entries(spec["members"])
        summary.update({"entries": written, "implied": implied})
        summary["_kinds"] = kinds
    elif "hostile" in spec:
        with open(tar_path, "wb") as f:
            f.write(hostile_tar(spec["hostile"], spec.get("token", "regfs-hostile")))
    elif "tar_file" in spec:
        shutil.copyfile(spec["tar_file"], tar_path)
    elif "generate" in spec:
        with open(tar_path, "wb") as f:
            generate_tar(f, spec["generate"], fmt)
    else:
        raise ValueError("a layer needs members, hostile, tar_file or generate")
    diff_id = _sha256_file(tar_path)
    blob = os.path.join(tmpdir, "layer.blob")
    compress(tar_path, blob, compression, spec.get("split", 0), spec.get("level"))
    os.unlink(tar_path)
    digest, size = layout.put_file(blob)
    media_type = spec.get("media_type", LAYER_TYPES[compression])
    summary.update({"digest": digest, "size": size, "media_type": media_type,
                    "diff_id": diff_id})
    return {"mediaType": media_type, "digest": digest, "size": size}, diff_id, summary


def parse_platform(s):
    parts = s.split("/")
    p = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        p["variant"] = parts[2]
    return p


def platform_dir(p):
    return "-".join([p["os"], p["architecture"]] + ([p["variant"]] if "variant" in p else []))


def build_image(layout, platform, layers, tmpdir):
    """Write the layers, config and manifest of one image; returns (descriptor, summary)."""
    descs, diff_ids, sums = [], [], []
    for i, spec in enumerate(layers):
        desc, diff_id, s = build_layer(layout, spec, tmpdir)
        s["name"] = "%02d-%s" % (i, s["digest"])
        descs.append(desc)
        diff_ids.append(diff_id)
        sums.append(s)
    p = parse_platform(platform)
    config = dict(p)
    config.update({"created": "2018-01-01T00:00:00Z",
                   "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                              "Cmd": ["/bin/sh"]},
                   "rootfs": {"type": "layers", "diff_ids": diff_ids},
                   "history": [{"created": "2018-01-01T00:00:00Z",
                                "created_by": "layer_image.py layer %d" % i}
                               for i in range(len(layers))]})
    cdigest, csize = layout.put_json(config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": cdigest, "size": csize},
                "layers": descs}
    mdigest, msize = layout.put_json(manifest)
    desc = {"mediaType": OCI_MANIFEST, "digest": mdigest, "size": msize}
    summary = {"kind": "image", "digest": mdigest, "size": msize, "media_type": OCI_MANIFEST,
               "platform": platform, "platform_dir": platform_dir(p),
               "config_digest": cdigest, "layers": sums}
    if all("_kinds" in s for s in sums):
        tree = {}
        for s in sums:
            merge(tree, s["_kinds"])
        summary["merged"] = dict(sorted(tree.items()))
    for s in sums:
        s.pop("_kinds", None)
    return desc, summary


def build(spec, root):
    layout = Layout(root)
    out = {"layout": os.path.abspath(root), "images": {}}
    with tempfile.TemporaryDirectory(dir=root) as tmpdir:
        for image in spec["images"]:
            tag = image["tag"]
            if "platforms" in image:
                entries, plats = [], {}
                for pl in image["platforms"]:
                    desc, s = build_image(layout, pl["platform"], pl["layers"], tmpdir)
                    d = dict(desc)
                    d["platform"] = parse_platform(pl["platform"])
                    entries.append(d)
                    plats[s["platform_dir"]] = s
                    layout.name(desc, "%s-%s" % (tag, s["platform_dir"]))
                idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
                idigest, isize = layout.put_json(idx)
                layout.name({"mediaType": OCI_INDEX, "digest": idigest, "size": isize}, tag)
                out["images"][tag] = {"kind": "index", "digest": idigest, "size": isize,
                                      "media_type": OCI_INDEX, "platforms": plats}
            else:
                desc, s = build_image(layout, image.get("platform", "linux/amd64"),
                                      image["layers"], tmpdir)
                layout.name(desc, tag)
                out["images"][tag] = s
    layout.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="an OCI layout from a spec")
    b.add_argument("spec")
    b.add_argument("layout")
    b.add_argument("--summary")
    h = sub.add_parser("hostile", help="one hostile tar, uncompressed")
    h.add_argument("kind", choices=["escape", "truncated", "pastend", "garbage"])
    h.add_argument("out")
    h.add_argument("--token", default="regfs-hostile")
    args = ap.parse_args()
    if args.cmd == "hostile":
        with open(args.out, "wb") as f:
            f.write(hostile_tar(args.kind, args.token))
        return
    with open(args.spec) as f:
        spec = json.load(f)
    summary = build(spec, args.layout)
    text = json.dumps(summary, indent=2, sort_keys=True)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
