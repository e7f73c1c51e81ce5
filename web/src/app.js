// meshbundle configurator: a form and a YAML view of one site spec, kept in
// sync, validated at every change and rendered to the install's files by
// meshbundle-core in WebAssembly. Nothing here reaches the network.
"use strict";

(async function main() {
  const t0 = performance.now();
  const $ = (id) => document.getElementById(id);
  const status = (msg) => { $("status").textContent = msg; };

  function b64ToBytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  await wasm_bindgen({ module_or_path: b64ToBytes(self.MESHBUNDLE_WASM) });
  const mb = wasm_bindgen;
  // Every call into the module is awaited through `api`, so the module can
  // move to a Web Worker without touching the callers.
  const api = self.meshbundleApi || new Proxy({}, { get: (_, name) => async (...args) => mb[name](...args) });
  const renderer = new mb.Renderer(self.MESHBUNDLE_UPSTREAM);
  $("version").textContent = "v" + (await api.version());

  // ------------------------------------------------------------ state

  let spec = null;          // the spec as an object (what the form edits)
  let yamlText = "";        // the spec as YAML (what is validated, rendered, downloaded)
  let secretsText = null;   // optional site.secrets.yaml
  let lockText = null;      // optional meshbundle.lock
  let lastRender = null;
  let selected = "README.md";
  const timings = (window.meshbundleTimings = { firstRender: null, renders: [] });

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

  // ------------------------------------------------------------ the form

  // Sections follow the install: cluster, nodes, Istio, gateways, security,
  // observability, HA and traffic, tuning.
  const enums = {
    cni: ["flannel", "calico"], proxyMode: ["iptables", "ipvs", "nftables"], arch: ["amd64", "arm64"],
    mtls: ["STRICT", "PERMISSIVE"], outbound: ["REGISTRY_ONLY", "ALLOW_ANY"],
    svc: ["LoadBalancer", "NodePort", "ClusterIP"], etp: ["", "Local", "Cluster"],
    tls: ["TLSV1_2", "TLSV1_3"], logLevel: ["trace", "debug", "info", "warning", "error", "critical", "off"],
    keyType: ["ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"], kubeadmApi: ["", "v1beta3", "v1beta4"],
    lbProvider: ["", "metallb", "existing"],
  };
  const text = (path, label, help) => ({ path, label, help, type: "text" });
  const num = (path, label, help) => ({ path, label, help, type: "number" });
  const bool = (path, label, help) => ({ path, label, help, type: "checkbox" });
  const pick = (path, label, options, help) => ({ path, label, help, type: "select", options });
  const list = (path, label, help) => ({ path, label, help, type: "list" });
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
    pick(`spec.istio.${g}.service.type`, "Service type", enums.svc),
    pick(`spec.istio.${g}.service.externalTrafficPolicy`, "External traffic policy", enums.etp, "Local keeps client addresses (LoadBalancer/NodePort only)"),
    text(`spec.istio.${g}.service.loadBalancerIP`, "Load balancer address", "LoadBalancer only; with MetalLB, inside its pool"),
    list(`spec.istio.${g}.hosts`, "Hosts", "comma-separated host names"),
    { type: "table", path: `spec.istio.${g}.service.ports`, label: `${label}: ports`, item: "port",
      columns: [["name", "Name", "text"], ["port", "Port", "number"], ["targetPort", "Target port", "number"], ["nodePort", "Node port", "number"]],
      fresh: (items) => ({ name: freshName("port", items, "name"), port: 8000 + items.length, targetPort: 8000 + items.length }) },
  ];
  const sections = [
    { id: "cluster", title: "Cluster", fields: [
      text("metadata.name", "Site name", "RFC 1123 label"),
      text("metadata.description", "Description"),
      text("spec.timezone", "Time zone", "IANA name, e.g. Etc/UTC"),
      list("spec.time.servers", "NTP servers", "comma-separated addresses or host names of the site's NTP servers, in order"),
      text("spec.time.sourceNode", "Time source node", "the first control-plane node, to serve time to the others"),
      bool("spec.time.waived", "Time sync waived", "only if the site keeps node clocks in step by its own means"),
      list("spec.architectures", "Architectures", "amd64, arm64"),
      text("spec.kubernetes.version", "Kubernetes version"),
      pick("spec.kubernetes.kubeadmApi", "kubeadm config API", enums.kubeadmApi, "empty: follows the version"),
      text("spec.kubernetes.controlPlaneEndpoint", "API load balancer", "host:port"),
      text("spec.kubernetes.podSubnet", "Pod network (CIDR)"),
      text("spec.kubernetes.serviceSubnet", "Service network (CIDR)"),
      text("spec.kubernetes.nodeSubnet", "Node network (CIDR)", "optional"),
      text("spec.kubernetes.clusterDomain", "Cluster domain"),
      pick("spec.kubernetes.cni", "Pod network add-on", enums.cni),
      pick("spec.kubernetes.proxyMode", "kube-proxy mode", enums.proxyMode),
      text("spec.containerd.version", "containerd version"),
      bool("spec.supportPolicy.allowUnsupportedVersions", "Allow unsupported versions", "turns version-matrix errors into warnings the README records; needs a reason"),
      text("spec.supportPolicy.reason", "Why unsupported versions", "required with the box above: why, and who decided"),
      text("spec.registry", "Site registry", "host:port of the registry at the site"),
      bool("spec.containerd.registryPlainHttp", "Registry without TLS"),
    ]},
    { id: "nodes", title: "Nodes", nodes: true },
    { id: "istio", title: "Istio", fields: [
      text("spec.istio.version", "Istio version"),
      text("spec.istio.revision", "Revision", "empty: the version with dashes"),
      text("spec.istio.meshID", "Mesh ID"),
      text("spec.istio.clusterName", "Cluster name", "empty: the site name"),
      text("spec.istio.network", "Network"),
      list("spec.istio.namespaces", "Mesh namespaces", "comma-separated; route backends are added"),
      text("spec.istio.upgrade.stableTag", "Stable revision tag", "the mesh namespaces' istio.io/rev label"),
      text("spec.istio.upgrade.canaryTag", "Canary revision tag"),
      list("spec.istio.upgrade.canaryNamespaces", "Canary namespaces", "comma-separated mesh namespaces moved first in an upgrade"),
      pick("spec.istio.outboundTrafficPolicy", "Outbound traffic", enums.outbound),
      bool("spec.istio.accessLogging", "Access logs"),
      num("spec.istio.istiod.replicas", "istiod replicas"),
      bool("spec.istio.istiod.hpa.enabled", "istiod autoscaling"),
      num("spec.istio.istiod.hpa.minReplicas", "istiod HPA min"),
      num("spec.istio.istiod.hpa.maxReplicas", "istiod HPA max"),
      text("spec.istio.istiod.resources.requests.cpu", "istiod CPU request"),
      text("spec.istio.istiod.resources.requests.memory", "istiod memory request"),
      text("spec.istio.istiod.resources.limits.memory", "istiod memory limit"),
      num("spec.istio.istiod.traceSampling", "Trace sampling %"),
      text("spec.istio.proxy.resources.requests.cpu", "Sidecar CPU request"),
      text("spec.istio.proxy.resources.requests.memory", "Sidecar memory request"),
      text("spec.istio.proxy.resources.limits.cpu", "Sidecar CPU limit"),
      text("spec.istio.proxy.resources.limits.memory", "Sidecar memory limit"),
      num("spec.istio.proxy.concurrency", "Sidecar worker threads"),
      pick("spec.istio.proxy.logLevel", "Sidecar log level", enums.logLevel),
    ]},
    { id: "gateways", title: "Gateways", fields: [
      pick("spec.loadBalancer.provider", "Load balancer for LoadBalancer services", enums.lbProvider, "metallb: MetalLB in L2 mode with the pool below; existing: the site's own implementation"),
      list("spec.loadBalancer.addresses", "MetalLB address pool", "comma-separated CIDRs or first-last ranges inside the node network"),
      ...gw("ingressGateway", "Ingress gateway"),
      text("spec.istio.ingressGateway.tls.credentialName", "TLS secret name"),
      pick("spec.istio.ingressGateway.tls.minProtocolVersion", "Minimum TLS version", enums.tls),
      bool("spec.istio.ingressGateway.httpsRedirect", "Redirect HTTP to HTTPS"),
      { type: "table", path: "spec.istio.ingressGateway.routes", label: "Ingress routes", item: "route",
        columns: [["host", "Host", "text"], ["pathPrefix", "Path prefix", "text"], ["service", "Service", "text"], ["namespace", "Namespace", "text"], ["port", "Port", "number"]],
        fresh: () => ({ host: ((spec && spec.spec.istio.ingressGateway.hosts) || [])[0] || "app.example.internal", pathPrefix: "/", service: "app", namespace: "default", port: 8080 }) },
      ...gw("egressGateway", "Egress gateway"),
    ]},
    { id: "security", title: "Security", fields: [
      pick("spec.security.mtls.mode", "mTLS", enums.mtls),
      bool("spec.security.authorization.defaultDeny", "Deny by default"),
      list("spec.security.authorization.ingressClientCIDRs", "Ingress client networks", "comma-separated CIDRs"),
      bool("spec.security.jwt.required", "Require a JWT at the ingress"),
      { type: "table", path: "spec.security.jwt.issuers", label: "JWT issuers", item: "issuer",
        columns: [["issuer", "Issuer", "text"], ["audiences", "Audiences", "list"], ["jwks", "Inline JWKS", "text"], ["forwardOriginalToken", "Forward token", "checkbox"]],
        fresh: () => ({ issuer: "https://idp.example.internal", jwks: '{"keys": []}' }) },
      pick("spec.pki.keyType", "Key type", enums.keyType),
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
      num("spec.observability.metricsServer.replicas", "metrics-server replicas", "one per node; empty: 2 where two nodes run workloads"),
      bool("spec.observability.prometheusOperator", "prometheus-operator runs here (alerts also as PrometheusRule)"),
      num("spec.observability.alerts.p99LatencyMs", "Alert: p99 latency (ms)"),
      num("spec.observability.alerts.errorRatePercent", "Alert: 5xx rate (%)"),
      num("spec.observability.alerts.certExpiryDays", "Alert: certificate expiry (days)"),
      num("spec.observability.alerts.resourceUsagePercent", "Alert: resource use (%)"),
      bool("spec.observability.alertmanager.enabled", "Alertmanager (delivers the alerts; needs Prometheus)"),
      num("spec.observability.alertmanager.replicas", "Alertmanager replicas", "2 or 3 share silences and notify once"),
      text("spec.observability.alertmanager.receivers.email.smarthost", "Alerts by email: SMTP relay", "host:port"),
      text("spec.observability.alertmanager.receivers.email.from", "Alerts by email: from"),
      list("spec.observability.alertmanager.receivers.email.to", "Alerts by email: to", "comma-separated addresses"),
      bool("spec.observability.alertmanager.receivers.email.requireTLS", "Alerts by email: require TLS"),
      text("spec.observability.alertmanager.receivers.email.authUsername", "Alerts by email: relay login", "password in the secrets file (alertmanager.smtpPassword)"),
      text("spec.observability.alertmanager.receivers.webhook.url", "Alerts by webhook: URL", "https://host[:port]/path"),
      bool("spec.observability.alertmanager.receivers.webhook.bearerToken", "Alerts by webhook: bearer token", "from the secrets file (alertmanager.webhookBearerToken)"),
      bool("spec.observability.alertmanager.receivers.none", "No receiver: alerts only in Alertmanager's UI"),
      text("spec.observability.alertmanager.storage.storageClassName", "Alertmanager storage class", "empty: emptyDir"),
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
    { id: "tuning", title: "Tuning", sysctl: true },
  ];

  const form = $("form");
  const fieldIds = new Map(); // path -> input id
  let idSeq = 0;

  function fieldRow(f) {
    if (f.type === "table") return objectTable(f);
    const id = "f" + idSeq++;
    const row = document.createElement("div");
    row.className = "field";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = f.label;
    let input;
    if (f.type === "select") {
      input = document.createElement("select");
      for (const o of f.options) {
        const opt = document.createElement("option");
        opt.value = o;
        opt.textContent = o === "" ? "(default)" : o;
        input.append(opt);
      }
    } else {
      input = document.createElement("input");
      input.type = f.type === "checkbox" ? "checkbox" : "text";
      // A text box, not type=number: the browser would hide what was typed
      // (`4e` reads as empty) and the form could not say what is wrong.
      if (f.type === "number") input.inputMode = "decimal";
    }
    input.id = id;
    input.dataset.path = f.path;
    input.dataset.kind = f.type;
    const err = document.createElement("div");
    err.className = "field-error";
    err.id = id + "-error";
    input.setAttribute("aria-describedby", err.id + (f.help ? " " + id + "-help" : ""));
    row.append(label, input);
    if (f.help) {
      const help = document.createElement("div");
      help.className = "help";
      help.id = id + "-help";
      help.textContent = f.help;
      row.append(help);
    }
    row.append(err);
    fieldIds.set(f.path, id);
    return row;
  }

  function buildForm() {
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
      if (s.fields) s.fields.forEach((f) => fs.append(fieldRow(f)));
      if (s.nodes) fs.append(nodesTable());
      if (s.sysctl) fs.append(sysctlRows());
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
  }

  function nodesTable() {
    const wrap = document.createElement("div");
    const table = document.createElement("table");
    table.className = "nodes";
    table.innerHTML = "<caption class='hint'>The first control-plane node runs kubeadm init.</caption><thead><tr><th scope='col'>Name</th><th scope='col'>Address</th><th scope='col'>Role</th><th scope='col'>Zone</th><th scope='col'>Labels <span class='hint'>(k=v, ...)</span></th><th scope='col'><span class='hint'>Remove</span></th></tr></thead>";
    const body = document.createElement("tbody");
    const nodes = (spec && spec.spec && spec.spec.nodes) || [];
    nodes.forEach((n, i) => {
      const tr = document.createElement("tr");
      for (const [key, kind] of [["name", "text"], ["address", "text"], ["role", "select"], ["zone", "text"], ["labels", "map"]]) {
        const td = document.createElement("td");
        const path = `spec.nodes[${i}].${key}`;
        let input;
        if (kind === "select") {
          input = document.createElement("select");
          for (const o of ["control-plane", "worker"]) {
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
        input.dataset.path = path;
        input.dataset.kind = kind;
        input.setAttribute("aria-label", `Node ${i + 1} ${key}`);
        const err = document.createElement("span");
        err.className = "field-error";
        err.id = id + "-error";
        input.setAttribute("aria-describedby", err.id);
        td.append(input, err);
        tr.append(td);
        fieldIds.set(path, id);
      }
      const td = document.createElement("td");
      const rm = document.createElement("button");
      rm.type = "button";
      rm.textContent = "Remove";
      rm.setAttribute("aria-label", `Remove node ${i + 1}`);
      rm.addEventListener("click", () => formEdits([[`spec.nodes[${i}]`, "remove"]]));
      td.append(rm);
      tr.append(td);
      body.append(tr);
    });
    table.append(body);
    const add = document.createElement("button");
    add.type = "button";
    add.id = "add-node";
    add.textContent = "Add node";
    add.addEventListener("click", async () => {
      const nodes = (spec && spec.spec && spec.spec.nodes) || [];
      const used = new Set(nodes.map((n) => n.address));
      const withAddress = nodes.filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n.address || ""));
      const last = withAddress.length ? withAddress[withAddress.length - 1].address.split(".") : ["10", "0", "0", "20"];
      let host = Number(last[3]) + 1;
      while (used.has([last[0], last[1], last[2], host].join("."))) host++;
      const zones = [...new Set(nodes.map((n) => n.zone).filter(Boolean))];
      const node = { name: freshName("worker", nodes, "name"), address: [last[0], last[1], last[2], host].join("."), role: "worker" };
      if (zones.length) node.zone = zones[nodes.length % zones.length];
      await formEdits([[`spec.nodes[${nodes.length}]`, { insert: node }]]);
      const inputs = form.querySelectorAll("table.nodes tbody tr:last-child input");
      if (inputs.length) inputs[0].focus();
    });
    wrap.append(table, add);
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

  function fillForm() {
    for (const input of form.querySelectorAll("[data-path]")) {
      // Never overwrite what is being typed, or text the form refused.
      if (input === document.activeElement || localErrors.has(input.dataset.path)) continue;
      const v = getPath(spec, input.dataset.path);
      if (input.dataset.kind === "checkbox") input.checked = !!v;
      else if (input.dataset.kind === "list") input.value = Array.isArray(v) ? v.join(", ") : "";
      else if (input.dataset.kind === "map") input.value = v && typeof v === "object" ? Object.entries(v).map(([k, x]) => `${k}=${x}`).join(", ") : "";
      else input.value = v == null ? "" : String(v);
    }
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
  let lastErrors = 0;
  let broken = null; // the parse error while the YAML does not parse

  function freshName(prefix, items, key) {
    let n = 1;
    while (items.some((x) => x && x[key] === `${prefix}-${n}`)) n++;
    return `${prefix}-${n}`;
  }

  // The lengths of the form's lists: the form is rebuilt when they change.
  function shapeOf(s) {
    if (!s || !s.spec) return "";
    const sp = s.spec;
    const len = (path) => { const v = getPath(s, path); return Array.isArray(v) ? v.length : 0; };
    return JSON.stringify([
      len("spec.nodes"), len("spec.istio.ingressGateway.routes"), len("spec.security.jwt.issuers"),
      len("spec.istio.ingressGateway.service.ports"), len("spec.istio.egressGateway.service.ports"),
      Object.keys((sp.tuning && sp.tuning.sysctl) || {}),
    ]);
  }

  function setBroken(d) {
    broken = d || null;
    let banner = $("yaml-broken");
    if (!banner) {
      banner = document.createElement("div");
      banner.id = "yaml-broken";
      banner.className = "banner";
      banner.setAttribute("role", "alert");
      form.before(banner);
    }
    if (broken) {
      const where = broken.line ? `line ${broken.line}, column ${broken.column}: ` : "";
      banner.textContent = `The YAML does not parse (${where}${broken.message}). The form is read-only until it is fixed in the YAML editor; your text is kept as it is.`;
      banner.hidden = false;
    } else {
      banner.textContent = "";
      banner.hidden = true;
    }
    for (const fs of form.querySelectorAll("fieldset")) fs.disabled = !!broken;
    form.setAttribute("aria-readonly", broken ? "true" : "false");
  }

  // The edit a field's text asks for, or what is wrong with the text.
  function opFor(input) {
    const k = input.dataset.kind;
    const raw = input.value;
    if (k === "checkbox") return { op: { set: input.checked } };
    if (k === "select") return { op: raw === "" ? "remove" : { set: raw } };
    if (k === "list") {
      const items = raw.split(",").map((x) => x.trim()).filter((x) => x !== "");
      return { op: items.length ? { set: items } : "remove" };
    }
    if (k === "map") {
      const m = {};
      for (const part of raw.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
        const i = part.indexOf("=");
        if (i <= 0) return { error: `\`${part}\` is not key=value: write labels as key=value, separated by commas` };
        m[part.slice(0, i).trim()] = part.slice(i + 1).trim();
      }
      return { op: Object.keys(m).length ? { set: m } : "remove" };
    }
    if (k === "number") {
      const t = raw.trim();
      if (t === "") return { op: "remove" };
      if (!/^\d+(\.\d+)?$/.test(t)) return { error: `\`${t}\` is not a number of 0 or more: enter one such as 3; the spec keeps its value until then` };
      return { op: { set: Number(t) } };
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
      if (input && input.dataset.path) input.setAttribute("aria-invalid", "true");
    } else {
      el.textContent = "";
      if (input) input.removeAttribute("aria-invalid");
    }
  }

  function queueEdit(input) {
    if (broken) return;
    const path = input.dataset.path;
    const r = opFor(input);
    if (r.error) {
      pendingEdits.delete(path);
      localErrors.set(path, r.error);
      markLocal(path, r.error);
      return;
    }
    if (localErrors.delete(path)) markLocal(path, "");
    pendingEdits.set(path, r.op);
    clearTimeout(editTimer);
    editTimer = setTimeout(flushFormEdits, 120);
  }

  form.addEventListener("input", (e) => {
    const t = e.target;
    if (t.dataset && t.dataset.path && t.dataset.kind !== "select" && t.dataset.kind !== "checkbox") queueEdit(t);
  });
  form.addEventListener("change", (e) => {
    const t = e.target;
    if (t.dataset && t.dataset.path && (t.dataset.kind === "select" || t.dataset.kind === "checkbox")) queueEdit(t);
  });

  // Applies the edits waiting for the debounce (before a download, too).
  async function flushFormEdits() {
    clearTimeout(editTimer);
    if (!pendingEdits.size) {
      // Text typed in the YAML editor and not yet checked.
      if ($("yaml").value !== yamlText) {
        clearTimeout(yamlTimer);
        yamlText = $("yaml").value;
        await check();
      }
      return editChain;
    }
    const edits = [...pendingEdits];
    pendingEdits.clear();
    return formEdits(edits);
  }

  // Edits the YAML text, one [path, op] after the other, in order.
  function formEdits(edits) {
    editChain = editChain.then(() => applyEdits(edits)).catch((e) => status("The form edit failed: " + e));
    return editChain;
  }

  async function applyEdits(edits) {
    // The editor's latest text, typed or not yet checked.
    yamlText = $("yaml").value;
    let text = yamlText;
    for (const [path, op] of edits) {
      let r = await api.edit_yaml(text, path, JSON.stringify(op));
      const whole = !r.ok && /not a list|does not exist|no item/.test(r.error) ? wholeList(path, op) : null;
      if (whole) {
        const again = await api.edit_yaml(text, whole[0], JSON.stringify(whole[1]));
        if (again.ok) r = again;
      }
      if (!r.ok) {
        // A text that does not parse is never edited: the banner says why.
        if (!/does not parse/.test(r.error)) {
          localErrors.set(path, r.error);
          markLocal(path, r.error);
        }
        continue;
      }
      text = r.yaml;
    }
    if (text !== yamlText) {
      yamlText = text;
      $("yaml").value = text;
    }
    await check();
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
  // is a misspelling of (`podSubnett` -> podSubnet), or the nearest above.
  function fieldFor(path) {
    let p = path || "";
    while (p) {
      const id = fieldIds.get(p);
      if (id) return { id, p };
      if (p === "spec.nodes") return { id: null, p };
      const parent = parentPath(p);
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
    ul.textContent = "";
    for (const d of orphans) {
      const li = document.createElement("li");
      li.className = d.severity;
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${d.line ? d.line + ":" + d.column + " " : ""}${d.path || "(document)"}`;
      b.addEventListener("click", () => goToLine(d.line, d.column));
      li.append(b, document.createTextNode(`: ${d.severity === "warning" ? "warning: " : ""}${d.message} (${d.hint})`));
      ul.append(li);
    }
    if (!orphans.length) {
      const li = document.createElement("li");
      li.textContent = "None.";
      ul.append(li);
    }
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
    const wrap = document.createElement("div");
    wrap.className = "object-table";
    const table = document.createElement("table");
    const cap = document.createElement("caption");
    cap.textContent = f.label;
    table.append(cap);
    const head = document.createElement("tr");
    for (const [, label] of f.columns) {
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
    items.forEach((item, i) => {
      const tr = document.createElement("tr");
      for (const [key, label, kind] of f.columns) {
        const td = document.createElement("td");
        const path = `${f.path}[${i}].${key}`;
        const input = document.createElement("input");
        input.type = kind === "checkbox" ? "checkbox" : "text";
        if (kind === "number") input.inputMode = "numeric";
        const id = "f" + idSeq++;
        input.id = id;
        input.dataset.path = path;
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
      const rm = document.createElement("button");
      rm.type = "button";
      rm.textContent = "Remove";
      rm.setAttribute("aria-label", `Remove ${f.item} ${i + 1}`);
      rm.addEventListener("click", () => formEdits([[`${f.path}[${i}]`, "remove"]]));
      td.append(rm);
      tr.append(td);
      body.append(tr);
    });
    table.append(body);
    const add = document.createElement("button");
    add.type = "button";
    add.textContent = `Add ${f.item}`;
    const addId = "f" + idSeq++;
    add.id = addId;
    add.dataset.table = f.path;
    add.addEventListener("click", () => formEdits([[`${f.path}[${items.length}]`, { insert: f.fresh(items) }]]));
    const err = document.createElement("div");
    err.className = "field-error";
    err.id = addId + "-error";
    fieldIds.set(f.path, addId);
    wrap.append(table, add, err);
    return wrap;
  }

  let yamlTimer = null;
  $("yaml").addEventListener("input", () => {
    clearTimeout(yamlTimer);
    yamlTimer = setTimeout(() => {
      yamlText = $("yaml").value;
      check();
    }, 200);
  });

  async function check() {
    const v = await api.validate(yamlText);
    const broken = v.spec ? null : v.diagnostics.find((d) => /^yaml/.test(d.code) || d.code === "too-large" || d.code === "not-text");
    setBroken(broken);
    if (v.spec) {
      const before = shapeOf(spec);
      spec = v.spec;
      if (shapeOf(spec) !== before) {
        const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.path : null;
        buildForm();
        if (focused && fieldIds.get(focused)) $(fieldIds.get(focused)).focus();
      }
      fillForm();
    }
    showDiagnostics(v.diagnostics);
    lastErrors = v.diagnostics.filter((d) => d.severity === "error").length;
    if (v.valid) doRender();
    else {
      status(`${lastErrors} error(s): the files are not rendered until they are fixed`);
      $("download-tar").disabled = true;
    }
    return v;
  }

  function showDiagnostics(diags) {
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const a of document.querySelectorAll("nav a.has-error")) a.classList.remove("has-error");
    const list = $("yaml-problems");
    list.textContent = "";
    const orphans = [];
    for (const d of diags) {
      const { id, p } = fieldFor(d.path);
      const target = id ? $(id) : null;
      const errEl = target ? $(target.id + "-error") : p === "spec.nodes" ? $("nodes-error") : null;
      if (!errEl) orphans.push(d);
      if (errEl) {
        errEl.textContent += (errEl.textContent ? " " : "") + (d.severity === "warning" ? "Warning: " : "") + d.message + " (" + d.hint + ")";
        if (target && d.severity === "error") target.setAttribute("aria-invalid", "true");
        const fs = errEl.closest("fieldset");
        if (fs && d.severity === "error") {
          const a = document.querySelector(`nav a[data-section="${fs.dataset.section}"]`);
          if (a) a.classList.add("has-error");
        }
      }
      const li = document.createElement("li");
      li.className = d.severity;
      const where = d.line ? `${d.line}:${d.column} ` : "";
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${where}${d.path || "(document)"}`;
      b.addEventListener("click", () => goToLine(d.line, d.column));
      li.append(b, document.createTextNode(`: ${d.severity === "warning" ? "warning: " : ""}${d.message} (${d.hint})`));
      list.append(li);
    }
    if (!diags.length) {
      const li = document.createElement("li");
      li.textContent = "No problems.";
      list.append(li);
    }
    showOrphans(orphans);
    for (const [path, msg] of localErrors) markLocal(path, msg);
  }

  function goToLine(line, column) {
    const ta = $("yaml");
    if (!line) return ta.focus();
    const lines = ta.value.split("\n");
    let pos = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    pos += Math.max(0, (column || 1) - 1);
    ta.focus();
    ta.setSelectionRange(pos, pos);
  }

  function doRender() {
    const start = performance.now();
    const r = renderer.render(yamlText, secretsText, lockText);
    const ms = performance.now() - start;
    timings.renders.push(ms);
    if (timings.firstRender === null) timings.firstRender = performance.now() - t0;
    if (!r.ok) {
      status(r.error);
      $("download-tar").disabled = true;
      return;
    }
    lastRender = r;
    $("download-tar").disabled = false;
    $("digest").textContent = `${r.files.length} files, ${r.total_bytes} bytes, tree digest ${r.digest} (rendered in ${ms.toFixed(1)} ms)`;
    const tree = $("tree");
    tree.textContent = "";
    if (!r.files.some((f) => f.path === selected)) selected = "README.md";
    for (const f of r.files) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${f.path}  (${f.mode.toString(8)}, ${f.size} B)`;
      b.dataset.file = f.path;
      if (f.path === selected) b.setAttribute("aria-current", "true");
      b.addEventListener("click", () => {
        selected = f.path;
        for (const x of tree.querySelectorAll("[aria-current]")) x.removeAttribute("aria-current");
        b.setAttribute("aria-current", "true");
        showFile();
      });
      li.append(b);
      tree.append(li);
    }
    showFile();
    const notes = [];
    if (!secretsText) notes.push("no secrets file: join configurations and certificates are left out");
    if (!lockText) notes.push("no lock: images by tag");
    status(`valid; ${r.files.length} files rendered` + (notes.length ? ` (${notes.join("; ")})` : ""));
  }

  function showFile() {
    const f = lastRender && lastRender.files.find((x) => x.path === selected);
    $("viewer-title").textContent = f ? f.path : "Select a file";
    $("viewer").textContent = f ? (f.text !== null ? f.text : `(${f.size} bytes of binary data)`) : "";
  }

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

  $("download-spec").addEventListener("click", async () => {
    await flushFormEdits();
    download("meshbundle.yaml", yamlText, "application/yaml");
  });
  $("download-tar").addEventListener("click", () => {
    const r = renderer.render_tar_gz(yamlText, secretsText, lockText);
    if (r instanceof Uint8Array) {
      const name = (spec && spec.metadata && spec.metadata.name) || "site";
      download(`${name}-config.tar.gz`, r, "application/gzip");
    } else {
      status(r.error);
    }
  });

  function readFile(input, then) {
    input.addEventListener("change", () => {
      const f = input.files && input.files[0];
      if (!f) return;
      f.text().then((t) => { then(t, f.name); input.value = ""; });
    });
  }
  readFile($("load-spec"), async (t, name) => {
    await loadText(t);
    status(`loaded ${name}: ` + (lastErrors ? `${lastErrors} error${lastErrors === 1 ? "" : "s"}, see Problems` : "no errors"));
  });
  readFile($("load-secrets"), (t, name) => {
    secretsText = t;
    status(`secrets from ${name}`);
    check();
  });
  readFile($("load-lock"), (t, name) => {
    lockText = t;
    status(`lock from ${name}`);
    check();
  });

  const examples = await api.examples();
  for (const ex of examples) {
    const o = document.createElement("option");
    o.value = ex.name;
    o.textContent = `${ex.name}: ${ex.description}`;
    $("example").append(o);
  }
  $("example").addEventListener("change", () => {
    const ex = examples.find((x) => x.name === $("example").value);
    if (ex) loadText(ex.text);
  });

  async function loadText(t) {
    pendingEdits.clear();
    localErrors.clear();
    yamlText = t;
    $("yaml").value = t;
    const v = await api.validate(t);
    spec = v.spec || spec || { apiVersion: "meshbundle.dev/v1alpha1", kind: "Site", metadata: { name: "" }, spec: { nodes: [], registry: "" } };
    buildForm();
    fillForm();
    await check();
  }

  await loadText(examples[0].text);
  document.documentElement.dataset.ready = "true";
})().catch((e) => {
  document.getElementById("status").textContent = "The configurator could not start: " + e;
  throw e;
});
