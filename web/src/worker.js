// The configurator's worker: runs meshbundle-core (WebAssembly) off the
// page's thread, so a large site never blocks typing. The page starts it from
// a Blob URL holding wasm-bindgen's glue (which defines `wasm_bindgen`) and
// this file, asks whether it has the module kept from a visit before
// ({name: "__kept"}); if not, has it unpack the module's data part
// ({name: "__unpack"}). Then it sends {id, name: "__init", args: [module,
// upstream, coming]} (module: a compiled WebAssembly.Module, or null for the
// kept one). Calls that arrive first wait for the module: a kept one is
// instantiated as soon as it is compiled and checked, without waiting for
// __init. {name: "__boot", args: [text, coming]} names the spec the page
// opens with (null: the first example) and the manifests it is loading for
// it: the worker validates it as soon as it has the module and answers
// {text, validation}, then renders it, which answers the page's first
// render_if_valid of that text.
// Every other message {id, name, args} calls the export NAME (a function of
// the module, or a method of the Renderer made at init) and answers
// {id, ok: true, value} or {id, ok: false, error}. A few calls of the
// worker's own (render_summary, render_if_valid, file_text, add_upstream,
// not_coming, mark_download, validate, examples) come first. Messages are
// handled in order, so answers come in the order of the calls; add_upstream
// and not_coming go ahead, since a render_if_valid may be waiting for them.
"use strict";

let renderer = null;
// The module's calls, chained: each starts when the one before has answered.
let turn = Promise.resolve();
let initDone;
const ready = new Promise((resolve, reject) => {
  initDone = { resolve, reject };
});
ready.catch(() => {});

function fromBase64(b64) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(b64);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// SHA-256 of bytes, by the browser (Web Crypto): a Uint8Array of 32.
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
const fromHex = (hex) => Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16));

// Upstream manifests ({copy path: text}) as the module takes them: [path,
// UTF-8 bytes, SHA-256] each. Made as soon as they arrive, before the module
// is ready: the browser hashes them off this thread meanwhile.
function prepareCopies(upstream) {
  const utf8 = new TextEncoder();
  const copies = Object.entries(upstream || {}).map(([path, text]) => [path, utf8.encode(text)]);
  return Promise.all(copies.map(([, bytes]) => sha256(bytes)))
    .then((hashes) => copies.map(([path, bytes], i) => [path, bytes, hashes[i]]));
}

const UNPACK_SLICE = 128 << 10;
// The module's data part, which the page has this worker unpack (with the
// page's LZMA decoder, web/unpack) while it unpacks the rest: its bytes.
function unpack(decoderBytes, b64) {
  const decoder = new WebAssembly.Instance(new WebAssembly.Module(decoderBytes)).exports;
  const src = fromBase64(b64);
  // The .lzma header: the output size at byte 5 (little-endian, far below 4 GiB).
  const size = new DataView(src.buffer, src.byteOffset, src.byteLength).getUint32(5, true);
  const at = decoder.memory.buffer.byteLength;
  decoder.memory.grow(Math.ceil((src.length + size) / 65536));
  new Uint8Array(decoder.memory.buffer, at, src.length).set(src);
  // In slices, as the page unpacks the code: the browser runs each call into
  // the decoder to its end with the quick first code it made for it, and only
  // later calls with the optimized code it compiles meanwhile. In one call,
  // the data came 25 ms after the code, and the module's compilation waited.
  let rc = decoder.unlzma_start(at, src.length, at + src.length, size);
  for (let want = 0; rc === 0 && want < size;) {
    want = Math.min(size, want + UNPACK_SLICE);
    rc = decoder.unlzma_run(want);
  }
  if (rc !== 0) throw new Error(`the module's data does not unpack (${rc === 1 ? "bad header" : "bad data"})`);
  return new Uint8Array(decoder.memory.buffer, at + src.length, size).slice();
}

// The module kept in the browser's Cache Storage by a visit before (the page
// keeps it there once it has unpacked it), compiled as soon as this worker
// starts. Every page opened from file:// shares that storage, so it is used
// only if its bytes hash to the digest the page carries
// (MESHBUNDLE_WASM_SHA256, which web/src/embed.py sets before this file);
// other bytes under its key are deleted, and so is every other entry once
// the module is found. Compiling runs none of its code,
// so it is compiled while it is hashed. The browser keeps the bytes only:
// it keeps no compiled code for a module from Cache Storage in a page
// opened from file://, so each new tab compiles each function the first
// time it runs (the first validate and render take several times longer
// than the ones after).
const kept = (async () => {
  const key = `https://meshbundle.invalid/module/${self.MESHBUNDLE_WASM_SHA256}.wasm`;
  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  let store = null;
  try {
    store = await caches.open("meshbundle-module");
    const hit = await store.match(key);
    if (!hit) return null;
    const [module, digest] = await Promise.all([
      WebAssembly.compileStreaming(hit.clone()),
      hit.arrayBuffer().then((bytes) => crypto.subtle.digest("SHA-256", bytes)),
    ]);
    if (hex(digest) === self.MESHBUNDLE_WASM_SHA256) {
      // Anything else kept there goes (not waited for).
      store.keys().then((reqs) => reqs.forEach((req) => req.url !== key && store.delete(req))).catch(() => {});
      return module;
    }
  } catch { /* no Cache Storage here, or bytes that do not compile */ }
  if (store) await store.delete(key).catch(() => {});
  return null;
})();

// The module instantiated, once: the kept one as soon as it is checked,
// else the one __init gives.
let started = null;
function start(module) {
  started = started || (async () => {
    await wasm_bindgen({ module_or_path: module });
    renderer = new wasm_bindgen.Renderer();
    return wasm_bindgen.version();
  })();
  return started;
}
kept.then((module) => module && start(module).then(initDone.resolve, initDone.reject), () => {});

async function init(module, upstream, later) {
  for (const c of later || []) coming.add(c);
  const prepared = prepareCopies(upstream);
  prepared.catch(() => {});
  module = module || (await kept);
  if (!module) throw new Error("no module: the page gave none and none is kept");
  await start(module);
  await own.add_upstream(upstream, prepared);
  return wasm_bindgen.version();
}

// The spec the page opens with (__boot): its text once known, and its
// render, which answers the page's first render_if_valid of that text.
let boot = null;
function startBoot(text, later) {
  for (const c of later || []) coming.add(c);
  let known;
  const textP = new Promise((resolve) => { known = resolve; });
  const validation = turn.then(async () => {
    await ready;
    const t = text === null ? JSON.parse(wasm_bindgen.examples_json())[0].text : text;
    known(t);
    return { text: t, validation: own.validate(t) };
  });
  validation.catch(() => known(null));
  // The validation is answered (and messages that came meanwhile handled)
  // before the render starts.
  const render = validation
    .then(() => new Promise((resolve) => setTimeout(resolve, 0)))
    .then(() => textP)
    .then((t) => own.render_if_valid(t, null, null));
  turn = render.catch(() => {});
  boot = { text: textP, render };
  return validation;
}
// The boot's render for the page's first render_if_valid (ARGS) if it is of
// the same text with no secrets or lock (a promise of it, which gives
// undefined if the boot's text was another), else undefined.
function fromBoot(args) {
  const b = boot;
  boot = null;
  if (args[1] != null || args[2] != null) return undefined;
  return b.text.then((t) => (t === args[0] ? b.render : undefined));
}

// The worker's own calls, beside the module's exports: the last render stays
// here, and the page gets only what it shows (a large site renders thousands
// of files; copying their text to the page at every keystroke would block it).
let last = null;          // path -> {mode, text, hash} of the last render_summary
// The last few renders by id (render_summary's `id`): the page shows one
// and asks for its files, while later ones may have been made and not shown
// (the spec changed again, or text the form refused makes it out of date).
// The one asked for last (the one shown) stays however many come after it.
let renderSeq = 0;
const renders = new Map();
let asked = null;
let downloaded = null;    // path -> text of the render marked as downloaded
let validated = null;     // {text, valid, upstream} of the last validate
const given = new Set();  // the upstream manifests (copy paths) the Renderer has
let coming = new Set();   // those the page is loading and will give
let arrived = () => {};   // wakes a render_if_valid waiting for them
const own = {
  // Renders (renderer.render_files), keeping the files here: {ok, id,
  // digest, total_bytes, files: [{path, mode, size, binary, changed}]}
  // (id: for file_text and mark_download; changed:
  // since the render marked as downloaded), or the render's {ok: false, ...}.
  // The tree digest is the module's (tree_digest), from each file's SHA-256
  // as the browser computes it (the module's own takes tens of milliseconds
  // the first time it runs).
  async render_summary(spec, secrets, lock) {
    let r = renderer.render_files(spec, secrets, lock);
    if (!r.ok) return r;
    // A file the module marks `same` is the last render's, kept here (its
    // text and hash); should this not have it, the module gives every text.
    if (r.files.some((f) => f.same && !(last && last.has(f.path)))) {
      renderer.forget();
      r = renderer.render_files(spec, secrets, lock);
      if (!r.ok) return r;
    }
    let digest;
    try {
      // A file the last render had with the same text keeps its hash.
      const utf8 = new TextEncoder();
      const hashes = await Promise.all(r.files.map((f) => {
        const before = last && last.get(f.path);
        if (f.same) {
          f.text = before.text;
          return before.hash;
        }
        if (f.text === null) return fromHex(f.sha256);
        return before && before.text === f.text ? before.hash : sha256(utf8.encode(f.text));
      }));
      const all = new Uint8Array(32 * hashes.length);
      hashes.forEach((h, i) => {
        r.files[i].hash = h;
        all.set(h, 32 * i);
      });
      digest = wasm_bindgen.tree_digest(r.files.map((f) => f.path), r.files.map((f) => f.mode), r.files.map((f) => f.size), all);
    } catch (e) {
      // This keeps the render before: the module gives every text next time.
      renderer.forget();
      throw e;
    }
    last = new Map(r.files.map((f) => [f.path, f]));
    const id = ++renderSeq;
    renders.set(id, last);
    for (const old of renders.keys()) if (renders.size > 3 && old !== asked) renders.delete(old);
    const files = r.files.map((f) => ({
      path: f.path, mode: f.mode, size: f.size, binary: f.text === null,
      changed: downloaded !== null && downloaded.get(f.path) !== f.text,
    }));
    return { ok: true, id, digest, total_bytes: r.total_bytes, files };
  },
  // One file of render ID (the last if ID is not given; null if that render
  // is gone): {text, before} (before: its text in the render marked as
  // downloaded; null when it was not there; undefined when nothing was
  // downloaded).
  file_text(path, id) {
    if (id != null && renders.has(id)) asked = id;
    const files = id == null ? last : renders.get(id);
    const f = files && files.get(path);
    if (!f) return null;
    return { text: f.text, before: downloaded === null ? undefined : downloaded.has(path) ? downloaded.get(path) : null };
  },
  // Upstream manifests ({copy path: text}) for the renderer, as UTF-8
  // bytes with their SHA-256: the browser encodes and hashes them natively,
  // the module copies them in and checks each digest against the catalog's.
  // PREPARED: prepareCopies(upstream), when made before.
  async add_upstream(upstream, prepared) {
    const copies = await (prepared || prepareCopies(upstream));
    copies.forEach(([path, bytes, hash]) => {
      renderer.add_copy_hashed(path, bytes, hash);
      given.add(path);
      coming.delete(path);
    });
    arrived();
    return true;
  },
  // The module's validate and examples, from the JSON text it writes:
  // JSON.parse builds the objects faster than the module could.
  validate(text) {
    const v = JSON.parse(wasm_bindgen.validate_json(text));
    validated = { text, valid: v.valid, upstream: v.upstream };
    return v;
  },
  // render_summary of the text validated last, when it is valid and every
  // upstream manifest it needs has been given; else {skipped: true}, and the
  // page gives what is missing and asks for render_summary itself.
  // It waits (up to 5 s) for those the page is still loading.
  async render_if_valid(text, secrets, lock) {
    if (!(validated && validated.text === text && validated.valid)) return { skipped: true };
    for (;;) {
      const missing = validated.upstream.filter((c) => !given.has(c));
      if (!missing.length) return own.render_summary(text, secrets, lock);
      if (missing.some((c) => !coming.has(c))) return { skipped: true };
      const more = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), 5000);
        arrived = () => { clearTimeout(timer); resolve(true); };
      });
      if (!more) return { skipped: true };
    }
  },
  // Manifests the page said were coming and will not (they did not load).
  not_coming(copies) {
    for (const c of copies) coming.delete(c);
    arrived();
    return true;
  },
  examples() {
    return JSON.parse(wasm_bindgen.examples_json());
  },
  // Render ID (the last if not given) is what was just downloaded.
  mark_download(id) {
    downloaded = new Map([...((id == null ? last : renders.get(id)) || new Map()).values()].map((f) => [f.path, f.text]));
    return true;
  },
};

function lookup(name) {
  const has = (o, k) => o != null && Object.prototype.hasOwnProperty.call(o, k);
  if (has(own, name)) return own[name];
  if (name !== "Renderer" && !name.startsWith("init") && has(wasm_bindgen, name) && typeof wasm_bindgen[name] === "function") return wasm_bindgen[name];
  const proto = renderer && Object.getPrototypeOf(renderer);
  if (name !== "constructor" && name !== "free" && !name.startsWith("__") && has(proto, name) && typeof proto[name] === "function") return proto[name].bind(renderer);
  return null;
}

function message(e) {
  // A thrown JsValue from the module is {ok: false, error}; keep its text.
  return e && typeof e.error === "string" ? e.error : e && e.message ? e.message : String(e);
}

self.onmessage = async (event) => {
  const { id, name, args } = event.data;
  try {
    let value;
    let answer;
    if (name === "__init") {
      for (const c of Object.keys(args[1] || {})) coming.add(c);
      const done = init(args[0], args[1], args[2]);
      done.then(initDone.resolve, initDone.reject);
      value = await done;
    } else if (name === "__boot") {
      value = await startBoot(args[0], args[1]);
    } else if (name === "__kept") {
      value = (await kept) !== null;
    } else if (name === "__unpack") {
      value = unpack(args[0], args[1]);
    } else if (name === "add_upstream") {
      // Not behind other calls: a render_if_valid may be waiting for them.
      const prepared = prepareCopies(args[0]);
      prepared.catch(() => {});
      await ready;
      value = await own.add_upstream(args[0], prepared);
    } else if (name === "not_coming") {
      await ready;
      value = await own.not_coming(...args);
    } else if (name === "render_if_valid" && boot && (answer = fromBoot(args)) !== undefined && (value = await answer) !== undefined) {
      // Answered by the boot's render, which says so.
      value = { ...value, boot: true };
    } else {
      // One call at a time, in the order they came, even those that wait
      // for the browser (render_summary hashes the files it rendered).
      const run = turn.then(async () => {
        await ready;
        const fn = lookup(String(name));
        if (!fn) throw new Error(`the module has no export ${name}`);
        return fn(...args);
      });
      turn = run.catch(() => {});
      value = await run;
    }
    const transfer = value instanceof Uint8Array ? [value.buffer] : [];
    self.postMessage({ id, ok: true, value }, transfer);
  } catch (e) {
    // A trap (unreachable, out of bounds): the page starts a fresh worker.
    self.postMessage({ id, ok: false, error: message(e), trap: e instanceof WebAssembly.RuntimeError });
  }
};
