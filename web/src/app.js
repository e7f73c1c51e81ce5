// meshbundle configurator: a form and a YAML view of one site spec, kept in
// sync, validated at every change and rendered to the install's files by
// meshbundle-core in WebAssembly. Nothing here reaches the network.
//
// The module runs in a Web Worker (web/src/worker.js), started from a Blob URL
// so that it works from file://. `api.NAME(...args)` calls the module's export
// NAME (or the Renderer's method NAME) there and returns a promise of its
// value: every call into the module goes through it, so a large site never
// blocks the page.
//
// The spec autosaves to localStorage (never secrets or lock); "Copy link"
// puts it, deflated, into the URL fragment (#spec=...), which wins over the
// autosave when the page opens.
"use strict";

(async function main() {
  const t0 = performance.now();
  const $ = (id) => document.getElementById(id);
  // Before the document is read (this script runs from its head), a status
  // waits for it.
  const status = (msg) => {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => status(msg), { once: true });
    else $("status").textContent = msg;
  };
  // What web/src/early.js decided and started before this script was read
  // (the spec the page opens with, its manifests loading), and the text
  // helpers it shares with this script.
  const early = self.MESHBUNDLE_EARLY;
  const { lineEndsOf, textKey } = early;

  // ------------------------------------------------------------ the worker

  // A trap in the module (a Rust panic aborts) leaves its instance unusable:
  // the call that hit it fails with the trap's message, and a fresh worker
  // takes over for the calls after it.
  const workerUrl = self.MESHBUNDLE_WORKER_URL || URL.createObjectURL(new Blob([self.MESHBUNDLE_WORKER], { type: "text/javascript" }));
  const pending = new Map();
  let callSeq = 0;
  let worker = null;
  // A file of the page that is missing or wrong (the folder is incomplete).
  class PageFileError extends Error {}
  // Loads a script beside index.html (file:// allows scripts where it
  // refuses fetch()); it must define what `defines` checks (a global's name,
  // or a function).
  function loadScript(src, defines) {
    const defined = typeof defines === "function" ? defines : () => self[defines] !== undefined;
    return new Promise((resolve, reject) => {
      const el = document.createElement("script");
      el.src = src;
      el.onload = () => (defined() ? resolve() : reject(new PageFileError(`${src} did not define what it should`)));
      el.onerror = () => reject(new PageFileError(`cannot load ${src} beside index.html`));
      document.head.appendChild(el);
    });
  }
  function b64ToBytes(b64) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(b64);
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  // The module travels LZMA-compressed (web/src/embed.py), in two parts. It
  // is unpacked once, by lzma-rust2's decoder built small (web/unpack): the first
  // part on this thread, in slices between which this thread starts the
  // worker and does its other work, and the browser compiles the module as
  // the slices come; the second (the module's data) by the worker meanwhile.
  // Each worker instantiates the compiled module.
  //
  // The unpacked module is kept in the browser's Cache Storage under its
  // SHA-256 (index.html's first script carries it): a later visit's worker compiles it from
  // there (web/src/worker.js), and this page unpacks nothing.
  const UNPACK_SLICE = 256 << 10;
  const yieldToLoop = () => (self.scheduler && scheduler.yield ? scheduler.yield() : new Promise((r) => setTimeout(r, 0)));
  const MODULE_CACHE = "meshbundle-module";
  const moduleKey = `https://meshbundle.invalid/module/${self.MESHBUNDLE_WASM_SHA256}.wasm`;
  // Whether a module is kept at all (the worker checks its bytes): with none,
  // this page starts unpacking without waiting for the worker.
  const keptHere = (async () => {
    try {
      return (await (await caches.open(MODULE_CACHE)).match(moduleKey)) !== undefined;
    } catch {
      return false;
    }
  })();
  async function keepModule(parts) {
    try {
      const store = await caches.open(MODULE_CACHE);
      for (const req of await store.keys()) if (req.url !== moduleKey) await store.delete(req);
      await store.put(moduleKey, new Response(new Blob(parts), { headers: { "Content-Type": "application/wasm" } }));
    } catch { /* storage refused or full: unpack next time */ }
  }
  let keepAfterRender = null;
  function keepModuleOnce() {
    if (keepAfterRender) setTimeout(keepModule, 0, keepAfterRender);
    keepAfterRender = null;
  }
  async function unpackModule() {
    // wasm-bytes.js (790 KB) loads only now: a visit that has the module
    // kept never reads it.
    if (!self.MESHBUNDLE_WASM_LZMA) await loadScript("wasm-bytes.js", "MESHBUNDLE_WASM_LZMA");
    await yieldToLoop();
    // The decoder comes deflated (raw), which the browser inflates.
    const inflated = new Blob([b64ToBytes(self.MESHBUNDLE_UNPACK)]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    const decoderBytes = await new Response(inflated).arrayBuffer();
    const dataPart = call("__unpack", [decoderBytes.slice(0), self.MESHBUNDLE_WASM_DATA_LZMA]);
    dataPart.catch(() => {});
    const decoder = new WebAssembly.Instance(new WebAssembly.Module(decoderBytes)).exports;
    const src = b64ToBytes(self.MESHBUNDLE_WASM_LZMA);
    // The .lzma header: the part's size at byte 5 (little-endian; it is far below 4 GiB).
    const size = new DataView(src.buffer, src.byteOffset, src.byteLength).getUint32(5, true);
    const at = decoder.memory.buffer.byteLength;
    decoder.memory.grow(Math.ceil((src.length + size) / 65536));
    new Uint8Array(decoder.memory.buffer, at, src.length).set(src);
    const out = at + src.length;
    const failed = (rc) => new Error(`the module does not unpack (${rc === 1 ? "bad header" : "bad data"})`);
    let rc = decoder.unlzma_start(at, src.length, out, size);
    if (rc !== 0) throw failed(rc);
    let sent = 0;
    const parts = [];
    const body = new ReadableStream({
      async pull(controller) {
        if (sent === size) {
          const data = await dataPart;
          parts.push(data);
          controller.enqueue(data);
          controller.close();
          // Kept once the first render is on screen, not while it is made.
          keepAfterRender = parts;
          return undefined;
        }
        rc = decoder.unlzma_run(sent + UNPACK_SLICE);
        if (rc !== 0) return controller.error(failed(rc));
        const done = decoder.unlzma_done();
        parts.push(new Uint8Array(decoder.memory.buffer, out + sent, done - sent).slice());
        controller.enqueue(parts[parts.length - 1]);
        sent = done;
        await yieldToLoop();
      },
    });
    return WebAssembly.compileStreaming(new Response(body, { headers: { "Content-Type": "application/wasm" } }));
  }
  let unpacked = null;
  // The version of the module the current worker runs, once it has it.
  let workerStarted = null;
  function startWorker() {
    if (worker) worker.terminate();
    for (const p of pending.values()) p.reject(new Error("the module stopped (a trap); started again"));
    pending.clear();
    // The first is the one index.html's first script started.
    worker = self.MESHBUNDLE_FIRST_WORKER || new Worker(workerUrl);
    self.MESHBUNDLE_FIRST_WORKER = null;
    given = new Map();
    worker.onmessage = (e) => {
      const { id, ok, value, error, trap } = e.data;
      const p = pending.get(id);
      pending.delete(id);
      if (p) (ok ? p.resolve(value) : p.reject(new Error(error)));
      if (trap) {
        status(`The module stopped on this input (${error}); it was started again`);
        startWorker().catch(stopped);
      }
    };
    worker.onerror = (e) => {
      status("The configurator's worker failed: " + (e.message || e));
      for (const p of pending.values()) p.reject(new Error(e.message || "worker failed"));
      pending.clear();
    };
    window.meshbundleTimings && window.meshbundleTimings.workers++;
    // A fresh worker gets every upstream manifest loaded by the time the
    // module reaches it. Calls made before that wait there for __init.
    const w = worker;
    // The worker has the module kept from a visit before, or this page
    // unpacks it (once) and hands it over. Whichever knows first decides:
    // the worker, once it has compiled and checked a kept module (this
    // thread may still be busy with the page then), or this page, when its
    // own look finds nothing kept (a first visit unpacks without waiting
    // for the worker to start).
    const workerKept = call("__kept", []);
    workerStarted = new Promise((resolve) => {
      workerKept.then((kept) => kept && resolve(true), () => {});
      keptHere.then((maybe) => (maybe ? workerKept.then(resolve, () => resolve(false)) : resolve(false)));
    }).then(async (kept) => {
      // A worker started since (this one trapped): its start is the one
      // awaited, and it decides.
      if (w !== worker) return workerStarted;
      if (window.meshbundleTimings.moduleKept === undefined) window.meshbundleTimings.moduleKept = kept;
      if (kept) return null;
      if (!unpacked) {
        unpacked = unpackModule();
        unpacked.catch(() => { unpacked = null; });
      }
      return unpacked;
    }).then((module) => {
      if (w !== worker) return workerStarted;
      // Those loaded and not yet given.
      const upstream = {};
      for (const [c, text] of Object.entries(self.MESHBUNDLE_UPSTREAM || {})) {
        if (!given.has(c)) upstream[c] = text;
      }
      const later = [...coming].filter((c) => !given.has(c) && !(c in upstream));
      const init = call("__init", [module, upstream, later]);
      for (const c of Object.keys(upstream)) given.set(c, init);
      return init;
    }).catch((e) => {
      // Failed because a worker started since (this one trapped before it
      // answered): that one's start is the one awaited.
      if (w !== worker) return workerStarted;
      throw e;
    });
    return workerStarted;
  }
  // The upstream manifests (web/dist/upstream/COPY.js, one script each, which
  // file:// allows where fetch() is refused) load when a valid spec first
  // needs them: `validate` names them in `upstream`. Each script adds its
  // text to self.MESHBUNDLE_UPSTREAM; the worker's Renderer gets it once
  // (by copy path: those sent to the worker, which takes them once it has
  // its module; each with the call that gives it).
  let given = new Map();
  // The manifests prefetched and not yet given: the worker's early render
  // waits for them rather than for this page to ask.
  const coming = new Set();
  // Each script loads once (web/src/early.js, which checks the path).
  const loadUpstream = (copy) => early.loadUpstream(copy).catch((e) => {
    throw new PageFileError(e.message);
  });
  async function giveUpstream(copies) {
    const missing = (copies || []).filter((c) => !given.has(c));
    if (missing.length) {
      await Promise.all(missing.map(loadUpstream));
      const part = {};
      for (const c of missing) if (!given.has(c)) part[c] = self.MESHBUNDLE_UPSTREAM[c];
      if (Object.keys(part).length) {
        const sent = call("add_upstream", [part]);
        sent.catch(() => {});
        for (const c of Object.keys(part)) given.set(c, sent);
      }
    }
    // Given by this call or by one before: the worker has them once it has answered.
    await Promise.all((copies || []).map((c) => given.get(c)));
  }
  // A worker that could not be given a module: every call fails with why,
  // rather than waiting for it.
  let dead = null;
  function stopped(e) {
    dead = new Error(`the module could not be started again (${e.message || e}); reload the page`);
    if (worker) worker.terminate();
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
    status(dead.message);
  }
  function call(name, args, transfer) {
    if (dead) return Promise.reject(dead);
    return new Promise((resolve, reject) => {
      const id = ++callSeq;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, name, args }, transfer || []);
    });
  }
  // Any property is an export of the module; `then` is not, so `await api` works.
  const api = new Proxy({}, {
    get: (_, name) => (typeof name === "string" && name !== "then" ? (...args) => call(name, args) : undefined),
  });
  window.meshbundleApi = api;

  // The manifests the spec the page opens with needs start loading now,
  // while the module unpacks (later they would wait for its validation): for
  // the autosaved spec, those it needed when it was saved; with no autosave
  // and no link, those of the first example, which the page then opens.
  const UPSTREAM_KEY = early.keys.upstream;
  function rememberUpstream(t, copies) {
    try { localStorage.setItem(UPSTREAM_KEY, JSON.stringify({ key: textKey(t), copies })); } catch { /* nothing to keep */ }
  }
  // The spec the page opens with and those manifests ({text: null} for the
  // first example), or null for a link (read later): decided by early.js,
  // which has started loading them.
  const opening = (function prefetchUpstream() {
    const o = early.opening;
    if (!o) return null;
    // Each is given to the worker as soon as it has loaded (once the worker
    // has its module), so that the first render need not wait for them.
    for (const c of o.copies) {
      coming.add(c);
      loadUpstream(c)
        .then(() => giveUpstream([c]), () => call("not_coming", [[c]]))
        .catch(() => {})
        .finally(() => coming.delete(c));
    }
    return o;
  })();
  window.meshbundleTimings = { firstRender: null, firstRenderAt: null, renders: [], updates: 0, workers: 0 };
  startWorker();
  // An answer of the worker, asked again of a fresh one if a trap (the
  // boot's, on a spec that traps the module) started one meanwhile.
  async function fromWorker(ask) {
    for (;;) {
      const asked = worker;
      try {
        return await ask();
      } catch (e) {
        if (asked === worker || dead) throw e;
      }
    }
  }
  // The schema comes as text: JSON.parse builds the object faster than the module could.
  const first = [fromWorker(() => workerStarted), fromWorker(() => api.examples()), fromWorker(() => api.schema()), fromWorker(() => api.versions_json())];
  // The worker validates and renders the spec the page opens with as soon
  // as it has its module, while this thread builds the page: its
  // validation ({text, validation}) and render answer the first check of
  // that text.
  let boot = opening ? call("__boot", [opening.text, opening.copies]) : null;
  if (boot) boot.catch(() => {});
  // Whether the first check took the boot's validation and render.
  window.meshbundleTimings.boot = boot ? { validation: false, render: false } : null;
  const [version, examples, schemaText, versionsText] = await Promise.all(first);
  const schema = JSON.parse(schemaText);
  // The catalog's versions, offered at the version fields.
  const [k8s, containerd, istio] = JSON.parse(versionsText);
  const versions = { "spec.kubernetes.version": k8s, "spec.containerd.version": containerd, "spec.istio.version": istio };
  // This script runs from the page's head, so that the worker starts before
  // the page is laid out: the form waits for the document.
  if (document.readyState === "loading") await new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve, { once: true }));
  $("version").textContent = "v" + version;

  // ------------------------------------------------------------ state

  let spec = null;          // the spec as an object (what the form edits)
  let yamlText = "";        // the spec as YAML (what is validated, rendered, downloaded)
  let secrets = null;       // optional site.secrets.yaml: {text, name, site, fingerprint}
  let lock = null;          // optional meshbundle.lock: {text, name, site, fingerprint}
  let lastRender = null;
  let selected = "README.md";
  // The items inserted into or removed from lists by form edits so far (the
  // last 500), numbered: a field or row drawn at number N names its item as
  // it was then (nowPath, shiftPaths).
  let structSeq = 0;
  const structLog = [];
  const timings = window.meshbundleTimings;
  const secretsText = () => (secrets ? secrets.text : null);
  const lockText = () => (lock ? lock.text : null);

  // ------------------------------------------------------------ paths

  function parsePath(path) {
    const segs = [];
    const re = /([^.[\]]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g;
    let m;
    while ((m = re.exec(path))) {
      if (m[1] !== undefined) segs.push(m[1]);
      else if (m[2] !== undefined) segs.push(Number(m[2]));
      else segs.push(JSON.parse('"' + m[3] + '"'));
    }
    return segs;
  }
  function getPath(obj, path) {
    let v = obj;
    for (const s of parsePath(path)) {
      if (v == null) return undefined;
      v = v[s];
    }
    return v;
  }
  function parentPath(path) {
    const m = path.match(/^(.*?)(\.[^.[\]]+|\[\d+\]|\["(?:[^"\\]|\\.)*"\])$/);
    return m ? m[1] : "";
  }

  // ------------------------------------------------------------ the schema

  // What the JSON Schema says of the field at PATH: {description, values, default}.
  function deref(node) {
    let n = node;
    for (let i = 0; n && n.$ref && i < 32; i++) {
      const target = schema.$defs[n.$ref.replace(/^#\/\$defs\//, "")];
      const { $ref, ...rest } = n;
      n = { ...target, ...rest };
    }
    return n;
  }
  function unwrap(node) {
    // Option<T>: anyOf [T, null].
    let n = deref(node);
    const alts = n && (n.anyOf || n.oneOf);
    if (alts && !alts.every((a) => a.const !== undefined)) {
      const real = alts.filter((a) => a.type !== "null");
      if (real.length === 1) {
        const { anyOf, oneOf, ...rest } = n;
        n = { ...deref(real[0]), ...rest };
      }
    }
    return n;
  }
  function schemaAt(path) {
    let node = schema;
    let outer = null;
    for (const seg of parsePath(path)) {
      node = unwrap(node);
      if (!node) return null;
      outer = typeof seg === "number" ? node.items : (node.properties && node.properties[seg]) ||
        (typeof node.additionalProperties === "object" ? node.additionalProperties : null);
      if (!outer) return null;
      node = outer;
    }
    const inner = unwrap(node);
    let values = inner.enum || null;
    const alts = inner.oneOf || inner.anyOf;
    if (!values && alts && alts.every((a) => a.const !== undefined || a.type === "null")) values = alts.filter((a) => a.const !== undefined).map((a) => a.const);
    return { node: inner, description: (outer && outer.description) || inner.description || "", values, default: inner.default !== undefined ? inner.default : outer && outer.default };
  }

  // ------------------------------------------------------------ the form

  // Sections follow the install: cluster, nodes, Istio, gateways, security,
  // observability, HA and traffic, tuning.
  const text = (path, label) => ({ path, label, type: "text" });
  const num = (path, label) => ({ path, label, type: "number" });
  const bool = (path, label) => ({ path, label, type: "checkbox" });
  // A choice: its values come from the schema.
  const pick = (path, label) => ({ path, label, type: "select" });
  const list = (path, label) => ({ path, label, type: "list" });
  const gw = (g, label) => [
    bool(`spec.istio.${g}.enabled`, `${label}: enabled`),
    text(`spec.istio.${g}.name`, "Name"),
    text(`spec.istio.${g}.namespace`, "Namespace"),
    num(`spec.istio.${g}.replicas`, "Replicas"),
    bool(`spec.istio.${g}.hpa.enabled`, "Autoscaling (HPA)"),
    num(`spec.istio.${g}.hpa.minReplicas`, "HPA min replicas"),
    num(`spec.istio.${g}.hpa.maxReplicas`, "HPA max replicas"),
    num(`spec.istio.${g}.hpa.targetCPUUtilizationPercent`, "HPA CPU target %"),
    text(`spec.istio.${g}.resources.requests.cpu`, "CPU request"),
    text(`spec.istio.${g}.resources.requests.memory`, "Memory request"),
    text(`spec.istio.${g}.resources.limits.cpu`, "CPU limit"),
    text(`spec.istio.${g}.resources.limits.memory`, "Memory limit"),
    pick(`spec.istio.${g}.service.type`, "Service type"),
    pick(`spec.istio.${g}.service.externalTrafficPolicy`, "External traffic policy"),
    text(`spec.istio.${g}.service.loadBalancerIP`, "Load balancer address"),
    list(`spec.istio.${g}.hosts`, "Hosts"),
    { type: "table", path: `spec.istio.${g}.service.ports`, label: `${label}: ports`, item: "port",
      fresh: (items) => freshPort(g, items) },
  ];
  // A port Add port proposes: a name and a port the gateway's ports do not
  // have; on a NodePort service, a node port no gateway uses (30000-32767).
  function freshPort(g, items) {
    const taken = (k) => new Set(items.map((p) => p && p[k]));
    const ports = taken("port");
    let port = 8000 + items.length;
    while (ports.has(port)) port++;
    const out = { name: freshName("port", items, "name"), port, targetPort: port };
    if (getPath(spec, `spec.istio.${g}.service.type`) === "NodePort") {
      const used = new Set(["ingressGateway", "egressGateway"].flatMap((x) => (getPath(spec, `spec.istio.${x}.service.ports`) || []).map((p) => p && p.nodePort)));
      let np = 30000;
      while (np < 32767 && used.has(np)) np++;
      out.nodePort = np;
    }
    return out;
  }
  // The ingress gateway's own (the egress gateway refuses them): TLS off
  // turns the redirect to HTTPS off too, since it needs TLS (on turns it
  // back to its default).
  const ingress = "spec.istio.ingressGateway";
  const ingressOnly = [
    { path: `${ingress}.tls`, label: "TLS", type: "part", off: `${ingress}.httpsRedirect` },
    text(`${ingress}.tls.credentialName`, "TLS secret name"),
    pick(`${ingress}.tls.minProtocolVersion`, "Minimum TLS version"),
    bool(`${ingress}.httpsRedirect`, "Redirect HTTP to HTTPS"),
    { type: "table", path: `${ingress}.routes`, label: "Ingress gateway: routes", item: "route",
      fresh: () => ({ host: (getPath(spec, `${ingress}.hosts`) || [])[0] || "app.example.internal", pathPrefix: "/", service: "app", namespace: "default", port: 8080 }) },
  ];
  const sections = [
    { id: "cluster", title: "Cluster", fields: [
      text("metadata.name", "Site name"),
      text("metadata.description", "Description"),
      text("spec.timezone", "Time zone"),
      list("spec.time.servers", "NTP servers"),
      text("spec.time.sourceNode", "Time source node"),
      bool("spec.time.waived", "Time sync waived"),
      list("spec.architectures", "Architectures"),
      text("spec.kubernetes.version", "Kubernetes version"),
      pick("spec.kubernetes.kubeadmApi", "kubeadm config API"),
      text("spec.kubernetes.controlPlaneEndpoint", "API load balancer"),
      text("spec.kubernetes.podSubnet", "Pod network (CIDR)"),
      text("spec.kubernetes.serviceSubnet", "Service network (CIDR)"),
      text("spec.kubernetes.nodeSubnet", "Node network (CIDR)"),
      text("spec.kubernetes.clusterDomain", "Cluster domain"),
      pick("spec.kubernetes.cni", "Pod network add-on"),
      pick("spec.kubernetes.proxyMode", "kube-proxy mode"),
      text("spec.containerd.version", "containerd version"),
      bool("spec.supportPolicy.allowUnsupportedVersions", "Allow unsupported versions"),
      text("spec.supportPolicy.reason", "Why unsupported versions"),
      text("spec.registry", "Site registry"),
      bool("spec.containerd.registryPlainHttp", "Registry without TLS"),
    ]},
    { id: "nodes", title: "Nodes", nodes: true },
    { id: "istio", title: "Istio", fields: [
      text("spec.istio.version", "Istio version"),
      text("spec.istio.revision", "Revision"),
      text("spec.istio.meshID", "Mesh ID"),
      text("spec.istio.clusterName", "Cluster name"),
      text("spec.istio.network", "Network"),
      list("spec.istio.namespaces", "Mesh namespaces"),
      text("spec.istio.upgrade.stableTag", "Stable revision tag"),
      text("spec.istio.upgrade.canaryTag", "Canary revision tag"),
      list("spec.istio.upgrade.canaryNamespaces", "Canary namespaces"),
      pick("spec.istio.outboundTrafficPolicy", "Outbound traffic"),
      bool("spec.istio.accessLogging", "Access logs"),
      num("spec.istio.istiod.replicas", "istiod replicas"),
      bool("spec.istio.istiod.hpa.enabled", "istiod autoscaling"),
      num("spec.istio.istiod.hpa.minReplicas", "istiod HPA min replicas"),
      num("spec.istio.istiod.hpa.maxReplicas", "istiod HPA max replicas"),
      num("spec.istio.istiod.hpa.targetCPUUtilizationPercent", "istiod HPA CPU target %"),
      text("spec.istio.istiod.resources.requests.cpu", "istiod CPU request"),
      text("spec.istio.istiod.resources.requests.memory", "istiod memory request"),
      text("spec.istio.istiod.resources.limits.memory", "istiod memory limit"),
      num("spec.istio.istiod.traceSampling", "Trace sampling %"),
      text("spec.istio.proxy.resources.requests.cpu", "Sidecar CPU request"),
      text("spec.istio.proxy.resources.requests.memory", "Sidecar memory request"),
      text("spec.istio.proxy.resources.limits.cpu", "Sidecar CPU limit"),
      text("spec.istio.proxy.resources.limits.memory", "Sidecar memory limit"),
      num("spec.istio.proxy.concurrency", "Sidecar worker threads"),
      pick("spec.istio.proxy.logLevel", "Sidecar log level"),
    ]},
    { id: "gateways", title: "Gateways", fields: [
      pick("spec.loadBalancer.provider", "Load balancer for LoadBalancer services"),
      list("spec.loadBalancer.addresses", "MetalLB address pool"),
      ...gw("ingressGateway", "Ingress gateway"),
      ...ingressOnly,
      ...gw("egressGateway", "Egress gateway"),
    ]},
    { id: "security", title: "Security", fields: [
      pick("spec.security.mtls.mode", "mTLS"),
      bool("spec.security.authorization.defaultDeny", "Deny by default"),
      list("spec.security.authorization.ingressClientCIDRs", "Ingress client networks"),
      bool("spec.security.jwt.required", "Require a JWT at the ingress"),
      { type: "table", path: "spec.security.jwt.issuers", label: "JWT issuers", item: "issuer",
        // An issuer the list does not have yet (two alike are refused).
        fresh: (items) => {
          let n = 1;
          const name = () => `https://idp${n > 1 ? "-" + n : ""}.example.internal`;
          while (items.some((x) => x && x.issuer === name())) n++;
          return { issuer: name(), jwks: '{"keys": []}' };
        } },
      pick("spec.pki.keyType", "Key type"),
      num("spec.pki.rootValidityDays", "Root CA validity (days)"),
      num("spec.pki.intermediateValidityDays", "Intermediate validity (days)"),
      num("spec.pki.leafValidityDays", "Certificate validity (days)"),
    ]},
    { id: "observability", title: "Observability", fields: [
      bool("spec.observability.addons.prometheus", "Prometheus"),
      bool("spec.observability.addons.grafana", "Grafana"),
      bool("spec.observability.addons.jaeger", "Jaeger"),
      bool("spec.observability.addons.kiali", "Kiali"),
      bool("spec.observability.metricsServer.enabled", "metrics-server (resource metrics for the HPAs and kubectl top)"),
      num("spec.observability.metricsServer.replicas", "metrics-server replicas"),
      bool("spec.observability.prometheusOperator", "prometheus-operator runs here (alerts also as PrometheusRule)"),
      num("spec.observability.alerts.p99LatencyMs", "Alert: p99 latency (ms)"),
      num("spec.observability.alerts.errorRatePercent", "Alert: 5xx rate (%)"),
      num("spec.observability.alerts.certExpiryDays", "Alert: certificate expiry (days)"),
      num("spec.observability.alerts.resourceUsagePercent", "Alert: resource use (%)"),
      bool("spec.observability.alertmanager.enabled", "Alertmanager (delivers the alerts; needs Prometheus)"),
      num("spec.observability.alertmanager.replicas", "Alertmanager replicas"),
      text("spec.observability.alertmanager.receivers.email.smarthost", "Alerts by email: SMTP relay"),
      text("spec.observability.alertmanager.receivers.email.from", "Alerts by email: from"),
      list("spec.observability.alertmanager.receivers.email.to", "Alerts by email: to"),
      bool("spec.observability.alertmanager.receivers.email.requireTLS", "Alerts by email: require TLS"),
      text("spec.observability.alertmanager.receivers.email.authUsername", "Alerts by email: relay login"),
      text("spec.observability.alertmanager.receivers.webhook.url", "Alerts by webhook: URL"),
      bool("spec.observability.alertmanager.receivers.webhook.bearerToken", "Alerts by webhook: bearer token"),
      bool("spec.observability.alertmanager.receivers.none", "No receiver: alerts only in Alertmanager's UI"),
      text("spec.observability.alertmanager.storage.storageClassName", "Alertmanager storage class"),
      text("spec.observability.alertmanager.storage.size", "Alertmanager volume size"),
    ]},
    { id: "ha", title: "HA and traffic", fields: [
      num("spec.trafficPolicy.connectionPool.tcp.maxConnections", "Max connections"),
      text("spec.trafficPolicy.connectionPool.tcp.connectTimeout", "Connect timeout"),
      num("spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests", "HTTP/1 max pending"),
      num("spec.trafficPolicy.connectionPool.http.http2MaxRequests", "HTTP/2 max requests"),
      num("spec.trafficPolicy.connectionPool.http.maxRetries", "Max retries"),
      text("spec.trafficPolicy.connectionPool.http.idleTimeout", "Idle timeout"),
      num("spec.trafficPolicy.outlierDetection.consecutive5xxErrors", "Eject after 5xx errors"),
      text("spec.trafficPolicy.outlierDetection.interval", "Outlier interval"),
      text("spec.trafficPolicy.outlierDetection.baseEjectionTime", "Base ejection time"),
      num("spec.trafficPolicy.outlierDetection.maxEjectionPercent", "Max ejected %"),
    ]},
    { id: "tuning", title: "Tuning", sysctl: true, fields: [
      { ...text("spec.tuning.sysctl", "All sysctls"), type: "map" },
    ]},
    { id: "more", title: "Images and files", fields: [] },
  ];

  // A field's kind, from its schema.
  function kindOf(n) {
    n = unwrap(n);
    const t = [].concat(n.type).find((x) => x !== "null");
    if (t === "array") {
      const it = unwrap(n.items);
      return it.properties ? "table" : /integer|number/.test(it.type) ? "ints" : "list";
    }
    return t === "object" ? (n.properties ? "object" : "map") : t === "boolean" ? "checkbox" : /integer|number/.test(t) ? "number"
      : t !== "string" || n.enum ? "select" : /^PEM\b/.test(n.description) ? "pem" : "text";
  }
  // A key's words: targetCPUUtilizationPercent -> target CPU utilization percent.
  const words = (k) => k.replace(/([a-z\d])([A-Z])|([A-Z])([A-Z][a-z]{2})/g, "$1$3 $2$4").split(/[ .]/)
    .map((w) => (/^(cpu|ca|jwks|uri|url|hpa|http|tls|sha256)$/i.test(w) ? w.toUpperCase() : /^[A-Z\d]+s?$/.test(w) ? w : w.toLowerCase())).join(" ")
    .replace(/\b(\w+) \1\b/g, "$1");
  const cap = (t) => t[0].toUpperCase() + t.slice(1);
  // Every other part of the spec gets a field from the schema (its key for a
  // label, its type for the input), after the field nearest to it: the form
  // edits all of the spec, and a part added to the spec needs no change here.
  const handPaths = new Set([...sections.flatMap((s) => s.fields || []).map((f) => f.path), ...ingressOnly.map((f) => f.path.replace("ingress", "egress"))]);
  (function auto(n, path) {
    if (handPaths.has(path) || /^(apiVersion|kind|spec\.nodes)$/.test(path)) return;
    const kind = path ? kindOf(n) : "object";
    if (kind === "object") {
      for (const [k, v] of Object.entries(unwrap(n).properties)) auto(v, path ? `${path}.${k}` : k);
      return;
    }
    const segs = path.split(".");
    let best = 1;
    let at = null;
    for (const s of sections) {
      (s.fields || []).forEach((f, i) => {
        const fs = f.path.split(".");
        let k = 0;
        while (k < segs.length && fs[k] === segs[k]) k++;
        if (k >= best && k > 1) { best = k; at = [s.fields, i]; }
      });
    }
    const f = { path, type: kind, label: cap(words(segs.slice(best > 1 ? Math.max(2, best - 3) : 1).join("."))) };
    if (kind === "table") {
      const ref = unwrap(n).items.$ref;
      const it = unwrap(unwrap(n).items);
      f.item = ref ? words(ref.replace(/.*\//, "")) : "item";
      // Its required keys, empty: the errors at them say what to fill in.
      f.fresh = () => Object.fromEntries((it.required || []).map((k) => [k, kindOf(it.properties[k]) === "number" ? 0 : ""]));
    }
    const more = sections[sections.length - 1].fields;
    const [list, i] = at || [more, more.length - 1];
    list.splice(i + 1, 0, f);
  })(schema, "");
  // The form is built again when the length of one of these lists changes.
  const tablePaths = sections.flatMap((s) => s.fields || []).filter((f) => f.type === "table").map((f) => f.path);

  const form = $("form");
  const fieldIds = new Map(); // path -> input id
  let idSeq = 0;

  // A field's help and allowed values come from the schema (the form says
  // only how to write a list or a map).
  function fieldRow(f) {
    if (f.type === "table") return objectTable(f);
    const id = "f" + idSeq++;
    const info = schemaAt(f.path.replace(/\[\d+\]/g, "[0]"));
    const row = document.createElement("div");
    row.className = "field";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = f.label;
    let input;
    if (f.type === "select") {
      input = document.createElement("select");
      const options = ["", ...((info && info.values) || []).filter((v) => v !== "")];
      for (const o of options) {
        const opt = document.createElement("option");
        opt.value = o;
        opt.textContent = o === "" ? "(default)" : o;
        input.append(opt);
      }
    } else if (f.type === "pem") {
      // A certificate: its lines kept.
      input = document.createElement("textarea");
      input.rows = 3;
      input.spellcheck = false;
    } else {
      input = document.createElement("input");
      input.type = /checkbox|part/.test(f.type) ? "checkbox" : "text";
      // A text box, not type=number: the browser would hide what was typed
      // (`4e` reads as empty) and the form could not say what is wrong.
      if (f.type === "number") input.inputMode = "decimal";
    }
    input.id = id;
    input.dataset.path = f.path;
    input.dataset.seq = String(structSeq);
    input.dataset.kind = f.type;
    if (f.off) input.dataset.off = f.off;
    if (versions[f.path]) {
      const dl = document.createElement("datalist");
      dl.id = id + "-versions";
      for (const v of versions[f.path]) dl.append(new Option(v));
      input.setAttribute("list", dl.id);
      row.append(dl);
    }
    const err = document.createElement("div");
    err.className = "field-error";
    err.id = id + "-error";
    // Doc comments wrap at 100 columns: one newline is a space, two a paragraph.
    let help = ((info && info.description) || "").replace(/([^\n])\n(?!\n)/g, "$1 ");
    if (/list|ints|map/.test(f.type) && !/comma/.test(help)) help += `${help ? "\n" : ""}${f.type === "map" ? "key=value, " : ""}separated by commas${f.type === "ints" ? "" : ` (an item with a comma in quotes: ${f.type === "map" ? 'key="a,b"' : '"a,b"'})`}`;
    if (info && info.default !== undefined && info.default !== null && typeof info.default !== "object") {
      help += (help ? "\n" : "") + `Default: ${info.default}`;
      if (f.type === "text" || f.type === "number") input.placeholder = String(info.default);
    }
    input.setAttribute("aria-describedby", err.id + (help ? " " + id + "-help" : ""));
    row.append(label, input);
    if (help) {
      const h = document.createElement("div");
      h.className = "help";
      h.id = id + "-help";
      h.textContent = help.replace(/`/g, "");
      row.append(h);
    }
    row.append(err);
    fieldIds.set(f.path, id);
    return row;
  }

  let builtShape = null; // shapeOf the spec the form was built for
  let formBuilt = false; // whether the form has been built once
  function buildForm() {
    formBuilt = true;
    builtShape = shapeOf(spec);
    filledNodes = null;
    otherFields = nodeFields = null;
    refusedText.clear();
    brokenKey = undefined;
    form.textContent = "";
    fieldIds.clear();
    const nav = $("section-nav");
    nav.textContent = "";
    for (const s of sections) {
      const fs = document.createElement("fieldset");
      fs.id = "section-" + s.id;
      fs.dataset.section = s.id;
      const legend = document.createElement("legend");
      legend.textContent = s.title;
      fs.append(legend);
      if (s.sysctl) fs.append(sysctlRows());
      if (s.fields) s.fields.forEach((f) => fs.append(fieldRow(f)));
      if (s.nodes) fs.append(nodesTable());
      form.append(fs);
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#section-" + s.id;
      a.textContent = s.title;
      a.dataset.section = s.id;
      li.append(a);
      nav.append(li);
    }
    form.append(otherProblems());
    const oli = document.createElement("li");
    const oa = document.createElement("a");
    oa.href = "#other-problems";
    oa.id = "nav-other-problems";
    oa.textContent = "Other problems";
    oli.append(oa);
    nav.append(oli);
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#yaml-pane";
    a.textContent = "YAML";
    li.append(a);
    nav.append(li);
    updatePager(nodeCount());
  }

  const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
  // The node Add node proposes: a worker name no node has, and the next free
  // address after the last node that has a well-formed one.
  function newNode(nodes) {
    const names = new Set(nodes.map((n) => n && n.name));
    let k = 1;
    while (names.has("worker-" + k)) k++;
    // Addresses the spec uses anywhere (the registry, a load balancer's pool
    // or address, the control plane's endpoint), not only the nodes'.
    const used = new Set(nodes.map((n) => n && n.address));
    const ip = (t) => { const m = t.match(IPV4); return m && m.slice(1).every((x) => Number(x) <= 255) ? m.slice(1).map(Number) : null; };
    const walk = (v) => {
      if (typeof v === "string") {
        for (const part of v.split(/[\s,]+/)) {
          const [a, b] = part.split("-");
          const cidr = a.match(/^(.*)\/(\d+)$/);
          const lo = ip(cidr ? cidr[1] : a.replace(/:\d+$/, ""));
          if (!lo) continue;
          const hi = b ? ip(b) : cidr && Number(cidr[2]) >= 25 ? [...lo.slice(0, 3), lo[3] | (255 >> Number(cidr[2]) - 24)] : lo;
          if (!hi || hi.slice(0, 3).join(".") !== lo.slice(0, 3).join(".")) continue;
          for (let h = lo[3]; h <= hi[3]; h++) used.add(`${lo[0]}.${lo[1]}.${lo[2]}.${h}`);
        }
      } else if (v && typeof v === "object") {
        // A network (the pods', the nodes') holds addresses; it uses none.
        for (const [k, x] of Object.entries(v)) if (!/subnet/i.test(k)) walk(x);
      }
    };
    if (spec && spec.spec) walk({ ...spec.spec, nodes: [] });
    let base = null;
    for (let i = nodes.length - 1; i >= 0 && !base; i--) {
      if (nodes[i] && typeof nodes[i].address === "string") base = ip(nodes[i].address);
    }
    // No node with an address: after the registry's (the registry is on
    // the site's network), else from .11 of the nodes' network, else
    // 10.0.0.21.
    if (!base && spec && spec.spec) {
      const registry = typeof spec.spec.registry === "string" ? ip(spec.spec.registry.replace(/:\d+$/, "")) : null;
      const subnet = getPath(spec, "spec.kubernetes.nodeSubnet");
      const net = typeof subnet === "string" && /\/\d+$/.test(subnet) ? ip(subnet.replace(/\/\d+$/, "")) : null;
      base = registry || (net && [...net.slice(0, 3), 10]);
    }
    base = base || [10, 0, 0, 20];
    // Within the nodes' network when it is a /24 or smaller: neither its
    // own address nor its broadcast address (.0 and .255 of a /24 never).
    let [first, last] = [1, 254];
    const nodeNet = getPath(spec, "spec.kubernetes.nodeSubnet");
    const nm = typeof nodeNet === "string" ? nodeNet.match(/^(.*)\/(\d+)$/) : null;
    const netIp = nm && ip(nm[1]);
    if (netIp && Number(nm[2]) >= 24 && Number(nm[2]) <= 30) {
      const size = 2 ** (32 - Number(nm[2]));
      const start = netIp[3] & ~(size - 1);
      if (netIp.slice(0, 3).join(".") !== base.slice(0, 3).join(".") || base[3] < start || base[3] >= start + size) base = [...netIp.slice(0, 3), start];
      [first, last] = [start + 1, start + size - 2];
    }
    let host = Math.max(base[3] + 1, first);
    while (host <= last && used.has(`${base[0]}.${base[1]}.${base[2]}.${host}`)) host++;
    const zones = [...new Set(nodes.map((n) => n && n.zone).filter((z) => typeof z === "string" && z))];
    const node = { name: "worker-" + k, role: "worker", zone: zones.length ? zones[nodes.length % zones.length] : "default" };
    // No free address after it (in that /24, or the nodes' network): the
    // first free one before it,
    // else an empty address for the user to fill in (shown as an error at
    // the field).
    if (host > last) {
      host = first;
      while (host <= last && used.has(`${base[0]}.${base[1]}.${base[2]}.${host}`)) host++;
    }
    node.address = host <= last ? `${base[0]}.${base[1]}.${base[2]}.${host}` : "";
    return { name: node.name, address: node.address, role: node.role, zone: node.zone };
  }

  // A row of the nodes table: the fields of node I (spec.nodes[I]).
  function nodeRow(i, roles) {
    const tr = document.createElement("tr");
    for (const [key, kind, title] of [["name", "text", "Name"], ["address", "text", "Address"], ["role", "select", "Role"], ["zone", "text", "Zone"], ["labels", "map", "Labels"]]) {
      const td = document.createElement("td");
      td.dataset.label = title;
      let input;
      if (kind === "select") {
        input = document.createElement("select");
        for (const o of roles) {
          const opt = document.createElement("option");
          opt.value = o;
          opt.textContent = o;
          input.append(opt);
        }
      } else {
        input = document.createElement("input");
        input.type = "text";
      }
      const id = "f" + idSeq++;
      input.id = id;
      input.dataset.key = key;
      input.dataset.kind = kind;
      const err = document.createElement("span");
      err.className = "field-error";
      err.id = id + "-error";
      input.setAttribute("aria-describedby", err.id);
      td.append(input, err);
      tr.append(td);
    }
    const td = document.createElement("td");
    td.dataset.label = "";
    const rm = document.createElement("button");
    rm.type = "button";
    rm.textContent = "Remove";
    rm.className = "remove-node";
    rm.addEventListener("click", async (e) => {
      // Once: a second click before the table is rebuilt, or the second
      // click of a double-click, would remove the node that took this one's place.
      if (rm.dataset.removing || e.detail > 1) return;
      rm.dataset.removing = "true";
      const i = Number(tr.dataset.index);
      // The node this row shows, wherever the edits made since it was
      // drawn have moved it; queued now, behind the edits asked before it
      // (which move it too as they are made: shiftPaths).
      const target = nowPath(`spec.nodes[${i}]`, Number(tr.dataset.seq));
      if (target === null) return void delete rm.dataset.removing;
      track(flushFormEdits());
      await formEdits([[target, "remove"]]);
      delete rm.dataset.removing;
      // Focus the row that took its place, else the one before, else Add node.
      const buttons = form.querySelectorAll("table.nodes .remove-node");
      (buttons[Math.min(i - nodeStart, buttons.length - 1)] || $("add-node")).focus();
    });
    td.append(rm);
    tr.append(td);
    pointRows([tr], i);
    return tr;
  }
  // Points ROWS (made by nodeRow) at nodes I, I + 1, ...: their fields'
  // paths, labels and ids. Text the form refused in a row that leaves a node
  // is kept (with its problem) for the row that shows that node next.
  function pointRows(rows, i) {
    for (const tr of rows) {
      for (const input of tr.querySelectorAll("[data-key]")) {
        const old = input.dataset.path;
        if (!old) continue;
        if (localErrors.has(old)) refusedText.set(old, input.value);
        if (fieldIds.get(old) === input.id) fieldIds.delete(old);
      }
    }
    rows.forEach((tr, k) => {
      tr.dataset.index = String(i + k);
      tr.dataset.seq = String(structSeq);
      for (const input of tr.querySelectorAll("[data-key]")) {
        const key = input.dataset.key;
        const path = `spec.nodes[${i + k}].${key}`;
        input.dataset.path = path;
        input.dataset.seq = String(structSeq);
        input.setAttribute("aria-label", `Node ${i + k + 1} ${key}`);
        fieldIds.set(path, input.id);
        if (refusedText.has(path)) {
          if (localErrors.has(path)) input.value = refusedText.get(path);
          refusedText.delete(path);
        }
      }
      tr.querySelector(".remove-node").setAttribute("aria-label", `Remove node ${i + k + 1}`);
      tr.classList.toggle("found", i + k === foundNode);
    });
  }

  // A large site's nodes table shows NODE_PAGE nodes at a time (from node
  // nodeStart), with a pager above it: at 2,000 nodes the browser laid out,
  // styled and painted 10,000 fields again for every row added or removed.
  // The pages start at every hundredth node, and the last page holds the
  // last NODE_PAGE nodes. A node's fields have the same paths on any page;
  // problems of nodes on other pages are listed under the table with the
  // node's number, and the pager marks their pages. Rows are kept and
  // pointed at other nodes rather than made again (making and laying out a
  // hundred rows took 100 ms of the page's thread).
  const NODE_PAGE = 50;
  let nodeStart = 0;
  // Add node asks for the page of the node it adds.
  let followLast = false;
  const nodeCount = () => (spec && spec.spec && Array.isArray(spec.spec.nodes) ? spec.spec.nodes.length : 0);
  // The first node of the hundred that holds node I.
  const pageOf = (i) => Math.floor(i / NODE_PAGE) * NODE_PAGE;
  const lastPage = (n) => Math.max(0, n - NODE_PAGE);

  // The nodes table once the nodes are N: the page stays (the last page if
  // it has gone; that of the last node after Add node) and the form is
  // filled from the spec after (a node removed in the middle: the rows after
  // it show the nodes that moved up). Never the whole form built again (at
  // 2,000 nodes that blocked the page for a second).
  function resizeNodes(n) {
    // The nodes after one added or removed have moved: what was found is
    // found again from the first node.
    if (foundText !== null) {
      forgetFound();
      $("node-find-result").textContent = "";
    }
    const start = followLast ? lastPage(n) : Math.min(nodeStart, lastPage(n));
    followLast = false;
    setNodeWindow(start, n);
    builtShape = shapeOf(spec);
  }
  // Shows nodes START to START + NODE_PAGE - 1 of N: rows added or removed
  // at the end, the others pointed at their nodes if the page moved. A page
  // moved by a few nodes (the last page after Add node or Remove) moves as
  // many rows from one end to the other; the rest keep their nodes.
  function setNodeWindow(start, n) {
    const body = form.querySelector("table.nodes tbody");
    const rows = body.rows;
    const want = Math.max(0, Math.min(NODE_PAGE, n - start));
    for (let k = rows.length - 1; k >= want; k--) dropRow(rows[k]);
    const by = start - nodeStart;
    let moved = by !== 0;
    if (moved && Math.abs(by) < rows.length / 2 && filledNodes && nodeFields && nodeFields.length === rows.length) {
      const len = rows.length;
      if (by > 0) {
        const going = [...rows].slice(0, by);
        body.append(...going);
        pointRows(going, nodeStart + len);
        nodeFields.push(...nodeFields.splice(0, by));
        filledNodes.length = len;
        filledNodes.splice(0, by);
        filledNodes.push(...going.map(() => null));
      } else {
        const going = [...rows].slice(len + by);
        body.prepend(...going);
        pointRows(going, start);
        nodeFields.unshift(...nodeFields.splice(len + by));
        filledNodes.length = len;
        filledNodes.splice(len + by);
        filledNodes.unshift(...going.map(() => null));
      }
      moved = false;
    } else if (moved) pointRows([...rows], start);
    nodeStart = start;
    const roles = (schemaAt("spec.nodes[0].role") || {}).values || ["control-plane", "worker"];
    const frag = document.createDocumentFragment();
    const added = [];
    for (let k = rows.length; k < want; k++) {
      const row = nodeRow(start + k, roles);
      added.push([...row.querySelectorAll("[data-path]")]);
      frag.append(row);
    }
    body.append(frag);
    if (moved) {
      // Every row shows another node: all are filled.
      otherFields = nodeFields = filledNodes = null;
    } else {
      // The rows kept show what they showed; the rows added are filled.
      if (filledNodes) filledNodes.length = Math.min(filledNodes.length, want);
      if (nodeFields) {
        nodeFields.length = Math.min(nodeFields.length, want);
        nodeFields.push(...added);
      }
    }
    updatePager(n);
  }
  // A row leaves the table: its fields are no longer where their paths
  // point. Text the form refused there stays (with its problem) for when
  // the node is shown again.
  function dropRow(row) {
    for (const input of row.querySelectorAll("[data-path]")) {
      const path = input.dataset.path;
      if (localErrors.has(path)) refusedText.set(path, input.value);
      if (fieldIds.get(path) === input.id) fieldIds.delete(path);
      shownInvalid.delete(input);
      shownErrors.delete($(input.id + "-error"));
    }
    row.remove();
  }
  // The pager's Previous, Next and choice: shows the page from node START.
  // The nodes are as many as when the table was last built or resized: a
  // form edit that adds or removes one may be on its way (its check moves
  // the rows and what they hold).
  const builtCount = () => (builtShape ? JSON.parse(builtShape)[0] : 0);
  // Find node: Enter shows the page of the next node whose name or address
  // holds the text (any case), Shift+Enter the one before; the focus stays in
  // the field, so that Enter again goes on, and the node's row is marked.
  // "Go to node" focuses its name. A new text, or a spec loaded whole,
  // searches from the first node again.
  let foundNode = -1;
  let foundText = null;
  function markFound() {
    const body = form.querySelector("table.nodes tbody");
    if (!body) return;
    for (const tr of body.rows) tr.classList.toggle("found", Number(tr.dataset.index) === foundNode);
  }
  function forgetFound() {
    foundNode = -1;
    foundText = null;
    markFound();
    const go = $("node-find-go");
    if (go) go.hidden = true;
  }
  // The result is said again even when it is the same words (a status
  // whose text does not change is not read out again).
  function sayFound(words) {
    const result = $("node-find-result");
    result.textContent = "";
    requestAnimationFrame(() => { result.textContent = words; });
  }
  function findNode(text, back) {
    const q = text.trim().toLowerCase();
    const nodes = (spec && spec.spec && Array.isArray(spec.spec.nodes) && spec.spec.nodes) || [];
    if (q !== foundText) {
      forgetFound();
      foundText = q;
    }
    if (!q) {
      $("node-find-result").textContent = "";
      return;
    }
    const holds = (n) => n && [n.name, n.address].some((v) => typeof v === "string" && v.toLowerCase().includes(q));
    const matches = [];
    nodes.forEach((n, j) => holds(n) && matches.push(j));
    if (!matches.length) {
      forgetFound();
      foundText = q;
      sayFound(`No node's name or address holds \u201c${text.trim()}\u201d.`);
      return;
    }
    // The next match after the node found last (the first with none), or
    // the one before it.
    let m;
    if (back) {
      const before = matches.filter((j) => j < (foundNode < 0 ? nodes.length : foundNode));
      m = before.length ? matches.indexOf(before[before.length - 1]) : matches.length - 1;
    } else {
      m = matches.findIndex((j) => j > foundNode);
      if (m < 0) m = 0;
    }
    const i = matches[m];
    foundNode = i;
    showNodes(Math.min(pageOf(i), lastPage(builtCount())));
    markFound();
    const input = form.querySelector(`[data-path="spec.nodes[${i}].name"]`);
    if (input) input.closest("tr").scrollIntoView({ block: "nearest" });
    const go = $("node-find-go");
    go.textContent = `Go to node ${i + 1}`;
    go.hidden = false;
    sayFound(`Node ${i + 1}: ${nodes[i].name || "(no name)"} (${(m + 1).toLocaleString("en")} of ${matches.length.toLocaleString("en")})`);
  }
  function showNodes(start) {
    if (start === nodeStart || start < 0) return;
    setNodeWindow(start, builtCount());
    fillForm();
    if (lastDiags) showDiagnostics(lastDiags);
  }
  // The pages a pager offers for N nodes: every hundredth node, the last
  // page, and the one shown.
  function pageStarts(n) {
    const starts = new Set();
    for (let s = 0; s + NODE_PAGE < n; s += NODE_PAGE) starts.add(s);
    starts.add(lastPage(n));
    starts.add(nodeStart);
    return [...starts].sort((a, b) => a - b);
  }
  // The pager: which nodes are shown, the pages (those with problems of
  // nodes not shown say how many), previous and next. Hidden while every
  // node fits on a page.
  let pagerShown = null;
  function updatePager(n) {
    const pager = $("node-pager");
    if (!pager) return;
    const key = JSON.stringify([n, nodeStart, offPageProblems]);
    if (key === pagerShown) return;
    pagerShown = key;
    pager.hidden = n <= NODE_PAGE;
    if (pager.hidden) return;
    const opts = pageStarts(n).map((from) => {
      const to = Math.min(n, from + NODE_PAGE);
      const bad = offPageProblems.filter((i) => i >= from && i < to).length;
      return [String(from), `${from + 1}\u2013${to}${bad ? ` (${bad} problem${bad === 1 ? "" : "s"})` : ""}`];
    });
    const select = $("node-page");
    if (select.options.length !== opts.length || opts.some(([v, t], k) => select.options[k].value !== v || select.options[k].textContent !== t)) {
      select.textContent = "";
      for (const [v, t] of opts) {
        const o = document.createElement("option");
        o.value = v;
        o.textContent = t;
        select.append(o);
      }
    }
    select.value = String(nodeStart);
    // A button that goes off under the focus hands it to the choice.
    for (const [id, off] of [["node-prev", nodeStart === 0], ["node-next", nodeStart >= lastPage(n)]]) {
      if (off && document.activeElement === $(id)) select.focus();
      $(id).disabled = off;
    }
    $("node-range").textContent = `Nodes ${nodeStart + 1}\u2013${Math.min(n, nodeStart + NODE_PAGE)} of ${n.toLocaleString("en")}`;
  }
  // The nodes not on the page shown that have a problem.
  let offPageProblems = [];
  const refusedText = new Map(); // path -> refused text of a node not shown

  function nodesTable() {
    const wrap = document.createElement("div");
    const table = document.createElement("table");
    table.className = "nodes";
    table.innerHTML = "<caption class='hint'>The first control-plane node runs kubeadm init.</caption><thead><tr><th scope='col'>Name</th><th scope='col'>Address</th><th scope='col'>Role</th><th scope='col'>Zone</th><th scope='col'>Labels <span class='hint'>(k=v, ...)</span></th><th scope='col'>Remove</th></tr></thead>";
    const body = document.createElement("tbody");
    const n = nodeCount();
    // The field of Find node is made again, empty: a search starts afresh.
    foundNode = -1;
    foundText = null;
    nodeStart = Math.min(nodeStart, Math.max(0, n - NODE_PAGE));
    const roles = (schemaAt("spec.nodes[0].role") || {}).values || ["control-plane", "worker"];
    const frag = document.createDocumentFragment();
    for (let i = nodeStart; i < Math.min(n, nodeStart + NODE_PAGE); i++) frag.append(nodeRow(i, roles));
    body.append(frag);
    table.append(body);
    const pager = document.createElement("div");
    pager.id = "node-pager";
    pager.className = "pager";
    pager.setAttribute("role", "group");
    pager.setAttribute("aria-labelledby", "node-range");
    pager.innerHTML = "<span id='node-range' class='range'></span> <button type='button' id='node-prev'>Previous " + NODE_PAGE +
      "</button> <label for='node-page'>Show nodes</label> <select id='node-page'></select> <button type='button' id='node-next'>Next " + NODE_PAGE + "</button>" +
      " <label for='node-find'>Find node</label> <input type='search' id='node-find' size='14' placeholder='name or address' autocomplete='off'>" +
      " <span id='node-find-result' class='hint' role='status'></span> <button type='button' id='node-find-go' hidden></button>";
    pager.querySelector("#node-prev").addEventListener("click", () => showNodes(Math.max(0, pageOf(nodeStart - 1))));
    pager.querySelector("#node-next").addEventListener("click", () => showNodes(Math.min(pageOf(nodeStart) + NODE_PAGE, builtCount() - NODE_PAGE)));
    pager.querySelector("#node-page").addEventListener("change", (e) => showNodes(Number(e.target.value)));
    pager.querySelector("#node-find").addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      findNode(e.target.value, e.shiftKey);
    });
    pager.querySelector("#node-find").addEventListener("input", (e) => {
      if (e.target.value.trim().toLowerCase() !== foundText) {
        forgetFound();
        $("node-find-result").textContent = "";
      }
    });
    pager.querySelector("#node-find-go").addEventListener("click", () => {
      if (foundNode < 0) return;
      // Its page, if another is shown since.
      showNodes(Math.min(pageOf(foundNode), lastPage(builtCount())));
      const input = form.querySelector(`[data-path="spec.nodes[${foundNode}].name"]`);
      if (input) input.focus();
    });
    pagerShown = null;
    const add = document.createElement("button");
    add.type = "button";
    add.id = "add-node";
    add.textContent = "Add node";
    add.addEventListener("click", async () => {
      await flushFormEdits();
      followLast = true;
      // The node is made when the edits before it are done (a second click
      // must see the node of the first).
      await formEdits(() => {
        const nodes = (spec && spec.spec && Array.isArray(spec.spec.nodes) && spec.spec.nodes) || [];
        return [[`spec.nodes[${nodes.length}]`, { insert: newNode(nodes) }]];
      });
      followLast = false;
      // In a task of its own: focusing lays the new row out and scrolls to it.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const inputs = form.querySelectorAll("table.nodes tbody tr:last-child input");
      if (inputs.length) inputs[0].focus();
    });
    wrap.append(pager, table, add);
    const err = document.createElement("div");
    err.className = "field-error";
    err.id = "nodes-error";
    wrap.append(err);
    fieldIds.set("spec.nodes", null);
    return wrap;
  }

  function sysctlRows() {
    const wrap = document.createElement("div");
    const sys = (spec && spec.spec && spec.spec.tuning && spec.spec.tuning.sysctl) || {};
    for (const key of Object.keys(sys)) {
      wrap.append(fieldRow(text(`spec.tuning.sysctl[${JSON.stringify(key)}]`, key)));
    }
    return wrap;
  }

  // Each node (its JSON) the nodes table's rows were last filled from, by
  // row, or null: a large site has thousands of node fields, and an edit
  // elsewhere, Add node or an edit of one node leaves the other rows alone.
  let filledNodes = null;
  // The form's fields outside the nodes table, and those of each row of the
  // nodes table (found once per build; rows added or removed change them).
  let otherFields = null;
  let nodeFields = null;
  function fillForm() {
    const nodes = spec && spec.spec && Array.isArray(spec.spec.nodes) ? spec.spec.nodes : [];
    const nodesNow = nodes.map((n) => JSON.stringify(n));
    if (!otherFields) {
      const body = form.querySelector("table.nodes tbody");
      nodeFields = body ? [...body.rows].map((row) => [...row.querySelectorAll("[data-path]")]) : [];
      const inRows = new Set(nodeFields.flat());
      otherFields = [...form.querySelectorAll("[data-path]")].filter((f) => !inRows.has(f));
    }
    // A field filled shows its item as it is now (nowPath).
    const seq = String(structSeq);
    for (const input of otherFields) if (fillField(input)) input.dataset.seq = seq;
    // A row is filled when its node changed; a row with a field left as it
    // was (being typed in, or text the form refused) is filled again next time.
    const filled = [];
    nodeFields.forEach((row, k) => {
      const now = nodesNow[nodeStart + k];
      const tr = row.length ? row[0].closest("tr") : null;
      if (filledNodes && filledNodes[k] === now) {
        filled[k] = now;
        if (tr) tr.dataset.seq = seq;
        for (const input of row) input.dataset.seq = seq;
        return;
      }
      let whole = true;
      for (const input of row) {
        if (fillField(input)) input.dataset.seq = seq;
        else whole = false;
      }
      if (whole && tr) tr.dataset.seq = seq;
      filled[k] = whole ? now : null;
    });
    filledNodes = filled;
  }

  // Keeps text the form refused at PATH until it is fixed or the YAML is
  // edited; its row of the nodes table is filled again after.
  function refuse(path, error) {
    localErrors.set(path, error);
    staleRow(path);
  }
  function staleRow(path) {
    const row = /^spec\.nodes\[(\d+)\]/.exec(path);
    if (row && filledNodes && Number(row[1]) >= nodeStart) filledNodes[Number(row[1]) - nodeStart] = null;
  }

  // Shows the spec's value in one field, unless it is being typed in or
  // holds text the form refused: then false.
  // The values as written where the spec holds a default or stand-in
  // (`replicas: lots`): a field shows what was written, beside its problem.
  let asWritten = new Map();
  function fillField(input) {
    if (input === document.activeElement || localErrors.has(input.dataset.path)) return false;
    const v = getPath(spec, input.dataset.path);
    const written = asWritten.get(input.dataset.path);
    if (written !== undefined && /^(text|number)$/.test(input.dataset.kind)) {
      const t = typeof written === "string" ? written : JSON.stringify(written);
      if (input.value !== t) input.value = t;
      return true;
    }
    if (/checkbox|part/.test(input.dataset.kind)) {
      // A part: on while the spec has it (null turns it off).
      const on = input.dataset.kind === "part" ? v != null : !!v;
      if (input.checked !== on) input.checked = on;
      // A switch written as something other than true or false (`yes`):
      // neither on nor off (its problem is beside it).
      const neither = input.dataset.kind === "checkbox" && (written !== undefined || (v != null && typeof v !== "boolean"));
      if (input.indeterminate !== neither) input.indeterminate = neither;
      return true;
    }
    if (input.tagName === "SELECT") {
      // A value that is not one of the choices (`cni: weave`) is shown as
      // written, marked so, not as a choice the spec does not hold.
      const shown = written !== undefined ? (typeof written === "string" ? written : JSON.stringify(written)) : v == null ? "" : String(v);
      for (const o of [...input.options]) if (o.dataset.written && o.value !== shown) o.remove();
      if (![...input.options].some((o) => o.value === shown)) {
        const o = new Option(`${shown} (not one of the choices)`, shown);
        o.dataset.written = "true";
        input.add(o);
      }
      if (input.value !== shown) input.value = shown;
      return true;
    }
    const t = /list|ints/.test(input.dataset.kind) ? (Array.isArray(v) ? v.map((x) => (input.dataset.kind === "list" ? quoteItem(String(x)) : x)).join(", ") : "")
      : input.dataset.kind === "map" ? (v && typeof v === "object" ? Object.entries(v).map(([k, x]) => `${quoteItem(k, true)}=${quoteItem(String(x))}`).join(", ") : "")
      : v == null ? "" : typeof v === "number" ? numberText(v) : String(v);
    // Only what changed: a large site has thousands of fields, and every
    // form edit is checked (and the form filled) again.
    if (input.value !== t) input.value = t;
    return true;
  }

  // ------------------------------------------------------------ sync, validate, render

  // ------------------------------------------------------------ form edits
  //
  // The YAML text is the document; the form edits it in place. Each change
  // goes through the core's edit_yaml on the current text, which changes
  // only that field's node and keeps every comment, the key order, the
  // quoting and the defaults left out. While the YAML does not parse the
  // form is read-only and the text is never replaced.

  const pendingEdits = new Map(); // path -> op, waiting for the debounce
  const localErrors = new Map(); // path -> what is wrong with the text typed there
  let editTimer = null;
  let editChain = Promise.resolve();
  let broken = null; // the parse error while the YAML does not parse
  // The text the spec the form shows is of: the last that read as a spec,
  // then the form's own edits of it. Text that parses but does not read as
  // a spec (a required field left out) and is not the form's leaves the form
  // read-only too: it shows a spec the text no longer is.
  let formText = null;

  // A number as a field shows it: in decimals, never in JavaScript's
  // exponent form (1e-7), which the field would refuse.
  function numberText(v) {
    const t = String(v);
    if (!/e/i.test(t) || !Number.isFinite(v)) return t;
    return v.toLocaleString("en-US", { useGrouping: false, maximumFractionDigits: 100, maximumSignificantDigits: 17 });
  }

  function freshName(prefix, items, key) {
    let n = 1;
    while (items.some((x) => x && x[key] === `${prefix}-${n}`)) n++;
    return `${prefix}-${n}`;
  }

  // The lengths of the form's lists: the form is rebuilt when they change.
  function shapeOf(s) {
    if (!s || !s.spec) return "";
    return JSON.stringify(["spec.nodes", ...tablePaths, "spec.tuning.sysctl"].map((p) => {
      const v = getPath(s, p);
      return Array.isArray(v) ? v.length : v && typeof v === "object" ? Object.keys(v) : 0;
    }));
  }

  let brokenKey; // what setBroken last showed
  function setBroken(d) {
    broken = d || null;
    const key = broken ? `${broken.line}:${broken.column}:${broken.message}:${broken.unreadable}` : "";
    if (key === brokenKey && $("yaml-broken")) return;
    brokenKey = key;
    let banner = $("yaml-broken");
    if (!banner) {
      banner = document.createElement("div");
      banner.id = "yaml-broken";
      banner.className = "banner";
      banner.setAttribute("role", "alert");
      // Inside the form's column: the page's grid lays out its panes only.
      form.prepend(banner);
    }
    if (broken && broken.unreadable !== undefined) {
      const n = broken.unreadable;
      banner.textContent = `The YAML does not read as a spec yet (${n} error${n === 1 ? "" : "s"}, see Problems): the form is read-only until ${n === 1 ? "it is" : "they are"} fixed in the YAML editor; your text is kept.`;
      banner.hidden = false;
    } else if (broken) {
      const where = broken.line ? `line ${broken.line}, column ${broken.column}: ` : "";
      banner.textContent = `The YAML does not parse (${where}${broken.message}). The form is read-only until it is fixed in the YAML editor; your text is kept as it is.`;
      banner.hidden = false;
    } else {
      banner.textContent = "";
      banner.hidden = true;
    }
    // A field focused when the form becomes read-only: the focus goes to
    // the banner that says why (a disabled field sent it to the body).
    const active = document.activeElement;
    const lost = !!broken && active && active !== banner && form.contains(active) && !!active.closest("fieldset");
    for (const fs of form.querySelectorAll("fieldset")) fs.disabled = !!broken;
    if (lost) {
      banner.tabIndex = -1;
      banner.focus();
    }
    // (The disabled fieldsets say it to assistive technology; aria-readonly
    // is not allowed on a form.)
    form.dataset.readonly = broken ? "true" : "false";
  }

  // A part turned off, and what needs it, keep what they held (as read, with
  // defaults), so that turning the part on again brings it back; what
  // equals its default is left out, as the YAML had it.
  const parked = new Map();
  function park(path, to = null) {
    const v = getPath(spec, path);
    // (The spec read leaves out a switch that is off.)
    const d = schemaAt(path);
    parked.set(path, v === undefined && d && d.node.type === "boolean" ? false : v);
    return { set: to };
  }
  function unpark(path) {
    let v = parked.get(path);
    parked.delete(path);
    const same = (p, x) => {
      const d = schemaAt(p);
      return JSON.stringify(d && d.default) === JSON.stringify(x);
    };
    if (v && typeof v === "object" && !Array.isArray(v)) {
      v = Object.fromEntries(Object.entries(v).filter(([k, x]) => !same(`${path}.${k}`, x)));
      if (!Object.keys(v).length) v = null;
    }
    // (A redirect that was on is the default with TLS on.)
    return v == null || v === true || same(path, v) ? "remove" : { set: v };
  }

  // The items of a list or map field: separated by commas; an item that
  // holds a comma or a quote (a key: also "="), or starts or ends with a
  // space, is written in double quotes, with JSON's escapes.
  const quoteItem = (x, key) => ((key ? /[,"=]/ : /[,"]/).test(x) || x !== x.trim() || x === "" ? JSON.stringify(x) : x);
  // RAW split at the commas outside quotes, each item trimmed; null when a
  // quote is not closed.
  function splitItems(raw) {
    const out = [];
    let cur = "";
    let quoted = false;
    let escaped = false;
    for (const c of raw) {
      if (quoted) {
        if (escaped) escaped = false;
        else if (c === "\\") escaped = true;
        else if (c === '"') quoted = false;
        cur += c;
      } else if (c === ",") {
        out.push(cur);
        cur = "";
      } else {
        if (c === '"') quoted = true;
        cur += c;
      }
    }
    if (quoted) return null;
    out.push(cur);
    return out.map((x) => x.trim()).filter((x) => x !== "");
  }
  // An item as written: its text, undefined if quoted wrongly.
  function unquote(x) {
    if (!x.startsWith('"')) return x;
    try {
      const v = JSON.parse(x);
      return typeof v === "string" ? v : undefined;
    } catch {
      return undefined;
    }
  }
  const quoteProblem = (x) => `\`${x}\` is not quoted right: write a text with a comma as "a,b" (and a quote inside as \\"); the spec keeps its value until then`;

  // Whether the schema requires the key at PATH (in its mapping).
  function required(path) {
    const parent = schemaAt(parentPath(path).replace(/\[\d+\]/g, "[0]"));
    const key = parsePath(path).pop();
    return !!(parent && Array.isArray(parent.node.required) && parent.node.required.includes(key));
  }

  // The edit a field's text asks for, or what is wrong with the text.
  function opFor(input) {
    const k = input.dataset.kind;
    const raw = input.value;
    // A required field emptied keeps its key and value: it has no default.
    if (raw === "" && /^(text|number|list|map)$/.test(k) && required(input.dataset.path)) {
      return { error: `\`${parsePath(input.dataset.path).pop()}\` is required: enter a value; the spec keeps its value until then` };
    }
    if (k === "checkbox") return { op: { set: input.checked } };
    // Off: null; on: what it held when turned off in this visit (or its
    // defaults).
    if (k === "part") return { op: input.checked ? unpark(input.dataset.path) : park(input.dataset.path) };
    if (k === "select") return { op: raw === "" ? "remove" : { set: raw } };
    if (k === "list" || k === "ints") {
      const written = splitItems(raw);
      if (written === null) return { error: quoteProblem(raw.trim()) };
      const bad = k === "ints" && written.find((x) => !/^(0|[1-9]\d{0,8})$/.test(x));
      if (bad) return { error: `\`${bad}\` is not a whole number: write numbers such as 443, separated by commas; the spec keeps its value until then` };
      const items = k === "ints" ? written.map(Number) : written.map(unquote);
      const wrong = written.find((x, i) => items[i] === undefined);
      if (wrong !== undefined) return { error: quoteProblem(wrong) };
      return { op: items.length ? { set: items } : "remove" };
    }
    if (k === "map") {
      const m = {};
      const parts = splitItems(raw);
      if (parts === null) return { error: quoteProblem(raw.trim()) };
      for (const part of parts) {
        // The first "=" outside quotes ends the key.
        let i = -1;
        for (let j = 0, quoted = false, escaped = false; j < part.length && i < 0; j++) {
          const c = part[j];
          if (quoted) {
            if (escaped) escaped = false;
            else if (c === "\\") escaped = true;
            else if (c === '"') quoted = false;
          } else if (c === '"') quoted = true;
          else if (c === "=") i = j;
        }
        if (i <= 0) return { error: `\`${part}\` is not key=value: write entries as key=value, separated by commas` };
        const key = unquote(part.slice(0, i).trim());
        const value = unquote(part.slice(i + 1).trim());
        if (key === undefined || value === undefined) return { error: quoteProblem(part) };
        if (key in m) return { error: `\`${key}\` is given twice: keep one` };
        m[key] = value;
      }
      return { op: Object.keys(m).length ? { set: m } : "remove" };
    }
    if (k === "number") {
      const t = raw.trim();
      // Emptied, the field is left to its default when left (change);
      // spaces are a typo.
      if (t === "") return raw === "" ? { op: "remove" } : { error: "only spaces: enter a number such as 3, or empty the field for the default; the spec keeps its value until then" };
      // A field the schema says is an integer takes no fraction.
      const node = (schemaAt(input.dataset.path.replace(/\[\d+\]/g, "[0]")) || { node: {} }).node;
      const whole = /integer/.test(node.type);
      if (/^-\d+(\.\d+)?$/.test(t)) return { error: `\`${t}\` is below 0: enter 0 or more, such as 3; the spec keeps its value until then` };
      if (!(whole ? /^\d+$/ : /^\d+(\.\d+)?$/).test(t)) return { error: `\`${t}\` is not a ${whole ? "whole number" : "number of 0 or more"}: enter one such as 3; the spec keeps its value until then` };
      // The number written is the one typed: no leading zero (YAML 1.1
      // reads 010 as 8), nothing a double cannot hold exactly.
      if (/^0\d/.test(t)) return { error: `\`${t}\` has a leading zero: write ${+t}; the spec keeps its value until then` };
      const n = Number(t);
      // (0.0000001 is held exactly as typed, though JavaScript writes it 1e-7.)
      const fraction = t.includes(".") ? t.length - t.indexOf(".") - 1 : 0;
      if (!Number.isSafeInteger(Math.trunc(n)) || (fraction && (fraction > 100 || n.toFixed(fraction) !== t))) {
        return { error: `\`${t}\` has more digits than a spec number holds; the spec keeps its value until then` };
      }
      // Beyond what the spec's number holds: refused here, as the YAML
      // could not hold it either.
      const most = typeof node.maximum === "number" ? node.maximum : node.format === "uint32" ? 4294967295 : null;
      if (most !== null && n > most) return { error: `\`${t}\` is too large: a number here is at most ${most}; the spec keeps its value until then` };
      return { op: { set: n } };
    }
    return { op: raw === "" ? "remove" : { set: raw } };
  }

  function markLocal(path, msg) {
    const id = fieldIds.get(path);
    const input = id ? $(id) : null;
    const el = id ? $(id + "-error") : null;
    if (!el) return;
    if (msg) {
      el.textContent = msg;
      shownErrors.add(el);
      if (input && input.dataset.path) {
        input.setAttribute("aria-invalid", "true");
        shownInvalid.add(input);
      }
    } else {
      el.textContent = "";
      shownErrors.delete(el);
      if (input) {
        input.removeAttribute("aria-invalid");
        shownInvalid.delete(input);
      }
    }
  }

  function queueEdit(input) {
    if (broken) return;
    const path = input.dataset.path;
    // Where the field's value is now: a row drawn before an item was
    // removed or inserted above it names the item by its index then.
    const target = nowPath(path, Number(input.dataset.seq || structSeq));
    if (target === null) return;
    // A node's row holds typed text now: filled from the spec again next time.
    staleRow(path);
    const r = opFor(input);
    if (r.error) {
      pendingEdits.delete(target);
      const was = localErrors.get(path);
      refuse(path, r.error);
      markLocal(path, r.error);
      // Counted in Problems and the status, and the files out of date.
      if (was !== r.error) track(check());
      return;
    }
    if (localErrors.delete(path)) markLocal(path, "");
    pendingEdits.set(target, r.op);
    // (Off turns what needs the part off; on, back to what it was.)
    const off = input.dataset.off;
    if (off) pendingEdits.set(off, input.checked ? unpark(off) : park(off, false));
    clearTimeout(editTimer);
    editTimer = setTimeout(() => { editTimer = null; track(flushFormEdits()); }, 120);
    showBusy();
  }

  form.addEventListener("input", (e) => {
    const t = e.target;
    // A field emptied to type another value keeps its key where it is: it
    // goes back to its default only if left empty (change).
    if (t.dataset && t.dataset.path && !/select|checkbox|part/.test(t.dataset.kind)) {
      if (t.value !== "") queueEdit(t);
      else if (localErrors.delete(t.dataset.path)) {
        markLocal(t.dataset.path, "");
        track(check());
      }
    }
  });
  form.addEventListener("change", (e) => {
    const t = e.target;
    if (t.dataset && t.dataset.path && (/select|checkbox|part/.test(t.dataset.kind) || t.value === "")) queueEdit(t);
  });

  // Debounced work not yet started; flush() runs it at once and waits for the
  // update it starts, so that a download never carries stale data.
  let yamlTimer = null;
  let inFlight = Promise.resolve();
  async function flush() {
    await flushFormEdits();
    await inFlight;
  }
  function track(p) {
    inFlight = Promise.all([inFlight, p]).then(() => {}, () => {});
    return p;
  }

  // The YAML editor follows form edits. Chromium lays out a textarea in time
  // proportional to its lines (a 250-node spec, 1,200 lines: 40 ms on the
  // page's thread at every change; 2,000 nodes, 8,000 lines: a few hundred).
  // So the editor of a large spec is folded unless the user opens it
  // (folded, it keeps the text but is not laid out); opened, a large spec
  // reaches it once typing in the form pauses (YAML_IDLE ms), or at once
  // when the editor gets focus.
  const YAML_LARGE_LINES = 600;
  const lineCount = (t) => {
    let n = 0;
    for (let i = t.indexOf("\n"); i !== -1; i = t.indexOf("\n", i + 1)) n++;
    return n + (t.endsWith("\n") || t === "" ? 0 : 1);
  };
  const isLarge = (t) => t.length >= YAML_LARGE_LINES * 8 && lineCount(t) > YAML_LARGE_LINES;
  const YAML_IDLE = 700;
  let yamlBehind = null;
  let yamlViewTimer = null;
  let yamlOpen = null; // the user's choice for a large spec: true (open), false (folded), null (none yet)
  function folded() {
    return $("yaml").hidden;
  }
  function setFolded(fold) {
    const ta = $("yaml");
    const toggle = $("yaml-toggle");
    const large = isLarge(editorText());
    toggle.hidden = !large;
    toggle.textContent = fold ? "Show the YAML editor" : "Fold the YAML editor";
    toggle.setAttribute("aria-expanded", fold ? "false" : "true");
    const note = $("yaml-folded");
    note.hidden = !fold;
    if (fold) {
      const t = editorText();
      const lines = lineCount(t);
      note.textContent = `This spec is ${Math.round(t.length / 1000)} KB (${lines} lines): its editor is folded, since laying it out again at every change would stall the page. The text is kept and follows the form.`;
    }
    if (ta.hidden !== fold) ta.hidden = fold;
  }
  function catchUpYaml() {
    clearTimeout(yamlViewTimer);
    yamlViewTimer = null;
    if (yamlBehind !== null) {
      const t = yamlBehind;
      yamlBehind = null;
      setEditor(t);
    }
    showBusy();
  }
  // Gives the editor text T. The caret (and selection) of a focused editor
  // stays on the text it was on: a form edit made while the YAML is being
  // typed in moved it to the end, and what was typed next went there.
  function setEditor(t) {
    const ta = $("yaml");
    const old = ta.value;
    if (old === t) return;
    if (document.activeElement !== ta) return void (ta.value = t);
    const [start, end, dir, top] = [ta.selectionStart, ta.selectionEnd, ta.selectionDirection, ta.scrollTop];
    const max = Math.min(old.length, t.length);
    let pre = 0;
    while (pre < max && old.charCodeAt(pre) === t.charCodeAt(pre)) pre++;
    let suf = 0;
    while (suf < max - pre && old.charCodeAt(old.length - 1 - suf) === t.charCodeAt(t.length - 1 - suf)) suf++;
    // Before the change: where it was; after it: moved by its length; in it:
    // at its end.
    const at = (p) => (p <= pre ? p : p >= old.length - suf ? p + t.length - old.length : t.length - suf);
    ta.value = t;
    ta.setSelectionRange(at(start), at(end), dir);
    ta.scrollTop = top;
  }
  function showYaml(t, now) {
    yamlBehind = t;
    const ta = $("yaml");
    const large = isLarge(t);
    setFolded(large && yamlOpen !== true && document.activeElement !== ta);
    // A folded editor takes the text when it is shown or focused (at 2,000
    // nodes, giving it each edit's text took 17 ms of the page's thread).
    if (folded() && !now && document.activeElement !== ta) {
      clearTimeout(yamlViewTimer);
      yamlViewTimer = null;
      return showBusy();
    }
    if (now || !large || document.activeElement === ta) return catchUpYaml();
    clearTimeout(yamlViewTimer);
    yamlViewTimer = setTimeout(catchUpYaml, YAML_IDLE);
    showBusy();
  }
  function openYaml() {
    yamlOpen = true;
    catchUpYaml();
    setFolded(false);
  }
  $("yaml-toggle").addEventListener("click", () => {
    if (folded()) {
      openYaml();
      $("yaml").focus();
    } else {
      yamlOpen = false;
      catchUpYaml();
      setFolded(true);
    }
  });
  $("yaml").addEventListener("focus", catchUpYaml);
  // The editor's latest text, shown or still to be shown.
  const editorText = () => (yamlBehind !== null ? yamlBehind : $("yaml").value);


  // Applies the edits waiting for the debounce (before a download, too).
  async function flushFormEdits() {
    clearTimeout(editTimer);
    editTimer = null;
    if (!pendingEdits.size) {
      // Text typed in the YAML editor and not yet checked.
      if (editorText() !== yamlText || yamlTimer !== null) {
        clearTimeout(yamlTimer);
        yamlTimer = null;
        yamlText = editorText();
        await track(check());
      }
      showBusy();
      return editChain;
    }
    const edits = [...pendingEdits];
    pendingEdits.clear();
    return formEdits(edits);
  }

  // Edits the YAML text, one [path, op] after the other, in order. EDITS may
  // be a function that makes them once the edits queued before are done.
  function formEdits(edits) {
    editing++;
    showBusy();
    unapplied.add(edits);
    editChain = editChain.then(() => applyEdits(edits)).catch((e) => status("The form edit failed: " + e))
      .finally(() => { unapplied.delete(edits); editing--; showBusy(); });
    return track(editChain);
  }
  // Fields emptied and left: path -> {before, after}, the text before the
  // key was removed and the text it left (see applyEdits).
  const emptied = new Map();
  // Parts turned off by the last form edit: path -> {path, off, before,
  // after} (the text before and after it).
  const toggled = new Map();
  // Form edits asked for and not yet in the text (saved as the tab goes):
  // lists of [path, op], or a function that makes them (Add node's).
  const unapplied = new Set();
  // An item inserted into or removed from the list LIST at AT (BY: 1 or -1)
  // moves the items after it: the form edits asked for them before and not
  // yet made (waiting for the debounce, or queued) follow their item, and
  // those of a removed item go with it. (Remove on a row, or typing in it,
  // while an earlier Remove was on its way acted on the item that had taken
  // that row's index by then.)
  // The path PATH after the change (LIST, AT, BY): null for a path into
  // the removed item.
  function movedPath(path, list, at, by) {
    if (!path.startsWith(list + "[")) return path;
    const m = /^\[(\d+)\](?=$|[.[])/.exec(path.slice(list.length));
    if (!m) return path;
    const j = Number(m[1]);
    if (by < 0 && j === at) return null;
    return j >= at + (by < 0 ? 1 : 0) ? `${list}[${j + by}]${path.slice(list.length + m[0].length)}` : path;
  }
  // PATH as drawn at SEQ, as it is now (null: its item was removed).
  function nowPath(path, seq) {
    for (const c of structLog) {
      if (c.seq <= seq) continue;
      path = movedPath(path, c.list, c.at, c.by);
      if (path === null) return null;
    }
    return path;
  }
  function shiftPaths(list, at, by) {
    structLog.push({ seq: ++structSeq, list, at, by });
    if (structLog.length > 500) structLog.shift();
    const moved = (path) => movedPath(path, list, at, by);
    const pending = [...pendingEdits];
    pendingEdits.clear();
    for (const [path, op] of pending) {
      const p = moved(path);
      if (p !== null) pendingEdits.set(p, op);
    }
    for (const edits of unapplied) {
      if (typeof edits === "function") continue;
      for (let k = edits.length - 1; k >= 0; k--) {
        const p = moved(edits[k][0]);
        if (p === null) edits.splice(k, 1);
        else edits[k][0] = p;
      }
    }
  }

  async function applyEdits(asked) {
    let edits = typeof asked === "function" ? asked() : asked;
    // The editor's latest text, typed or not yet checked. Text typed while
    // the edits are made (each is a call to the worker) is never written
    // over: the edits are made again on it.
    let text, done, failed;
    for (let tries = 0; ; tries++) {
      clearTimeout(yamlTimer);
      yamlTimer = null;
      const from = editorText();
      yamlText = from;
      text = from;
      done = [];
      failed = [];
      // A part turned on again right after it was turned off (nothing else
      // changed since): the text from before, comments and all, rather
      // than its values set again (which left out those equal to their
      // defaults, and what the text said of them).
      const back = edits.length && edits.every(([p]) => toggled.has(p) || [...toggled.values()].some((t) => t.off === p))
        ? edits.map(([p]) => toggled.get(p)).find((t) => t && t.after === from && edits.some(([p, o]) => p === t.path && o !== null && !(o && o.set === null)))
        : null;
      if (back) {
        text = back.before;
        done = edits.slice();
        toggled.clear();
        break;
      }
      for (const [path, op, mapWhole] of defaultedMaps(edits, text)) {
        // A list or map set whole changes only the items that changed, so
        // the comments and quoting of the others stay.
        const parts = mapWhole ? null : granular(path, op);
        if (parts) {
          let t = text;
          for (const [p, o] of parts) {
            const a = await api.edit_yaml(t, p, JSON.stringify(o));
            if (!a.ok) { t = null; break; }
            t = a.yaml;
          }
          if (t !== null) {
            text = t;
            done.push([path, op]);
            continue;
          }
        }
        // A field emptied and left lost its key; typed in again with the
        // text as that left it, the key comes back where it was, with its
        // comments (the value set on the text from before).
        const back = op && op.set !== undefined && emptied.get(path);
        emptied.delete(path);
        let r = back && back.after === text ? await api.edit_yaml(back.before, path, JSON.stringify(op)) : null;
        if (!(r && r.ok)) r = await api.edit_yaml(text, path, JSON.stringify(op));
        if (r.ok && op === "remove") emptied.set(path, { before: text, after: r.yaml });
        const whole = !r.ok && /not a list|does not exist|no item|has \d+ items?\b/.test(r.error) ? wholeList(path, op) : null;
        if (whole) {
          const again = await api.edit_yaml(text, whole[0], JSON.stringify(whole[1]));
          if (again.ok) r = again;
        }
        if (!r.ok) {
          // What is wrong and what to do, once (the field names the path).
          failed.push([path, r.message ? (r.hint ? `${r.message} (${r.hint})` : r.message) : r.error]);
          continue;
        }
        text = r.yaml;
        done.push([path, op]);
      }
      // Typed meanwhile: made again on the new text, until the typing
      // pauses (the text typed is never written over).
      if (editorText() === from) break;
      if (tries >= 40) {
        status("A form edit was not made: the YAML kept changing while it was made. Make it again.");
        unapplied.delete(asked);
        return check();
      }
    }
    // A part turned off: the text before and after, for turning it on again.
    toggled.clear();
    for (const [path, op] of done) {
      const input = op && op.set === null ? form.querySelector(`[data-path="${path}"][data-kind="part"]`) : null;
      if (input) toggled.set(path, { path, off: input.dataset.off || null, before: yamlText, after: text });
    }
    // The form's spec follows its own edits (it is the text's, as far as the
    // form knows, when it was before them).
    if (formText === yamlText) formText = text;
    for (const [path, op] of done) applyLocal(spec, path, op);
    for (const [path, error] of failed) {
      // A text that does not parse is never edited: the banner says why.
      if (!/does not parse/.test(error)) {
        refuse(path, error);
        markLocal(path, error);
      }
    }
    if (text !== yamlText) {
      yamlText = text;
      showYaml(text);
    }
    // The text has them now (saved with it as the tab goes, not as pending).
    unapplied.delete(asked);
    for (const [path, op] of done) {
      const m = /^(.*)\[(\d+)\]$/.exec(path);
      if (m && (op === "remove" || (op && op.insert !== undefined))) shiftPaths(m[1], Number(m[2]), op === "remove" ? -1 : 1);
    }
    // A node added or removed moves the nodes after it: text the form
    // refused in their rows moves with them.
    const moved = done.find(([p, op]) => /^spec\.nodes\[\d+\]$/.test(p) && (op === "remove" || (op && op.insert !== undefined)));
    nodeShift = moved ? { at: Number(/\d+/.exec(moved[0])[0]), by: moved[1] === "remove" ? -1 : 1 } : null;
    try {
      await check();
    } finally {
      nodeShift = null;
    }
  }
  let nodeShift = null; // {at, by}: the node the form's edit added (1) or removed (-1)

  // The item edits that make the list or map at PATH what OP sets it to
  // (from what the form shows there), or null when OP sets something else.
  function granular(path, op) {
    if (!op || op.set === undefined || !spec) return null;
    const now = getPath(spec, path);
    const want = op.set;
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    if (Array.isArray(want) && Array.isArray(now)) {
      let pre = 0;
      while (pre < now.length && pre < want.length && same(now[pre], want[pre])) pre++;
      let post = 0;
      while (post < now.length - pre && post < want.length - pre && same(now[now.length - 1 - post], want[want.length - 1 - post])) post++;
      const olds = now.length - pre - post;
      const news = want.length - pre - post;
      const out = [];
      for (let k = 0; k < Math.min(olds, news); k++) out.push([`${path}[${pre + k}]`, { set: want[pre + k] }]);
      for (let k = olds - 1; k >= news; k--) out.push([`${path}[${pre + k}]`, "remove"]);
      for (let k = olds; k < news; k++) out.push([`${path}[${pre + k}]`, { insert: want[pre + k] }]);
      return out;
    }
    if (want && typeof want === "object" && !Array.isArray(want) && now && typeof now === "object" && !Array.isArray(now)) {
      const key = (k) => `${path}[${JSON.stringify(k)}]`;
      const out = [];
      // A key gone and a new one in its turn: the key renamed, in its place.
      const fresh = Object.keys(want).filter((k) => !(k in now));
      const was = {};
      for (const k of Object.keys(now)) {
        if (k in want) continue;
        const to = fresh.shift();
        if (to === undefined) out.push([key(k), "remove"]);
        else {
          out.push([key(k), { rename: to }]);
          was[to] = k;
        }
      }
      for (const [k, v] of Object.entries(want)) if (!same(now[k in was ? was[k] : k], v)) out.push([key(k), { set: v }]);
      return out;
    }
    return null;
  }

  // An entry of a map the YAML leaves to its default (the sysctls: the form
  // shows the default's entries): the edit writes the whole map, with the
  // change, since a map written replaces its default whole.
  function defaultedMaps(edits, text) {
    return edits.map(([path, op]) => {
      const m = path.match(/^(spec\.tuning\.sysctl)(?:\[("(?:[^"\\]|\\.)*")\])?$/);
      if (!m || /^[ \t]*sysctl[ \t]*:/m.test(text) || !spec) return [path, op];
      if (!m[2]) return [path, op, true];
      const map = { ...(getPath(spec, m[1]) || {}) };
      const key = JSON.parse(m[2]);
      if (op === "remove") delete map[key];
      else if (op && op.set !== undefined) map[key] = op.set;
      return [m[1], { set: map }, true];
    });
  }

  // The same edit on the spec object the form shows. While the text parses
  // but is not yet a spec (a required field left out), validate gives no
  // spec: the form then follows its own edits (a node added still shows).
  function applyLocal(obj, path, op) {
    if (!obj) return;
    const segs = parsePath(path);
    let v = obj;
    for (let i = 0; i < segs.length - 1; i++) {
      if (v[segs[i]] == null || typeof v[segs[i]] !== "object") v[segs[i]] = typeof segs[i + 1] === "number" ? [] : {};
      v = v[segs[i]];
    }
    const last = segs[segs.length - 1];
    if (op === "remove") {
      if (Array.isArray(v)) v.splice(last, 1);
      else delete v[last];
    } else if (op && op.insert !== undefined) {
      if (Array.isArray(v)) v.splice(last, 0, JSON.parse(JSON.stringify(op.insert)));
      else v[last] = JSON.parse(JSON.stringify(op.insert));
    } else if (op && op.set !== undefined) {
      v[last] = JSON.parse(JSON.stringify(op.set));
    }
  }

  // An item of a list the YAML leaves to its default (the form shows the
  // default's items): the edit writes the whole list, with the change.
  function wholeList(path, op) {
    const m = path.match(/^(.*)\[(\d+)\](.*)$/);
    if (!m || !spec) return null;
    const list = getPath(spec, m[1]);
    if (!Array.isArray(list)) return null;
    const copy = JSON.parse(JSON.stringify(list));
    const i = Number(m[2]);
    if (m[3] === "") {
      if (op === "remove") copy.splice(i, 1);
      else if (op.insert !== undefined) copy.splice(i, 0, op.insert);
      else copy[i] = op.set;
    } else {
      const keys = parsePath(m[3].replace(/^\./, ""));
      let v = copy[i];
      if (v == null || typeof v !== "object") return null;
      for (const k of keys.slice(0, -1)) {
        if (v[k] == null || typeof v[k] !== "object") v[k] = {};
        v = v[k];
      }
      const last = keys[keys.length - 1];
      if (op === "remove") delete v[last];
      else v[last] = op.set;
    }
    return [m[1], { set: copy }];
  }

  function distance(a, b) {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      }
    }
    return d[a.length][b.length];
  }

  // The form field a diagnostic belongs to: its own, the one of a key it
  // is a misspelling of (`podSubnett` -> podSubnet: only for a key the spec
  // does not know; `routes` where it does not belong is not `hosts`), or
  // the nearest above.
  function fieldFor(path, code) {
    let p = path || "";
    let misspelt = code === "unknown-field";
    while (p) {
      const id = fieldIds.get(p);
      if (id) return { id, p };
      if (p === "spec.nodes") return { id: null, p };
      const parent = parentPath(p);
      if (!misspelt) {
        p = parent;
        continue;
      }
      misspelt = false;
      const last = p.slice(parent.length).replace(/^\./, "");
      let best = null;
      let bestD = Math.min(3, Math.floor(last.length / 3) + 1);
      for (const [q, qid] of fieldIds) {
        if (!qid || q === p || parentPath(q) !== parent) continue;
        const dd = distance(last, q.slice(parent.length).replace(/^\./, ""));
        if (dd <= bestD) { best = { id: qid, p: q }; bestD = dd; }
      }
      if (best) return best;
      p = parent;
    }
    return { id: null, p: "" };
  }

  // Diagnostics no form field can show: listed in the form, linked from the
  // section navigation.
  function showOrphans(orphans) {
    const box = $("other-problems");
    const nav = $("nav-other-problems");
    if (!box) return;
    const ul = box.querySelector("ul");
    // Rebuilt only when they change (the form is laid out again otherwise).
    const key = JSON.stringify(orphans.map((d) => [d.severity, d.line, d.column, d.path, d.message, d.hint]));
    if (ul.dataset.shown === key) return;
    ul.dataset.shown = key;
    const refocus = keepFocusIn(ul);
    ul.textContent = "";
    for (const d of orphans) {
      const li = document.createElement("li");
      li.className = d.severity;
      // A problem of the secrets or the lock names that file: nothing in
      // the spec to go to.
      const b = document.createElement(d.input ? "strong" : "button");
      if (d.input) b.textContent = d.input;
      else {
        b.type = "button";
        b.textContent = `${d.line ? d.line + ":" + d.column + " " : ""}${d.path || "(document)"}`;
        b.addEventListener("click", () => goToLine(d.line, d.column));
      }
      li.append(b, document.createTextNode(`: ${d.severity === "warning" ? "warning: " : ""}${d.message}${d.hint ? ` (${d.hint})` : ""}`));
      ul.append(li);
    }
    if (!orphans.length) {
      const li = document.createElement("li");
      li.textContent = "None.";
      ul.append(li);
    }
    refocus();
    if (nav) {
      nav.textContent = `Other problems (${orphans.length})`;
      nav.classList.toggle("has-error", orphans.some((d) => d.severity === "error"));
    }
  }

  function otherProblems() {
    const box = document.createElement("section");
    box.id = "other-problems";
    box.setAttribute("aria-labelledby", "other-problems-title");
    const h = document.createElement("h2");
    h.id = "other-problems-title";
    h.textContent = "Problems without a form field";
    const ul = document.createElement("ul");
    ul.className = "problems";
    box.append(h, ul);
    return box;
  }

  // A list of objects (routes, ports, JWT issuers): one row per item, one
  // cell per key, with add and remove.
  function objectTable(f) {
    // A column per key of the items, from the schema.
    const cols = Object.entries(unwrap(schemaAt(f.path).node.items).properties).map(([k, v]) => [k, cap(words(k)), kindOf(v)]);
    const wrap = document.createElement("div");
    wrap.className = "object-table";
    const table = document.createElement("table");
    table.className = "items";
    const caption = document.createElement("caption");
    caption.textContent = f.label;
    table.append(caption);
    const head = document.createElement("tr");
    for (const [, label] of cols) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      head.append(th);
    }
    const thr = document.createElement("th");
    thr.scope = "col";
    thr.innerHTML = "<span class='hint'>Remove</span>";
    head.append(thr);
    const thead = document.createElement("thead");
    thead.append(head);
    table.append(thead);
    const body = document.createElement("tbody");
    const items = getPath(spec, f.path) || [];
    const builtSeq = structSeq;
    items.forEach((item, i) => {
      const tr = document.createElement("tr");
      for (const [key, label, kind] of cols) {
        const td = document.createElement("td");
        td.dataset.label = label;
        const path = `${f.path}[${i}].${key}`;
        const input = document.createElement("input");
        input.type = kind === "checkbox" ? "checkbox" : "text";
        if (kind === "number") input.inputMode = "numeric";
        const id = "f" + idSeq++;
        input.id = id;
        input.dataset.path = path;
        input.dataset.seq = String(structSeq);
        input.dataset.kind = kind;
        input.setAttribute("aria-label", `${f.label} ${i + 1}: ${label}`);
        const err = document.createElement("span");
        err.className = "field-error";
        err.id = id + "-error";
        input.setAttribute("aria-describedby", err.id);
        td.append(input, err);
        tr.append(td);
        fieldIds.set(path, id);
      }
      const td = document.createElement("td");
      td.dataset.label = "";
      const rm = document.createElement("button");
      rm.type = "button";
      rm.textContent = "Remove";
      rm.className = "remove-item";
      // Named with its table: two tables may hold the same kind of item.
      rm.setAttribute("aria-label", `Remove ${f.item} ${i + 1} of ${f.label}`);
      rm.addEventListener("click", async (e) => {
        // The second click of a double-click would remove the next item.
        if (e.detail > 1) return;
        const target = nowPath(`${f.path}[${i}]`, builtSeq);
        if (target === null) return;
        track(flushFormEdits());
        await formEdits([[target, "remove"]]);
        // Focus the row that took its place, else the one before, else Add.
        const addNow = form.querySelector(`button[data-table="${f.path}"]`);
        const buttons = addNow ? addNow.parentElement.querySelectorAll(".remove-item") : [];
        const next = buttons[Math.min(i, buttons.length - 1)] || addNow;
        if (next) next.focus();
      });
      td.append(rm);
      tr.append(td);
      body.append(tr);
    });
    table.append(body);
    const add = document.createElement("button");
    add.type = "button";
    add.textContent = `Add ${f.item}`;
    add.setAttribute("aria-label", `Add ${f.item} to ${f.label}`);
    const addId = "f" + idSeq++;
    add.id = addId;
    add.dataset.table = f.path;
    add.addEventListener("click", async () => {
      await flushFormEdits();
      await formEdits(() => {
        const now = getPath(spec, f.path);
        const list = Array.isArray(now) ? now : [];
        return [[`${f.path}[${list.length}]`, { insert: f.fresh(list) }]];
      });
      const addNow = form.querySelector(`button[data-table="${f.path}"]`);
      const first = addNow && addNow.parentElement.querySelector("tbody tr:last-child input");
      if (first) first.focus();
    });
    const err = document.createElement("div");
    err.className = "field-error";
    err.id = addId + "-error";
    fieldIds.set(f.path, addId);
    wrap.append(table, add, err);
    return wrap;
  }

  $("yaml").addEventListener("input", () => {
    clearTimeout(yamlTimer);
    yamlTimer = setTimeout(() => {
      yamlTimer = null;
      yamlText = $("yaml").value;
      // The YAML is what the user now edits: text the form refused is gone
      // (its fields show the YAML's values again).
      localErrors.clear();
      track(check());
    }, 200);
    showBusy();
  });

  // Each check is numbered; one overtaken by a newer check drops its answer.
  let generation = 0;
  let errorCount = 0;
  let sharedText = null; // the text of the link shown under the toolbar
  let editing = 0; // form edits under way
  let running = 0;
  let loads = 0; // files being read, from disk or from the worker
  // data-busy: an update is waiting (debounce) or running; the end-to-end test waits on it.
  function showBusy() {
    const busy = running > 0 || loads > 0 || editTimer !== null || editing > 0 || yamlTimer !== null || yamlViewTimer !== null;
    document.documentElement.dataset.busy = busy ? "true" : "false";
    // data-working: the worker is validating or rendering.
    document.documentElement.dataset.working = running > 0 ? "true" : "false";
  }

  // The spec, the form and the problems follow the YAML text: a form edit
  // changes the text (edit_yaml) and is checked like typing in the editor.
  // REBUILD: build the form afresh (a spec loaded whole), from the spec as
  // read, else the one before.
  // The worker's validation of TEXT: the boot's, the first time, if it was
  // of this text.
  async function validate(text) {
    const b = boot;
    boot = null;
    const answer = b && (await b.catch(() => null));
    if (!(answer && answer.text === text)) return api.validate(text);
    timings.boot.validation = true;
    return answer.validation;
  }
  async function check(rebuild) {
    // Until the form is built, the check that is current builds it.
    rebuild = rebuild || !formBuilt;
    const mine = ++generation;
    const text = yamlText;
    // The link shown is of the text it was made from only.
    if (sharedText !== null && text !== sharedText) {
      $("share").hidden = true;
      sharedText = null;
    }
    // Undo of a replacement (a file loaded, an example, a link) is offered
    // while the text is the one it put in: what was edited since would be
    // lost by it.
    if (replaced !== null && !replacing && text !== replaced) {
      before = replaced = null;
      $("undo-load").hidden = true;
    }
    showExample(text);
    running++;
    showBusy();
    try {
      autosave(text);
      let start = performance.now();
      const validating = validate(text);
      // A spec loaded whole is rendered by the worker right after it is
      // validated, when it is valid and the worker has the upstream
      // manifests it needs, without waiting for this thread to ask (it may
      // be busy with the page). Typing does not do this: most of its texts
      // are gone before they would be rendered.
      const early = rebuild ? api.render_if_valid(text, secretsText(), lockText()) : null;
      if (early) early.catch(() => {});
      const v = await validating;
      if (mine !== generation) return;
      // Values the spec reads as a default or stand-in, as written.
      if (v.spec) asWritten = new Map(Object.entries(v.asWritten || {}));
      // A valid spec renders at once: the worker renders while this thread
      // brings the form up to date (the upstream manifests it needs load
      // first: their scripts run on this thread).
      let rendering = null;
      if (v.valid) {
        rememberUpstream(text, v.upstream);
        const done = (r) => {
          if (mine === generation) timings.renders.push(performance.now() - start);
          return r;
        };
        const fresh = async () => {
          start = performance.now();
          await giveUpstream(v.upstream);
          if (mine !== generation) return { skipped: true };
          return done(await api.render_summary(text, secretsText(), lockText()));
        };
        // The early render runs if the worker has every manifest the spec
        // needs or is about to (this page knows which it has given, and
        // which are on their way); else this page gives them and asks now,
        // before it builds the form.
        rendering = early && v.upstream.every((c) => given.has(c) || coming.has(c))
          ? early.then((r) => {
            if (r.boot && !r.skipped) timings.boot.render = true;
            return r.skipped ? fresh() : done(r);
          })
          : fresh();
        // Awaited below; a failure is handled there.
        rendering.catch(() => {});
      }
      const parseError = v.spec ? null : v.diagnostics.find((d) => /^yaml/.test(d.code) || d.code === "too-large" || d.code === "not-text");
      if (v.spec) formText = text;
      const broken = parseError || (!v.spec && formText !== text
        ? { unreadable: v.diagnostics.filter((d) => d.severity === "error").length, line: 0, column: 0, message: "" }
        : null);
      // The page opening: its files are shown as soon as they are rendered,
      // then the form is built. Building the form takes this thread for
      // tens of milliseconds (and its first layout as many), which the
      // files waited for; the form waits for them at most 150 ms (a large
      // site renders for longer).
      if (rebuild && rendering && !formBuilt) {
        // (A render that fails is handled below, once the form is there.)
        const first = await Promise.race([rendering.catch(() => null), new Promise((resolve) => setTimeout(() => resolve(null), 150))]);
        if (mine !== generation) return;
        if (first && first.ok && !localErrors.size) {
          showRender(first);
          // The files are drawn before the form is built: building it in
          // the same task kept them off the screen until it was done (in a
          // new tab, 30 to 60 ms). Not longer than 250 ms (a tab in the
          // background draws no frame).
          await nextFrame(250);
          if (mine !== generation) return;
        }
      }
      if (rebuild) {
        nodeStart = 0;
        spec = v.spec || spec || { apiVersion: "meshbundle.dev/v1alpha1", kind: "Site", metadata: { name: "" }, spec: { nodes: [], registry: "" } };
        buildForm();
        fillForm();
        // From navigation start, when the page's form is first there.
        if (timings.formAt === undefined) timings.formAt = performance.now();
      }
      setBroken(broken);
      if (v.spec) spec = v.spec;
      if (spec && !broken) {
        const [nodesNow, ...restNow] = JSON.parse(shapeOf(spec) || "[0]");
        const [, ...restBuilt] = JSON.parse(builtShape || "[0]");
        if (shapeOf(spec) !== builtShape && JSON.stringify(restNow) === JSON.stringify(restBuilt) && form.querySelector("table.nodes tbody")) {
          // Text refused in a node's row: with its node if the form's own
          // edit moved it, else (the YAML changed) it is of no node now.
          const keep = new Map(); // its path now -> [problem, text]
          for (const p of [...localErrors.keys()]) {
            const m = /^spec\.nodes\[(\d+)\](.*)$/s.exec(p);
            if (!m) continue;
            const i = Number(m[1]);
            const input = fieldIds.get(p) ? $(fieldIds.get(p)) : null;
            const typed = refusedText.has(p) ? refusedText.get(p) : input ? input.value : null;
            if (nodeShift && typed !== null && !(nodeShift.by < 0 && i === nodeShift.at)) {
              keep.set(`spec.nodes[${i >= nodeShift.at ? i + nodeShift.by : i}]${m[2]}`, [localErrors.get(p), typed]);
            }
            localErrors.delete(p);
            refusedText.delete(p);
            markLocal(p, "");
          }
          for (const [p, [problem, typed]] of keep) {
            localErrors.set(p, problem);
            refusedText.set(p, typed);
          }
          resizeNodes(nodesNow);
          // Those shown take their text now; the others when shown.
          for (const p of keep.keys()) {
            const input = fieldIds.get(p) ? $(fieldIds.get(p)) : null;
            // (A row the table moved to this node has taken it already.)
            if (!input || !refusedText.has(p)) continue;
            input.value = refusedText.get(p);
            refusedText.delete(p);
            staleRow(p);
          }
          fillForm();
        } else if (shapeOf(spec) !== builtShape) {
          // Text refused in an item of a list (or map) that changed is of no
          // item now; any other keeps its text and problem in the new form.
          const listPaths = ["spec.nodes", ...tablePaths, "spec.tuning.sysctl"];
          const before = JSON.parse(builtShape || "[]");
          const after = JSON.parse(shapeOf(spec) || "[]");
          const changed = listPaths.filter((_, i) => JSON.stringify(before[i]) !== JSON.stringify(after[i]));
          const inChanged = (p) => changed.some((l) => p.startsWith(l + "[") || p.startsWith(l + "."));
          const refusedHere = new Map();
          for (const p of [...localErrors.keys()]) {
            if (inChanged(p)) {
              localErrors.delete(p);
              refusedText.delete(p);
              continue;
            }
            const input = fieldIds.get(p) ? $(fieldIds.get(p)) : null;
            refusedHere.set(p, input ? input.value : refusedText.get(p));
          }
          const active = document.activeElement;
          const focused = active && active.dataset ? active.dataset.path : null;
          const caret = active && active.selectionEnd;
          const typed = active && active.value;
          buildForm();
          // Fill the new fields before the focus returns (fillForm leaves
          // the focused field alone), the caret where it was.
          fillForm();
          for (const [p, text] of refusedHere) {
            const input = fieldIds.get(p) ? $(fieldIds.get(p)) : null;
            if (input && text !== undefined) {
              input.value = text;
              markLocal(p, localErrors.get(p));
            } else if (/^spec\.nodes\[/.test(p) && text !== undefined) {
              // A node not shown: its row takes the text when it is.
              refusedText.set(p, text);
            } else localErrors.delete(p);
          }
          // A button focused (Add image, a Remove): the one with the same
          // name in the new form, else its section's first field or button.
          const label = active && !focused && active.tagName === "BUTTON" && form.contains(active)
            ? active.getAttribute("aria-label") || active.textContent : null;
          const section = label && active.closest("fieldset") ? active.closest("fieldset").dataset.section : null;
          const back = focused && fieldIds.get(focused) && $(fieldIds.get(focused));
          if (label && !document.activeElement.closest("form")) {
            const same = [...form.querySelectorAll("button")].find((b) => (b.getAttribute("aria-label") || b.textContent) === label);
            const near = section && form.querySelector(`fieldset[data-section="${section}"]`);
            const to = same || (near && near.querySelector("input, select, textarea, button"));
            if (to) to.focus();
          }
          if (back) {
            // The text being typed stays as typed (a map's keys are not
            // put in order under the caret).
            if (back.type === "text") {
              back.value = typed;
              staleRow(back.dataset.path);
            }
            back.focus();
            if (back.type === "text" && caret != null) back.setSelectionRange(caret, caret);
          }
        } else if (!rebuild) fillForm();
      }
      const diags = v.diagnostics.slice();
      let r = null;
      if (rendering) {
        r = await rendering;
        if (mine !== generation) return;
        // A bad secrets file or lock is a problem of its own.
        if (!r.ok) diags.push(...(r.diagnostics && r.diagnostics.length ? r.diagnostics : [{ severity: "error", path: "", message: r.error.replace(/^(secrets|lock): /, ""), hint: inputHint(r.error), input: inputOf(r.error) }]));
      }
      // Text the form refuses (as it is now) is a problem too: it is not in
      // the YAML.
      for (const [path, message] of localErrors) {
        diags.push({ severity: "error", code: "form", path, message, hint: "", line: 0, column: 0 });
      }
      showDiagnostics(diags);
      errorCount = diags.filter((d) => d.severity === "error").length;
      if (r && r.ok && !localErrors.size) showRender(r);
      else markStale();
    } catch (e) {
      // A file of the page could not be loaded, or the module failed on this
      // input (the worker has been started again).
      if (mine === generation) {
        showDiagnostics([dead
          ? { severity: "error", path: "", message: dead.message, hint: "reload the page" }
          : e instanceof PageFileError
            ? { severity: "error", path: "", message: `this spec needs a file the page's folder lacks: ${e.message}`, hint: "copy the whole of web/dist, or build it again with web/build.sh" }
            : { severity: "error", path: "", message: `the configurator's module failed on this spec (${e.message}) and was started again`, hint: "change the spec; meshbundle validate shows what the CLI makes of it" }]);
        errorCount = 1;
        markStale();
      }
    } finally {
      running--;
      if (mine === generation) timings.updates++;
      showBusy();
    }
  }

  function inputHint(error) {
    if (/^lock:|\block\b/.test(error)) return "load the meshbundle.lock that meshbundle lock wrote for this spec, or clear the lock";
    if (/^secrets:|site secrets/.test(error)) return "load the site.secrets.yaml meshbundle secrets wrote for this site, or clear the secrets";
    return "";
  }
  // The file a problem of the render is in: the secrets or the lock (not the
  // spec), or null.
  function inputOf(error) {
    if (/^secrets:|site secrets/.test(error) && secrets) return `Secrets file ${secrets.name}`;
    if (/^lock:|\block\b/.test(error) && lock) return `Lock ${lock.name}`;
    return null;
  }

  // What the form shows of the problems: each is changed only where it
  // changes (a large site has thousands of fields, and a text changed inside
  // the nodes table lays the whole table out again).
  const shownErrors = new Set(); // the field error elements with text
  const shownInvalid = new Set(); // the fields marked aria-invalid
  let shownProblems = null; // what the Problems list shows
  let lastDiags = null; // what it was last given
  // Before LIST (of problems) is made again: a function that gives the
  // focus back to the button at the same place in it (or the last one, or
  // the list itself), if the focus was in it. Rebuilt under the focus, the
  // list sent it to the page's body.
  function keepFocusIn(list) {
    const active = document.activeElement;
    if (!active || !list.contains(active)) return () => {};
    const at = [...list.querySelectorAll("button")].indexOf(active);
    return () => {
      const buttons = list.querySelectorAll("button");
      const to = buttons[Math.min(Math.max(at, 0), buttons.length - 1)];
      if (to) return to.focus();
      list.tabIndex = -1;
      list.focus();
    };
  }

  function showDiagnostics(diags) {
    lastDiags = diags;
    offPageProblems = [];
    const errorText = new Map(); // error element -> its text
    const invalid = new Set();
    const navErrors = new Set();
    const list = $("yaml-problems");
    // The list is rebuilt only when the problems change.
    const listKey = JSON.stringify(diags.map((d) => [d.severity, d.line, d.column, d.path, d.message, d.hint]));
    const rebuild = listKey !== shownProblems;
    shownProblems = listKey;
    const refocus = rebuild ? keepFocusIn(list) : () => {};
    if (rebuild) list.textContent = "";
    const focused = document.activeElement;
    let announce = "";
    const orphans = [];
    for (const d of diags) {
      // The field itself, the one of a key it misspells, or the nearest above.
      const { id, p } = fieldFor(d.path, d.code);
      const target = id ? $(id) : null;
      const errEl = target ? $(target.id + "-error") : p === "spec.nodes" ? $("nodes-error") : null;
      if (!errEl) orphans.push(d);
      // A node not on the page shown: its number says which.
      const node = !target && p === "spec.nodes" && /^spec\.nodes\[(\d+)\]\.?/.exec(d.path || "");
      if (node) {
        const i = Number(node[1]);
        if (i < nodeStart || i >= nodeStart + NODE_PAGE) offPageProblems.push(i);
      }
      const textOf = (node ? `Node ${Number(node[1]) + 1}${d.path.length > node[0].length ? " " + d.path.slice(node[0].length) : ""}: ` : "") +
        (d.severity === "warning" ? "Warning: " : "") + d.message + (d.hint ? " (" + d.hint + ")" : "");
      if (errEl) {
        const before = errorText.get(errEl);
        // The problems of nodes not shown stand one to a line.
        errorText.set(errEl, before ? before + (errEl.id === "nodes-error" ? "\n" : " ") + textOf : textOf);
        if (target && d.severity === "error") invalid.add(target);
        if (target && target === focused) announce += (announce ? " " : "") + textOf;
        const fs = errEl.closest("fieldset");
        if (fs && d.severity === "error") navErrors.add(fs.dataset.section);
      }
      if (!rebuild) continue;
      const li = document.createElement("li");
      li.className = d.severity;
      const where = d.line ? `${d.line}:${d.column} ` : "";
      // A problem of the secrets or the lock names that file: nothing in
      // the spec to go to.
      const b = document.createElement(d.input ? "strong" : "button");
      if (d.input) b.textContent = d.input;
      else {
        b.type = "button";
        b.textContent = `${where}${d.path || "(document)"}`;
        b.addEventListener("click", () => goToLine(d.line, d.column));
      }
      li.append(b, document.createTextNode(`: ${d.severity === "warning" ? "warning: " : ""}${d.message}${d.hint ? ` (${d.hint})` : ""}`));
      list.append(li);
    }
    if (!diags.length && rebuild) {
      const li = document.createElement("li");
      li.textContent = "No problems.";
      list.append(li);
    }
    refocus();
    // Text the form refused shows its own message.
    for (const [path, msg] of localErrors) {
      const id = fieldIds.get(path);
      const el = id ? $(id + "-error") : null;
      if (!el) continue;
      errorText.set(el, msg);
      const input = $(id);
      if (input && input.dataset.path) invalid.add(input);
    }
    for (const el of shownErrors) if (!errorText.has(el)) el.textContent = "";
    shownErrors.clear();
    for (const [el, t] of errorText) {
      if (el.textContent !== t) el.textContent = t;
      shownErrors.add(el);
    }
    for (const el of shownInvalid) if (!invalid.has(el)) el.removeAttribute("aria-invalid");
    shownInvalid.clear();
    for (const el of invalid) {
      if (el.getAttribute("aria-invalid") !== "true") el.setAttribute("aria-invalid", "true");
      shownInvalid.add(el);
    }
    for (const a of document.querySelectorAll("nav a[data-section]")) {
      const on = navErrors.has(a.dataset.section);
      if (a.classList.contains("has-error") !== on) a.classList.toggle("has-error", on);
    }
    showOrphans(orphans);
    updatePager(nodeCount());
    // The focused field's own errors are read out as they appear.
    if ($("announce").textContent !== announce) $("announce").textContent = announce;
  }

  function goToLine(line, column) {
    if (folded()) openYaml();
    // The text the editor is about to show, so the caret lands on its line.
    catchUpYaml();
    const ta = $("yaml");
    if (!line) return ta.focus();
    const lines = ta.value.split("\n");
    let pos = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    pos += Math.max(0, (column || 1) - 1);
    ta.focus();
    ta.setSelectionRange(pos, pos);
  }

  // The downloads of the files (the tar, and the viewer's Copy and Download
  // file) are marked off, not disabled, while there is nothing current to
  // give: a disabled button ignores a click, and a click that comes right
  // after a fix, before its check (debounced), would be lost. A click on one
  // marked off waits for the pending check, and goes ahead if the spec is
  // valid by then; else it says why not.
  function setOff(id, off) {
    if (off) $(id).setAttribute("aria-disabled", "true");
    else $(id).removeAttribute("aria-disabled");
  }
  const isOff = (id) => $(id).getAttribute("aria-disabled") === "true";

  // While the spec has errors the files shown are those of the last valid
  // spec: say so, and say why nothing can be downloaded.
  function markStale() {
    keepModuleOnce();
    const why = `${errorCount} error${errorCount === 1 ? "" : "s"}, see Problems`;
    for (const id of ["download-tar", "copy-file", "download-file"]) setOff(id, true);
    const reason = $("tar-reason");
    reason.textContent = "";
    const a = document.createElement("a");
    a.href = "#yaml-problems";
    a.textContent = why;
    reason.append(a);
    $("preview").classList.add("stale");
    const note = $("stale");
    note.hidden = false;
    note.textContent = lastRender
      ? `Out of date: these are the files of the last valid spec (${why}).`
      : `Nothing rendered yet (${why}).`;
    status(`${why}: the files are not rendered until ${errorCount === 1 ? "it is" : "they are"} fixed`);
  }

  // JSON text of one line (the module's schema) laid out as `meshbundle
  // schema` prints it: two spaces an indent, `{}` and `[]` when empty, a
  // line break at the end. The tokens stay as written (1.0 stays 1.0).
  function layOut(json) {
    let out = "";
    let depth = 0;
    const nl = () => "\n" + "  ".repeat(depth);
    for (let i = 0; i < json.length; i++) {
      const c = json[i];
      if (c === '"') {
        let j = i + 1;
        while (json[j] !== '"') j += json[j] === "\\" ? 2 : 1;
        out += json.slice(i, j + 1);
        i = j;
      } else if ((c === "{" || c === "[") && json[i + 1] === (c === "{" ? "}" : "]")) {
        out += c + json[++i];
      } else if (c === "{" || c === "[") {
        depth++;
        out += c + nl();
      } else if (c === "}" || c === "]") {
        depth--;
        out += nl() + c;
      } else out += c === "," ? "," + nl() : c === ":" ? ": " : c;
    }
    return out + "\n";
  }

  // Resolves once the browser has drawn its next frame, or after MS if it
  // draws none by then.
  function nextFrame(ms) {
    return new Promise((resolve) => {
      const late = setTimeout(resolve, ms);
      requestAnimationFrame(() => setTimeout(() => { clearTimeout(late); resolve(); }, 0));
    });
  }

  function showRender(r) {
    const ms = timings.renders[timings.renders.length - 1] || 0;
    // firstRender: from the start of app.js; firstRenderAt: from navigation start.
    if (timings.firstRender === null) {
      timings.firstRenderAt = performance.now();
      timings.firstRender = timings.firstRenderAt - t0;
      // And when they are on the screen: after the next frame.
      nextFrame(1000).then(() => { timings.filesOnScreenAt = performance.now(); });
    }
    keepModuleOnce();
    const listChanged = !lastRender || lastRender.files.length !== r.files.length ||
      lastRender.files.some((f, i) => f.path !== r.files[i].path);
    lastRender = r;
    setOff("download-tar", false);
    $("tar-reason").textContent = "";
    $("preview").classList.remove("stale");
    $("stale").hidden = true;
    $("digest").textContent = `${r.files.length} files, ${r.total_bytes} bytes, tree digest ${r.digest} (rendered in ${ms.toFixed(1)} ms)`;
    if (!r.files.some((f) => f.path === selected)) selected = "README.md";
    if (listChanged) buildTree(r);
    else updateTree(r);
    showFile();
    const notes = [];
    if (!secrets) notes.push("no secrets file: join configurations and certificates are left out");
    if (!lock) notes.push("no lock: images by tag");
    status(`valid; ${r.files.length} files rendered` + (notes.length ? ` (${notes.join("; ")})` : ""));
  }

  function treeLabel(f) {
    return `${f.changed ? "● " : ""}${f.path}  (${f.mode.toString(8)}, ${f.size} B)`;
  }
  // The file list made to hold R's files: the items of the paths before and
  // after those that changed stay as they are (at 2,000 nodes the list has
  // thousands of files, and a node added changes a few).
  // What each item of the file list shows, in order: {path, label, changed,
  // current}. The list is compared with this rather than read back (at
  // 2,000 nodes it has thousands of items, and reading each at every render
  // took tens of milliseconds).
  let listed = [];
  function buildTree(r) {
    const tree = $("tree");
    const items = [...tree.children];
    const paths = r.files.map((f) => f.path);
    let pre = 0;
    while (pre < listed.length && pre < paths.length && listed[pre].path === paths[pre]) pre++;
    let post = 0;
    while (post < listed.length - pre && post < paths.length - pre && listed[listed.length - 1 - post].path === paths[paths.length - 1 - post]) post++;
    for (const li of items.slice(pre, listed.length - post)) li.remove();
    const frag = document.createDocumentFragment();
    const made = [];
    for (const path of paths.slice(pre, paths.length - post)) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.file = path;
      li.append(b);
      frag.append(li);
      made.push({ path, label: null, changed: false, current: false });
    }
    tree.insertBefore(frag, post ? items[listed.length - post] : null);
    listed = [...listed.slice(0, pre), ...made, ...listed.slice(listed.length - post)];
    updateTree(r);
  }
  // Each item shows its file's label, mark and whether it is the current one;
  // only the items that change are touched.
  function updateTree(r) {
    const tree = $("tree");
    r.files.forEach((f, i) => {
      const was = listed[i];
      const label = treeLabel(f);
      const current = f.path === selected;
      if (was.label === label && was.changed === f.changed && was.current === current) return;
      const b = tree.children[i].firstChild;
      if (was.label !== label) b.textContent = label;
      if (was.changed !== f.changed) b.classList.toggle("changed", f.changed);
      if (was.current !== current) {
        if (current) b.setAttribute("aria-current", "true");
        else b.removeAttribute("aria-current");
      }
      listed[i] = { path: f.path, label, changed: f.changed, current };
    });
  }
  $("tree").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-file]");
    if (!b) return;
    selected = b.dataset.file;
    if (lastRender) updateTree(lastRender);
    showFile();
  });

  // Line diff (longest common subsequence), for the viewer's "changes since
  // the last download". Files too large for it are shown whole.
  function diffLines(a, b) {
    const x = a.split("\n");
    const y = b.split("\n");
    let s = 0;
    while (s < x.length && s < y.length && x[s] === y[s]) s++;
    let e = 0;
    while (e < x.length - s && e < y.length - s && x[x.length - 1 - e] === y[y.length - 1 - e]) e++;
    const xs = x.slice(s, x.length - e);
    const ys = y.slice(s, y.length - e);
    if (xs.length * ys.length > 4e6) return null;
    const n = xs.length, m = ys.length;
    const t = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) t[i][j] = xs[i] === ys[j] ? t[i + 1][j + 1] + 1 : Math.max(t[i + 1][j], t[i][j + 1]);
    const out = x.slice(0, s).map((l) => [" ", l]);
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xs[i] === ys[j]) { out.push([" ", xs[i]]); i++; j++; }
      // A line taken out comes before the line put in its place, as diff
      // writes them.
      else if (i < n && (j === m || t[i + 1][j] >= t[i][j + 1])) { out.push(["-", xs[i]]); i++; }
      else { out.push(["+", ys[j]]); j++; }
    }
    return out.concat(x.slice(x.length - e).map((l) => [" ", l]));
  }

  // The viewer asks the worker for the selected file (the page holds only the list).
  let shown = 0;
  let viewerText = ""; // the viewer's text when it is plain text, else null
  async function showFile() {
    const mine = ++shown;
    const meta = lastRender && lastRender.files.find((x) => x.path === selected);
    loads++;
    showBusy();
    let f = null;
    try {
      f = meta ? await api.file_text(selected, lastRender.id) : null;
    } finally {
      loads--;
      showBusy();
    }
    if (mine !== shown) return;
    const title = f ? selected : "Select a file";
    if ($("viewer-title").textContent !== title) $("viewer-title").textContent = title;
    const viewer = $("viewer");
    // Text the viewer shows already is left alone (every update shows the
    // selected file again, most often unchanged).
    const showText = (t) => {
      if (viewerText === t) return;
      viewerText = t;
      if (t.length < 65536) return void (viewer.textContent = t);
      // A large file (the README of a large site) in parts of 200 lines,
      // each laid out only once it scrolls into view.
      viewer.textContent = "";
      const lines = t.split("\n");
      for (let i = 0; i < lines.length; i += 200) {
        const part = document.createElement("span");
        part.className = "part";
        part.textContent = lines.slice(i, i + 200).join("\n") + (i + 200 < lines.length ? "\n" : "");
        viewer.append(part);
      }
    };
    for (const id of ["copy-file", "download-file"]) setOff(id, !f || $("preview").classList.contains("stale"));
    // A secret file (a key, the join token: mode 0600) is shown only when
    // asked for, file by file: a page on screen is seen by others.
    const secret = !!(f && meta.mode === 0o600);
    $("reveal-file").hidden = !secret || revealed === selected;
    if (!f) return showText("");
    if (f.text === null) return showText(`(${meta.size} bytes of binary data)`);
    if (secret && revealed !== selected) return showText(`(a secret file, mode 0600, ${meta.size} bytes: not shown. Download file and Copy take it; "Show this secret file" shows it here.)`);
    if (!$("show-diff").checked) return showText(f.text);
    if (f.before === undefined) return showText("(nothing downloaded yet in this session)\n" + f.text);
    if (f.before === f.text) return showText("(unchanged since the last download)\n" + f.text);
    const d = f.before === null ? f.text.split("\n").map((l) => ["+", l]) : diffLines(f.before, f.text);
    if (!d) return showText("(too large to compare; shown whole)\n" + f.text);
    viewerText = null;
    viewer.textContent = "";
    const frag = document.createDocumentFragment();
    for (const [op, line] of d) {
      const el = document.createElement(op === "+" ? "ins" : op === "-" ? "del" : "span");
      el.textContent = `${op} ${line}` + (op === " " ? "\n" : "");
      frag.append(el);
    }
    viewer.append(frag);
  }
  $("show-diff").addEventListener("change", showFile);
  // The secret file shown on request (see showFile), until another is selected.
  let revealed = null;
  $("reveal-file").addEventListener("click", async () => {
    revealed = selected;
    await showFile();
    $("viewer").focus();
  });

  // ------------------------------------------------------------ load and download

  function download(name, data, type) {
    const url = URL.createObjectURL(new Blob([data], { type }));
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function copyText(t, what) {
    try {
      await navigator.clipboard.writeText(t);
      status(`${what} copied`);
      return true;
    } catch {
      return false;
    }
  }

  $("download-spec").addEventListener("click", async () => {
    await flush();
    download("meshbundle.yaml", asFile(yamlText), "application/yaml");
  });
  $("download-schema").addEventListener("click", () => {
    download("meshbundle.schema.json", layOut(schemaText), "application/schema+json");
  });
  $("download-tar").addEventListener("click", async () => {
    await flush();
    if (isOff("download-tar")) {
      status(`Nothing to download: ${$("tar-reason").textContent || "the spec is not rendered"}`);
      return;
    }
    const text = yamlText;
    const r = await api.render_tar_gz(text, secretsText(), lockText());
    if (r instanceof Uint8Array) {
      const name = (spec && spec.metadata && spec.metadata.name) || "site";
      download(`${name}-config.tar.gz`, r, "application/gzip");
      await api.mark_download(lastRender && lastRender.id);
      if (lastRender) {
        for (const f of lastRender.files) f.changed = false;
        updateTree(lastRender);
        await showFile();
      }
    } else {
      status(r.error);
    }
  });
  // A file of the last render, once pending edits are in; none while the
  // files are out of date (the spec has errors).
  async function currentFile() {
    await flush();
    if ($("preview").classList.contains("stale")) {
      status(`The files are out of date: ${$("tar-reason").textContent}`);
      return null;
    }
    const f = lastRender ? await api.file_text(selected, lastRender.id) : null;
    if (!f) {
      status(lastRender ? `${selected} is not among the files rendered: select a file in the list` : "Nothing is rendered yet");
      return null;
    }
    // (The renderers write text only; a file that is not UTF-8 would be in
    // the .tar.gz whole, and is not copied or saved here as empty text.)
    if (f.text === null) {
      status(`${selected} is not text: it is in the .tar.gz (Download config .tar.gz)`);
      return null;
    }
    return f;
  }
  $("copy-file").addEventListener("click", async () => {
    const f = await currentFile();
    if (f && !(await copyText(f.text, selected))) status("The browser did not allow copying: select the text in the viewer");
  });
  $("download-file").addEventListener("click", async () => {
    const f = await currentFile();
    // The path in the name: each node has a bootstrap.sh of its own.
    if (f) download(selected.replace(/\//g, "_"), f.text, "text/plain");
  });

  function readFile(input, then) {
    input.addEventListener("change", () => {
      const f = input.files && input.files[0];
      if (!f) return;
      loads++;
      showBusy();
      // The bytes, read as UTF-8 text: a file that is not (Latin-1, UTF-16)
      // is refused, as the CLI refuses it, rather than changed.
      f.arrayBuffer().then((bytes) => {
        input.value = "";
        let t;
        try {
          // (A byte order mark is kept: a spec goes back with it.)
          t = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
        } catch {
          status(`${f.name} is not UTF-8 text: nothing was loaded (save it as UTF-8)`);
          return undefined;
        }
        return then(t, f.name, new Uint8Array(bytes));
      })
        .catch((e) => status(`${f.name} could not be read: ${e.message || e}`))
        .finally(() => { loads--; showBusy(); });
    });
  }
  // The file's SHA-256 (of its bytes, as sha256sum gives it), shortened.
  async function fingerprint(bytes) {
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return "sha256:" + Array.from(d.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  // What the page shows of a loaded secrets file or lock. The site is read
  // from the file's own `site:` line (a secrets file has one).
  async function describe(t, name, bytes) {
    // (Read as the CLI reads it: without a byte order mark.)
    t = t.replace(/^\ufeff/, "");
    const m = t.match(/^site:[ \t]*(["']?)([A-Za-z0-9.-]{1,63})\1[ \t]*(#.*)?$/m);
    return { text: t, name, site: m ? m[2] : null, fingerprint: await fingerprint(bytes) };
  }
  function showLoaded() {
    const line = (x, none) => x ? `${x.name}${x.site ? `, site ${x.site}` : ""}, ${x.fingerprint}` : none;
    $("secrets-info").textContent = line(secrets, "No secrets file");
    $("lock-info").textContent = line(lock, "No lock");
    $("clear-secrets").hidden = !secrets;
    $("clear-lock").hidden = !lock;
  }
  readFile($("load-spec"), async (t, name) => {
    if (holdsSecrets(t)) {
      status(`${name} holds secrets: nothing was loaded as the spec (load a secrets file with Secrets file…)`);
      return;
    }
    await replaceText(...lineEndsOf(t), `load ${name}`);
    status(`loaded ${name}: ` + (errorCount ? `${errorCount} error${errorCount === 1 ? "" : "s"}, see Problems` : "no errors"));
  });
  readFile($("load-secrets"), async (t, name, bytes) => {
    await flush();
    secrets = await describe(t, name, bytes);
    showLoaded();
    await track(check());
  });
  readFile($("load-lock"), async (t, name, bytes) => {
    await flush();
    lock = await describe(t, name, bytes);
    showLoaded();
    await track(check());
  });
  $("clear-secrets").addEventListener("click", async () => {
    secrets = null;
    showLoaded();
    $("load-secrets").focus();
    await track(check());
  });
  $("clear-lock").addEventListener("click", async () => {
    lock = null;
    showLoaded();
    $("load-lock").focus();
    await track(check());
  });

  // The choice shows the example the text is, or "(your spec)" (which
  // cannot be chosen), so that any example can be chosen again.
  {
    const own = document.createElement("option");
    own.value = "";
    own.textContent = "(your spec)";
    own.disabled = true;
    $("example").append(own);
  }
  for (const ex of examples) {
    const o = document.createElement("option");
    o.value = ex.name;
    o.textContent = `${ex.name}: ${ex.description}`;
    $("example").append(o);
  }
  function showExample(t) {
    const ex = examples.find((x) => x.text === t);
    const want = ex ? ex.name : "";
    if ($("example").value !== want) $("example").value = want;
  }
  // Starting from an example (or loading a file) replaces the text: one
  // click brings back the text before (a select changes as the arrow keys
  // move over it).
  let before = null;
  // The text the last replacement put in: while the editor still holds it,
  // another replacement (the next example under the arrow keys) keeps the
  // text from before the first, which Undo brings back.
  let replaced = null;
  let beforeEnd = "\n"; // the line ends of the text before
  let replacing = false; // a replacement's own check is under way
  async function replaceText(t, end, what) {
    await flush();
    const prev = editorText();
    const prevEnd = lineEnd;
    lineEnd = end;
    replacing = true;
    try {
      await loadText(t);
    } finally {
      replacing = false;
    }
    if (prev !== t) {
      if (!(before !== null && prev === replaced)) {
        before = prev;
        beforeEnd = prevEnd;
      }
      replaced = t;
      $("undo-load").hidden = false;
      $("undo-load").textContent = `Undo ${what}`;
    }
  }
  $("undo-load").addEventListener("click", async () => {
    const t = before;
    before = replaced = null;
    $("undo-load").hidden = true;
    lineEnd = beforeEnd;
    if (t !== null) await loadText(t);
    // The editor, or the button that opens it when a large spec is folded.
    ($("yaml-toggle").hidden || $("yaml").offsetParent !== null ? $("yaml") : $("yaml-toggle")).focus();
  });
  $("example").addEventListener("change", () => {
    const ex = examples.find((x) => x.name === $("example").value);
    if (ex) replaceText(ex.text, "\n", `start from ${ex.name}`);
  });

  async function loadText(t) {
    // A form edit under way finishes on the text it started from first.
    await editChain;
    clearTimeout(editTimer);
    clearTimeout(yamlTimer);
    editTimer = yamlTimer = null;
    pendingEdits.clear();
    localErrors.clear();
    yamlText = t;
    // A spec loaded whole starts with the editor as its size has it.
    yamlOpen = null;
    showYaml(t, true);
    await track(check(true));
  }

  // ------------------------------------------------------------ remember and share

  const SAVE_KEY = early.keys.spec;
  // The line ends of the file the spec came from: the editor holds "\n"
  // only (a textarea turns "\r\n" into "\n"); a file that had "\r\n" gets
  // them back wherever it leaves the page (download, autosave, link).
  let lineEnd = "\n";
  // A file's text as the editor holds it, and its line ends (and its byte
  // order mark, if it had one: lineEndsOf).
  const asFile = (t) => (lineEnd[0] === "\ufeff" ? "\ufeff" : "") + (lineEnd.endsWith("\r\n") ? t.replace(/\n/g, "\r\n") : t);
  // Text that holds secrets (a secrets file, a private key) is never saved
  // in the browser nor put in a link, wherever it came from.
  // (A byte order mark before `kind:` hides nothing.)
  const holdsSecrets = (t) => /^\ufeff?kind:[ \t]*["']?SiteSecrets\b/m.test(t) || /-----BEGIN [A-Z ]*PRIVATE KEY-{5}/.test(t);
  // Another tab saved its spec since this one did: this tab's is saved again
  // as it goes (a reload shows each tab its own spec).
  let otherTabSaved = false;
  window.addEventListener("storage", (e) => {
    if (e.key === SAVE_KEY) otherTabSaved = true;
  });
  // Form edits not yet made to the saved text: {key: textKey of that text,
  // edits: [[path, op], ...]}, made to it when the page opens it again.
  const PENDING_KEY = "meshbundle.pending";
  function autosave(t) {
    if (holdsSecrets(t)) return;
    otherTabSaved = false;
    try {
      localStorage.setItem(SAVE_KEY, asFile(t));
      localStorage.removeItem(PENDING_KEY);
    } catch { /* storage full or refused: nothing to keep */ }
  }
  // Text typed and not yet checked (the check saves it) is saved as the tab
  // goes away or out of sight, so a reload right after typing keeps it; so
  // are form edits not yet made to the text (typed within the debounce, or
  // on their way through the worker).
  const saveNow = () => {
    // (Add node's are made now, from the spec as the form has it.)
    const made = (e) => { try { return typeof e === "function" ? e() : e; } catch { return []; } };
    const edits = [...[...unapplied].flatMap(made), ...pendingEdits];
    if (editorText() !== yamlText || yamlTimer !== null || edits.length || otherTabSaved) autosave(editorText());
    if (edits.length) {
      try { localStorage.setItem(PENDING_KEY, JSON.stringify({ key: textKey(editorText()), edits })); } catch { /* nothing to keep */ }
    }
  };
  // The form edits saved with text T, once: [] if none.
  function pendingFor(t) {
    try {
      const p = JSON.parse(localStorage.getItem(PENDING_KEY) || "null");
      localStorage.removeItem(PENDING_KEY);
      if (p && p.key === textKey(t) && Array.isArray(p.edits) && p.edits.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === "string")) return p.edits;
    } catch { /* none */ }
    return [];
  }
  window.addEventListener("pagehide", saveNow);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") saveNow(); });
  function saved() {
    try { return localStorage.getItem(SAVE_KEY); } catch { return null; }
  }

  const b64url = (bytes) => {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const fromB64url = (s) => b64ToBytes(s.replace(/-/g, "+").replace(/_/g, "/"));
  async function pipe(bytes, stream) {
    return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());
  }
  async function encodeSpec(t) {
    return b64url(await pipe(new TextEncoder().encode(t), new CompressionStream("deflate-raw")));
  }
  // A link is hostile input: its spec is inflated to at most LINK_MAX bytes.
  const LINK_MAX = 4 << 20;
  async function decodeSpec(s) {
    const reader = new Blob([fromB64url(s)]).stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader();
    const parts = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > LINK_MAX) {
        await reader.cancel();
        throw new Error(`the link's spec is larger than ${LINK_MAX} bytes`);
      }
      parts.push(value);
    }
    // (A byte order mark is kept: the spec opens with it, as it was shared.)
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(await new Blob(parts).arrayBuffer());
  }

  $("copy-link").addEventListener("click", async () => {
    await flush();
    if (holdsSecrets(yamlText)) {
      $("share").hidden = true;
      status("This text holds secrets (a private key or a secrets file): it is not put in a link");
      return;
    }
    const url = location.href.replace(/#.*$/, "") + "#spec=" + (await encodeSpec(asFile(yamlText)));
    $("share").hidden = false;
    $("share-link").value = url;
    sharedText = yamlText;
    if (!(await copyText(url, "Link"))) {
      $("share-link").focus();
      $("share-link").select();
      status("Copy the link shown under the toolbar (the browser did not allow copying)");
    }
  });

  // The spec of a shared link (#spec=...), or null. The fragment has done its
  // work once read: it is dropped, so a reload shows the autosave.
  async function fromLink() {
    linkProblem = null;
    const m = location.hash.match(/^#spec=(.*)$/s);
    if (!m) return null;
    if (!/^[A-Za-z0-9_-]+$/.test(m[1])) {
      history.replaceState(null, "", location.href.replace(/#.*$/, ""));
      linkProblem = "The link's spec could not be read (not a link this page wrote): nothing was changed";
      return null;
    }
    history.replaceState(null, "", location.href.replace(/#.*$/, ""));
    try {
      return await decodeSpec(m[1]);
    } catch (e) {
      linkProblem = /larger than/.test(String(e && e.message))
        ? `The link's spec is larger than ${LINK_MAX} bytes, more than a spec can be: nothing was changed`
        : "This link is incomplete or damaged (it may have been cut off when copied): nothing was changed";
      return null;
    }
  }
  window.addEventListener("hashchange", async () => {
    const t = await fromLink();
    if (t !== null) {
      await replaceText(...lineEndsOf(t), "open link");
      status(`Opened the spec of the link: ${errorCount ? `${errorCount} error${errorCount === 1 ? "" : "s"}, see Problems` : "no errors"} (Undo brings back the spec before)`);
    } else if (linkProblem) status(linkProblem);
  });

  // An in-page link (Skip to the form, a section, "see Problems") moves the
  // focus to its target as well as the view, so that Tab goes on from there.
  document.addEventListener("click", (e) => {
    const a = e.target instanceof Element ? e.target.closest('a[href^="#"]') : null;
    if (!a || e.defaultPrevented || /^#spec=/.test(a.getAttribute("href"))) return;
    const target = document.getElementById(a.getAttribute("href").slice(1));
    if (!target) return;
    if (!target.matches("a[href], button, input, select, textarea, [tabindex]")) target.setAttribute("tabindex", "-1");
    setTimeout(() => target.focus(), 0);
  });

  // The spec to start from: a shared link, else the autosave, else the first example.
  let linkProblem = null;
  const fromLinkText = await fromLink();
  const savedText = saved();
  const [opened, openedEnd] = lineEndsOf(fromLinkText !== null ? fromLinkText : savedText !== null ? savedText : examples[0].text);
  const linked = fromLinkText === null ? null : opened;
  lineEnd = openedEnd;
  const unsaved = linked === null ? pendingFor(opened) : [];
  // A link replaces the spec saved here (the check saves the link's): Undo
  // brings that one back.
  // (As the editor holds it: without a byte order mark, which beforeEnd says.)
  const kept = linked !== null && savedText !== null ? lineEndsOf(savedText)[0].replace(/\r\n/g, "\n") : null;
  await loadText(opened);
  if (unsaved.length) await formEdits(unsaved);
  if (linkProblem) status(linkProblem);
  if (kept !== null && kept !== linked) {
    before = kept;
    beforeEnd = lineEndsOf(savedText)[1];
    replaced = linked;
    $("undo-load").hidden = false;
    $("undo-load").textContent = "Undo open link";
    status(`Opened the spec of the link: ${errorCount ? `${errorCount} error${errorCount === 1 ? "" : "s"}, see Problems` : "no errors"} (Undo brings back the spec saved in this browser)`);
  }
  document.documentElement.dataset.ready = "true";
})().catch((e) => {
  const show = () => { document.getElementById("status").textContent = "The configurator could not start: " + e; };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show, { once: true });
  else show();
  throw e;
});
