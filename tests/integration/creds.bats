#!/usr/bin/env bats
# Where credentials come from (registry/creds.c), against a real docker-registry with htpasswd
# (Basic) serving the seed fixtures.  Each mount runs with an environment of its own: HOME,
# XDG_RUNTIME_DIR, REGISTRY_AUTH_FILE, DOCKER_CONFIG and PATH point into $TESTDIR/env-NAME, so
# regfs reads podman's auth.json, docker's config.json and its credential helpers from there
# and nothing of the machine's.  Checks what shell tools see (works, or "Permission denied"),
# what the registry and the helper received, that a `docker login` while mounted counts, and
# that no password turns up in regfs' logs or stderr.

load ../lib/suite
load ../lib/auth

setup_file() {
	# fixtures go in through an ordinary registry; the auth registries serve its storage
	auth_suite_start
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0

	local good wrong
	good=$(auth_secret) wrong=$(auth_secret)
	export GOOD=$good
	# every secret of the run, one a line, for the leak scan
	printf '%s\n' "$good" "$wrong" "$(basic_header user "$good")" \
		"$(basic_header user "$wrong")" >"$TESTDIR/passwords"
	htpasswd_file "$TESTDIR/htpasswd" user "$good"
	auth_registry_start "$TESTDIR/basic" "$TESTDIR/plain/storage" basic "$TESTDIR/htpasswd"
	BASIC=$(auth_registry_host "$TESTDIR/basic")
	export BASIC

	# podman: $XDG_RUNTIME_DIR/containers/auth.json
	env_dir podman
	docker_config "$TESTDIR/env-podman/run/containers/auth.json" "$BASIC" user "$good"
	# podman: ~/.config/containers/auth.json, a namespaced key beside a wrong one for the host
	env_dir podns
	docker_config "$TESTDIR/env-podns/home/.config/containers/auth.json" \
		"$BASIC" user "$wrong" "$BASIC/onap/py-app-amd64" user "$good"
	# docker: credHelpers for the host (beside a wrong "auths" entry, which it beats)
	env_dir helper
	docker_config "$TESTDIR/env-helper/docker/config.json" "$BASIC" user "$wrong"
	jq --arg h "$BASIC" '.credHelpers = {($h): "regfstest"}' \
		"$TESTDIR/env-helper/docker/config.json" >"$TESTDIR/env-helper/docker/c.json"
	mv "$TESTDIR/env-helper/docker/c.json" "$TESTDIR/env-helper/docker/config.json"
	helper_script "$TESTDIR/env-helper" regfstest 0 "$good"
	# docker: a credsStore that has nothing (exit 1) gives way to "auths"
	env_dir helpernone
	docker_config "$TESTDIR/env-helpernone/docker/config.json" "$BASIC" user "$good"
	jq '.credsStore = "regfsnone"' "$TESTDIR/env-helpernone/docker/config.json" \
		>"$TESTDIR/env-helpernone/docker/c.json"
	mv "$TESTDIR/env-helpernone/docker/c.json" "$TESTDIR/env-helpernone/docker/config.json"
	helper_script "$TESTDIR/env-helpernone" regfsnone 1 "$wrong"
	# precedence: wrong in a more specific source beats right in a less specific one ...
	env_dir specwrong
	docker_config "$TESTDIR/env-specwrong/registry-auth.json" "$BASIC" user "$wrong"
	docker_config "$TESTDIR/env-specwrong/home/.docker/config.json" "$BASIC" user "$good"
	# ... and the other way round (and ~/.docker does not count when DOCKER_CONFIG is set)
	env_dir specright
	docker_config "$TESTDIR/env-specright/registry-auth.json" "$BASIC" user "$good"
	docker_config "$TESTDIR/env-specright/home/.config/containers/auth.json" "$BASIC" user "$wrong"
	docker_config "$TESTDIR/env-specright/docker/config.json" "$BASIC" user "$wrong"
	# the mount option's file is the most specific of all
	env_dir option
	docker_config "$TESTDIR/env-option/option.json" "$BASIC" user "$wrong"
	docker_config "$TESTDIR/env-option/registry-auth.json" "$BASIC" user "$good"
	# `docker login` while mounted: wrong at first
	env_dir login
	docker_config "$TESTDIR/env-login/docker/config.json" "$BASIC" user "$wrong"

	local m
	for m in podman podns helper helpernone specwrong specright login; do
		creds_mount "$m"
	done
	creds_mount option "auth_file=$TESTDIR/env-option/option.json"
}

teardown_file() {
	local m
	[[ -n ${TESTDIR:-} ]] || return 0
	for m in podman podns helper helpernone specwrong specright option login; do
		regfs_unmount "$TESTDIR/mnt-$m" || true
	done
	registry_stop "$TESTDIR/basic" || true
	registry_stop "$TESTDIR/plain" || true
}

setup() { regfs_skip_if_needed; }

# on failure: the end of every mount's log and of regfs' stderr
teardown() {
	logs_on_failure "$TESTDIR"/regfs-*.log "$TESTDIR/regfs.stderr"
}

# env_dir NAME — $TESTDIR/env-NAME with home/, run/containers/, bin/ and, for the names that
# use it, docker/ (DOCKER_CONFIG); see creds_mount.
env_dir() {
	local d="$TESTDIR/env-$1"
	mkdir -p "$d/home/.docker" "$d/home/.config/containers" "$d/run/containers" "$d/bin"
	case $1 in
	helper | helpernone | specright | login) mkdir -p "$d/docker" ;;
	esac
}

# creds_mount NAME [OPTION...] — mount regfs at $TESTDIR/mnt-NAME on $BASIC, its environment
# from $TESTDIR/env-NAME: HOME=home, XDG_RUNTIME_DIR=run, REGISTRY_AUTH_FILE=registry-auth.json
# (there or not), DOCKER_CONFIG=docker when that exists (else unset: ~/.docker counts), bin/
# first on PATH.  Its own log (verbose, for the leak scan), cache and drafts; ttl=1.
creds_mount() {
	local name=$1 d="$TESTDIR/env-$1"
	shift
	(
		export HOME="$d/home" XDG_RUNTIME_DIR="$d/run" PATH="$d/bin:$PATH" REGFS_MOUNT_OWN_ENV=1
		export REGISTRY_AUTH_FILE="$d/registry-auth.json"
		if [[ -d $d/docker ]]; then
			export DOCKER_CONFIG="$d/docker"
		else
			unset DOCKER_CONFIG
		fi
		REGISTRY=$BASIC regfs_mount "$TESTDIR/mnt-$name" "logfile=$TESTDIR/regfs-$name.log" \
			"cache_dir=$TESTDIR/cache-$name" "state_dir=$TESTDIR/state-$name" ttl=1 \
			verbose "$@"
	)
}

# helper_script ENVDIR NAME EXIT PASSWORD — ENVDIR/bin/docker-credential-NAME: logs the server
# it reads on stdin to ENVDIR/helper.log, writes PASSWORD to stderr (which regfs must not
# log), and answers user/PASSWORD (EXIT 0) or "not found" (any other EXIT).
helper_script() {
	local d=$1 name=$2 rc=$3 pw=$4
	cat >"$d/bin/docker-credential-$name" <<EOF
#!/bin/sh
s=\$(cat)
printf '%s %s\n' "\$1" "\$s" >>"$d/helper.log"
echo "helper stderr: $pw" >&2
if [ $rc -ne 0 ]; then
	echo 'credentials not found in native keychain'
	exit $rc
fi
printf '{"ServerURL":"%s","Username":"user","Secret":"%s"}\n' "\$s" "$pw"
EOF
	chmod 700 "$d/bin/docker-credential-$name"
}

# at NAME — the registry directory in mount NAME
at() {
	echo "$TESTDIR/mnt-$1/$BASIC"
}

# log_mark / log_since: the registry's log after a point
log_mark() {
	wc -l <"$TESTDIR/basic/registry.log" >"$TESTDIR/basic/registry.log.mark"
}
log_since() {
	sleep 0.3 # the registry logs a request after answering it
	tail -n +"$(($(<"$TESTDIR/basic/registry.log.mark") + 1))" "$TESTDIR/basic/registry.log"
}

# status_count STATUS — access log lines (on stdin) for API requests answered with STATUS
status_count() {
	grep -c "\"[A-Z]* /v2/[^\"]*\" $1 " || true
}

# works NAME ARCH — onap/py-app-ARCH:latest reads whole through mount NAME
works() {
	local ref="onap/py-app-$2:latest" dir
	dir="$(at "$1")/onap/py-app-$2/latest"
	cmp <(sum '.refs[$r].digest' --arg r "$ref") <(fs cat "$dir/digest")
	[ "$(sha256_of "$dir/manifest.json")" = "$(sum '.refs[$r].digest' --arg r "$ref")" ]
	[ "$(sha256_of "$dir/config.json")" = "$(sum '.refs[$r].config.digest' --arg r "$ref")" ]
}

# denied NAME ARCH — onap/py-app-ARCH through mount NAME is "Permission denied"
denied() {
	local repo d
	repo="$(at "$1")/onap/py-app-$2"
	d=$(sum '.refs[$r].digest' --arg r "onap/py-app-$2:latest")
	assert_fails_with "Permission denied" fs ls "$repo"
	assert_fails_with "Permission denied" fs cat "$repo/latest/digest"
	assert_fails_with "Permission denied" fs cat "$repo/@$d/manifest.json"
}

@test "podman: \$XDG_RUNTIME_DIR/containers/auth.json" {
	log_mark
	works podman amd64
	works podman arm64v8
	run lsdir "$(at podman)/onap/py-app-s390x"
	[ "$status" -eq 0 ]
	assert_lines latest "$output"
	(($(log_since | status_count 200) >= 4))
}

@test "podman: ~/.config/containers/auth.json, the longest key wins (host/namespace)" {
	log_mark
	works podns amd64
	denied podns arm64v8
	# the catalog is the host's: refused with the host's wrong credentials, while the
	# repository the right ones are for still lists
	assert_fails_with "Permission denied" fs ls "$(at podns)"
	run lsdir "$(at podns)/onap/py-app-amd64"
	[ "$status" -eq 0 ]
	assert_lines latest "$output"
	# the registry saw good credentials for one repository and wrong ones for the other
	log_since | grep '/v2/onap/py-app-amd64/' | grep -q '" 200 '
	log_since | grep -q 'authentication failure'
	[ "$(log_since | grep '/v2/onap/py-app-arm64v8/' | status_count 200)" -eq 0 ]
}

@test "docker: credHelpers runs docker-credential-NAME with the host on stdin, not per request" {
	works helper amd64
	works helper mips
	# it was asked for this registry as docker asks (the host), with "get", and its answer
	# was kept: not one run per request
	grep -qx "get $BASIC" "$TESTDIR/env-helper/helper.log"
	[ "$(sort -u "$TESTDIR/env-helper/helper.log")" = "get $BASIC" ]
	(($(wc -l <"$TESTDIR/env-helper/helper.log") <= 2))
	grep -q "credential helper 'docker-credential-regfstest' for '$BASIC': credentials" \
		"$TESTDIR/regfs-helper.log"
}

@test "docker: a credsStore without credentials for the host gives way to auths" {
	works helpernone ppc64le
	grep -qx "get $BASIC" "$TESTDIR/env-helpernone/helper.log"
	grep -q "credential helper 'docker-credential-regfsnone' for '$BASIC': exit status 1" \
		"$TESTDIR/regfs-helpernone.log"
}

@test "precedence: wrong in a more specific source is EACCES despite right ones further on" {
	log_mark
	denied specwrong amd64
	denied option amd64
	# the registry saw the wrong password, and served nothing
	log_since | grep -q 'authentication failure'
	[ "$(log_since | status_count 200)" -eq 0 ]
}

@test "precedence: right in a more specific source works despite wrong ones further on" {
	works specright amd64
	works specright s390x
}

@test "docker login while mounted: config.json rewritten, the next request after the TTL uses it" {
	local cfg="$TESTDIR/env-login/docker/config.json" i
	denied login amd64
	# as `docker login` writes it: a new file renamed over the old one
	docker_config "$cfg.new" "$BASIC" user "$GOOD"
	mv "$cfg.new" "$cfg"
	sleep 1.5 # ttl=1: the refusal is forgotten
	log_mark
	for i in 1 2 3 4 5 6; do
		fs cat "$(at login)/onap/py-app-amd64/latest/digest" >/dev/null 2>&1 && break
		sleep 0.5
	done
	works login amd64
	(($(log_since | status_count 200) >= 3))
	# and a second rewrite, in place this time (another size), takes effect too
	python3 - "$cfg" "$BASIC" <<'PYEOF'
import json, sys
path, host = sys.argv[1], sys.argv[2]
with open(path) as f:
    c = json.load(f)
c["auths"]["other.example:1"] = {"auth": "eDp5"}
with open(path, "w") as f:   # same inode, other size
    json.dump(c, f)
PYEOF
	sleep 1.5
	works login arm64v8
}

@test "no password in regfs' logs or stderr (helper stderr included)" {
	local scan="$BATS_TEST_TMPDIR/scan"
	local -a files=("$TESTDIR/regfs.stderr" "$TESTDIR"/regfs-*.log)
	[ "${#files[@]}" -eq 9 ]
	# the logs do talk about credentials
	grep -q "credentials: source 1 is" "$TESTDIR/regfs-podman.log"
	grep -q "credential helper" "$TESTDIR/regfs-helper.log"
	# the scan can find things: the files and the helper hold secrets
	if secrets_find "$scan" "$TESTDIR/passwords" "$TESTDIR/env-option/registry-auth.json" \
		"$TESTDIR/env-helper/bin/docker-credential-regfstest"; then
		echo "the scan finds nothing even where secrets are" >&2
		return 1
	fi
	secrets_find "$scan" "$TESTDIR/passwords" "${files[@]}" || {
		echo "secrets leaked:" >&2
		cat "$scan" >&2
		return 1
	}
}
