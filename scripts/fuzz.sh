#!/usr/bin/env bash
# scripts/fuzz.sh — run every libFuzzer harness of tests/fuzz for a while and print what each did.
#
# Usage: scripts/fuzz.sh [--seconds N] [--only NAME,...] [--keep-finds] [--build DIR]
#
#   --seconds N    time per harness (default 60)
#   --only LIST    only these harnesses (fuzz_manifest,fuzz_names,...; comma separated)
#   --keep-finds   copy the new inputs each harness found into its seed corpus
#                  (tests/fuzz/corpus/<name>/), so the replay tests keep them; by default they
#                  stay in the scratch directory and the tree is not touched
#   --build DIR    the clang build directory (default build-fuzz; configured with
#                  -DREGFS_FUZZ=ON if it is not there yet)
#
# Each harness runs on a scratch copy of its seeds (libFuzzer writes new inputs into its first
# corpus directory).  A crash, leak or sanitizer report leaves the input in the scratch
# directory (printed) and makes the script exit 1; the table still lists every harness.
# Needs clang (Debian: clang, which brings libFuzzer) besides the build's own packages.
# A tool to run by hand, not a test: ctest replays the corpora (fuzz_replay.*) instead.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_EACH=60
ONLY=
KEEP=
BUILD=$ROOT/build-fuzz

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
	case $1 in
	--seconds) SECONDS_EACH=${2:?}; shift ;;
	--only) ONLY=,${2:?},; shift ;;
	--keep-finds) KEEP=1 ;;
	--build) BUILD=$(realpath -m -- "${2:?}"); shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "fuzz: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $SECONDS_EACH =~ ^[0-9]+$ ]] && ((SECONDS_EACH > 0)) ||
	{ echo "fuzz: --seconds wants a positive number" >&2; exit 2; }
command -v clang >/dev/null || { echo "fuzz: clang is missing (apt-get install clang)" >&2; exit 2; }

# harness -> corpus directory, from the CMake list (one source of truth)
declare -A CORPUS
while read -r name corpus; do
	CORPUS[$name]=$corpus
done < <(sed -n 's/^regfs_fuzzer(\([a-z_]*\) \([a-z_]*\) .*/\1 \2/p' "$ROOT/tests/fuzz/CMakeLists.txt")
((${#CORPUS[@]})) || { echo "fuzz: no harness found in tests/fuzz/CMakeLists.txt" >&2; exit 2; }

if [[ ! -f $BUILD/CMakeCache.txt ]]; then
	CC=clang cmake -S "$ROOT" -B "$BUILD" -DREGFS_FUZZ=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/regfs-fuzz.XXXXXX")
echo "fuzz: ${SECONDS_EACH} s per harness; scratch in $SCRATCH" >&2
failed=0
printf '%-20s %12s %10s %8s %8s  %s\n' harness execs "exec/s" seeds new result
for name in $(printf '%s\n' "${!CORPUS[@]}" | sort); do
	[[ -z $ONLY || $ONLY == *",$name,"* ]] || continue
	bin=$(find "$BUILD" -type f -name "$name" -perm -u+x | head -n 1)
	[[ -n $bin ]] || { printf '%-20s %s\n' "$name" "not built"; failed=1; continue; }
	seeds="$ROOT/tests/fuzz/corpus/${CORPUS[$name]}"
	work="$SCRATCH/$name"
	mkdir -p "$work/corpus" "$work/artifacts"
	cp -r "$seeds/." "$work/corpus/"
	before=$(find "$work/corpus" -type f | wc -l)
	rc=0
	"$bin" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1 || rc=$?
	after=$(find "$work/corpus" -type f | wc -l)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
	result=clean
	if ((rc != 0)); then
		result="FAILED (exit $rc): $work/log, inputs in $work/artifacts"
		failed=1
	fi
	printf '%-20s %12s %10s %8s %8s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "$before" \
		$((after - before)) "$result"
	if [[ -n $KEEP ]] && ((after > before)); then
		# only what is new, under libFuzzer's content-hash names
		for f in "$work/corpus"/*; do
			[[ -e "$seeds/$(basename "$f")" ]] || cp "$f" "$seeds/"
		done
	fi
done
exit "$failed"
