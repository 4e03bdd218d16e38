#!/usr/bin/env bats
# A real image through rootfs/ (issue 12): Debian bookworm minbase made by
# `debootstrap --foreign` for amd64 and for arm64 (the first stage only unpacks packages, so
# neither needs emulation), each tree tarred into one gzip layer and pushed with skopeo as a
# two-platform list (linux/amd64, linux/arm64/v8).  Through regfs, `file` on each platform's
# ls names that platform's machine, and each platform's rootfs has the entries, metadata and
# bytes of the tree debootstrap made.
#
# This file downloads about 60 MB of packages from the Debian archive apt uses here (read from
# the apt sources at run time) into a cache in the test's own scratch directory; it skips when
# that archive cannot be reached.  The time debootstrap and the first listings take, the layer
# sizes and the entry counts are printed (TAP comments).
#
# regfs-tools: debootstrap file tar
# regfs-requires: root

load ../lib/suite
load ../lib/rootfs

declare -ga ARCHES=(amd64 arm64)
declare -gA PLATFORM=([amd64]=linux/amd64 [arm64]=linux/arm64/v8)
declare -gA PDIR=([amd64]=linux-amd64 [arm64]=linux-arm64-v8)
declare -gA MACHINE=([amd64]="x86-64" [arm64]="ARM aarch64")

# note TEXT — a line in the TAP output (numbers for the report)
note() {
	echo "# $*" >&3
}

# skip_file REASON — every test of this file skips with REASON (bats 1.8 cannot skip from
# setup_file)
skip_file() {
	export REGFS_SKIP_REASON="$1"
	note "skipping: $1"
}

# scrubbed FILE — FILE with the archive's host name replaced (for messages)
scrubbed() {
	sed "s|$MIRROR_HOST|MIRROR|g" "$1"
}

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	local mirror arch dir t0 secs layout
	if ! mirror=$(debian_mirror); then
		skip_file "no Debian archive for bookworm in the apt sources"
		return 0
	fi
	MIRROR_HOST=${mirror#*://}
	export MIRROR_HOST=${MIRROR_HOST%%/*}
	if ! curl -fsS --max-time 20 -o /dev/null "$mirror/dists/bookworm/InRelease" 2>/dev/null; then
		skip_file "the Debian archive in the apt sources cannot be reached"
		return 0
	fi
	mkdir -p "$TESTDIR/debcache"
	t0=$SECONDS
	for arch in "${ARCHES[@]}"; do
		dir="$TESTDIR/deb-$arch"
		secs=$SECONDS
		if ! timeout 900 debootstrap --foreign --variant=minbase --arch="$arch" \
			--cache-dir="$TESTDIR/debcache" bookworm "$dir" "$mirror" \
			>"$TESTDIR/debootstrap-$arch.log" 2>&1; then
			if grep -qE "Failed getting release file|Couldn't download|Failure trying to run|Temporary failure|Connection (refused|timed out)" \
				"$TESTDIR/debootstrap-$arch.log"; then
				skip_file "debootstrap $arch could not download from the Debian archive"
				rm -rf --one-file-system "$TESTDIR"/deb-*
				return 0
			fi
			echo "debootstrap $arch failed:" >&2
			scrubbed "$TESTDIR/debootstrap-$arch.log" | tail -n 20 >&2
			return 1
		fi
		note "debootstrap --foreign minbase $arch: $((SECONDS - secs)) s"
		# debootstrap wrote the archive's host name into its own files: not into the image
		grep -rlF -- "$MIRROR_HOST" "$dir/debootstrap" "$dir/etc/apt" 2>/dev/null |
			xargs -r sed -i "s|$MIRROR_HOST|mirror.invalid|g"
		# what a listing of rootfs must count: every name find prints, the top included
		find "$dir" | wc -l >"$TESTDIR/count-$arch"
		tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' -cf "$TESTDIR/deb-$arch.tar" .
	done
	note "debootstrap, both: $((SECONDS - t0)) s; packages downloaded: $(du -sm "$TESTDIR/debcache" | cut -f1) MB"
	rm -rf "$TESTDIR/debcache"
	python3 - "$TESTDIR" >"$TESTDIR/spec.json" <<'EOF'
import json, sys
t = sys.argv[1]
print(json.dumps({"images": [{"tag": "bookworm", "platforms": [
    {"platform": "linux/amd64", "layers": [{"compression": "gzip", "tar_file": t + "/deb-amd64.tar"}]},
    {"platform": "linux/arm64/v8", "layers": [{"compression": "gzip", "tar_file": t + "/deb-arm64.tar"}]},
]}]}))
EOF
	layout="$TESTDIR/layout"
	python3 "$REGFS_LIB_DIR/layer_image.py" build "$TESTDIR/spec.json" "$layout" \
		--summary "$TESTDIR/images.json"
	registry_start "$TESTDIR/reg"
	oci_push "$layout" bookworm debian/minbase:bookworm
	for arch in "${ARCHES[@]}"; do
		note "$arch: layer $(jq -r ".images.bookworm.platforms[\"${PDIR[$arch]}\"].layers[0].size" \
			"$TESTDIR/images.json") bytes gzip ($(stat -c %s "$TESTDIR/deb-$arch.tar") bytes of tar), $(<"$TESTDIR/count-$arch") entries"
	done
	rm -rf "$layout" "$TESTDIR"/deb-*.tar
	suite_mount
	export LIST="$R/debian/minbase/bookworm"
	export FILE_T0=$SECONDS
}

teardown_file() {
	suite_teardown
	[[ -z ${TESTDIR:-} ]] || note "tests after setup: $((SECONDS - ${FILE_T0:-$SECONDS})) s"
	[[ -z ${TESTDIR:-} ]] || rm -rf --one-file-system "$TESTDIR"/deb-* "$TESTDIR/reg/storage"
}

setup() { regfs_skip_if_needed; }
teardown() { suite_teardown_test; }

# ls_path ARCH — where ls is in the tree debootstrap made (usr/bin/ls when /bin is merged)
ls_path() {
	if [[ -L $TESTDIR/deb-$1/bin ]]; then
		echo usr/bin/ls
	else
		echo bin/ls
	fi
}

@test "the list has one directory per platform, each with rootfs/ and one layer in layerfs/" {
	assert_lines $'digest\ninspect.json\nlinux-amd64\nlinux-arm64-v8\nmanifest.json' \
		"$(lsdir "$LIST")" "ls of the list"
	local arch
	for arch in "${ARCHES[@]}"; do
		[ "$(fs cat "$LIST/${PDIR[$arch]}/platform")" = "${PLATFORM[$arch]}" ]
		[ "$(lsdir "$LIST/${PDIR[$arch]}/layerfs")" = "$(lsdir "$LIST/${PDIR[$arch]}/layers")" ]
		[ "$(lsdir "$LIST/${PDIR[$arch]}/layerfs" | wc -l)" -eq 1 ]
	done
}

@test "file on ls through each platform's rootfs names that platform's machine" {
	local arch p got want secs
	for arch in "${ARCHES[@]}"; do
		p=$(ls_path "$arch")
		secs=$SECONDS
		got=$(FS_TIMEOUT=300 fs file -b "$LIST/${PDIR[$arch]}/rootfs/$p")
		note "file $p ($arch), cold (download and index): $((SECONDS - secs)) s"
		want=$(file -b "$TESTDIR/deb-$arch/$p")
		[[ $got == *"${MACHINE[$arch]}"* ]] || {
			echo "file on $arch's $p: $got" >&2
			return 1
		}
		assert_lines "$want" "$got" "file -b $p ($arch)"
	done
	# and the other way round each is wrong: the test tells the platforms apart
	[[ $(fs file -b "$LIST/linux-amd64/rootfs/$(ls_path amd64)") != *aarch64* ]]
	[[ $(fs file -b "$LIST/linux-arm64-v8/rootfs/$(ls_path arm64)") != *x86-64* ]]
}

@test "find rootfs | wc -l equals find over the tree debootstrap made, for each platform" {
	local arch n secs
	for arch in "${ARCHES[@]}"; do
		secs=$SECONDS
		n=$(FS_TIMEOUT=300 fs find "$LIST/${PDIR[$arch]}/rootfs" | wc -l)
		note "find rootfs | wc -l ($arch): $n in $((SECONDS - secs)) s"
		[ "$(<"$TESTDIR/count-$arch")" -gt 1000 ]
		[ "$n" -eq "$(<"$TESTDIR/count-$arch")" ]
	done
}

@test "each platform's rootfs lists as the tree: types, modes, owners, sizes, links, devices, hardlinks, mtimes" {
	local arch
	for arch in "${ARCHES[@]}"; do
		FS_TIMEOUT=300 assert_same_tree "$TESTDIR/deb-$arch" "$LIST/${PDIR[$arch]}/rootfs" --mtime
	done
}

@test "each platform's rootfs has the tree's bytes (diff -r --no-dereference)" {
	local arch secs
	for arch in "${ARCHES[@]}"; do
		secs=$SECONDS
		FS_TIMEOUT=600 same_contents "$TESTDIR/deb-$arch" "$LIST/${PDIR[$arch]}/rootfs"
		note "diff -r of the whole tree ($arch): $((SECONDS - secs)) s"
	done
}
