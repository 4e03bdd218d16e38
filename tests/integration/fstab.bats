#!/usr/bin/env bats
# regfs mounted the way mount(8), an fstab line and mount.fuse3 run it: `regfs SOURCE MOUNTPOINT
# -o OPTIONS`, SOURCE the registry (or a comma-separated list, added to -o registry=), with the
# options that belong to mount(8) and systemd (defaults, _netdev, nofail, noauto, user,
# x-systemd.*, comment=) mixed in among regfs' own.  Each mount must show up as fuse.regfs named
# by its SOURCE, browse, and go away with its daemon at umount.
#
# mount(8) runs its helper (/sbin/mount.fuse -> mount.fuse3) without PATH, and mount.fuse3 runs
# `regfs` through /bin/sh, so sh's default path must find it.  The mount(8) cases therefore run
# in a private mount namespace (in_mount_ns) where a scratch directory holding a link named
# regfs to $REGFS_BIN is bound over /usr/local/sbin: nothing outside the namespace changes, and
# the fstab is a scratch file (mount -T).  mount.fuse3 keeps PATH, so its case puts the
# scratch directory first on PATH, in the test's own namespace.
# regfs-requires: root

load ../lib/suite

setup_file() {
	if ((EUID != 0)); then
		export REGFS_SKIP_REASON="mount(8) and a private mount namespace need root"
		return 0
	fi
	if ! command -v mount.fuse3 >/dev/null 2>&1 || [[ ! -x /sbin/mount.fuse ]]; then
		export REGFS_SKIP_REASON="mount.fuse3 (and /sbin/mount.fuse, fuse3's link to it) is missing"
		return 0
	fi
	if [[ ! -d /usr/local/sbin ]]; then
		export REGFS_SKIP_REASON="/usr/local/sbin is missing: nothing to bind regfs over"
		return 0
	fi
	suite_start_registry
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	mkdir -p "$TESTDIR/bin" "$TESTDIR/home"
	ln -s "$(realpath -- "$REGFS_BIN")" "$TESTDIR/bin/regfs"
	export PORT=${REGISTRY##*:}
}
teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt" || true
	_stop_pidfile "$TESTDIR/daemon.pid" 5
	suite_teardown
}
setup() {
	regfs_skip_if_needed
	mkdir -p "$TESTDIR/mnt"
}
teardown() {
	# what a failed case left: a daemon in its namespace, or a mount here
	if _is_mounted "$(realpath -- "$TESTDIR/mnt")"; then
		fusermount3 -uz "$TESTDIR/mnt" || true
	fi
	_stop_pidfile "$TESTDIR/daemon.pid" 5
	logs_on_failure "$BATS_TEST_TMPDIR/case.log" "$BATS_TEST_TMPDIR/regfs.log"
}

# regfs_opts — regfs' own options for a case: its cache, drafts and log in the test's
# directories (mount.fuse3 sets HOME=/root, and regfs would use it), a short TTL
regfs_opts() {
	echo "cache_dir=$BATS_TEST_TMPDIR/cache,state_dir=$BATS_TEST_TMPDIR/state,logfile=$BATS_TEST_TMPDIR/regfs.log,ttl=5"
}

# mount_and_look DIR MOUNTPOINT COMMAND... — in the namespace: regfs on /usr/local/sbin, mount
# with COMMAND (which returns once regfs is in the background), then record in DIR what the
# mount is and shows: mountinfo (its line), listing, onap (a namespace's listing), manifest.sha
# (sha256sum of a tag's manifest.json), mkdir.out (what mkdir of a draft said); umount, and
# wait for regfs to exit.
mount_and_look() {
	local t=$1 mnt=$2 pid
	shift 2
	mount --bind "$TESTDIR/bin" /usr/local/sbin
	"$@"
	_wait_until 10 mountpoint -q "$mnt"
	pid=$(regfs_pids_of "$mnt" | head -n 1)
	echo "$pid" >"$TESTDIR/daemon.pid"
	echo "regfs pid $pid"
	look_at_mount "$t" "$mnt"
	umount "$mnt"
	_wait_until 10 _pid_gone "$pid"
	echo "regfs exited"
}

# look_at_mount DIR MOUNTPOINT — mount_and_look's records
look_at_mount() {
	local t=$1 mnt=$2
	awk -v m="$mnt" '$5 == m' /proc/self/mountinfo >"$t/mountinfo"
	ls "$mnt" >"$t/listing"
	ls "$mnt/$REGISTRY/onap" >"$t/onap"
	sha256sum <"$mnt/$REGISTRY/onap/py-app/v1/manifest.json" >"$t/manifest.sha"
	mkdir "$mnt/$REGISTRY/onap/py-app/fstab-draft" >"$t/mkdir.out" 2>&1 || true
}

# assert_mount DIR SOURCE OPTION... — DIR's records (mount_and_look) show a fuse.regfs mount
# named SOURCE, with each OPTION among its mount or superblock options, that lists both names
# of the registry and browses it
assert_mount() {
	local t=$1 source=$2 fields opt
	shift 2
	fields=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { print $(i+1), $(i+2), $6 "," $(i+3); exit } }' "$t/mountinfo")
	[[ ${fields%% *} == fuse.regfs ]] || { echo "mountinfo: $(cat "$t/mountinfo")" >&2; return 1; }
	fields=${fields#* }
	[[ ${fields%% *} == "$source" ]] || { echo "mountinfo: $(cat "$t/mountinfo")" >&2; return 1; }
	for opt in "$@"; do
		[[ ,${fields#* }, == *",$opt,"* ]] || { echo "no '$opt' in: $(cat "$t/mountinfo")" >&2; return 1; }
	done
	assert_lines "$(printf '%s\n' "127.0.0.1:$PORT" "localhost:$PORT" | LC_ALL=C sort)" \
		"$(LC_ALL=C sort "$t/listing")" "the root"
	assert_lines "$(expected_children onap)" "$(LC_ALL=C sort "$t/onap")" "onap/"
	[ "sha256:$(cut -d' ' -f1 "$t/manifest.sha")" = "$(sum '.refs["onap/py-app:v1"].digest')" ]
}

@test "an fstab line (mount -T FILE DIR) with _netdev, nofail, noauto, user, x-systemd.automount, allow_other among regfs' options" {
	local t=$BATS_TEST_TMPDIR mnt
	mnt=$(realpath -- "$TESTDIR/mnt")
	printf '# a scratch fstab: regfs-test\n%s %s fuse.regfs %s 0 0\n' "127.0.0.1:$PORT" "$mnt" \
		"defaults,_netdev,nofail,noauto,user,x-systemd.automount,x-systemd.mount-timeout=30,comment=regfs-test,allow_other,registry=localhost:$PORT,$(regfs_opts)" \
		>"$t/fstab"
	in_mount_ns 90 mount_and_look look_at_mount -- "$t" "$mnt" mount -T "$t/fstab" "$mnt" >"$t/case.log" 2>&1
	grep -qx "regfs exited" "$t/case.log"
	# user implies nosuid, nodev and noexec (mount(8) adds them)
	assert_mount "$t" "127.0.0.1:$PORT" allow_other default_permissions nosuid nodev noexec
	# read-write: the mounting user makes a draft
	[ ! -s "$t/mkdir.out" ] || { cat "$t/mkdir.out" >&2; return 1; }
	grep -q "mounted at '$mnt'" "$t/regfs.log"
}

@test "mount -t fuse.regfs SOURCE DIR -o ro,...: SOURCE a comma-separated list, and ro refuses writes with EROFS" {
	local t=$BATS_TEST_TMPDIR mnt
	mnt=$(realpath -- "$TESTDIR/mnt")
	in_mount_ns 90 mount_and_look look_at_mount -- "$t" "$mnt" mount -t fuse.regfs "127.0.0.1:$PORT,localhost:$PORT" \
		"$mnt" -o "ro,_netdev,nofail,noauto,x-systemd.automount,comment=regfs-test,$(regfs_opts)" \
		>"$t/case.log" 2>&1
	grep -qx "regfs exited" "$t/case.log"
	assert_mount "$t" "127.0.0.1:$PORT,localhost:$PORT" ro
	grep -q "Read-only file system" "$t/mkdir.out" || { cat "$t/mkdir.out" >&2; return 1; }
}

@test "mount.fuse3 'regfs#SOURCE' DIR -o ...: regfs found on PATH" {
	local t=$BATS_TEST_TMPDIR mnt pid
	mnt=$(realpath -- "$TESTDIR/mnt")
	PATH="$TESTDIR/bin:$PATH" fs mount.fuse3 "regfs#127.0.0.1:$PORT" "$mnt" \
		-o "defaults,_netdev,nofail,noauto,user,x-systemd.automount,comment=regfs-test,allow_other,registry=localhost:$PORT,$(regfs_opts)"
	_wait_until 10 mountpoint -q "$mnt"
	pid=$(regfs_pids_of "$mnt" | head -n 1)
	[ -n "$pid" ]
	echo "$pid" >"$TESTDIR/daemon.pid"
	look_at_mount "$t" "$mnt"
	fusermount3 -u "$mnt"
	_wait_until 10 _pid_gone "$pid"
	assert_mount "$t" "127.0.0.1:$PORT" allow_other default_permissions
	[ ! -s "$t/mkdir.out" ] || { cat "$t/mkdir.out" >&2; return 1; }
}

@test "a SOURCE that is no registry host: refused in one line, nothing mounted" {
	local mnt out rc=0
	mnt=$(realpath -- "$TESTDIR/mnt")
	out=$(HOME="$TESTDIR/home" fs "$REGFS_BIN" "127.0.0.1:$PORT,not a host" "$mnt" \
		-o "$(regfs_opts)" 2>&1) || rc=$?
	[ "$rc" -eq 1 ]
	[ "$out" = "regfs: source '127.0.0.1:$PORT,not a host' is not a registry host name or a comma-separated list of them" ]
	! _is_mounted "$mnt" || false
	out=$(HOME="$TESTDIR/home" fs "$REGFS_BIN" "127.0.0.1:$PORT" "$mnt" extra -o "$(regfs_opts)" 2>&1) || rc=$?
	[[ $out == "regfs: 'extra': one argument too many"* ]]
	! _is_mounted "$mnt" || false
}
