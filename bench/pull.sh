#!/usr/bin/env bash
# Pull throughput: meshbundle against skopeo, same images, same local registry.
#
# Starts Debian's docker-registry on 127.0.0.1, pushes IMAGES images of LAYERS
# random layers of LAYER_MIB MiB each (at least 1 GiB in all by default), then
# in the same run times `meshbundle image pull` (empty cache) and `skopeo copy`
# of each image into an OCI layout, and prints the ratio (goal: meshbundle
# faster than skopeo, ratio < 1).
#
#   bench/pull.sh                     (needs cargo build --release first)
#   IMAGES=4 LAYERS=5 LAYER_MIB=64 bench/pull.sh
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
mb=${MESHBUNDLE:-$repo/target/release/meshbundle}
IMAGES=${IMAGES:-4}
LAYERS=${LAYERS:-5}
LAYER_MIB=${LAYER_MIB:-56}
JOBS=${JOBS:-8}
[[ -x "$mb" ]] || { echo "build first: cargo build --release -p meshbundle" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill "${reg_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $host
EOF
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 50); do curl -fs "http://$host/v2/" >/dev/null && break; sleep 0.1; done

echo "making $IMAGES images of $LAYERS layers of $LAYER_MIB MiB"
python3 - "$work/src" "$IMAGES" "$LAYERS" "$LAYER_MIB" <<'PY'
import hashlib, io, json, os, sys, tarfile
root, images, layers, mib = sys.argv[1], *map(int, sys.argv[2:5])
blobs = os.path.join(root, "blobs", "sha256"); os.makedirs(blobs, exist_ok=True)
open(os.path.join(root, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(os.path.join(blobs, d), "wb").write(b); return "sha256:" + d, len(b)
entries = []
for i in range(images):
    ls, diffs = [], []
    for j in range(layers):
        data = os.urandom(mib << 20)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
            ti = tarfile.TarInfo(f"data/{i}-{j}.bin"); ti.size = len(data); ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
        d, s = put(buf.getvalue()); ls.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}); diffs.append(d)
    cd, cs = put(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}}).encode())
    md, ms = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": ls}).encode())
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
        "annotations": {"org.opencontainers.image.ref.name": f"img{i}"}})
json.dump({"schemaVersion": 2, "manifests": entries}, open(os.path.join(root, "index.json"), "w"))
PY
refs=()
for i in $(seq 0 $((IMAGES - 1))); do
  skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:img$i" "docker://$host/bench/img$i:1"
  refs+=("$host/bench/img$i:1")
done
rm -rf "$work/src"
total=$(du -sb "$work/registry" | cut -f1)
echo "registry holds $((total / 1048576)) MiB"
sync

start=$(date +%s.%N)
"$mb" image pull --quiet -j "$JOBS" --insecure "$host" --cache "$work/cache" -o "$work/mb-layout" "${refs[@]}" 2>/dev/null
mb_s=$(echo "$(date +%s.%N) - $start" | bc)

start=$(date +%s.%N)
for r in "${refs[@]}"; do
  skopeo copy --quiet --src-tls-verify=false "docker://$r" "oci:$work/skopeo-layout:${r##*/}"
done
sk_s=$(echo "$(date +%s.%N) - $start" | bc)

mib=$((total / 1048576))
printf 'meshbundle image pull: %6.2f s  (%5.0f MiB/s)\n' "$mb_s" "$(echo "$mib / $mb_s" | bc -l)"
printf 'skopeo copy:           %6.2f s  (%5.0f MiB/s)\n' "$sk_s" "$(echo "$mib / $sk_s" | bc -l)"
printf 'ratio meshbundle/skopeo: %.2f (goal: below 1)\n' "$(echo "$mb_s / $sk_s" | bc -l)"
