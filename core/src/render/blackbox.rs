//! The certificates no Kubernetes or Istio metric measures, measured by
//! probing them: the Prometheus blackbox exporter (pinned in the catalog as
//! `blackboxExporter`; meshbundle renders its objects itself, as the project
//! publishes no manifest) runs in `istio-system` without a sidecar, and the
//! addon Prometheus scrapes it with two jobs of static targets:
//!
//! - `ingress-certificates`: one target per ingress host, a TLS handshake with
//!   the ingress gateway's Service on its HTTPS port, with the host as SNI
//!   (a wildcard host `*.example.com` is probed as
//!   `meshbundle-probe.example.com`, which the wildcard server matches). The
//!   exporter reads the certificate and does not judge its trust
//!   (`insecure_skip_verify`): the certificate may come from the site's own CA
//!   (`spec.pki` or a supplied one), and an untrusted certificate must still
//!   report its date. The handshake ends before any HTTP request, so the
//!   gateway's authorization policies (which judge requests) do not stop it.
//! - `apiserver-certificates`: one target per control-plane node, its API
//!   server on 6443, verified against the cluster CA (the `kube-root-ca.crt`
//!   ConfigMap every namespace has) with the node address as the name, as
//!   kubeadm puts the advertise address in the serving certificate. kubeadm
//!   issues and renews every certificate of a control-plane node together
//!   (`kubeadm certs renew all`), so the serving certificate stands for that
//!   node's etcd and front-proxy certificates, which cannot be probed without
//!   a client certificate; `ops/cert-expiry.sh` reads those from disk.
//!
//! Each probe gives `probe_success` and, when the handshake worked,
//! `probe_ssl_earliest_cert_expiry`: the earliest `notAfter` (Unix seconds)
//! of the certificates the server sent (`prober/tls.go`,
//! `getEarliestCertExpiry`, blackbox_exporter v0.28.0, commit
//! 5a059bee8d8ffa4e75947c5055fb0abeefc582e6; the `tcp` prober with
//! `tls: true`, `prober/tcp.go`). The alert rules on them are in
//! [`super::observability`].
//!
//! Every value from the spec (hosts, node names and addresses) is validated
//! before render and reaches the YAML only as a string value of a document
//! built here, never spliced into text.

use std::net::IpAddr;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::addons::PULL_POLICY;
use super::{Ctx, RenderError};
use crate::spec::{Role, Site};
use crate::tree::FileTree;

pub(crate) const NAME: &str = "blackbox-exporter";
pub(crate) const NAMESPACE: &str = "istio-system";
pub(crate) const PORT: u16 = 9115;
/// The scrape job of the ingress certificate probes.
pub(crate) const INGRESS_JOB: &str = "ingress-certificates";
/// The scrape job of the API server certificate probes.
pub(crate) const APISERVER_JOB: &str = "apiserver-certificates";
/// Where it is rendered.
pub(crate) const FILE: &str = "manifests/observability/blackbox-exporter.yaml";
/// The port kubeadm's API servers listen on (`localAPIEndpoint.bindPort`).
const APISERVER_PORT: u16 = 6443;
const APISERVER_MODULE: &str = "kubernetes-apiserver";
const CONFIG_KEY: &str = "blackbox.yml";
const CONFIG_DIR: &str = "/etc/blackbox-exporter";
const CA_DIR: &str = "/etc/blackbox-exporter/kubernetes-ca";
/// The exporter gives up on a probe after this long (Prometheus's timeout
/// of the job is longer).
const PROBE_TIMEOUT: &str = "5s";

/// Whether the site runs the exporter: only the addon Prometheus scrapes it.
pub fn on(site: &Site) -> bool {
    site.spec.observability.addons.prometheus
}

/// One ingress host's probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IngressProbe {
    pub host: String,
    /// The SNI the probe sends.
    pub server_name: String,
    pub module: String,
}

/// The probes of the ingress hosts, when the ingress gateway serves TLS.
pub(crate) fn ingress_probes(ctx: &Ctx) -> Vec<IngressProbe> {
    let g = &ctx.site.spec.istio.ingress_gateway;
    if !g.enabled || g.tls.is_none() || https_port(ctx).is_none() {
        return Vec::new();
    }
    let mut hosts: Vec<&String> = g.hosts.iter().collect();
    hosts.sort();
    hosts.dedup();
    hosts
        .into_iter()
        .map(|h| {
            let server_name = match h.strip_prefix("*.") {
                Some(rest) => format!("meshbundle-probe.{rest}"),
                None => h.clone(),
            };
            // Named by the SNI itself: two hosts share a module only when
            // they are probed the same way.
            IngressProbe {
                host: h.clone(),
                module: format!("ingress-{server_name}"),
                server_name,
            }
        })
        .collect()
}

/// The Service port the Gateway's HTTPS server is on (as in `traffic`).
fn https_port(ctx: &Ctx) -> Option<u32> {
    ctx.site
        .spec
        .istio
        .ingress_gateway
        .service
        .ports
        .iter()
        .find(|p| p.name.starts_with("https"))
        .map(|p| p.port)
}

/// The gateway pods' port the ingress probes reach (the `targetPort` of the
/// probed Service port), when there are probes.
pub(crate) fn ingress_probe_target_port(ctx: &Ctx) -> Option<u32> {
    if !on(ctx.site) || ingress_probes(ctx).is_empty() {
        return None;
    }
    ctx.site
        .spec
        .istio
        .ingress_gateway
        .service
        .ports
        .iter()
        .find(|p| p.name.starts_with("https"))
        .map(|p| p.target_port)
}

/// The ingress gateway's Service, in the cluster, as a probe target.
fn ingress_target(ctx: &Ctx) -> Option<String> {
    let g = &ctx.site.spec.istio.ingress_gateway;
    Some(format!(
        "{}.{}.svc.{}:{}",
        g.name,
        g.namespace,
        ctx.site.spec.kubernetes.cluster_domain,
        https_port(ctx)?
    ))
}

fn host_port(address: &str, port: u16) -> String {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) => format!("[{a}]:{port}"),
        _ => format!("{address}:{port}"),
    }
}

/// `(node name, API server address)` of each control-plane node.
pub(crate) fn apiserver_probes(ctx: &Ctx) -> Vec<(String, String)> {
    ctx.site
        .spec
        .nodes
        .iter()
        .filter(|n| n.role == Role::ControlPlane)
        .map(|n| (n.name.clone(), host_port(&n.address, APISERVER_PORT)))
        .collect()
}

/// The exporter's configuration (`blackbox.yml`).
pub(crate) fn config(ctx: &Ctx) -> Value {
    let mut modules = serde_json::Map::new();
    modules.insert(
        APISERVER_MODULE.into(),
        json!({
            "prober": "tcp",
            "timeout": PROBE_TIMEOUT,
            "tcp": {"tls": true, "tls_config": {"ca_file": format!("{CA_DIR}/ca.crt")}},
        }),
    );
    for p in ingress_probes(ctx) {
        modules.insert(
            p.module,
            json!({
                "prober": "tcp",
                "timeout": PROBE_TIMEOUT,
                "tcp": {"tls": true, "tls_config": {"server_name": p.server_name, "insecure_skip_verify": true}},
            }),
        );
    }
    json!({ "modules": modules })
}

fn exporter_address(ctx: &Ctx) -> String {
    format!(
        "{NAME}.{NAMESPACE}.svc.{}:{PORT}",
        ctx.site.spec.kubernetes.cluster_domain
    )
}

/// The usual blackbox relabelling: the static target becomes the `target`
/// parameter and the `instance` label, and the exporter is what is scraped.
fn relabel(ctx: &Ctx) -> Value {
    json!([
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": exporter_address(ctx)},
    ])
}

/// The scrape jobs the addon Prometheus gets.
pub(crate) fn scrape_configs(ctx: &Ctx) -> Vec<Value> {
    let mut jobs = Vec::new();
    let ingress = ingress_probes(ctx);
    if let (false, Some(target)) = (ingress.is_empty(), ingress_target(ctx)) {
        // Each host has its own module (its SNI): `__param_module` is the
        // `module` parameter of that target's scrape.
        let targets: Vec<Value> = ingress
            .iter()
            .map(|p| json!({"targets": [target], "labels": {"host": p.host, "__param_module": p.module}}))
            .collect();
        jobs.push(json!({
            "job_name": INGRESS_JOB,
            "metrics_path": "/probe",
            "scrape_interval": "1m",
            "scrape_timeout": "10s",
            "static_configs": targets,
            "relabel_configs": relabel(ctx),
        }));
    }
    let api: Vec<Value> = apiserver_probes(ctx)
        .into_iter()
        .map(|(node, addr)| json!({"targets": [addr], "labels": {"node": node}}))
        .collect();
    if !api.is_empty() {
        jobs.push(json!({
            "job_name": APISERVER_JOB,
            "metrics_path": "/probe",
            "params": {"module": [APISERVER_MODULE]},
            "scrape_interval": "1m",
            "scrape_timeout": "10s",
            "static_configs": api,
            "relabel_configs": relabel(ctx),
        }));
    }
    jobs
}

/// Appends [`scrape_configs`] to the addon Prometheus's `prometheus.yml`.
pub(crate) fn add_scrape_configs(ctx: &Ctx, config: &mut Value) -> Result<(), RenderError> {
    if !on(ctx.site) {
        return Ok(());
    }
    let jobs = config
        .get_mut("scrape_configs")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| RenderError::Upstream {
            name: "manifest/addon-prometheus".into(),
            reason: "prometheus.yml has no scrape_configs list".into(),
        })?;
    jobs.extend(scrape_configs(ctx));
    Ok(())
}

fn labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "meshbundle", "app.kubernetes.io/managed-by": "meshbundle"})
}

/// The exporter's documents.
pub(crate) fn documents(ctx: &Ctx) -> Result<Vec<Value>, RenderError> {
    let config_text = ctx.config_yaml("config:blackbox.yml", config(ctx))?;
    let checksum = hex::encode(Sha256::digest(config_text.as_bytes()));
    let image = ctx
        .cat
        .blackbox_exporter
        .images
        .first()
        .ok_or_else(|| RenderError::Internal("the catalog's blackboxExporter has no image".into()))?;
    let meta = |name: &str| json!({"name": name, "namespace": NAMESPACE, "labels": labels()});
    let selector = json!({"app.kubernetes.io/name": NAME});
    let mut pod_labels = labels();
    // istio-system is not injected; say it anyway: the probes must be plain
    // TLS from this pod, not mTLS through a sidecar.
    pod_labels["sidecar.istio.io/inject"] = "false".into();
    let probe =
        json!({"httpGet": {"path": "/-/healthy", "port": "http-metrics"}, "periodSeconds": 10, "timeoutSeconds": 5});
    Ok(vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(NAME),
            "automountServiceAccountToken": false,
        }),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta(NAME),
            "data": {CONFIG_KEY: config_text},
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(NAME),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http-metrics", "port": PORT, "targetPort": "http-metrics", "protocol": "TCP"}],
            },
        }),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(NAME),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": {"checksum/config": checksum}},
                    "spec": {
                        "serviceAccountName": NAME,
                        "automountServiceAccountToken": false,
                        "securityContext": {
                            "runAsNonRoot": true,
                            "runAsUser": 65534,
                            "runAsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [{
                            "name": NAME,
                            "image": ctx.image(image),
                            "imagePullPolicy": PULL_POLICY,
                            "args": [format!("--config.file={CONFIG_DIR}/{CONFIG_KEY}")],
                            "ports": [{"name": "http-metrics", "containerPort": PORT, "protocol": "TCP"}],
                            "readinessProbe": probe,
                            "livenessProbe": probe,
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
                            "securityContext": {
                                "allowPrivilegeEscalation": false,
                                "readOnlyRootFilesystem": true,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": true},
                                {"name": "kubernetes-ca", "mountPath": CA_DIR, "readOnly": true},
                            ],
                        }],
                        "volumes": [
                            {"name": "config", "configMap": {"name": NAME}},
                            {"name": "kubernetes-ca", "configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        ],
                    },
                },
            },
        }),
    ])
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    if !on(ctx.site) {
        return Ok(());
    }
    let mut out = ctx.header("#");
    out.push_str(&format!(
        "# Prometheus blackbox exporter {} (catalog `blackboxExporter`): probes the ingress TLS\n\
         # certificate for each ingress host and each control-plane node's API server\n\
         # certificate; the addon Prometheus scrapes it (jobs {INGRESS_JOB}, {APISERVER_JOB}).\n",
        ctx.cat.blackbox_exporter.version
    ));
    let docs = documents(ctx)?;
    out.push_str(&ctx.documents_yaml(FILE, &docs)?);
    ctx.keep_observability_docs(FILE, &docs);
    tree.add(FILE, out, crate::tree::MODE_FILE);
    Ok(())
}
