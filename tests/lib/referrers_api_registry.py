#!/usr/bin/env python3
"""A fake registry that answers the OCI 1.1 referrers API, which distribution 2.8 (the real
registry of the tests) does not have: one repository, api/app, with an image (tag v1) and two
referrers of it (an SPDX SBOM and a notary signature, each with its subject), listed by
GET /v2/api/app/referrers/<digest> over two pages joined by a Link header, with artifactType
filtering (OCI-Filters-Applied) as the spec describes.  Any other digest has no referrers
(an empty index).  Every request is logged as "METHOD PATH" to --log.

    referrers_api_registry.py --port-file FILE --log FILE
"""
import argparse
import hashlib
import http.server
import json
import os
import sys
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REPO = "api/app"


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


BLOBS, MANIFESTS, TAGS = {}, {}, {}


def blob(data, media_type):
    d = digest_of(data)
    BLOBS[d] = data
    return {"mediaType": media_type, "digest": d, "size": len(data)}


def manifest(doc, tag=None):
    data = canonical(doc)
    d = digest_of(data)
    MANIFESTS[d] = data
    if tag:
        TAGS[tag] = d
    return {"mediaType": OCI_MANIFEST, "digest": d, "size": len(data)}


CFG = blob(canonical({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": []}}),
           "application/vnd.oci.image.config.v1+json")
IMAGE = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": CFG, "layers": []}, "v1")
EMPTY = blob(b"{}", "application/vnd.oci.empty.v1+json")
REFERRERS = []
for atype, body in (("application/spdx+json", b'{"spdxVersion":"SPDX-2.3","packages":[]}'),
                    ("application/vnd.cncf.notary.signature", b"signature")):
    layer = blob(body, atype)
    desc = manifest({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": atype,
                     "config": EMPTY, "layers": [layer], "subject": IMAGE})
    desc["artifactType"] = atype
    REFERRERS.append(desc)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body=b"", ctype="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        with open(self.server.log, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        p = url.path
        base = "/v2/%s/" % REPO
        if p == "/v2/":
            return self.send(200, b"{}")
        if p == "/v2/_catalog":
            return self.send(200, canonical({"repositories": [REPO]}))
        if p == base + "tags/list":
            return self.send(200, canonical({"name": REPO, "tags": sorted(TAGS)}))
        if p.startswith(base + "manifests/"):
            ref = p[len(base + "manifests/"):]
            d = TAGS.get(ref, ref)
            if d not in MANIFESTS:
                return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            return self.send(200, MANIFESTS[d], OCI_MANIFEST, {"Docker-Content-Digest": d})
        if p.startswith(base + "blobs/"):
            d = p[len(base + "blobs/"):]
            if d not in BLOBS:
                return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
            return self.send(200, BLOBS[d], "application/octet-stream",
                             {"Docker-Content-Digest": d})
        if p.startswith(base + "referrers/"):
            subject = p[len(base + "referrers/"):]
            found = REFERRERS if subject == IMAGE["digest"] else []
            headers = {}
            if "artifactType" in q:
                found = [r for r in found if r["artifactType"] in q["artifactType"]]
                headers["OCI-Filters-Applied"] = "artifactType"
            page = int(q.get("page", ["1"])[0])
            # one referrer a page: the second comes through the Link
            shown = found[page - 1:page]
            if page < len(found):
                nq = dict((k, v[0]) for k, v in q.items())
                nq["page"] = str(page + 1)
                headers["Link"] = '<%s?%s>; rel="next"' % (p, urllib.parse.urlencode(nq))
            return self.send(200, canonical({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                             "manifests": shown}), OCI_INDEX, headers)
        return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.log = args.log
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    json.dump({"image": IMAGE["digest"], "sbom": REFERRERS[0]["digest"],
               "signature": REFERRERS[1]["digest"]}, sys.stdout)
    print(flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
