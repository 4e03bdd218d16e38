# tests/lib/auth.bash — registries that want credentials, for tests/integration/auth.bats.
#
# Sourced after suite.bash (it uses registry.bash's free_port, _wait_until, _stop_pidfile).
# Two kinds of docker-registry, both on 127.0.0.1 and both serving a storage directory that an
# ordinary auth-less registry (registry_start) filled with fixtures.py first:
#   auth_registry_start DIR STORAGE basic HTPASSWD           auth: htpasswd (Basic)
#   auth_registry_start DIR STORAGE token ROOTPEM REALM SERVICE ISSUER   auth: token (Bearer)
# and the token server of tests/lib/token_server.py (token_server_start).  distribution 2.8
# accepts htpasswd over plain HTTP (it only needs TLS in front in production), so no
# certificates are needed for Basic; the token server makes its own CA for the JWTs.
#
# State in files, as in registry.bash: DIR/config.yml, registry.log, registry.pid,
# registry.port; token server: DIR/token.port, token.pid, token.log (one JSON line per
# request), token.issued (every token), root.pem, users.json.

# The token server needs PyJWT and cryptography, which Debian installs for /usr/bin/python3;
# a python3 earlier on PATH (pyenv, a venv) may not have them.
: "${AUTH_PYTHON:=/usr/bin/python3}"

# auth_prereqs — print why the auth tests cannot run here and fail, or succeed silently.
auth_prereqs() {
	if ! command -v htpasswd >/dev/null 2>&1; then
		echo "'htpasswd' is not installed (apache2-utils)"
		return 1
	fi
	if ! "$AUTH_PYTHON" -c 'import jwt, cryptography' 2>/dev/null; then
		echo "$AUTH_PYTHON lacks PyJWT or cryptography (python3-jwt, python3-cryptography)"
		return 1
	fi
	if ! command -v getfattr >/dev/null 2>&1; then
		echo "'getfattr' is not installed (attr)"
		return 1
	fi
}

# auth_suite_start — setup_file's start for the auth suites: TESTDIR, the FUSE and auth
# prerequisites (REGFS_SKIP_REASON set when missing: the caller returns then), and an
# ordinary registry in $TESTDIR/plain holding the seed fixtures, whose storage the auth
# registries serve.  Exports PLAIN (= REGISTRY) and SUMMARY.
auth_suite_start() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	if [[ -z ${REGFS_SKIP_REASON:-} ]] && ! REGFS_SKIP_REASON=$(auth_prereqs); then
		export REGFS_SKIP_REASON
	fi
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	registry_start "$TESTDIR/plain"
	export PLAIN=$REGISTRY SUMMARY="$TESTDIR/summary.json"
	python3 "$REGFS_LIB_DIR/fixtures.py" --registry "$PLAIN" --set seed --summary "$SUMMARY"
}

# auth_secret — print a fresh random password (hex: no shell or JSON quoting trouble).
auth_secret() {
	od -An -N12 -tx1 /dev/urandom | tr -d ' \n'
}

# htpasswd_file FILE USER PASSWORD [USER PASSWORD]... — bcrypt htpasswd file (distribution
# accepts only bcrypt entries).
htpasswd_file() {
	local file=${1:?htpasswd_file FILE USER PASSWORD...}
	shift
	: >"$file"
	while (($# >= 2)); do
		htpasswd -Bbn -C 4 "$1" "$2" | sed '/^$/d' >>"$file" || return
		shift 2
	done
}

# docker_config FILE [HOST USER PASSWORD]... — a docker config.json whose "auths" hold a
# base64 "auth" (user:password) for each HOST, as `docker login` writes it.  No triples: an
# empty "auths".
docker_config() {
	local file=${1:?docker_config FILE [HOST USER PASSWORD]...}
	shift
	python3 - "$file" "$@" <<'PYEOF'
import base64, json, sys
out, args = sys.argv[1], sys.argv[2:]
auths = {}
for i in range(0, len(args) - 2, 3):
    host, user, pw = args[i:i + 3]
    auths[host] = {"auth": base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}
with open(out, "w") as f:
    json.dump({"auths": auths}, f, indent=1)
PYEOF
}

# basic_header USER PASSWORD — print the base64 of "USER:PASSWORD" (what a Basic header holds).
basic_header() {
	printf '%s:%s' "$1" "$2" | base64 -w0
}

# token_server_start DIR USERS_JSON [token_server.py flags...] — start the token server with
# its files in DIR, on 127.0.0.1 or on $TOKEN_SERVER_ADDR (another 127.x.y.z address).
# Exports TOKEN_SERVER=ADDR:PORT.
token_server_start() {
	local dir=${1:?token_server_start DIR USERS_JSON [flags...]} users=${2:?users file} port
	local addr=${TOKEN_SERVER_ADDR:-127.0.0.1}
	shift 2
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	port=$(daemon_start "$dir" token 15 "$AUTH_PYTHON" "$REGFS_LIB_DIR/token_server.py" \
		--host "$addr" --root-out "$dir/root.pem" --users "$users" --log "$dir/token.log" \
		--issued "$dir/token.issued" "$@") || return 1
	export TOKEN_SERVER="$addr:$port"
}

# token_server_stop DIR
token_server_stop() {
	_stop_pidfile "${1:?token_server_stop DIR}/token.pid" 5
}

# token_requests DIR [JQ-CONDITION] — how many requests the token server logged (that match
# the condition, e.g. '.creds == "ok"' or '.scopes == ["repository:onap/x:pull"]').
token_requests() {
	local dir=${1:?token_requests DIR [JQ-CONDITION]} cond=${2:-true}
	jq -s "[.[] | select($cond)] | length" "$dir/token.log"
}

# auth_registry_start DIR STORAGE basic HTPASSWD
# auth_registry_start DIR STORAGE token ROOTPEM REALM SERVICE ISSUER
# — docker-registry on a free 127.0.0.1 port serving STORAGE, wanting credentials.  Waits until
# /v2/ answers 401 with the expected challenge.  Prints nothing; the address is in
# DIR/registry.port (auth_registry_host DIR).
auth_registry_start() {
	local dir=${1:?auth_registry_start DIR STORAGE MODE ...} storage=${2:?storage} mode=${3:?mode}
	local port scheme
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	port=$(free_port)
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
storage:
  filesystem:
    rootdirectory: $storage
  maintenance:
    uploadpurging:
      enabled: false
  redirect:
    disable: true
http:
  addr: 127.0.0.1:$port
health:
  storagedriver:
    enabled: false
EOF
	case $mode in
	basic)
		scheme=Basic
		cat >>"$dir/config.yml" <<EOF
auth:
  htpasswd:
    realm: regfs-test-basic
    path: ${4:?htpasswd file}
EOF
		;;
	token)
		scheme=Bearer
		cat >>"$dir/config.yml" <<EOF
auth:
  token:
    realm: ${5:?realm}
    service: ${6:?service}
    issuer: ${7:?issuer}
    rootcertbundle: ${4:?root certificate bundle}
EOF
		;;
	*)
		_regfs_die "auth_registry_start: unknown mode '$mode'"
		return 1
		;;
	esac
	echo "$port" >"$dir/registry.port"
	setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null 3>&- &
	echo $! >"$dir/registry.pid"
	if ! _wait_until 15 _auth_challenges "127.0.0.1:$port" "$scheme"; then
		echo "registry on 127.0.0.1:$port did not challenge with $scheme within 15 s; log:" >&2
		tail -n 30 "$dir/registry.log" >&2
		_stop_pidfile "$dir/registry.pid" 2
		return 1
	fi
}

# _auth_challenges HOST SCHEME — /v2/ on HOST answers 401 with a SCHEME challenge.
_auth_challenges() {
	local hdrs
	hdrs=$(curl -sS -o /dev/null -D - "http://$1/v2/") || return 1
	[[ $hdrs == "HTTP/1.1 401"* ]] && grep -qi "^www-authenticate: $2 " <<<"$hdrs"
}

# auth_registry_host DIR — "127.0.0.1:PORT" of the registry started in DIR.
auth_registry_host() {
	echo "127.0.0.1:$(<"${1:?auth_registry_host DIR}/registry.port")"
}

# secrets_find OUT SECRETS_FILE FILE... — look for every line of SECRETS_FILE (as a fixed
# string) in each FILE; write "FILE: which secret" to OUT for each hit.  Succeeds when there
# are none.  Secrets are never printed whole (the report shows only their first 6 chars).
secrets_find() {
	local out=${1:?secrets_find OUT SECRETS FILE...} secrets=${2:?secrets file} f s n=0
	shift 2
	: >"$out"
	for f in "$@"; do
		[[ -e $f ]] || continue
		while IFS= read -r s; do
			[[ -n $s ]] || continue
			if grep -qF -- "$s" "$f"; then
				echo "$f: contains secret ${s:0:6}…" >>"$out"
				n=$((n + 1))
			fi
		done <"$secrets"
	done
	((n == 0))
}
