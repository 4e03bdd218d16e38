#!/usr/bin/env python3
"""Write an OCI image layout holding a BuildKit-style index: one linux/amd64 image and its
attestation manifest (platform unknown/unknown, vnd.docker.reference.type
attestation-manifest, vnd.docker.reference.digest the image's), whose layers are in-toto
statements as BuildKit writes them: an SPDX SBOM and SLSA provenance, each layer annotated
with in-toto.io/predicate-type, plus a third statement of a made-up predicate type without
the annotation (regfs must read its predicateType from the statement).

    attest_image.py DIR TAG      then: skopeo copy --all oci:DIR:TAG docker://HOST/REPO:TAG

Prints a JSON summary: the image's and the attestation's digests, and each statement's digest
and predicate type.  Deterministic: the same bytes every run.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def main():
    out, tag = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)

    def blob(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(out, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return "sha256:" + d

    def canonical(obj):
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

    # the image: one layer with one file
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        data = b"attested\n"
        ti = tarfile.TarInfo("etc/attested")
        ti.size, ti.mtime = len(data), 1700000000
        t.addfile(ti, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    cfg = canonical({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers",
                                "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]}})
    img = canonical({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                "digest": blob(cfg), "size": len(cfg)},
                     "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                 "digest": blob(layer), "size": len(layer)}]})
    img_digest = blob(img)

    subject = [{"name": "pkg:docker/attested@" + tag, "digest": {"sha256": img_digest[7:]}}]
    statements = [
        ("https://spdx.dev/Document", True,
         {"spdxVersion": "SPDX-2.3", "name": "attested",
          "packages": [{"name": "busybox", "versionInfo": "1.36.1"},
                       {"name": "musl", "versionInfo": "1.2.4"}]}),
        ("https://slsa.dev/provenance/v0.2", True,
         {"builder": {"id": "https://example.invalid/builder"}, "buildType": "regfs-test"}),
        ("https://example.invalid/attestation/custom/v1", False, {"answer": 42}),
    ]
    layers, summary = [], []
    for ptype, annotate, predicate in statements:
        stmt = canonical({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": ptype,
                          "subject": subject, "predicate": predicate})
        d = {"mediaType": "application/vnd.in-toto+json", "digest": blob(stmt), "size": len(stmt)}
        if annotate:
            d["annotations"] = {"in-toto.io/predicate-type": ptype}
        layers.append(d)
        summary.append({"digest": d["digest"], "predicate_type": ptype, "size": len(stmt)})
    acfg = canonical({"architecture": "unknown", "os": "unknown", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}})
    att = canonical({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                "digest": blob(acfg), "size": len(acfg)},
                     "layers": layers})
    att_digest = blob(att)
    index = canonical({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": [
                           {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": img_digest, "size": len(img),
                            "platform": {"architecture": "amd64", "os": "linux"}},
                           {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": att_digest, "size": len(att),
                            "platform": {"architecture": "unknown", "os": "unknown"},
                            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                            "vnd.docker.reference.digest": img_digest}}]})
    index_digest = blob(index)
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(canonical({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest,
             "size": len(index), "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    json.dump({"index": index_digest, "image": img_digest, "attestation": att_digest,
               "statements": summary}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
