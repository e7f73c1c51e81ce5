// meshbundle configurator, the page's first moments: runs in index.html's first
// script (which web/src/embed.py writes inline), right after the worker is
// started and before app.js is read.
//
// It decides which spec the page opens with, and starts loading the
// upstream manifests that spec needs (web/dist/upstream/COPY.js, one script
// each). Started here, their scripts run before app.js and the page's first
// layout take this thread, so the worker has them, hashed, by the time it
// has validated the spec, and renders it at once. Started from app.js, they
// ran after both, and the render waited for them.
//
// app.js takes what this leaves in self.MESHBUNDLE_EARLY:
//   opening        {text, copies} of the spec the page opens with (text:
//                  the autosaved spec, as the editor will hold it, or null
//                  for the first example), or null when the page opens a
//                  link (#spec=...; read by app.js)
//   loadUpstream   copy path -> promise of its script's load, once per path
//   lineEndsOf     text -> [text with LF line ends, the line end it had]
//   textKey        text -> a short key of it (length and FNV-1a hash)
//   keys           where the autosave and its manifests are kept
//                  (localStorage)
"use strict";
// The tag of the upstream manifests' scripts (web/src/embed.py): their text
// as written, raw, with `${` and a backquote put back (written $\{ and \`).
self.MESHBUNDLE_RAW = (s) => s.raw[0].replace(/\$\\\{|\\`/g, (m) => (m[0] === "$" ? "${" : "`"));
self.MESHBUNDLE_EARLY = (function () {
  // A text that uses CRLF throughout is held with LF (the editor's), and
  // written back with CRLF; one that starts with a byte order mark is held
  // without it, and written back with it. The line end returned says both
  // ("\ufeff\r\n": a mark, and CRLF).
  function lineEndsOf(t) {
    const bom = t[0] === "\ufeff" ? "\ufeff" : "";
    if (bom) t = t.slice(1);
    const crlf = t.includes("\r\n") && !/(^|[^\r])\n/.test(t);
    return crlf ? [t.replace(/\r\n/g, "\n"), bom + "\r\n"] : [t, bom + "\n"];
  }
  function textKey(t) {
    let h = 0x811c9dc5;
    for (let i = 0; i < t.length; i++) h = Math.imul(h ^ t.charCodeAt(i), 0x01000193);
    return `${t.length}:${(h >>> 0).toString(16)}`;
  }
  // The copy paths the catalog can name, and nothing that leaves upstream/:
  // the list may come from storage any page opened from file:// can write.
  const COPY = /^upstream\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
  const loads = new Map();
  function loadUpstream(copy) {
    if (!COPY.test(copy) || copy.split("/").includes("..")) {
      return Promise.reject(new Error(`not an upstream manifest: ${copy}`));
    }
    if (!loads.has(copy)) {
      const p = new Promise((resolve, reject) => {
        const el = document.createElement("script");
        el.src = copy + ".js";
        el.onload = () => (self.MESHBUNDLE_UPSTREAM && typeof self.MESHBUNDLE_UPSTREAM[copy] === "string"
          ? resolve()
          : reject(new Error(`${copy}.js did not define what it should`)));
        el.onerror = () => reject(new Error(`cannot load ${copy}.js beside index.html`));
        document.head.appendChild(el);
      });
      // A failed load may be tried again.
      p.catch(() => loads.delete(copy));
      loads.set(copy, p);
    }
    return loads.get(copy);
  }

  const keys = { spec: "meshbundle.spec", upstream: "meshbundle.upstream" };
  // For the autosaved spec, the manifests it needed when it was saved
  // (kept beside it under its textKey); with no autosave and no link, those
  // of the first example, which the page then opens.
  function decide() {
    if (/^#spec=/.test(location.hash)) return null;
    try {
      let text = localStorage.getItem(keys.spec);
      if (text === null) return { text, copies: ((self.MESHBUNDLE_EXAMPLE_UPSTREAM || [])[0] || [null, []])[1] };
      text = lineEndsOf(text)[0];
      const kept = JSON.parse(localStorage.getItem(keys.upstream) || "null");
      const copies = kept && kept.key === textKey(text) && Array.isArray(kept.copies)
        ? kept.copies.filter((c) => typeof c === "string")
        : [];
      return { text, copies };
    } catch {
      // Storage refused: the example opens; its manifests load when validated.
      return { text: null, copies: [] };
    }
  }
  const opening = decide();
  if (opening) for (const c of opening.copies) loadUpstream(c).catch(() => {});
  return { opening, loadUpstream, lineEndsOf, textKey, keys };
})();
