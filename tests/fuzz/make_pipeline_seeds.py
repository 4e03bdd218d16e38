#!/usr/bin/env python3
"""Write the seeds of fuzz_pipeline (tests/fuzz/corpus/pipeline/).

Each seed is an op byte, a flags byte, then raw HTTP responses and last the
content, separated by SEP (fuzz_pipeline.c says what they mean).  The
responses are those of CNCF distribution 2.8 (the docker-registry package)
recorded with curl -si on loopback, headers and all, with the port, the
digest and the length left as @PORT@, @DIGEST@ and @LEN@ where a recorded
one would not fit; the rest (auth, rate limits, redirects, cut transfers)
is what such a registry and the services in front of it send.

    python3 tests/fuzz/make_pipeline_seeds.py [DIR]
"""
import gzip
import hashlib
import os
import sys

SEP = b"\n@@@@\n"
DATE = "Mon, 30 Nov 2026 18:24:50 GMT"

OP_MANIFEST_DIGEST, OP_MANIFEST_TAG, OP_BLOB, OP_LISTING, OP_HEAD = range(5)
F_RETRY, F_SIZED, F_CATALOG = 1, 2, 4

# The image that was pushed to the recording registry.
LAYER = b"hello layer bytes\n"
LAYER_DIGEST = "sha256:" + hashlib.sha256(LAYER).hexdigest()
MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
    b'"digest":"sha256:c5b1d63604f273462ef36fadac3182d43ae6a6138731cf594b314835cf1c034f",'
    b'"size":78},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
    b'"digest":"' + LAYER_DIGEST.encode() + b'","size":18}]}'
)
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
OCI = "application/vnd.oci.image.manifest.v1+json"
JSON = "application/json; charset=utf-8"


def resp(status, headers, body=b"", length=True):
    """One response as distribution sends it: its headers, then the
    ones every answer carries, Content-Length unless told not to."""
    lines = ["HTTP/1.1 " + status]
    lines += headers
    if length is True:
        lines.append("Content-Length: %d" % len(body))
    elif length:
        lines.append("Content-Length: " + length)
    lines += ["Docker-Distribution-Api-Version: registry/2.0",
              "X-Content-Type-Options: nosniff", "Date: " + DATE]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def error(status, code, message, extra=()):
    body = ('{"errors":[{"code":"%s","message":"%s","detail":null}]}\n'
            % (code, message)).encode()
    return resp(status, ["Content-Type: " + JSON] + list(extra), body)


V2 = resp("200 OK", ["Content-Type: " + JSON], b"{}")


def manifest_200(body=b"@CONTENT@", digest="@DIGEST@", length="@LEN@", extra=()):
    return resp("200 OK", ["Content-Type: " + OCI, "Docker-Content-Digest: " + digest,
                           'Etag: "%s"' % digest] + list(extra), body, length)


def blob_200(body=b"@CONTENT@", length="@LEN@", digest="@DIGEST@"):
    return resp("200 OK", ["Accept-Ranges: bytes", "Cache-Control: max-age=31536000",
                           "Content-Type: application/octet-stream",
                           "Docker-Content-Digest: " + digest, 'Etag: "%s"' % digest],
                body, length)


def tags(names, link=None, catalog=False):
    import json
    key = "repositories" if catalog else "tags"
    doc = {key: names} if catalog else {"name": "fuzz/repo", key: names}
    extra = ["Link: " + link] if link else []
    return resp("200 OK", ["Content-Type: " + JSON] + extra,
                json.dumps(doc, separators=(",", ":")).encode() + b"\n")


def chunked(body, size=64):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


CHALLENGE = ('Www-Authenticate: Bearer realm="http://127.0.0.1:@PORT@/token",'
             'service="127.0.0.1:@PORT@",scope="repository:fuzz/repo:pull"')
TOKEN = resp("200 OK", ["Content-Type: application/json"],
             b'{"token":"fuzz-token","access_token":"fuzz-token","expires_in":300,'
             b'"issued_at":"2026-11-30T18:24:50Z"}')

SEEDS = {
    # the happy paths, as recorded
    "manifest_digest_ok": (OP_MANIFEST_DIGEST, 0, [V2, manifest_200()], MANIFEST),
    "manifest_tag_recorded": (OP_MANIFEST_TAG, 0,
                              [V2, manifest_200(MANIFEST, MANIFEST_DIGEST, True)], MANIFEST),
    "manifest_tag_no_digest_header": (OP_MANIFEST_TAG, 0,
                                      [V2, resp("200 OK", ["Content-Type: " + OCI], MANIFEST)],
                                      b""),
    "blob_ok_sized": (OP_BLOB, F_SIZED, [V2, blob_200(LAYER, True, LAYER_DIGEST)], LAYER),
    "blob_ok_unsized": (OP_BLOB, 0, [V2, blob_200()], LAYER),
    "head_ok": (OP_HEAD, 0, [V2, manifest_200(b"", MANIFEST_DIGEST, str(len(MANIFEST)))], b""),
    "tags_recorded": (OP_LISTING, 0, [V2, tags(["latest", "v2"])], b""),
    "catalog_recorded": (OP_LISTING, F_CATALOG, [V2, tags(["fuzz/repo"], catalog=True)], b""),

    # content that is not what was asked for
    "manifest_digest_mismatch": (OP_MANIFEST_DIGEST, 0,
                                 [V2, manifest_200(MANIFEST, MANIFEST_DIGEST, True)],
                                 MANIFEST.replace(b"18", b"19")),
    "manifest_tag_wrong_header": (OP_MANIFEST_TAG, 0,
                                  [V2, manifest_200(MANIFEST, LAYER_DIGEST, True)], b""),
    "blob_wrong_bytes": (OP_BLOB, F_SIZED, [V2, blob_200(b"hello layer bytez\n", True)], LAYER),
    "blob_too_long": (OP_BLOB, F_SIZED, [V2, blob_200(LAYER + b"and more", True)], LAYER),
    "blob_short_unsized": (OP_BLOB, 0, [V2, blob_200(LAYER[:6], True)], LAYER),
    "manifest_404": (OP_MANIFEST_TAG, 0,
                     [V2, error("404 Not Found", "MANIFEST_UNKNOWN", "manifest unknown")], b""),
    "blob_404": (OP_BLOB, 0,
                 [V2, error("404 Not Found", "BLOB_UNKNOWN", "blob unknown to registry")], LAYER),

    # a transfer cut short, then the rest asked with Range
    "blob_cut_then_206": (OP_BLOB, F_SIZED | F_RETRY, [
        V2, blob_200(LAYER[:6], "18"),
        resp("206 Partial Content", ["Accept-Ranges: bytes", "Content-Range: bytes 6-17/18",
                                     "Content-Type: application/octet-stream",
                                     "Docker-Content-Digest: " + LAYER_DIGEST], LAYER[6:]),
    ], LAYER),
    "blob_cut_then_200_again": (OP_BLOB, F_RETRY, [V2, blob_200(LAYER[:6], "18"),
                                                   blob_200(LAYER, True)], LAYER),
    "blob_cut_then_206_wrong_start": (OP_BLOB, F_RETRY, [
        V2, blob_200(LAYER[:6], "18"),
        resp("206 Partial Content", ["Content-Range: bytes 4-17/18",
                                     "Content-Type: application/octet-stream"], LAYER[4:]),
    ], LAYER),

    # redirects, to blob storage on the same loopback server
    "blob_307": (OP_BLOB, F_SIZED, [
        V2, resp("307 Temporary Redirect",
                 ["Location: http://127.0.0.1:@PORT@/storage/blobs/@DIGEST@/data?sig=abc",
                  "Content-Type: text/html; charset=utf-8"],
                 b'<a href="http://127.0.0.1:@PORT@/storage">Temporary Redirect</a>.\n'),
        resp("200 OK", ["Content-Type: application/octet-stream"], b"@CONTENT@", "@LEN@"),
    ], LAYER),
    "blob_307_elsewhere": (OP_BLOB, F_RETRY, [
        V2, resp("307 Temporary Redirect", ["Location: http://10.255.255.1/blobs/@DIGEST@"]),
        resp("307 Temporary Redirect", ["Location: http://storage.invalid/blobs/@DIGEST@"]),
    ], LAYER),
    "manifest_307": (OP_MANIFEST_DIGEST, 0, [
        V2, resp("307 Temporary Redirect",
                 ["Location: http://127.0.0.1:@PORT@/v2/fuzz/repo/manifests/@DIGEST@"]),
        manifest_200(),
    ], MANIFEST),

    # Bearer auth: the challenge, the token, the content
    "bearer_manifest": (OP_MANIFEST_DIGEST, 0, [
        error("401 Unauthorized", "UNAUTHORIZED", "authentication required",
              [CHALLENGE.replace(',scope="repository:fuzz/repo:pull"', "")]),
        error("401 Unauthorized", "UNAUTHORIZED", "authentication required", [CHALLENGE]),
        TOKEN, manifest_200(),
    ], MANIFEST),
    "bearer_blob": (OP_BLOB, F_SIZED, [
        V2, error("401 Unauthorized", "UNAUTHORIZED", "authentication required", [CHALLENGE]),
        TOKEN, blob_200(),
    ], LAYER),
    "bearer_token_refused": (OP_LISTING, 0, [
        V2, error("401 Unauthorized", "UNAUTHORIZED", "authentication required", [CHALLENGE]),
        error("401 Unauthorized", "UNAUTHORIZED", "bad credentials"),
    ], b""),
    "bearer_token_garbage": (OP_MANIFEST_TAG, 0, [
        V2, error("401 Unauthorized", "UNAUTHORIZED", "authentication required", [CHALLENGE]),
        resp("200 OK", ["Content-Type: application/json"], b'{"token":'),
    ], b""),

    # rate limits and outages
    "manifest_429": (OP_MANIFEST_TAG, 0, [
        V2, error("429 Too Many Requests", "TOOMANYREQUESTS", "too many requests",
                  ["Retry-After: 3600", "Ratelimit-Limit: 100;w=21600",
                   "Ratelimit-Remaining: 0;w=21600"]),
    ], b""),
    "blob_503_then_ok": (OP_BLOB, F_RETRY | F_SIZED, [
        V2, resp("503 Service Unavailable", ["Content-Type: text/plain"], b"busy\n"),
        blob_200(),
    ], LAYER),
    "blob_503_retry_after": (OP_BLOB, F_RETRY, [
        V2, resp("503 Service Unavailable", ["Retry-After: 1"], b""), blob_200(),
    ], LAYER),
    "v2_503": (OP_MANIFEST_DIGEST, 0, [resp("503 Service Unavailable", [], b"")], MANIFEST),
    "no_answer": (OP_MANIFEST_DIGEST, F_RETRY, [], MANIFEST),

    # transfer encodings
    "manifest_chunked": (OP_MANIFEST_TAG, 0, [
        V2, resp("200 OK", ["Content-Type: " + OCI, "Docker-Content-Digest: " + MANIFEST_DIGEST,
                            "Transfer-Encoding: chunked"], chunked(MANIFEST), length=False),
    ], MANIFEST),
    "blob_chunked": (OP_BLOB, 0, [
        V2, resp("200 OK", ["Content-Type: application/octet-stream",
                            "Transfer-Encoding: chunked"], chunked(LAYER, 5), length=False),
    ], LAYER),
    "manifest_gzip": (OP_MANIFEST_DIGEST, 0, [
        V2, manifest_200(gzip.compress(MANIFEST, mtime=0), MANIFEST_DIGEST, True,
                         ["Content-Encoding: gzip", "Vary: Accept-Encoding"]),
    ], MANIFEST),
    "blob_gzip": (OP_BLOB, F_SIZED, [
        V2, resp("200 OK", ["Content-Type: application/octet-stream", "Content-Encoding: gzip"],
                 gzip.compress(LAYER, mtime=0)),
    ], LAYER),
    "blob_no_length_close": (OP_BLOB, 0, [
        V2, resp("200 OK", ["Content-Type: application/octet-stream", "Connection: close"],
                 b"@CONTENT@", length=False),
    ], LAYER),

    # listings: pages, and names no client should take
    "tags_link_next": (OP_LISTING, 0, [
        V2, tags(["latest"], '</v2/fuzz/repo/tags/list?last=latest&n=1>; rel="next"'),
        tags(["v2"]),
    ], b""),
    "catalog_link_next": (OP_LISTING, F_CATALOG, [
        V2, tags(["fuzz/repo"], '</v2/_catalog?last=fuzz%2Frepo&n=1>; rel="next"', True),
        tags(["other/repo"], catalog=True),
    ], b""),
    "tags_link_elsewhere": (OP_LISTING, 0, [
        V2, tags(["latest"], '<http://127.0.0.2:@PORT@/v2/fuzz/repo/tags/list?last=x>; rel="next"'),
    ], b""),
    "tags_hostile": (OP_LISTING, 0, [
        V2, tags(["../../etc", "a/b", ".hidden", "ok", "$(rm -rf /)", "-n",
                  "\u00e9t\u00e9", " ", "", "a" * 129, "a" * 128, "..", "x\ny", "%2e%2e"]),
    ], b""),
    "tags_nul": (OP_LISTING, 0, [V2, tags(["ok", "x\u0000y"])], b""),
    "catalog_hostile": (OP_LISTING, F_CATALOG, [
        V2, tags(["../etc", "a//b", "A/b", "a/../b", "/abs", "ok/repo", "x" * 300, "a:b",
                  "a/b/", "a__b", "a---b"], catalog=True),
    ], b""),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "pipeline")
    os.makedirs(out, exist_ok=True)
    for name, (op, flags, responses, content) in SEEDS.items():
        data = bytes([op, flags]) + b"".join(r + SEP for r in responses) + content
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
