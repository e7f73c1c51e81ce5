#!/usr/bin/env bash
# Runs every meshbundle test on a fresh machine, installing what the tests
# need first: Debian packages (validators, containerd, a registry, skopeo,
# umoci, Chromium), Python packages, Rust targets, wasm-bindgen-cli and the
# web tools. Safe to re-run: what is already installed is skipped. Debian
# packages come without their recommends; the Python tools go into a virtual
# environment inside the checkout (.venv, ignored by git), not the system.
#
#   tests/run-all.sh                 install, build, run every test
#   tests/run-all.sh --no-install    run the tests only
set -euo pipefail

cd "$(dirname "$0")/.."

install=1
if [[ "${1:-}" == "--no-install" ]]; then install=0; fi

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

step() { printf '\n== %s\n' "$*"; }

# The builds below write about 6 GB under target/ (the dev build and its
# test binaries, the WebAssembly builds, the static release build), without
# incremental compilation, which would add 1.4 GB that a run that builds
# each crate once never reads back (CARGO_INCREMENTAL=1 keeps it).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
need_gib=8
free_gib=$(df -Pk . | awk 'NR == 2 { print int($4 / 1048576) }')
if ((free_gib < need_gib)); then
  echo "warning: $free_gib GiB free here; the builds need about $need_gib GiB (cargo clean frees what an earlier build left)" >&2
fi

if [[ $install -eq 1 ]]; then
  step "Debian packages"
  debs=(python3 python3-venv openssl shellcheck containerd runc prometheus prometheus-alertmanager prometheus-blackbox-exporter chromium
        skopeo umoci docker-registry apache2-utils musl-tools iproute2 util-linux tar gzip curl bc age etcd-server etcd-client
        chrony groff-base)
  missing=()
  for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi

  step "Python packages (into .venv)"
  [[ -x .venv/bin/python3 ]] || python3 -m venv .venv
  .venv/bin/python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt

  step "Rust targets and components"
  rustup target add wasm32-unknown-unknown x86_64-unknown-linux-musl
  rustup component add clippy rustfmt

  step "wasm-bindgen-cli (the wasm-bindgen crate's exact version)"
  want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
  if [[ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]]; then
    cargo install wasm-bindgen-cli --version "$want"
  fi

  step "web tools (npm ci in web/)"
  (cd web && npm ci --no-audit --no-fund)
fi

# The tests run `python3` with the packages above.
if [[ -x .venv/bin/python3 ]]; then export PATH="$PWD/.venv/bin:$PATH"; fi

step "Format and lints"
# The project's own scripts (the rendered ones are checked by the Rust tests).
shellcheck .ci/run tests/run-all.sh web/*.sh bench/*.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Build"
cargo build --workspace --all-targets --locked
cargo build -p meshbundle-core --target wasm32-unknown-unknown --locked
web/build.sh
# The static binary the bundle and the meshbundle image carry.
cargo build --release --target x86_64-unknown-linux-musl -p meshbundle --locked

step "Rust tests"
cargo test --workspace --locked

step "The module's own build (core without its embedded upstream copies)"
# Alone, meshbundle-wasm builds core without the copies the CLI embeds, as
# the page does: each render then needs exactly the copies it names.
cargo test -p meshbundle-wasm --lib --locked

step "WebAssembly tests (PKI generation inside wasm32)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p meshbundle-wasm --target wasm32-unknown-unknown --locked

step "Browser end-to-end test (Chromium, file://, network off)"
node tests/e2e/configurator.mjs
node tests/e2e/page.mjs
node tests/e2e/form_edit.mjs
node tests/e2e/upstream.mjs
node tests/e2e/form_meaning.mjs

echo
echo "all tests passed"
