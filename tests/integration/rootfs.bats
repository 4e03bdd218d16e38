#!/usr/bin/env bats
# rootfs/ and layerfs/ (issue 12): the files inside every image, merged and layer by layer.
#
# The images are built here, tar header by tar header (tests/lib/layer_image.py, the spec in
# tests/lib/rootfs_images.py), pushed with skopeo to a real registry, and compared with
# references made on the local disk from what that registry serves: `umoci unpack` for an
# image's merged tree, GNU `tar -x` for one layer.  Listings (tests/lib/tree_listing.sh) cover
# type, mode with the special bits, owners, sizes, link targets, device numbers, hardlink
# groups, xattrs and mtimes; `diff -r --no-dereference` the bytes.  umoci 0.4.7 cannot read
# tar+zstd, so its reference of an image with a zstd layer is made from the same tar streams
# recompressed to gzip by skopeo (tests/lib/rootfs.bash: umoci_reference).
#
# regfs-tools: umoci zstd tar diff
# regfs-requires: root

load ../lib/suite
load ../lib/rootfs

# image dirs and references, set in setup_file:
#   $IMG           layer_image.py's summary
#   $LAYOUT        the OCI layout the images were pushed from
#   $REF/NAME      umoci references (NAME/rootfs): main frames multi-linux-amd64 multi-linux-arm64-v8
#   $LX/HEX        tar -x of each layer of main, frames and multi

# img JQ-FILTER — query the images summary
img() {
	jq -r "$1" "$IMG"
}

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	[[ $EUID -eq 0 ]] || {
		echo "rootfs.bats needs root for its references (devices, owners)" >&2
		return 1
	}
	registry_start "$TESTDIR/reg"
	export IMG="$TESTDIR/images.json" LAYOUT="$TESTDIR/layout" REF="$TESTDIR/ref" LX="$TESTDIR/lx"
	# a name no file on this machine has: what would escape from the hostile tar carries it
	export TOKEN="regfs-escape-$$-$RANDOM"
	python3 "$REGFS_LIB_DIR/rootfs_images.py" --token "$TOKEN" >"$TESTDIR/spec.json"
	python3 "$REGFS_LIB_DIR/layer_image.py" build "$TESTDIR/spec.json" "$LAYOUT" --summary "$IMG"
	local tag hex
	for tag in $(jq -r '.images | keys[]' "$IMG"); do
		oci_push "$LAYOUT" "$tag" "rt/$tag:v1"
	done
	mkdir -p "$REF" "$LX"
	umoci_reference rt/main:v1 "$REF/main"
	umoci_reference rt/frames:v1 "$REF/frames"
	umoci_reference "rt/multi@$(img '.images.multi.platforms["linux-amd64"].digest')" "$REF/multi-linux-amd64"
	umoci_reference "rt/multi@$(img '.images.multi.platforms["linux-arm64-v8"].digest')" "$REF/multi-linux-arm64-v8"
	# the references must be what the spec says before anything is compared with them
	local want got
	want=$(img '.images.main.merged | to_entries[] | "\(.key)\t\(.value)"' | LC_ALL=C sort)
	got=$(tree_listing "$REF/main/rootfs" | cut -f1,2)
	assert_lines "$want" "$got" "umoci's unpack of rt/main against the spec's merge"
	for hex in $(img '[.images.main, .images.frames, .images.multi.platforms[]] | .[].layers[].digest' | sort -u); do
		tar_reference "$(layout_blob "$LAYOUT" "$hex")" "$LX/${hex#sha256:}"
	done
	suite_mount
}

teardown_file() { suite_teardown; }
setup() { regfs_skip_if_needed; }
teardown() { suite_teardown_test; }

MAIN_LAYER_COUNT=3

# image directories
main_dir() { echo "$R/rt/main/v1"; }

# layer_name TAG N — "NN-sha256:<hex>" of layer N of image TAG
layer_name() {
	img ".images.$1.layers[$2].name"
}
layer_digest() {
	img ".images.$1.layers[$2].digest"
}

# fails COMMAND... — run COMMAND (bounded) expecting failure: print what it printed; fail
# (the test) when it succeeded or timed out
fails() {
	local out rc=0
	out=$(fs "$@" 2>&1) || rc=$?
	if ((rc == 0)); then
		echo "'$*' succeeded: $out" >&2
		return 1
	fi
	if ((rc == 124 || rc == 137)); then
		echo "'$*' timed out" >&2
		return 1
	fi
	echo "$out"
}

@test "an image directory answers rootfs/ and layerfs/ by name but does not list them (find over a repository does not enter them)" {
	run lsdir "$(main_dir)"
	[ "$status" -eq 0 ]
	assert_lines $'config.json\ndigest\ninspect.json\nlayers\nmanifest.json\nplatform' "$output" "ls of an image"
	run fs find "$R/rt/multi"
	[ "$status" -eq 0 ]
	grep -q '/linux-arm64-v8/layers/01-sha256:' <<<"$output"
	[ -z "$(grep -E '/(rootfs|layerfs)(/|$)' <<<"$output" || true)" ]
	[ "$(fs stat -c %F "$(main_dir)/rootfs")" = directory ]
	[ "$(fs stat -c %F "$(main_dir)/layerfs")" = directory ]
	[ -n "$(lsdir "$(main_dir)/rootfs")" ]
}

@test "rootfs of a gzip + zstd + plain (GNU) image lists what umoci unpacks: types, modes, owners, sizes, links, devices, hardlinks, xattrs, mtimes" {
	local want got n
	want=$(tree_listing --mtime "$REF/main/rootfs")
	got=$(tree_listing --mtime "$(main_dir)/rootfs")
	n=$(img '.images.main.merged | length')
	[ "$(wc -l <<<"$want")" -eq "$n" ]
	assert_lines "$want" "$got" "rootfs of rt/main (+) against umoci (-)"
}

@test "rootfs file contents equal umoci's, byte for byte (diff -r --no-dereference)" {
	local files
	same_contents "$REF/main/rootfs" "$(main_dir)/rootfs"
	# and the files really were read: as many as the reference has, each sha256 the same
	files=$(cd "$REF/main/rootfs" && find . -type f | LC_ALL=C sort)
	[ "$(wc -l <<<"$files")" -eq "$(img '[.images.main.merged[] | select(. == "f")] | length')" ]
	assert_lines "$(cd "$REF/main/rootfs" && xargs -d '\n' sha256sum -- <<<"$files")" \
		"$(cd "$(main_dir)/rootfs" && fs xargs -d '\n' sha256sum -- <<<"$files")" "sha256 of every file"
}

@test "whiteouts and an opaque directory are applied and their markers never shown" {
	local root
	root="$(main_dir)/rootfs"
	run fs find "$root" -name '.wh.*'
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	fails stat "$root/etc/removed" | grep -q 'No such file or directory'
	fails stat "$root/gone" | grep -q 'No such file or directory'
	fails stat "$root/never-there" | grep -q 'No such file or directory'
	[ "$(lsdir "$root/op")" = new ]
	[ "$(fs stat -c %a "$root/op")" = 700 ]
	[ "$(fs cat "$root/op/new")" = "new in an opaque dir" ]
	# what the layers below had there and nothing whited out hides stays
	[ "$(fs cat "$root/etc/hosts")" = "127.0.0.1 localhost" ]
	[ "$(lsdir "$root/etc")" = $'empty\nhosts\nreplaced\nshadow' ]
}

@test "a file replaced in each layer shows the top one's bytes and header; a directory replaced by a file and back" {
	local root
	root="$(main_dir)/rootfs"
	[ "$(fs cat "$root/etc/replaced")" = "version 3" ]
	[ "$(fs stat -c '%a %u %g %s %Y' "$root/etc/replaced")" = "644 0 0 10 1514764800" ]
	# swap1: a directory, a file (layer 1), a directory again (layer 2) without its old child
	[ "$(fs stat -c '%F %a' "$root/swap1")" = "directory 711" ]
	[ "$(lsdir "$root/swap1")" = other ]
	# swap2: whited out then a symlink in the same layer
	[ "$(fs stat -c %F "$root/swap2")" = "symbolic link" ]
	[ "$(fs readlink "$root/swap2")" = swap1 ]
	# in the layer that made swap1 a file, it is one
	[ "$(fs cat "$(main_dir)/layerfs/$(layer_name main 1)/swap1")" = "swap1 is now a file" ]
}

@test "user.regfs.layer names the layer each entry of rootfs comes from" {
	local root
	root="$(main_dir)/rootfs"
	[ "$(xattr "$root/etc/hosts" user.regfs.layer)" = "$(layer_digest main 0)" ]
	[ "$(xattr "$root/op/new" user.regfs.layer)" = "$(layer_digest main 1)" ]
	[ "$(xattr "$root/zstd-layer.txt" user.regfs.layer)" = "$(layer_digest main 1)" ]
	[ "$(xattr "$root/etc/replaced" user.regfs.layer)" = "$(layer_digest main 2)" ]
	[ "$(xattr "$root/swap1/other" user.regfs.layer)" = "$(layer_digest main 2)" ]
}

@test "hardlinks share st_ino and st_nlink counts the names left after whiteouts and replacements" {
	local root a b
	root="$(main_dir)/rootfs"
	# hl/a, hl/b, hl/c in layer 0; layer 2 whites out hl/c
	a=$(fs stat -c '%i %h' "$root/hl/a")
	b=$(fs stat -c '%i %h' "$root/hl/b")
	[ "$a" = "$b" ]
	[ "${a#* }" = 2 ]
	[ "$(fs find "$root" -samefile "$root/hl/a" | LC_ALL=C sort)" = "$root/hl/a"$'\n'"$root/hl/b" ]
	# setuid file and its hardlink
	[ "$(fs stat -c '%i %h %a' "$root/usr/bin/tool")" = "$(fs stat -c '%i %h %a' "$root/usr/bin/tool-hardlink")" ]
	[ "$(fs stat -c '%h %a' "$root/usr/bin/tool")" = "2 4755" ]
	# hl2/x replaced in layer 1: y keeps the old bytes, each has one name
	[ "$(fs stat -c %h "$root/hl2/x")" = 1 ]
	[ "$(fs stat -c %h "$root/hl2/y")" = 1 ]
	[ "$(fs stat -c %i "$root/hl2/x")" != "$(fs stat -c %i "$root/hl2/y")" ]
	[ "$(fs cat "$root/hl2/y")" = "old content of x and y" ]
	# in layer 0 alone all three names are there.  Asked first through a link's name (this is
	# the first test to look there), the inode still shows the file's header (mtime T2), not
	# the link's (T0), as tar -x and umoci make it: one inode, whichever name comes first
	local l0
	l0="$(main_dir)/layerfs/$(layer_name main 0)"
	[ "$(fs stat -c '%h %Y' "$l0/hl/c")" = "3 1600000000" ]
	[ "$(fs stat -c '%h %Y' "$l0/hl/a")" = "3 1600000000" ]
	# directories show one link
	[ "$(fs stat -c %h "$root/etc")" = 1 ]
}

@test "symlinks keep their targets as written: absolute, relative, dangling, long; regfs does not follow them" {
	local root
	root="$(main_dir)/rootfs"
	[ "$(fs readlink "$root/usr/abs-link")" = /etc/hosts ]
	[ "$(fs readlink "$root/usr/rel-link")" = ../etc/hosts ]
	[ "$(fs readlink "$root/usr/dangling")" = /nonexistent/target ]
	[ "$(fs readlink "$root/usr/dir-link")" = bin ]
	[ "$(fs readlink "$root/usr/long-link")" = "../$(printf 't%.0s' {1..40})/$(printf 't%.0s' {1..40})/$(printf 't%.0s' {1..40})/$(printf 't%.0s' {1..40})" ]
	[ "$(fs stat -c '%F %s' "$root/usr/dangling")" = "symbolic link 19" ]
	# a relative link resolves inside the tree (by the kernel); the image's own ../etc/hosts
	[ "$(fs cat "$root/usr/rel-link")" = "127.0.0.1 localhost" ]
	[ "$(lsdir "$root/usr/dir-link/")" = "$(lsdir "$root/usr/bin")" ]
}

@test "devices and FIFOs keep type, mode, owner and rdev; a device cannot be opened (nodev)" {
	local root
	root="$(main_dir)/rootfs"
	python3 - "$root" <<'EOF'
import os, stat, sys
root = sys.argv[1]
want = {"dev/null": ("c", 0o666, 0, 0, 1, 3), "dev/sda": ("b", 0o660, 0, 6, 8, 0),
        "dev/big-minor": ("c", 0o600, 0, 0, 250, 70000), "dev/initctl": ("p", 0o600, 0, 0, 0, 0)}
for p, (t, mode, uid, gid, major, minor) in want.items():
    st = os.lstat(os.path.join(root, p))
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else \
        "p" if stat.S_ISFIFO(st.st_mode) else "?"
    got = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
           os.major(st.st_rdev) if kind in "cb" else 0, os.minor(st.st_rdev) if kind in "cb" else 0)
    assert got == (t, mode, uid, gid, major, minor), "%s: want %r, got %r" % (p, (t, mode, uid, gid, major, minor), got)
EOF
	findmnt -no OPTIONS "$MNT" | tr , '\n' | grep -qx nodev
	fails head -c 1 "$root/dev/null" >/dev/null
}

@test "xattrs of the tar are xattrs: security.capability, user.* on files and directories" {
	local root
	root="$(main_dir)/rootfs"
	[ "$(fs getfattr --only-values --absolute-names -e hex -n security.capability "$root/usr/bin/ping" | od -An -tx1 | tr -d ' \n')" = 0100000200200000000000000000000000000000 ]
	[ "$(xattr "$root/xattr-dir/file" user.test)" = hello ]
	[ "$(fs getfattr --absolute-names -e hex -n user.binary "$root/xattr-dir/file" | sed -n 's/^user.binary=//p')" = 0x00ff10ee0a ]
	[ "$(xattr "$root/xattr-dir" user.dir)" = "on a directory" ]
	# a file without xattrs in its tar has only regfs' own (user.regfs.layer among them)
	run fs getfattr --absolute-names -d -m - "$root/etc/hosts"
	[ "$status" -eq 0 ]
	grep -q '^user\.regfs\.layer=' <<<"$output"
	[ -z "$(grep -v '^#' <<<"$output" | grep . | grep -v '^user\.regfs\.')" ]
}

@test "names past 100 bytes (PAX and GNU) and a path past 255 bytes" {
	local root long deep
	root="$(main_dir)/rootfs"
	long="$(printf 'n%.0s' {1..60})-a-name-longer-than-one-hundred-bytes-$(printf 'm%.0s' {1..40})"
	[ "$(lsdir "$root/long")" = "gnu-long-link"$'\n'"gnu-$long"$'\n'"$long" ]
	[ "$(fs cat "$root/long/$long")" = "a long name" ]
	[ "$(fs cat "$root/long/gnu-$long")" = "a GNU long name" ]
	deep=$(cd "$REF/main/rootfs" && find deep -type f)
	[ "${#deep}" -gt 255 ]
	[ "$(fs cat "$root/$deep")" = deep ]
	[ "$(fs stat -c %Y "$root/$deep")" = 4102444800 ]
	[ "$(fs cat "$root/with space and ünïcödé файл.txt")" = unicode ]
}

@test "mtimes are the tar's, in seconds: before 2038, after it, and 0" {
	local root
	root="$(main_dir)/rootfs"
	[ "$(fs stat -c %Y "$root/etc/hosts")" = 1000000000 ]
	[ "$(fs stat -c %Y "$root/etc")" = 1600000000 ]
	[ "$(fs stat -c %Y "$root/zstd-layer.txt")" = 4102444800 ]
	[ "$(fs stat -c %Y "$root/time-zero")" = 0 ]
	[ "$(fs stat -c %Y "$root/opt")" = 1600000000 ] # layer 1 only implies opt/: layer 0's stays
	[ "$(fs stat -c '%a %u %g' "$root/opt")" = "750 7 8" ]
}

@test "layerfs/ has a directory per layer, named as in layers/, each equal to tar -x of that layer (markers shown)" {
	local i name hex want got implied
	[ "$(lsdir "$(main_dir)/layerfs")" = "$(lsdir "$(main_dir)/layers")" ]
	[ "$(lsdir "$(main_dir)/layerfs" | wc -l)" -eq $MAIN_LAYER_COUNT ]
	for ((i = 0; i < MAIN_LAYER_COUNT; i++)); do
		name=$(layer_name main $i)
		hex=$(layer_digest main $i)
		hex=${hex#sha256:}
		mapfile -t implied < <(img ".images.main.layers[$i].implied[]")
		want=$(tree_listing --mtime "$LX/$hex")
		got=$(tree_listing --mtime "$(main_dir)/layerfs/$name")
		[ "$(wc -l <<<"$want")" -eq "$(img ".images.main.layers[$i] | (.entries | length) + (.implied | length)")" ]
		assert_lines "$(drop_implied "$want" "${implied[@]}")" "$(drop_implied "$got" "${implied[@]}")" "layerfs/$name (+) against tar -x (-)"
		same_contents "$LX/$hex" "$(main_dir)/layerfs/$name"
	done
	# the markers, as the empty regular files they are
	name=$(layer_name main 1)
	[ "$(fs stat -c '%F %s' "$(main_dir)/layerfs/$name/op/.wh..wh..opq")" = "regular empty file 0" ]
	[ "$(fs stat -c '%F %s' "$(main_dir)/layerfs/$name/.wh.gone")" = "regular empty file 0" ]
	[ "$(fs stat -c %F "$(main_dir)/layerfs/$(layer_name main 2)/hl/.wh.c")" = "regular empty file" ]
}

@test "layers of several gzip members and several zstd frames: every byte, and ranges from the middle" {
	local dir
	dir="$R/rt/frames/v1"
	assert_same_tree "$REF/frames/rootfs" "$dir/rootfs" --mtime
	same_contents "$REF/frames/rootfs" "$dir/rootfs"
	# ranges that start inside a later member or frame, read cold (fresh opens), in either order
	local off f
	for f in six-mib.bin zstd-six-mib.bin; do
		for off in 5242883 1048575 3000001 0 6291455; do
			cmp <(dd if="$REF/frames/rootfs/data/$f" bs=1 skip="$off" count=70000 iflag=skip_bytes,count_bytes 2>/dev/null) \
				<(fs dd if="$dir/rootfs/data/$f" bs=65536 skip="$off" count=70000 iflag=skip_bytes,count_bytes 2>/dev/null)
		done
	done
	[ "$(fs stat -c %s "$dir/rootfs/data/zstd-six-mib.bin")" -eq $((6 << 20)) ]
	cmp "$REF/frames/rootfs/data/text.txt" "$dir/layerfs/$(layer_name frames 1)/data/text.txt"
}

@test "each platform of a list has its own rootfs, and so has its @sha256 directory" {
	local list="$R/rt/multi/v1" p digest
	for p in linux-amd64 linux-arm64-v8; do
		assert_same_tree "$REF/multi-$p/rootfs" "$list/$p/rootfs" --mtime
		same_contents "$REF/multi-$p/rootfs" "$list/$p/rootfs"
		[ "$(lsdir "$list/$p/layerfs")" = "$(lsdir "$list/$p/layers")" ]
	done
	[ "$(fs cat "$list/linux-amd64/rootfs/etc/arch")" = amd64 ]
	[ "$(fs cat "$list/linux-arm64-v8/rootfs/etc/arch")" = arm64 ]
	fails stat "$list/linux-amd64/rootfs/etc/only-arm" | grep -q 'No such file or directory'
	digest=$(img '.images.multi.platforms["linux-arm64-v8"].digest')
	assert_same_tree "$REF/multi-linux-arm64-v8/rootfs" "$R/rt/multi/@$digest/rootfs" --mtime
	[ "$(fs cat "$R/rt/multi/@$digest/rootfs/etc/only-arm")" = "arm only" ]
}

@test "a hostile tar shows what a careful extractor keeps: no .., / stripped, nothing below a symlink or a file, a dangling hardlink unreadable; nothing escapes" {
	local root layer hex out
	: >"$TESTDIR/hostile.start"
	root="$R/rt/hostile/v1/rootfs"
	layer="$R/rt/hostile/v1/layerfs/$(layer_name hostile 0)"
	run lsdir "$root"
	[ "$status" -eq 0 ]
	# hl-dotdot (a hardlink to ../../../../etc/passwd) may be left out or kept unreadable
	out=$(grep -vx hl-dotdot <<<"$output")
	assert_lines $'abs\nd\nearly\nf\nhl-abs\nlast\nlater\nok\nr\nsparse' "$out" "ls rootfs of the hostile tar"
	[ "$(lsdir "$root/abs")" = "path-$TOKEN" ]
	[ "$(fs cat "$root/abs/path-$TOKEN")" = absolute ]
	[ "$(fs readlink "$root/d")" = /tmp ]
	[ "$(fs readlink "$root/r")" = .. ]
	[ "$(fs stat -c %F "$root/f")" = "regular file" ]
	[ "$(fs cat "$root/f")" = "a file" ]
	[ "$(fs cat "$root/ok")" = fine ]
	[ "$(fs cat "$root/last")" = "the last entry" ]
	# hardlinks to no earlier entry: listed, reading them is EIO (never the host's /etc/passwd,
	# nor the later entry's bytes); the later entry is a file of its own whichever is asked first
	[ "$(fs stat -c %s "$root/early" "$root/later" | tail -n 1)" = 6 ]
	[ "$(fs cat "$root/later")" = later ]
	fails cat "$root/early" | grep -q 'Input/output error'
	fails cat "$root/hl-abs" | grep -q 'Input/output error'
	if fs test -e "$root/hl-dotdot"; then
		fails cat "$root/hl-dotdot" | grep -q 'Input/output error'
	fi
	# the sparse file's size is its real size; its last bytes are its data or EIO, never a hang
	[ "$(fs stat -c %s "$root/sparse")" = $((1 << 40)) ]
	out=$(FS_TIMEOUT=20 fs dd if="$root/sparse" bs=4 skip=$(((1 << 40) / 4 - 1)) count=1 2>&1) ||
		grep -q 'Input/output error' <<<"$out"
	[[ $out == end* || $out == *'Input/output error'* ]]
	# the layer on its own shows the same
	assert_same_tree "$root" "$layer"
	# nothing escaped: no name with the token anywhere on this file system (the mount is
	# another), regfs still runs and other images still list
	out=$(find / -xdev -name "*$TOKEN*" 2>/dev/null | head)
	[ -z "$out" ] || { echo "escaped: $out" >&2; return 1; }
	[ ! -e "/tmp/$TOKEN-through-symlink" ]
	_pid_alive "$(regfs_pidfile "$MNT")"
	[ -n "$(lsdir "$(main_dir)/rootfs")" ]
}

@test "a layer that is not a tar: rootfs and that layerfs are EIO, the log names it; its good layer and other images work" {
	local tag bad hex
	for tag in nottar notgzip truncated pastend; do
		bad=$(($(img ".images.$tag.layers | length") - 1))
		hex=$(layer_digest "$tag" "$bad")
		hex=${hex#sha256:}
		fails ls "$R/rt/$tag/v1/rootfs" | grep -q 'Input/output error'
		fails ls "$R/rt/$tag/v1/layerfs/$(layer_name "$tag" "$bad")" | grep -q 'Input/output error'
		grep -q "${hex:0:12}" "$TESTDIR/regfs.log" || {
			echo "regfs.log does not name layer $hex of rt/$tag:" >&2
			tail -n 20 "$TESTDIR/regfs.log" >&2
			return 1
		}
		# the image's other files still work
		[ "$(fs cat "$R/rt/$tag/v1/digest")" = "$(img ".images.$tag.digest")" ]
	done
	[ "$(fs cat "$R/rt/nottar/v1/layerfs/$(layer_name nottar 0)/good")" = "a good layer" ]
	[ "$(fs cat "$R/rt/notgzip/v1/layerfs/$(layer_name notgzip 0)/good")" = "a good layer" ]
	# again: still EIO (not a half-made tree the second time)
	fails ls "$R/rt/nottar/v1/rootfs" | grep -q 'Input/output error'
	_pid_alive "$(regfs_pidfile "$MNT")"
	[ "$(fs cat "$(main_dir)/rootfs/etc/hosts")" = "127.0.0.1 localhost" ]
}

@test "a fresh mount on the same cache uses the stored index (0600, not rewritten) and still reads files" {
	local i hex f before after
	tree_listing "$(main_dir)/rootfs" >/dev/null # indexed by now, whichever test ran first
	before=
	for ((i = 0; i < MAIN_LAYER_COUNT; i++)); do
		hex=$(layer_digest main $i)
		f="$TESTDIR/cache/indexes/sha256/${hex#sha256:}"
		[ -f "$f" ] || { echo "no index '$f'; the cache has:" >&2; find "$TESTDIR/cache" -maxdepth 3 >&2; return 1; }
		[ "$(stat -c %a "$f")" = 600 ]
		[ "$(stat -c %s "$f")" -gt 0 ]
		before+="$(stat -c '%n %i %s %.9Y' "$f")"$'\n'
	done
	regfs_unmount "$MNT"
	sleep 1.1 # a rewrite would get a later mtime even on a coarse clock
	suite_mount
	assert_same_tree "$REF/main/rootfs" "$(main_dir)/rootfs" --mtime
	[ "$(fs sha256sum "$(main_dir)/rootfs/random.bin" | cut -d' ' -f1)" = "$(sha256sum "$REF/main/rootfs/random.bin" | cut -d' ' -f1)" ]
	[ "$(fs cat "$(main_dir)/layerfs/$(layer_name main 1)/zstd-layer.txt")" = "from the zstd layer" ]
	after=
	for ((i = 0; i < MAIN_LAYER_COUNT; i++)); do
		hex=$(layer_digest main $i)
		after+="$(stat -c '%n %i %s %.9Y' "$TESTDIR/cache/indexes/sha256/${hex#sha256:}")"$'\n'
	done
	assert_lines "$before" "$after" "the stored indexes (name inode size mtime) after a remount"
}

@test "the stored index of a layer with a sparse file and entries left out (the hostile one) is used again too" {
	local hex f before after listing
	listing=$(lsdir "$R/rt/hostile/v1/rootfs")
	[ -n "$listing" ]
	hex=$(layer_digest hostile 0)
	f="$TESTDIR/cache/indexes/sha256/${hex#sha256:}"
	[ -f "$f" ]
	[ "$(stat -c %a "$f")" = 600 ]
	before=$(stat -c '%i %s %.9Y' "$f")
	regfs_unmount "$MNT"
	sleep 1.1
	suite_mount
	assert_lines "$listing" "$(lsdir "$R/rt/hostile/v1/rootfs")" "the hostile rootfs after a remount"
	[ "$(fs cat "$R/rt/hostile/v1/rootfs/ok")" = fine ]
	after=$(stat -c '%i %s %.9Y' "$f")
	[ "$before" = "$after" ] || {
		echo "the stored index of the hostile layer was written again (inode size mtime: $before, then $after); the log says:" >&2
		grep -F -e 'stored index' -e 'indexed' "$TESTDIR/regfs.log" | tail -n 5 >&2
		return 1
	}
}

@test "a damaged stored index is not trusted: a fresh mount rebuilds it and the tree is right" {
	local hex f
	tree_listing "$(main_dir)/rootfs" >/dev/null
	hex=$(layer_digest main 0)
	f="$TESTDIR/cache/indexes/sha256/${hex#sha256:}"
	[ -f "$f" ]
	regfs_unmount "$MNT"
	# flip bytes in the middle and at the end, size kept
	python3 - "$f" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for i in (len(b) // 2, len(b) // 3, len(b) - 1):
    b[i] ^= 0x5A
open(p, "wb").write(b)
EOF
	cp "$f" "$TESTDIR/damaged-index"
	suite_mount
	assert_same_tree "$REF/main/rootfs" "$(main_dir)/rootfs" --mtime
	same_contents "$REF/main/rootfs" "$(main_dir)/rootfs"
}

# Directory reads: the kernel sends no OPENDIR (fs/ops.c, PASS_RING), so a READDIR past the
# start continues the listing its first one made.  300 streams over 300 new directories (more
# than the 256 passes kept), read round-robin 1 KiB at a time before the kernel holds any
# listing whole: the first passes are pushed out and listed again.  Then 100 streams share one
# directory of 2,500 names.  Each stream must read its directory's names, each once.
@test "directories read whole and once: 300 streams over 300 directories 1 KiB at a time, 100 over 2,500 names, then ls" {
	local dir="$TESTDIR/wide" out d dirs=() i
	python3 - "$dir/spec.json" <<'EOF'
import json, os, sys
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
json.dump({"images": [{"tag": "wide", "layers": [
    {"compression": "gzip", "level": 1,
     "generate": {"prefix": "many/", "count": 15000, "size": 2, "per_dir": 50, "seed": 4}},
    {"compression": "gzip", "level": 1,
     "generate": {"prefix": "data/", "count": 2500, "size": 2, "per_dir": 2500, "seed": 3}}]}]},
    open(sys.argv[1], "w"))
EOF
	python3 "$REGFS_LIB_DIR/layer_image.py" build "$dir/spec.json" "$dir/layout" --summary "$dir/sum.json"
	oci_push "$dir/layout" wide rt/wide:v1
	d="$R/rt/wide/v1/rootfs"
	for ((i = 0; i < 300; i++)); do dirs+=("$(printf '%s/many/d%04d' "$d" "$i")"); done
	FS_TIMEOUT=300 run fs python3 "$REGFS_LIB_DIR/getdents_streams.py" 1024 "${dirs[@]}"
	[ "$status" -eq 0 ] && [ "$output" = ok ] || { echo "$output" >&2; return 1; }
	dirs=()
	for ((i = 0; i < 100; i++)); do dirs+=("$d/data/d0000"); done
	FS_TIMEOUT=300 run fs python3 "$REGFS_LIB_DIR/getdents_streams.py" 4096 "${dirs[@]}"
	[ "$status" -eq 0 ] && [ "$output" = ok ] || { echo "$output" >&2; return 1; }
	out=$(fs ls -f "$d/data/d0000" | LC_ALL=C sort)
	[ "$(wc -l <<<"$out")" -eq 2502 ]
	[ -z "$(uniq -d <<<"$out")" ]
	[ "$(sed -n 3p <<<"$out")" = f0000000 ] && [ "$(tail -n 1 <<<"$out")" = f0002499 ]
}

@test ".downloads shows the download, then an index: line, while a 256 MB layer of 100,000 files is indexed" {
	local dir="$TESTDIR/big" hex seen n
	python3 - "$dir/spec.json" <<'EOF'
import json, os, sys
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
json.dump({"images": [{"tag": "big", "layers": [{"compression": "gzip", "level": 1,
    "generate": {"prefix": "data/", "count": 100000, "size": 2048, "seed": 9}}]}]},
    open(sys.argv[1], "w"))
EOF
	python3 "$REGFS_LIB_DIR/layer_image.py" build "$dir/spec.json" "$dir/layout" --summary "$dir/sum.json"
	oci_push "$dir/layout" big rt/big:v1
	hex=$(jq -r '.images.big.layers[0].digest' "$dir/sum.json")
	hex=${hex#sha256:}
	rm -rf "$dir/layout"
	# watch .downloads every 5 ms (for at most 5 minutes) while the listing runs, every line
	# with the time it was seen; the listing starts once the watcher has read the file once
	python3 - "$MNT/.downloads" "$dir/seen" "$dir/stop" <<'EOF' &
import os, sys, time
src, out, stop = sys.argv[1:]
seen = []
t0 = time.time()
while time.time() < t0 + 300 and not os.path.exists(stop):
    try:
        with open(src) as f:
            for line in f.read().splitlines():
                seen.append("%.3f %s" % (time.time() - t0, line))
    except OSError as e:
        seen.append("%.3f error: %s" % (time.time() - t0, e))
    if not os.path.exists(out + ".ready"):
        open(out + ".ready", "w").close()
    time.sleep(0.005)
open(out, "w").write("".join(l + "\n" for l in seen))
EOF
	local watcher=$!
	_wait_until 10 test -e "$dir/seen.ready"
	n=$(FS_TIMEOUT=300 fs find "$R/rt/big/v1/rootfs/data" -type f | wc -l) || true
	: >"$dir/stop"
	wait "$watcher"
	seen=$(cut -d' ' -f2- "$dir/seen")
	echo "lines seen in .downloads (seconds since the watch began; the first of each kind):" >&2
	awk '{ k = $3 " " substr($4, 1, 8) } k != p { print; p = k }' "$dir/seen" | head -n 30 >&2
	[ "$n" -eq 100000 ]
	# the download: HOST/REPOSITORY in the second column; the indexing: "index:..."
	grep "$hex" <<<"$seen" | awk '{ print $2 }' | grep -qx "$REGISTRY/rt/big"
	grep "$hex" <<<"$seen" | awk '{ print $2 }' | grep -q '^index:'
	# and when it is over, the file is empty again
	_wait_until 10 test -z "$(cat "$MNT/.downloads")"
}
