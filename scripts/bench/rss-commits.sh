#!/usr/bin/env bash
# scripts/bench/rss-commits.sh — regfs' memory over many draft/commit cycles (issue 11's "RSS
# grew 12 → 22 MB over 623 draft/commit cycles": a cache filling up to its cap, or a leak?).
#
# Usage: scripts/bench/rss-commits.sh [--cycles N] [--every K] [--valgrind] [--drop-caches]
#
# Starts docker-registry on 127.0.0.1 (a free port) with the seed fixtures, mounts regfs
# (REGFS_BIN, default build/regfs) on a fresh cache, then runs N cycles (default 600): mkdir a
# draft in onap/py-app, link two platform images, touch .commit, cat the new tag's digest.  Each
# cycle pushes a new tag (soak-1, soak-2, …).
# Prints VmRSS, VmHWM, the daemon's thread and fd counts and its node table's size (from df's
# inode count) every K cycles (default 50).  --drop-caches then has the kernel drop its unused
# dentries and inodes (system-wide: root only) and prints the counts again.
# --valgrind runs regfs under valgrind --leak-check=full (use few cycles) and prints its
# summary.  A measurement: it never fails on numbers.  Everything it started is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CYCLES=600
EVERY=50
VALGRIND=
DROP=
while (($#)); do
	case $1 in
	--cycles) CYCLES=${2:?}; shift ;;
	--every) EVERY=${2:?}; shift ;;
	--valgrind) VALGRIND=1 ;;
	--drop-caches) DROP=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "rss-commits: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done

: "${REGFS_BIN:=$ROOT/build/regfs}"
export REGFS_SRC="$ROOT"
# shellcheck source=../../tests/lib/registry.bash
source "$ROOT/tests/lib/registry.bash"

W=$(mktemp -d "${TMPDIR:-/tmp}/regfs-rss-commits.XXXXXX")
export TESTDIR="$W"
MNT="$W/mnt"
PID=
cleanup() {
	fusermount3 -u "$MNT" >/dev/null 2>&1 || true
	[[ -z $PID ]] || { timeout 120 tail --pid="$PID" -f /dev/null || kill "$PID"; } 2>/dev/null || true
	fusermount3 -uz "$MNT" >/dev/null 2>&1 || true
	registry_stop "$W/registry" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT

registry_start "$W/registry" >&2
python3 "$ROOT/tests/lib/fixtures.py" --registry "$REGISTRY" --set seed --summary "$W/sum.json" >&2
mkdir -p "$MNT"
cmd=("$REGFS_BIN" -f -o "registry=$REGISTRY,cache_dir=$W/cache,state_dir=$W/state,logfile=$W/log,ttl=2" "$MNT")
if [[ -n $VALGRIND ]]; then
	cmd=(valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite
		--log-file="$W/valgrind.log" "${cmd[@]}")
fi
HOME=$W "${cmd[@]}" 2>"$W/stderr" &
PID=$!
for _ in $(seq 300); do mountpoint -q "$MNT" && break; sleep 0.1; done
mountpoint -q "$MNT" || { echo "rss-commits: regfs did not mount" >&2; cat "$W/stderr" >&2; exit 1; }

R="$MNT/$REGISTRY/onap/py-app"
stats() {
	printf '%5s cycles  %6s s  rss %6s kB  hwm %6s kB  threads %3s  fds %3s  nodes %5s\n' "$1" \
		"$SECONDS" \
		"$(awk '/^VmRSS/ { print $2 }' "/proc/$PID/status")" \
		"$(awk '/^VmHWM/ { print $2 }' "/proc/$PID/status")" \
		"$(ls "/proc/$PID/task" | wc -l)" "$(ls "/proc/$PID/fd" | wc -l)" \
		"$(($(stat -f -c %c "$MNT") - 1000000))" # df's inodes: 1000000 free + the node table
}
ls "$R" >/dev/null
SECONDS=0
stats 0
for ((i = 1; i <= CYCLES; i++)); do
	tag=soak-$i
	mkdir "$R/$tag"
	ln -s ../../py-app-amd64/latest "$R/$tag/amd64"
	ln -s ../../py-app-arm64v8/latest "$R/$tag/arm64v8"
	touch "$R/$tag/.commit"
	cat "$R/$tag/digest" >/dev/null
	((i % EVERY)) || stats "$i"
done
if [[ -n $DROP ]]; then
	# the kernel forgets the inodes it does not use: the node table must shrink with it
	sync
	echo 2 >/proc/sys/vm/drop_caches
	sleep 1
	stats "$CYCLES (after drop_caches)"
fi
fusermount3 -u "$MNT"
timeout 120 tail --pid="$PID" -f /dev/null || true
PID=
if [[ -n $VALGRIND ]]; then
	grep -E "definitely|indirectly|possibly|still reachable|ERROR SUMMARY|in use at exit|total heap" "$W/valgrind.log"
	awk '/definitely lost in/,/^==[0-9]+== $/' "$W/valgrind.log" | head -80
fi
