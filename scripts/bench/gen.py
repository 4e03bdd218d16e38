#!/usr/bin/env python3
"""Push the benchmark's extra images (on top of tests/lib/fixtures.py's sets) and write a summary.

Reuses fixtures.py's Pusher, so everything is deterministic and pushed with the plain HTTP API:
  bench/tags:t000..t199   one small image under 200 tags           (list-tags, audit)
  bench/multiarch:latest  Docker manifest list over 5 platforms,    (verbose inspect, configs)
                          each image with 2 small layers
  bench/big:latest        one 64 MiB incompressible layer + a tiny one   (pull, concurrency)
  bench/layers30:latest   30 small layers                           (many small blobs)

Usage: gen.py --registry HOST:PORT --summary OUT.json [--big-mib N]
The summary has fixtures.py's layout (refs, manifests, tags, blobs) for these repositories only.
"""

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "lib"))
import fixtures  # noqa: E402

PLATFORMS = [
    {"architecture": "amd64", "os": "linux"},
    {"architecture": "arm64", "os": "linux", "variant": "v8"},
    {"architecture": "arm", "os": "linux", "variant": "v7"},
    {"architecture": "ppc64le", "os": "linux"},
    {"architecture": "s390x", "os": "linux"},
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--big-mib", type=int, default=64)
    args = ap.parse_args()

    t0 = time.monotonic()
    reg = fixtures.Registry(args.registry)
    p = fixtures.Pusher(reg)

    # 200 tags of one image
    img = fixtures.small(p, "bench/tags", "t000", fixtures.AMD64, "bench-tags")
    for i in range(1, 200):
        p.tag("bench/tags", "t%03d" % i, img)

    # a 5-platform Docker manifest list
    children = []
    for plat in PLATFORMS:
        label = "bench-multiarch-" + fixtures.entry_name(plat)
        children.append((fixtures.small(p, "bench/multiarch", None, plat, label, n_layers=2), plat, None))
    p.index("bench/multiarch", "latest", children, oci=False)

    # one big incompressible layer (gzip level 6 of random data is slightly bigger than the data)
    rnd = random.Random(20240601)
    p.image("bench/big", "latest", fixtures.AMD64, [
        [("data/random.bin", rnd.randbytes(args.big_mib * 1024 * 1024))],
        [("etc/regfs-bench/big", b"small layer after the big one\n")],
    ])

    # 30 small layers
    fixtures.small(p, "bench/layers30", "latest", fixtures.AMD64, "bench-layers30", n_layers=30)

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
