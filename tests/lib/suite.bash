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

# slow_layer_proxy_start — after suite_start_registry: tests/lib/paging_proxy.py in front of the
# registry, sending the 3 MiB layer of test/big at 2 KB/s (about 25 minutes: a download that
# does not end within a test) and everything else as it comes.  Exports BIG (that layer's
# digest), BIG_NAME (its name under layers/) and SLOW (the proxy's HOST:PORT).
slow_layer_proxy_start() {
	BIG=$(sum '.refs["test/big:latest"].layers[0].digest')
	BIG_NAME=$(sum '.refs["test/big:latest"].layers[0].name')
	export BIG BIG_NAME
	proxy_start "$TESTDIR/proxy-slow" --blob-rate 2000 --slow-blob "$BIG"
	export SLOW=$PROXY
}

# regfs_instrumented — succeed when regfs runs under a sanitizer (scripts/test.sh --sanitize or
# --tsan), whose allocators keep freed memory (ASan's quarantine alone is 256 MiB): a bound on
# the daemon's RSS says nothing there, and tests leave it out.
regfs_instrumented() {
	[[ -n ${ASAN_OPTIONS:-}${TSAN_OPTIONS:-} ]]
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

# logs_on_failure FILE... — for a bats teardown(): when the test failed, the end of each FILE
# (regfs' logs, a token server's, a fake's), so the failure explains itself.
logs_on_failure() {
	local f
	[[ -z ${BATS_TEST_COMPLETED:-} && -z ${BATS_TEST_SKIPPED:-} && -z ${REGFS_SKIP_REASON:-} ]] ||
		return 0
	for f in "$@"; do
		echo "--- end of $f" >&2
		tail -n 12 "$f" >&2 2>/dev/null || true
	done
}

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

# --- drafts and commits (tests/integration/drafts.bats, commit.bats) ---------------------------

# registry_log_mark [REGDIR] — how many lines REGDIR/registry.log (default $REGISTRY_DIR) has
# now; give it to regfs_requests_after to see what came after.
registry_log_mark() {
	wc -l <"${1:-$REGISTRY_DIR}/registry.log"
}

# regfs_requests_after MARK [REGDIR] — the requests regfs sent to the registry in REGDIR (default
# $REGISTRY_DIR) after line MARK of its log, one "METHOD PATH STATUS" a line, in order.  Only
# regfs' own (its User-Agent), so curl and skopeo checks in between do not count.  The registry
# logs a request after answering it, so this first waits (at most 5 s) until the log has stopped
# growing for 0.3 s.
regfs_requests_after() {
	local log="${2:-$REGISTRY_DIR}/registry.log" last=-1 now stable=0 i
	for ((i = 0; i < 50 && stable < 3; i++)); do
		sleep 0.1
		now=$(stat -c %s "$log")
		if [[ $now == "$last" ]]; then
			stable=$((stable + 1))
		else
			stable=0
		fi
		last=$now
	done
	tail -n +"$(($1 + 1))" "$log" |
		sed -nE 's/^.*"(GET|HEAD|PUT|POST|PATCH|DELETE) ([^ "]*) HTTP\/[0-9.]+" ([0-9]+) .*"regfs\/[^"]*"$/\1 \2 \3/p'
}

# assert_no_writes REQUESTS — fail when REQUESTS (from regfs_requests_after) hold a write.
assert_no_writes() {
	local w
	w=$(grep -E '^(PUT|POST|PATCH|DELETE) ' <<<"$1" || true)
	[[ -z $w ]] || {
		echo "regfs sent writes to the registry:"
		echo "$w"
		return 1
	} >&2
}

# manifest_status REPO REF [HOST] — the HTTP status (200, 404, ...) of the registry's manifest
# REPO:REF (default host $REGISTRY), asked straight with curl.
manifest_status() {
	curl -sS -o /dev/null -w '%{http_code}' \
		-H 'Accept: application/vnd.oci.image.index.v1+json' \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://${3:-$REGISTRY}/v2/$1/manifests/$2"
}

# draft_snapshot DIR — what the user put in draft DIR, one line each, sorted: every entry with
# its type and link target, then the content of .mediatype and each annotation.  The generated
# files (.preview.json, .digest, .status) are left out.
draft_snapshot() {
	local dir=$1 entries path
	entries=$(fs find "$dir" -mindepth 1 -printf '%P %y %l\n') || return
	LC_ALL=C sort <<<"$entries" | grep -vE '^\.(preview\.json|digest|status) ' || true
	while IFS= read -r path; do
		[[ -n $path ]] || continue
		printf '%s: %s\n' "$path" "$(fs cat -- "$dir/$path")"
	done < <(LC_ALL=C sort <<<"$entries" | awk '$2 == "f" && $1 !~ /^\.(preview\.json|digest|status)$/ { print $1 }')
}

# expected_list docker|oci SPEC... — the exact bytes regfs' list builder makes for these children
# (3-space indent, docker's key order, no trailing newline).  SPEC is a summary key, "REPO:TAG"
# (.refs) or "REPO@DIGEST" (.manifests), optionally "|OS/ARCH[/VARIANT]" for a link named in
# platform form (it replaces os, architecture and variant; os.version and os.features stay).
expected_list() {
	python3 - "$SUMMARY" "$@" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
kind = sys.argv[2]
mt = {"docker": "application/vnd.docker.distribution.manifest.list.v2+json",
      "oci": "application/vnd.oci.image.index.v1+json"}[kind]
out = []
for spec in sys.argv[3:]:
    ref, _, named = spec.partition("|")
    m = s["refs"].get(ref) or s["manifests"][ref]
    p = dict(m["platform"])
    if named:
        for k in ("os", "architecture", "variant"):
            p.pop(k, None)
        parts = named.split("/")
        p.update({"os": parts[0], "architecture": parts[1]})
        if len(parts) > 2:
            p["variant"] = parts[2]
    plat = {k: p[k] for k in ("architecture", "os", "os.version", "os.features", "variant") if k in p}
    out.append({"mediaType": m["media_type"], "digest": m["digest"], "size": m["size"],
                "platform": plat})
sys.stdout.write(json.dumps({"schemaVersion": 2, "mediaType": mt, "manifests": out}, indent=3))
PYEOF
}

# commit_list DIR LINK=TARGET... — make draft DIR (mkdir -p) with these links, made in this
# order (the list's order), and commit it
commit_list() {
	local dir=$1 l
	shift
	fs mkdir -p "$dir" || return
	for l in "$@"; do
		fs ln -s "${l#*=}" "$dir/${l%%=*}" || return
	done
	fs touch "$dir/.commit"
}

# status_line DIR NAME — the line of DIR/.status about link NAME ("  NAME -> ...").
status_line() {
	local out
	out=$(fs cat "$1/.status") || return
	grep -F -- "  $2 -> " <<<"$out"
}

# scratch_users_add NAME USER GROUP [USERADD-ARG...] — (root) for a test that runs commands as
# another user: a TESTDIR under /tmp that user can reach (bats' own are 0700), then group GROUP
# and user USER (with a group of its own name), each marked in TESTDIR once added so that
# scratch_users_remove takes away exactly what was made.  Names that exist already are refused.
scratch_users_add() {
	local name=$1 user=$2 group=$3
	shift 3
	TESTDIR=$(mktemp -d "/tmp/regfs-$name.XXXXXX")
	chmod 0711 "$TESTDIR"
	export TESTDIR
	if getent passwd "$user" >/dev/null || getent group "$group" >/dev/null; then
		echo "user '$user' or group '$group' exists already" >&2
		return 1
	fi
	groupadd "$group"
	: >"$TESTDIR/group-added"
	useradd -M -d /nonexistent -s /usr/sbin/nologin -U "$@" "$user"
	: >"$TESTDIR/user-added"
}

# scratch_users_remove NAME USER GROUP — undo scratch_users_add (after suite_teardown): the user,
# its own group, GROUP, and TESTDIR, unless the test's mount point ($MNT, else $TESTDIR/mnt) is
# still mounted.
scratch_users_remove() {
	local name=$1 user=$2 group=$3 mnt=${MNT:-${TESTDIR:-}/mnt}
	[[ -n ${TESTDIR:-} && $TESTDIR == /tmp/regfs-$name.* ]] || return 0
	if [[ -e $TESTDIR/user-added ]]; then
		userdel "$user" 2>/dev/null || echo "could not remove test user '$user'" >&2
		# useradd -U made a group of the user's name; userdel removes it with the user
		! getent group "$user" >/dev/null || groupdel "$user" 2>/dev/null || true
	fi
	if [[ -e $TESTDIR/group-added ]]; then
		groupdel "$group" 2>/dev/null || echo "could not remove test group '$group'" >&2
	fi
	# never through a mount that is still there
	if _is_mounted "$(realpath -m -- "$mnt")"; then
		echo "'$mnt' is still mounted: leaving '$TESTDIR'" >&2
		return 0
	fi
	rm -rf --one-file-system -- "$TESTDIR"
}
