#!/usr/bin/env bash
# Builds the configurator into web/dist: a static page that works opened from
# disk (file://) or from any static host, with no network at run time.
#
#   web/build.sh            build web/dist
#
# Needs wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in
# Cargo.lock (tests/run-all.sh installs it). If web/node_modules has binaryen
# (npm install in web/), its wasm-opt trims the module further.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
dist=web/dist

want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$have" != "$want" ]]; then
  echo "web/build.sh: need wasm-bindgen-cli $want (have '${have:-none}'): cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

cargo build -p meshbundle-wasm --target wasm32-unknown-unknown --profile wasm --locked
rm -rf "$dist.tmp"
mkdir -p "$dist.tmp/pkg"
wasm-bindgen --target no-modules --no-typescript --remove-name-section --remove-producers-section \
  --out-dir "$dist.tmp/pkg" target/wasm32-unknown-unknown/wasm/meshbundle_wasm.wasm

wasm=$dist.tmp/pkg/meshbundle_wasm_bg.wasm
if [[ -x web/node_modules/.bin/wasm-opt ]]; then
  # Passes that shrink the module without making it compress worse.
  web/node_modules/.bin/wasm-opt --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    --strip-debug --strip-producers --duplicate-function-elimination --merge-similar-functions \
    --simplify-locals --coalesce-locals --reorder-locals --vacuum --code-folding --merge-blocks \
    --remove-unused-brs --precompute "$wasm" -o "$wasm.opt"
  mv "$wasm.opt" "$wasm"
fi

# Browsers do not fetch() from file://, so the module and the upstream
# manifests travel as classic scripts.
python3 web/src/embed.py "$wasm" "$root/images" "$dist.tmp"
cp web/src/index.html web/src/app.js web/src/style.css "$dist.tmp/"
rm -rf "$dist"
mv "$dist.tmp" "$dist"
echo "web/dist built: open web/dist/index.html (module: $(wc -c <"$dist/pkg/meshbundle_wasm_bg.wasm") bytes)"
