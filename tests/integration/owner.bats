#!/usr/bin/env bats
# Who the files belong to: -o uid= (a name or a number) is the owner every node shows and the
# one user who writes (makes drafts, links, commits) in place of the mounting user; -o gid= is
# the group shown, whose members do not write (write_group= is the group that does); -o umask=
# takes its bits from every mode shown, and the kernel enforces what is left
# (default_permissions).  Both sides are checked where it matters: what stat shows, and who
# gets Permission denied.
#
# regfs is mounted by root; the test adds a local user and a group of its own (useradd,
# groupadd) and removes them in teardown_file, whatever happened.
# regfs-requires: root

load ../lib/suite

# as_user COMMAND... — COMMAND as the test user, with its own group only
as_user() {
	fs setpriv --reuid="$OW_UID" --regid="$OW_GID" --clear-groups -- "$@"
}

# as_group_member COMMAND... — COMMAND as nobody (65534) in the test group: not the owner,
# only a member of the group shown
as_group_member() {
	fs setpriv --reuid=65534 --regid="$OW_GROUP_GID" --clear-groups -- "$@"
}

setup_file() {
	if ((EUID != 0)); then
		export REGFS_SKIP_REASON="adding a test user needs root"
		return 0
	fi
	export OW_USER="regfs-o-$$" OW_GROUP="regfs-og-$$"
	scratch_users_add owner "$OW_USER" "$OW_GROUP"
	OW_UID=$(id -u "$OW_USER")
	OW_GID=$(id -g "$OW_USER")
	OW_GROUP_GID=$(getent group "$OW_GROUP" | cut -d: -f3)
	export OW_UID OW_GID OW_GROUP_GID
	suite_start_registry
}

teardown_file() {
	suite_teardown
	scratch_users_remove owner "${OW_USER:-}" "${OW_GROUP:-}"
}

setup() { regfs_skip_if_needed; }
teardown() {
	suite_teardown_test
	regfs_unmount "$TESTDIR/mnt" || true # each test mounts with its own options
}

# owner_mode PATH — "UID GID OCTAL-MODE" as stat shows them
owner_mode() {
	fs stat -c '%u %g %a' -- "$1"
}

# assert_owner_mode PATH UID GID OCTAL-MODE
assert_owner_mode() {
	local got
	got=$(owner_mode "$1") || return
	[[ $got == "$2 $3 $4" ]] || {
		echo "$1: '$got', want '$2 $3 $4'" >&2
		return 1
	}
}

@test "uid= and gid= by name: every node is theirs; that user makes, links and commits a draft; the mounting user (root) may not" {
	local d layer mark
	suite_mount allow_other "uid=$OW_USER" "gid=$OW_GROUP"
	d="$R/onap/py-app/owner-draft"
	layer=$(sum '.refs["onap/py-app-amd64:latest"].layers[0].name')
	assert_owner_mode "$MNT" "$OW_UID" "$OW_GROUP_GID" 555
	assert_owner_mode "$R/onap/py-app" "$OW_UID" "$OW_GROUP_GID" 755
	assert_owner_mode "$R/onap/py-app/v1" "$OW_UID" "$OW_GROUP_GID" 755
	assert_owner_mode "$R/onap/py-app/v1/manifest.json" "$OW_UID" "$OW_GROUP_GID" 444
	assert_owner_mode "$R/onap/py-app-amd64/latest/layers/$layer" "$OW_UID" "$OW_GROUP_GID" 444
	# ls -ln says the same
	[ "$(fs ls -ln "$R/onap/py-app-amd64/latest" | awk 'NR > 1 { print $3, $4 }' | sort -u)" = "$OW_UID $OW_GROUP_GID" ]
	[ "$(fs ls -l "$R/onap/py-app-amd64/latest" | awk 'NR > 1 { print $3, $4 }' | sort -u)" = "$OW_USER $OW_GROUP" ]

	# the user writes
	as_user mkdir "$d"
	as_user ln -s ../../py-app-amd64/latest "$d/amd64"
	as_user sh -c "echo oci > '$d/.mediatype'"
	assert_owner_mode "$d" "$OW_UID" "$OW_GROUP_GID" 755
	assert_owner_mode "$d/.mediatype" "$OW_UID" "$OW_GROUP_GID" 644
	mark=$(registry_log_mark)
	as_user touch "$d/.commit"
	[ "$(manifest_status onap/py-app owner-draft)" = 200 ]
	regfs_requests_after "$mark" | grep -q '^PUT /v2/onap/py-app/manifests/owner-draft 201$'
	grep -qE "commit $REGISTRY/onap/py-app/owner-draft by uid $OW_UID \(pid [0-9]+\): pushed " "$TESTDIR/regfs.log"

	# root, the mounting user, does not: the kernel lets it past the modes, regfs refuses
	assert_fails_with "Permission denied" fs mkdir "$R/onap/py-app/owner-by-root"
	assert_fails_with "Permission denied" fs ln -s ../../py-app-s390x/latest "$d/s390x"
	grep -qE "refused mkdir in '$REGISTRY/onap/py-app' for uid 0 \(pid [0-9]+\): only uid $OW_UID may write" "$TESTDIR/regfs.log"
	# nor does a member of the group shown (gid= is not write_group=)
	assert_fails_with "Permission denied" as_group_member mkdir "$R/onap/py-app/owner-by-member"
	[ "$(manifest_status onap/py-app owner-by-root)" = 404 ]
	[ ! -e "$R/onap/py-app/owner-by-root" ] && [ ! -e "$R/onap/py-app/owner-by-member" ]
	[ ! -L "$d/s390x" ]
}

@test "uid= and gid= by number, of no user or group: shown as given" {
	suite_mount "uid=54321" "gid=54322"
	assert_owner_mode "$MNT" 54321 54322 555
	assert_owner_mode "$R/onap/py-app/v1/manifest.json" 54321 54322 444
	assert_fails_with "Permission denied" fs mkdir "$R/onap/py-app/owner-by-number"
}

@test "umask=077: no group or other bits, and the kernel keeps everyone else out; links stay 0777" {
	local d
	suite_mount allow_other "umask=077"
	d="$R/onap/py-app/owner-umask"
	assert_owner_mode "$MNT" 0 0 500
	assert_owner_mode "$R/onap/py-app" 0 0 700
	assert_owner_mode "$R/onap/py-app/v1/manifest.json" 0 0 400
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs sh -c "echo oci > '$d/.mediatype'"
	assert_owner_mode "$d" 0 0 700
	assert_owner_mode "$d/.mediatype" 0 0 600
	assert_owner_mode "$d/.status" 0 0 400
	assert_owner_mode "$d/amd64" 0 0 777
	# the owner reads; another user is stopped by the modes
	fs cat "$R/onap/py-app/v1/manifest.json" >/dev/null
	assert_fails_with "Permission denied" as_user ls "$R"
	assert_fails_with "Permission denied" as_user cat "$R/onap/py-app/v1/manifest.json"
}

@test "umask=022 with write_group=: the group bits go, so the kernel refuses the group's writes" {
	suite_mount allow_other "write_group=$OW_GROUP" "umask=022"
	assert_owner_mode "$R/onap/py-app" 0 "$OW_GROUP_GID" 755
	assert_fails_with "Permission denied" as_group_member mkdir "$R/onap/py-app/owner-umask-member"
	[ ! -e "$R/onap/py-app/owner-umask-member" ]
}

@test "gid= and write_group= naming one group: accepted, and the group writes" {
	suite_mount allow_other "gid=$OW_GROUP_GID" "write_group=$OW_GROUP"
	assert_owner_mode "$R/onap/py-app" 0 "$OW_GROUP_GID" 775
	as_group_member mkdir "$R/onap/py-app/owner-same-group"
	[ -d "$R/onap/py-app/owner-same-group" ]
}
