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

Listens on 127.0.0.1 only; the port is printed and written to --port-file.  Each request is
logged to --log as "METHOD PATH STATUS".
"""

import argparse
import hashlib
import http.server
import json
import socketserver
import sys
import threading
import time

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

        def image(repo, layer, claimed_size):
            self.blobs[digest(layer)] = layer
            m = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": digest(config),
                           "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": digest(layer),
                            "size": claimed_size}],
            }, indent=2).encode()
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
        self.repos = sorted(list(self.manifests) + ["hostile/slow"])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "regfs-hostile-registry"

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        self.server.log("%s %s %s" % (self.command, self.path, code))

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
                return self.send(200, json.dumps({"name": repo, "tags": ["latest"]}).encode())
            if rest.startswith("manifests/"):
                ref = rest[len("manifests/"):]
                if repo == "hostile/slow":
                    time.sleep(600)  # never answer within any sane timeout
                    return
                body, ctype, dcd = c.manifests[repo]
                if ref != "latest" and ref != digest(body):
                    return self.not_found("MANIFEST_UNKNOWN")
                return self.send(200, body, ctype, {"Docker-Content-Digest": dcd})
            if rest.startswith("blobs/"):
                d = rest[len("blobs/"):]
                if d in c.blobs:
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
