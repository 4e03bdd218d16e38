# tests/lib/rootfs.bash — helpers for the tests of rootfs/ and layerfs/ (rootfs.bats,
# debootstrap.bats): push an OCI layout with skopeo, make the reference trees (umoci unpack
# of the image as the registry has it, tar -x of one layer), and compare trees.
#
# Sourced after suite.bash (it uses fs, assert_lines, REGISTRY and TESTDIR).  A reference is
# made on the local disk as root (devices, owners and security.* xattrs need it), in scratch
# directories under TESTDIR only.

# tree_listing [OPTION...] DIR — tests/lib/tree_listing.sh, bounded like every access to the
# mount (FS_TIMEOUT, default 30 s; big trees set more).
tree_listing() {
	fs "$REGFS_LIB_DIR/tree_listing.sh" "$@"
}

# oci_push LAYOUT NAME REPO:TAG — skopeo copy of oci:LAYOUT:NAME to the registry, every
# platform of an index (--all), digests kept (without --preserve-digests skopeo gzips an
# uncompressed layer on its way to a registry, and the manifest changes).
oci_push() {
	skopeo copy -q --all --preserve-digests --dest-tls-verify=false \
		"oci:$1:$2" "docker://$REGISTRY/$3"
}

# umoci_reference REF DIR — DIR/rootfs: `umoci unpack` (as root: owners, devices, security.*
# xattrs as they are) of the image REF (REPO:TAG or REPO@DIGEST of one image) as the registry
# serves it, first copied by skopeo to an OCI layout.  umoci 0.4.7 (Debian 12) refuses
# tar+zstd layers ("blob is not correct mediatype"), so the copy recompresses every layer to
# gzip (--dest-compress-format gzip): the same tar streams, the same diff_ids, what umoci
# reads; gzip and plain layers are copied as they are.
umoci_reference() {
	local ref=$1 dir=$2 layout
	layout="$dir.layout"
	rm -rf -- "$dir" "$layout"
	skopeo copy -q --src-tls-verify=false --dest-compress-format gzip \
		"docker://$REGISTRY/$ref" "oci:$layout:ref" || return
	umoci unpack --image "$layout:ref" "$dir" >"$dir.umoci.log" 2>&1 || {
		cat "$dir.umoci.log" >&2
		return 1
	}
	rm -rf -- "$layout"
}

# tar_reference BLOB DIR — DIR: GNU tar's extraction of the layer blob BLOB (gzip, zstd or
# plain, which tar finds by itself) as root with owners, modes and every xattr kept; whiteout
# markers stay the empty files they are.
tar_reference() {
	rm -rf -- "$2"
	mkdir -p "$2"
	tar -x --numeric-owner --same-owner --same-permissions --xattrs --xattrs-include='*' \
		--warning=no-timestamp -f "$1" -C "$2"
}

# layout_blob LAYOUT DIGEST — the path of a blob in an OCI layout
layout_blob() {
	echo "$1/blobs/sha256/${2#sha256:}"
}

# drop_implied LISTING PATH... — LISTING with the lines of these (implied, no header of their
# own) directories cut to path and type: what such a directory's mode, owner and mtime are is
# each extractor's choice (tar: its umask and now).
drop_implied() {
	local listing=$1
	shift
	python3 -c '
import sys
implied = set(sys.argv[2:])
for line in sys.argv[1].split("\n"):
    f = line.split("\t")
    print("\t".join(f[:2]) + "\t(implied)" if f[0] in implied else line)' "$listing" "$@"
}

# same_contents A B — diff -r --no-dereference of two trees: regular files byte for byte,
# symlinks by target, the same names everywhere.  diff only names device nodes and FIFOs (it
# never opens them): those lines are dropped when both sides have the same type there, which
# the listings compare in full.
same_contents() {
	local out rc=0
	out=$(fs diff -r --no-dereference -- "$1" "$2" 2>&1) || rc=$?
	out=$(grep -vE '^File .* is a (character special file|block special file|fifo) while file .* is a \1$' <<<"$out" || true)
	if ((rc > 1)) || [[ -n $out ]]; then
		echo "diff -r --no-dereference '$1' '$2' (rc=$rc):" >&2
		head -n 40 <<<"$out" >&2
		return 1
	fi
}

# assert_same_tree A B [tree_listing OPTION...] — the listings of A and B are equal and not
# empty.
assert_same_tree() {
	local a=$1 b=$2 la lb
	shift 2
	la=$(tree_listing "$@" "$a") || return
	lb=$(tree_listing "$@" "$b") || return
	[[ -n $la ]] || {
		echo "'$a' is empty" >&2
		return 1
	}
	assert_lines "$la" "$lb" "tree listing of '$b' (+) against '$a' (-)"
}

# debian_mirror — the Debian archive URI apt on this machine uses for bookworm (deb822 .sources
# or one-line .list), read at run time so that no host name is written down anywhere.
debian_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		python3 - "$f" <<'PYEOF' && return 0
import sys
for stanza in open(sys.argv[1]).read().split("\n\n"):
    fields = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[0].isspace():
            continue
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.split()
    if "deb" in fields.get("types", []) and "bookworm" in fields.get("suites", []):
        for u in fields.get("uris", []):
            if u.startswith(("http://", "https://")):
                print(u)
                sys.exit(0)
sys.exit(1)
PYEOF
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm" && $i ~ /^https?:/) { print $i; found = 1; exit }
		} END { exit !found }' "$f" && return 0
	done
	return 1
}
