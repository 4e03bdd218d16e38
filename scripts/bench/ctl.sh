#!/usr/bin/env bash
# scripts/bench/ctl.sh — mount control for scripts/bench.sh, callable from hyperfine --prepare.
#
#   ctl.sh fresh     unmount regfs if mounted, empty its cache dir, mount again, drop kernel caches
#   ctl.sh mount     mount regfs (keeping the cache dir) if not mounted
#   ctl.sh remount   unmount regfs if mounted and mount it again, keeping the cache dir and the
#                    kernel's caches (a fresh mount over a warm cache)
#   ctl.sh umount    unmount regfs (bounded wait; kills it if it does not exit)
#   ctl.sh drop      sync and drop the kernel's page/dentry/inode caches (no-op if not permitted)
#   ctl.sh hwm       print VmHWM (peak RSS, kB) of the regfs process serving the mount
#
# Everything comes from the environment bench.sh exports: REGISTRY, REGFS_BIN, TESTDIR (cache
# and log live there), BENCH_MNT (mount point), BENCH_TTL.
set -euo pipefail
# shellcheck source=../../tests/lib/registry.bash
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/lib/registry.bash"

: "${BENCH_MNT:?}" "${TESTDIR:?}" "${REGISTRY:?}"

drop() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

mounted() {
	_is_mounted "$(realpath -m -- "$BENCH_MNT")"
}

case ${1:-} in
fresh)
	regfs_unmount "$BENCH_MNT" >/dev/null
	rm -rf "$TESTDIR/cache"
	regfs_mount "$BENCH_MNT" "ttl=${BENCH_TTL:-30}"
	drop
	;;
mount)
	mounted || regfs_mount "$BENCH_MNT" "ttl=${BENCH_TTL:-30}"
	;;
remount)
	regfs_unmount "$BENCH_MNT" >/dev/null
	regfs_mount "$BENCH_MNT" "ttl=${BENCH_TTL:-30}"
	;;
umount)
	regfs_unmount "$BENCH_MNT"
	;;
drop)
	drop
	;;
hwm)
	pidfile=$(regfs_pidfile "$BENCH_MNT")
	[[ -s $pidfile ]] || { echo "?"; exit 0; }
	awk '/^VmHWM:/ { print $2; found = 1 } END { if (!found) print "?" }' "/proc/$(<"$pidfile")/status" 2>/dev/null || echo "?"
	;;
*)
	echo "usage: ctl.sh fresh|mount|remount|umount|drop|hwm" >&2
	exit 2
	;;
esac
