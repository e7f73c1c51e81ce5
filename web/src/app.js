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
  const renderer = new mb.Renderer(self.MESHBUNDLE_UPSTREAM);
  $("version").textContent = "v" + mb.version();

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
  function setPath(obj, path, value) {
    const segs = parsePath(path);
    let v = obj;
    for (let i = 0; i < segs.length - 1; i++) {
      if (v[segs[i]] == null) v[segs[i]] = typeof segs[i + 1] === "number" ? [] : {};
      v = v[segs[i]];
    }
    const last = segs[segs.length - 1];
    if (value === undefined) {
      if (Array.isArray(v)) v.splice(last, 1);
      else delete v[last];
    } else {
      v[last] = value;
    }
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
      ...gw("egressGateway", "Egress gateway"),
    ]},
    { id: "security", title: "Security", fields: [
      pick("spec.security.mtls.mode", "mTLS", enums.mtls),
      bool("spec.security.authorization.defaultDeny", "Deny by default"),
      list("spec.security.authorization.ingressClientCIDRs", "Ingress client networks", "comma-separated CIDRs"),
      bool("spec.security.jwt.required", "Require a JWT at the ingress"),
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
      input.type = f.type === "checkbox" ? "checkbox" : f.type === "number" ? "number" : "text";
      if (f.type === "number") input.step = "any";
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
    table.innerHTML = "<caption class='hint'>The first control-plane node runs kubeadm init.</caption><thead><tr><th scope='col'>Name</th><th scope='col'>Address</th><th scope='col'>Role</th><th scope='col'>Zone</th><th scope='col'><span class='hint'>Remove</span></th></tr></thead>";
    const body = document.createElement("tbody");
    const nodes = (spec && spec.spec && spec.spec.nodes) || [];
    nodes.forEach((n, i) => {
      const tr = document.createElement("tr");
      for (const [key, kind] of [["name", "text"], ["address", "text"], ["role", "select"], ["zone", "text"]]) {
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
      rm.addEventListener("click", () => {
        spec.spec.nodes.splice(i, 1);
        rebuildAndSync();
      });
      td.append(rm);
      tr.append(td);
      body.append(tr);
    });
    table.append(body);
    const add = document.createElement("button");
    add.type = "button";
    add.id = "add-node";
    add.textContent = "Add node";
    add.addEventListener("click", () => {
      const nodes = spec.spec.nodes || (spec.spec.nodes = []);
      const used = new Set(nodes.map((n) => n.address));
      const last = nodes.length ? nodes[nodes.length - 1].address.split(".") : ["10", "0", "0", "20"];
      let host = Number(last[3]) + 1;
      while (used.has([last[0], last[1], last[2], host].join("."))) host++;
      const zones = [...new Set(nodes.map((n) => n.zone))];
      nodes.push({
        name: "worker-" + (nodes.filter((n) => n.role === "worker").length + 1),
        address: [last[0], last[1], last[2], host].join("."),
        role: "worker",
        zone: zones.length ? zones[nodes.length % zones.length] : "default",
      });
      rebuildAndSync();
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
      const v = getPath(spec, input.dataset.path);
      if (input.dataset.kind === "checkbox") input.checked = !!v;
      else if (input.dataset.kind === "list") input.value = Array.isArray(v) ? v.join(", ") : "";
      else input.value = v == null ? "" : String(v);
    }
  }

  function readInput(input) {
    const k = input.dataset.kind;
    if (k === "checkbox") return input.checked;
    const raw = input.value;
    if (k === "list") return raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (raw.trim() === "") return undefined;
    if (k === "number") {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    return raw;
  }

  form.addEventListener("input", (e) => {
    const input = e.target;
    if (!input.dataset || !input.dataset.path) return;
    setPath(spec, input.dataset.path, readInput(input));
    scheduleFromForm();
  });
  form.addEventListener("change", (e) => {
    if (e.target.dataset && e.target.dataset.kind === "select") {
      setPath(spec, e.target.dataset.path, readInput(e.target));
      scheduleFromForm();
    }
  });

  function rebuildAndSync() {
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.path : null;
    buildForm();
    fillForm();
    if (focused && fieldIds.get(focused)) $(fieldIds.get(focused)).focus();
    fromForm();
  }

  // ------------------------------------------------------------ sync, validate, render

  let timer = null;
  function scheduleFromForm() {
    clearTimeout(timer);
    timer = setTimeout(fromForm, 120);
  }
  function fromForm() {
    const r = mb.spec_to_yaml(spec);
    if (!r.ok) return status(r.error);
    yamlText = r.yaml;
    $("yaml").value = yamlText;
    check(false);
  }

  let yamlTimer = null;
  $("yaml").addEventListener("input", () => {
    clearTimeout(yamlTimer);
    yamlTimer = setTimeout(() => {
      yamlText = $("yaml").value;
      check(true);
    }, 200);
  });

  function check(fromYaml) {
    const v = mb.validate(yamlText);
    if (fromYaml && v.spec) {
      const nodesBefore = JSON.stringify(spec && spec.spec && spec.spec.nodes);
      const sysBefore = JSON.stringify(spec && spec.spec && spec.spec.tuning && Object.keys(spec.spec.tuning.sysctl || {}));
      spec = v.spec;
      const shapeChanged = nodesBefore !== JSON.stringify(spec.spec.nodes) ||
        sysBefore !== JSON.stringify(Object.keys((spec.spec.tuning || {}).sysctl || {}));
      if (shapeChanged) buildForm();
      fillForm();
    }
    showDiagnostics(v.diagnostics);
    if (v.valid) doRender();
    else {
      const errors = v.diagnostics.filter((d) => d.severity === "error").length;
      status(`${errors} error(s): the files are not rendered until they are fixed`);
      $("download-tar").disabled = true;
    }
  }

  function showDiagnostics(diags) {
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const a of document.querySelectorAll("nav a.has-error")) a.classList.remove("has-error");
    const list = $("yaml-problems");
    list.textContent = "";
    for (const d of diags) {
      // The field itself, or the nearest field above it.
      let p = d.path;
      let id = null;
      while (p && !(id = fieldIds.get(p))) {
        if (p === "spec.nodes") break;
        p = parentPath(p);
      }
      const target = id ? $(id) : null;
      const errEl = target ? $(target.id + "-error") : p === "spec.nodes" ? $("nodes-error") : null;
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

  $("download-spec").addEventListener("click", () => download("meshbundle.yaml", yamlText, "application/yaml"));
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
  readFile($("load-spec"), (t, name) => {
    loadText(t);
    status(`loaded ${name}`);
  });
  readFile($("load-secrets"), (t, name) => {
    secretsText = t;
    status(`secrets from ${name}`);
    check(false);
  });
  readFile($("load-lock"), (t, name) => {
    lockText = t;
    status(`lock from ${name}`);
    check(false);
  });

  const examples = mb.examples();
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

  function loadText(t) {
    yamlText = t;
    $("yaml").value = t;
    const v = mb.validate(t);
    spec = v.spec || spec || { apiVersion: "meshbundle.dev/v1alpha1", kind: "Site", metadata: { name: "" }, spec: { nodes: [], registry: "" } };
    buildForm();
    fillForm();
    check(false);
  }

  loadText(examples[0].text);
  document.documentElement.dataset.ready = "true";
})().catch((e) => {
  document.getElementById("status").textContent = "The configurator could not start: " + e;
  throw e;
});
