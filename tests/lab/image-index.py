#!/usr/bin/env python3
"""tests/lab/image-index.py - put a multi-platform image index in a registry.

    image-index.py [--cacert CA] [--oci] REGISTRY REPO TAG PLATFORM=REF...

Each REF is a tag (or digest) of REPO already in the registry, holding a
single-platform image manifest (what `docker push` makes). The manifests
are read with the registry v2 API, and an index that lists them by digest
for their PLATFORM (os/arch, e.g. linux/amd64) is PUT under TAG: a Docker
manifest list, or an OCI image index with --oci. Prints the index digest
(what `docker pull REGISTRY/REPO:TAG` prints and RepoDigests keep).

REGISTRY is host:port, spoken to over HTTPS when --cacert is given, else
over HTTP (loopback lab registries only). Anonymous registries only.
"""
import argparse
import hashlib
import json
import ssl
import sys
import urllib.request

MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json")
LIST_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def request(base, ctx, method, path, headers, body=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        return resp.headers, resp.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cacert")
    ap.add_argument("--oci", action="store_true")
    ap.add_argument("registry")
    ap.add_argument("repo")
    ap.add_argument("tag")
    ap.add_argument("platforms", nargs="+", metavar="PLATFORM=REF")
    args = ap.parse_args()

    ctx = None
    base = "http://" + args.registry
    if args.cacert:
        ctx = ssl.create_default_context(cafile=args.cacert)
        base = "https://" + args.registry
    entries = []
    for item in args.platforms:
        platform, _, ref = item.partition("=")
        os_name, _, arch = platform.partition("/")
        if not os_name or not arch or not ref:
            sys.exit("image-index.py: %s: want OS/ARCH=REF" % item)
        headers, body = request(base, ctx, "GET", "/v2/%s/manifests/%s" % (args.repo, ref),
                                {"Accept": MANIFEST_TYPES})
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        served = headers.get("Docker-Content-Digest")
        if served and served != digest:
            sys.exit("image-index.py: %s:%s: registry says %s, body hashes to %s" %
                     (args.repo, ref, served, digest))
        media_type = json.loads(body).get("mediaType") or headers.get("Content-Type")
        entries.append({
            "mediaType": media_type,
            "size": len(body),
            "digest": digest,
            "platform": {"architecture": arch, "os": os_name},
        })
    index_type = OCI_INDEX_TYPE if args.oci else LIST_TYPE
    index = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": entries},
                       indent=3).encode()
    headers, _ = request(base, ctx, "PUT", "/v2/%s/manifests/%s" % (args.repo, args.tag),
                         {"Content-Type": index_type}, index)
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    served = headers.get("Docker-Content-Digest")
    if served != digest:
        sys.exit("image-index.py: the registry stored the index as %s, not %s" %
                 (served, digest))
    print(digest)


if __name__ == "__main__":
    main()
