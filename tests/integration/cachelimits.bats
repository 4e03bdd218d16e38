#!/usr/bin/env bats
# The blob cache at its limits, seen from outside (docs: README "Trust and the cache", the
# cache_max row; the F rows of reliability-scenarios.md): a cache on a small file system (a
# tmpfs this file mounts) keeps serving as it fills, making room by evicting the least
# recently used blobs, and says ENOSPC for a layer that cannot fit, with nothing left behind;
# a download killed with kill -9 leaves a temp file that the next mount removes at start while
# another mount's live download on the same cache keeps its own; the cache is private (0700
# directories, 0400 blobs); junk in it is ignored and a planted symlink is never followed; a
# blob held open is not evicted under pressure; two mounts on one cache read one blob at once.
#
# Slow downloads (to kill one, or to fill the disk during one) come through
# tests/lib/paging_proxy.py at about 1 MB/s for the chosen blobs only.  Both sides are checked
# where it matters: what the reader saw, and what the registry (or the proxy) was asked.
# regfs-requires: root

load ../lib/suite

IMAGES=(
	test/fill1:latest=2097152 test/fill2:latest=2097152 test/fill3:latest=2097152
	test/fill4:latest=2097152 test/fill5:latest=2097152 test/fill6:latest=2097152
	test/huge:latest=10485760 test/crowd1:latest=2097152 test/crowd2:latest=2097152
	test/slowfill:latest=2097152 test/kill:latest=4194304 test/live:latest=6291456
	test/p1:latest=1572864 test/p2:latest=1572864 test/p3:latest=1572864
	test/p4:latest=1572864 test/p5:latest=1572864 test/share:latest=2097152
)

setup_file() {
	suite_setup
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	python3 "$REGFS_LIB_DIR/random_image.py" --registry "$REGISTRY" "${IMAGES[@]}" \
		>"$TESTDIR/images"
	proxy_start "$TESTDIR/proxy-slow" --blob-rate 1000000 \
		--slow-blob "$(layer_digest test/slowfill:latest)" \
		--slow-blob "$(layer_digest test/kill:latest)" \
		--slow-blob "$(layer_digest test/live:latest)" \
		--slow-blob "$(layer_digest test/share:latest)"
	echo "$PROXY" >"$TESTDIR/slow-proxy"
}

teardown_file() {
	local m d
	if [[ -n ${TESTDIR:-} ]]; then
		for m in "$TESTDIR"/bg.*.pid; do
			[[ -e $m ]] && _stop_pidfile "$m" 2
		done
		for m in "$TESTDIR"/mnt-*; do
			[[ -d $m ]] && regfs_unmount "$m" 2>/dev/null
		done
		# the regfs mounts first: a daemon holds files on these
		for d in "$TESTDIR"/disk-*; do
			[[ -d $d ]] && _is_mounted "$(realpath -m -- "$d")" && umount "$d"
		done
	fi
	suite_teardown
}
setup() { regfs_skip_if_needed; }
teardown() {
	suite_teardown_test
	logs_on_failure "$TESTDIR"/regfs-*.log
}

# layer_digest REF / layer_name REF / layer_size REF — of the one layer random_image.py pushed
layer_digest() { awk -v r="$1" '$1 == r { print $2 }' "$TESTDIR/images"; }
layer_size() { awk -v r="$1" '$1 == r { print $3 }' "$TESTDIR/images"; }
layer_name() { awk -v r="$1" '$1 == r { print $4 }' "$TESTDIR/images"; }

# layer_path MOUNT HOST REF — the layer file of REF in the mount
layer_path() {
	local repo=${3%:*} tag=${3##*:}
	echo "$1/$2/$repo/$tag/layers/$(layer_name "$3")"
}

# small_disk NAME — a fresh 8 MiB tmpfs at $TESTDIR/disk-NAME (unmounted in teardown_file)
small_disk() {
	local d="$TESTDIR/disk-$1"
	mkdir -p "$d"
	mount -t tmpfs -o size=8m,mode=0700 tmpfs "$d"
	echo "$d"
}

# cached DIR DIGEST — the file of DIGEST in cache directory DIR
cached() { echo "$1/blobs/sha256/${2#sha256:}"; }

# tmp_count DIR — the entries of cache directory DIR's tmp/
tmp_count() { find "$1/tmp" -mindepth 1 | wc -l; }

# tmp_count_is DIR N — succeed when DIR's tmp/ holds N entries (for _wait_until)
tmp_count_is() { [ "$(tmp_count "$1")" -eq "$2" ]; }

# proxy_gets DIGEST — GETs of that blob the slow proxy forwarded
proxy_gets() { grep -c "^GET /v2/[^ ]*/blobs/$1 " "$TESTDIR/proxy-slow/proxy.log" || true; }

# blob_gets DIGEST — GETs of that blob the registry logged after the fixtures
blob_gets() { registry_log_since_fixtures | grep -c "GET /v2/[^ ]*/blobs/$1" || true; }

# bg NAME COMMAND... — COMMAND in the background (bounded by fs), its pid in $TESTDIR/bg.NAME.pid
bg() {
	local name=$1
	shift
	fs "$@" 3>&- &
	echo $! >"$TESTDIR/bg.$name.pid"
}

# bg_wait NAME — wait for the background command NAME; its status
bg_wait() {
	local pid rc=0
	pid=$(<"$TESTDIR/bg.$1.pid")
	wait "$pid" || rc=$?
	rm -f "$TESTDIR/bg.$1.pid"
	return "$rc"
}

@test "a cache on an 8 MiB tmpfs (default cap) keeps serving as it fills; a layer bigger than the disk is ENOSPC, with nothing left behind" {
	local disk mnt="$TESTDIR/mnt-disk" i ref huge
	disk=$(small_disk full)
	regfs_mount "$mnt" "cache_dir=$disk/cache" "logfile=$TESTDIR/regfs-disk.log"
	# 12 MiB of layers through an 8 MiB file system: each one reads right
	for i in 1 2 3 4 5 6; do
		ref=test/fill$i:latest
		[ "$(sha256_of "$(layer_path "$mnt" "$REGISTRY" "$ref")")" = "$(layer_digest "$ref")" ] ||
			{ echo "fill$i did not read right" >&2; return 1; }
	done
	# the oldest made room for the newest
	[ ! -e "$(cached "$disk/cache" "$(layer_digest test/fill1:latest)")" ]
	[ -f "$(cached "$disk/cache" "$(layer_digest test/fill6:latest)")" ]
	grep -q "cache in '$disk/cache' is short of space: evicted" "$TESTDIR/regfs-disk.log"

	# 10 MiB cannot fit in 8: refused before the download, nothing evicted for it
	huge=$(layer_digest test/huge:latest)
	assert_fails_with "No space left on device" fs cat "$(layer_path "$mnt" "$REGISTRY" test/huge:latest)"
	[ "$(blob_gets "$huge")" -eq 0 ]
	[ ! -e "$(cached "$disk/cache" "$huge")" ]
	[ "$(tmp_count "$disk/cache")" -eq 0 ]
	[ -f "$(cached "$disk/cache" "$(layer_digest test/fill6:latest)")" ]
	grep -q "blob '$huge' is 10.0 MiB, more than the file system of the cache in '$disk/cache' can hold" \
		"$TESTDIR/regfs-disk.log"

	# the daemon goes on: the evicted layer comes back, a small one reads
	_pid_alive "$(regfs_pidfile "$mnt")"
	ref=test/fill1:latest
	[ "$(sha256_of "$(layer_path "$mnt" "$REGISTRY" "$ref")")" = "$(layer_digest "$ref")" ]
	[ "$(sha256_of "$mnt/$REGISTRY/onap/py-app-mips/latest/config.json")" = \
		"$(sum '.refs["onap/py-app-mips:latest"].config.digest')" ]
	regfs_unmount "$mnt"
}

@test "the disk fills up during a download (another program writes to it): room is made and the download runs once more; the reader gets the right bytes" {
	local disk mnt="$TESTDIR/mnt-crowd" slow ref done_bytes i
	disk=$(small_disk crowd)
	slow=$(<"$TESTDIR/slow-proxy")
	regfs_mount "$mnt" "registry=$slow" "cache_dir=$disk/cache" "logfile=$TESTDIR/regfs-crowd.log"
	for ref in test/crowd1:latest test/crowd2:latest; do
		[ "$(sha256_of "$(layer_path "$mnt" "$slow" "$ref")")" = "$(layer_digest "$ref")" ]
	done
	# 4 MiB cached, 4 free: room for the 2 MiB layer when its download starts
	ref=test/slowfill:latest
	bg crowd-reader sh -c "sha256sum <'$(layer_path "$mnt" "$slow" "$ref")' >'$TESTDIR/slowfill.sum'"
	for ((i = 0; i < 100; i++)); do
		done_bytes=$(fs cat "$mnt/.downloads" | awk -v d="$(layer_digest "$ref")" '$1 == d { split($3, a, "/"); print a[1] }')
		[[ -n $done_bytes && $done_bytes -gt 0 ]] && break
		sleep 0.1
	done
	[[ -n $done_bytes ]] || { echo "the download never showed in .downloads" >&2; return 1; }
	# then something else takes 3.5 MiB of the disk
	dd if=/dev/zero of="$disk/filler" bs=512K count=7 status=none || true
	bg_wait crowd-reader
	[ "sha256:$(cut -d' ' -f1 "$TESTDIR/slowfill.sum")" = "$(layer_digest "$ref")" ]
	# asked twice: the first download ran out of space, the second had room
	[ "$(proxy_gets "$(layer_digest "$ref")")" -eq 2 ]
	grep -q "cache in '$disk/cache' is short of space: evicted" "$TESTDIR/regfs-crowd.log"
	[ ! -e "$(cached "$disk/cache" "$(layer_digest test/crowd1:latest)")" ]
	[ -f "$(cached "$disk/cache" "$(layer_digest "$ref")")" ]
	[ "$(tmp_count "$disk/cache")" -eq 0 ]
	rm -f "$disk/filler"
	regfs_unmount "$mnt"
}

@test "kill -9 mid-download: the next mount removes the temp file at start, another mount's live download keeps its own, and the layer then reads" {
	local cache="$TESTDIR/cache-kill" slow kill_ref=test/kill:latest live_ref=test/live:latest pid i
	slow=$(<"$TESTDIR/slow-proxy")
	# a mount that downloads (slowly, 6 s) all along
	regfs_mount "$TESTDIR/mnt-live" "registry=$slow" "cache_dir=$cache" \
		"logfile=$TESTDIR/regfs-live.log"
	bg live-reader sh -c "sha256sum <'$(layer_path "$TESTDIR/mnt-live" "$slow" "$live_ref")' >'$TESTDIR/live.sum'"
	_wait_until 10 tmp_count_is "$cache" 1
	# and one killed in the middle of a download
	regfs_mount "$TESTDIR/mnt-killed" "registry=$slow" "cache_dir=$cache" \
		"logfile=$TESTDIR/regfs-killed.log"
	bg killed-reader sh -c "cat '$(layer_path "$TESTDIR/mnt-killed" "$slow" "$kill_ref")' >/dev/null"
	# once its temp file holds something (the writer writes 1 MiB at a time)
	for ((i = 0; i < 100; i++)); do
		(($(find "$cache/tmp" -type f -size +0 | wc -l) == 2)) && break
		sleep 0.1
	done
	[ "$(find "$cache/tmp" -type f -size +0 | wc -l)" -eq 2 ]
	pid=$(<"$(regfs_pidfile "$TESTDIR/mnt-killed")")
	kill -KILL "$pid"
	_wait_until 5 _pid_gone "$pid"
	bg_wait killed-reader || true
	regfs_unmount "$TESTDIR/mnt-killed"
	[ "$(tmp_count "$cache")" -eq 2 ]
	[ ! -e "$(cached "$cache" "$(layer_digest "$kill_ref")")" ]

	regfs_mount "$TESTDIR/mnt-after" "cache_dir=$cache" "logfile=$TESTDIR/regfs-after.log"
	# the dead one's file went at start (it was a second old), the live one's stayed
	[ "$(tmp_count "$cache")" -eq 1 ]
	grep -q "removed 1 temp file of downloads that did not finish" "$TESTDIR/regfs-after.log"
	bg_wait live-reader
	[ "sha256:$(cut -d' ' -f1 "$TESTDIR/live.sum")" = "$(layer_digest "$live_ref")" ]
	[ "$(tmp_count "$cache")" -eq 0 ]
	# and the layer the killed mount wanted reads, whole and verified
	[ "$(sha256_of "$(layer_path "$TESTDIR/mnt-after" "$REGISTRY" "$kill_ref")")" = "$(layer_digest "$kill_ref")" ]
	regfs_unmount "$TESTDIR/mnt-live"
	regfs_unmount "$TESTDIR/mnt-after"
}

@test "the cache is private: directories 0700, blobs 0400 after a first run; blobs of an earlier version (0444) are made 0400" {
	local cache="$TESTDIR/cache-modes/regfs" mnt="$TESTDIR/mnt-modes" d f digest name
	regfs_mount "$mnt" "cache_dir=$cache" "logfile=$TESTDIR/regfs-modes.log"
	digest=$(sum '.refs["onap/py-app-s390x:latest"].layers[0].digest')
	name=$(sum '.refs["onap/py-app-s390x:latest"].layers[0].name')
	[ "$(sha256_of "$mnt/$REGISTRY/onap/py-app-s390x/latest/layers/$name")" = "$digest" ]
	fs cat "$mnt/$REGISTRY/onap/py-app-s390x/latest/config.json" >/dev/null
	for d in "$TESTDIR/cache-modes" "$cache" "$cache/blobs" "$cache/blobs/sha256" "$cache/tmp"; do
		[ "$(stat -c %a "$d")" = 700 ] || { echo "$d is $(stat -c %a "$d")" >&2; return 1; }
	done
	[ "$(find "$cache/blobs/sha256" -type f | wc -l)" -ge 2 ] # the config and the layer
	for f in "$cache"/blobs/sha256/*; do
		[ "$(stat -c %a "$f")" = 400 ] || { echo "$f is $(stat -c %a "$f")" >&2; return 1; }
	done
	[ -z "$(find "$cache" -perm /077)" ]
	regfs_unmount "$mnt"

	chmod 0444 "$(cached "$cache" "$digest")"
	regfs_mount "$mnt" "cache_dir=$cache" "logfile=$TESTDIR/regfs-modes.log"
	[ "$(stat -c %a "$(cached "$cache" "$digest")")" = 400 ]
	[ "$(sha256_of "$mnt/$REGISTRY/onap/py-app-s390x/latest/layers/$name")" = "$digest" ]
	regfs_unmount "$mnt"
}

@test "junk in the cache directory is ignored, a symlink planted at a blob's name is never followed and is removed" {
	local cache="$TESTDIR/cache-junk" mnt="$TESTDIR/mnt-junk" digest name other hex j used sum
	digest=$(sum '.refs["onap/py-app-arm64v8:latest"].layers[0].digest')
	name=$(sum '.refs["onap/py-app-arm64v8:latest"].layers[0].name')
	other=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].digest')
	hex=${digest#sha256:}
	regfs_mount "$mnt" "cache_dir=$cache" "logfile=$TESTDIR/regfs-junk.log"
	fs ls "$mnt/$REGISTRY/onap/py-app-arm64v8/latest/layers" >/dev/null
	regfs_unmount "$mnt"

	# what a user could plant: a link at the layer's name to a file that is not it
	printf 'root:x:0:0:root:/root:/bin/bash\n' >"$BATS_TEST_TMPDIR/passwd"
	ln -s "$BATS_TEST_TMPDIR/passwd" "$(cached "$cache" "$digest")"
	# junk of every kind, none of it a blob
	echo junk >"$cache/README"
	echo junk >"$cache/blobs/sha256/NOTES"
	echo junk >"$cache/blobs/sha256/${hex:0:63}"
	echo junk >"$cache/blobs/sha256/${hex^^}"
	echo junk >"$cache/blobs/sha256/$hex.partial"
	mkdir "$cache/blobs/sha256/${other#sha256:}.d" "$cache/blobs/sha512"
	echo junk >"$cache/tmp/notes.txt"

	regfs_mount "$mnt" "cache_dir=$cache" "logfile=$TESTDIR/regfs-junk.log"
	[ "$(sha256_of "$mnt/$REGISTRY/onap/py-app-arm64v8/latest/layers/$name")" = "$digest" ]
	# the link was neither followed nor kept, and its target is untouched
	[ -f "$(cached "$cache" "$digest")" ] && [ ! -L "$(cached "$cache" "$digest")" ]
	grep -q "cached blob '$digest' dropped: a symbolic link" "$TESTDIR/regfs-junk.log"
	[ "$(cat "$BATS_TEST_TMPDIR/passwd")" = "root:x:0:0:root:/root:/bin/bash" ]
	# the junk is left as it was, and df does not count it
	for j in "$cache/README" "$cache/blobs/sha256/NOTES" "$cache/blobs/sha256/${hex:0:63}" \
		"$cache/blobs/sha256/${hex^^}" "$cache/blobs/sha256/$hex.partial" "$cache/tmp/notes.txt"; do
		[ "$(cat "$j")" = junk ] || { echo "'$j' changed" >&2; return 1; }
	done
	[ -d "$cache/blobs/sha256/${other#sha256:}.d" ] && [ -d "$cache/blobs/sha512" ]
	used=$(fs df -B1 --output=used -- "$mnt" | tail -n 1 | tr -d ' ')
	sum=$(find "$cache/blobs/sha256" -type f -regextype egrep -regex '.*/[0-9a-f]{64}' -printf '%s\n' |
		awk '{ s += $1 } END { printf "%d\n", int((s + 4095) / 4096) * 4096 }')
	[ "$used" -eq "$sum" ] || { echo "df says $used used, the blobs hold $sum" >&2; return 1; }
	regfs_unmount "$mnt"
}

@test "eviction pressure while a layer is open and read: it is not evicted, the reader gets its bytes, and it goes once closed" {
	local cache="$TESTDIR/cache-held" mnt="$TESTDIR/mnt-held" held i ref
	held=$(layer_digest test/p1:latest)
	regfs_mount "$mnt" "cache_dir=$cache" "cache_max=4M" "logfile=$TESTDIR/regfs-held.log"
	# a reader that opens the layer, waits for the word, then reads it all
	bg held-reader python3 -c '
import hashlib, os, sys, time
f = open(sys.argv[1], "rb")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
print("sha256:" + hashlib.sha256(f.read()).hexdigest())
' "$(layer_path "$mnt" "$REGISTRY" test/p1:latest)" "$TESTDIR/held.open" "$TESTDIR/held.go" \
		>"$TESTDIR/held.sum"
	_wait_until 20 test -e "$TESTDIR/held.open"
	[ -f "$(cached "$cache" "$held")" ]
	# 6 MiB more through a 4 MiB cap
	for i in 2 3 4 5; do
		ref=test/p$i:latest
		[ "$(sha256_of "$(layer_path "$mnt" "$REGISTRY" "$ref")")" = "$(layer_digest "$ref")" ]
		[ -f "$(cached "$cache" "$held")" ] || { echo "evicted while open (after p$i)" >&2; return 1; }
	done
	touch "$TESTDIR/held.go"
	bg_wait held-reader
	[ "$(cat "$TESTDIR/held.sum")" = "$held" ]
	# closed now: the next insert over the cap evicts it first (it is the oldest)
	[ "$(sha256_of "$mnt/$REGISTRY/onap/py-app-mips/latest/config.json")" = \
		"$(sum '.refs["onap/py-app-mips:latest"].config.digest')" ]
	[ "$(sha256_of "$(layer_path "$mnt" "$REGISTRY" test/p2:latest)")" = "$(layer_digest test/p2:latest)" ]
	ref=test/share:latest
	[ "$(sha256_of "$(layer_path "$mnt" "$REGISTRY" "$ref")")" = "$(layer_digest "$ref")" ]
	[ ! -e "$(cached "$cache" "$held")" ]
	regfs_unmount "$mnt"
}

@test "two mounts on one cache directory read one cold layer at the same time: both get verified bytes, one file is stored" {
	local cache="$TESTDIR/cache-shared" slow ref=test/share:latest digest m
	slow=$(<"$TESTDIR/slow-proxy")
	digest=$(layer_digest "$ref")
	regfs_mount "$TESTDIR/mnt-share1" "registry=$slow" "cache_dir=$cache" "logfile=$TESTDIR/regfs-share1.log"
	regfs_mount "$TESTDIR/mnt-share2" "registry=$slow" "cache_dir=$cache" "logfile=$TESTDIR/regfs-share2.log"
	for m in 1 2; do
		bg share$m sh -c "sha256sum <'$(layer_path "$TESTDIR/mnt-share$m" "$slow" "$ref")' >'$TESTDIR/share$m.sum'"
	done
	bg_wait share1
	bg_wait share2
	for m in 1 2; do
		[ "sha256:$(cut -d' ' -f1 "$TESTDIR/share$m.sum")" = "$digest" ]
	done
	[ -f "$(cached "$cache" "$digest")" ]
	[ "$(find "$cache/blobs/sha256" -name "${digest#sha256:}*" | wc -l)" -eq 1 ]
	[ "$(tmp_count "$cache")" -eq 0 ]
	# each mount fetched it at most once (they share the cache, not their downloads)
	(($(proxy_gets "$digest") <= 2))
	! grep -q ' error: ' "$TESTDIR/regfs-share1.log" "$TESTDIR/regfs-share2.log" || false
	regfs_unmount "$TESTDIR/mnt-share1"
	regfs_unmount "$TESTDIR/mnt-share2"
}
