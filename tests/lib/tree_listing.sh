#!/usr/bin/env bash
# tests/lib/tree_listing.sh [--mtime] [--no-dir-mtime] DIR — one line per entry below
# DIR (DIR itself left out), sorted in C order: what rootfs.bats and debootstrap.bats compare
# between a tree regfs shows and a reference extracted on disk (umoci unpack, tar -x,
# debootstrap).
#
# A line is tab-separated:
#   PATH  TYPE  MODE  UID  GID  WHAT  LINKS  XATTRS  [MTIME]
# PATH    relative to DIR, as find's %P prints it, with \, tab and newline escaped
# TYPE    find's %y: f d l c b p s
# MODE    octal permission bits with setuid, setgid and sticky (find's %m, 4 digits)
# WHAT    f: size in bytes; l: "-> TARGET" as readlink gives it; c, b: "MAJOR:MINOR"
#         (decimal); d, p, s: "-"
# LINKS   for a non-directory with more than one name: "=FIRST NLINK", FIRST the first path
#         (C order) of the names that share its inode in this listing, NLINK its st_nlink,
#         so hardlink groups compare between trees whatever the inode numbers; "-" otherwise
#         (directories' link counts differ between file systems and are not compared)
# XATTRS  "NAME=SHA256PREFIX,..." sorted by name (sha256 of the value, 16 hex digits), or
#         "-"; user.regfs.* (regfs' own) are left out
# MTIME   with --mtime: st_mtime in whole seconds; --no-dir-mtime prints "-" for directories
#
# Uses find -printf, stat (device numbers) and getfattr -R (xattrs); python3 joins them.
# Exit status: 0, or 1 when DIR is not a directory or a tool fails (an EIO in the walk is a
# failure: find and getfattr say so on stderr and the listing is not printed).
set -euo pipefail

mtime=0 dir_mtime=1
while (($# > 0)); do
	case $1 in
	--mtime) mtime=1 ;;
	--no-dir-mtime) dir_mtime=0 ;;
	--) shift; break ;;
	-*) echo "tree_listing.sh: unknown option '$1'" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
dir=${1:?usage: tree_listing.sh [--mtime] [--no-dir-mtime] DIR}
if [[ ! -d $dir ]]; then
	echo "tree_listing.sh: '$dir' is not a directory" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# NUL-separated fields, one record of 10 per entry: find's walk fails on any error it meets
find "$dir" -mindepth 1 -printf '%P\0%y\0%m\0%U\0%G\0%s\0%l\0%n\0%D:%i\0%T@\0' >"$tmp/find"
# device numbers: stat's %t and %T are hex
find "$dir" -mindepth 1 \( -type c -o -type b \) -printf '%p\0' >"$tmp/devnames"
if [[ -s $tmp/devnames ]]; then
	xargs -0 stat --printf '%n\0%t\0%T\0' -- <"$tmp/devnames" >"$tmp/dev"
else
	: >"$tmp/dev"
fi
# every xattr, values in hex; -h: a symlink's own; a file without xattrs prints nothing
(cd "$dir" && getfattr -R -h -d -m - -e hex --absolute-names . 2>"$tmp/getfattr.err") \
	>"$tmp/xattrs" || {
	# getfattr exits 1 when some file has no xattrs support (fine) and also on real errors
	if grep -v -e 'Operation not supported' "$tmp/getfattr.err" | grep -q .; then
		cat "$tmp/getfattr.err" >&2
		exit 1
	fi
}

python3 - "$dir" "$tmp" "$mtime" "$dir_mtime" <<'PYEOF'
import hashlib, os, re, sys

root, tmp, with_mtime, dir_mtime = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"

def fields(path, n):
    data = open(path, "rb").read().split(b"\0")
    if data and data[-1] == b"":
        data.pop()
    if len(data) % n:
        sys.exit("tree_listing.sh: unexpected output in %s" % path)
    return [data[i:i + n] for i in range(0, len(data), n)]

def esc(b):
    return b.decode("utf-8", "surrogateescape").replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

devs = {}
for name, major, minor in fields(os.path.join(tmp, "dev"), 3):
    rel = os.path.relpath(name, os.fsencode(root))
    devs[rel] = "%d:%d" % (int(major, 16), int(minor, 16))

# getfattr's dump: "# file: PATH" (octal escapes for odd bytes), then NAME=0xHEX lines
xattrs = {}
cur = None
def unescape(s):
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), s)
for line in open(os.path.join(tmp, "xattrs"), "rb").read().split(b"\n"):
    if line.startswith(b"# file: "):
        p = unescape(line[len(b"# file: "):])
        cur = os.path.normpath(p)
        continue
    if not line or cur is None or b"=" not in line:
        continue
    name, _, value = line.partition(b"=")
    name = unescape(name).decode("utf-8", "surrogateescape")
    if name.startswith("user.regfs."):
        continue
    if value.startswith(b"0x"):
        raw = bytes.fromhex(value[2:].decode())
    elif value.startswith(b"0s"):
        import base64
        raw = base64.b64decode(value[2:])
    else:  # "quoted text" (getfattr prints this for empty values too)
        raw = unescape(value.strip(b'"'))
    xattrs.setdefault(cur, []).append("%s=%s" % (name, hashlib.sha256(raw).hexdigest()[:16]))

entries = fields(os.path.join(tmp, "find"), 10)
groups = {}
for e in entries:
    if e[1] != b"d" and int(e[7]) > 1:
        groups.setdefault(e[8], []).append(e[0])
first = {ino: min(paths) for ino, paths in groups.items()}

out = []
for path, typ, mode, uid, gid, size, link, nlink, ino, mt in entries:
    t = typ.decode()
    if t == "f":
        what = size.decode()
    elif t == "l":
        what = "-> " + esc(link)
    elif t in "cb":
        what = devs.get(path, "?")
    else:
        what = "-"
    links = "-"
    if t != "d" and int(nlink) > 1:
        links = "=%s %d" % (esc(first[ino]), int(nlink))
    xa = ",".join(sorted(xattrs.get(os.path.normpath(b"./" + path), []))) or "-"
    row = [esc(path), t, "%04o" % int(mode, 8), uid.decode(), gid.decode(), what, links, xa]
    if with_mtime:
        row.append("-" if t == "d" and not dir_mtime else str(int(float(mt))))
    out.append((path, "\t".join(row)))
out.sort()
sys.stdout.write("".join(r + "\n" for _, r in out))
PYEOF
