#!/usr/bin/env bats
# TLS: registries served over HTTPS with certificates from a test CA made here with openssl (and
# with python3's cryptography for an expired one), all serving the storage of an ordinary
# registry that fixtures.py filled.
#
#   tls       HTTPS, certificate for IP 127.0.0.1
#   mtls      the same, and it requires a client certificate from the test CA (clientcas)
#   expired   tests/lib/tls_mux.py: an expired certificate, and plain HTTP on the same port
#   mismatch  tests/lib/tls_mux.py: a certificate for a DNS name only, and plain HTTP too
#   downgrade tests/lib/redirect_proxy.py over HTTPS (certificate for IP 127.0.0.1): manifests
#             pass through, every blob GET is redirected to its plain-HTTP storage listener
#
# The two mux ports would serve the registry if regfs asked them over plain HTTP, so "EIO" there
# proves regfs never fell back to it (127.0.0.1 is loopback, where the plain-HTTP rule applies
# to hosts that do not speak TLS at all).  Per-registry CAs and client certificates come from a
# certs.d-style tree (-o certs_dir=), never from /etc, except in the one test that checks
# /etc/docker/certs.d and only creates a directory there that did not exist.

load ../lib/suite

setup_file() {
	export TESTDIR=$BATS_FILE_TMPDIR
	require_fuse
	if [[ -z ${REGFS_SKIP_REASON:-} ]] && ! python3 -c 'import cryptography' 2>/dev/null; then
		export REGFS_SKIP_REASON="python3 lacks cryptography (python3-cryptography)"
	fi
	[[ -z ${REGFS_SKIP_REASON:-} ]] || return 0
	registry_start "$TESTDIR/reg"
	export SUMMARY="$TESTDIR/summary.json"
	python3 "$REGFS_LIB_DIR/fixtures.py" --registry "$REGISTRY" --set seed --summary "$SUMMARY"

	local pki="$TESTDIR/pki" host
	mkdir -p "$pki"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=regfs test CA" \
		-keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$pki/srv.key" -out "$pki/srv.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		>"$pki/ext"
	openssl x509 -req -in "$pki/srv.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 1 -extfile "$pki/ext" -out "$pki/srv.pem" 2>/dev/null
	# a client certificate from the same CA, as `docker` users put it in certs.d
	openssl req -newkey rsa:2048 -nodes -subj "/CN=regfs test client" \
		-keyout "$pki/client.key" -out "$pki/client.csr" 2>/dev/null
	printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$pki/ext-client"
	openssl x509 -req -in "$pki/client.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 1 -extfile "$pki/ext-client" -out "$pki/client.cert" 2>/dev/null
	make_cert "$pki" expired
	make_cert "$pki" mismatch

	tls_registry_start tls "$pki/srv.pem" "$pki/srv.key"
	tls_registry_start mtls "$pki/srv.pem" "$pki/srv.key" "$pki/ca.pem"
	mux_start expired "$pki/expired.pem" "$pki/expired.key"
	mux_start mismatch "$pki/mismatch.pem" "$pki/mismatch.key"

	# certs.d trees: CAs for every host; the client certificate only in the first
	for host in "$(h tls)" "$(h mtls)" "$(h expired)" "$(h mismatch)"; do
		mkdir -p "$TESTDIR/certs.d/$host" "$TESTDIR/certs-nocl.d/$host"
		cp "$pki/ca.pem" "$TESTDIR/certs.d/$host/ca.crt"
		cp "$pki/ca.pem" "$TESTDIR/certs-nocl.d/$host/ca.crt"
	done
	cp "$pki/client.cert" "$pki/client.key" "$TESTDIR/certs.d/$(h mtls)/"
	chmod 600 "$TESTDIR/certs.d/$(h mtls)/client.key"

	regfs_mount "$TESTDIR/mnt-ca" "registry=$(h tls)" "cafile=$pki/ca.pem" \
		"cache_dir=$TESTDIR/cache-ca" "logfile=$TESTDIR/regfs-ca.log"
	regfs_mount "$TESTDIR/mnt-noca" "registry=$(h tls)" \
		"cache_dir=$TESTDIR/cache-noca" "logfile=$TESTDIR/regfs-noca.log"
	regfs_mount "$TESTDIR/mnt-certs" "registry=$(h tls)" "registry=$(h mtls)" \
		"registry=$(h expired)" "registry=$(h mismatch)" "certs_dir=$TESTDIR/certs.d" \
		"cache_dir=$TESTDIR/cache-certs" "logfile=$TESTDIR/regfs-certs.log"
	regfs_mount "$TESTDIR/mnt-nocl" "registry=$(h mtls)" "certs_dir=$TESTDIR/certs-nocl.d" \
		"cache_dir=$TESTDIR/cache-nocl" "logfile=$TESTDIR/regfs-nocl.log"
}

teardown_file() {
	local name
	[[ -n ${TESTDIR:-} ]] || return 0
	for name in ca noca certs nocl etc downgrade j1; do
		regfs_unmount "$TESTDIR/mnt-$name" || true
	done
	etc_certs_cleanup
	for name in tls mtls j1; do
		_stop_pidfile "$TESTDIR/$name/registry.pid" 5 || true
	done
	for name in expired mismatch; do
		_stop_pidfile "$TESTDIR/mux-$name.pid" 5 || true
	done
	_stop_pidfile "$TESTDIR/downgrade/proxy.pid" 5 || true
	registry_stop "$TESTDIR/reg" || true
}

setup() { regfs_skip_if_needed; }

# on failure: the end of each mount's log
teardown() {
	local f
	[[ -z ${BATS_TEST_COMPLETED:-} && -z ${BATS_TEST_SKIPPED:-} ]] || return 0
	for f in "$TESTDIR"/regfs-*.log; do
		[[ -e $f ]] || continue
		echo "--- $f" >&2
		tail -n 15 "$f" >&2
	done
}

# h NAME — the host:port of the TLS server NAME.
h() {
	cat "$TESTDIR/$1.host"
}

# make_cert PKI expired|mismatch — PKI/NAME.{pem,key}: a server certificate from the test CA
# that expired yesterday (for IP 127.0.0.1), or a valid one for a DNS name only.
make_cert() {
	python3 - "$1" "$2" <<'PYEOF'
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

pki, kind = sys.argv[1], sys.argv[2]
ca = x509.load_pem_x509_certificate(open(pki + "/ca.pem", "rb").read())
ca_key = serialization.load_pem_private_key(open(pki + "/ca.key", "rb").read(), None)
key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
if kind == "expired":
    cn, san = "127.0.0.1", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    before, after = now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)
else:
    cn, san = "registry.regfs.test", x509.DNSName("registry.regfs.test")
    before, after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)
cert = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(before)
        .not_valid_after(after)
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256()))
open(pki + "/" + kind + ".pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(pki + "/" + kind + ".key", "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()))
PYEOF
}

# tls_registry_start NAME CERT KEY [CLIENT_CA] — docker-registry over HTTPS on the fixtures'
# storage, in TESTDIR/NAME; with CLIENT_CA it requires a client certificate from that CA.
# Writes TESTDIR/NAME.host.
tls_registry_start() {
	local name=$1 cert=$2 key=$3 clientca=${4:-} port dir="$TESTDIR/$1"
	port=$(free_port)
	mkdir -p "$dir"
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/storage
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $cert
    key: $key
EOF
	if [[ -n $clientca ]]; then
		printf '    clientcas:\n      - %s\n' "$clientca" >>"$dir/config.yml"
	fi
	setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null 3>&- &
	echo $! >"$dir/registry.pid"
	local -a client=()
	[[ -z $clientca ]] || client=(--cert "$TESTDIR/pki/client.cert" --key "$TESTDIR/pki/client.key")
	_wait_until 15 curl -fsS --cacert "$TESTDIR/pki/ca.pem" "${client[@]}" \
		"https://127.0.0.1:$port/v2/" || {
		echo "TLS registry '$name' did not start; log:" >&2
		tail -n 20 "$dir/registry.log" >&2
		return 1
	}
	echo "127.0.0.1:$port" >"$TESTDIR/$name.host"
}

# mux_start NAME CERT KEY — tests/lib/tls_mux.py with CERT in front of the plain registry.
# Its connection log is TESTDIR/mux-NAME.log.  Writes TESTDIR/NAME.host.
mux_start() {
	local name=$1 port
	port=$(daemon_start "$TESTDIR" "mux-$1" 10 python3 "$REGFS_LIB_DIR/tls_mux.py" \
		--cert "$2" --key "$3" --upstream "$REGISTRY" --log "$TESTDIR/mux-$name.log") || return
	: >>"$TESTDIR/mux-$name.log"
	echo "127.0.0.1:$port" >"$TESTDIR/$name.host"
}

# plain_count NAME — plain-HTTP connections the mux NAME has had so far.
plain_count() {
	grep -c '^plain$' "$TESTDIR/mux-$1.log" || true
}

# log_has LOG HOST REGEX — LOG has a line naming registry HOST that matches REGEX (extended).
log_has() {
	grep -F "registry '$2'" "$1" | grep -qE "$3" || {
		echo "no line naming registry '$2' and matching /$3/ in $1:" >&2
		cat "$1" >&2
		return 1
	}
}

# assert_browses MNT HOST — MNT/HOST lists the fixtures and every digest checks out.
assert_browses() {
	local dir="$1/$2/onap/py-app-arm64v8/latest" want layer
	run fs ls "$1/$2/onap"
	[ "$status" -eq 0 ]
	[[ $output == *py-app-arm64v8* ]]
	want=$(sum '.refs["onap/py-app-arm64v8:latest"].digest')
	[ "$(sha256_of "$dir/manifest.json")" = "$want" ]
	[ "$(fs cat "$dir/platform")" = "linux/arm64/v8" ]
	layer=$(sum '.refs["onap/py-app-arm64v8:latest"].layers[1].name')
	[ "$(sha256_of "$dir/layers/$layer")" = "${layer#*-}" ]
}

# assert_no_blobs CACHE — nothing was stored from an unverified connection.
assert_no_blobs() {
	[ -z "$(find "$1" -type f -path '*blobs/sha256/*' 2>/dev/null)" ]
}

# etc_certs_cleanup — undo what the /etc/docker/certs.d test created (and only that).
etc_certs_cleanup() {
	local made
	[[ -s $TESTDIR/etc-made ]] || return 0
	# deepest first: the host directory, then certs.d if the test made it
	while IFS= read -r made; do
		case $made in
		/etc/docker/certs.d/127.0.0.1:* | /etc/docker/certs.d)
			rm -f -- "$made/ca.crt"
			rmdir -- "$made" 2>/dev/null || true
			;;
		esac
	done < <(tac "$TESTDIR/etc-made")
	rm -f "$TESTDIR/etc-made"
}

@test "with cafile, an HTTPS registry browses and every digest verifies" {
	assert_browses "$TESTDIR/mnt-ca" "$(h tls)"
	# it spoke TLS: the HTTPS registry logged the requests
	grep -q 'onap/py-app-arm64v8/manifests/latest' "$TESTDIR/tls/registry.log"
}

@test "without the CA: EIO, not ENOENT, and the log says which host and why" {
	local host
	host=$(h tls)
	assert_fails_with "Input/output error" fs ls "$TESTDIR/mnt-noca/$host/onap"
	log_has "$TESTDIR/regfs-noca.log" "$host" \
		'TLS certificate verify failed: (unable to get local issuer certificate|self.signed)'
	# and it says where CAs were looked for
	log_has "$TESTDIR/regfs-noca.log" "$host" "certs.d>/$host/ca.crt"
	# nothing was served over an unverified connection
	assert_no_blobs "$TESTDIR/cache-noca"
}

@test "certs_dir: the registry's CA from <dir>/<host>/ca.crt, no cafile" {
	local mark
	mark=$(wc -l <"$TESTDIR/tls/registry.log")
	assert_browses "$TESTDIR/mnt-certs" "$(h tls)"
	sleep 0.3
	tail -n +"$((mark + 1))" "$TESTDIR/tls/registry.log" |
		grep -q 'onap/py-app-arm64v8/manifests/latest'
}

@test "client certificate: client.cert and client.key in certs_dir open a registry that requires one" {
	local mark
	mark=$(wc -l <"$TESTDIR/mtls/registry.log")
	assert_browses "$TESTDIR/mnt-certs" "$(h mtls)"
	sleep 0.3
	tail -n +"$((mark + 1))" "$TESTDIR/mtls/registry.log" |
		grep -q 'onap/py-app-arm64v8/manifests/latest'
}

@test "client certificate missing: refused, the log names the host and says so" {
	local host out rc=0
	host=$(h mtls)
	out=$(fs ls "$TESTDIR/mnt-nocl/$host/onap" 2>&1) || rc=$?
	[ "$rc" -ne 0 ]
	[[ $out == *"Input/output error"* || $out == *"Permission denied"* ]] || {
		echo "unexpected: $out" >&2
		return 1
	}
	log_has "$TESTDIR/regfs-nocl.log" "$host" \
		'TLS refused by the server: .*client certificate and none was sent'
	# the registry saw a TLS client without a certificate, and served nothing
	grep -q "TLS handshake error.*certificate" "$TESTDIR/mtls/registry.log"
	assert_no_blobs "$TESTDIR/cache-nocl"
}

@test "expired certificate: EIO, the log says it expired, and plain HTTP is never tried" {
	local host before
	host=$(h expired)
	before=$(plain_count expired)
	assert_fails_with "Input/output error" fs ls "$TESTDIR/mnt-certs/$host/onap"
	assert_fails_with "Input/output error" \
		fs cat "$TESTDIR/mnt-certs/$host/onap/py-app-arm64v8/latest/digest"
	log_has "$TESTDIR/regfs-certs.log" "$host" 'TLS certificate verify failed: certificate has expired'
	# regfs did speak TLS to it, and never plain HTTP ...
	grep -q '^tls handshake failed' "$TESTDIR/mux-expired.log"
	[ "$(plain_count expired)" -eq "$before" ]
	# ... which would have worked: the port serves the registry over plain HTTP
	curl -fsS "http://$host/v2/" >/dev/null
	[ "$(plain_count expired)" -gt "$before" ]
}

@test "name mismatch: EIO, the log says the name does not match, and plain HTTP is never tried" {
	local host before
	host=$(h mismatch)
	before=$(plain_count mismatch)
	assert_fails_with "Input/output error" fs ls "$TESTDIR/mnt-certs/$host/onap"
	log_has "$TESTDIR/regfs-certs.log" "$host" \
		"TLS certificate verify failed: name mismatch .*'127\.0\.0\.1'"
	# (curl checks the name once the handshake is done: the mux may see it succeed)
	grep -q '^tls handshake' "$TESTDIR/mux-mismatch.log"
	[ "$(plain_count mismatch)" -eq "$before" ]
	curl -fsS "http://$host/v2/" >/dev/null
	[ "$(plain_count mismatch)" -gt "$before" ]
}

@test "a failed registry does not spoil the others of the mount" {
	# the mount that holds expired and mismatch still serves tls and mtls
	run fs cat "$TESTDIR/mnt-certs/$(h tls)/onap/py-app-arm64v8/latest/platform"
	[ "$status" -eq 0 ]
	[ "$output" = "linux/arm64/v8" ]
}

@test "/etc/docker/certs.d/<host>/ca.crt is read (only where no directory existed)" {
	local host dir=/etc/docker/certs.d
	host=$(h tls)
	if [[ $(id -u) -ne 0 ]]; then
		skip "needs root to write /etc/docker/certs.d"
	fi
	if [[ -e $dir/$host || -e /etc/containers/certs.d/$host ]]; then
		skip "$dir/$host or /etc/containers/certs.d/$host exists already: not touched"
	fi
	# record what is made, deepest last, so teardown_file removes exactly that
	[[ -d $dir ]] || { mkdir -p "$dir" && echo "$dir" >>"$TESTDIR/etc-made"; }
	mkdir "$dir/$host" && echo "$dir/$host" >>"$TESTDIR/etc-made"
	trap etc_certs_cleanup EXIT
	cp "$TESTDIR/pki/ca.pem" "$dir/$host/ca.crt"
	regfs_mount "$TESTDIR/mnt-etc" "registry=$host" "cache_dir=$TESTDIR/cache-etc" \
		"logfile=$TESTDIR/regfs-etc.log"
	run fs cat "$TESTDIR/mnt-etc/$host/onap/py-app-arm64v8/latest/platform"
	regfs_unmount "$TESTDIR/mnt-etc"
	etc_certs_cleanup
	trap - EXIT
	[ ! -e "$dir/$host" ]
	[ "$status" -eq 0 ]
	[ "$output" = "linux/arm64/v8" ]
}

@test "an https registry that redirects a blob to http: EIO, the http side never connected to, the log says why" {
	local dir="$TESTDIR/downgrade" mnt="$TESTDIR/mnt-downgrade" port host d layer
	mkdir -p "$dir"
	port=$(daemon_start "$dir" proxy 10 python3 "$REGFS_LIB_DIR/redirect_proxy.py" \
		--upstream "$REGISTRY" --tls-cert "$TESTDIR/pki/srv.pem" --tls-key "$TESTDIR/pki/srv.key" \
		--storage-port-file "$dir/storage.port" --storage-log "$dir/storage.log")
	host="127.0.0.1:$port"
	regfs_mount "$mnt" "registry=$host" "cafile=$TESTDIR/pki/ca.pem" "cache_dir=$dir/cache" \
		"logfile=$TESTDIR/regfs-downgrade.log"
	d="$mnt/$host/onap/py-app-arm64v8/latest"
	# the front itself is fine: the manifest comes from it over https
	[ "$(sha256_of "$d/manifest.json")" = "$(sum '.refs["onap/py-app-arm64v8:latest"].digest')" ]
	! grep -q "registry '$host': plain HTTP" "$TESTDIR/regfs-downgrade.log" ||
		{ echo "regfs fell back to plain HTTP with the front" >&2; return 1; }
	layer=$(sum '.refs["onap/py-app-arm64v8:latest"].layers[1].name')
	# refused, not followed and not hung (fs is bounded, and assert_fails_with tells a timeout)
	assert_fails_with "Input/output error" fs cat "$d/layers/$layer"
	# the plain-HTTP storage listener (which would serve the right bytes) was never connected to
	[ ! -s "$dir/storage.log.connections" ] ||
		{ echo "the http listener was reached:" >&2; cat "$dir/storage.log" >&2; return 1; }
	grep -qE "blob '[^']*${layer#*-}' on '$host': redirected to plain http \('127\.0\.0\.1:[0-9]+'\): refused, https is never followed to http" \
		"$TESTDIR/regfs-downgrade.log" || { echo "the log does not say why:" >&2; cat "$TESTDIR/regfs-downgrade.log" >&2; return 1; }
	# nothing stored under the layer's name, no temp file left (the manifest is cached, rightly)
	[ ! -e "$dir/cache/blobs/sha256/${layer#*-sha256:}" ]
	[ -z "$(find "$dir/cache/tmp" -type f)" ]
	regfs_unmount "$mnt"
	_stop_pidfile "$dir/proxy.pid" 5
}

# J1: the pieces above and auth.bats' Basic together, as a registry is run for real: one
# docker-registry with TLS from the test CA and htpasswd Basic auth, on the fixtures' storage.
# regfs has the CA (cafile) and the credentials (auth_file); a list committed through it is
# read back by skopeo with the same CA and credentials.
@test "htpasswd Basic over TLS from a test CA: browse, verify, commit a list that skopeo reads back" {
	local reason pki="$TESTDIR/pki" dir="$TESTDIR/j1" mnt="$TESTDIR/mnt-j1" pw port host d digest
	local layer name
	reason=$(command -v htpasswd) || skip "'htpasswd' is not installed (apache2-utils)"
	mkdir -p "$dir/certs"
	pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	htpasswd -Bbn -C 4 j1user "$pw" | sed '/^$/d' >"$dir/htpasswd"
	port=$(free_port)
	cat >"$dir/config.yml" <<EOF2
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/storage
  redirect:
    disable: true
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $pki/srv.pem
    key: $pki/srv.key
auth:
  htpasswd:
    realm: regfs-test-j1
    path: $dir/htpasswd
EOF2
	setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null 3>&- &
	echo $! >"$dir/registry.pid"
	host=127.0.0.1:$port
	_wait_until 15 curl -fsS --cacert "$pki/ca.pem" -u "j1user:$pw" "https://$host/v2/"
	# without credentials it refuses, with its Basic challenge
	[ "$(curl -sS --cacert "$pki/ca.pem" -o /dev/null -w '%{http_code}' "https://$host/v2/")" = 401 ]
	python3 - "$dir/auth.json" "$host" "j1user:$pw" <<'PYEOF'
import base64, json, sys
json.dump({"auths": {sys.argv[2]: {"auth": base64.b64encode(sys.argv[3].encode()).decode()}}},
          open(sys.argv[1], "w"))
PYEOF
	cp "$pki/ca.pem" "$dir/certs/ca.crt"
	regfs_mount "$mnt" "registry=$host" "cafile=$pki/ca.pem" "auth_file=$dir/auth.json" \
		"cache_dir=$TESTDIR/cache-j1" "state_dir=$TESTDIR/state-j1" "logfile=$TESTDIR/regfs-j1.log"

	# browse: ls, cat, and every digest verifies
	assert_browses "$mnt" "$host"
	while read -r name layer; do
		[ "$(sha256_of "$mnt/$host/onap/py-app-amd64/latest/layers/$name")" = "$layer" ]
	done < <(sum '.refs["onap/py-app-amd64:latest"].layers[] | "\(.name) \(.digest)"')

	# push a list of two architectures
	d="$mnt/$host/onap/py-app/j1"
	fs mkdir -p "$d"
	fs ln -s ../../py-app-amd64/latest "$d/amd64"
	fs ln -s ../../py-app-arm64v8/latest "$d/arm64v8"
	fs cat "$d/.preview.json" >"$BATS_TEST_TMPDIR/preview.json"
	digest=$(fs cat "$d/.digest")
	fs touch "$d/.commit"
	[ "$(fs cat "$d/digest")" = "$digest" ]
	# the registry's side, through TLS with the same CA and credentials
	skopeo inspect --raw --cert-dir "$dir/certs" --creds "j1user:$pw" \
		"docker://$host/onap/py-app:j1" >"$BATS_TEST_TMPDIR/pushed.json"
	cmp "$BATS_TEST_TMPDIR/preview.json" "$BATS_TEST_TMPDIR/pushed.json"
	[ "$(jq -r '[.manifests[].platform.architecture] | join(" ")' "$BATS_TEST_TMPDIR/pushed.json")" = "amd64 arm64" ]
	# and nobody without them reads it
	[ "$(curl -sS --cacert "$pki/ca.pem" -o /dev/null -w '%{http_code}' \
		"https://$host/v2/onap/py-app/manifests/j1")" = 401 ]
	# the password is nowhere in what regfs wrote
	! grep -rqF -- "$pw" "$TESTDIR/regfs-j1.log" "$TESTDIR/state-j1" || false
	regfs_unmount "$mnt"
	_stop_pidfile "$dir/registry.pid" 5
}
