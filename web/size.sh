#!/usr/bin/env bash
# What the configurator's WebAssembly module is made of: the module web/build.sh
# builds last (profile `wasm`, whose symbols are kept until wasm-bindgen), put
# through wasm-bindgen with its names kept, then measured with twiggy.
#
#   web/size.sh            bytes per crate, the largest items, what retains most
#   web/size.sh ITEM       what keeps ITEM (a name as twiggy prints it) in
#
# The figures are of the code as wasm-bindgen leaves it, before compression:
# web/dist/wasm-bytes.js is what the page loads (node bench/web.mjs measures it
# gzipped). Needs twiggy (cargo install twiggy) and wasm-bindgen-cli.
set -euo pipefail

cd "$(dirname "$0")/.."
module=target/wasm32-unknown-unknown/wasm/meshbundle_wasm.wasm
if [[ ! -f "$module" ]]; then
  echo "web/size.sh: no module built yet ($module): run web/build.sh first" >&2
  exit 1
fi
if ! command -v twiggy >/dev/null; then
  echo "web/size.sh: needs twiggy: cargo install twiggy" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target no-modules --no-typescript --keep-debug --out-dir "$tmp" "$module"
named=$tmp/meshbundle_wasm_bg.wasm

if [[ $# -gt 0 ]]; then
  twiggy paths "$named" "$1"
  exit
fi

twiggy top -n 100000 -f csv "$named" >"$tmp/top.csv"
python3 - "$tmp/top.csv" <<'PY'
import collections, csv, re, sys
by_crate, count = collections.Counter(), collections.Counter()
for row in csv.DictReader(open(sys.argv[1])):
    name, size = row["Name"], int(row["ShallowSize"])
    if name.startswith(('"', "custom section", "data segment")):
        key = name
    else:
        # The crate of the item (of the type, for `<T as Trait>::f`).
        m = re.match(r"^<+&?(?:mut )?(?:dyn )?([A-Za-z_]\w*)", name) or re.match(r"^([A-Za-z_]\w*)", name)
        key = m.group(1) if m else name[:40]
    by_crate[key] += size
    count[key] += 1
print(f"{'KB':>9}  {'items':>6}  crate or section (names subsection: not shipped)")
for key, size in by_crate.most_common(30):
    print(f"{size / 1000:9.1f}  {count[key]:6d}  {key}")
PY
echo
twiggy top -n 25 "$named"
echo
# What keeps the most code in: each export, and what it alone retains.
twiggy dominators -d 3 -r 60 "$named"
