#!/usr/bin/env bash
# Import and lock speed against the tools an operator would otherwise use,
# side by side in one run: `import --registry` against `skopeo copy` one
# image after another and `skopeo sync`, a second import of the same bundle,
# `import --containerd` against `ctr images import` (and `ctr run` after
# both, with no network), peak memory, and `lock` of the production spec
# against `lock -j 1`. The work is done by `bundler/benches/import.rs`; this
# script runs it with the sizes the goals are stated for. Needs root (for
# containerd), docker-registry, skopeo, containerd and ctr, /usr/bin/time.
#
#   bench/import.sh                                   (2 GiB of images, 32 images, best of 3)
#   IMPORT_GIB=1 IMAGES=16 RUNS=1 bench/import.sh     (quicker)
#   LOCK_RTT_MS=50 BENCH_ONLY=lock bench/import.sh    (lock with registry and files 50 ms away; default 20)
#   BENCH_ONLY=registry bench/import.sh               (one part: registry, containerd, lock)
#   BENCH_DIR=/dev/shm bench/import.sh                (take the disk out of the figures)
#   BEFORE=/tmp/meshbundle-old bench/import.sh        (an earlier build timed beside, for a before/after)
set -euo pipefail
cd "$(dirname "$0")/.."
export IMPORT_GIB=${IMPORT_GIB:-2} IMAGES=${IMAGES:-32} RUNS=${RUNS:-3}
exec cargo bench -p meshbundle --bench import
