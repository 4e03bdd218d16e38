#!/usr/bin/env python3
"""A fake registry that serves hostile bytes, for what a real registry will not do.

This is not a registry: it answers a fixed set of repositories under hostile/ with responses
a real registry never sends (distribution 2.8 refuses to store them), so that regfs' refusals
can be tested end to end.  Every repository has one tag, "latest":

  hostile/ok          a correct OCI image (a control: regfs must serve it)
  hostile/big         a 5 MiB manifest (over regfs' 4 MiB cap)
  hostile/liar        a correct manifest with a Docker-Content-Digest that does not match it
  hostile/garbage     "manifest" bytes that are not JSON
  hostile/v1          a schema 1 manifest (unsupported: shown, never crashed on)
  hostile/shortblob   an image whose layer blob is shorter than its descriptor says
  hostile/longblob    an image whose layer blob is longer than its descriptor says
  hostile/slow        the manifest request is accepted and never answered

Faults of the exchange itself: each of these serves, after the fault, an image of its own
(hostile/ok's, its manifest annotated with the repository's name; for the resume-* ones, a
256 KiB layer of its own), so that nothing cached by digest answers for it.  "First" counts
per repository over the server's life; tests use each repository once.

  hostile/retry-seconds  first manifest GET: 503, Retry-After: 1
  hostile/retry-date     first manifest GET: 503, Retry-After as an HTTP-date 2 s ahead
  hostile/retry-past     first manifest GET: 503, Retry-After as an HTTP-date an hour ago
  hostile/retry-huge     every manifest GET: 503, Retry-After: 99999
  hostile/limit-date     every manifest GET: 429 TOOMANYREQUESTS, Retry-After an HTTP-date
  hostile/limit-past     every manifest GET: 429, Retry-After a date an hour ago
  hostile/limit-huge     every manifest GET: 429, Retry-After: 99999
  hostile/burst500       first manifest GET: 500 (not retried by regfs: the read fails)
  hostile/burst503       first two manifest GETs: 503 without Retry-After
  hostile/stall          manifest: the headers and 10 bytes of the body, then nothing
  hostile/overlong       manifest: Content-Length 10 bytes short of what is sent (8 MiB more)
  hostile/headers-many   manifest with 400 KB of response headers (400 of 1000 bytes)
  hostile/headers-huge   manifest with one 400 KB response header
  hostile/link-away      tags/list: "latest", and a Link to the next page on another host
                         name of this same server (localhost:PORT): never to be followed
  hostile/plain          no fault: an image nothing has read, for what a test does next
  hostile/resume         layer GET: the headers and half the body, then a reset; a Range
                         request gets 206 and the rest
  hostile/resume-full    the same, but the Range request gets 200 and the whole blob
  hostile/resume-wrong   the same, but the 206's Content-Range starts 100 bytes early (once;
                         later reads get the whole blob)
  hostile/resume-junk    the same, but the 206's Content-Range has two spaces (once)
  hostile/resume-dup     the same, but the 206 has two Content-Range headers, a wrong one
                         first (once)

Listings and bodies no real registry sends (tags/list unless said; each still has its
"latest" image for what reads it by tag):

  hostile/link-loop      page A ("a") links to page B ("b"), which links back to A
  hostile/link-endless   every page has one tag of its own and a Link to the next: no end
  hostile/link-malformed "latest", and a Link header with no <...> around its target
  hostile/deep-tags      tags/list: 100,000 nested '[' (not a listing: past any depth limit)
  hostile/dup-tags       tags/list: the "tags" key twice, ["first"] then ["latest"]
  hostile/chunked-big    manifest GET: 5 MiB, chunked (no Content-Length), over the 4 MiB cap
  hostile/huge-500       manifest GET: 500 with a 10 MB HTML body
  hostile/huge-404       manifest GET: 404 with a 10 MB JSON error body (code first)
  hostile/deep-500       manifest GET: 500 whose JSON body is 60,000 nested '['

Listens on 127.0.0.1 only; the port is printed and written to --port-file.  Each request is
logged to --log as "METHOD PATH STATUS t=SECONDS [range=RANGE]" (t: time.monotonic()).
"""

import argparse
import email.utils
import hashlib
import http.server
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Content:
    """The manifests and blobs served, built once at start."""

    def __init__(self):
        self.blobs = {}
        self.manifests = {}  # repo -> (bytes, content type, Docker-Content-Digest or None)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        self.blobs[digest(config)] = config

        def image(repo, layer, claimed_size, annotate=False):
            self.blobs[digest(layer)] = layer
            doc = {
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": digest(config),
                           "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": digest(layer),
                            "size": claimed_size}],
            }
            if annotate:
                # a manifest of its own: nothing regfs cached by digest answers for it
                doc["annotations"] = {"org.example.regfs.repository": repo}
            m = json.dumps(doc, indent=2).encode()
            self.manifests[repo] = (m, OCI_MANIFEST, digest(m))
            return m

        good = b"a perfectly ordinary layer\n" * 100
        image("hostile/ok", good, len(good))
        short = b"short layer bytes\n" * 50
        image("hostile/shortblob", short, len(short) + 10)
        long_ = b"long layer bytes\n" * 50
        image("hostile/longblob", long_, len(long_) - 10)

        ok = self.manifests["hostile/ok"][0]
        self.manifests["hostile/liar"] = (ok, OCI_MANIFEST, "sha256:" + "0" * 64)
        big = b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'", "x": "' + \
            b"A" * (5 << 20) + b'"}'
        self.manifests["hostile/big"] = (big, OCI_MANIFEST, digest(big))
        garbage = b"this is not json \x00\xff\xfe at all"
        self.manifests["hostile/garbage"] = (garbage, OCI_MANIFEST, digest(garbage))
        v1 = json.dumps({"schemaVersion": 1, "name": "hostile/v1", "tag": "latest",
                         "architecture": "amd64", "fsLayers": [], "history": [],
                         "signatures": []}, indent=3).encode()
        self.manifests["hostile/v1"] = (v1, V1_SIGNED, digest(v1))
        for repo in FAULTY:
            image(repo, good, len(good), annotate=True)
        for repo in RESUMING:
            # a layer of its own per repository, so that no read is served from the cache
            layer = hashlib.sha256(repo.encode()).digest() * (256 * 1024 // 32)
            image(repo, layer, len(layer))
        self.repos = sorted(list(self.manifests) + ["hostile/slow"])


FAULTY = ["hostile/retry-seconds", "hostile/retry-date", "hostile/retry-past",
          "hostile/retry-huge", "hostile/limit-date", "hostile/limit-past", "hostile/limit-huge",
          "hostile/burst500", "hostile/burst503", "hostile/stall", "hostile/overlong",
          "hostile/headers-many", "hostile/headers-huge", "hostile/link-away",
          "hostile/plain", "hostile/link-loop", "hostile/link-endless",
          "hostile/link-malformed", "hostile/deep-tags", "hostile/dup-tags",
          "hostile/chunked-big", "hostile/huge-500", "hostile/huge-404", "hostile/deep-500"]
LISTINGS = ["hostile/link-loop", "hostile/link-endless", "hostile/link-malformed",
            "hostile/deep-tags", "hostile/dup-tags"]
RESUMING = ["hostile/resume", "hostile/resume-full", "hostile/resume-wrong",
            "hostile/resume-junk", "hostile/resume-dup"]


def http_date(offset):
    """An IMF-fixdate OFFSET seconds from now."""
    return email.utils.formatdate(time.time() + offset, usegmt=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "regfs-hostile-registry"
    # headers and body go out in two writes: without this, each answer waits on the
    # client's delayed ACK (40 ms), and 10,000 pages would take minutes
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        rng = self.headers.get("Range")
        self.server.log("%s %s %s t=%.3f%s" % (self.command, self.path, code, time.monotonic(),
                                                " range=" + rng if rng else ""))

    def send(self, status, body=b"", ctype="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reset(self):
        """Drop the connection with a TCP reset, whatever is in flight."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def error(self, status, code, extra=None):
        self.send(status, json.dumps({"errors": [{"code": code, "message": "fault"}]}).encode(),
                  extra=extra)

    def manifest_fault(self, repo, body, ctype, dcd):
        """Answer a manifest GET of a FAULTY repository; True when answered."""
        n = self.server.count(repo)
        if repo == "hostile/retry-seconds" and n == 1:
            return self.error(503, "UNAVAILABLE", {"Retry-After": "1"}) or True
        if repo == "hostile/retry-date" and n == 1:
            return self.error(503, "UNAVAILABLE", {"Retry-After": http_date(2)}) or True
        if repo == "hostile/retry-past" and n == 1:
            return self.error(503, "UNAVAILABLE", {"Retry-After": http_date(-3600)}) or True
        if repo == "hostile/retry-huge":
            return self.error(503, "UNAVAILABLE", {"Retry-After": "99999"}) or True
        limits = {"hostile/limit-date": http_date(30), "hostile/limit-past": http_date(-3600),
                  "hostile/limit-huge": "99999"}
        if repo in limits:
            return self.error(429, "TOOMANYREQUESTS", {"Retry-After": limits[repo]}) or True
        if repo == "hostile/burst500" and n == 1:
            return self.error(500, "UNKNOWN") or True
        if repo == "hostile/burst503" and n <= 2:
            return self.error(503, "UNAVAILABLE") or True
        if repo == "hostile/stall":
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(120)  # regfs' speed floor gives up long before
            return True
        if repo == "hostile/overlong":
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) - 10))
            self.send_header("Docker-Content-Digest", dcd)
            self.end_headers()
            try:
                self.wfile.write(body + b" " * (8 << 20))
            except OSError:
                pass
            self.close_connection = True
            return True
        if repo == "hostile/chunked-big":
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"A" * 65536
            try:
                for _ in range(80):  # 5 MiB
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            self.close_connection = True
            return True
        if repo == "hostile/huge-500":
            body = b"<html><body>" + b"<p>internal error</p>" * (10_000_000 // 21) + \
                b"</body></html>"
            return self.send(500, body, "text/html") or True
        if repo == "hostile/huge-404":
            body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN",
                                           "message": "x" * 10_000_000}]}).encode()
            return self.send(404, body) or True
        if repo == "hostile/deep-500":
            return self.send(500, b'{"errors": ' + b"[" * 60000) or True
        if repo == "hostile/headers-many":
            return self.send(200, body, ctype, dict(
                [("Docker-Content-Digest", dcd)] +
                [("X-Pad-%d" % i, "p" * 1000) for i in range(400)])) or True
        if repo == "hostile/headers-huge":
            return self.send(200, body, ctype, {"Docker-Content-Digest": dcd,
                                                "X-Pad": "p" * 400000}) or True
        return False

    def blob_fault(self, repo, blob):
        """Answer a layer GET of a RESUMING repository; True when answered."""
        if repo not in RESUMING:
            return False
        n = self.server.count(repo + " blob")
        rng = self.headers.get("Range", "")
        if n == 1:
            # the first GET: half the body, then a reset
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob[:len(blob) // 2])
            self.wfile.flush()
            time.sleep(0.3)  # let regfs take in what was sent: a reset drops unread bytes
            self.reset()
            return True
        if n == 2 and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
            total = len(blob)
            right = "bytes %d-%d/%d" % (start, total - 1, total)
            ranges = {"hostile/resume": [right],
                      "hostile/resume-wrong": ["bytes %d-%d/%d" % (start - 100, total - 1, total)],
                      "hostile/resume-junk": ["bytes  %d-%d/%d" % (start, total - 1, total)],
                      "hostile/resume-dup": ["bytes 0-%d/%d" % (total - 1, total), right]}
            if repo in ranges:
                self.send_response(206)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(total - start))
                for v in ranges[repo]:
                    self.send_header("Content-Range", v)
                self.end_headers()
                self.wfile.write(blob[start:])
                return True
        # hostile/resume-full's Range request, and every later read: the whole blob
        self.send(200, blob, "application/octet-stream")
        return True

    def listing(self, repo):
        """Answer tags/list of a LISTINGS repository."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        last = query.get("last", [None])[0]
        base = "/v2/%s/tags/list" % repo
        if repo == "hostile/link-loop":
            if last == "a":  # page B: back to page A, as regfs first asked for it
                first = getattr(self.server, "loop_first_page", base)
                return self.send(200, json.dumps({"name": repo, "tags": ["b"]}).encode(),
                                 extra={"Link": '<%s>; rel="next"' % first})
            self.server.loop_first_page = self.path
            return self.send(200, json.dumps({"name": repo, "tags": ["a"]}).encode(),
                             extra={"Link": '<%s?last=a&n=1>; rel="next"' % base})
        if repo == "hostile/link-endless":
            k = int(last[1:]) + 1 if last else 1
            tag = "t%05d" % k
            return self.send(200, json.dumps({"name": repo, "tags": [tag]}).encode(),
                             extra={"Link": '<%s?last=%s&n=1>; rel="next"' % (base, tag)})
        if repo == "hostile/link-malformed":
            return self.send(200, json.dumps({"name": repo, "tags": ["latest"]}).encode(),
                             extra={"Link": '%s?last=latest&n=1; rel="next"' % base})
        if repo == "hostile/deep-tags":
            return self.send(200, b'{"name": "hostile/deep-tags", "tags": ' + b"[" * 100000)
        if repo == "hostile/dup-tags":
            return self.send(200, b'{"name": "hostile/dup-tags", "tags": ["first"], '
                             b'"tags": ["latest"]}')
        return self.not_found("NAME_UNKNOWN")

    def not_found(self, code):
        self.send(404, json.dumps({"errors": [{"code": code, "message": "unknown"}]}).encode())

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        c = self.server.content
        path = self.path.split("?", 1)[0]
        if path == "/v2/":
            return self.send(200, b"{}")
        if path == "/v2/_catalog":
            return self.send(200, json.dumps({"repositories": c.repos}).encode())
        for repo in c.repos:
            base = "/v2/" + repo + "/"
            if not path.startswith(base):
                continue
            rest = path[len(base):]
            if rest == "tags/list":
                extra = None
                if repo in LISTINGS:
                    return self.listing(repo)
                if repo == "hostile/link-away":
                    extra = {"Link": '<http://localhost:%d/v2/%s/tags/list?last=latest&n=1>; '
                             'rel="next"' % (self.server.server_address[1], repo)}
                return self.send(200, json.dumps({"name": repo, "tags": ["latest"]}).encode(),
                                 extra=extra)
            if rest.startswith("manifests/"):
                ref = rest[len("manifests/"):]
                if repo == "hostile/slow":
                    time.sleep(600)  # never answer within any sane timeout
                    return
                body, ctype, dcd = c.manifests[repo]
                if ref != "latest" and ref != digest(body):
                    return self.not_found("MANIFEST_UNKNOWN")
                if repo in FAULTY and self.command == "GET" and \
                        self.manifest_fault(repo, body, ctype, dcd):
                    return
                return self.send(200, body, ctype, {"Docker-Content-Digest": dcd})
            if rest.startswith("blobs/"):
                d = rest[len("blobs/"):]
                if d in c.blobs:
                    if self.command == "GET" and len(c.blobs[d]) == 256 * 1024 and \
                            self.blob_fault(repo, c.blobs[d]):
                        return
                    return self.send(200, c.blobs[d], "application/octet-stream",
                                     {"Docker-Content-Digest": d})
                return self.not_found("BLOB_UNKNOWN")
        self.not_found("NAME_UNKNOWN")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, content, logfile):
        super().__init__(addr, Handler)
        self.content = content
        self.lock = threading.Lock()
        self.logfile = logfile
        self.counts = {}

    def count(self, key):
        """How many times KEY was asked for, this time included."""
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def log(self, line):
        if self.logfile:
            with self.lock, open(self.logfile, "a") as f:
                f.write(line + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Content(), args.log)
    port = srv.server_address[1]
    print(port, flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
