#!/usr/bin/env bash
# scripts/bench.sh — time regfs against the tools people use today: the rows B1-B5 of issue 10
# and B6 of issue 12 (rootfs/).
#
# Usage: scripts/bench.sh [-o FILE] [--runs N] [--latency MS] [--only B1,B4,...] [--huge]
#                         [--big-mib N] [--rootfs-mib N] [--ttl S] [--legacy] [--no-build]
#                         [--keep]
#
#   -o, --output FILE   also write the table here (default: bench-results.txt in the current dir)
#   --runs N            timed runs per side of each row (default 5; B2 and B5-huge use fewer)
#   --latency MS        put a proxy adding MS ms to every request (tests/lib/paging_proxy.py
#                       --delay-ms) between the registry and everyone: regfs and the peers alike
#   --only LIST         only these rows (B1,B2,B2p,B3,B4,B5,B6; comma separated); only the
#                       images these rows read are pushed (all of them with --legacy)
#   --huge              also B5-huge: `ls` of 200,000 tags (made up by the proxy, --extra-tags)
#   --big-mib N         size of B4's layer (default 256)
#   --rootfs-mib N      file data in B6's layer, taken from this machine's /usr (default 230:
#                       18,691 entries, 235 MB of tar, 88 MB of gzip here)
#   --ttl S             regfs ttl= for every mount (default 30, regfs' own default)
#   --legacy            afterwards also the earlier scenarios 1-8 and C (scripts/bench/legacy.sh,
#                       about 4 more minutes)
#   --no-build          use $REGFS_BIN (default build-bench/regfs) as it is
#   --keep              keep the work directory (registry log, regfs.log, raw timings)
#
# Needs root (or a user allowed to mount FUSE) and the packages of scripts/deps.sh; as root it
# drops the kernel caches before every cold run.  Docker's CLI is optional (B1 and B3 are left
# out without it).  A measurement, not a test: it never fails on numbers.  About 7 minutes on
# 2 cores, 10 when the machine is busy with other work (pushing the images: 1-1.5 of them).
#
# The rows (issue 10), each against its peer; ratio = regfs median / peer median (below 1:
# regfs is faster), except B2' whose "ratio" is the speed-up of -P16 over -P1:
#   B1   cat a 5-platform list's manifest.json, its 5 platforms' manifest.json and config.json
#        vs docker manifest inspect --insecure -v
#   B2   cat scale/*/v*/manifest.json (50 repositories x 4 tags) vs a skopeo inspect --raw loop
#   B2'  100 manifests of 25 repositories through a proxy adding 20 ms (or --latency MS) per
#        request: xargs -P16 -n1 cat vs xargs -P1 -n1 cat
#   B3   mkdir + 5 x ln -s + touch .commit vs docker manifest create + push
#   B4   cat of a 256 MiB layer: cold vs curl -o /dev/null; warm (in the cache, fresh mount) vs
#        the same file through scripts/bench/fusefloor.c (this machine's FUSE read floor); hot
#        (same mount, again) vs a local cat of the cached file
#   B5   ls of a repository with 2,500 tags vs curl of its tags list (every page)
#   B6   rootfs/ of an image of one ~90 MB gzip layer of real files (scripts/bench/rootfs_layer.py):
#        cold: find rootfs | wc -l, nothing cached (download + index) vs tar -tzf of the same
#        blob from a local file; indexed: the same on a fresh mount whose cache holds the blob
#        and its index, vs the same tar -tzf; cat: cat of a small file near the layer's end, same
#        fresh mount, vs tar -xzOf of that member.  Every run of both sides starts with the
#        kernel's caches dropped.  Also printed: the index's size against the blob's, (from
#        regfs.log) how a cold run's time splits into download and indexing, and the same find
#        over the tree extracted on the local disk and through fusefloor.  B6 alone, --runs 3:
#        2 minutes, 4 when the machine is busy (making and pushing the layer: 20-50 s of them)
# cold: regfs gets a fresh mount and an empty cache before each run (scripts/bench/ctl.sh fresh);
# everyone gets the kernel caches dropped, then the peer's program is read back in (--version)
# so that only the registry's data is cold.  regfs and peer runs alternate, so a machine busy
# with something else slows both alike; medians, each including the 2-3 ms of starting bash.  reqs = requests the registry (or, with
# --latency, the proxy) logged for one run, median over the runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_LIB="$ROOT/scripts/bench"
CTL="$BENCH_LIB/ctl.sh"

OUTPUT=bench-results.txt
RUNS=5
LATENCY=
ONLY=
HUGE=
BENCH_TTL=30
BIG_MIB=256
ROOTFS_MIB=230
LEGACY=
BUILD=1
KEEP=
B2P_MS=20

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
	case $1 in
	-o | --output) OUTPUT=${2:?}; shift ;;
	--runs) RUNS=${2:?}; shift ;;
	--latency) LATENCY=${2:?}; shift ;;
	--only) ONLY=,${2:?},; shift ;;
	--huge) HUGE=1 ;;
	--big-mib) BIG_MIB=${2:?}; shift ;;
	--rootfs-mib) ROOTFS_MIB=${2:?}; shift ;;
	--ttl) BENCH_TTL=${2:?}; shift ;;
	--legacy) LEGACY=1 ;;
	--no-build) BUILD= ;;
	--keep) KEEP=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ -n $LATENCY ]] && B2P_MS=$LATENCY
OUTPUT=$(realpath -m -- "$OUTPUT")

log() { printf 'bench: %s\n' "$*" >&2; }
want() { [[ -z $ONLY || $ONLY == *",$1,"* ]]; }

# ---------------------------------------------------------------- set up

"$ROOT/scripts/deps.sh" >&2
: "${REGFS_BIN:=$ROOT/build-bench/regfs}"
if [[ -n $BUILD ]]; then
	log "building $REGFS_BIN (Release)"
	cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$ROOT/build-bench" -j2 --target regfs >/dev/null
fi
[[ -x $REGFS_BIN ]] || { echo "bench: no regfs binary at $REGFS_BIN" >&2; exit 1; }
# the source the binary was built from (the tree may change while the benchmark runs)
# (or what REGFS_REV says, for a binary built elsewhere)
: "${REGFS_REV:=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')}"
export REGFS_BIN REGFS_SRC="$ROOT"
# shellcheck source=../tests/lib/registry.bash
source "$ROOT/tests/lib/registry.bash"
if ! reason=$(regfs_prereqs); then
	echo "bench: cannot run here: $reason" >&2
	exit 1
fi

# HAVE_HYPERFINE and GNU_TIME: for bench/legacy.sh
HAVE_HYPERFINE=
# shellcheck disable=SC2034
command -v hyperfine >/dev/null 2>&1 && HAVE_HYPERFINE=1
GNU_TIME=
# shellcheck disable=SC2034
[[ -x /usr/bin/time ]] && /usr/bin/time -f %M true >/dev/null 2>&1 && GNU_TIME=/usr/bin/time
HAVE_DOCKER=
command -v docker >/dev/null 2>&1 && HAVE_DOCKER=1
DROP_CACHES=no
if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then DROP_CACHES=yes; fi

W=$(mktemp -d "${TMPDIR:-/tmp}/regfs-bench.XXXXXX")
export TESTDIR="$W/regfs" BENCH_MNT="$W/mnt" BENCH_TTL
export DOCKER_CONFIG="$W/docker-config"
mkdir -p "$TESTDIR" "$DOCKER_CONFIG" "$W/fail" "$W/floor-mnt"
FLOOR_MNT="$W/floor-mnt"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n ${BENCH_MNT:-} ]]; then
		"$CTL" umount >/dev/null 2>&1 || fusermount3 -uz "$BENCH_MNT" 2>/dev/null || true
	fi
	fusermount3 -uz "$FLOOR_MNT" 2>/dev/null || true
	proxy_stop "$W/proxy" 2>/dev/null || true
	proxy_stop "$W/proxy-b2p" 2>/dev/null || true
	proxy_stop "$W/proxy-huge" 2>/dev/null || true
	registry_stop "$W/registry" 2>/dev/null || true
	if [[ -n $KEEP ]]; then
		log "work directory kept: $W"
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

registry_start "$W/registry" >&2
REG=$REGISTRY
REGLOG="$W/registry/registry.log"
log "registry on $REG; pushing the fixtures and the bench images"
python3 "$ROOT/tests/lib/fixtures.py" --registry "$REG" --set seed --summary "$W/fixtures.json"
# the images of the rows asked for (all of them for --legacy)
gen_rows=${ONLY#,}
gen_rows=${gen_rows%,}
[[ -z $LEGACY ]] || gen_rows=
gen_rootfs=()
want B6 && gen_rootfs=(--rootfs-mib "$ROOTFS_MIB" --rootfs-blob "$W/rootfs.tar.gz")
python3 "$BENCH_LIB/gen.py" --registry "$REG" --summary "$W/gen.json" --big-mib "$BIG_MIB" \
	--huge-tags 1 --rows "$gen_rows" "${gen_rootfs[@]}"
G="$W/gen.json"

# EP: where everyone talks to (the registry, or the proxy in front of it with --latency);
# COUNT_LOG: the log whose lines are the requests.  ctl.sh mounts regfs on $REGISTRY.
EP=$REG
COUNT_LOG=$REGLOG
if [[ -n $LATENCY ]]; then
	proxy_start "$W/proxy" --delay-ms "$LATENCY" --page-size 0 >&2
	EP=$PROXY
	COUNT_LOG="$W/proxy/proxy.log"
fi
export REGISTRY=$EP
M="$BENCH_MNT/$EP"
U="http://$EP/v2"

# the floor for B4 warm
# shellcheck disable=SC2046 # pkg-config's flags are words
cc -O2 -o "$W/fusefloor" "$BENCH_LIB/fusefloor.c" $(pkg-config --cflags --libs fuse3)

# ---------------------------------------------------------------- measuring

ROWS="$W/rows.tsv"
: >"$ROWS"

# count_lines FILE — requests logged in FILE so far (the registry's log has other lines too)
count_lines() {
	if [[ $1 == "$REGLOG" ]]; then registry_requests "$W/registry"; else wc -l <"$1"; fi
}

# time_raw CMD — nanoseconds `bash -c CMD` took.  Starting bash (2-3 ms idle) is not taken off:
# on a busy machine a baseline measured once is too noisy to subtract.
time_raw() {
	local t0 t1
	t0=$(date +%s%N)
	bash -c "$1" >/dev/null 2>>"$W/fail/stderr" || return 1
	t1=$(date +%s%N)
	echo $((t1 - t0))
}

# one_run PREP CMD LOG — run PREP (untimed), then CMD (timed); prints "ns requests"
one_run() {
	local prep=$1 cmd=$2 countlog=$3 r0 r1 t
	[[ -z $prep ]] || bash -c "$prep" >/dev/null 2>>"$W/fail/stderr"
	r0=$(count_lines "$countlog")
	t=$(time_raw "$cmd") || return 1
	sleep 0.05 # the registry logs after it answers
	r1=$(count_lines "$countlog")
	echo "$t $((r1 - r0))"
}

# stats FILE — "median_s min_s n median_requests" of the "ns requests" lines in FILE
stats() {
	python3 - "$1" <<'EOF'
import statistics, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    print("-\t-\t0\t-")
else:
    ns = [r[0] for r in rows]
    print("%.6f\t%.6f\t%d\t%d" % (statistics.median(ns) / 1e9, min(ns) / 1e9, len(ns),
                                   statistics.median_low([r[1] for r in rows])))
EOF
}

# pair ID TITLE TARGET RUNS  REGFS_LABEL REGFS_PREP REGFS_CMD  PEER_LABEL PEER_PREP PEER_CMD [KIND]
# Time both sides RUNS times, alternating, and record the row.  KIND "speedup": the peer is
# the slow variant and the row shows peer / regfs.  COUNT_LOG_PAIR overrides the request log;
# PAIR_NOTE is added to the row's note.
pair() {
	local id=$1 title=$2 target=$3 runs=$4 rl=$5 rp=$6 rc=$7 pl=$8 pp=$9 pc=${10} kind=${11:-ratio}
	local countlog=${COUNT_LOG_PAIR:-$COUNT_LOG} i out note=${PAIR_NOTE:-} key=${1//[^A-Za-z0-9]/_}
	: >"$W/$key.regfs"
	: >"$W/$key.peer"
	log "$id: $rl  vs  $pl ($runs runs each)"
	for ((i = 0; i < runs; i++)); do
		if out=$(one_run "$rp" "$rc" "$countlog"); then echo "$out" >>"$W/$key.regfs"; else
			note="regfs run failed: $(tail -n 2 "$W/fail/stderr" | tr '\n' ' ')"; fi
		if out=$(one_run "$pp" "$pc" "$countlog"); then echo "$out" >>"$W/$key.peer"; else
			note="peer run failed: $(tail -n 2 "$W/fail/stderr" | tr '\n' ' ')"; fi
	done
	[[ -z $note ]] || log "  $note"
	local rs ps
	rs=$(stats "$W/$key.regfs")
	ps=$(stats "$W/$key.peer")
	# stats prints tab-separated fields
	printf '%s\t' "$id" "$title" "$target" "$kind" "$rl" "$rs" "$pl" "$ps" >>"$ROWS"
	printf '%s\n' "$note" >>"$ROWS"
}

# peer_cold PROGRAM — the prepare step of a cold peer run: caches dropped, the program read back
peer_cold() { echo "$CTL drop; $1 --version"; }

# ---------------------------------------------------------------- rows

T0=$SECONDS
FRESH="$CTL fresh"

if want B1 && [[ -n $HAVE_DOCKER ]]; then
	t="$M/bench/multiarch/latest"
	pair B1 "a 5-platform list: its manifest, 5 manifests, 5 configs" "<= 0.5" "$RUNS" \
		"cat manifest.json */manifest.json */config.json" "$FRESH" \
		"cat $t/manifest.json $t/*/manifest.json $t/*/config.json" \
		"docker manifest inspect -v" "$(peer_cold docker)" \
		"docker manifest inspect --insecure -v $EP/bench/multiarch:latest"
fi

if want B2; then
	cmd="for r in \$(seq -f 'r%02g' 0 49); do for t in v1 v2 v3 v4; do
		skopeo inspect --tls-verify=false --raw docker://$EP/scale/\$r:\$t; done; done"
	pair B2 "200 manifests: 50 repositories x 4 tags" "<= 0.1" $((RUNS < 3 ? RUNS : 3)) \
		"cat scale/*/v*/manifest.json" "$FRESH" "cat $M/scale/*/v*/manifest.json" \
		"skopeo inspect --raw, 200 times" "$(peer_cold skopeo)" "$cmd"
fi

if want B2p; then
	# through a proxy adding B2P_MS per request (the --latency one when there is one)
	if [[ -n $LATENCY ]]; then
		ep=$EP
	else
		proxy_start "$W/proxy-b2p" --delay-ms "$B2P_MS" --page-size 0 >&2
		ep=$PROXY
	fi
	for r in $(seq -f 'r%02g' 0 24); do for t in v1 v2 v3 v4; do
		echo "$BENCH_MNT/$ep/scale/$r/$t/manifest.json"; done; done >"$W/b2p.paths"
	fresh="REGISTRY=$ep $CTL fresh"
	# the floor: the same xargs over 100 local files, so no filesystem's time at all.  On 2
	# cores, starting 100 cats is most of -P16's time, and caps the speed-up at -P1 / floor.
	for i in $(seq 100); do echo "$W/b2p.paths"; done >"$W/b2p.local"
	floor16=$(for i in 1 2 3; do time_raw "xargs -P16 -n1 cat <$W/b2p.local"; done | sort -n | sed -n 2p)
	floor1=$(for i in 1 2 3; do time_raw "xargs -P1 -n1 cat <$W/b2p.local"; done | sort -n | sed -n 2p)
	PAIR_NOTE="floor (the same over 100 local files, median of 3): -P16 $((floor16 / 1000000)) ms, -P1 $((floor1 / 1000000)) ms" \
	COUNT_LOG_PAIR=$([[ -n $LATENCY ]] && echo "$COUNT_LOG" || echo "$W/proxy-b2p/proxy.log") \
		pair "B2'" "100 manifests of 25 repositories, +${B2P_MS} ms per request" ">= 8" "$RUNS" \
		"xargs -P16 -n1 cat" "$fresh" "xargs -P16 -n1 cat <$W/b2p.paths" \
		"xargs -P1 -n1 cat" "$fresh" "xargs -P1 -n1 cat <$W/b2p.paths" speedup
	"$CTL" umount
	[[ -n $LATENCY ]] || proxy_stop "$W/proxy-b2p"
fi

if want B3 && [[ -n $HAVE_DOCKER ]]; then
	rcmd="t=p\$(date +%s%N); d=$M/bench/published/\$t; mkdir -p \$d &&
	for a in amd64 arm64v8 mips ppc64le s390x; do ln -s ../../../onap/py-app-\$a/latest \$d/\$a; done &&
	touch \$d/.commit"
	pcmd="t=p\$(date +%s%N); docker manifest create --insecure $EP/bench/published:\$t"
	for a in amd64 arm64v8 mips ppc64le s390x; do pcmd+=" $EP/onap/py-app-$a:latest"; done
	pcmd+=" >/dev/null && docker manifest push --purge --insecure $EP/bench/published:\$t"
	pair B3 "publish a 5-platform list from 5 tags" "<= 0.65" "$RUNS" \
		"mkdir, 5 x ln -s, touch .commit" "$FRESH" "$rcmd" \
		"docker manifest create + push" "$(peer_cold docker)" "$pcmd"
fi

if want B4; then
	big_digest=$(jq -r '.refs["bench/big:latest"].layers[0].digest' "$G")
	big_name=$(jq -r '.refs["bench/big:latest"].layers[0].name' "$G")
	big_path="$M/bench/big/latest/layers/$big_name"
	cached="$TESTDIR/cache/blobs/sha256/${big_digest#sha256:}"
	pair "B4 cold" "a ${BIG_MIB} MiB layer, nothing cached" "<= 2.0" "$RUNS" \
		"cat layers/00-… >/dev/null" "$FRESH" "cat $big_path >/dev/null" \
		"curl -o /dev/null" "$(peer_cold curl)" "curl -fsS -o /dev/null $U/bench/big/blobs/$big_digest"
	# now in regfs' cache: a fresh mount reads it from there, the floor reads the same file
	floor_prep="fusermount3 -u $FLOOR_MNT 2>/dev/null; $W/fusefloor $(dirname "$cached") $FLOOR_MNT"
	pair "B4 warm" "the same, in the cache, fresh mount" "<= 1.43" "$RUNS" \
		"cat layers/00-… >/dev/null" "$CTL remount" "cat $big_path >/dev/null" \
		"FUSE floor: cat via fusefloor" "$floor_prep" "cat $FLOOR_MNT/$(basename "$cached") >/dev/null"
	fusermount3 -u "$FLOOR_MNT" 2>/dev/null || true
	"$CTL" mount
	cat "$big_path" >/dev/null
	pair "B4 hot" "the same, read again on the same mount" "<= 2.0" "$RUNS" \
		"cat layers/00-… >/dev/null" "" "cat $big_path >/dev/null" \
		"local cat of the cached file" "" "cat $cached >/dev/null"
	"$CTL" umount
fi

if want B5; then
	cmd="u='/v2/bench/tags2500/tags/list'; while [ -n \"\$u\" ]; do
		u=\$(curl -fsS -D - -o /dev/null \"http://$EP\$u\" | tr -d '\r' | sed -n 's/^[Ll]ink: *<\([^>]*\)>.*/\1/p'); done"
	pair B5 "ls of a repository with 2,500 tags" "<= 1.5" "$RUNS" \
		"ls REPO" "$FRESH" "ls $M/bench/tags2500" \
		"curl tags/list, every page" "$(peer_cold curl)" "$cmd"
	"$CTL" umount
fi

if [[ -n $HUGE ]] && want B5; then
	# 200,000 tags cost minutes to push: the proxy lists made-up ones after bench/huge's own
	proxy_start "$W/proxy-huge" --delay-ms "${LATENCY:-0}" --page-size 10000 \
		--extra-tags bench/huge=199999 >&2
	ep=$PROXY
	cmd="u='/v2/bench/huge/tags/list?n=10000'; while [ -n \"\$u\" ]; do
		u=\$(curl -fsS -D - -o /dev/null \"http://$ep\$u\" | tr -d '\r' | sed -n 's/^[Ll]ink: *<\([^>]*\)>.*/\1/p'); done"
	COUNT_LOG_PAIR="$W/proxy-huge/proxy.log" \
		pair "B5 huge" "ls of 200,000 tags (pages of 10,000)" "<= 2.0" $((RUNS < 3 ? RUNS : 3)) \
		"ls REPO" "REGISTRY=$ep $CTL fresh" "ls $BENCH_MNT/$ep/bench/huge" \
		"curl tags/list, every page" "$(peer_cold curl)" "$cmd"
	"$CTL" umount
	proxy_stop "$W/proxy-huge"
fi
if want B6; then
	rf() { jq -r ".rootfs.$1" "$G"; }
	rdigest=$(rf digest)
	rhex=${rdigest#sha256:}
	rblob=$(rf blob)
	rdeep=$(rf deep_file.path)
	rmb=$(awk -v s="$(rf size)" 'BEGIN { printf "%.0f", s / 1e6 }')
	rD="$M/bench/rootfs/latest"
	ridx="$TESTDIR/cache/indexes/sha256/$rhex"
	# a cold peer: caches dropped, tar and gzip (tar -z runs it) read back in
	tar_cold="$CTL drop; tar --version; gzip --version"
	count_find="set -o pipefail; find $rD/rootfs | wc -l"
	count_tar="set -o pipefail; tar -tzf $rblob | wc -l"
	# the counts once (find also prints rootfs itself), and the log's lines from here on
	"$CTL" fresh
	n_find=$(bash -c "$count_find" 2>>"$W/fail/stderr") || n_find="failed"
	n_tar=$(bash -c "$count_tar")
	# and that the cat row's file reads back as it is in the tar
	deep_ok="NO, its bytes differ"
	[[ $(sha256sum <"$rD/rootfs/$rdeep" 2>>"$W/fail/stderr" | cut -d' ' -f1) == "$(rf deep_file.sha256)" ]] &&
		deep_ok="yes"
	log_from=$(($(wc -l <"$TESTDIR/regfs.log") + 1))
	PAIR_NOTE="find printed $n_find lines, tar $n_tar ($(rf entries) entries and rootfs/ itself), blob $rmb MB" \
		pair "B6 cold" "find rootfs | wc -l, a $rmb MB gzip layer, nothing cached" "<= 2.0" "$RUNS" \
		"find rootfs | wc -l" "$FRESH" "$count_find" \
		"tar -tzf BLOB | wc -l" "$tar_cold" "$count_tar"
	# where a cold run's time went: the download and indexing lines regfs logs (info level,
	# layers of 16 MiB or more), medians over the runs
	b6_phases=$(tail -n "+$log_from" "$TESTDIR/regfs.log" | python3 -c '
import re, statistics, sys
hexd = sys.argv[1]
dl, ix = [], []
for line in sys.stdin:
    if hexd not in line:
        continue
    m = re.search(r"download \S+ from \S+: done, .* in ([0-9.]+) s", line)
    if m and "index:" not in line:
        dl.append(float(m.group(1)))
    m = re.search(r"indexed, ([0-9]+) entries, ([0-9]+) checkpoints?, in ([0-9.]+) s", line)
    if m:
        ix.append(float(m.group(3)))
        n = (m.group(1), m.group(2))
med = lambda v: "%.2f s" % statistics.median(v) if v else "?"
print("regfs.log: download %s, index %s (medians of %d and %d runs)%s"
      % (med(dl), med(ix), len(dl), len(ix),
         "; %s entries, %s checkpoints" % n if ix else ""))
' "$rhex")
	# that row's last regfs run left the blob and its index in the cache; one untimed walk on a
	# fresh mount so that the blob's seal is written before the timed ones
	"$CTL" remount
	bash -c "$count_find" >/dev/null 2>>"$W/fail/stderr" || true
	isize=$(stat -c %s "$ridx" 2>/dev/null || echo 0)
	b6_share=$(awk -v i="$isize" -v b="$(rf size)" -v t="$(rf tar_size)" -v n="$(rf entries)" \
		'BEGIN { printf "index %d bytes on disk = %.2f%% of the %d-byte blob (%.2f%% of the tar; %.0f bytes an entry)", i, 100 * i / b, b, 100 * i / t, i / n }')
	PAIR_NOTE="$b6_share" \
		pair "B6 indexed" "the same find, fresh mount, blob and index cached" "<= 0.2" "$RUNS" \
		"find rootfs | wc -l" "$CTL remount; $CTL drop" "$count_find" \
		"tar -tzf BLOB | wc -l" "$tar_cold" "$count_tar"
	PAIR_NOTE="$rdeep, $(rf deep_file.size) bytes, the tar's last small file, content checked: $deep_ok; a read decompresses at most one 4 MiB checkpoint span (tests/unit/test_layer_index.c, big_gzip, checks layer_index_decompressed)" \
		pair "B6 cat" "cat of one small file near the layer's end, fresh mount, blob and index cached" "< 1 s" "$RUNS" \
		"cat rootfs/<deep file>" "$CTL remount; $CTL drop" "cat $rD/rootfs/$rdeep" \
		"tar -xzOf BLOB <that member>" "$tar_cold" "tar --occurrence=1 -xzOf $rblob $rdeep"
	"$CTL" umount
	# what the walk itself costs without regfs: the same find over the tree extracted on the
	# local disk (caches dropped; then again, warm), and through fusefloor (a libfuse
	# passthrough of that warm tree, fresh mount), medians of 3
	tree="$W/rootfs-tree"
	mkdir -p "$tree"
	tar -xzf "$rblob" -C "$tree"
	count_local="set -o pipefail; find $tree | wc -l"
	median3() { sort -n | sed -n 2p | awk '{ printf "%.0f", $1 / 1e6 }'; }
	local_cold=$(for i in 1 2 3; do "$CTL" drop; time_raw "$count_local"; done | median3)
	local_warm=$(for i in 1 2 3; do time_raw "$count_local"; done | median3)
	floor_find=$(for i in 1 2 3; do
		"$W/fusefloor" "$tree" "$FLOOR_MNT"
		time_raw "set -o pipefail; find $FLOOR_MNT | wc -l"
		fusermount3 -u "$FLOOR_MNT"
	done | median3)
	rm -rf "$tree"
	b6_floor="find over the same tree on the local disk: $local_cold ms (caches dropped), $local_warm ms (warm); through scripts/bench/fusefloor.c: $floor_find ms"
fi
TOOK=$((SECONDS - T0))

if [[ -n $LEGACY ]]; then
	export REGISTRY=$REG
	M="$BENCH_MNT/$REG"
	U="http://$REG/v2"
	reqs() { registry_requests "$W/registry"; }
	# shellcheck source=bench/legacy.sh
	source "$BENCH_LIB/legacy.sh"
fi

# ---------------------------------------------------------------- report

{
	echo "regfs benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -n 1))," \
		"$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "regfs $REGFS_REV ($REGFS_BIN, ttl=$BENCH_TTL)," \
		"$(skopeo --version)," \
		"${HAVE_DOCKER:+docker CLI $(docker --version 2>/dev/null | awk '{ print $3 }' | tr -d ,), }$(curl --version | head -n 1 | cut -d' ' -f1-2)"
	echo "registry: docker-registry $(docker-registry --version 2>/dev/null | awk '{ print $NF }') on loopback (plain HTTP)" \
		"${LATENCY:+through a proxy adding $LATENCY ms per request}"
	echo "runs per side: $RUNS (B2: at most 3), alternating; kernel caches dropped for cold runs: $DROP_CACHES; B rows took $TOOK s"
	echo
	python3 "$BENCH_LIB/report.py" "$ROWS"
	if want B6; then
		echo
		echo "  B6 $b6_share"
		echo "  B6 cold, $b6_phases"
		echo "  B6 $b6_floor"
	fi
	if [[ -n $LEGACY ]]; then
		echo
		echo "earlier scenarios (ratio there = anchor mean / regfs mean: > 1 means regfs is faster):"
		python3 "$BENCH_LIB/legacy_report.py" "$RESULTS"
	fi
	echo
	echo "warnings and errors in regfs.log:"
	grep -E 'regfs (error|warning):' "$TESTDIR/regfs.log" | sed -E 's/^[^ ]+ //' | sort | uniq -c | sort -rn | head -n 15 || echo "  none"
} | tee "$OUTPUT"
log "table written to $OUTPUT"
