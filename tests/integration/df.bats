#!/usr/bin/env bats
# df shows the blob cache: the cap (-o cache_max=) as the size and what the cache holds as used,
# in 4 KiB blocks, so `df -h MOUNT` says something true and `df` (which leaves out filesystems
# of 0 blocks unless given -a) lists the mount.  What df says is checked against the files in
# the cache directory.

load ../lib/suite

setup_file() { suite_setup cache_max=64M; }
teardown_file() {
	[[ -n ${TESTDIR:-} ]] && regfs_unmount "$TESTDIR/mnt-nocap" 2>/dev/null
	suite_teardown
}
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# df_field FIELD PATH — one field of `df -B1 --output=FIELD PATH` (size, used, avail, source)
df_field() {
	local out
	out=$(fs df -B1 --output="$1" -- "$2") || return
	tail -n 1 <<<"$out" | tr -d ' '
}

# cache_bytes DIR — the bytes of the blobs stored in cache directory DIR, in whole 4 KiB blocks
cache_bytes() {
	find "$1/blobs/sha256" -type f -printf '%s\n' |
		awk '{ s += $1 } END { printf "%d\n", int((s + 4095) / 4096) * 4096 }'
}

@test "size is the cap, used is what the cache holds and grows by a layer read, avail the rest" {
	local name size before after
	name=$(sum '.refs["test/big:latest"].layers[0].name')
	size=$(sum '.refs["test/big:latest"].layers[0].size')
	[ "$(df_field size "$MNT")" -eq $((64 * 1024 * 1024)) ]
	[ "$(df_field source "$MNT")" = regfs ]
	# browsing stores the image's manifests: measure from there
	fs ls "$R/test/big/latest/layers" >/dev/null
	before=$(df_field used "$MNT")
	[ "$before" -eq "$(cache_bytes "$TESTDIR/cache")" ]
	fs cat "$R/test/big/latest/layers/$name" >/dev/null
	after=$(df_field used "$MNT")
	[ "$after" -eq "$(cache_bytes "$TESTDIR/cache")" ]
	# the layer, give or take the rounding to whole blocks
	((after - before >= size - 4096 && after - before <= size + 4096)) ||
		{ echo "used went from $before to $after for a layer of $size bytes" >&2; return 1; }
	[ $(($(df_field avail "$MNT") + after)) -eq $((64 * 1024 * 1024)) ]
	[ "$(fs df -h --output=size "$MNT" | tail -n 1 | tr -d ' ')" = 64M ]
}

@test "df without -a lists the mount" {
	local mnt
	mnt=$(realpath -- "$MNT")
	fs df | awk -v m="$mnt" '$NF == m { found = 1 } END { exit !found }' ||
		{ fs df >&2; return 1; }
	fs df -h | awk -v m="$mnt" '$NF == m && $1 == "regfs" { found = 1 } END { exit !found }'
}

@test "cache_max=0 (no cap): the size is what the cache holds plus what its disk has free" {
	local mnt="$TESTDIR/mnt-nocap" name size used avail disk_avail want slack
	regfs_mount "$mnt" "cache_dir=$TESTDIR/cache-nocap" "cache_max=0" "logfile=$TESTDIR/regfs-nocap.log"
	name=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].name')
	fs cat "$mnt/$REGISTRY/onap/py-app-amd64/latest/layers/$name" >/dev/null
	# one df for the three: the disk's free space moves with whatever else runs
	read -r size used avail < <(fs df -B1 --output=size,used,avail -- "$mnt" | tail -n 1)
	disk_avail=$(df_field avail "$TESTDIR/cache-nocap")
	[ "$used" -eq "$(cache_bytes "$TESTDIR/cache-nocap")" ]
	# (avail is the disk's free space in whole blocks: at most one block less than the rest)
	((avail <= size - used && avail >= size - used - 4096))
	# the disk is shared with whatever else runs: allow it to change by 1% meanwhile
	want=$((used + disk_avail))
	slack=$((want / 100))
	((size >= want - slack && size <= want + slack)) ||
		{ echo "size $size, want $used + $disk_avail" >&2; return 1; }
	regfs_unmount "$mnt"
}
