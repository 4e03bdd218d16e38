#!/usr/bin/env bats
# TLS: a registry served over HTTPS with a certificate from a test CA made here with openssl.
# With -o cafile= regfs verifies and browses it; without, it fails with EIO (never ENOENT) and
# the log names the host and the certificate problem.  The TLS registry serves the storage
# of an ordinary registry that fixtures.py filled.

load ../lib/suite

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	registry_start "$TESTDIR/reg"
	export SUMMARY="$TESTDIR/summary.json"
	python3 "$REGFS_LIB_DIR/fixtures.py" --registry "$REGISTRY" --set seed --summary "$SUMMARY"

	local pki="$TESTDIR/pki" port
	mkdir -p "$pki"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=regfs test CA" \
		-keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$pki/srv.key" -out "$pki/srv.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		>"$pki/ext"
	openssl x509 -req -in "$pki/srv.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 1 -extfile "$pki/ext" -out "$pki/srv.pem" 2>/dev/null

	port=$(free_port)
	mkdir -p "$TESTDIR/tls"
	cat >"$TESTDIR/tls/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/storage
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $pki/srv.pem
    key: $pki/srv.key
EOF
	setsid docker-registry serve "$TESTDIR/tls/config.yml" >>"$TESTDIR/tls/registry.log" 2>&1 \
		</dev/null 3>&- &
	echo $! >"$TESTDIR/tls/registry.pid"
	_wait_until 15 curl -fsS --cacert "$pki/ca.pem" "https://127.0.0.1:$port/v2/"
	echo "127.0.0.1:$port" >"$TESTDIR/tls.host"

	regfs_mount "$TESTDIR/mnt-ca" "registry=127.0.0.1:$port" "cafile=$pki/ca.pem" \
		"cache_dir=$TESTDIR/cache-ca" "logfile=$TESTDIR/regfs-ca.log"
	regfs_mount "$TESTDIR/mnt-noca" "registry=127.0.0.1:$port" \
		"cache_dir=$TESTDIR/cache-noca" "logfile=$TESTDIR/regfs-noca.log"
}

teardown_file() {
	[[ -n ${TESTDIR:-} ]] || return 0
	regfs_unmount "$TESTDIR/mnt-ca" || true
	regfs_unmount "$TESTDIR/mnt-noca" || true
	_stop_pidfile "$TESTDIR/tls/registry.pid" 5 || true
	registry_stop "$TESTDIR/reg" || true
}

setup() { regfs_skip_if_needed; }

@test "with cafile, an HTTPS registry browses and every digest verifies" {
	local host dir want layer
	host=$(<"$TESTDIR/tls.host")
	dir="$TESTDIR/mnt-ca/$host/onap/py-app-arm64v8/latest"
	run fs ls "$TESTDIR/mnt-ca/$host/onap"
	[ "$status" -eq 0 ]
	[[ $output == *py-app-arm64v8* ]]
	want=$(sum '.refs["onap/py-app-arm64v8:latest"].digest')
	[ "$(sha256_of "$dir/manifest.json")" = "$want" ]
	[ "$(fs cat "$dir/platform")" = "linux/arm64/v8" ]
	layer=$(sum '.refs["onap/py-app-arm64v8:latest"].layers[1].name')
	[ "$(sha256_of "$dir/layers/$layer")" = "${layer#*-}" ]
	# it spoke TLS: the HTTPS registry logged the requests
	grep -q 'onap/py-app-arm64v8/manifests/latest' "$TESTDIR/tls/registry.log"
}

@test "without the CA: EIO, not ENOENT, and the log says which host and why" {
	local host
	host=$(<"$TESTDIR/tls.host")
	assert_fails_with "Input/output error" fs ls "$TESTDIR/mnt-noca/$host/onap"
	grep -F "registry '$host'" "$TESTDIR/regfs-noca.log" | grep -qi 'certificate' || {
		echo "log does not name the host and a certificate problem:" >&2
		cat "$TESTDIR/regfs-noca.log" >&2
		return 1
	}
	# nothing was served over an unverified connection
	[ -z "$(find "$TESTDIR/cache-noca" -type f -path '*blobs/sha256/*')" ]
}
