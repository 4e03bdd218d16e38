#!/usr/bin/env python3
"""Push the benchmark's extra images (on top of tests/lib/fixtures.py's sets) and write a summary.

Reuses fixtures.py's Pusher, so everything is deterministic and pushed with the plain HTTP API:
  bench/tags:t000..t199   one small image under 200 tags           (list-tags, audit)
  bench/multiarch:latest  Docker manifest list over 5 platforms,    (verbose inspect, configs)
                          each image with 2 small layers
  bench/big:latest        one --big-mib MiB incompressible layer (random bytes pushed as the
                          blob itself: nothing reads it as a tar) + a tiny one   (B4)
  bench/layers30:latest   30 small layers                           (many small blobs)
  scale/r00..r49:v1..v4   200 small images, a different one per tag (B2, B2')
  bench/tags2500:t0000..  one small image under --many-tags tags    (B5; not in refs)
  bench/huge:t000000..    with --huge-tags N: one image under N tags (B5 huge, where the proxy
                          lists made-up tags after these; not in refs)
  bench/rootfs:latest     with --rootfs-mib N: one gzip layer of N MiB of this machine's /usr
                          (scripts/bench/rootfs_layer.py), Docker media types, its diff_id in
                          the config; the blob is also kept at --rootfs-blob for the peers (B6)

Usage: gen.py --registry HOST:PORT --summary OUT.json [--big-mib N] [--many-tags N]
              [--huge-tags N] [--rootfs-mib N --rootfs-blob FILE] [--rows B1,B2,...]
--rows: push only what these rows of bench.sh use (default: everything but bench/rootfs, which
needs --rootfs-mib): B1 bench/multiarch, B2 and B2' scale/*, B4 bench/big, B5 bench/tags2500
and bench/huge, B6 bench/rootfs; bench/tags and bench/layers30 (the legacy scenarios') only
when every row is wanted.
The summary has fixtures.py's layout (refs, manifests, tags, blobs) for these repositories only;
the many-tag repositories are left out of refs (their tags are listed, their count kept in
"tag_counts"); "rootfs" describes bench/rootfs's layer (rootfs_layer.py's output).
"""

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402
import rootfs_layer  # noqa: E402

PLATFORMS = [
    {"architecture": "amd64", "os": "linux"},
    {"architecture": "arm64", "os": "linux", "variant": "v8"},
    {"architecture": "arm", "os": "linux", "variant": "v7"},
    {"architecture": "ppc64le", "os": "linux"},
    {"architecture": "s390x", "os": "linux"},
]


def many_tags(p, repo, fmt, n, s):
    """One small image under @n tags of @repo, pushed by tag without recording each in refs."""
    img = fixtures.small(p, repo, None, fixtures.AMD64, repo.replace("/", "-"))
    for i in range(n):
        p.manifest(repo, fmt % i, img["bytes"], img["media_type"])
    s["tag_counts"][repo] = n


def rootfs(p, repo, tag, mib, blob_path):
    """bench/rootfs: one gzip layer of real files, pushed with the tar's sha256 as its diff_id
    (fixtures' Pusher.image takes a ready blob as its own diff_id, so the config is made here)."""
    info = rootfs_layer.build(blob_path, mib)
    with open(blob_path, "rb") as f:
        blob = f.read()
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "created": fixtures.CREATED,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [info["diff_id"]]},
        "history": [{"created": fixtures.CREATED,
                     "created_by": "scripts/bench/rootfs_layer.py --mib %d" % mib}],
    }
    img = p.image(repo, tag, fixtures.AMD64, [blob], config_obj=cfg)
    del blob
    layer = p.summary["refs"]["%s:%s" % (repo, tag)]["layers"][0]
    if layer["digest"] != info["digest"]:
        sys.exit("gen: bench/rootfs's layer is %s, the blob file %s" % (layer["digest"], info["digest"]))
    layer["diff_id"] = info["diff_id"]
    info["name"] = layer["name"]
    info["mib"] = mib
    return img, info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--many-tags", type=int, default=2500)
    ap.add_argument("--huge-tags", type=int, default=0)
    ap.add_argument("--rootfs-mib", type=int, default=0)
    ap.add_argument("--rootfs-blob")
    ap.add_argument("--rows", default="")
    args = ap.parse_args()
    rows = {r for r in args.rows.split(",") if r}

    def want(*ids):
        return not rows or any(r in rows for r in ids)

    if args.rootfs_mib and not args.rootfs_blob:
        ap.error("--rootfs-mib needs --rootfs-blob")

    t0 = time.monotonic()
    reg = fixtures.Registry(args.registry)
    p = fixtures.Pusher(reg)

    if not rows:
        # 200 tags of one image
        img = fixtures.small(p, "bench/tags", "t000", fixtures.AMD64, "bench-tags")
        for i in range(1, 200):
            p.tag("bench/tags", "t%03d" % i, img)

    if want("B1"):
        # a 5-platform Docker manifest list
        children = []
        for plat in PLATFORMS:
            label = "bench-multiarch-" + fixtures.entry_name(plat)
            children.append((fixtures.small(p, "bench/multiarch", None, plat, label, n_layers=2), plat, None))
        p.index("bench/multiarch", "latest", children, oci=False)

    if want("B4"):
        # one big incompressible layer, pushed as the blob itself: a gzip of random bytes is
        # only slower to make and slightly bigger
        rnd = random.Random(20240601)
        big = b"".join(rnd.randbytes(1 << 20) for _ in range(args.big_mib))
        p.image("bench/big", "latest", fixtures.AMD64, [
            big,
            [("etc/regfs-bench/big", b"small layer after the big one\n")],
        ])
        del big

    if not rows:
        # 30 small layers
        fixtures.small(p, "bench/layers30", "latest", fixtures.AMD64, "bench-layers30", n_layers=30)

    if want("B2", "B2'", "B2p"):
        # 50 repositories x 4 tags, a different image under each tag
        for r in range(50):
            for t in range(1, 5):
                fixtures.small(p, "scale/r%02d" % r, "v%d" % t, fixtures.AMD64, "scale-r%02d-v%d" % (r, t))

    rootfs_info = None
    if args.rootfs_mib and want("B6"):
        _, rootfs_info = rootfs(p, "bench/rootfs", "latest", args.rootfs_mib, args.rootfs_blob)

    s = p.summary
    s["tag_counts"] = {}
    if want("B5"):
        many_tags(p, "bench/tags2500", "t%04d", args.many_tags, s)
        if args.huge_tags:
            many_tags(p, "bench/huge", "t%06d", args.huge_tags, s)
    if rootfs_info:
        s["rootfs"] = rootfs_info

    s = p.summary
    s["repositories"] = sorted(s["tags"])
    for repo in s["tags"]:
        s["tags"][repo].sort()
    with open(args.summary, "w") as f:
        json.dump(s, f, indent=1, sort_keys=True)
        f.write("\n")
    print("gen: pushed %d manifests (%d tags) in %d repositories with %d requests in %.1f s"
          % (len(s["manifests"]), len(s["refs"]), len(s["repositories"]), reg.requests,
             time.monotonic() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
