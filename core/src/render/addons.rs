//! Istio's sample addons made fit for a site: the upstream manifests are read
//! document by document and changed where the samples are not production:
//!
//! - every container of every workload pulls `IfNotPresent` (images are pinned
//!   by digest, and a registry outage must not stop a restart);
//! - Prometheus keeps `spec.observability.prometheus.retention` of data, on a
//!   PersistentVolumeClaim when a storage class is named (with a `Recreate`
//!   rollout, since a ReadWriteOnce claim cannot be held by two pods), in a
//!   size-limited emptyDir otherwise, and stops at 85 % of the volume;
//! - Grafana has no anonymous access; its administrator comes from the Secret
//!   `secrets/addon-credentials.yaml` through `secretKeyRef`;
//! - Kiali logs users in with a Kubernetes token, is view-only unless the spec
//!   says otherwise (config and service account), signs sessions with a key
//!   from the same Secret, names the revisioned Istio components its version
//!   cannot discover, and names its own image in the site registry.
//!
//! Kiali's configuration follows its source: `config/config.go` of
//! github.com/kiali/kiali at v1.72.0 (commit 9c1cf48f8a032274d95e04d6976b7d2c26150420),
//! which reads `external_services.istio.istiod_deployment_name`, `config_map_name`
//! and `istio_sidecar_injector_config_map_name`, and at v2.26.0 (commit
//! e14a8c11583006ab949531181542db5fe279b36a), which has none of these and finds
//! each control plane by its `app=istiod` deployment and `istio.io/rev` label,
//! deriving `istio-<rev>` and `istio-sidecar-injector-<rev>` (istio/discovery.go).
//! Both read credential overrides from `/kiali-override-secrets/NAME/value.txt`.

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::{Ctx, RenderError};
use crate::image::ImageRef;
use crate::pki::files::{ADDON_SECRET, GRAFANA_PASSWORD_KEY, GRAFANA_USER_KEY, KIALI_SIGNING_KEY, addon_secret};
use crate::tree::{FileTree, MODE_SECRET};
use crate::validate::values::quantity;

/// The pull policy of every addon container.
pub(crate) const PULL_POLICY: &str = "IfNotPresent";
/// Where the addon credentials Secret is rendered.
pub(crate) const CREDENTIALS_FILE: &str = "secrets/addon-credentials.yaml";
/// The PersistentVolumeClaim of the addon Prometheus.
const PROMETHEUS_CLAIM: &str = "prometheus";
/// Kiali reads a file here instead of `login_token.signing_key`.
const KIALI_SIGNING_KEY_DIR: &str = "/kiali-override-secrets/login-token-signing-key";
/// Workload kinds and where their pod spec is.
const POD_SPECS: &[(&str, &str)] = &[
    ("Pod", "/spec"),
    ("Deployment", "/spec/template/spec"),
    ("StatefulSet", "/spec/template/spec"),
    ("DaemonSet", "/spec/template/spec"),
    ("ReplicaSet", "/spec/template/spec"),
    ("ReplicationController", "/spec/template/spec"),
    ("Job", "/spec/template/spec"),
    ("CronJob", "/spec/jobTemplate/spec/template/spec"),
];

fn internal(name: &str, what: impl std::fmt::Display) -> RenderError {
    RenderError::Upstream {
        name: format!("manifest/addon-{name}"),
        reason: what.to_string(),
    }
}

/// Part of an addon's manifest that does not read, with the parser's error.
pub(crate) fn unreadable(
    name: &str,
    what: impl Into<String>,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> RenderError {
    RenderError::UpstreamUnreadable {
        name: format!("manifest/addon-{name}"),
        what: what.into(),
        source: source.into(),
    }
}

/// The texts of the documents of a multi-document manifest, each line ended
/// by `\n`; documents of only comments and blank lines left out.
fn document_texts(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut flush = |current: &mut String| {
        let has_content = current
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if has_content {
            docs.push(std::mem::take(current));
        }
        current.clear();
    };
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") || line == "..." {
            flush(&mut current);
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&mut current);
    docs
}

/// The documents of a multi-document manifest, comments and empty documents left out.
pub(crate) fn documents(name: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    let mut docs = Vec::new();
    for doc in document_texts(text) {
        let v: Value = crate::yaml::value_from_str(&doc).map_err(|e| unreadable(name, "a document", e))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// ConfigMaps of an addon's manifest that are written as upstream wrote
/// them, by addon and name: data that nothing here changes (Grafana's
/// dashboards, 234 KB of JSON in Istio 1.30's sample), which reading and
/// writing again would only reformat, at a cost (in the browser, the largest
/// part of a first render).
pub(crate) const VERBATIM: &[(&str, &[&str])] = &[(
    "grafana",
    &["istio-grafana-dashboards", "istio-services-grafana-dashboards"],
)];

/// The ConfigMap a document's text declares at its top level (`kind:
/// ConfigMap` and `metadata.name`, both plain scalars in block style), or
/// `None`: then the document is read as any other.
fn config_map_name(doc: &str) -> Option<&str> {
    let mut lines = doc.lines();
    let mut kind = None;
    let mut name = None;
    while let Some(line) = lines.next() {
        if let Some(k) = line.strip_prefix("kind:") {
            kind = Some(k.trim());
        } else if line.trim_end() == "metadata:" {
            // The metadata block: its lines are indented; `name` is one of
            // its keys (at its first indentation, two spaces here).
            for inner in lines.by_ref() {
                if !inner.starts_with(' ') {
                    if inner.starts_with("kind:") {
                        kind = inner.strip_prefix("kind:").map(str::trim);
                    }
                    break;
                }
                if let Some(n) = inner.strip_prefix("  name:") {
                    name = Some(n.trim());
                }
            }
        }
    }
    let name = name?;
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    (kind == Some("ConfigMap") && plain).then_some(name)
}

/// Splits an addon's manifest into the text of the documents that are read
/// and changed, and the [`VERBATIM`] documents, kept as their text (without
/// the blank lines around them), in their order.
pub(crate) fn set_aside(name: &str, text: &str) -> (String, Vec<String>) {
    let names = VERBATIM
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_default();
    if names.is_empty() {
        return (text.to_string(), Vec::new());
    }
    let mut rest = String::with_capacity(text.len());
    let mut kept = Vec::new();
    for doc in document_texts(text) {
        if config_map_name(&doc).is_some_and(|n| names.contains(&n)) {
            kept.push(format!("{}\n", doc.trim_matches('\n')));
        } else {
            rest.push_str("---\n");
            rest.push_str(&doc);
        }
    }
    (rest, kept)
}

fn kind(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or_default()
}

fn named(doc: &Value, k: &str, name: &str) -> bool {
    kind(doc) == k && doc.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
}

/// The pod spec of a workload document.
pub(crate) fn pod_spec_mut(doc: &mut Value) -> Option<&mut Value> {
    let path = POD_SPECS.iter().find(|(k, _)| *k == kind(doc))?.1;
    doc.pointer_mut(path)
}

fn containers_mut(pod: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    let obj = pod.as_object_mut();
    obj.into_iter().flat_map(|o| {
        o.iter_mut()
            .filter(|(k, _)| matches!(k.as_str(), "containers" | "initContainers" | "ephemeralContainers"))
            .flat_map(|(_, v)| v.as_array_mut().into_iter().flatten())
            .filter_map(Value::as_object_mut)
    })
}

fn container_mut<'a>(pod: &'a mut Value, name: &str) -> Option<&'a mut Map<String, Value>> {
    containers_mut(pod).find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

fn array_mut<'a>(obj: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let v = obj.entry(key.to_string()).or_insert_with(|| Value::Array(Vec::new()));
    if !v.is_array() {
        *v = Value::Array(Vec::new());
    }
    v.as_array_mut().expect("made an array above")
}

/// Replaces the entry of a list of named objects, or appends it.
fn put_named(list: &mut Vec<Value>, item: Value) {
    let name = item.get("name").cloned();
    match list.iter_mut().find(|v| v.get("name") == name.as_ref()) {
        Some(v) => *v = item,
        None => list.push(item),
    }
}

/// What the rewritten addon says about itself, for the file's header.
#[derive(Default)]
pub(crate) struct Hardened {
    pub docs: Vec<Value>,
    pub notes: Vec<String>,
    /// Prometheus's `prometheus.yml`, read once from its ConfigMap: each
    /// stage edits this value, and [`Hardened::finish`] writes it back once.
    pub prometheus_config: Option<Value>,
}

impl Hardened {
    /// The documents, with [`Hardened::prometheus_config`] written back into
    /// its ConfigMap.
    pub(crate) fn finish(mut self, ctx: &Ctx) -> Result<(Vec<Value>, Vec<String>), RenderError> {
        if let Some(config) = self.prometheus_config.take() {
            let cm = prometheus_config_map(&mut self.docs)?;
            cm["data"]["prometheus.yml"] = ctx.config_yaml("config:addon-prometheus.yml", config)?.into();
        }
        Ok((self.docs, self.notes))
    }
}

/// The ConfigMap that holds `prometheus.yml`.
fn prometheus_config_map(docs: &mut [Value]) -> Result<&mut Value, RenderError> {
    docs.iter_mut()
        .find(|d| kind(d) == "ConfigMap" && d.pointer("/data/prometheus.yml").is_some())
        .ok_or_else(|| internal("prometheus", "no ConfigMap with prometheus.yml"))
}

/// Makes one addon's documents fit for the site (see the module comment).
pub(crate) fn harden(ctx: &Ctx, name: &str, docs: Vec<Value>) -> Result<Hardened, RenderError> {
    let mut h = Hardened {
        docs,
        ..Hardened::default()
    };
    for doc in &mut h.docs {
        // Charts leave `annotations:` with nothing under it.
        if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut)
            && meta.get("annotations").is_some_and(Value::is_null)
        {
            meta.remove("annotations");
        }
        if let Some(pod) = pod_spec_mut(doc) {
            for c in containers_mut(pod) {
                c.insert("imagePullPolicy".into(), PULL_POLICY.into());
            }
        }
    }
    match name {
        "prometheus" => prometheus(ctx, &mut h)?,
        "grafana" => grafana(ctx, &mut h)?,
        "kiali" => kiali(ctx, &mut h)?,
        _ => {}
    }
    h.notes.push(format!(
        "Every container pulls {PULL_POLICY}: its image is pinned, and a restart must not need the registry."
    ));
    Ok(h)
}

/// Prometheus's `--storage.tsdb.retention.size`: 85 % of the volume, in MB
/// (Prometheus's units are powers of 2).
fn retention_size(size: &str) -> Option<String> {
    let bytes = quantity(size)?;
    let mb = (bytes * 0.85 / (1024.0 * 1024.0)).floor();
    (mb >= 1.0).then(|| format!("{mb}MB"))
}

fn prometheus(ctx: &Ctx, h: &mut Hardened) -> Result<(), RenderError> {
    let p = &ctx.site.spec.observability.prometheus;
    let class = p.storage.storage_class_name.as_deref();
    let size = &p.storage.size;
    let cap = retention_size(size).ok_or_else(|| internal("prometheus", format!("`{size}` is not a size")))?;
    let index = h
        .docs
        .iter()
        .position(|d| named(d, "Deployment", "prometheus"))
        .ok_or_else(|| internal("prometheus", "no Deployment `prometheus`"))?;
    let namespace = h.docs[index]
        .pointer("/metadata/namespace")
        .cloned()
        .unwrap_or_else(|| "istio-system".into());
    let deployment = &mut h.docs[index];
    deployment["spec"]["strategy"] = json!({"type": "Recreate"});
    let pod = pod_spec_mut(deployment).ok_or_else(|| internal("prometheus", "the Deployment has no pod spec"))?;
    let server = containers_mut(pod)
        .find(|c| {
            c.get("args").and_then(Value::as_array).is_some_and(|a| {
                a.iter()
                    .any(|x| x.as_str().is_some_and(|s| s.starts_with("--storage.tsdb.path")))
            })
        })
        .ok_or_else(|| internal("prometheus", "no container with --storage.tsdb.path"))?;
    let args = array_mut(server, "args");
    args.retain(|a| !a.as_str().is_some_and(|s| s.starts_with("--storage.tsdb.retention.")));
    args.insert(0, format!("--storage.tsdb.retention.size={cap}").into());
    args.insert(0, format!("--storage.tsdb.retention.time={}", p.retention).into());
    let volume_name = server
        .get("volumeMounts")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .find(|m| m.get("mountPath").and_then(Value::as_str) == Some("/data"))
        })
        .and_then(|m| m.get("name").cloned())
        .ok_or_else(|| internal("prometheus", "no volume mounted at /data"))?;
    let pod_obj = pod
        .as_object_mut()
        .ok_or_else(|| internal("prometheus", "the pod spec is not a mapping"))?;
    let volume = match class {
        Some(_) => json!({"name": volume_name, "persistentVolumeClaim": {"claimName": PROMETHEUS_CLAIM}}),
        None => json!({"name": volume_name, "emptyDir": {"sizeLimit": size}}),
    };
    put_named(array_mut(pod_obj, "volumes"), volume);
    if class.is_some() {
        // The image runs as nobody; a new volume belongs to root.
        pod_obj.insert(
            "securityContext".into(),
            json!({"runAsUser": 65534, "runAsGroup": 65534, "runAsNonRoot": true, "fsGroup": 65534, "fsGroupChangePolicy": "OnRootMismatch"}),
        );
    }
    match class {
        Some(class) => {
            let claim = json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": PROMETHEUS_CLAIM,
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "meshbundle"},
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": class,
                    "resources": {"requests": {"storage": size}},
                },
            });
            h.docs.insert(index, claim);
            h.notes.push(format!(
                "Prometheus keeps {} of data (at most {cap}) on the PersistentVolumeClaim `{PROMETHEUS_CLAIM}` ({size}, class `{class}`);\n\
                 its Deployment rolls out by Recreate, as the claim is ReadWriteOnce.",
                p.retention
            ));
        }
        None => h.notes.push(format!(
            "WARNING: no storage class (spec.observability.prometheus.storage.storageClassName): Prometheus keeps\n\
             {} of data (at most {cap}) in an emptyDir of {size}, lost whenever its pod restarts or moves.",
            p.retention
        )),
    }
    let text = prometheus_config_map(&mut h.docs)?
        .pointer("/data/prometheus.yml")
        .and_then(Value::as_str)
        .ok_or_else(|| internal("prometheus", "prometheus.yml is not text"))?;
    let mut config: Value = ctx
        .value_from_str(text)
        .map_err(|e| unreadable("prometheus", "prometheus.yml", e))?;
    super::blackbox::add_scrape_configs(ctx, &mut config)?;
    scrape_jobs(ctx, &mut config)?;
    h.prometheus_config = Some(config);
    h.notes.push(
        "The kubelet jobs verify each kubelet's serving certificate (serverTLSBootstrap, signed by the cluster CA)\n\
         at the node's InternalIP, which that certificate names; no job skips verification."
            .into(),
    );
    Ok(())
}

/// The cluster CA, as every pod's service account sees it.
pub(crate) const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// Whether a scrape job discovers nodes (the kubelet jobs).
fn discovers_nodes(job: &Value) -> bool {
    job.get("kubernetes_sd_configs")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c.get("role").and_then(Value::as_str) == Some("node")))
}

/// The addon Prometheus's scrape jobs made fit for the site:
///
/// - the kubelet jobs (node discovery) verify the kubelet's serving
///   certificate against the cluster CA instead of skipping verification:
///   with `serverTLSBootstrap` the controller manager signs it with the
///   cluster CA for the node's `Hostname` and `InternalIP`
///   (`pkg/kubelet/certificate/kubelet.go`, from the node's status
///   addresses), and `ops/approve-kubelet-csrs.sh` approves exactly those
///   names. A job that scrapes the kubelet directly is pointed at the
///   node's `InternalIP` and kubelet port, the name Go then checks against
///   the certificate's IP addresses; a job that goes through the API
///   server's node proxy (Istio 1.19's addon) checks the API server's
///   certificate, which kubeadm issues for `kubernetes.default.svc`. Each
///   series gets the node's name as `node`, which the alerts name;
/// - MetalLB's metrics, when it runs ([`super::metallb::scrape_config`]).
fn scrape_jobs(ctx: &Ctx, config: &mut Value) -> Result<(), RenderError> {
    let jobs = config
        .get_mut("scrape_configs")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| internal("prometheus", "prometheus.yml has no scrape_configs list"))?;
    for job in jobs.iter_mut().filter(|j| discovers_nodes(j)) {
        let obj = job
            .as_object_mut()
            .ok_or_else(|| internal("prometheus", "a scrape job is not a mapping"))?;
        let tls = obj.entry("tls_config").or_insert_with(|| json!({}));
        if let Some(t) = tls.as_object_mut() {
            t.remove("insecure_skip_verify");
            t.insert("ca_file".into(), SERVICE_ACCOUNT_CA.into());
        }
        let relabel = array_mut(obj, "relabel_configs");
        let proxied = relabel
            .iter()
            .any(|r| r.get("target_label").and_then(Value::as_str) == Some("__address__"));
        if !proxied {
            relabel.insert(
                0,
                json!({
                    "source_labels": ["__meta_kubernetes_node_address_InternalIP", "__meta_kubernetes_node_kubelet_port"],
                    "regex": "(.+);(.+)",
                    "replacement": "$1:$2",
                    "target_label": "__address__",
                }),
            );
        }
        relabel.push(json!({"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"}));
    }
    jobs.extend(super::metallb::scrape_config(ctx));
    Ok(())
}

/// grafana.ini as sections of `key = value` lines, in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Ini(pub Vec<(String, Vec<(String, String)>)>);

impl Ini {
    pub(crate) fn parse(text: &str) -> Ini {
        let mut ini = Ini(vec![(String::new(), Vec::new())]);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                ini.0.push((section.trim().to_string(), Vec::new()));
            } else if let Some((k, v)) = line.split_once('=') {
                let last = ini.0.last_mut().expect("starts with a section");
                last.1.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        ini
    }

    fn set(&mut self, section: &str, key: &str, value: &str) {
        for (_, kv) in self.0.iter_mut().filter(|(s, _)| s == section) {
            kv.retain(|(k, _)| k != key);
        }
        match self.0.iter_mut().find(|(s, _)| s == section) {
            Some((_, kv)) => kv.push((key.into(), value.into())),
            None => self.0.push((section.into(), vec![(key.into(), value.into())])),
        }
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        for (section, kv) in &self.0 {
            if kv.is_empty() {
                continue;
            }
            if !section.is_empty() {
                out.push_str(&format!("[{section}]\n"));
            }
            for (k, v) in kv {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }
}

fn secret_env(name: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": ADDON_SECRET, "key": key}}})
}

fn grafana(_ctx: &Ctx, h: &mut Hardened) -> Result<(), RenderError> {
    let cm = h
        .docs
        .iter_mut()
        .find(|d| named(d, "ConfigMap", "grafana"))
        .ok_or_else(|| internal("grafana", "no ConfigMap `grafana`"))?;
    let text = cm
        .pointer("/data/grafana.ini")
        .and_then(Value::as_str)
        .ok_or_else(|| internal("grafana", "no grafana.ini"))?;
    let mut ini = Ini::parse(text);
    for (section, key, value) in [
        ("auth.anonymous", "enabled", "false"),
        ("auth", "disable_login_form", "false"),
        ("auth.basic", "enabled", "true"),
        ("security", "disable_initial_admin_creation", "false"),
        ("security", "disable_gravatar", "true"),
        ("users", "allow_sign_up", "false"),
        ("analytics", "check_for_updates", "false"),
        ("analytics", "check_for_plugin_updates", "false"),
        ("analytics", "reporting_enabled", "false"),
    ] {
        ini.set(section, key, value);
    }
    for (_, kv) in ini.0.iter_mut().filter(|(s, _)| s == "auth.anonymous") {
        kv.retain(|(k, _)| k != "org_role");
    }
    cm["data"]["grafana.ini"] = ini.to_text().into();

    let deployment = h
        .docs
        .iter_mut()
        .find(|d| named(d, "Deployment", "grafana"))
        .ok_or_else(|| internal("grafana", "no Deployment `grafana`"))?;
    let pod = pod_spec_mut(deployment).ok_or_else(|| internal("grafana", "the Deployment has no pod spec"))?;
    let c = container_mut(pod, "grafana").ok_or_else(|| internal("grafana", "no container `grafana`"))?;
    let env = array_mut(c, "env");
    // grafana.ini is the one place for authentication: the sample's
    // environment overrides (anonymous Admin, password `admin`) go.
    env.retain(|e| {
        !e.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.starts_with("GF_AUTH_") || n.starts_with("GF_SECURITY_"))
    });
    env.push(secret_env("GF_SECURITY_ADMIN_USER", GRAFANA_USER_KEY));
    env.push(secret_env("GF_SECURITY_ADMIN_PASSWORD", GRAFANA_PASSWORD_KEY));
    h.notes.push(format!(
        "Grafana: no anonymous access; log in as the administrator of the Secret `{ADDON_SECRET}`\n\
         (secrets/addon-credentials.yaml, keys {GRAFANA_USER_KEY} and {GRAFANA_PASSWORD_KEY})."
    ));
    Ok(())
}

/// The Kiali major version, from the image version its configuration names.
fn kiali_major(config: &Value) -> Option<u64> {
    let v = config.pointer("/deployment/image_version").and_then(Value::as_str)?;
    v.trim_start_matches('v').split('.').next()?.parse().ok()
}

fn read_only(rule: &mut Value) {
    // What a view-only Kiali still needs to create: token reviews (logins)
    // and port forwards (proxy configuration dumps).
    const CREATE_OK: &[&str] = &[
        "tokenreviews",
        "subjectaccessreviews",
        "selfsubjectaccessreviews",
        "pods/portforward",
    ];
    let creates_ok = rule
        .get("resources")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().all(|x| x.as_str().is_some_and(|s| CREATE_OK.contains(&s))));
    if let Some(verbs) = rule.get_mut("verbs").and_then(Value::as_array_mut) {
        verbs.retain(|v| {
            matches!(v.as_str(), Some("get" | "list" | "watch"))
                || creates_ok && matches!(v.as_str(), Some("create" | "post"))
        });
    }
}

fn kiali(ctx: &Ctx, h: &mut Hardened) -> Result<(), RenderError> {
    let view_only = ctx.site.spec.observability.kiali.view_only;
    let image = h
        .docs
        .iter_mut()
        .find(|d| named(d, "Deployment", "kiali"))
        .and_then(pod_spec_mut)
        .and_then(|p| container_mut(p, "kiali"))
        .and_then(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .ok_or_else(|| internal("kiali", "no container `kiali` in a Deployment `kiali`"))?;
    let image = ImageRef::parse(&image).map_err(|e| unreadable("kiali", "the image of container `kiali`", e))?;

    let cm = h
        .docs
        .iter_mut()
        .find(|d| named(d, "ConfigMap", "kiali"))
        .ok_or_else(|| internal("kiali", "no ConfigMap `kiali`"))?;
    let text = cm
        .pointer("/data/config.yaml")
        .and_then(Value::as_str)
        .ok_or_else(|| internal("kiali", "no config.yaml"))?;
    let mut config: Value = ctx
        .value_from_str(text)
        .map_err(|e| unreadable("kiali", "config.yaml", e))?;
    let major = kiali_major(&config);
    let obj = |v: &mut Value, key: &str| -> Result<(), RenderError> {
        match v.get(key) {
            Some(Value::Object(_)) => Ok(()),
            None | Some(Value::Null) => {
                v[key] = json!({});
                Ok(())
            }
            Some(_) => Err(internal("kiali", format!("config.yaml: `{key}` is not a mapping"))),
        }
    };
    obj(&mut config, "auth")?;
    config["auth"]["strategy"] = "token".into();
    obj(&mut config, "deployment")?;
    let d = &mut config["deployment"];
    d["view_only_mode"] = view_only.into();
    d["image_name"] = image.name().into();
    d["image_version"] = image.tag.clone().unwrap_or_default().into();
    d["image_digest"] = image.digest.as_ref().map(|x| x.to_string()).unwrap_or_default().into();
    d["image_pull_policy"] = PULL_POLICY.into();
    if let Some(lt) = config.get_mut("login_token").and_then(Value::as_object_mut) {
        // The sample's `CHANGEME00000000`: the key comes from the Secret.
        lt.remove("signing_key");
    }
    obj(&mut config, "external_services")?;
    obj(&mut config["external_services"], "istio")?;
    let istio = &mut config["external_services"]["istio"];
    istio["root_namespace"] = "istio-system".into();
    let rev = &ctx.revision;
    let suffix = |base: &str| {
        if rev.is_empty() {
            base.to_string()
        } else {
            format!("{base}-{rev}")
        }
    };
    let spec = &ctx.site.spec;
    // Kiali's default is svc.cluster.local, whatever the cluster's domain.
    istio["istio_identity_domain"] = format!("svc.{}", spec.kubernetes.cluster_domain).into();
    if major.is_some_and(|m| m < 2) {
        // Kiali 1.x looks for these by name, unrevisioned unless told.
        istio["istiod_deployment_name"] = suffix("istiod").into();
        istio["config_map_name"] = suffix("istio").into();
        istio["istio_sidecar_injector_config_map_name"] = suffix("istio-sidecar-injector").into();
        istio["url_service_version"] = format!("http://{}.istio-system:15014/version", suffix("istiod")).into();
        // ... and checks these components, by their `app` label, in istio-system unless told.
        let mut components =
            vec![json!({"app_label": "istiod", "is_core": true, "is_proxy": false, "namespace": "istio-system"})];
        for (g, core) in [(&spec.istio.ingress_gateway, true), (&spec.istio.egress_gateway, false)] {
            if g.enabled {
                components
                    .push(json!({"app_label": g.name, "is_core": core, "is_proxy": true, "namespace": g.namespace}));
            }
        }
        istio["component_status"] = json!({"enabled": true, "components": components});
    }
    let config_text = ctx.config_yaml("config:kiali.yaml", config)?;
    let checksum = hex::encode(Sha256::digest(config_text.as_bytes()));
    cm["data"]["config.yaml"] = config_text.into();

    let deployment = h
        .docs
        .iter_mut()
        .find(|d| named(d, "Deployment", "kiali"))
        .expect("found above");
    if let Some(ann) = deployment
        .pointer_mut("/spec/template/metadata/annotations")
        .and_then(Value::as_object_mut)
        && ann.contains_key("checksum/config")
    {
        ann.insert("checksum/config".into(), checksum.into());
    }
    let pod = pod_spec_mut(deployment).expect("found above");
    let volume = "kiali-login-token-signing-key";
    let c = container_mut(pod, "kiali").expect("found above");
    put_named(
        array_mut(c, "volumeMounts"),
        json!({"name": volume, "mountPath": KIALI_SIGNING_KEY_DIR, "readOnly": true}),
    );
    let pod_obj = pod.as_object_mut().expect("a pod spec is a mapping");
    put_named(
        array_mut(pod_obj, "volumes"),
        json!({"name": volume, "secret": {"secretName": ADDON_SECRET, "items": [{"key": KIALI_SIGNING_KEY, "path": "value.txt"}]}}),
    );

    if view_only {
        for doc in h.docs.iter_mut().filter(|d| matches!(kind(d), "ClusterRole" | "Role")) {
            for rule in doc.get_mut("rules").and_then(Value::as_array_mut).into_iter().flatten() {
                read_only(rule);
            }
            if let Some(rules) = doc.get_mut("rules").and_then(Value::as_array_mut) {
                rules.retain(|r| r.get("verbs").and_then(Value::as_array).is_some_and(|v| !v.is_empty()));
            }
        }
    }
    h.notes.push(format!(
        "Kiali: log in with a Kubernetes token (auth strategy `token`); {}; sessions signed with the key in the Secret `{ADDON_SECRET}`.",
        if view_only { "view-only, and its service account reads only" } else { "users with the RBAC rights may change configuration" }
    ));
    Ok(())
}

/// The Secret the addons read their credentials from, when an addon needs it
/// and the secrets are there.
pub(crate) fn render_credentials(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    if let Some(s) = ctx.secrets
        && let Some(secret) = addon_secret(ctx.site, s)
    {
        tree.add(CREDENTIALS_FILE, ctx.yaml(&[secret])?, MODE_SECRET);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every carried Grafana sample: the documents set aside are exactly the
    /// [`VERBATIM`] ConfigMaps, each once, holding only JSON dashboards (which
    /// [`harden`] would leave as they are), and reading the rest and then
    /// them gives the documents of the whole file, in order.
    #[test]
    fn set_aside_keeps_exactly_the_dashboards_and_loses_nothing() {
        let mut seen = 0;
        for istio in &crate::catalog::catalog().istio {
            for (name, names) in VERBATIM {
                let Some(file) = istio.addons.get(*name) else { continue };
                let text = std::str::from_utf8(file.bytes()).unwrap();
                let (rest, kept) = set_aside(name, text);
                assert_eq!(kept.len(), names.len(), "{}: {kept:?}", file.copy);
                let mut read = documents(name, &rest).unwrap();
                for (doc, want) in kept.iter().zip(names.iter()) {
                    assert!(!doc.starts_with('\n') && doc.ends_with("\n") && !doc.ends_with("\n\n"));
                    let v = crate::yaml::value_from_str(doc).unwrap();
                    assert!(named(&v, "ConfigMap", want), "{}: {want}", file.copy);
                    assert!(v.pointer("/metadata/annotations").is_none());
                    let data = v["data"].as_object().unwrap();
                    assert!(
                        !data.is_empty() && data.keys().all(|k| k.ends_with(".json")),
                        "{}",
                        file.copy
                    );
                    for json in data.values() {
                        serde_json::from_str::<Value>(json.as_str().unwrap()).unwrap();
                    }
                    read.push(v);
                }
                assert_eq!(read, documents(name, text).unwrap(), "{}", file.copy);
                seen += 1;
            }
        }
        assert!(seen >= 3, "every carried Istio release has Grafana's sample");
    }

    /// Only a block-style ConfigMap with a plain name at the top level counts.
    #[test]
    fn config_map_name_reads_only_the_top_level() {
        let doc = "apiVersion: v1\ndata:\n  a.json: |\n    {}\nkind: ConfigMap\nmetadata:\n  labels:\n    name: other\n  name: dash\n";
        assert_eq!(config_map_name(doc), Some("dash"));
        assert_eq!(config_map_name(&doc.replace("kind: ConfigMap", "kind: Secret")), None);
        assert_eq!(config_map_name(&doc.replace("  name: dash", "  name: \"dash\"")), None);
        assert_eq!(
            config_map_name("kind: ConfigMap\ndata:\n  metadata:\n  name: x\n"),
            None
        );
        assert_eq!(
            config_map_name("data:\n  x: |\n    kind: ConfigMap\nmetadata:\n  name: d\n"),
            None
        );
        // Not a grafana sample: nothing is set aside.
        let (rest, kept) = set_aside("kiali", doc);
        assert_eq!((rest.as_str(), kept.len()), (doc, 0));
    }
}
