#!/usr/bin/env bats
# What a path is, after it changes kind: a live list's entries turn into links when it is
# amended and back into directories when it is committed; a repository's name becomes a tag; a
# new namespace holds a draft and goes when the draft goes.  Each sequence must give what a
# fresh mount gives, in the mount that saw the change (the kernel keeps an inode's type, so a
# name that changes kind needs another inode).  Also: names refused at mkdir, a registry
# without a catalog (a name it reports missing is ENOENT, found with one manifest HEAD), and
# blobs shared by many paths counted once by du.
#
# Regressions of issue 8 (correctness): each test failed before its fix.

load ../lib/suite

setup_file() {
	suite_setup
}

teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt-nocat" 2>/dev/null || true
	suite_teardown # stops the proxies in $TESTDIR/proxy*/ too
}
teardown() { suite_teardown_test; }
setup() { regfs_skip_if_needed; }

# type_of PATH — "directory", "symbolic link" or "regular file" (lstat, as ls -l shows it)
type_of() {
	fs stat -c %F -- "$1"
}

@test "amend: the seeded entries are links at once, in the mount that listed them as directories" {
	local d="$R/onap/py-app/id-amend"
	commit_list "$d" amd64=../../py-app-amd64/latest mips=../../py-app-mips/latest \
		ppc64le=../../py-app-ppc64le/latest
	# the README's example: look first, so the kernel knows the entries as directories
	fs ls -l "$d" >/dev/null
	[ "$(type_of "$d/linux-mips")" = directory ]
	fs cat "$d/linux-mips/digest" >/dev/null
	fs ln -s ../../py-app-s390x/latest "$d/s390x"
	[ "$(type_of "$d/linux-mips")" = "symbolic link" ]
	[[ $(fs readlink "$d/linux-mips") == ../@sha256:*/linux-mips ]]
	fs rm "$d/linux-mips"
	run lsdir "$d"
	assert_lines $'.digest\n.mediatype\n.preview.json\n.status\nlinux-amd64\nlinux-ppc64le\ns390x' "$output"
	# rm -r of the draft: back to the live list, whole, at once
	fs rm -r "$d"
	[ "$(type_of "$d/linux-mips")" = directory ]
	[ "$(fs cat "$d/linux-mips/digest")" = "$(sum '.refs["onap/py-app-mips:latest"].digest')" ]
}

@test "commit: an entry that was a link is a directory after, even while its old inode is held" {
	local d="$R/onap/py-app/id-held" holder
	fs mkdir "$d"
	fs ln -s ../../py-app-amd64/latest "$d/linux-amd64"
	fs ln -s ../../py-app-s390x/latest "$d/linux-s390x"
	# hold the link's inode (O_PATH) across the commit, as a shell's completion or a file
	# manager may
	python3 -c 'import os, sys, time
fd = os.open(sys.argv[1], os.O_PATH | os.O_NOFOLLOW)
open(sys.argv[2], "w").close()
time.sleep(30)' "$d/linux-amd64" "$BATS_TEST_TMPDIR/held" &
	holder=$!
	for _ in $(seq 50); do [[ -e $BATS_TEST_TMPDIR/held ]] && break; sleep 0.1; done
	fs touch "$d/.commit"
	[ "$(type_of "$d/linux-amd64")" = directory ]
	[ "$(fs cat "$d/linux-amd64/digest")" = "$(sum '.refs["onap/py-app-amd64:latest"].digest')" ]
	run fs ls -l "$d"
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	[ "$status" -eq 0 ]
	[[ $output != *'?'* ]] || { echo "$output" >&2; return 1; }
}

@test "rmdir of a platform directory, then rm -r of another: each amends the same draft" {
	local d="$R/onap/py-app/id-rmdir"
	commit_list "$d" amd64=../../py-app-amd64/latest mips=../../py-app-mips/latest \
		ppc64le=../../py-app-ppc64le/latest s390x=../../py-app-s390x/latest
	fs ls -l "$d" >/dev/null
	fs rmdir "$d/linux-mips"
	# now a draft: the other entries are links; rmdir of a link is ENOTDIR as anywhere, and
	# rm -r works on both
	assert_fails_with "Not a directory" fs rmdir "$d/linux-ppc64le"
	fs rm -r "$d/linux-ppc64le"
	run lsdir "$d"
	assert_lines $'.digest\n.mediatype\n.preview.json\n.status\nlinux-amd64\nlinux-s390x' "$output"
	[[ $(fs tail -n 1 "$d/.status") == "ready: 2 entries, "* ]]
}

@test "a tag pushed with the name of a nested repository's component shows as the tag" {
	local child digest
	# a/b is a repository and the namespace of a/b/c: "c" is a directory of repositories
	fs ls "$R/a/b/c" >/dev/null
	[ -d "$R/a/b/c/latest" ]
	[ ! -e "$R/a/b/c/digest" ]
	# someone pushes a/b:c, which shadows the namespace (a tag wins)
	skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
		"docker://$REGISTRY/a/b:latest" "docker://$REGISTRY/a/b:c"
	digest=$(curl -fsS -I -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://$REGISTRY/v2/a/b/manifests/c" | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
	sleep 2.5 # the ttl
	for _ in $(seq 40); do
		[[ -f $R/a/b/c/digest ]] && break
		sleep 0.25
	done
	[ "$(fs cat "$R/a/b/c/digest")" = "$digest" ]
	[ "$(type_of "$R/a/b/c/manifest.json")" = "regular file" ]
}

@test "mkdir -p of a new repository path: the levels above the draft are directories, gone with it" {
	local top="$R/idns" d="$R/idns/app/v1"
	fs mkdir -p "$d"
	run lsdir "$top"
	assert_lines app "$output" "the namespace (no .status, no .preview.json)"
	run lsdir "$top/app"
	assert_lines v1 "$output" "the repository level"
	[[ $(fs head -n 1 "$d/.status") == "draft $REGISTRY/idns/app:v1" ]]
	assert_fails_with "No such file or directory" fs cat "$top/.status"
	fs rm -r "$d"
	[ ! -e "$top" ]
	run fs ls "$R"
	[[ $output != *idns* ]]
}

@test "names are refused at mkdir, with the reason in the log, by one rule" {
	local long
	long=$(printf 't%.0s' $(seq 129))
	# below a registry a name is a repository path component
	assert_fails_with "Invalid argument" fs mkdir "$R/HU"
	assert_fails_with "Invalid argument" fs mkdir "$R/a..b"
	grep -q "mkdir '$REGISTRY/HU': below a registry a name is a repository path component" "$TESTDIR/regfs.log"
	# "HU" is a fine tag, but not a namespace: the mkdir that would make it one is refused
	fs mkdir "$R/onap/HU"
	assert_fails_with "Invalid argument" fs mkdir "$R/onap/HU/app"
	grep -q "would become a repository path" "$TESTDIR/regfs.log"
	fs rmdir "$R/onap/HU"
	# 129 characters: a fine namespace, not a tag: the first link is refused
	fs mkdir "$R/onap/$long"
	assert_fails_with "Invalid argument" fs ln -s ../../py-app-amd64/latest "$R/onap/$long/amd64"
	grep -q "is not a valid tag" "$TESTDIR/regfs.log"
	fs rmdir "$R/onap/$long"
	# a control character in a link's name
	fs mkdir "$R/onap/py-app/id-names"
	assert_fails_with "Invalid argument" fs ln -s ../../py-app-amd64/latest "$R/onap/py-app/id-names/"$'a\nb'
	fs rmdir "$R/onap/py-app/id-names"
}

@test "layers and configs: one inode per blob, so du counts a shared blob once" {
	local a="$R/onap/py-app/v1/linux-amd64" b="$R/onap/py-app-amd64/latest" l
	l=$(fs ls "$b/layers" | head -n 1)
	# the same image by two paths: the same inodes
	[ "$(fs stat -c %i "$a/layers/$l")" = "$(fs stat -c %i "$b/layers/$l")" ]
	[ "$(fs stat -c %i "$a/config.json")" = "$(fs stat -c %i "$b/config.json")" ]
	[ -n "$(fs find "$R/onap/py-app/v1" -samefile "$b/config.json")" ]
	# still the verified bytes
	[ "$(sha256_of "$a/config.json")" = "$(sum '.refs["onap/py-app-amd64:latest"].config.digest')" ]
	# du of both paths together counts the blobs once
	local one both
	one=$(fs du -sb --apparent-size "$b" | cut -f1)
	both=$(fs du -scb --apparent-size "$b" "$a" | tail -n 1 | cut -f1)
	((both < 2 * one)) || { echo "du counted shared blobs twice: $one, both $both" >&2; return 1; }
}

@test "no catalog: a missing tag is ENOENT after one manifest HEAD, not a directory" {
	local pdir="$TESTDIR/proxy-nocat" mnt="$TESTDIR/mnt-nocat" r
	proxy_start "$pdir" --no-catalog
	regfs_mount "$mnt" "registry=$PROXY" "logfile=$TESTDIR/regfs-nocat.log"
	r="$mnt/$PROXY"
	[ "$(fs cat "$r/onap/py-app-amd64/latest/digest")" = "$(sum '.refs["onap/py-app-amd64:latest"].digest')" ]
	: >"$pdir/proxy.log"
	assert_fails_with "No such file or directory" fs cat "$r/onap/py-app-amd64/nosuchtag/digest"
	assert_fails_with "No such file or directory" fs ls -d "$r/onap/py-app-amd64/nosuchtag"
	grep -q '^HEAD /v2/onap/py-app-amd64/manifests/nosuchtag 404$' "$pdir/proxy.log" ||
		{ cat "$pdir/proxy.log" >&2; return 1; }
	! grep -q 'GET /v2/onap/py-app-amd64/manifests/nosuchtag' "$pdir/proxy.log" || false
	# a repository below a namespace still works by name
	[ -d "$r/test/multi/latest/layers" ]
	regfs_unmount "$mnt"
	proxy_stop "$pdir"
}
