#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into OUT/<target>/, from the
repository's examples and fixtures, the small seeds committed in fuzz/seeds/,
and a few small bundles made here in the bundle format (see
bundler/src/bundle/mod.rs): SEAL.json, SEAL.sha256, optional SEAL.json.sig,
then the entries in path order, regular files with mtime 0 and uid/gid 0.
One bundle is signed with the fuzz harness's fixed test key (32 bytes of 7),
so the fuzzer starts from a bundle whose signature verifies.

With REAL=path to a bundle built by meshbundle, its seal is added to the seal
seeds and a copy of it without its large entries to the bundle seeds.

    make_seeds.py OUT [REAL]
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_KEY_SEED = bytes([7] * 32)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def sign(seal):
    """An ed25519 signature entry over seal by the harness key (openssl), or None."""
    der = bytes.fromhex("302e020100300506032b657004220420") + TEST_KEY_SEED
    with tempfile.TemporaryDirectory() as d:
        key, msg = os.path.join(d, "k.der"), os.path.join(d, "m")
        open(key, "wb").write(der)
        open(msg, "wb").write(seal)
        try:
            sig = subprocess.run(
                ["openssl", "pkeyutl", "-sign", "-rawin", "-keyform", "DER", "-inkey", key, "-in", msg],
                check=True, capture_output=True).stdout
            pub = subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", key, "-pubout", "-outform", "DER"],
                                 check=True, capture_output=True).stdout[-32:]
        except (OSError, subprocess.CalledProcessError):
            return None
    import base64
    return json.dumps({"algorithm": "ed25519", "publicKey": base64.b64encode(pub).decode(),
                       "signature": base64.b64encode(sig).decode()}, separators=(",", ":")).encode()


def tar_bytes(members):
    """members: (name, mode, bytes) in order -> an uncompressed GNU tar."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, mode, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), mode, 0, 0, 0
            info.uname = info.gname = ""
            t.addfile(info, io.BytesIO(data))
        end = t.offset
    # Two zero blocks end the archive, as meshbundle writes it (tarfile pads to 10 KiB).
    return out.getvalue()[:end] + bytes(1024)


def bundle(seal, entries, signed=False):
    """seal: dict without entries; entries: {path: (mode, bytes)} -> (seal bytes, bundle bytes)."""
    seal = dict(seal)
    seal["entries"] = [{"path": p, "size": len(b), "mode": m, "sha256": sha(b)} for p, (m, b) in sorted(entries.items())]
    seal_bytes = json.dumps(seal, separators=(",", ":")).encode()
    members = [("SEAL.json", 0o644, seal_bytes), ("SEAL.sha256", 0o644, f"sha256:{sha(seal_bytes)}\n".encode())]
    if signed:
        sig = sign(seal_bytes)
        if sig is not None:
            members.append(("SEAL.json.sig", 0o644, sig))
    members += [(p, m, b) for p, (m, b) in sorted(entries.items())]
    return seal_bytes, tar_bytes(members)


def read(path):
    with open(os.path.join(REPO, path), "rb") as f:
        return f.read()


def synthetic():
    """Small bundles in the shape `meshbundle build` writes."""
    spec = read("core/examples/lab.yaml")
    lock = read("fuzz/seeds/lock/lab.lock")
    blob = b'{"architecture":"amd64","os":"linux"}'
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + sha(blob), "size": len(blob)}}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{"digest": "sha256:" + sha(manifest), "size": len(manifest)}]}).encode()
    kubeadm = b"#!/bin/sh\necho kubeadm\n"
    entries = {
        "files/kubeadm-amd64": (0o755, kubeadm),
        "images/blobs/sha256/" + sha(blob): (0o644, blob),
        "images/blobs/sha256/" + sha(manifest): (0o644, manifest),
        "images/index.json": (0o644, index),
        "images/oci-layout": (0o644, b'{"imageLayoutVersion":"1.0.0"}'),
        "tree/install.sh": (0o755, b"#!/usr/bin/env bash\nset -euo pipefail\necho install\n"),
        "tree/meshbundle.yaml": (0o644, spec),
        "tree/secrets/ca.key.age": (0o600, b"age-encryption.org/v1\n-> X25519 abc\nxyz\n--- def\n\x00\x01"),
    }
    seal = {
        "format": "meshbundle.dev/bundle/v1",
        "meshbundle": "0.1.0",
        "site": "lab",
        "spec": spec.decode(),
        "lock": lock.decode(),
        "treeDigest": "sha256:" + sha(b"tree"),
        "secrets": {"privateKeys": "encrypted", "recipients": ["age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"]},
        "images": [{
            "name": "registry.k8s.io/pause:3.10",
            "site": "192.168.56.10:5000/pause:3.10@sha256:" + sha(index),
            "digest": "sha256:" + sha(index),
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": ["sha256:" + sha(manifest)],
            "blobs": ["sha256:" + sha(blob)],
            "size": len(manifest) + len(blob),
        }],
        "files": [{"name": "kubeadm-amd64", "sha256": sha(kubeadm), "size": len(kubeadm),
                   "url": "https://dl.k8s.io/release/v1.36.5/bin/linux/amd64/kubeadm"}],
        "certificates": [{"name": "kubeadm.ca", "subject": "CN=kubernetes", "notAfter": 2110000000}],
    }
    out = {}
    out["full"] = bundle(seal, entries)
    out["signed"] = bundle(seal, entries, signed=True)
    small = {k: v for k, v in entries.items() if k.startswith("tree/")}
    bare = dict(seal, lock=None, images=[], files=[], certificates=[], secrets={"privateKeys": "none"},
                notCarried={"images": ["registry.k8s.io/pause:3.10"], "files": ["kubeadm-amd64"], "reason": "built offline"})
    del bare["lock"]
    out["offline"] = bundle(bare, small)
    diff = dict(seal, base={"id": "sha256:" + sha(b"base"), "blobs": ["sha256:" + sha(blob)], "files": ["kubeadm-amd64"]})
    out["differential"] = bundle(diff, {k: v for k, v in entries.items() if not k.startswith(("files/", "images/blobs"))})
    return out


def from_real(path):
    """The seal of a real bundle, and the bundle without entries over 16 KiB (the seal rewritten to match)."""
    with tarfile.open(path, mode="r:") as t:
        members = []
        for m in t:
            if m.size > 16 * 1024 and m.name != "SEAL.json":
                continue
            members.append((m.name, m.mode, t.extractfile(m).read()))
    seal_raw = dict((n, b) for n, _, b in members)["SEAL.json"]
    seal = json.loads(seal_raw)
    kept = {n: (m, b) for n, m, b in members if not n.startswith("SEAL.")}
    del seal["entries"]
    return seal_raw, bundle(seal, kept)[1]


def main():
    out = sys.argv[1]
    real = sys.argv[2] if len(sys.argv) > 2 else None
    dirs = {t: os.path.join(out, t) for t in ("bundle_verify", "seal", "spec", "lock", "secrets", "image_ref")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)

    def put(target, name, data):
        with open(os.path.join(dirs[target], name), "wb") as f:
            f.write(data)

    for name, (seal_bytes, b) in synthetic().items():
        put("bundle_verify", name + ".mbundle", b)
        put("seal", name + ".json", seal_bytes)
    if real:
        seal_raw, small = from_real(real)
        put("seal", "real.json", seal_raw)
        put("bundle_verify", "real.mbundle", small)
    for p in ("core/examples/lab.yaml", "core/examples/production.yaml", "tests/fixtures/four-problems.yaml"):
        put("spec", os.path.basename(p), read(p))
    put("secrets", "production.secrets.yaml", read("tests/fixtures/production.secrets.yaml"))
    for target in ("lock", "image_ref", "spec", "seal", "secrets", "bundle_verify"):
        committed = os.path.join(REPO, "fuzz", "seeds", target)
        if os.path.isdir(committed):
            for f in sorted(os.listdir(committed)):
                shutil.copyfile(os.path.join(committed, f), os.path.join(dirs[target], f))
    # Every image the catalog names.
    refs = set()
    for line in read("images/catalog.yaml").decode().splitlines():
        s = line.strip()
        if s.startswith("- ") and "/" in s and ":" in s and " " not in s[2:] and not s[2:].startswith("http"):
            refs.add(s[2:].strip("'\""))
    for i, r in enumerate(sorted(refs)):
        put("image_ref", f"catalog{i}", r.encode())


if __name__ == "__main__":
    main()
