// The configurator's worker: runs meshbundle-core (WebAssembly) off the
// page's thread, so a large site never blocks typing. The page starts it from
// a Blob URL holding wasm-bindgen's glue (which defines `wasm_bindgen`) and
// this file, then sends {id, name: "__init", args: [gzippedModule, upstream]}.
// Every other message {id, name, args} calls the export NAME (a function of
// the module, or a method of the Renderer made at init) and answers
// {id, ok: true, value} or {id, ok: false, error}. Messages are handled in
// order, so answers come in the order of the calls.
"use strict";

let renderer = null;
let ready = null;

async function init(gz, upstream) {
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"));
  const bytes = await new Response(stream).arrayBuffer();
  await wasm_bindgen({ module_or_path: bytes });
  renderer = new wasm_bindgen.Renderer(upstream);
  return wasm_bindgen.version();
}

function lookup(name) {
  if (name !== "Renderer" && !name.startsWith("init") && typeof wasm_bindgen[name] === "function") return wasm_bindgen[name];
  if (renderer && name !== "free" && !name.startsWith("__") && typeof renderer[name] === "function") return renderer[name].bind(renderer);
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
    if (name === "__init") {
      ready = init(args[0], args[1]);
      value = await ready;
    } else {
      await ready;
      const fn = lookup(String(name));
      if (!fn) throw new Error(`the module has no export ${name}`);
      value = fn(...args);
    }
    const transfer = value instanceof Uint8Array ? [value.buffer] : [];
    self.postMessage({ id, ok: true, value }, transfer);
  } catch (e) {
    self.postMessage({ id, ok: false, error: message(e) });
  }
};
