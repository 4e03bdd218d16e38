# tests/lib/suite.bash — shared setup and assertions for tests/integration/*.bats.
#
# Each .bats file does:
#   load ../lib/suite
#   setup_file()    { suite_setup; }          # registry + core fixtures + regfs mount
#   teardown_file() { suite_teardown; }       # always runs, even when setup_file failed
#   setup()         { regfs_skip_if_needed; }
#   teardown()      { suite_teardown_test; }  # on failure: regfs's stderr and log
#
# After suite_setup these are exported: TESTDIR (bats' per-file tmpdir), REGISTRY (HOST:PORT),
# REGISTRY_DIR, SUMMARY (fixtures.py's summary JSON), MNT (mount point) and R ($MNT/$REGISTRY).
# Every access to the mount goes through `fs` (a bounded `timeout`), so a hung regfs fails the
# test instead of hanging the suite.

# shellcheck source-path=SCRIPTDIR source=registry.bash
source "$(dirname "${BASH_SOURCE[0]}")/registry.bash"

# fs COMMAND... — run COMMAND with a time limit (FS_TIMEOUT seconds, default 30).
fs() {
	timeout -k 5 "${FS_TIMEOUT:-30}" "$@"
}

# suite_start_registry — registry with the core fixtures; exports TESTDIR, REGISTRY, SUMMARY.
suite_start_registry() {
	export TESTDIR=${TESTDIR:-$BATS_FILE_TMPDIR}
	require_fuse
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	registry_start "$TESTDIR/reg"
	export SUMMARY="$TESTDIR/summary.json"
	python3 "$REGFS_LIB_DIR/fixtures.py" --registry "$REGISTRY" --set core --summary "$SUMMARY"
	# where the registry's log stood after the fixtures: tests read what regfs sent after it
	sleep 0.2
	wc -l <"$REGISTRY_DIR/registry.log" >"$TESTDIR/registry.log.fixtures-end"
}

# suite_mount [OPTION...] — mount regfs at $TESTDIR/mnt (options as for regfs_mount).
suite_mount() {
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	export MNT="$TESTDIR/mnt"
	export R="$MNT/$REGISTRY"
	regfs_mount "$MNT" "$@"
}

# suite_setup [OPTION...] — suite_start_registry then suite_mount.
suite_setup() {
	suite_start_registry
	suite_mount "$@"
}

# suite_teardown — unmount, stop proxies and the registry; tolerates a half-done setup.
suite_teardown() {
	local d
	[[ -n ${TESTDIR:-} ]] || return 0
	if [[ -n ${MNT:-} ]]; then
		regfs_unmount "$MNT" || true
	fi
	for d in "$TESTDIR"/proxy*/; do
		[[ -d $d ]] && proxy_stop "$d"
	done
	registry_stop "$TESTDIR/reg" || true
	return 0
}

# registry_log_since_fixtures — the registry's log lines written after the fixtures were pushed.
registry_log_since_fixtures() {
	tail -n +"$(($(<"$TESTDIR/registry.log.fixtures-end") + 1))" "$REGISTRY_DIR/registry.log"
}

# suite_teardown_test — for bats teardown(): when the test failed, say whether regfs still runs
# and show the end of its stderr (where sanitizer reports land) and of its log.  A dead regfs's
# report is shown in full once; later failures only say that it is gone.
suite_teardown_test() {
	local dead="$TESTDIR/regfs.death-reported"
	[[ -z ${BATS_TEST_COMPLETED:-} && -z ${BATS_TEST_SKIPPED:-} ]] || return 0
	[[ -z ${REGFS_SKIP_REASON:-} && -n ${MNT:-} && -n ${TESTDIR:-} ]] || return 0
	if _pid_alive "$(regfs_pidfile "$MNT")"; then
		echo "--- regfs is running; end of its stderr and log:"
		tail -n 15 "$TESTDIR/regfs.stderr" 2>/dev/null
		tail -n 25 "$TESTDIR/regfs.log" 2>/dev/null
	elif [[ -e $dead ]]; then
		echo "--- regfs is not running (it died before an earlier failure: see there)"
	else
		: >"$dead"
		echo "--- regfs is NOT running any more; its stderr:"
		# a sanitizer report starts with its first line; thread-creation stacks follow
		if grep -qE '^==[0-9]+==ERROR|runtime error:' "$TESTDIR/regfs.stderr" 2>/dev/null; then
			grep -m1 -B2 -A45 -E '^==[0-9]+==ERROR|runtime error:' "$TESTDIR/regfs.stderr"
			grep -m1 '^SUMMARY:' "$TESTDIR/regfs.stderr"
		else
			tail -n 60 "$TESTDIR/regfs.stderr" 2>/dev/null
		fi
		echo "--- end of its log:"
		tail -n 25 "$TESTDIR/regfs.log" 2>/dev/null
	fi
	return 0
} >&2

# sum JQ-FILTER [jq args...] — query the fixtures summary (raw output).
sum() {
	local filter=$1
	shift
	jq -r "$@" "$filter" "$SUMMARY"
}

# lsdir DIR — the entries of DIR (with dot files), one per line, in C order.
lsdir() {
	local out
	out=$(fs ls -1A -- "$1") || return
	[[ -z $out ]] || printf '%s\n' "$out" | LC_ALL=C sort
}

# expected_children PREFIX — what regfs should list under $R/PREFIX according to the summary:
# the next path component of every repository below PREFIX, plus PREFIX's tags if PREFIX is a
# repository.  PREFIX "" is the registry level.
expected_children() {
	python3 - "$SUMMARY" "$1" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
p = sys.argv[2]
out = set()
for r in s["repositories"]:
    if p == "":
        out.add(r.split("/")[0])
    elif r.startswith(p + "/"):
        out.add(r[len(p) + 1:].split("/")[0])
if p:
    out.update(s["tags"].get(p, []))
print("\n".join(sorted(out)))
PYEOF
}

# assert_lines EXPECTED ACTUAL [WHAT] — equal text, or fail printing a diff.
assert_lines() {
	if [[ $1 != "$2" ]]; then
		echo "mismatch${3:+ in $3}:" >&2
		diff -u <(printf '%s\n' "$1") <(printf '%s\n' "$2") | sed 's/^/  /' >&2 || true
		return 1
	fi
}

# assert_fails_with MESSAGE COMMAND... — COMMAND must fail and print MESSAGE (e.g. an strerror).
assert_fails_with() {
	local msg=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if ((rc == 0)); then
		echo "expected failure with '$msg', but '$*' succeeded: $out" >&2
		return 1
	fi
	if ((rc == 124 || rc == 137)); then
		echo "'$*' timed out" >&2
		return 1
	fi
	if [[ $out != *"$msg"* ]]; then
		echo "expected '$msg' from '$*', got (rc=$rc): $out" >&2
		return 1
	fi
}

# sha256_of FILE — "sha256:<hex>" of FILE's bytes (fails when FILE cannot be read).
sha256_of() {
	local out
	out=$(fs sha256sum -- "$1") || return
	echo "sha256:${out%% *}"
}

# fetch_blob REPO DIGEST OUT — download a blob straight from the registry.
fetch_blob() {
	curl -fsS -o "$3" "http://$REGISTRY/v2/$1/blobs/$2"
}

# fetch_manifest REPO REF OUT — download a manifest's exact bytes straight from the registry.
fetch_manifest() {
	curl -fsS -o "$3" \
		-H 'Accept: application/vnd.oci.image.index.v1+json' \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://$REGISTRY/v2/$1/manifests/$2"
}

# xattr PATH NAME — the value of extended attribute NAME on PATH.
xattr() {
	fs getfattr --only-values --absolute-names -n "$2" -- "$1"
}

# split_ref REPO:TAG — print "REPO TAG".
split_ref() {
	echo "${1%:*} ${1##*:}"
}
