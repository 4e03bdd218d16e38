#!/usr/bin/env python3
"""A fake for what a real registry on loopback will not do: send blob downloads elsewhere.

Registries in production answer GET /v2/<repo>/blobs/<digest> with a redirect to blob
storage (S3, a CDN) on another host.  This proxy stands in front of a real docker-registry
(--upstream HOST:PORT) and passes every request through unchanged (headers included), except:

  GET /v2/<repo>/blobs/<digest>      -> 307 to http://127.0.0.1:<storage port>/blob/<digest>
  GET /v2/loop/<anything>            -> 307 to itself, forever (a redirect loop)
  GET /v2/evil/<repo>/blobs/<digest> -> 307 to http://127.0.0.1:<storage port>/challenge/<digest>,
                                        which answers 401 with a Bearer challenge whose realm is
                                        the storage listener's own /token: a hostile redirect
                                        target fishing for the registry's credentials

The "storage" listener (a second port) serves /blob/<digest> by fetching the blob from the
upstream itself (with --upstream-auth, a ready Authorization value, when the registry wants
one), and /file/<name> from --files-dir (the URL of a foreign layer), and records every
request it gets, as one JSON line in --storage-log:
  {"path": ..., "authorization": true|false, "headers": [names...]}
never a header value.  Tests assert that no Authorization ever reaches it.  Every connection
it accepts, whether or not a request follows, is also a line ("connection") in
--storage-log.connections, so a test can tell that a client never even connected.

--tls-cert CERT --tls-key KEY: the proxy itself speaks HTTPS (the storage listener stays plain
HTTP), so its blob redirects go from https to http: a downgrade a client must refuse.

Ports: --port-file gets the proxy's port, --storage-port-file the storage listener's.
"""

import argparse
import http.client
import http.server
import json
import os
import re
import ssl
import sys
import threading

LOCK = threading.Lock()
BLOB = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")


def upstream_request(opts, method, path, headers, body=None):
    conn = http.client.HTTPConnection(opts.upstream, timeout=30)
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_plain(self, status, headers, body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def passthrough(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        resp, data = upstream_request(self.server.opts, self.command, self.path, hdrs, body)
        keep = [(k, v) for k, v in resp.getheaders()
                if k.lower() not in ("content-length", "connection", "transfer-encoding")]
        self.send_plain(resp.status, keep, data)

    def do_GET(self):
        opts = self.server.opts
        if self.path.startswith("/v2/loop/"):
            self.send_plain(307, [("Location", "http://127.0.0.1:%d%s" %
                                   (self.server.server_address[1], self.path))])
            return
        m = BLOB.match(self.path.split("?")[0])
        if m and m.group(1).startswith("evil/"):
            self.send_plain(307, [("Location", "http://127.0.0.1:%d/challenge/%s" %
                                   (opts.storage_port, m.group(2)))])
            return
        if m:
            self.send_plain(307, [("Location", "http://127.0.0.1:%d/blob/%s?repo=%s" %
                                   (opts.storage_port, m.group(2), m.group(1)))])
            return
        self.passthrough()

    do_HEAD = do_GET

    def do_POST(self):
        self.passthrough()

    def do_PUT(self):
        self.passthrough()


class Storage(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        with LOCK, open(self.server.opts.storage_log + ".connections", "a") as f:
            f.write("connection\n")
        super().setup()

    def do_GET(self):
        opts = self.server.opts
        entry = {"path": self.path.split("?")[0],
                 "authorization": "Authorization" in self.headers,
                 "headers": sorted(k.lower() for k in self.headers.keys())}
        with LOCK, open(opts.storage_log, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        path, _, query = self.path.partition("?")
        if path.startswith("/challenge/"):
            realm = "http://127.0.0.1:%d/token" % self.server.server_address[1]
            self.send_response(401)
            self.send_header("WWW-Authenticate",
                             'Bearer realm="%s",service="storage",scope="blob:read"' % realm)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/token":
            data = b'{"token": "not-a-real-token"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if path.startswith("/file/"):
            name = os.path.basename(path[len("/file/"):])
            try:
                with open(os.path.join(opts.files_dir or "/nonexistent", name), "rb") as f:
                    data = f.read()
                status = 200
            except OSError:
                data, status = b"", 404
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        repo = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("repo", "")
        digest = path[len("/blob/"):]
        hdrs = {"Authorization": opts.upstream_auth} if opts.upstream_auth else {}
        resp, data = upstream_request(opts, "GET", "/v2/%s/blobs/%s" % (repo, digest), hdrs)
        self.send_response(resp.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(handler, opts, port_file, tls=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    srv.opts = opts
    if tls:
        # the handshake happens on the connection's own thread, at its first read
        srv.socket = tls.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, port_file)
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--upstream-auth", default="")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--storage-port-file", required=True)
    ap.add_argument("--storage-log", required=True)
    ap.add_argument("--files-dir", default="")
    ap.add_argument("--tls-cert", help="the proxy speaks HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="and this key (PEM)")
    opts = ap.parse_args()
    tls = None
    if opts.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(opts.tls_cert, opts.tls_key)
    open(opts.storage_log, "a").close()
    open(opts.storage_log + ".connections", "a").close()
    storage = serve(Storage, opts, opts.storage_port_file)
    opts.storage_port = storage.server_address[1]
    threading.Thread(target=storage.serve_forever, daemon=True).start()
    proxy = serve(Proxy, opts, opts.port_file, tls)
    try:
        proxy.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
