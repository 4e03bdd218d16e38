#!/usr/bin/env python3
"""Push images of one incompressible layer of a given size, for the cache tests.

The core fixtures have one layer of note (3 MiB); tests of the cache's limits need several
distinct layers of chosen sizes, to fill a cap or a small file system in a known order.  Each
REPO:TAG=SIZE[:SEED] pushes an image (Docker schema 2, linux/amd64) whose one layer is a tar of
SIZE bytes from a PRNG seeded with SEED (default: the argument's position), so the bytes, and
the digests, are the same from run to run.

Usage: random_image.py --registry HOST:PORT REPO:TAG=SIZE[:SEED]...
Prints one line per image: "REPO:TAG LAYER_DIGEST LAYER_SIZE LAYER_NAME".
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402  (the Registry and Pusher the fixtures use)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--registry", required=True, help="HOST:PORT of a plain-HTTP registry")
    ap.add_argument("images", nargs="+", metavar="REPO:TAG=SIZE[:SEED]")
    args = ap.parse_args()

    p = fixtures.Pusher(fixtures.Registry(args.registry))
    for i, spec in enumerate(args.images):
        ref, _, size = spec.partition("=")
        size, _, seed = size.partition(":")
        repo, _, tag = ref.rpartition(":")
        rnd = random.Random(int(seed) if seed else 7919 * (i + 1))
        info = p.image(repo, tag, fixtures.AMD64,
                       [[("data/random-%d.bin" % i, rnd.randbytes(int(size)))]])
        layer = info["layers"][0]
        print(ref, layer["digest"], layer["size"], layer["name"])


if __name__ == "__main__":
    main()
