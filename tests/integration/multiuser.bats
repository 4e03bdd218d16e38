#!/usr/bin/env bats
# Sharing a mount (-o allow_other): every local user who can reach the mount reads what the
# mounting user's credentials read, but only the mounting user writes (makes drafts, links,
# commits), unless -o write_group= lets a group's members write too.  Both sides are checked:
# what the other user sees (Permission denied, the owner and modes stat shows) and what the
# registry receives (no write at all).  The kernel checks the modes (default_permissions); a
# user it lets past them (CAP_DAC_OVERRIDE, as root has) is refused by regfs itself.
#
# regfs is mounted by root; the test adds a local user and a group of its own (useradd,
# groupadd) and removes them in teardown_file, whatever happened.
# regfs-requires: root

load ../lib/suite

# as_other COMMAND... — COMMAND as the test user, without supplementary groups
as_other() {
	fs setpriv --reuid="$MU_UID" --regid="$MU_GID" --clear-groups -- "$@"
}

# as_member COMMAND... — COMMAND as the test user with its groups (the write group among them)
as_member() {
	fs setpriv --reuid="$MU_UID" --regid="$MU_GID" --init-groups -- "$@"
}

# as_privileged COMMAND... — COMMAND as the test user keeping CAP_DAC_OVERRIDE: the kernel
# lets it past every mode, as it lets root, so only regfs' own check stands in its way
as_privileged() {
	fs setpriv --reuid="$MU_UID" --regid="$MU_GID" --clear-groups \
		--inh-caps=+dac_override --ambient-caps=+dac_override -- "$@"
}

setup_file() {
	if ((EUID != 0)); then
		export REGFS_SKIP_REASON="adding a test user needs root"
		return 0
	fi
	export MU_USER="regfs-t-$$" MU_GROUP="regfs-tg-$$"
	scratch_users_add multiuser "$MU_USER" "$MU_GROUP" -G "$MU_GROUP"
	MU_UID=$(id -u "$MU_USER")
	MU_GID=$(id -g "$MU_USER")
	MU_GROUP_GID=$(getent group "$MU_GROUP" | cut -d: -f3)
	export MU_UID MU_GID MU_GROUP_GID
	suite_setup allow_other
}

teardown_file() {
	suite_teardown
	scratch_users_remove multiuser "${MU_USER:-}" "${MU_GROUP:-}"
}

teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# perms PATH — "OWNER GROUP OCTAL-MODE" as stat shows them
perms() {
	fs stat -c '%U %G %a' -- "$1"
}

# assert_perms PATH OCTAL-MODE [GROUP] — PATH is the mounting user's (group GROUP, default the
# mounting user's) with mode OCTAL-MODE
assert_perms() {
	local want got
	want="$(id -un) ${3:-$(id -gn)} $2"
	got=$(perms "$1") || return
	[[ $got == "$want" ]] || {
		echo "$1: '$got', want '$want'" >&2
		return 1
	}
}

# make_draft DIR — as the mounting user: draft DIR with a link, .mediatype and an annotation
make_draft() {
	fs mkdir "$1"
	fs ln -s ../../py-app-amd64/latest "$1/amd64"
	fs sh -c "echo oci > '$1/.mediatype'"
	fs mkdir "$1/.annotations"
	fs sh -c "echo mine > '$1/.annotations/org.example.owner'"
}

@test "every node is the mounting user's; directories that take writes are 0755, files 0444, a draft's own files 0644" {
	local d="$R/onap/py-app/mu-modes" layer list
	make_draft "$d"
	layer=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].name')
	list=$(sum '.refs["onap/py-app:v1"].digest')
	assert_perms "$MNT" 555
	assert_perms "$R" 755
	assert_perms "$R/onap" 755
	assert_perms "$R/onap/py-app" 755
	assert_perms "$R/onap/py-app/v1" 755
	assert_perms "$R/onap/py-app-amd64/latest" 755
	assert_perms "$R/onap/py-app/v1/manifest.json" 444
	# rm -r of a list's platform directory removes inside it before the rmdir that amends
	assert_perms "$R/onap/py-app/v1/linux-amd64" 755
	assert_perms "$R/onap/py-app/v1/linux-amd64/layers" 755
	assert_perms "$R/onap/py-app/@$list/linux-amd64" 555
	assert_perms "$R/onap/py-app/v1/linux-amd64/manifest.json" 444
	assert_perms "$R/onap/py-app/@$list" 555
	assert_perms "$R/onap/py-app-amd64/latest/layers" 555
	assert_perms "$R/onap/py-app-amd64/latest/layers/$layer" 444
	assert_perms "$d" 755
	assert_perms "$d/.annotations" 755
	assert_perms "$d/.mediatype" 644
	assert_perms "$d/.annotations/org.example.owner" 644
	assert_perms "$d/.status" 444
	assert_perms "$d/.preview.json" 444
}

@test "another user reads everything the mounting user's credentials read" {
	local img="$R/onap/py-app-arm64v8/latest" layer out
	fetch_manifest onap/py-app v1 "$BATS_TEST_TMPDIR/v1.json"
	as_other cat "$R/onap/py-app/v1/manifest.json" >"$BATS_TEST_TMPDIR/v1.seen"
	cmp "$BATS_TEST_TMPDIR/v1.json" "$BATS_TEST_TMPDIR/v1.seen"
	run as_other ls "$R/onap/py-app/v1"
	[ "$status" -eq 0 ]
	grep -qx linux-arm64-v8 <<<"$output"
	[ "$(as_other cat "$img/platform")" = linux/arm64/v8 ]
	layer=$(sum '.refs["onap/py-app-arm64v8:latest"].layers[0].name')
	out=$(as_other sha256sum "$img/layers/$layer")
	[ "sha256:${out%% *}" = "${layer#??-}" ]
}

@test "another user cannot mkdir, ln -s into a live list, commit, write .mediatype, rm, rmdir or mv: Permission denied, and the registry gets no write" {
	local d="$R/onap/py-app/mu-refused" denied="Permission denied" before after live mark
	make_draft "$d"
	before=$(draft_snapshot "$d")
	live=$(lsdir "$R/onap/py-app/v1")
	mark=$(registry_log_mark)
	# new drafts, at registry and repository level
	assert_fails_with "$denied" as_other mkdir "$R/onap/py-app/mu-other"
	assert_fails_with "$denied" as_other mkdir -p "$R/mu-ns/app/v1"
	# amending a live list: adding an entry, dropping one
	assert_fails_with "$denied" as_other ln -s ../../py-app-s390x/latest "$R/onap/py-app/v1/extra"
	assert_fails_with "$denied" as_other rmdir "$R/onap/py-app/v1/linux-mips"
	# somebody else's draft: links, commit, list type, annotations, removing it
	assert_fails_with "$denied" as_other ln -s ../../py-app-arm64v8/latest "$d/arm64v8"
	assert_fails_with "$denied" as_other touch "$d/.commit"
	assert_fails_with "$denied" as_other sh -c "echo docker > '$d/.mediatype'"
	assert_fails_with "$denied" as_other truncate -s 0 "$d/.mediatype"
	assert_fails_with "$denied" as_other sh -c "echo x > '$d/.annotations/org.example.other'"
	assert_fails_with "$denied" as_other sh -c "echo x > '$d/.annotations/org.example.owner'"
	assert_fails_with "$denied" as_other rm "$d/.annotations/org.example.owner"
	assert_fails_with "$denied" as_other rm "$d/amd64"
	assert_fails_with "$denied" as_other mv "$d/amd64" "$d/linux-amd64"
	assert_fails_with "$denied" as_other touch "$d"
	assert_fails_with "Operation not permitted" as_other chmod 666 "$d/.mediatype"
	assert_fails_with "$denied" as_other rm -rf "$d"
	assert_fails_with "$denied" as_other rmdir "$R/onap/py-app/mu-modes/.annotations"
	# what was refused left no trace: not in the registry, not in the tree
	assert_no_writes "$(regfs_requests_after "$mark")"
	[ "$(manifest_status onap/py-app mu-refused)" = 404 ]
	[ "$(manifest_status onap/py-app mu-other)" = 404 ]
	after=$(draft_snapshot "$d")
	assert_lines "$before" "$after" "the draft after another user's writes"
	assert_lines "$live" "$(lsdir "$R/onap/py-app/v1")" "the live list after another user's writes"
	assert_fails_with "No such file or directory" fs stat "$R/onap/py-app/mu-other"
	assert_fails_with "No such file or directory" fs stat "$R/mu-ns"
	# and the mounting user still can
	fs touch "$d/.commit"
	[ "$(manifest_status onap/py-app mu-refused)" = 200 ]
}

@test "regfs refuses too: a user the kernel lets past the modes (CAP_DAC_OVERRIDE, as root has) gets Permission denied" {
	local d="$R/onap/py-app/mu-privileged" denied="Permission denied" before after live mark
	make_draft "$d"
	before=$(draft_snapshot "$d")
	live=$(lsdir "$R/onap/py-app/v1")
	mark=$(registry_log_mark)
	assert_fails_with "$denied" as_privileged mkdir "$R/onap/py-app/mu-privileged-new"
	assert_fails_with "$denied" as_privileged ln -s ../../py-app-s390x/latest "$R/onap/py-app/v1/extra"
	assert_fails_with "$denied" as_privileged rmdir "$R/onap/py-app/v1/linux-mips"
	assert_fails_with "$denied" as_privileged ln -s ../../py-app-arm64v8/latest "$d/arm64v8"
	assert_fails_with "$denied" as_privileged touch "$d/.commit"
	assert_fails_with "$denied" as_privileged sh -c "echo docker > '$d/.mediatype'"
	assert_fails_with "$denied" as_privileged truncate -s 0 "$d/.mediatype"
	assert_fails_with "$denied" as_privileged sh -c "echo x > '$d/.annotations/org.example.other'"
	assert_fails_with "$denied" as_privileged rm "$d/amd64"
	assert_fails_with "$denied" as_privileged mv "$d/amd64" "$d/linux-amd64"
	assert_fails_with "$denied" as_privileged touch "$d"
	assert_fails_with "$denied" as_privileged rm -rf "$d"
	assert_no_writes "$(regfs_requests_after "$mark")"
	[ "$(manifest_status onap/py-app mu-privileged)" = 404 ]
	after=$(draft_snapshot "$d")
	assert_lines "$before" "$after" "the draft after a privileged user's writes"
	assert_lines "$live" "$(lsdir "$R/onap/py-app/v1")" "the live list after a privileged user's writes"
	grep -qE "refused mkdir in '$REGISTRY/onap/py-app' for uid $MU_UID \(pid [0-9]+\)" "$TESTDIR/regfs.log" ||
		{ echo "the log does not name the refused user:" >&2; tail -n 20 "$TESTDIR/regfs.log" >&2; return 1; }
	# reading stays open to it
	as_privileged cat "$d/.status" >/dev/null
}

@test "write_group: its members make and commit drafts, the log names the uid; others are still refused" {
	local d="$R/onap/py-app/mu-member" mark
	regfs_unmount "$MNT"
	suite_mount allow_other "write_group=$MU_GROUP"
	assert_perms "$MNT" 555 "$MU_GROUP"
	assert_perms "$R/onap/py-app" 775 "$MU_GROUP"
	assert_perms "$R/onap/py-app/v1" 775 "$MU_GROUP"
	assert_perms "$R/onap/py-app/v1/manifest.json" 444 "$MU_GROUP"
	# not a member (no supplementary groups): refused as before
	assert_fails_with "Permission denied" as_other mkdir "$R/onap/py-app/mu-nonmember"
	# a member, by its supplementary groups
	as_member mkdir "$d"
	as_member ln -s ../../py-app-amd64/latest "$d/amd64"
	as_member ln -s ../../py-app-arm64v8/latest "$d/arm64v8"
	as_member sh -c "echo docker > '$d/.mediatype'"
	assert_perms "$d" 775 "$MU_GROUP"
	assert_perms "$d/.mediatype" 664 "$MU_GROUP"
	assert_perms "$d/.status" 444 "$MU_GROUP"
	mark=$(registry_log_mark)
	as_member touch "$d/.commit"
	[ "$(manifest_status onap/py-app mu-member)" = 200 ]
	regfs_requests_after "$mark" | grep -q '^PUT /v2/onap/py-app/manifests/mu-member 201$'
	grep -qE "commit $REGISTRY/onap/py-app/mu-member by uid $MU_UID \(pid [0-9]+\): pushing " "$TESTDIR/regfs.log"
	grep -qE "commit $REGISTRY/onap/py-app/mu-member by uid $MU_UID \(pid [0-9]+\): pushed " "$TESTDIR/regfs.log"
	# a member by its group id (the request's gid) alone
	fs setpriv --reuid="$MU_UID" --regid="$MU_GROUP_GID" --clear-groups -- mkdir "$R/onap/py-app/mu-by-gid"
	fs rmdir "$R/onap/py-app/mu-by-gid"
	[ "$(manifest_status onap/py-app mu-nonmember)" = 404 ]
}

@test "write_group that names no group: regfs does not mount" {
	local mnt="$TESTDIR/mnt-bad" out rc=0
	mkdir -p "$mnt"
	mkdir -p "$TESTDIR/home"
	out=$(HOME="$TESTDIR/home" timeout -k 5 20 "$REGFS_BIN" -f \
		-o "registry=$REGISTRY,cache_dir=$TESTDIR/cache,state_dir=$TESTDIR/state-bad" \
		-o "write_group=regfs-no-such-group-$$" "$mnt" 2>&1) || rc=$?
	if _is_mounted "$(realpath -- "$mnt")"; then
		fusermount3 -u "$mnt" || true
		echo "regfs mounted with an unknown write_group" >&2
		return 1
	fi
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]
	[[ $out == *"write_group 'regfs-no-such-group-$$' is not a group"* ]]
}
