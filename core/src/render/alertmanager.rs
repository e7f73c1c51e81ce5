//! Alertmanager (`spec.observability.alertmanager`): the addon Prometheus
//! sends every alert to it, and it delivers them to the receivers the spec
//! states. Alertmanager publishes no Kubernetes manifest, so the objects are
//! written here, for the release the catalog pins
//! (`quay.io/prometheus/alertmanager`, moved to the site registry):
//!
//! - a StatefulSet in `istio-system` (no sidecar), non-root with a read-only
//!   root filesystem, its silences and notification log on a
//!   PersistentVolumeClaim per pod when a storage class is named (a
//!   size-limited emptyDir otherwise); with two or more replicas the pods
//!   form one gossip cluster (`--cluster.peer` for each pod, through the
//!   headless Service `alertmanager-cluster`), so silences are shared and a
//!   notification goes out once, and a PodDisruptionBudget keeps all but one
//!   up through a drain;
//! - `alertmanager.yml` in a ConfigMap (it holds no credential: the SMTP
//!   password and the webhook token are files of the Secret
//!   `secrets/alertmanager-credentials.yaml`, read through
//!   `auth_password_file` and `credentials_file`); a checksum of it on the pod
//!   template restarts the pods when it changes;
//! - the Service `alertmanager` (port 9093) for the UI and amtool.
//!
//! The addon Prometheus is told every pod by its own DNS name (its
//! `alerting.alertmanagers`), never the Service: Alertmanager's clustering
//! expects each Prometheus to send every alert to every Alertmanager, and
//! deduplicates itself.
//!
//! Routing groups by alert name, namespace and severity; critical alerts
//! repeat hourly, the others every four hours. Inhibition drops the obvious
//! duplicates among the shipped alerts ([`inhibit_rules`]).

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{Ctx, RenderError};
use crate::tree::{FileTree, MODE_SECRET};

pub(crate) const NAMESPACE: &str = "istio-system";
const NAME: &str = "alertmanager";
/// The headless Service that gives each pod its DNS name.
pub(crate) const CLUSTER_SERVICE: &str = "alertmanager-cluster";
const CONFIG_MAP: &str = "alertmanager-config";
const CREDENTIALS_SECRET: &str = "alertmanager-credentials";
/// Where the Secret with the receivers' credentials is rendered.
pub(crate) const CREDENTIALS_FILE: &str = "secrets/alertmanager-credentials.yaml";
/// Where the manifest is rendered.
pub(crate) const MANIFEST: &str = "manifests/observability/alertmanager.yaml";
const WEB_PORT: u16 = 9093;
const CLUSTER_PORT: u16 = 9094;
const CONFIG_DIR: &str = "/etc/alertmanager/config";
const SECRETS_DIR: &str = "/etc/alertmanager/secrets";
const SMTP_PASSWORD_KEY: &str = "smtp-password";
const WEBHOOK_TOKEN_KEY: &str = "webhook-token";
const WEBHOOK_CA_KEY: &str = "webhook-ca.crt";
const EMAIL_CA_KEY: &str = "email-ca.crt";
/// The one receiver every alert goes to.
pub(crate) const RECEIVER: &str = "site";

fn on(ctx: &Ctx) -> bool {
    ctx.site.spec.observability.alertmanager.enabled && ctx.site.spec.observability.addons.prometheus
}

/// Each pod's DNS name, as the StatefulSet and its headless Service give it.
pub(crate) fn pod_hosts(ctx: &Ctx) -> Vec<String> {
    let am = &ctx.site.spec.observability.alertmanager;
    let domain = &ctx.site.spec.kubernetes.cluster_domain;
    (0..am.replicas)
        .map(|i| format!("{NAME}-{i}.{CLUSTER_SERVICE}.{NAMESPACE}.svc.{domain}"))
        .collect()
}

/// The section of `prometheus.yml` that sends alerts to every pod.
pub(crate) fn prometheus_alerting(ctx: &Ctx) -> Value {
    let targets: Vec<String> = pod_hosts(ctx).iter().map(|h| format!("{h}:{WEB_PORT}")).collect();
    json!({"alertmanagers": [{"api_version": "v2", "scheme": "http", "timeout": "10s", "static_configs": [{"targets": targets}]}]})
}

/// Inhibition: what stops a notification that says nothing new.
///
/// - A critical alert mutes the warning of the same name about the same
///   object (namespace, service, pod, container, instance).
/// - A service failing with 5xx (`MeshServiceHighErrorRate`) mutes its p99
///   latency warning: both are the same failure, and the error rate is what
///   to act on.
/// - The Istio root expiring (`MeshRootCertificateExpiring`) mutes the
///   intermediate's alert from the same istiod: the intermediate is issued
///   under that root, and the root rotation replaces both.
pub(crate) fn inhibit_rules() -> Value {
    json!([
        {
            "source_matchers": ["severity=\"critical\""],
            "target_matchers": ["severity=\"warning\""],
            "equal": ["alertname", "namespace", "destination_service", "pod", "container", "instance", "host", "node"],
        },
        {
            "source_matchers": ["alertname=\"MeshServiceHighErrorRate\""],
            "target_matchers": ["alertname=\"MeshServiceHighP99Latency\""],
            "equal": ["destination_service"],
        },
        {
            "source_matchers": ["alertname=\"MeshRootCertificateExpiring\""],
            "target_matchers": ["alertname=\"MeshIntermediateCertificateExpiring\""],
            "equal": ["namespace", "pod"],
        },
    ])
}

/// Alerts on the delivery of alerts: Prometheus failing to hand them to an
/// Alertmanager pod (`prometheus_notifications_errors_total`, from its own
/// `prometheus` scrape job), and Alertmanager failing to deliver them to a
/// receiver (`alertmanager_notifications_failed_total`, scraped through the
/// pods' `prometheus.io/scrape` annotations). Either shows on the UIs and
/// reaches the receivers that still work.
pub(crate) fn alert_group(ctx: &Ctx) -> Option<Value> {
    if !on(ctx) {
        return None;
    }
    let site = ctx.name();
    Some(json!({
        "name": "meshbundle-alert-delivery",
        "rules": [
            {
                "alert": "PrometheusAlertmanagerErrors",
                "expr": "sum by (alertmanager) (rate(prometheus_notifications_errors_total{job=\"prometheus\"}[5m])) > 0",
                "for": "10m",
                "labels": {"severity": "warning", "site": site},
                "annotations": {"summary": "Prometheus fails to send alerts to the Alertmanager at {{ $labels.alertmanager }}"},
            },
            {
                "alert": "AlertmanagerDeliveryFailing",
                "expr": format!("sum by (namespace, pod, integration) (rate(alertmanager_notifications_failed_total{{namespace=\"{NAMESPACE}\"}}[10m])) > 0"),
                "for": "10m",
                "labels": {"severity": "critical", "site": site},
                "annotations": {"summary": "{{ $labels.pod }} fails to deliver alerts by {{ $labels.integration }}: see its log"},
            },
        ],
    }))
}

/// `alertmanager.yml`.
pub(crate) fn config(ctx: &Ctx) -> Value {
    let am = &ctx.site.spec.observability.alertmanager;
    let mut receiver = json!({"name": RECEIVER});
    if let Some(w) = &am.receivers.webhook {
        let mut http = json!({"follow_redirects": false});
        if w.bearer_token {
            http["authorization"] =
                json!({"type": "Bearer", "credentials_file": format!("{SECRETS_DIR}/{WEBHOOK_TOKEN_KEY}")});
        }
        if w.ca_certificate.is_some() {
            http["tls_config"] = json!({"ca_file": format!("{CONFIG_DIR}/{WEBHOOK_CA_KEY}")});
        }
        receiver["webhook_configs"] =
            json!([{"url": w.url, "send_resolved": true, "max_alerts": 0, "http_config": http}]);
    }
    if let Some(e) = &am.receivers.email {
        let mut c = json!({
            "to": e.to.join(", "),
            "from": e.from,
            "smarthost": e.smarthost,
            "require_tls": e.require_tls,
            "send_resolved": true,
        });
        if let Some(u) = &e.auth_username {
            c["auth_username"] = u.clone().into();
            c["auth_password_file"] = format!("{SECRETS_DIR}/{SMTP_PASSWORD_KEY}").into();
        }
        if e.ca_certificate.is_some() {
            c["tls_config"] = json!({"ca_file": format!("{CONFIG_DIR}/{EMAIL_CA_KEY}")});
        }
        receiver["email_configs"] = json!([c]);
    }
    json!({
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname", "namespace", "severity"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [{"receiver": RECEIVER, "matchers": ["severity=\"critical\""], "repeat_interval": "1h"}],
        },
        "inhibit_rules": inhibit_rules(),
        "receivers": [receiver],
    })
}

/// The credentials the receivers need from the secrets, as Secret keys.
fn credential_keys(ctx: &Ctx) -> Vec<&'static str> {
    let r = &ctx.site.spec.observability.alertmanager.receivers;
    let mut keys = Vec::new();
    if r.email.as_ref().is_some_and(|e| e.auth_username.is_some()) {
        keys.push(SMTP_PASSWORD_KEY);
    }
    if r.webhook.as_ref().is_some_and(|w| w.bearer_token) {
        keys.push(WEBHOOK_TOKEN_KEY);
    }
    keys
}

/// Whether `install.sh cluster` must apply the credentials Secret.
pub(crate) fn needs_credentials(ctx: &Ctx) -> bool {
    on(ctx) && !credential_keys(ctx).is_empty()
}

fn labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "meshbundle"})
}

fn objects(ctx: &Ctx) -> Result<Vec<Value>, RenderError> {
    let am = &ctx.site.spec.observability.alertmanager;
    let image = ctx
        .cat
        .alertmanager
        .images
        .first()
        .ok_or_else(|| RenderError::Internal("the catalog names no Alertmanager image".into()))?;
    let config_text = ctx.config_yaml("config:alertmanager.yml", config(ctx))?;
    let mut data = serde_json::Map::new();
    data.insert("alertmanager.yml".into(), config_text.into());
    if let Some(pem) = am.receivers.webhook.as_ref().and_then(|w| w.ca_certificate.as_ref()) {
        data.insert(WEBHOOK_CA_KEY.into(), pem.clone().into());
    }
    if let Some(pem) = am.receivers.email.as_ref().and_then(|e| e.ca_certificate.as_ref()) {
        data.insert(EMAIL_CA_KEY.into(), pem.clone().into());
    }
    let checksum = hex::encode(Sha256::digest(
        serde_json::to_vec(&data).map_err(|e| RenderError::encode("JSON", e))?,
    ));
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": NAMESPACE, "labels": labels()},
        "data": data,
    });

    let clustered = am.replicas > 1;
    let mut args = vec![
        format!("--config.file={CONFIG_DIR}/alertmanager.yml"),
        "--storage.path=/alertmanager".to_string(),
        format!("--web.listen-address=:{WEB_PORT}"),
    ];
    if clustered {
        args.push(format!("--cluster.listen-address=0.0.0.0:{CLUSTER_PORT}"));
        args.push(format!("--cluster.advertise-address=$(POD_IP):{CLUSTER_PORT}"));
        for h in pod_hosts(ctx) {
            args.push(format!("--cluster.peer={h}:{CLUSTER_PORT}"));
        }
    } else {
        // An empty listen address turns clustering off.
        args.push("--cluster.listen-address=".to_string());
    }
    let mut mounts = vec![
        json!({"name": "config", "mountPath": CONFIG_DIR, "readOnly": true}),
        json!({"name": "storage", "mountPath": "/alertmanager"}),
    ];
    let mut volumes = vec![json!({"name": "config", "configMap": {"name": CONFIG_MAP}})];
    let keys = credential_keys(ctx);
    if !keys.is_empty() {
        mounts.push(json!({"name": "credentials", "mountPath": SECRETS_DIR, "readOnly": true}));
        volumes.push(json!({
            "name": "credentials",
            "secret": {"secretName": CREDENTIALS_SECRET, "defaultMode": 0o440, "items": keys.iter().map(|k| json!({"key": k, "path": k})).collect::<Vec<_>>()},
        }));
    }
    let class = am.storage.storage_class_name.as_deref();
    if class.is_none() {
        volumes.push(json!({"name": "storage", "emptyDir": {"sizeLimit": am.storage.size}}));
    }
    let mut ports = vec![json!({"name": "http-web", "containerPort": WEB_PORT, "protocol": "TCP"})];
    if clustered {
        ports.push(json!({"name": "tcp-mesh", "containerPort": CLUSTER_PORT, "protocol": "TCP"}));
        ports.push(json!({"name": "udp-mesh", "containerPort": CLUSTER_PORT, "protocol": "UDP"}));
    }
    let selector = json!({"app.kubernetes.io/name": NAME});
    let term = |key: &str, weight: u32| json!({"weight": weight, "podAffinityTerm": {"topologyKey": key, "labelSelector": {"matchLabels": selector}}});
    let mut sts = json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels()},
        "spec": {
            "serviceName": CLUSTER_SERVICE,
            "replicas": am.replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": {"app.kubernetes.io/name": NAME, "app": NAME, "sidecar.istio.io/inject": "false"},
                    "annotations": {
                        "checksum/config": checksum,
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": WEB_PORT.to_string(),
                    },
                },
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": false,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "fsGroup": 65534,
                        "fsGroupChangePolicy": "OnRootMismatch",
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                        term("kubernetes.io/hostname", 100),
                        term("topology.kubernetes.io/zone", 50),
                    ]}},
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{
                        "name": NAME,
                        "image": ctx.image(image),
                        "imagePullPolicy": super::addons::PULL_POLICY,
                        "args": args,
                        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                        "ports": ports,
                        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": WEB_PORT}, "periodSeconds": 10, "failureThreshold": 3},
                        "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": WEB_PORT}, "periodSeconds": 10, "failureThreshold": 6},
                        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    });
    if let Some(class) = class {
        sts["spec"]["volumeClaimTemplates"] = json!([{
            "metadata": {"name": "storage", "labels": labels()},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": am.storage.size}}},
        }]);
    }
    let mut cluster_ports =
        vec![json!({"name": "http-web", "port": WEB_PORT, "targetPort": WEB_PORT, "protocol": "TCP"})];
    if clustered {
        cluster_ports
            .push(json!({"name": "tcp-mesh", "port": CLUSTER_PORT, "targetPort": CLUSTER_PORT, "protocol": "TCP"}));
        cluster_ports
            .push(json!({"name": "udp-mesh", "port": CLUSTER_PORT, "targetPort": CLUSTER_PORT, "protocol": "UDP"}));
    }
    let mut docs = vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels()},
            "automountServiceAccountToken": false,
        }),
        config_map,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels()},
            "spec": {"type": "ClusterIP", "selector": selector, "ports": [{"name": "http-web", "port": WEB_PORT, "targetPort": WEB_PORT, "protocol": "TCP"}]},
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": CLUSTER_SERVICE, "namespace": NAMESPACE, "labels": labels()},
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": true, "selector": selector, "ports": cluster_ports},
        }),
        sts,
    ];
    if clustered {
        docs.push(json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels()},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        }));
    }
    Ok(docs)
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    if !on(ctx) {
        return Ok(());
    }
    let am = &ctx.site.spec.observability.alertmanager;
    // The Secret first: the header names its file only when it is rendered.
    let keys = credential_keys(ctx);
    let mut credentials = None;
    if !keys.is_empty()
        && let Some(s) = ctx.secrets
        && let Some(have) = &s.alertmanager
    {
        let mut data = serde_json::Map::new();
        for k in keys {
            let v = match k {
                SMTP_PASSWORD_KEY => have.smtp_password.as_ref(),
                _ => have.webhook_bearer_token.as_ref(),
            };
            if let Some(v) = v {
                data.insert(k.into(), b64(v).into());
            }
        }
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": CREDENTIALS_SECRET, "namespace": NAMESPACE, "labels": labels()},
            "type": "Opaque",
            "data": data,
        });
        credentials = Some(ctx.yaml(&[secret])?);
    }
    let mut out = ctx.header("#");
    out.push_str(&format!(
        "# Alertmanager {} ({}), fed by the addon Prometheus; alertmanager.yml is in the\n\
         # ConfigMap `{CONFIG_MAP}`, {}.\n",
        ctx.cat.alertmanager.version,
        ctx.cat
            .alertmanager
            .images
            .first()
            .map(String::as_str)
            .unwrap_or_default(),
        if credentials.is_some() {
            format!("the receivers' credentials in {CREDENTIALS_FILE}")
        } else {
            "and its receivers read no credentials".to_string()
        },
    ));
    match &am.storage.storage_class_name {
        Some(class) => out.push_str(&format!(
            "# Each pod keeps its silences and notification log on a PersistentVolumeClaim of {} (class `{class}`).\n",
            am.storage.size
        )),
        None => out.push_str(&format!(
            "# WARNING: no storage class (spec.observability.alertmanager.storage.storageClassName): each pod keeps\n\
             # its silences in an emptyDir of {}, kept across restarts only through the other replicas.\n",
            am.storage.size
        )),
    }
    let docs = objects(ctx)?;
    out.push_str(&ctx.documents_yaml(MANIFEST, &docs)?);
    ctx.keep_observability_docs(MANIFEST, &docs);
    tree.add(MANIFEST, out, crate::tree::MODE_FILE);
    if let Some(text) = credentials {
        tree.add(CREDENTIALS_FILE, text, MODE_SECRET);
    }
    Ok(())
}

/// The lines of `ops/verify.sh` that check Alertmanager: its pods are
/// ready, they see each other, and the addon Prometheus sends to each.
pub(crate) fn verify_lines(ctx: &Ctx) -> String {
    if !on(ctx) {
        return String::new();
    }
    let n = ctx.site.spec.observability.alertmanager.replicas;
    format!(
        r#"
echo "== alertmanager"
# Through the API server's proxy: no port-forward, nothing needed in the images.
if kubectl -n {ns} rollout status statefulset/{NAME} --timeout="$TIMEOUT"; then
  am_status=$(kubectl get --raw "/api/v1/namespaces/{ns}/pods/{NAME}-0:{WEB_PORT}/proxy/api/v2/status" || true)
  if [[ -z "$am_status" ]]; then
    problem "alertmanager-0 does not answer on /api/v2/status"
  fi{peers}
else
  problem "alertmanager is not ready"
fi
# Prometheus must know every Alertmanager pod (its /api/v1/alertmanagers).
prom_am=$(kubectl get --raw "/api/v1/namespaces/{ns}/services/prometheus:9090/proxy/api/v1/alertmanagers" || true)
prom_active=${{prom_am%%\"droppedAlertmanagers\"*}}
prom_count=$(grep -o '"url":' <<<"$prom_active" | wc -l || true)
((prom_count == {n})) || problem "Prometheus sends alerts to $prom_count Alertmanager(s), expected {n} (kubectl get --raw /api/v1/namespaces/{ns}/services/prometheus:9090/proxy/api/v1/alertmanagers)"
"#,
        ns = NAMESPACE,
        peers = if n > 1 {
            format!(
                r#"
  # The pods gossip with each other: otherwise each notifies on its own.
  am_peers=$(grep -o '"address":' <<<"${{am_status#*\"peers\":}}" | wc -l || true)
  if [[ -n "$am_status" ]] && ((am_peers != {n})); then
    problem "the Alertmanager cluster has $am_peers peer(s), expected {n}"
  fi"#
            )
        } else {
            String::new()
        },
    )
}

/// The README's part on where alerts go, how to silence them and how to test
/// delivery.
pub(crate) fn readme(ctx: &Ctx) -> String {
    if !on(ctx) {
        return String::new();
    }
    let am = &ctx.site.spec.observability.alertmanager;
    let mut to = Vec::new();
    if let Some(w) = &am.receivers.webhook {
        to.push(format!(
            "- a webhook: Alertmanager POSTs its JSON to `{}`{}.",
            w.url,
            if w.bearer_token {
                " with `Authorization: Bearer` and the token of the secrets file"
            } else {
                ""
            }
        ));
    }
    if let Some(e) = &am.receivers.email {
        to.push(format!(
            "- email to {} from `{}` through the relay `{}`{}{}.",
            e.to.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
            e.from,
            e.smarthost,
            if e.require_tls {
                ", TLS required"
            } else {
                ", without requiring TLS"
            },
            if e.auth_username.is_some() {
                ", logging in with the password of the secrets file"
            } else {
                ""
            }
        ));
    }
    if to.is_empty() {
        to.push("- **no one**: `receivers.none` is set, so alerts show only in Alertmanager's UI.".into());
    }
    let n = am.replicas;
    format!(
        "### Where alerts go\n\n\
         The addon Prometheus sends every alert to each of the {n} Alertmanager pod(s) (StatefulSet `{NAME}` in `{NAMESPACE}`, \
         `manifests/observability/alertmanager.yaml`){}. They are grouped by alert name, namespace and severity (first \
         notification after 30s, updates every 5m, repeated every 1h for critical alerts and 4h for the others, and when \
         resolved) and go to:\n\n{}\n\n\
         Inhibition mutes what says nothing new: a critical alert mutes the warning of the same name about the same object, \
         `MeshServiceHighErrorRate` mutes `MeshServiceHighP99Latency` for the same service, and `MeshRootCertificateExpiring` \
         mutes `MeshIntermediateCertificateExpiring` from the same istiod. Two alerts watch delivery itself: \
         `PrometheusAlertmanagerErrors` (Prometheus cannot hand alerts to a pod) and `AlertmanagerDeliveryFailing` \
         (a receiver refuses them); they reach the receivers that still work, and show in both UIs.\n\n\
         **Silence** an alert during maintenance with the amtool of the Alertmanager image: \
         `kubectl -n {NAMESPACE} exec {NAME}-0 -- amtool --alertmanager.url=http://localhost:{WEB_PORT} silence add alertname=ContainerCPUNearLimit namespace=shop --duration=2h --comment=maintenance` \
         (`silence query` lists them, `silence expire ID` ends one; the pods share them), or from the UI: \
         `kubectl -n {NAMESPACE} port-forward svc/{NAME} {WEB_PORT}`, then http://localhost:{WEB_PORT}, *New Silence*.\n\n\
         **Test delivery** after the install and after any change of receiver: \
         `kubectl -n {NAMESPACE} exec {NAME}-0 -- amtool --alertmanager.url=http://localhost:{WEB_PORT} alert add alertname=DeliveryTest severity=warning namespace=test --annotation=summary='delivery test'` \
         should reach every receiver above within a minute; when it does not, the pods' logs say why \
         (`kubectl -n {NAMESPACE} logs {NAME}-0`). It resolves by itself after 5 minutes.\n\n",
        if n > 1 {
            ", which share silences and send each notification once"
        } else {
            ""
        },
        to.join("\n"),
    )
}
