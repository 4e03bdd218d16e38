#!/usr/bin/env python3
"""A small HTTP reverse proxy in front of a test registry, for what a real registry cannot do.

This proxy exists only for what the real registry under test cannot do: distribution 2.8
returns GET /v2/<name>/tags/list whole, ignoring n and last, so regfs' tag paging would never
be exercised; and a real registry does not serve invalid names, so regfs' name filtering would
never be exercised.  Everything else is forwarded unchanged to the upstream registry.

  GET /v2/<name>/tags/list   answered here: the upstream list, sorted, cut into pages of at
                             most --page-size tags (default 7, however large the client's n),
                             following n and last, with
                             Link: </v2/<name>/tags/list?last=X&n=N>; rel="next"
  --inject-bad-names         adds invalid tags ("../evil", "a/b", ".hidden", "x"*200,
                             "bad\\nname", ...) to the first tags/list page and invalid
                             repository names to the first _catalog page; regfs must skip them.
  --no-catalog               GET /v2/_catalog is 404, as on registries without the endpoint
                             (Docker Hub, GHCR): distribution always has one.
  --refuse-tag-puts-while F  while file F exists, a PUT of a manifest by tag (not by digest)
                             is answered 500 without reaching the registry: a push that fails
                             half-way, after the children went in.
  --blob-rate N              the bodies of blob GETs go out at about N bytes a second (a slow
                             link, which loopback cannot be); with --slow-blob DIGEST (repeatable)
                             only those blobs.
  --rate-limit-while F       a rate-limited registry, as Docker Hub is: every manifest answer
                             carries ratelimit-limit: 100;w=21600 and ratelimit-remaining (one
                             less each time) in Docker Hub's spelling, and while file F exists,
                             GET and HEAD of manifests and blobs are answered 429
                             TOOMANYREQUESTS with Retry-After: 3600, remaining 0 and
                             docker-ratelimit-source: 127.0.0.1, without reaching the registry.
  --delay-ms MS              every request waits MS ms before it is handled: a registry that
                             far away (scripts/bench.sh --latency), which loopback cannot be.
  --page-size 0              tags/list is not paged here: forwarded as the registry answers it.
  --max-n N                  tags/list?n= above N is refused with 400 PAGINATION_NUMBER_INVALID,
                             as registries with a page limit do (ECR: 1,000).
  --extra-tags REPO=N        tags/list of REPO (repeatable) also lists N made-up tags x0000000..
                             (a repository with 200,000 tags costs minutes to push, and only its
                             listing is measured); they are paged like the rest.
  --fault-rate P             a flaky registry: each GET or HEAD is, with probability P, answered
                             503 UNAVAILABLE (half of them) or cut off without an answer (a TCP
                             reset, the other half), without reaching the registry; logged as
                             "METHOD PATH FAULT-503" or "FAULT-RESET".  Writes are never faulted.
                             --fault-seed N makes the sequence repeatable.
  --wrong-put-digest         a manifest PUT is stored by the registry, but the answer's
                             Docker-Content-Digest names other bytes (sha256 of "not what you
                             sent"): a registry that rewrote what it was given.
  --hold-writes-while F      a push that takes as long as the test wants (a fault-injection
                             fake of a slow registry): while file F exists, each PUT, POST and
                             PATCH after the first --hold-writes-after N (default 0) is read
                             whole, logged "METHOD PATH HELD", and kept unanswered until F goes
                             away.  Then it is forwarded, unless its client hung up meanwhile
                             (logged "METHOD PATH ABANDONED"): a request nobody waits for any
                             more never reaches the registry, so a test's later pushes are not
                             raced by a dead client's.
  --hold-tag-puts-only       with --hold-writes-while: hold only manifest PUTs by tag (the
                             last step of a list's push), and forward them when released even
                             if the client is gone: a registry that finishes a request it had
                             taken in whole (logged "METHOD PATH FORWARDED" then).
  --revoke-tokens-when F     a token revoked while in use, which distribution cannot do (a
                             fault-injecting fake of a registry that can): each time file F
                             appears or its mtime changes, every Bearer token the proxy has
                             seen so far is revoked.  A request that carries a revoked token
                             is answered 401 UNAUTHORIZED with the registry's own challenge
                             (asked of it without the token) plus error="invalid_token", and
                             does not reach the registry; logged "METHOD PATH REVOKED".
                             Tokens first seen later pass.
  --refuse-tokens-while F    while file F exists, every Bearer token is revoked the moment it
                             is first used (and stays revoked): a token server whose new
                             tokens the registry refuses at once.

Listens on 127.0.0.1 only (port 0 = any free port); the port is printed on stdout and written
to --port-file.  Each request is logged to --log as "METHOD PATH STATUS".
"""

import argparse
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

# not copied from upstream responses (Date and Server are sent by http.server itself)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "date", "server"}

BAD_TAGS = ["../evil", "a/b", ".hidden", "x" * 200, "bad\nname", "..", ".", "",
            "-dash-first", "sp ace", "uni\u00e9"]
BAD_REPOS = ["../evil", "UPPER/case", ".hidden/repo", "a//b", "trailing/", "/leading",
             "bad\nname/x", "test/../../etc", "sp ace/x", "y" * 300, "", "ok/.."]

WRONG_DIGEST = "sha256:" + hashlib.sha256(b"not what you sent").hexdigest()

TAGS_RE = re.compile(r"^/v2/(.+)/tags/list$")
BLOB_RE = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")
MANIFEST_RE = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "regfs-paging-proxy"
    # Headers and body go out in separate writes; with Nagle on, the body of an answer on a
    # reused connection waits for the client's delayed ACK (40 ms here), which would add
    # twice --delay-ms to every request after a connection's first.  Registries (Go's
    # net/http) set TCP_NODELAY too.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def handle_one_request(self):
        # A TLS ClientHello (a client that tries https first, as docker does with --insecure)
        # gets a plain HTTP answer, as from distribution itself: Go's client then says "server
        # gave HTTP response to HTTPS client" and falls back to http, where a closed connection
        # would be a plain failure.
        try:
            first = self.rfile.peek(1)[:1]
        except OSError:
            first = b""
        if first == b"\x16":
            self.wfile.write(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.close_connection = True
            return
        super().handle_one_request()

    def log_request(self, code="-", size="-"):
        code = "FAULT-503" if getattr(self, "faulted", False) else code
        code = "REVOKED" if getattr(self, "revoked", False) else code
        self.server.log("%s %s %s" % (self.command, self.path, code))

    # -- forwarding ------------------------------------------------------------------------

    def upstream(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.server.upstream, timeout=60)
        conn.request(method, path, body=body, headers=headers or {})
        return conn, conn.getresponse()

    def forwarded_headers(self, keep):
        """The request's headers whose lower-case name @keep likes, for http.client: a header
        sent several times (docker sends one Accept per media type) becomes one, its values
        joined with ", ", or only the last would reach the registry."""
        headers = {}
        for k, v in self.headers.items():
            if keep(k.lower()):
                headers[k] = headers[k] + ", " + v if k in headers else v
        return headers

    def request_body(self):
        """The request's body, read once (a held write reads it before it is forwarded)."""
        if not self.body_read:
            n = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(n) if n else None
            self.body_read = True
        return self.body

    def forward(self):
        if self.server.no_catalog and urllib.parse.urlsplit(self.path).path == "/v2/_catalog":
            self.request_body()
            data = b'{"errors":[{"code":"UNSUPPORTED","message":"no catalog here"}]}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return
        body = self.request_body()
        headers = self.forwarded_headers(lambda k: k not in HOP_BY_HOP)
        headers["Host"] = self.server.upstream
        try:
            conn, resp = self.upstream(self.command, self.path, body, headers)
        except OSError as e:
            self.send_error(502, "upstream: %s" % e)
            return
        try:
            if self.command == "GET" and self.server.inject and \
                    urllib.parse.urlsplit(self.path).path == "/v2/_catalog" and resp.status == 200:
                self.catalog(resp)
                return
            self.send_response(resp.status)
            if MANIFEST_RE.match(urllib.parse.urlsplit(self.path).path):
                for k, v in self.rate_limit_headers(resp.status):
                    self.send_header(k, v)
            length = resp.getheader("Content-Length")
            for k, v in resp.getheaders():
                if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                    continue
                if k.lower() == "location":
                    v = v.replace("http://" + self.server.upstream, "http://" + self.server.me)
                if k.lower() == "docker-content-digest" and self.command == "PUT" and \
                        self.server.wrong_put_digest and \
                        MANIFEST_RE.match(urllib.parse.urlsplit(self.path).path):
                    v = WRONG_DIGEST
                self.send_header(k, v)
            if self.command == "HEAD" or resp.status in (204, 304):
                if length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
                return
            if length is None:
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Content-Length", length)
            self.end_headers()
            rate = self.slow_rate()
            while True:
                chunk = resp.read(max(1, rate // 10) if rate else 65536)
                if not chunk:
                    break
                self.wfile.write(chunk)
                if rate:
                    self.wfile.flush()
                    time.sleep(len(chunk) / rate)
        finally:
            conn.close()

    def rate_limit_headers(self, status=200):
        """Docker Hub's rate limit headers for a manifest answer (none without the option)."""
        if not self.server.rate_limit_while:
            return []
        with self.server._lock:
            if status == 200:
                self.server.remaining = max(0, self.server.remaining - 1)
            left = 0 if status == 429 else self.server.remaining
        return [("ratelimit-limit", "100;w=21600"), ("ratelimit-remaining", "%d;w=21600" % left),
                ("docker-ratelimit-source", "127.0.0.1")]

    def rate_limited(self, path):
        """Answer 429 when --rate-limit-while's file exists and this is a pull; True if so."""
        rl = self.server.rate_limit_while
        if not rl or self.command not in ("GET", "HEAD") or not os.path.exists(rl):
            return False
        if not (MANIFEST_RE.match(path) or BLOB_RE.match(path)):
            return False
        self.reply(429, {"errors": [{"code": "TOOMANYREQUESTS",
                                     "message": "You have reached your pull rate limit."}]},
                   [("Content-Type", "application/json"), ("Retry-After", "3600")] +
                   self.rate_limit_headers(429))
        return True

    def slow_rate(self):
        """Bytes a second this response's body may go at (0: as fast as it can)."""
        m = BLOB_RE.match(urllib.parse.urlsplit(self.path).path)
        if self.command != "GET" or not m or not self.server.blob_rate:
            return 0
        if self.server.slow_blobs and m.group(2) not in self.server.slow_blobs:
            return 0
        return self.server.blob_rate

    def catalog(self, resp):
        data = json.loads(resp.read())
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if "last" not in q:
            data["repositories"] = BAD_REPOS + data.get("repositories", [])
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        self.reply(200, data, headers)

    def reply(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # -- tags/list -------------------------------------------------------------------------

    def tags(self, name, query):
        if self.server.delay:
            time.sleep(self.server.delay)
        if not self.server.page_size and name not in self.server.extra_tags:
            self.forward()
            return
        headers = self.forwarded_headers(lambda k: k in ("authorization", "accept", "user-agent"))
        try:
            conn, resp = self.upstream("GET", "/v2/%s/tags/list" % name, None, headers)
        except OSError as e:
            self.send_error(502, "upstream: %s" % e)
            return
        try:
            data = resp.read()
            if resp.status != 200:
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                return
        finally:
            conn.close()
        obj = json.loads(data)
        tags = obj.get("tags") or []
        extra = self.server.extra_tags.get(name, 0)
        tags = sorted(tags + ["x%07d" % i for i in range(extra)])
        q = urllib.parse.parse_qs(query)
        n = self.server.page_size or len(tags) + 1
        try:
            if "n" in q and self.server.max_n and int(q["n"][0]) > self.server.max_n:
                raise ValueError("n over the limit")
            if "n" in q and 0 < int(q["n"][0]) < n:
                n = int(q["n"][0])
        except ValueError:
            self.reply(400, {"errors": [{"code": "PAGINATION_NUMBER_INVALID",
                                         "message": "invalid number of results requested"}]})
            return
        last = q.get("last", [None])[0]
        if last is not None:
            tags = [t for t in tags if t > last]
        page, rest = tags[:n], tags[n:]
        headers = [("Content-Type", "application/json; charset=utf-8"),
                   ("Docker-Distribution-Api-Version", "registry/2.0")]
        if rest:
            link = "/v2/%s/tags/list?%s" % (name, urllib.parse.urlencode({"last": page[-1], "n": n}))
            headers.append(("Link", '<%s>; rel="next"' % link))
        if self.server.inject and last is None:
            page = BAD_TAGS + page
        self.reply(200, {"name": obj.get("name", name), "tags": page}, headers)

    def inject_fault(self):
        """Whether this request got a fault instead of an answer (--fault-rate)."""
        kind = self.server.fault() if self.command in ("GET", "HEAD") else None
        self.faulted = kind == "503"  # set for each request before its answer: log_request names it
        if kind == "503":
            self.reply(503, {"errors": [{"code": "UNAVAILABLE", "message": "injected by the test"}]})
        elif kind == "reset":
            self.server.log("%s %s FAULT-RESET" % (self.command, self.path))
            # SO_LINGER 0: close() sends a RST, as a crashed or overloaded server does
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        return kind is not None

    def bearer_token(self):
        """The Bearer token this request carries, or None."""
        auth = self.headers.get("Authorization") or ""
        return auth[7:].strip() if auth[:7].lower() == "bearer " else None

    def token_revoked(self):
        """--revoke-tokens-when / --refuse-tokens-while: answer 401 invalid_token when this
        request's token is revoked; True if so."""
        srv = self.server
        self.revoked = False  # set for each request before its answer: log_request names it
        if not srv.revoke_when and not srv.refuse_while_tokens:
            return False
        token = self.bearer_token()
        try:
            mtime = os.stat(srv.revoke_when).st_mtime_ns if srv.revoke_when else None
        except OSError:
            mtime = None
        refuse = srv.refuse_while_tokens and os.path.exists(srv.refuse_while_tokens)
        with srv._lock:
            if mtime is not None and mtime != srv.revoke_mtime:
                srv.revoke_mtime = mtime
                srv.revoked |= srv.tokens_seen
            if token is not None:
                if refuse:
                    srv.revoked.add(token)
                srv.tokens_seen.add(token)
            bad = token is not None and token in srv.revoked
        if not bad:
            return False
        self.request_body()
        # the registry's own challenge for this request, as it gives it without a token
        headers = self.forwarded_headers(lambda k: k not in HOP_BY_HOP and k != "authorization")
        headers["Host"] = srv.upstream
        challenge = None
        try:
            conn, resp = self.upstream("HEAD" if self.command == "HEAD" else "GET", self.path,
                                       None, headers)
            challenge = resp.getheader("WWW-Authenticate")
            resp.read()
            conn.close()
        except OSError:
            pass
        if not challenge or not challenge.lower().startswith("bearer "):
            self.send_error(502, "upstream gave no Bearer challenge to revoke with")
            return True
        challenge = re.sub(r',\s*error="[^"]*"', "", challenge) + ',error="invalid_token"'
        self.revoked = True
        self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                     "message": "authentication required",
                                     "detail": "token revoked by the test"}]},
                   [("Content-Type", "application/json"), ("WWW-Authenticate", challenge)])
        return True

    def held_and_abandoned(self):
        """--hold-writes-while: keep this write unanswered while the file exists; True when its
        client hung up meanwhile (then it is not forwarded)."""
        srv = self.server
        if not srv.hold_while or self.command not in ("PUT", "POST", "PATCH"):
            return False
        if srv.hold_tag_puts_only:
            m = MANIFEST_RE.match(urllib.parse.urlsplit(self.path).path)
            if self.command != "PUT" or not m or m.group(2).startswith("sha256:"):
                return False
        with srv._lock:
            srv.writes_seen += 1
            n = srv.writes_seen
        if n <= srv.hold_after or not os.path.exists(srv.hold_while):
            return False
        self.request_body()  # all of it: the client now only waits for the answer
        srv.log("%s %s HELD" % (self.command, self.path))
        while os.path.exists(srv.hold_while):
            time.sleep(0.1)
        if not self.client_gone():
            return False
        if srv.hold_tag_puts_only:
            srv.log("%s %s FORWARDED" % (self.command, self.path))
            return False
        srv.log("%s %s ABANDONED" % (self.command, self.path))
        self.close_connection = True
        return True

    def client_gone(self):
        """Whether the client closed its end (it sends nothing more before an answer)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass  # the connection a fault cut off

    def dispatch(self):
        self.body, self.body_read = None, False  # one handler serves a connection's requests
        u = urllib.parse.urlsplit(self.path)
        m = TAGS_RE.match(u.path)
        refuse = self.server.refuse_while
        if self.inject_fault():
            return
        if self.token_revoked():
            return
        if self.rate_limited(u.path):
            return
        if self.held_and_abandoned():
            return
        if self.command == "PUT" and refuse and os.path.exists(refuse):
            mm = MANIFEST_RE.match(u.path)
            if mm and not mm.group(2).startswith("sha256:"):
                self.request_body()
                self.reply(500, {"errors": [{"code": "UNKNOWN", "message": "refused by the test"}]})
                return
        if self.command in ("GET", "HEAD") and m:
            self.tags(m.group(1), u.query)  # waits --delay-ms itself
            return
        if self.server.delay:
            time.sleep(self.server.delay)
        self.forward()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = dispatch


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), Handler)
        self.upstream = args.upstream
        self.page_size = args.page_size
        self.max_n = args.max_n
        self.inject = args.inject_bad_names
        self.refuse_while = args.refuse_tag_puts_while
        self.no_catalog = args.no_catalog
        self.blob_rate = args.blob_rate
        self.slow_blobs = set(args.slow_blob or [])
        self.rate_limit_while = args.rate_limit_while
        self.remaining = 100
        self.delay = args.delay_ms / 1000.0
        self.extra_tags = {}
        for spec in args.extra_tags or []:
            repo, _, n = spec.rpartition("=")
            self.extra_tags[repo] = int(n)
        self.me = "127.0.0.1:%d" % self.server_address[1]
        self._log = open(args.log, "a", buffering=1) if args.log else None
        self._lock = threading.Lock()
        self.wrong_put_digest = args.wrong_put_digest
        self.hold_while = args.hold_writes_while
        self.hold_after = args.hold_writes_after
        self.hold_tag_puts_only = args.hold_tag_puts_only
        self.writes_seen = 0
        self.fault_rate = args.fault_rate
        self._faults = random.Random(args.fault_seed)
        self.revoke_when = args.revoke_tokens_when
        self.refuse_while_tokens = args.refuse_tokens_while
        self.revoke_mtime = None
        self.tokens_seen = set()
        self.revoked = set()

    def fault(self):
        """None, or the fault the next read gets: "503" or "reset"."""
        if not self.fault_rate:
            return None
        with self._lock:
            x = self._faults.random()
        if x >= self.fault_rate:
            return None
        return "503" if x < self.fault_rate / 2 else "reset"

    def log(self, line):
        if self._log:
            with self._lock:
                self._log.write(line.replace("\n", "\\n") + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the plain-HTTP registry")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--max-n", type=int, default=0, metavar="N")
    ap.add_argument("--page-size", type=int, default=7,
                    help="most tags per tags/list page (0: forward tags/list unpaged)")
    ap.add_argument("--inject-bad-names", action="store_true",
                    help="add invalid tags and repository names to listings")
    ap.add_argument("--log", help="append one line per request here")
    ap.add_argument("--no-catalog", action="store_true", help="answer GET /v2/_catalog with 404")
    ap.add_argument("--refuse-tag-puts-while", metavar="FILE",
                    help="answer 500 to manifest PUTs by tag while FILE exists")
    ap.add_argument("--blob-rate", type=int, default=0, metavar="N",
                    help="send blob bodies at about N bytes a second")
    ap.add_argument("--slow-blob", action="append", metavar="DIGEST",
                    help="with --blob-rate: only this blob (repeatable)")
    ap.add_argument("--rate-limit-while", metavar="FILE",
                    help="rate limit headers on manifests; 429 to pulls while FILE exists")
    ap.add_argument("--delay-ms", type=float, default=0, metavar="MS",
                    help="wait MS ms before handling each request")
    ap.add_argument("--extra-tags", action="append", metavar="REPO=N",
                    help="list N made-up tags more in REPO's tags/list (repeatable)")
    ap.add_argument("--fault-rate", type=float, default=0, metavar="P",
                    help="answer this share of GETs and HEADs 503 or with a reset")
    ap.add_argument("--fault-seed", type=int, default=None, metavar="N",
                    help="seed of the fault sequence")
    ap.add_argument("--wrong-put-digest", action="store_true",
                    help="answer manifest PUTs with a Docker-Content-Digest of other bytes")
    ap.add_argument("--hold-writes-while", metavar="FILE",
                    help="keep PUTs, POSTs and PATCHes unanswered while FILE exists")
    ap.add_argument("--hold-writes-after", type=int, default=0, metavar="N",
                    help="with --hold-writes-while: let the first N writes through")
    ap.add_argument("--hold-tag-puts-only", action="store_true",
                    help="with --hold-writes-while: hold only manifest PUTs by tag, and "
                         "forward them when released whether or not the client waits")
    ap.add_argument("--revoke-tokens-when", metavar="FILE",
                    help="revoke every token seen so far each time FILE appears or changes")
    ap.add_argument("--refuse-tokens-while", metavar="FILE",
                    help="revoke every token at its first use while FILE exists")
    args = ap.parse_args()
    if not 0 <= args.fault_rate < 1:
        ap.error("--fault-rate must be at least 0 and below 1")
    if args.page_size < 0:
        ap.error("--page-size must be 0 (no paging) or more")
    if args.delay_ms < 0:
        ap.error("--delay-ms must not be negative")
    for spec in args.extra_tags or []:
        if not re.match(r"^[^=]+=[0-9]+$", spec):
            ap.error("--extra-tags wants REPO=N, not '%s'" % spec)

    srv = Server(args)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print(port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
