#!/usr/bin/env bash
# scripts/test.sh [--sanitize | --tsan] [ctest args...] — install dependencies, build, run tests.
#
# Builds in build/ (Release, -Wall -Wextra from CMakeLists.txt) or, with --sanitize, in
# build-asan/ with -DREGFS_SANITIZE=ON (ASan + UBSan).  Runs ctest there: unit tests and the
# integration tests (a real docker-registry on 127.0.0.1 and a real FUSE mount; reported as
# skipped where /dev/fuse is unusable).  The exit code is ctest's.
#
# --tsan builds build-tsan/ with -DREGFS_TSAN=ON (ThreadSanitizer) and runs the tests that
# exercise regfs's threads: the cache (unit.test_store, unit.test_mem, unit.test_draft,
# integration.cache, integration.cacheverify, integration.cachelimits), tokens
# (integration.tokens, integration.tokenbound, unit.test_auth), commits (integration.commit, integration.amend), the table of downloads
# in flight (integration.downloads), waits called off and the waiter threads (unit.test_wait,
# unit.test_prefetch, integration.waiters, integration.hung), stale answers (unit.test_stale),
# the soak (integration.soak), and rootfs/ read by eight at once (integration.rootfs_cache).  ctest args given after --tsan choose the tests instead
# (`--tsan -R .` runs them all).  Races found in libfuse, libcurl and OpenSSL, which are not
# instrumented, are suppressed by tests/tsan.supp, each entry with its reason.
#
# With either sanitizer every report, from a test program or from a regfs that a test
# mounted, goes to a file under the build directory (sanitizer-reports/, tsan-reports/);
# if any file appears the run fails and their heads are printed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

builddir=build
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
reports=

# fresh_reports NAME — an empty $builddir/NAME for a sanitizer's report files, in $reports.
# Reports go to files that outlive the tests' scratch directories: a regfs daemon's stderr is
# in a test's scratch directory, and a leak is only reported when regfs exits, after the test
# that made it has passed and cleaned up.
fresh_reports() {
	reports=$PWD/$builddir/$1
	rm -rf "$reports"
	mkdir -p "$reports"
}

if [[ ${1:-} == --sanitize ]]; then
	shift
	builddir=build-asan
	cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DREGFS_SANITIZE=ON)
	fresh_reports sanitizer-reports
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}:log_path=$reports/asan
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$reports/ubsan
elif [[ ${1:-} == --tsan ]]; then
	shift
	builddir=build-tsan
	cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DREGFS_TSAN=ON)
	fresh_reports tsan-reports
	# halt_on_error=0: one run shows every race, not the first
	export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1:halt_on_error=0}:suppressions=$PWD/tests/tsan.supp:log_path=$reports/tsan
	if (($# == 0)); then
		set -- -R '^unit\.test_(store|mem|draft|wait|prefetch|stale|auth)$|^integration\.(cache|cacheverify|cachelimits|tokens|tokenbound|commit|amend|downloads|waiters|hung|soak|rootfs_cache)$'
	fi
fi

scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$builddir" "${cmake_args[@]}" -DCMAKE_C_FLAGS="-Wall -Wextra"
cmake --build "$builddir" -j "$jobs"

rc=0
ctest --test-dir "$builddir" --output-on-failure "$@" </dev/null || rc=$?
if [[ -n $reports ]] && compgen -G "$reports/*" >/dev/null; then
	echo "sanitizer reports (in $reports):" >&2
	for f in "$reports"/*; do
		echo "--- $f" >&2
		head -n 60 "$f" >&2
	done
	rc=1
fi
exit "$rc"
