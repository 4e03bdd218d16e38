#!/usr/bin/env python3
"""Build test images from scratch and push them to a registry with the plain HTTP API.

The integration tests and scripts/demo.sh need images whose every byte is known in advance,
without Docker and without the internet.  This script makes the layer tarballs, configs,
manifests and indexes itself (Python standard library only), pushes them with the registry
HTTP API (blob upload: POST then monolithic PUT ?digest=; manifest: PUT with its media type)
and writes a summary JSON that the tests use as the oracle.

Everything is deterministic: tar members have fixed mtimes and owners, gzip streams have
mtime 0, JSON is serialised with a fixed layout and "random" data comes from a seeded PRNG.
So digests are stable from run to run (given the same zlib).

Sets:
  seed  the demo data from the ONAP guide "Building a Platform-Agnostic Container Image":
        onap/py-app-{amd64,arm64v8,mips,ppc64le,s390x}:latest (Docker schema 2),
        onap/py-app:v1 (Docker manifest list over those five) and
        onap/py-app-oci:latest (OCI index over the same content with OCI media types).
        onap/py-app:latest is deliberately left free: a later feature creates it with ln -s.
  core  seed plus test-only images (multi-layer, nested repositories, attestations,
        duplicate platforms, nested index, Windows, a 3 MiB layer, 120 repositories,
        a repository with 150 tags, sources for manifest-list drafts, ...).

Usage: fixtures.py --registry HOST:PORT --set seed|core --summary OUT.json

Summary JSON (all digests "sha256:<hex>", sizes in bytes):
{
  "registry": "HOST:PORT", "set": "core",
  "refs": { "REPO:TAG": MANIFEST + {"tag"}, ... }, every tag pushed
  "manifests": { "REPO@DIGEST": MANIFEST, ... },   every manifest pushed, tagged or not
  "repositories": [ "REPO", ... ],                 sorted
  "tags": { "REPO": [ "TAG", ... ] },              sorted
  "blobs": { "DIGEST": { "size": N, "media_type": "...", "repos": ["REPO", ...] } }
}
MANIFEST for an image:
  { "repo", "kind": "image", "digest", "media_type", "size",
    "config": { "digest", "size", "media_type" },
    "layers": [ { "digest", "size", "media_type", "diff_id", "name" } ],   name = "00-sha256:..."
    "platform": { "os", "architecture", ["variant"], ["os.version"] },     from the config
    "platform_string": "linux/arm64/v8" | "windows/amd64:10.0.17763.1" }
MANIFEST for an index / manifest list:
  { "repo", "kind": "index", "digest", "media_type", "size",
    "manifests": [ { "digest", "size", "media_type", "platform", "annotations",
                     "name": "linux-arm64-v8" | null (attestation, not shown),
                     "manifest": MANIFEST } ] }
"""

import argparse
import gzip
import hashlib
import http.client
import io
import json
import random
import sys
import tarfile
import urllib.parse

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
IN_TOTO = "application/vnd.in-toto+json"

FIXED_MTIME = 1514764800  # 2018-01-01T00:00:00Z
CREATED = "2018-01-01T00:00:00Z"

# The ONAP guide's Python micro-service, byte for byte (app/main.py, app/requirements.txt,
# app/Dockerfile).
MAIN_PY = """from flask import Flask
import platform
app = Flask(__name__)

@app.route("/")
def hello():
    return "Hello ONAP. I am a Python service running on " + platform.machine()

if __name__ == "__main__":
    app.run(host='0.0.0.0', debug=True, port=5000)
"""
REQUIREMENTS_TXT = "Flask==0.10.1\n"
DOCKERFILE = """FROM python:2.7-alpine

LABEL maintainer="adolfo@orangemonk.net"

# Keep it simple

COPY ./app /app
WORKDIR /app
RUN pip install -r requirements.txt

ENTRYPOINT ["python"]
CMD ["main.py"]
"""

# ONAP image-name suffix -> platform, as in the guide's naming table (mips kept literal).
ONAP_ARCHES = [
    ("amd64", {"architecture": "amd64", "os": "linux"}),
    ("arm64v8", {"architecture": "arm64", "os": "linux", "variant": "v8"}),
    ("mips", {"architecture": "mips", "os": "linux"}),
    ("ppc64le", {"architecture": "ppc64le", "os": "linux"}),
    ("s390x", {"architecture": "s390x", "os": "linux"}),
]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj):
    """Compact, key-sorted JSON: what OCI tooling usually pushes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def docker_style(obj):
    """Indented JSON the way the docker CLI pushes schema 2 manifests (3 spaces)."""
    return json.dumps(obj, indent=3).encode()


def make_tar(files):
    """files: list of (path, bytes).  Parent directories are added; all metadata fixed."""
    buf = io.BytesIO()
    seen = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in files:
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in seen:
                    seen.add(d)
                    ti = tarfile.TarInfo(d + "/")
                    ti.type = tarfile.DIRTYPE
                    ti.mode = 0o755
                    ti.mtime = FIXED_MTIME
                    tar.addfile(ti)
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = FIXED_MTIME
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def platform_string(p):
    # a platform may lack os or architecture (an image whose config leaves them out)
    s = p.get("os", "") + "/" + p.get("architecture", "")
    if p.get("variant"):
        s += "/" + p["variant"]
    if p.get("os.version"):
        s += ":" + p["os.version"]
    return s


def entry_name(p):
    """Directory name regfs gives an index entry: <os>-<arch>[-<variant>][-<os.version>]."""
    s = p["os"] + "-" + p["architecture"]
    if p.get("variant"):
        s += "-" + p["variant"]
    if p.get("os.version"):
        s += "-" + p["os.version"]
    return s


def is_attestation(desc):
    p = desc.get("platform") or {}
    ann = desc.get("annotations") or {}
    return (p.get("os") == "unknown" and p.get("architecture") == "unknown"
            and "vnd.docker.reference.type" in ann)


def entry_names(descs):
    """Names for index entries: attestations hidden (None), duplicates get "~<index>"."""
    names, used = [], set()
    for i, d in enumerate(descs):
        if is_attestation(d) or not d.get("platform"):
            names.append(None)
            continue
        n = entry_name(d["platform"])
        if n in used:
            n = "%s~%d" % (n, i)
        used.add(n)
        names.append(n)
    return names


class Registry:
    """A keep-alive HTTP/1.1 connection to the registry; reconnects when the server closes."""

    def __init__(self, hostport):
        self.hostport = hostport
        self.conn = None
        self.requests = 0

    def request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.hostport, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                self.requests += 1
                return resp.status, resp.headers, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def check(self, want, status, what, data):
        if status not in want:
            sys.exit("fixtures: %s: HTTP %d: %s" % (what, status, data[:300].decode("utf-8", "replace")))


class Pusher:
    def __init__(self, reg):
        self.reg = reg
        self.blob_repos = {}   # digest -> set of repos holding it
        self.summary = {"registry": reg.hostport, "refs": {}, "manifests": {}, "tags": {},
                        "blobs": {}}

    def blob(self, repo, data, media_type):
        """Push data as a blob of repo (skipped when there already); returns a descriptor."""
        digest = sha256(data)
        desc = {"mediaType": media_type, "size": len(data), "digest": digest}
        info = self.summary["blobs"].setdefault(digest, {"size": len(data), "media_type": media_type,
                                                          "repos": []})
        holders = self.blob_repos.setdefault(digest, set())
        if repo in holders:
            return desc
        base = "/v2/%s/blobs/uploads/" % repo
        if holders:
            # cross-repository mount: 201 when done, 202 when the registry wants the bytes
            src = sorted(holders)[0]
            st, hd, body = self.reg.request(
                "POST", base + "?mount=%s&from=%s" % (urllib.parse.quote(digest), urllib.parse.quote(src)),
                body=b"", headers={"Content-Length": "0"})
        else:
            st, hd, body = self.reg.request("POST", base, body=b"", headers={"Content-Length": "0"})
        self.reg.check((201, 202), st, "start upload to '%s'" % repo, body)
        if st == 202:
            loc = urllib.parse.urlsplit(hd["Location"])
            q = loc.query + ("&" if loc.query else "") + "digest=" + urllib.parse.quote(digest)
            st, hd, body = self.reg.request(
                "PUT", loc.path + "?" + q, body=data,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
            self.reg.check((201,), st, "upload blob %s to '%s'" % (digest, repo), body)
        holders.add(repo)
        info["repos"] = sorted(holders)
        return desc

    def manifest(self, repo, ref, data, media_type):
        digest = sha256(data)
        st, hd, body = self.reg.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body=data,
                                        headers={"Content-Type": media_type,
                                                 "Content-Length": str(len(data))})
        self.reg.check((201,), st, "put manifest '%s:%s'" % (repo, ref), body)
        got = hd.get("Docker-Content-Digest")
        if got and got != digest:
            sys.exit("fixtures: registry says %s for '%s:%s', expected %s" % (got, repo, ref, digest))
        return digest

    def record(self, repo, info, tag=None):
        self.summary["manifests"]["%s@%s" % (repo, info["digest"])] = info
        self.summary["tags"].setdefault(repo, [])
        if tag is not None:
            self.reg_tag(repo, tag, info)

    def reg_tag(self, repo, tag, info):
        ref = dict(info)
        ref["tag"] = tag
        self.summary["refs"]["%s:%s" % (repo, tag)] = ref
        tags = self.summary["tags"].setdefault(repo, [])
        if tag not in tags:
            tags.append(tag)

    def tag(self, repo, tag, info):
        """Point another tag at an already pushed manifest (same bytes, same digest)."""
        self.manifest(repo, tag, info["bytes"], info["media_type"])
        self.reg_tag(repo, tag, info["_public"])

    def image(self, repo, tag, platform, layer_files, oci=False, config_extra=None,
              history=None, layer_media_type=None, config_media_type=None, config_obj=None,
              annotations=None):
        """Build and push an image.  layer_files: list of file lists (one tar per layer).
        Returns the summary entry (with private "bytes" for re-tagging)."""
        layer_mt = layer_media_type or (OCI_LAYER if oci else DOCKER_LAYER)
        config_mt = config_media_type or (OCI_CONFIG if oci else DOCKER_CONFIG)
        layers, diff_ids = [], []
        for files in layer_files:
            if isinstance(files, bytes):
                raw, blob = files, files          # already a blob (e.g. in-toto statement)
            else:
                raw = make_tar(files)
                blob = gzip.compress(raw, compresslevel=6, mtime=0)
            diff_ids.append(sha256(raw))
            layers.append(self.blob(repo, blob, layer_mt))
        if config_obj is None:
            cfg = {
                "architecture": platform["architecture"],
                "os": platform["os"],
                "created": CREATED,
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": history or [{"created": CREATED, "created_by": "regfs fixture layer %d" % i}
                                       for i in range(len(diff_ids))],
            }
            if platform.get("variant"):
                cfg["variant"] = platform["variant"]
            if platform.get("os.version"):
                cfg["os.version"] = platform["os.version"]
            if platform.get("os.features"):
                cfg["os.features"] = platform["os.features"]
            if config_extra:
                cfg["config"].update(config_extra)
            config_obj = cfg
        config_bytes = canonical(config_obj)
        config = self.blob(repo, config_bytes, config_mt)
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
               "config": config, "layers": layers}
        if annotations:
            man["annotations"] = annotations
        data = canonical(man) if oci else docker_style(man)
        mt = man["mediaType"]
        digest = self.manifest(repo, tag or sha256(data), data, mt)
        width = max(2, len(str(len(layers))))
        info = {
            "repo": repo, "kind": "image", "digest": digest, "media_type": mt, "size": len(data),
            "config": {"digest": config["digest"], "size": config["size"], "media_type": config_mt},
            "layers": [{"digest": l["digest"], "size": l["size"], "media_type": l["mediaType"],
                        "diff_id": d, "name": "%0*d-%s" % (width, i, l["digest"])}
                       for i, (l, d) in enumerate(zip(layers, diff_ids))],
            "platform": {k: v for k, v in platform.items()},
            "platform_string": platform_string(platform),
        }
        self.record(repo, info, tag)
        return {"bytes": data, "media_type": mt, "_public": info, **info}

    def index(self, repo, tag, children, oci=True):
        """children: list of (child, platform or None, annotations or None).  Each child must
        already be pushed to repo.  Returns the summary entry."""
        descs = []
        for child, plat, ann in children:
            d = {"mediaType": child["media_type"], "size": child["size"], "digest": child["digest"]}
            if plat is not None:
                d["platform"] = plat
            if ann:
                d["annotations"] = ann
            descs.append(d)
        man = {"schemaVersion": 2, "mediaType": OCI_INDEX if oci else DOCKER_LIST, "manifests": descs}
        data = canonical(man) if oci else docker_style(man)
        mt = man["mediaType"]
        digest = self.manifest(repo, tag or sha256(data), data, mt)
        names = entry_names(descs)
        info = {
            "repo": repo, "kind": "index", "digest": digest, "media_type": mt, "size": len(data),
            "manifests": [{"digest": d["digest"], "size": d["size"], "media_type": d["mediaType"],
                           "platform": d.get("platform"), "annotations": d.get("annotations", {}),
                           "name": n, "manifest": c[0]["_public"]}
                          for d, n, c in zip(descs, names, children)],
        }
        self.record(repo, info, tag)
        return {"bytes": data, "media_type": mt, "_public": info, **info}


def py_app(p, repo, tag, arch_name, plat, oci):
    """One image of the guide's service: FROM (stand-in base), COPY ./app /app, RUN pip."""
    # We cannot ship python:2.7-alpine offline, so the base layer is a tiny stand-in that
    # names its architecture (which also makes the layer digests differ per architecture).
    base = [("etc/regfs-fixture",
             ("regfs test fixture base layer\narch=%s\nplatform=%s\n"
              "stands in for python:2.7-alpine\n" % (arch_name, platform_string(plat))).encode())]
    app = [("app/Dockerfile", DOCKERFILE.encode()), ("app/main.py", MAIN_PY.encode()),
           ("app/requirements.txt", REQUIREMENTS_TXT.encode())]
    pip = [("usr/local/lib/python2.7/site-packages/regfs-fixture-pip.txt",
            ("pip install -r requirements.txt\nFlask==0.10.1\narch=%s\n" % arch_name).encode())]
    history = [
        {"created": CREATED, "created_by": "/bin/sh -c #(nop) ADD file:regfs-fixture-%s in / " % arch_name},
        {"created": CREATED, "created_by": "/bin/sh -c #(nop)  LABEL maintainer=adolfo@orangemonk.net",
         "empty_layer": True},
        {"created": CREATED, "created_by": "/bin/sh -c #(nop) COPY dir:app in /app "},
        {"created": CREATED, "created_by": "/bin/sh -c #(nop) WORKDIR /app", "empty_layer": True},
        {"created": CREATED, "created_by": "/bin/sh -c pip install -r requirements.txt"},
        {"created": CREATED, "created_by": "/bin/sh -c #(nop)  ENTRYPOINT [\"python\"]",
         "empty_layer": True},
        {"created": CREATED, "created_by": "/bin/sh -c #(nop)  CMD [\"main.py\"]", "empty_layer": True},
    ]
    extra = {
        "Env": ["PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8", "PYTHON_VERSION=2.7.18"],
        "Entrypoint": ["python"],
        "Cmd": ["main.py"],
        "WorkingDir": "/app",
        "Labels": {"maintainer": "adolfo@orangemonk.net"},
    }
    return p.image(repo, tag, plat, [base, app, pip], oci=oci, config_extra=extra, history=history)


def push_seed(p):
    docker_children, oci_children = [], []
    for arch_name, plat in ONAP_ARCHES:
        py_app(p, "onap/py-app-" + arch_name, "latest", arch_name, plat, oci=False)
        # a manifest list can only name manifests of its own repository: push them there too
        docker_children.append((py_app(p, "onap/py-app", None, arch_name, plat, oci=False), plat, None))
        oci_children.append((py_app(p, "onap/py-app-oci", None, arch_name, plat, oci=True), plat, None))
    p.index("onap/py-app", "v1", docker_children, oci=False)
    p.index("onap/py-app-oci", "latest", oci_children, oci=True)


def small(p, repo, tag, plat, label, oci=False, n_layers=1, **kw):
    files = [[("etc/regfs-fixture/%s/layer-%02d" % (label, i), ("%s layer %d\n" % (label, i)).encode())]
             for i in range(n_layers)]
    return p.image(repo, tag, plat, files, oci=oci, **kw)


AMD64 = {"architecture": "amd64", "os": "linux"}
ARM64 = {"architecture": "arm64", "os": "linux", "variant": "v8"}


def attestation(p, repo, subject):
    stmt = canonical({"_type": "https://in-toto.io/Statement/v0.1",
                      "predicateType": "https://spdx.dev/Document",
                      "subject": [{"name": "pkg:docker/%s" % repo,
                                   "digest": {"sha256": subject["digest"][7:]}}],
                      "predicate": {"spdxVersion": "SPDX-2.3", "name": "regfs-fixture"}})
    cfg = {"architecture": "unknown", "os": "unknown", "config": {},
           "rootfs": {"type": "layers", "diff_ids": [sha256(stmt)]}}
    return p.image(repo, None, {"architecture": "unknown", "os": "unknown"}, [stmt], oci=True,
                   layer_media_type=IN_TOTO, config_obj=cfg)


def push_core(p):
    push_seed(p)

    # 12 layers: names go 00-… to 11-…
    small(p, "test/multi", "latest", AMD64, "multi", oci=True, n_layers=12)

    # nested repositories: a/b is a repository and the namespace of a/b/c
    small(p, "a/b", "latest", AMD64, "a-b")
    small(p, "a/b", "v2", ARM64, "a-b-v2")
    small(p, "a/b/c", "latest", AMD64, "a-b-c")

    # attestations (buildx style): shown entries are linux-amd64 and linux-arm64-v8 only
    i1 = small(p, "test/attest", None, AMD64, "attest-amd64", oci=True)
    i2 = small(p, "test/attest", None, ARM64, "attest-arm64", oci=True)
    a1 = attestation(p, "test/attest", i1)
    a2 = attestation(p, "test/attest", i2)
    unk = {"architecture": "unknown", "os": "unknown"}
    p.index("test/attest", "latest", [
        (i1, AMD64, None), (i2, ARM64, None),
        (a1, unk, {"vnd.docker.reference.type": "attestation-manifest",
                   "vnd.docker.reference.digest": i1["digest"]}),
        (a2, unk, {"vnd.docker.reference.type": "attestation-manifest",
                   "vnd.docker.reference.digest": i2["digest"]}),
    ])

    # two entries of the same platform: linux-amd64, linux-arm64-v8, linux-amd64~2
    d1 = small(p, "test/dup", None, AMD64, "dup-first", oci=True)
    d2 = small(p, "test/dup", None, ARM64, "dup-arm", oci=True)
    d3 = small(p, "test/dup", None, AMD64, "dup-second", oci=True)
    p.index("test/dup", "latest", [(d1, AMD64, None), (d2, ARM64, None), (d3, AMD64, None)])

    # an index inside an index.  The inner index's descriptor carries a platform so that the
    # naming rule gives it a name (linux-riscv64); entries without a platform are not covered.
    n1 = small(p, "test/nested", None, AMD64, "nested-amd64", oci=True)
    n2 = small(p, "test/nested", None, ARM64, "nested-arm64", oci=True)
    inner = p.index("test/nested", "inner", [(n1, AMD64, None), (n2, ARM64, None)])
    n3 = small(p, "test/nested", None, AMD64, "nested-outer-amd64", oci=True)
    p.index("test/nested", "latest", [(n3, AMD64, None),
                                      (inner, {"architecture": "riscv64", "os": "linux"}, None)])

    # Windows: os.version in the platform file and in the entry name
    win = {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1"}
    w1 = small(p, "test/windows", None, AMD64, "windows-linux")
    w2 = small(p, "test/windows", "image", win, "windows-windows")
    p.index("test/windows", "latest", [(w1, AMD64, None), (w2, win, None)], oci=False)

    # a 3 MiB incompressible layer for streaming reads and cmp
    rnd = random.Random(20240229)
    p.image("test/big", "latest", AMD64, [
        [("data/random.bin", rnd.randbytes(3 * 1024 * 1024))],
        [("etc/regfs-fixture/big", b"small layer after the big one\n")],
    ])

    # images no other test touches: the digest-mismatch and registry-down cases need blobs
    # and tags regfs has never cached
    small(p, "test/corrupt", "latest", AMD64, "corrupt-unique", n_layers=2)
    small(p, "test/uncached", "latest", AMD64, "uncached-unique")

    # 120 repositories: more than one catalog page (distribution pages by 100)
    for i in range(120):
        small(p, "test/many/r%03d" % i, "latest", AMD64, "many")   # blobs cross-mounted

    # 150 tags, including valid but unusual ones: more than one page through the paging proxy
    t = small(p, "test/tags", "latest", AMD64, "tags")
    tags = ["t%03d" % i for i in range(144)] + ["1.0", "v1.0.0-rc.1", "UPPER_case",
                                                "_underscore", "a" * 128]
    for name in tags:
        p.tag("test/tags", name, t)
    assert len(p.summary["tags"]["test/tags"]) == 150

    push_draft_sources(p)


def push_draft_sources(p):
    """Sources for the manifest-list drafts of tests/integration/drafts.bats and commit.bats:
    images whose platform a list must take from the config (or refuse), and an index that
    stands for one image.  Nothing here is tagged in the repositories the drafts push to."""
    # an ONAP-style name that lies: named for arm64v8, holds an amd64 image (a warning)
    small(p, "test/suffix-arm64v8", "latest", AMD64, "suffix-lies")

    # configs without architecture or without os: a list cannot give them a platform
    for tag, drop in (("noarch", "architecture"), ("noos", "os")):
        files = [("etc/regfs-fixture/noplatform-%s" % tag, b"a config without a platform\n")]
        raw = make_tar(files)
        cfg = {"architecture": "amd64", "os": "linux", "created": CREATED, "config": {},
               "rootfs": {"type": "layers", "diff_ids": [sha256(raw)]}}
        del cfg[drop]
        plat = {k: v for k, v in AMD64.items() if k != drop}
        p.image("test/noplatform", tag, plat, [files], config_obj=cfg)

    # every platform field a config can carry: os.version and os.features
    small(p, "test/osfeatures", "latest",
          {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1",
           "os.features": ["win32k"]}, "osfeatures")

    # an index of one image and its attestation (buildx's default output for one platform)
    one = small(p, "test/attest-one", None, ARM64, "attest-one-arm64", oci=True)
    att = attestation(p, "test/attest-one", one)
    p.index("test/attest-one", "latest", [
        (one, ARM64, None),
        (att, {"architecture": "unknown", "os": "unknown"},
         {"vnd.docker.reference.type": "attestation-manifest",
          "vnd.docker.reference.digest": one["digest"]}),
    ])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", required=True, help="HOST:PORT of a plain-HTTP registry")
    ap.add_argument("--set", dest="set_", choices=("seed", "core"), default="core")
    ap.add_argument("--summary", help="write the summary JSON here")
    args = ap.parse_args()

    reg = Registry(args.registry)
    st, _, body = reg.request("GET", "/v2/")
    reg.check((200,), st, "GET /v2/", body)
    p = Pusher(reg)
    p.summary["set"] = args.set_
    (push_seed if args.set_ == "seed" else push_core)(p)

    s = p.summary
    s["repositories"] = sorted(s["tags"])
    for repo in s["tags"]:
        s["tags"][repo].sort()
    s["tags"] = {r: s["tags"][r] for r in sorted(s["tags"])}
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(s, f, indent=1, sort_keys=True)
            f.write("\n")
    print("fixtures: pushed %d manifests (%d tags) in %d repositories with %d requests to %s"
          % (len(s["manifests"]), len(s["refs"]), len(s["repositories"]), reg.requests,
             args.registry), file=sys.stderr)


if __name__ == "__main__":
    main()
