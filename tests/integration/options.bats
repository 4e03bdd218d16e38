#!/usr/bin/env bats
# Mount options are checked at mount: a bad value (a number out of its range or without its
# unit, a file or directory that must be there and is not, or is not what it must be, an
# unknown option) makes regfs exit non-zero with one line saying what is wrong, and nothing
# gets mounted or created.  Good values mount, and a good -o cafile= still lets a plain-HTTP
# loopback registry be read.

load ../lib/suite

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	registry_start "$TESTDIR/reg"
	mkdir -p "$TESTDIR/files" "$TESTDIR/home"
	local f="$TESTDIR/files"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=regfs options test CA" \
		-keyout "$f/ca.key" -out "$f/ca.pem" 2>/dev/null
	printf 'not a certificate\n' >"$f/text.pem"
	printf -- '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' \
		>"$f/broken.pem"
	head -c $((1024 * 1024 + 1)) /dev/zero >"$f/big.pem"
	echo '{"auths": {}}' >"$f/auth.json"
	echo '{"auths": ' >"$f/auth-broken.json"
	echo '[]' >"$f/auth-array.json"
	mkfifo "$f/fifo"
}

teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt" || true
	registry_stop "$TESTDIR/reg" || true
}

setup() {
	regfs_skip_if_needed
	mkdir -p "$TESTDIR/mnt"
}

teardown() {
	# whatever a failed test left mounted goes
	regfs_unmount "$TESTDIR/mnt" || true
}

# run_regfs OPTIONS — regfs -f -o OPTIONS on $TESTDIR/mnt in the background, with this test's
# cache and state directories and no credentials from the machine.  Sets REGFS_PID.
run_regfs() {
	rm -rf "$BATS_TEST_TMPDIR/cache" "$BATS_TEST_TMPDIR/state"
	env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE -u XDG_CONFIG_HOME "HOME=$TESTDIR/home" \
		"XDG_RUNTIME_DIR=$TESTDIR/home" "$REGFS_BIN" -f \
		-o "registry=$REGISTRY,cache_dir=$BATS_TEST_TMPDIR/cache,state_dir=$BATS_TEST_TMPDIR/state,$1" \
		"$TESTDIR/mnt" >"$BATS_TEST_TMPDIR/out" 2>&1 </dev/null 3>&- &
	REGFS_PID=$!
}

# refused OPTIONS MESSAGE — regfs with OPTIONS exits by itself, non-zero, never mounted, having
# printed exactly one line, which holds MESSAGE; it created neither cache nor state directory
# (unless FUSE_OPTION is set: libfuse judges its own options when the session is made, after
# regfs made its directories).
refused() {
	local opts=$1 msg=$2 rc=0 i mounted=
	run_regfs "$opts"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$TESTDIR/mnt" && mounted=1
		kill -0 "$REGFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$REGFS_PID" 2>/dev/null; then
		kill "$REGFS_PID"
		wait "$REGFS_PID" || true
		regfs_unmount "$TESTDIR/mnt" || true
		echo "-o $opts: regfs did not exit (mounted: ${mounted:-no})" >&2
		return 1
	fi
	wait "$REGFS_PID" || rc=$?
	mountpoint -q "$TESTDIR/mnt" && mounted=1
	[[ -z $mounted ]] || { echo "-o $opts: regfs mounted" >&2; return 1; }
	((rc != 0)) || { echo "-o $opts: exit status 0" >&2; return 1; }
	grep -qF -- "$msg" "$BATS_TEST_TMPDIR/out" ||
		{ echo "-o $opts: want '$msg', got: $(cat "$BATS_TEST_TMPDIR/out")" >&2; return 1; }
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" -eq 1 ] ||
		{ echo "-o $opts: more than one line: $(cat "$BATS_TEST_TMPDIR/out")" >&2; return 1; }
	[[ -n ${FUSE_OPTION:-} || (! -e $BATS_TEST_TMPDIR/cache && ! -e $BATS_TEST_TMPDIR/state) ]] ||
		{ echo "-o $opts: created a directory before refusing" >&2; return 1; }
}

@test "cafile: missing, not a file, not PEM, a broken certificate, too big: refused" {
	local f="$TESTDIR/files"
	refused "cafile=$f/missing.pem" "cafile '$f/missing.pem': No such file or directory"
	refused "cafile=$f" "cafile '$f': not a regular file"
	refused "cafile=$f/fifo" "cafile '$f/fifo': not a regular file"
	refused "cafile=$f/text.pem" "cafile '$f/text.pem': holds no PEM certificate"
	refused "cafile=$f/broken.pem" "cafile '$f/broken.pem': a PEM block in it does not parse"
	refused "cafile=$f/big.pem" "cafile '$f/big.pem': larger than 1 MiB"
	refused "cafile=" "cafile= needs a path"
}

@test "cache_max: negative, no number, an unknown unit, too big: refused" {
	refused "cache_max=-5" "cache_max '-5' is not a size"
	refused "cache_max=+5" "cache_max '+5' is not a size"
	refused "cache_max= 5" "cache_max ' 5' is not a size"
	refused "cache_max=" "cache_max '' is not a size"
	refused "cache_max=10X" "cache_max '10X' is not a size"
	refused "cache_max=10GG" "cache_max '10GG' is not a size"
	refused "cache_max=99999999T" "cache_max '99999999T' is not a size"
	refused "cache_max=99999999999999999999" "cache_max '99999999999999999999' is not a size"
}

@test "ttl: zero, negative, not a plain number, over a year: refused" {
	local v
	for v in 0 0.0 -1 abc nan inf 1e3 0x10 "" 31536001; do
		refused "ttl=$v" "ttl '$v' is not a number of seconds above 0"
	done
}

@test "timeout: zero, negative, a fraction, trailing junk, over an hour: refused" {
	local v
	for v in 0 -5 1.5 10x "" 3601 99999999999999999999; do
		refused "timeout=$v" "timeout '$v' is not a whole number of seconds from 1 to 3600"
	done
}

@test "prefetch: negative, a fraction, trailing junk, over 8: refused" {
	local v
	for v in -1 1.5 4x "" 9 99999999999999999999; do
		refused "prefetch=$v" "prefetch '$v' is not a whole number from 0 to 8"
	done
}

@test "certs_dir, auth_file, cache_dir, state_dir, logfile: missing or wrong kind: refused" {
	local f="$TESTDIR/files"
	refused "certs_dir=$f/missing" "certs_dir '$f/missing': No such file or directory"
	refused "certs_dir=$f/ca.pem" "certs_dir '$f/ca.pem': not a directory"
	refused "auth_file=$f/missing.json" "auth_file '$f/missing.json': No such file or directory"
	refused "auth_file=$f" "auth_file '$f': not a regular file"
	refused "auth_file=$f/auth-broken.json" "auth_file '$f/auth-broken.json': not JSON (line"
	refused "auth_file=$f/auth-array.json" "auth_file '$f/auth-array.json': not a JSON object"
	refused "auth_file=" "auth_file= needs a path"
	refused "logfile=" "logfile= needs a path"
	# (run_regfs's cache_dir= and state_dir= come first: these replace them)
	refused "cache_dir=" "cache_dir= needs a path"
	refused "state_dir=" "state_dir= needs a path"
}

@test "uid, gid, umask: no such user or group, not an octal mode up to 0777; gid and write_group apart: refused" {
	local v
	refused "uid=regfs-no-such-user-$$" "uid 'regfs-no-such-user-$$' is not a user"
	refused "uid=" "uid '' is not a user"
	refused "uid=-1" "uid '-1' is not a user"
	refused "uid=4294967295" "uid '4294967295' is not a user"
	refused "gid=regfs-no-such-group-$$" "gid 'regfs-no-such-group-$$' is not a group"
	refused "gid=+5" "gid '+5' is not a group"
	for v in 8 0999 1000 0x1 "" -1 " 7" 022a; do
		refused "umask=$v" "umask '$v' is not an octal mode from 0 to 0777"
	done
	refused "gid=0,write_group=1" "gid '0' and write_group '1' are different groups"
}

@test "unknown options and values: refused" {
	FUSE_OPTION=1 refused "no_such_option" "unknown option"
	FUSE_OPTION=1 refused "verbose=yes" "unknown option"
	refused "registry=not a host" "'not a host' is not a registry host name"
	refused "mirror=http://x" "mirror 'http://x' is not ORIGIN=MIRROR"
}

@test "good values mount, and a good cafile leaves plain-HTTP loopback readable" {
	local i
	run_regfs "cafile=$TESTDIR/files/ca.pem,auth_file=$TESTDIR/files/auth.json,ttl=0.5,cache_max=500M,timeout=1,prefetch=0,certs_dir=$TESTDIR/files,uid=0,gid=0,umask=022,defaults,_netdev,nofail,x-systemd.automount,comment=x,relatime"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$TESTDIR/mnt" && break
		kill -0 "$REGFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	mountpoint -q "$TESTDIR/mnt" || { cat "$BATS_TEST_TMPDIR/out" >&2; return 1; }
	# the registry is empty: listing it works (no EIO from the CA file)
	run fs ls "$TESTDIR/mnt/$REGISTRY"
	[ "$status" -eq 0 ] || { echo "ls: $output" >&2; return 1; }
	[ -z "$output" ]
	regfs_unmount "$TESTDIR/mnt"
}

# dumpable_of PID — what prctl(PR_GET_DUMPABLE) answers inside PID (asked through gdb)
dumpable_of() {
	timeout -k 5 60 gdb -nx -p "$1" -batch -ex 'print (int)prctl(3, 0, 0, 0, 0)' 2>/dev/null |
		sed -n 's/^\$1 = //p'
}

# mount_with OPTIONS — run_regfs OPTIONS and wait until it is mounted
mount_with() {
	local i
	run_regfs "$1"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$TESTDIR/mnt" && return 0
		kill -0 "$REGFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$BATS_TEST_TMPDIR/out" >&2
	return 1
}

@test "not dumpable (no core, no ptrace but by root: it holds credentials) unless -o dumpable" {
	command -v gdb >/dev/null || skip "gdb is not installed"
	mount_with "ttl=1"
	[ "$(dumpable_of "$REGFS_PID")" = 0 ]
	regfs_unmount "$TESTDIR/mnt"
	mount_with "dumpable"
	[ "$(dumpable_of "$REGFS_PID")" = 1 ]
	fs ls "$TESTDIR/mnt/$REGISTRY" >/dev/null # gdb came and went: the mount still answers
	regfs_unmount "$TESTDIR/mnt"
}
