# tests/lib/registry.bash — start a throw-away docker-registry on loopback and mount regfs on it.
#
# Sourced by the integration tests (tests/integration/*.bats, via `load ../lib/registry`), by
# tests/lib/run-bats.sh and by scripts/demo.sh.  Everything listens on 127.0.0.1 only and every
# wait is bounded, so a broken regfs makes a test fail instead of hanging the suite.
#
# State lives in files, not shell variables, because bats runs setup_file, each test and
# teardown_file in different processes:
#   REGDIR/config.yml, registry.log, registry.pid, registry.port, storage/   (registry_start)
#   PROXYDIR/proxy.log, proxy.pid, proxy.port                                 (proxy_start)
#   MOUNTDIR.regfs.pid (see regfs_pidfile)                                     (regfs_mount)
#
# Background processes close fd 3: bats waits on it, and a daemon holding it open hangs bats.

REGFS_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${REGFS_SRC:=$(cd "$REGFS_LIB_DIR/../.." && pwd)}"
: "${REGFS_BIN:=$REGFS_SRC/build/regfs}"
export REGFS_SRC REGFS_BIN

# _regfs_die MESSAGE... — print to stderr and fail (return 1 so `set -e` and bats both notice).
_regfs_die() {
	echo "regfs-test: $*" >&2
	return 1
}

# free_port — print a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# port_is_free PORT — succeed when 127.0.0.1:PORT can be bound right now.
port_is_free() {
	python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
s.close()' "$1"
}

# _wait_until SECONDS COMMAND... — poll COMMAND every 0.1 s until it succeeds or SECONDS pass.
_wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# _pid_alive PIDFILE — succeed when the process named in PIDFILE exists.
_pid_alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	kill -0 "$pid" 2>/dev/null
}

# _stop_pidfile PIDFILE [SECONDS] — SIGTERM the process, wait (bounded), then SIGKILL.
_stop_pidfile() {
	local pidfile=$1 secs=${2:-10} pid
	[[ -s $pidfile ]] || return 0
	pid=$(<"$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! _wait_until "$secs" _pid_gone "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			_wait_until 5 _pid_gone "$pid" || true
		fi
	fi
	rm -f "$pidfile"
}

_pid_gone() {
	! kill -0 "$1" 2>/dev/null
}

# regfs_prereqs — print why integration tests cannot run here and fail, or succeed silently.
# Covers what the machine lacks (FUSE, tools), not what the build lacks: a missing regfs binary
# is a failure, not a skip.
regfs_prereqs() {
	local tool
	if [[ ! -e /dev/fuse ]]; then
		echo "/dev/fuse is missing"
		return 1
	fi
	if ! (exec 9<>/dev/fuse) 2>/dev/null; then
		echo "/dev/fuse cannot be opened by $(id -un)"
		return 1
	fi
	for tool in fusermount3 mountpoint docker-registry python3 curl jq skopeo getfattr; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "'$tool' is not installed"
			return 1
		fi
	done
	return 0
}

# require_fuse — for bats setup_file.  bats 1.8 cannot skip from setup_file, so this exports
# REGFS_SKIP_REASON and each test's setup() calls `regfs_skip_if_needed`.  ctest only reports
# SKIPPED (exit 77) when the test runs through tests/lib/run-bats.sh, which checks the same
# prerequisites before starting bats.  Outside bats, prints the reason and exits 77.
require_fuse() {
	local reason
	if reason=$(regfs_prereqs); then
		return 0
	fi
	if [[ -n ${BATS_TEST_FILENAME:-} ]]; then
		export REGFS_SKIP_REASON="$reason"
		return 0
	fi
	echo "skipped: $reason" >&2
	exit 77
}

# regfs_skip_if_needed — call first in a bats setup(); skips the test when require_fuse said so.
regfs_skip_if_needed() {
	if [[ -n ${REGFS_SKIP_REASON:-} ]]; then
		skip "$REGFS_SKIP_REASON"
	fi
}

# registry_start DIR [PORT] — start docker-registry on 127.0.0.1 with its storage in DIR/storage.
# PORT defaults to a free one.  Exports REGISTRY=127.0.0.1:PORT and REGISTRY_DIR=DIR.
# The access log (one line per request, on stdout) goes to DIR/registry.log with the warnings.
# REGISTRY_CATALOG_MAXENTRIES=N sets catalog.maxentries (distribution's default is 1000; it
# answers 400 PAGINATION_NUMBER_INVALID to _catalog?n= above it, and pages by 100 without n).
registry_start() {
	local dir=${1:?registry_start DIR [PORT]} port=${2:-}
	mkdir -p "$dir/storage"
	dir=$(cd "$dir" && pwd)
	if _pid_alive "$dir/registry.pid"; then
		_regfs_die "registry in '$dir' is already running"
		return 1
	fi
	[[ -n $port ]] || port=$(free_port)
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
validation:
  manifests:
    urls:
      allow:
        - ^https?://
EOF
	if [[ -n ${REGISTRY_CATALOG_MAXENTRIES:-} ]]; then
		printf 'catalog:\n  maxentries: %d\n' "$REGISTRY_CATALOG_MAXENTRIES" >>"$dir/config.yml"
	fi
	echo "$port" >"$dir/registry.port"
	# setsid: the registry must not get the terminal's SIGINT meant for the script
	setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null 3>&- &
	echo $! >"$dir/registry.pid"
	if ! _wait_until 15 curl -fsS "http://127.0.0.1:$port/v2/"; then
		echo "registry on 127.0.0.1:$port did not answer within 15 s; log:" >&2
		tail -n 30 "$dir/registry.log" >&2
		_stop_pidfile "$dir/registry.pid" 2
		return 1
	fi
	export REGISTRY="127.0.0.1:$port" REGISTRY_DIR="$dir"
}

# registry_stop DIR — stop the registry started in DIR (no-op when it is not running).
registry_stop() {
	local dir=${1:?registry_stop DIR}
	_stop_pidfile "$dir/registry.pid" 10
}

# registry_restart DIR — stop and start again on the same port with the same storage.
registry_restart() {
	local dir=${1:?registry_restart DIR} port
	port=$(<"$dir/registry.port")
	registry_stop "$dir"
	# the port is ours until something else grabs it; wait for the old socket to go
	_wait_until 10 port_is_free "$port" || true
	registry_start "$dir" "$port"
}

# registry_blob_path DIR DIGEST — print the file holding the blob in the registry's storage.
registry_blob_path() {
	local hex=${2#sha256:}
	echo "$1/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

# registry_requests DIR — print the number of requests the registry has logged so far.
registry_requests() {
	grep -c '"GET \|"HEAD \|"PUT \|"POST \|"PATCH \|"DELETE ' "$1/registry.log" || true
}

# daemon_start DIR NAME SECONDS COMMAND... — run COMMAND, a tests/lib server that takes
# --port-file, in the background with its files in DIR/NAME.{port,pid,stderr}; wait (at most
# SECONDS) until it has written its port, and print the port.
daemon_start() {
	local dir=${1:?daemon_start DIR NAME SECONDS COMMAND...} name=${2:?name} secs=${3:?seconds}
	shift 3
	rm -f "$dir/$name.port"
	setsid "$@" --port-file "$dir/$name.port" >>"$dir/$name.stderr" 2>&1 </dev/null 3>&- &
	echo $! >"$dir/$name.pid"
	if ! _wait_until "$secs" test -s "$dir/$name.port"; then
		echo "$name did not start; stderr:" >&2
		cat "$dir/$name.stderr" >&2
		_stop_pidfile "$dir/$name.pid" 2
		return 1
	fi
	cat "$dir/$name.port"
}

# proxy_start DIR [paging_proxy.py flags...] — start tests/lib/paging_proxy.py in front of
# $REGISTRY.  Exports PROXY=127.0.0.1:PORT.  Its request log is DIR/proxy.log.
proxy_start() {
	local dir=${1:?proxy_start DIR [flags...]} port
	shift
	[[ -n ${REGISTRY:-} ]] || _regfs_die "proxy_start: REGISTRY is not set" || return 1
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	port=$(daemon_start "$dir" proxy 10 python3 "$REGFS_LIB_DIR/paging_proxy.py" \
		--upstream "$REGISTRY" --log "$dir/proxy.log" "$@") || return 1
	_wait_until 10 curl -fsS "http://127.0.0.1:$port/v2/" || {
		_regfs_die "paging proxy on 127.0.0.1:$port does not answer"
		return 1
	}
	export PROXY="127.0.0.1:$port"
}

# proxy_stop DIR — stop the proxy started in DIR.
proxy_stop() {
	_stop_pidfile "${1:?proxy_stop DIR}/proxy.pid" 5
}

# regfs_mount MOUNTDIR [OPTION...] — run regfs in the foreground (-f) in the background and wait
# until MOUNTDIR is a mount point.  Defaults: registry=$REGISTRY, cache_dir=$TESTDIR/cache,
# logfile=$TESTDIR/regfs.log, ttl=2.  Each OPTION is "key=value" (or a bare flag); cache_dir,
# logfile, ttl and cache_max replace the default, anything else (registry=, insecure=, ...) is
# appended.  TESTDIR defaults to bats' BATS_FILE_TMPDIR.
regfs_mount() {
	local mnt=${1:?regfs_mount MOUNTDIR [OPTION...]} testdir opt key i found opts
	shift
	testdir=${TESTDIR:-${BATS_FILE_TMPDIR:-}}
	[[ -n $testdir ]] || _regfs_die "regfs_mount: TESTDIR is not set" || return 1
	[[ -n ${REGISTRY:-} ]] || _regfs_die "regfs_mount: REGISTRY is not set" || return 1
	[[ -x $REGFS_BIN ]] || _regfs_die "regfs binary '$REGFS_BIN' is missing" || return 1
	mkdir -p "$mnt" "$testdir/cache"
	mnt=$(realpath -m -- "$mnt")
	local -a list=("registry=$REGISTRY" "cache_dir=$testdir/cache"
		"state_dir=$testdir/state" "logfile=$testdir/regfs.log" "ttl=2")
	for opt in "$@"; do
		key=${opt%%=*}
		found=
		case $key in
		cache_dir | state_dir | logfile | ttl | cache_max)
			for i in "${!list[@]}"; do
				if [[ ${list[i]%%=*} == "$key" ]]; then
					list[i]=$opt
					found=1
				fi
			done
			;;
		esac
		[[ -n $found ]] || list+=("$opt")
	done
	opts=$(IFS=,; echo "${list[*]}")
	echo "regfs -f -o $opts $mnt" >>"$testdir/regfs.stderr"
	# regfs takes credentials from HOME and these variables: a test's mount sees none of the
	# machine's own (a runner's `docker login` must not change what a test proves), unless the
	# test set up that environment itself (REGFS_MOUNT_OWN_ENV=1, as creds.bats does)
	local -a env_cmd=()
	if [[ -z ${REGFS_MOUNT_OWN_ENV:-} ]]; then
		mkdir -p "$testdir/home/run"
		env_cmd=(env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE -u XDG_CONFIG_HOME
			"HOME=$testdir/home" "XDG_RUNTIME_DIR=$testdir/home/run")
	fi
	"${env_cmd[@]}" "$REGFS_BIN" -f -o "$opts" "$mnt" >>"$testdir/regfs.stderr" 2>&1 </dev/null 3>&- &
	echo $! >"$(regfs_pidfile "$mnt")"
	if ! _wait_until 10 mountpoint -q "$mnt"; then
		echo "regfs did not mount '$mnt' within 10 s (options: $opts)" >&2
		echo "--- $testdir/regfs.stderr" >&2
		tail -n 40 "$testdir/regfs.stderr" >&2 || true
		echo "--- $testdir/regfs.log" >&2
		tail -n 40 "$testdir/regfs.log" >&2 || true
		_stop_pidfile "$(regfs_pidfile "$mnt")" 2
		fusermount3 -uz "$mnt" 2>/dev/null || true
		return 1
	fi
}

# _is_mounted PATH — succeed when PATH is a mount point in /proc/self/mountinfo.  Unlike
# `mountpoint` and `test -d`, this also sees a dead FUSE mount ("Transport endpoint is not
# connected"), which a crashed regfs leaves behind.
_is_mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# regfs_pidfile MOUNTDIR — the file holding the pid of the regfs serving MOUNTDIR.
regfs_pidfile() {
	echo "$(realpath -m -- "$1").regfs.pid"
}

# regfs_pids_of MOUNTDIR — the pids of the regfs processes ($REGFS_BIN) with MOUNTDIR among
# their arguments: regfs started by mount(8), or in the background, writes no pidfile.
regfs_pids_of() {
	local mnt=$1 p
	for p in /proc/[0-9]*; do
		[[ $p/exe -ef $REGFS_BIN ]] || continue # the same file, without a fork per process
		tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$mnt" || continue
		echo "${p#/proc/}"
	done
}

# in_mount_ns SECONDS FUNCTION [HELPER...] -- [ARG...] — run the shell function FUNCTION ARG...
# (the caller's, as are the functions HELPER it calls; this file's are there too) with `set
# -euo pipefail` in a private mount namespace (unshare, as root): what it mounts, over /dev or
# /usr/local/sbin say, only it and its children see, and it all goes with the namespace's last
# process.  Bounded by SECONDS.
in_mount_ns() {
	local secs=$1 fn=$2
	local -a fns=()
	shift
	while (($# > 0)) && [[ $1 != -- ]]; do
		fns+=("$1")
		shift
	done
	shift
	timeout -k 5 "$secs" unshare --mount --propagation private -- bash -c \
		"set -euo pipefail; source '$REGFS_LIB_DIR/registry.bash'; $(declare -f "${fns[@]}"); $fn \"\$@\"" \
		"$fn" "$@"
}

# regfs_unmount MOUNTDIR — unmount (lazily if busy or dead) and wait, bounded, for regfs to exit.
regfs_unmount() {
	local mnt=${1:?regfs_unmount MOUNTDIR} pidfile
	# no `mountpoint` or cd here: a dead mount must still be unmounted
	mnt=$(realpath -m -- "$mnt")
	pidfile=$(regfs_pidfile "$mnt")
	if _is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
	fi
	if [[ -s $pidfile ]] && ! _wait_until 10 _pid_gone "$(<"$pidfile")"; then
		echo "regfs for '$mnt' did not exit after unmount; killing it" >&2
	fi
	_stop_pidfile "$pidfile" 2
	if _is_mounted "$mnt"; then
		fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	fi
	! _is_mounted "$mnt" || _regfs_die "could not unmount '$mnt'"
}

# regfs_log_tail [N] — print the end of regfs' log; for failure messages.
regfs_log_tail() {
	local testdir=${TESTDIR:-${BATS_FILE_TMPDIR:-}}
	tail -n "${1:-30}" "$testdir/regfs.log" "$testdir/regfs.stderr" 2>/dev/null || true
}

# regfs_http_opts HOST — print the mount options needed to reach HOST over plain HTTP, one per
# line.  Loopback hosts (127.0.0.0/8, [::1], localhost) are plain-HTTP-capable in regfs by
# default, so this prints nothing for them; any other host needs insecure=HOST.
regfs_http_opts() {
	local host=${1%:*}
	case $host in
	127.* | localhost | "[::1]") ;;
	*) echo "insecure=$1" ;;
	esac
}
