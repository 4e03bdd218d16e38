#!/usr/bin/python3
"""A small Docker registry token server (the "auth: token:" flow) for the auth tests.

docker-registry in token mode answers 401 with
  WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",service="...",scope="..."
and a client fetches  GET REALM?service=SERVICE&scope=repository:REPO:pull  here, with Basic
credentials when it has them.  This server checks them against a users file and answers
{"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": ...}.

The JWT is what distribution 2.8 verifies: ES256, header "x5c" carrying the signing
certificate (base64 DER) and the CA that issued it; the registry's rootcertbundle is that CA,
which this server generates at start and writes to --root-out.  Claims: iss, sub, aud (the
service), exp, nbf, iat, jti and "access": [{"type", "name", "actions"}], holding only what
the user is granted out of what was asked (as Docker's own auth servers do: a user without
rights gets a valid token with no access, and the registry then refuses the request).

Users file (JSON), re-read on every request:
  {"user": {"password": "...", "pull": ["*"] | ["onap/py-app", ...], "push": [...],
            "catalog": true, "expires_in": 3, "refresh_token": "...", "pad_answer": N}, ...}
A request without credentials is anonymous and is granted nothing.  Wrong credentials get
401.  "expires_in" defaults to --expires-in.  "pad_answer": N makes that user's token answers
(200) N bytes longer, in a "padding" member no client reads: an oversized answer, for the
cap on what a client reads from a token server.  Answers no real token server sends (this
server is a fake for them): "answer": "no-token" answers 200 with expires_in and issued_at but
neither "token" nor "access_token"; "answer": "not-json" answers 200 with a text body;
"answer": "deep" answers 200 with a "token" of 100,000 nested '['.
"issued_at_offset": S sets issued_at S seconds off the clock (a skewed token server).
"redirect_to": URL answers that user's request, once its credentials are checked, with a 307
to URL + the request's own path and query (a token service that moved to another host).

Docker's identity tokens: POST /token with the OAuth2 form grant_type=refresh_token,
refresh_token, service, scope (repeated) and client_id is answered like a GET, for the user
whose "refresh_token" matches (else 401); the answer then carries access_token only.

--delay S makes every answer wait S seconds (so concurrent clients overlap a fetch).

Logs: --log gets one JSON line per request:
  {"scopes": [...], "service": ..., "creds": "none"|"ok"|"bad", "user": NAME|null,
   "authorization": true|false (an Authorization header came), "status": 200|401|400,
   "granted": [...], "padded": N (when the answer was padded)}
never a password or a token.  --issued gets every token handed out, one a line, so a test
can look for them where they must not be (regfs' logs, xattrs); nothing else reads it.

Listens on loopback only: 127.0.0.1, or another 127.x.y.z address with --host (a realm on
"another host" for the tests of where credentials may go); --port 0 picks a free port, written
to --port-file once the root certificate is written and the socket is listening.

Needs PyJWT and cryptography (Debian: python3-jwt, python3-cryptography).
"""

import argparse
import base64
import binascii
import datetime
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOCK = threading.Lock()  # serialises writes to the log files


def make_pki(root_out):
    """A CA and a signing certificate it issued.  Writes the CA (PEM) to root_out.
    Returns (signing key, [signing cert DER b64, CA DER b64])."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regfs test token CA")])
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regfs test token signer")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256()))

    tmp = root_out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, root_out)
    chain = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in (leaf, ca)]
    return key, chain


def parse_scope(s):
    """"repository:a/b:pull,push" -> ("repository", "a/b", ["pull", "push"]), or None.
    The name may hold ':' only in the registry:catalog:* form, so split from both ends."""
    typ, sep, rest = s.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not typ or not name:
        return None
    return typ, name, [a for a in actions.split(",") if a]


def grant(user, typ, name, actions):
    """The actions of (typ, name, actions) that user (a users-file entry or None) may have."""
    if user is None:
        return []
    if typ == "registry" and name == "catalog":
        return ["*"] if user.get("catalog") and "*" in actions else []
    if typ == "repository":
        out = []
        for act in ("pull", "push"):
            allowed = user.get(act, [])
            if act in actions and ("*" in allowed or name in allowed):
                out.append(act)
        return out
    return []


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "regfs-token-server"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def reply(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def record(self, entry):
        with LOCK, open(self.server.opts.log, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode() if n else "")
        self.answer(form, oauth=True)

    def do_GET(self):
        self.answer(None, oauth=False)

    def answer(self, form, oauth):
        opts = self.server.opts
        if opts.delay:
            time.sleep(opts.delay)
        url = urllib.parse.urlsplit(self.path)
        q = form if oauth else urllib.parse.parse_qs(url.query)
        scopes = q.get("scope", [])
        service = q.get("service", [None])[0]
        entry = {"scopes": scopes, "service": service, "creds": "none", "user": None,
                 "method": "POST" if oauth else "GET",
                 "authorization": self.headers.get("Authorization") is not None}

        if url.path != "/token":
            entry["status"] = 404
            self.record(entry)
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
            return

        with open(opts.users) as f:
            users = json.load(f)
        user = None
        hdr = self.headers.get("Authorization")
        if oauth:
            rt = q.get("refresh_token", [""])[0]
            match = [u for u, v in users.items() if rt and v.get("refresh_token") == rt]
            if q.get("grant_type", [""])[0] != "refresh_token" or not match or hdr:
                entry["creds"] = "bad"
                entry["status"] = 401
                self.record(entry)
                self.reply(401, {"error": "invalid_grant"})
                return
            entry["creds"], entry["user"], user = "refresh", match[0], users[match[0]]
        elif hdr:
            entry["creds"] = "bad"
            scheme, _, b64 = hdr.partition(" ")
            try:
                name, sep, password = base64.b64decode(b64, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if scheme.lower() == "basic" and sep and name in users and users[name]["password"] == password:
                entry["creds"], entry["user"], user = "ok", name, users[name]
            else:
                entry["user"] = name if sep else None
                entry["status"] = 401
                self.record(entry)
                self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                           {"WWW-Authenticate": 'Basic realm="regfs-test-token"'})
                return
        if user and user.get("redirect_to"):
            entry["status"] = 307
            self.record(entry)
            self.send_response(307)
            self.send_header("Location", user["redirect_to"] + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if service != opts.service:
            entry["status"] = 400
            self.record(entry)
            self.reply(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
            return

        access = []
        for s in scopes:
            for one in s.split(" "):
                p = parse_scope(one)
                if p is None:
                    continue
                acts = grant(user, *p)
                if acts:
                    access.append({"type": p[0], "name": p[1], "actions": acts})
        expires_in = int(user.get("expires_in", opts.expires_in)) if user else opts.expires_in
        now = int(time.time())
        claims = {"iss": opts.issuer, "sub": entry["user"] or "", "aud": opts.service,
                  "exp": now + expires_in, "nbf": now - 5, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        token = jwt.encode(claims, self.server.key, algorithm="ES256",
                           headers={"x5c": self.server.chain})
        if isinstance(token, bytes):
            token = token.decode()
        with LOCK, open(opts.issued, "a") as f:
            f.write(token + "\n")
        entry["status"] = 200
        entry["granted"] = ["%s:%s:%s" % (a["type"], a["name"], ",".join(a["actions"])) for a in access]
        entry["expires_in"] = expires_in
        if user and int(user.get("pad_answer", 0)) > 0:
            entry["padded"] = int(user["pad_answer"])
        self.record(entry)
        skew = int(user.get("issued_at_offset", 0)) if user else 0
        answer = {"access_token": token, "expires_in": expires_in,
                  "issued_at": datetime.datetime.fromtimestamp(now + skew, datetime.timezone.utc)
                  .strftime("%Y-%m-%dT%H:%M:%SZ")}
        if not oauth:
            answer["token"] = token
        mode = user.get("answer") if user else None
        if mode == "no-token":
            del answer["access_token"]
            answer.pop("token", None)
        elif mode in ("not-json", "deep"):
            body = b"<html>a token server in trouble</html>" if mode == "not-json" else \
                b'{"token": ' + b"[" * 100000
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        pad = int(user.get("pad_answer", 0)) if user else 0
        if pad > 0:
            answer["padding"] = "x" * pad
        self.reply(200, answer)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1", help="a 127.x.y.z address to listen on")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--root-out", required=True, help="write the CA certificate (PEM) here")
    ap.add_argument("--users", required=True, help="users JSON file")
    ap.add_argument("--log", required=True, help="one JSON line per request")
    ap.add_argument("--issued", required=True, help="every token issued, one a line")
    ap.add_argument("--service", default="regfs-test-registry")
    ap.add_argument("--issuer", default="regfs-test-token-server")
    ap.add_argument("--expires-in", type=int, default=300)
    ap.add_argument("--delay", type=float, default=0.0)
    opts = ap.parse_args()
    if not opts.host.startswith("127."):
        ap.error("--host must be a 127.x.y.z loopback address")

    key, chain = make_pki(opts.root_out)
    srv = http.server.ThreadingHTTPServer((opts.host, opts.port), Handler)
    srv.daemon_threads = True
    srv.opts, srv.key, srv.chain = opts, key, chain
    for path in (opts.log, opts.issued):
        open(path, "a").close()
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, opts.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
