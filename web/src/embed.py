#!/usr/bin/env python3
"""Writes the data scripts of the configurator, so the page needs no fetch()
and works from file://:

- wasm-bytes.js: the WebAssembly module compressed with LZMA (Python's lzma,
  the .lzma format) in two parts, then base64, and the small LZMA decoder
  (web/unpack, itself WebAssembly) that unpacks them, deflated and base64.
  LZMA makes the module about 20 % smaller than the best gzip, the only
  format the browser inflates by itself; the page unpacks the first part
  while the worker starts and unpacks the second. Base64 of the compressed
  module gzips back to about the compressed size.
- index.html: web/src/index.html with the page's first script inline: the
  worker's source as one string (wasm-bindgen's no-modules glue followed by
  web/src/worker.js), which it starts from a Blob URL, then web/src/early.js.
- upstream/COPY.js: each upstream manifest of the catalog (COPY is its
  `copy` path, e.g. upstream/calico/calico-vxlan-v3.31.7.yaml); the page
  loads only those the spec needs.

The scripts (app.js, the worker's source) lose their comment lines, and
with esbuild (web/node_modules, when given) their spaces too, and their
local names are shortened. Functions do not keep their names (esbuild's
--keep-names costs 1.2 KB gzipped, and the page loads at most 700 KB): the
page's messages say what failed, and a stack trace is read against the
unshortened scripts (embed.py without ESBUILD writes them).

    embed.py PKG_DIR UNPACK_WASM IMAGES_DIR SRC_DIR OUT_DIR [ESBUILD]
"""
import base64
import hashlib
import json
import lzma
import os
import re
import struct
import subprocess
import sys
import zlib

pkg, unpack, images, src, out = sys.argv[1:6]
esbuild = sys.argv[6] if len(sys.argv) > 6 else ""


def without_comments(js):
    """JavaScript without its comment lines: lines that hold only a `//`
    comment, and `/* ... */` blocks that start and end a line. Nothing else
    changes (a comment at the end of a line of code stays): the scripts it is
    used on have no multi-line string in which such a line could stand."""
    lines, kept, block = js.split("\n"), [], False
    for line in lines:
        t = line.strip()
        if block:
            block = not t.endswith("*/")
            continue
        if t.startswith("//"):
            continue
        if t.startswith("/*"):
            block = not t.endswith("*/")
            continue
        kept.append(line)
    return "\n".join(kept)


def small(js):
    """The script without its comments and, with esbuild, without the spaces,
    the syntax a shorter form says the same, and its local names shortened."""
    if not esbuild:
        return without_comments(js)
    done = subprocess.run(
        [esbuild, "--minify", "--log-level=warning"],
        input=js.encode("utf-8"), capture_output=True, check=False)
    if done.returncode != 0:
        sys.exit(f"embed.py: esbuild refused a script: {done.stderr.decode('utf-8', 'replace')}")
    return done.stdout.decode("utf-8")


with open(os.path.join(pkg, "meshbundle_wasm_bg.wasm"), "rb") as f:
    module = f.read()


def sections(wasm):
    """(id, start) of each section of a WebAssembly module."""
    def leb(i):
        n = shift = 0
        while True:
            b = wasm[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return n, i
    out, i = [], 8
    while i < len(wasm):
        size, body = leb(i + 1)
        out.append((wasm[i], i))
        i = body + size
    return out


def pack(data, lc):
    """LZMA (.lzma format) with the output size in its header."""
    # lc=4 (literals in the context of the byte before) suits WebAssembly
    # code best, lc=3 its data section (text, mostly); the dictionary holds
    # the whole input. The same input gives the same bytes.
    packed = bytearray(lzma.compress(data, format=lzma.FORMAT_ALONE, filters=[{
        "id": lzma.FILTER_LZMA1, "preset": 9 | lzma.PRESET_EXTREME, "lc": lc, "lp": 0, "pb": 0, "dict_size": 1 << 23,
    }]))
    if lzma.decompress(bytes(packed), format=lzma.FORMAT_ALONE) != data:
        sys.exit("embed.py: the packed module does not unpack to the module")
    # The header's size field: the decoder needs it (Python writes "unknown").
    packed[5:13] = struct.pack("<Q", len(data))
    return bytes(packed)


# Two parts, packed apart: the module up to its data section, which the page
# unpacks and compiles as it goes, and the data section (and what follows),
# which the worker unpacks meanwhile. Apart they pack as small as together.
data_start = next((at for sid, at in sections(module) if sid == 11), len(module))
code_part, data_part = pack(module[:data_start], 4), pack(module[data_start:], 3)
with open(unpack, "rb") as f:
    decoder = f.read()
# The decoder itself deflated (raw), which the browser inflates.
deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
decoder_packed = deflate.compress(decoder) + deflate.flush()
with open(os.path.join(out, "wasm-bytes.js"), "w") as f:
    f.write("// meshbundle WebAssembly module in two parts, each LZMA then base64, and its LZMA decoder,\n")
    f.write("// raw deflate then base64 (generated by web/build.sh).\n")
    f.write(f'self.MESHBUNDLE_UNPACK = "{base64.b64encode(decoder_packed).decode("ascii")}";\n')
    f.write(f'self.MESHBUNDLE_WASM_LZMA = "{base64.b64encode(code_part).decode("ascii")}";\n')
    f.write(f'self.MESHBUNDLE_WASM_DATA_LZMA = "{base64.b64encode(data_part).decode("ascii")}";\n')

with open(os.path.join(pkg, "meshbundle_wasm.js"), encoding="utf-8") as f:
    glue = f.read()
with open(os.path.join(src, "worker.js"), encoding="utf-8") as f:
    worker = f.read()
# The page's first script, inline in index.html (where web/src/index.html
# has the line EMBED_MARK), so that the worker starts as the page's head is
# read: as a file of its own, it waited 10 to 15 ms for the browser to load
# it. The page's Content-Security-Policy allows it by its SHA-256.
first = []
# The copies each example spec needs (checked by a test of the wasm crate):
# the page starts loading them while the worker starts.
with open(os.path.join(src, "example-upstream.json"), encoding="utf-8") as g:
    first.append("self.MESHBUNDLE_EXAMPLE_UPSTREAM = " + json.dumps(json.load(g), separators=(",", ":")) + ";\n")
# The module's SHA-256, here and at the start of the worker's source: the
# worker compiles a copy kept in the browser's Cache Storage only if it has
# this digest.
first.append(f'self.MESHBUNDLE_WASM_SHA256 = "{hashlib.sha256(module).hexdigest()}";\n')
digest = f'self.MESHBUNDLE_WASM_SHA256 = "{hashlib.sha256(module).hexdigest()}";\n'
# The worker's source as one string ("</" written "<\/", which means the
# same in a string and cannot end the script element).
first.append("self.MESHBUNDLE_WORKER = " + json.dumps(digest + small(glue + "\n" + worker), ensure_ascii=True).replace("</", "<\\/") + ";\n")
# The worker starts here, before app.js is read: a worker takes 30 to 80 ms
# to start on a small machine, and its start runs beside the page's own.
# app.js takes this one for its first worker.
first.append("try {\n"
             "  self.MESHBUNDLE_WORKER_URL = URL.createObjectURL(new Blob([self.MESHBUNDLE_WORKER], { type: \"text/javascript\" }));\n"
             "  self.MESHBUNDLE_FIRST_WORKER = new Worker(self.MESHBUNDLE_WORKER_URL);\n"
             "} catch { /* app.js starts one and says what fails */ }\n")
# Then what the page opens with, and its manifests loading (early.js).
with open(os.path.join(src, "early.js"), encoding="utf-8") as g:
    first.append(small(g.read()))
first = "".join(first)
if re.search(r"</script|<!--", first, re.IGNORECASE):
    sys.exit("embed.py: the page's first script holds </script or <!--, which would end it inside index.html")
EMBED_MARK = "<!-- embed.py: the page's first script, inline -->"
CSP_SCRIPT = "script-src 'self' 'wasm-unsafe-eval'"
with open(os.path.join(src, "index.html"), encoding="utf-8") as g:
    html = g.read()
if html.count(EMBED_MARK) != 1 or html.count(CSP_SCRIPT) != 1:
    sys.exit(f"embed.py: web/src/index.html needs the line {EMBED_MARK} once, and {CSP_SCRIPT} once in its policy")
sha = base64.b64encode(hashlib.sha256(first.encode("utf-8")).digest()).decode("ascii")
html = html.replace(CSP_SCRIPT, f"{CSP_SCRIPT} 'sha256-{sha}'").replace(EMBED_MARK, f"<script>{first}</script>")
with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as f:
    f.write(html)

# One script per upstream manifest, at its catalog `copy` path plus ".js":
# the page loads only those the spec's versions and choices need (validate
# names them) and hands them to the worker.
base = os.path.join(images, "upstream")
for d, _, files in sorted(os.walk(base)):
    for name in sorted(files):
        if name.endswith((".yaml", ".yml")):
            path = os.path.join(d, name)
            rel = os.path.relpath(path, images).replace(os.sep, "/")
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
            dest = os.path.join(out, rel + ".js")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w", encoding="utf-8") as f:
                # No header line: the script names its copy path, whose
                # SHA-256 images/catalog.yaml pins and the module checks
                # (a line each cost 0.3 KB gzipped of the page's 700).
                f.write("(self.MESHBUNDLE_UPSTREAM = self.MESHBUNDLE_UPSTREAM || {})[")
                json.dump(rel, f, ensure_ascii=True)
                # A template literal keeps the text's lines as they are (a JSON
                # string escapes each newline): a little smaller gzipped.
                # Tagged with MESHBUNDLE_RAW (early.js), which takes it raw,
                # its backslashes are written once (Grafana's dashboards hold
                # 20,000: 0.5 KB gzipped); only `${` and a backquote are
                # written otherwise ($\{ and \`), and put back by the tag;
                # other characters are written as UTF-8, the page's encoding
                # (index.html says so, and the scripts are read in it). A text
                # the raw form cannot carry as it is (a CR, which a template
                # literal reads as a line feed, those two sequences, a final
                # backslash) is escaped.
                if not any(x in text for x in ("\r", "$\\{", "\\`")) and not text.endswith("\\"):
                    f.write("] = MESHBUNDLE_RAW`")
                    f.write(text.replace("`", "\\`").replace("${", "$\\{"))
                else:
                    literal = text.replace("\\", "\\\\").replace("`", "\\`").replace("${", "\\${").replace("\r", "\\r")
                    literal = "".join(c if ord(c) < 128 else f"\\u{{{ord(c):x}}}" for c in literal)
                    f.write("] = `")
                    f.write(literal)
                f.write("`;\n")

# The page's own script, without its comment lines.
with open(os.path.join(src, "app.js"), encoding="utf-8") as f:
    app = f.read()
with open(os.path.join(out, "app.js"), "w", encoding="utf-8") as f:
    f.write("// meshbundle configurator (web/src/app.js made small, written by web/build.sh).\n")
    f.write(small(app))
