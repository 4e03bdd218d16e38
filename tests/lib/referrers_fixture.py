#!/usr/bin/env python3
"""Push, to a plain-HTTP registry without the referrers API (distribution 2.8), an image with
what OCI 1.1 and cosign attach to it, the way their tools do it there:

  ref/app:v1                    the image
  an SPDX SBOM                  an artifact manifest (artifactType application/spdx+json,
                                subject: the image), pushed by digest
  a signature on the SBOM       artifactType application/vnd.cncf.notary.signature, subject: the
                                SBOM (a referrer of a referrer)
  a stray referrer              subject: another manifest, yet listed for the image (regfs must
                                not show it there)
  sha256-<image hex>            the fallback tag: an index of the SBOM and the stray one
  sha256-<sbom hex>             the SBOM's fallback tag: an index of the signature
  sha256-<image hex>.sig        a cosign-style signature manifest (no subject: the tag says)

    referrers_fixture.py --registry HOST:PORT    prints a JSON summary of the digests
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def artifact(p, repo, artifact_type, layer_bytes, layer_type, subject, annotations=None):
    """Push an OCI 1.1 artifact manifest by digest; returns its descriptor."""
    empty = p.blob(repo, b"{}", EMPTY)
    layer = p.blob(repo, layer_bytes, layer_type)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
           "config": empty, "layers": [layer]}
    if subject:
        doc["subject"] = subject
    if annotations:
        doc["annotations"] = annotations
    data = fixtures.canonical(doc)
    digest = p.manifest(repo, fixtures.sha256(data), data, OCI_MANIFEST)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(data),
            "artifactType": artifact_type}


def fallback_index(p, repo, subject_digest, referrers):
    data = fixtures.canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": referrers})
    p.manifest(repo, "sha256-" + subject_digest[7:], data, OCI_INDEX)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    args = ap.parse_args()
    p = fixtures.Pusher(fixtures.Registry(args.registry))
    repo = "ref/app"

    img = fixtures.small(p, repo, "v1", fixtures.AMD64, "ref-app", oci=True)
    other = fixtures.small(p, repo, "other", fixtures.AMD64, "ref-other", oci=True)
    subj = {"mediaType": OCI_MANIFEST, "digest": img["digest"], "size": img["size"]}

    sbom_doc = fixtures.canonical({"spdxVersion": "SPDX-2.3", "name": "ref-app",
                                   "packages": [{"name": "zlib", "versionInfo": "1.3"}]})
    sbom = artifact(p, repo, "application/spdx+json", sbom_doc, "application/spdx+json", subj,
                    {"org.opencontainers.image.created": "2026-11-30T00:00:00Z"})
    sig_on_sbom = artifact(p, repo, "application/vnd.cncf.notary.signature", b"sig-of-sbom",
                           "application/jose+json",
                           {k: sbom[k] for k in ("mediaType", "digest", "size")})
    stray = artifact(p, repo, "application/vnd.example.stray", b"stray", "text/plain",
                     {"mediaType": OCI_MANIFEST, "digest": other["digest"], "size": other["size"]})
    fallback_index(p, repo, img["digest"], [sbom, stray])
    fallback_index(p, repo, sbom["digest"], [sig_on_sbom])

    # cosign's legacy signature: an image manifest tagged sha256-<hex>.sig, no subject
    payload = fixtures.canonical({"critical": {"image": {"docker-manifest-digest": img["digest"]},
                                               "type": "cosign container image signature"}})
    cfg = p.blob(repo, b"{}", "application/vnd.oci.image.config.v1+json")
    layer = p.blob(repo, payload, "application/vnd.dev.cosign.simplesigning.v1+json")
    layer["annotations"] = {"dev.cosignproject.cosign/signature": "MEUCIQ=="}
    data = fixtures.canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg,
                               "layers": [layer]})
    cosign = p.manifest(repo, "sha256-%s.sig" % img["digest"][7:], data, OCI_MANIFEST)

    json.dump({"image": img["digest"], "other": other["digest"], "sbom": sbom["digest"],
               "sbom_layer": fixtures.sha256(sbom_doc), "sig_on_sbom": sig_on_sbom["digest"],
               "stray": stray["digest"], "cosign": cosign}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
