#!/usr/bin/env bash
# Bundle throughput and memory: `meshbundle build` against `tar cf` and
# against `tar cf && sync` of its output (the honest baseline: build syncs),
# `verify` against `openssl dgst -sha256` (on every core, and against
# openssl's one-core rate, `taskset -c 0`), and the peak memory of both on a large
# bundle. The work is done by `bundler/benches/bundle.rs`; this script runs it
# with the sizes the goals are stated for.
#
#   bench/bundle.sh                              (2 GiB set, 4 GiB bundle, best of 3)
#   SET_GIB=1 BIG_GIB=2 RUNS=1 bench/bundle.sh   (quicker)
#   BENCH_DIR=/dev/shm bench/bundle.sh           (take the disk out of the figures)
set -euo pipefail
cd "$(dirname "$0")/.."
export SET_GIB=${SET_GIB:-2} BIG_GIB=${BIG_GIB:-4} RUNS=${RUNS:-3}
exec cargo bench -p meshbundle --bench bundle
