#!/usr/bin/env bash
# Builds the configurator into web/dist: a static page that works opened from
# disk (file://) or from any static host, with no network at run time.
#
#   web/build.sh            build the WebAssembly module, then web/dist
#   web/build.sh --page     rebuild web/dist from the module built last time
#                           (after a change to web/src only; seconds, not minutes)
#
# Needs wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in
# Cargo.lock (tests/run-all.sh installs it). If web/node_modules has binaryen
# (npm install in web/), its wasm-opt trims the module further, and esbuild
# makes the page's scripts and style sheet small (spaces out, local names
# shortened; functions keep their names).
#
# What the page loads (nothing else is in web/dist):
#   index.html, style.css, app.js   the page; index.html's first script
#                                   (inline, allowed by its SHA-256) defines the
#                                   worker's source (wasm-bindgen's glue +
#                                   web/src/worker.js) as a string and starts it
#                                   from a Blob URL, since Chromium starts no
#                                   worker from file://; then web/src/early.js
#                                   starts loading the manifests the opening
#                                   spec needs
#   wasm-bytes.js                   the module, LZMA-compressed then base64, and
#                                   the LZMA decoder (web/unpack: lzma-rust2,
#                                   as WebAssembly) that the page unpacks it with;
#                                   loaded only when the browser keeps no copy
#                                   of the unpacked module (Cache Storage)
#   upstream/COPY.js                each upstream manifest of the catalog, at
#                                   its `copy` path; the page loads only those
#                                   the spec's versions and choices need
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
dist=web/dist
# wasm-bindgen's output, kept between builds for --page.
pkg=target/web-pkg

if [[ "${1:-}" != "--page" ]]; then
  want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [[ "$have" != "$want" ]]; then
    echo "web/build.sh: need wasm-bindgen-cli $want (have '${have:-none}'): cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
  fi

  # The module names the source files of its panics' locations: those of
  # the crates from the registry under this host's cargo home
  # (/root/.cargo/registry/src/...) are named from /cargo instead, so the
  # module is the same bytes on every build host.
  cargo_home=${CARGO_HOME:-$HOME/.cargo}
  cargo_home=$(cd "$cargo_home" && pwd -P)
  CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$cargo_home=/cargo" \
    cargo build -p meshbundle-wasm --target wasm32-unknown-unknown --profile wasm --locked
  if grep -qF "$cargo_home/" target/wasm32-unknown-unknown/wasm/meshbundle_wasm.wasm; then
    echo "web/build.sh: the module still names paths under $cargo_home" >&2
    exit 1
  fi
  cargo build -p meshbundle-unpack --target wasm32-unknown-unknown --profile unpack --locked
  rm -rf "$pkg.tmp"
  mkdir -p "$pkg.tmp"
  cp target/wasm32-unknown-unknown/unpack/meshbundle_unpack.wasm "$pkg.tmp/"
  wasm-bindgen --target no-modules --no-typescript --remove-name-section --remove-producers-section \
    --out-dir "$pkg.tmp" target/wasm32-unknown-unknown/wasm/meshbundle_wasm.wasm

  wasm=$pkg.tmp/meshbundle_wasm_bg.wasm
  if [[ -x web/node_modules/.bin/wasm-opt ]]; then
    # Passes that shrink the module without making it compress worse, in two
    # rounds: the second finds more after the first (about 3 KB packed in
    # all). Inlining only the smallest functions (at most 6 of binaryen's size
    # units, none for having one caller): 1.6 KB smaller packed, and 15 %
    # fewer functions compiled at their first call in a new tab (2,728
    # against 3,214 for the first render). Inlining more (one caller, or up
    # to 12 units) halves that count but packs 5 to 60 KB larger.
    for _ in 1 2; do
      web/node_modules/.bin/wasm-opt --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
        --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
        --strip-debug --strip-producers --duplicate-function-elimination --merge-similar-functions \
        --optimize-instructions --remove-unused-module-elements --rse \
        --simplify-locals --coalesce-locals --reorder-locals --vacuum --code-folding --merge-blocks \
        --remove-unused-brs --precompute --inlining-optimizing -ocimfs 0 -aimfs 6 "$wasm" -o "$wasm.opt"
      mv "$wasm.opt" "$wasm"
    done
    # The decoder: fast, and without what the compiler leaves of unused code.
    web/node_modules/.bin/wasm-opt --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
      --enable-nontrapping-float-to-int -O3 --strip-debug --strip-producers \
      "$pkg.tmp/meshbundle_unpack.wasm" -o "$pkg.tmp/meshbundle_unpack.wasm.opt"
    mv "$pkg.tmp/meshbundle_unpack.wasm.opt" "$pkg.tmp/meshbundle_unpack.wasm"
  fi
  rm -rf "$pkg"
  mv "$pkg.tmp" "$pkg"
elif [[ ! -f "$pkg/meshbundle_wasm_bg.wasm" ]]; then
  echo "web/build.sh --page: no module built yet ($pkg): run web/build.sh first" >&2
  exit 1
fi

rm -rf "$dist.tmp"
mkdir -p "$dist.tmp"
# esbuild (npm ci in web/) makes the page's scripts and style sheet small.
esbuild=""
[[ -x web/node_modules/.bin/esbuild ]] && esbuild=$root/web/node_modules/.bin/esbuild
python3 web/src/embed.py "$pkg" "$pkg/meshbundle_unpack.wasm" "$root/images" web/src "$dist.tmp" "$esbuild"
# The style sheet without its comments and spaces (esbuild), else as written.
if [[ -n "$esbuild" ]]; then
  "$esbuild" --loader=css --minify --log-level=warning <web/src/style.css >"$dist.tmp/style.css"
else
  cp web/src/style.css "$dist.tmp/"
fi
rm -rf "$dist"
mv "$dist.tmp" "$dist"
echo "web/dist built: open web/dist/index.html (module: $(wc -c <"$pkg/meshbundle_wasm_bg.wasm") bytes, $(wc -c <"$dist/wasm-bytes.js") bytes as shipped)"
