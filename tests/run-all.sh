#!/usr/bin/env bash
# Runs every meshbundle test on a fresh machine, installing what the tests need
# first (Debian packages, Python packages, Rust targets). Safe to re-run: what
# is already installed is skipped.
#
#   tests/run-all.sh            install, build, run every test
#   tests/run-all.sh --no-install   run the tests only
set -euo pipefail

cd "$(dirname "$0")/.."

install=1
if [[ "${1:-}" == "--no-install" ]]; then install=0; fi

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

step() { printf '\n== %s\n' "$*"; }

if [[ $install -eq 1 ]]; then
  step "Debian packages"
  debs=(python3 python3-venv openssl shellcheck containerd prometheus)
  missing=()
  for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi

  step "Python packages"
  python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt

  step "Rust targets"
  rustup target add wasm32-unknown-unknown
fi

step "Build"
cargo build --workspace --all-targets --locked
cargo build -p meshbundle-core --target wasm32-unknown-unknown --locked

step "Tests"
cargo test --workspace --locked

echo
echo "all tests passed"
