//! Observability: Istio's addon manifests for the target release (pinned
//! upstream files, images moved to the site registry, made fit for
//! production by [`super::addons`]) and alert rules from
//! one set of thresholds. The rules go where a Prometheus that runs reads
//! them: the addon Prometheus's own `alerting_rules.yml` whenever that addon
//! is on, and a PrometheusRule only when the spec says prometheus-operator
//! (with its CRDs) runs in the cluster (`install.sh cluster` checks the CRD
//! before it applies anything and applies the rule last).
//!
//! The certificate alerts use metrics that measure the certificate they name,
//! from targets the addon Prometheus scrapes (its `kubernetes-pods`,
//! `kubernetes-apiservers`/`kubernetes-api-servers` and `kubernetes-nodes`
//! jobs). Checked in the sources of the catalogued releases:
//! - istiod (`prometheus.io/scrape` on port 15014):
//!   `citadel_server_root_cert_expiry_timestamp` (the first root of the CA
//!   bundle) and `citadel_server_cert_chain_expiry_timestamp` (the first
//!   certificate of `cert-chain.pem`, the plugged-in intermediate), in
//!   `security/pkg/server/ca/monitoring.go` of Istio 1.19.10
//!   (745cdaa0dfdbeb31393fed75028a8c629c0f3a36) and 1.30.3
//!   (56df41f63e513f834c9a3af33d8aed82d1d961f2).
//! - API server and kubelet: `apiserver_client_certificate_expiration_seconds`,
//!   a histogram of the remaining lifetime of each client certificate that
//!   authenticates a request (`k8s.io/apiserver/pkg/authentication/request/x509`,
//!   kubernetes 04bbfcef9d8cfabeb84d587fcfaf7c231d2517f6); on the API server
//!   it sees kubeadm's `admin.conf`, `controller-manager.conf` and
//!   `scheduler.conf` certificates and the kubelets' client certificates, on a
//!   kubelet the API server's `apiserver-kubelet-client` certificate (when the
//!   API server calls the kubelet: logs, exec, and Istio 1.19's addon, which
//!   scrapes kubelets through the API server). Only certificates in use show:
//!   the rule looks at the last hour.
//! - kubelet: `kubelet_certificate_manager_client_ttl_seconds`
//!   (`cmd/kubelet/app/server.go`, kubernetes
//!   293a53f2c082259b3ba9745cdeba14b0b6ac2bf7), registered when client
//!   certificate rotation is on, as kubeadm sets it; and of the serving
//!   certificate (`serverTLSBootstrap`), `kubelet_certificate_manager_server_ttl_seconds`
//!   and the counter `kubelet_server_expiration_renew_errors`
//!   (`pkg/kubelet/certificate/kubelet.go`, registered with the serving
//!   certificate manager). The addon Prometheus's `kubernetes-nodes` job
//!   reads them from each kubelet's `/metrics`.
//! - the blackbox exporter ([`super::blackbox`], jobs `ingress-certificates`
//!   and `apiserver-certificates`): `probe_ssl_earliest_cert_expiry` of the
//!   ingress TLS certificate per host and of each control-plane node's API
//!   server serving certificate, and `probe_success` (a failed probe leaves
//!   the expiry unknown, which alerts too). Each has a warning at
//!   `certExpiryDays` and a critical at a third of it, at least 7 days
//!   ([`cert_thresholds`]); both fire below the critical one, for
//!   Alertmanager to inhibit the warning.
//!
//! Envoy's `server.days_until_first_cert_expiring` is not used: it is the
//! minimum over every certificate of a proxy, and every proxy holds a 24-hour
//! workload certificate, so it is always below a day. Not measured by any
//! metric (`ops/cert-expiry.sh` reads them from disk): kubeadm's etcd and
//! front-proxy certificates, which kubeadm renews with the API server's.

use serde_json::{Value, json};

use super::cni::replace_once;
use super::{Ctx, RenderError, add_yaml, addons};
use crate::image::rewrite_manifest_images;
use crate::tree::{FileTree, MODE_FILE};

fn num(v: f64) -> String {
    // 5.0 -> "5", 2.5 -> "2.5"
    let s = format!("{v}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// The day counts of the certificate alerts: a warning at
/// `certExpiryDays`, and a critical at a third of it but not below 7 days
/// (no separate warning when the threshold is 7 days or less).
pub(crate) fn cert_thresholds(days: u32) -> (Option<u32>, u32) {
    if days <= 7 {
        (None, days)
    } else {
        (Some(days), days.div_ceil(3).max(7))
    }
}

/// The alerts on what the blackbox exporter measures: the ingress TLS
/// certificate per host, each API server's serving certificate, and the
/// probes themselves. None when the exporter is not rendered.
fn probe_rules(ctx: &Ctx) -> Vec<Value> {
    use super::blackbox::{APISERVER_JOB, INGRESS_JOB};
    if !super::blackbox::on(ctx.site) {
        return Vec::new();
    }
    let site = ctx.name();
    let (warn, crit) = cert_thresholds(ctx.site.spec.observability.alerts.cert_expiry_days);
    let levels: Vec<(&str, u32)> = warn
        .map(|w| ("warning", w))
        .into_iter()
        .chain([("critical", crit)])
        .collect();
    let supplied = ctx
        .secrets
        .and_then(|s| s.ingress.as_ref())
        .is_some_and(|i| i.ca.is_none());
    let ingress_renewal = if supplied {
        "put a new certificate from your CA in site.secrets.yaml, then meshbundle build, import and sudo ./install.sh cluster"
    } else {
        "run meshbundle secrets rotate, then meshbundle build, import and sudo ./install.sh cluster"
    };
    let mut jobs = Vec::new();
    let mut rules = Vec::new();
    if !super::blackbox::ingress_probes(ctx).is_empty() {
        jobs.push(INGRESS_JOB);
        for (severity, d) in &levels {
            rules.push(json!({
                "alert": "IngressCertificateExpiring",
                "expr": format!("probe_ssl_earliest_cert_expiry{{job=\"{INGRESS_JOB}\"}} - time() < {}", u64::from(*d) * 86400),
                "for": "15m",
                "labels": {"severity": severity, "site": site},
                "annotations": {"summary": format!(
                    "the TLS certificate the ingress gateway serves for {{{{ $labels.host }}}} expires within {d} days: {ingress_renewal}"
                )},
            }));
        }
    }
    if !super::blackbox::apiserver_probes(ctx).is_empty() {
        jobs.push(APISERVER_JOB);
        for (severity, d) in &levels {
            rules.push(json!({
                "alert": "KubernetesAPIServerCertificateExpiring",
                "expr": format!("probe_ssl_earliest_cert_expiry{{job=\"{APISERVER_JOB}\"}} - time() < {}", u64::from(*d) * 86400),
                "for": "15m",
                "labels": {"severity": severity, "site": site},
                "annotations": {"summary": format!(
                    "the API server certificate of {{{{ $labels.node }}}} ({{{{ $labels.instance }}}}) expires within {d} days, and kubeadm's other certificates of that node with it: run sudo ops/renew-kubeadm-certs.sh on {{{{ $labels.node }}}}"
                )},
            }));
        }
    }
    if !jobs.is_empty() {
        let jobs = jobs.join("|");
        rules.push(json!({
            "alert": "CertificateProbeFailing",
            "expr": format!("probe_success{{job=~\"{jobs}\"}} == 0 or up{{job=~\"{jobs}\"}} == 0"),
            "for": "15m",
            "labels": {"severity": "warning", "site": site},
            "annotations": {"summary": "the certificate probe {{ $labels.job }} of {{ $labels.instance }} fails, so that certificate's expiry is unknown: check that the target answers TLS and the logs of deployment/blackbox-exporter in istio-system"},
        }));
    }
    rules
}

/// Days of the kubelet serving certificate left when its alerts fire.
const KUBELET_SERVING_WARNING_DAYS: u64 = 30;
const KUBELET_SERVING_CRITICAL_DAYS: u64 = 10;

/// The alert rules, as a Prometheus rule groups document.
pub(crate) fn alert_groups(ctx: &Ctx) -> Value {
    let a = &ctx.site.spec.observability.alerts;
    let p99 = a.p99_latency_ms;
    let err = num(a.error_rate_percent);
    let days = a.cert_expiry_days;
    let secs = u64::from(days) * 86400;
    // A kubelet renews its client certificate once 70 to 90% of its life is
    // gone; the controller manager signs them for a year (its default), so a
    // kubelet that still holds one with less than 36 days left has failed to
    // renew it, whatever the threshold.
    let kubelet_secs = u64::from(days.min(36)) * 86400;
    let usage = num(a.resource_usage_percent);
    let site = ctx.name();
    let rule = |name: &str, expr: String, for_: &str, severity: &str, summary: String| {
        json!({
            "alert": name,
            "expr": expr,
            "for": for_,
            "labels": {"severity": severity, "site": site},
            "annotations": {"summary": summary},
        })
    };
    let mut groups = json!({"groups": [
        {
            "name": "meshbundle-traffic",
            "rules": [
                rule(
                    "MeshServiceHighP99Latency",
                    format!("histogram_quantile(0.99, sum by (le, destination_service) (rate(istio_request_duration_milliseconds_bucket{{reporter=\"destination\"}}[5m]))) > {p99}"),
                    "10m",
                    "warning",
                    format!("p99 latency of {{{{ $labels.destination_service }}}} is above {p99} ms"),
                ),
                rule(
                    "MeshServiceHighErrorRate",
                    format!("100 * sum by (destination_service) (rate(istio_requests_total{{reporter=\"destination\", response_code=~\"5..\"}}[5m])) / sum by (destination_service) (rate(istio_requests_total{{reporter=\"destination\"}}[5m])) > {err}"),
                    "5m",
                    "critical",
                    format!("more than {err}% of requests to {{{{ $labels.destination_service }}}} fail with 5xx"),
                ),
            ],
        },
        {
            "name": "meshbundle-certificates",
            "rules": [
                rule(
                    "MeshRootCertificateExpiring",
                    format!("(min by (namespace, pod) (citadel_server_root_cert_expiry_timestamp > 0) - time()) < {secs}"),
                    "1h",
                    "critical",
                    format!("the Istio root certificate expires within {days} days: plan a root rotation"),
                ),
                rule(
                    "MeshIntermediateCertificateExpiring",
                    format!("(min by (namespace, pod) (citadel_server_cert_chain_expiry_timestamp > 0) - time()) < {secs}"),
                    "1h",
                    "critical",
                    format!("the Istio intermediate CA expires within {days} days: run meshbundle secrets rotate"),
                ),
                rule(
                    "KubernetesClientCertificateExpiring",
                    // The shortest remaining lifetime among the client certificates
                    // that authenticated a request in the last hour, to the
                    // histogram's bucket (1, 2, 4, 7, 30, 90, 180 and 360 days): a
                    // tiny quantile is the lower edge of the lowest bucket with
                    // any request in it. No request, no value, no alert.
                    format!("histogram_quantile(0.000001, sum by (job, instance, le) (rate(apiserver_client_certificate_expiration_seconds_bucket[1h]))) < {secs}"),
                    "1h",
                    "critical",
                    format!("a client certificate that authenticates to {{{{ $labels.job }}}} {{{{ $labels.instance }}}} expires within {days} days: run ops/cert-expiry.sh and renew with kubeadm certs renew"),
                ),
                rule(
                    "KubeletClientCertificateExpiring",
                    format!("kubelet_certificate_manager_client_ttl_seconds < {kubelet_secs}"),
                    "1h",
                    "warning",
                    format!("the kubelet client certificate of {{{{ $labels.instance }}}} expires within {} days: its rotation is failing", days.min(36)),
                ),
                // The kubelet serving certificate (serverTLSBootstrap): signed
                // for a year, asked for again at 70 to 90% of its life, so
                // 36 days or more are left when the kubelet asks. Under 30
                // days, its requests have gone unapproved for a week.
                rule(
                    "KubeletServingCertificateExpiring",
                    format!("kubelet_certificate_manager_server_ttl_seconds < {}", KUBELET_SERVING_WARNING_DAYS * 86400),
                    "1h",
                    "warning",
                    format!("the kubelet serving certificate of {{{{ $labels.node }}}} expires within {KUBELET_SERVING_WARNING_DAYS} days: its renewal is not approved; run ops/approve-kubelet-csrs.sh --check on a control-plane node"),
                ),
                rule(
                    "KubeletServingCertificateExpiring",
                    format!("kubelet_certificate_manager_server_ttl_seconds < {}", KUBELET_SERVING_CRITICAL_DAYS * 86400),
                    "1h",
                    "critical",
                    format!("the kubelet serving certificate of {{{{ $labels.node }}}} expires within {KUBELET_SERVING_CRITICAL_DAYS} days: metrics-server and Prometheus stop reading that kubelet when it does; run ops/approve-kubelet-csrs.sh --check on a control-plane node"),
                ),
                rule(
                    "KubeletServingCertificateRenewalFailing",
                    "increase(kubelet_server_expiration_renew_errors[1h]) > 0".to_string(),
                    "15m",
                    "warning",
                    "the kubelet of {{ $labels.node }} failed to renew its serving certificate in the last hour: see kubectl get csr and journalctl -u kubelet on that node".to_string(),
                ),
            ],
        },
        {
            "name": "meshbundle-resources",
            "rules": [
                rule(
                    "ContainerMemoryNearLimit",
                    format!("100 * max by (namespace, pod, container) (container_memory_working_set_bytes{{container!=\"\"}}) / max by (namespace, pod, container) (container_spec_memory_limit_bytes{{container!=\"\"}} > 0) > {usage}"),
                    "15m",
                    "warning",
                    format!("{{{{ $labels.container }}}} in {{{{ $labels.pod }}}} uses more than {usage}% of its memory limit"),
                ),
                rule(
                    "ContainerCPUNearLimit",
                    format!("100 * sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{{container!=\"\"}}[5m])) / sum by (namespace, pod, container) (container_spec_cpu_quota{{container!=\"\"}} / container_spec_cpu_period{{container!=\"\"}}) > {usage}"),
                    "15m",
                    "warning",
                    format!("{{{{ $labels.container }}}} in {{{{ $labels.pod }}}} uses more than {usage}% of its CPU limit"),
                ),
            ],
        },
    ]});
    let certificates = groups["groups"]
        .as_array_mut()
        .and_then(|g| g.iter_mut().find(|g| g["name"] == "meshbundle-certificates"))
        .and_then(|g| g["rules"].as_array_mut());
    if let Some(rules) = certificates {
        rules.extend(probe_rules(ctx));
    }
    if let (Some(g), Some(list)) = (super::alertmanager::alert_group(ctx), groups["groups"].as_array_mut()) {
        list.push(g);
    }
    groups
}

/// The README's section on where the alert rules are and what evaluates them.
pub(crate) fn alerts_readme(ctx: &Ctx) -> String {
    let obs = &ctx.site.spec.observability;
    let mut where_ = Vec::new();
    if obs.addons.prometheus {
        where_.push(if obs.alertmanager.enabled {
            "- The addon Prometheus (`manifests/observability/prometheus.yaml`) evaluates them: they are the \
             `alerting_rules.yml` key of its ConfigMap. It sends them to Alertmanager (below)."
                .to_string()
        } else {
            "- The addon Prometheus (`manifests/observability/prometheus.yaml`) evaluates them: they are the \
             `alerting_rules.yml` key of its ConfigMap. It has no Alertmanager (`spec.observability.alertmanager`): \
             its alerts show on its Alerts page and in its `ALERTS` series, and reach no one."
                .to_string()
        });
    }
    if obs.prometheus_operator {
        where_.push(
            "- `manifests/observability/prometheus-rule.yaml` holds them as a PrometheusRule for prometheus-operator \
             (`spec.observability.prometheusOperator`). The site must install prometheus-operator and its CRDs itself, \
             before `./install.sh cluster`, which checks that the `prometheusrules.monitoring.coreos.com` CRD is \
             there before it applies anything and applies the rule last. The operator's Prometheus must select it: \
             label `role: alert-rules` in namespace `istio-system` (`ruleSelector`, `ruleNamespaceSelector`). \
             It evaluates them only on the series it scrapes, and meshbundle ships no ServiceMonitor or PodMonitor: \
             its ServiceMonitors and PodMonitors must cover istiod (port `http-monitoring`, 15014: the `citadel_*` \
             series), every proxy's Envoy stats (`/stats/prometheus` on 15090: `istio_requests_total`, \
             `istio_request_duration_milliseconds_bucket`), the API server and the kubelets (with cAdvisor: \
             `apiserver_*`, `kubelet_*`, `container_*`), or the rules stay silent."
                .to_string(),
        );
        if super::blackbox::on(ctx.site) {
            where_.push(
                "- The probe alerts (`IngressCertificateExpiring`, `KubernetesAPIServerCertificateExpiring`, \
                 `CertificateProbeFailing`) need the blackbox exporter's jobs `ingress-certificates` and \
                 `apiserver-certificates`, which only the addon Prometheus scrapes: the operator's Prometheus \
                 evaluates them on nothing."
                    .to_string(),
            );
        }
    }
    if where_.is_empty() {
        where_.push(
            "- **Nothing evaluates them**: the Prometheus addon is off and no prometheus-operator is declared \
             (`spec.observability.prometheusOperator`)."
                .to_string(),
        );
    }
    format!(
        "## Alerts\n\n\
         meshbundle writes alert rules for latency, 5xx rate, certificate expiry and container limits.\n\n\
         {}\n\n\
         The certificate alerts cover the Istio root and intermediate CA (istiod's \
         `citadel_server_root_cert_expiry_timestamp`, `citadel_server_cert_chain_expiry_timestamp`), the client \
         certificates in use that authenticate to the API server and the kubelets (`apiserver_client_certificate_expiration_seconds`, \
         over the last hour: kubeadm's `admin.conf`, `controller-manager.conf`, `scheduler.conf`, `apiserver-kubelet-client` \
         and the kubelets' certificates), the kubelets' own rotation (`kubelet_certificate_manager_client_ttl_seconds`) \
         and the kubelets' serving certificates (`kubelet_certificate_manager_server_ttl_seconds`: a warning under 30 days, \
         critical under 10; `kubelet_server_expiration_renew_errors` growing).{}\n\n{}",
        where_.join("\n"),
        probes_readme(ctx),
        super::alertmanager::readme(ctx),
    )
}

/// What the README says of the probed certificates.
fn probes_readme(ctx: &Ctx) -> String {
    let days = ctx.site.spec.observability.alerts.cert_expiry_days;
    let (warn, crit) = cert_thresholds(days);
    let when = match warn {
        Some(w) => {
            format!(
                "a warning within {w} days (`spec.observability.alerts.certExpiryDays`) and a critical alert within {crit} days"
            )
        }
        None => format!("a critical alert within {crit} days (`spec.observability.alerts.certExpiryDays`)"),
    };
    if !super::blackbox::on(ctx.site) {
        return " Without the addon Prometheus nothing probes the ingress TLS certificate and the API servers' serving \
                certificates: `ops/cert-expiry.sh` checks those; run it from cron."
            .to_string();
    }
    format!(
        " The blackbox exporter (`manifests/observability/blackbox-exporter.yaml`, scraped by the addon Prometheus) \
         opens a TLS connection to the ingress gateway for each ingress host (`IngressCertificateExpiring`, per `host`) \
         and to the API server of each control-plane node on 6443 (`KubernetesAPIServerCertificateExpiring`, per `node`) \
         and reports the earliest expiry of the certificates they present (`probe_ssl_earliest_cert_expiry`): {when}. \
         kubeadm renews a node's certificates together, so the API server's stands for that node's etcd and \
         front-proxy certificates, which no probe can reach without a client certificate (`ops/cert-expiry.sh` reads \
         them from disk). `CertificateProbeFailing` fires when a probe fails: that certificate's expiry is then unknown. \
         Envoy's `days_until_first_cert_expiring` is not used: it includes every proxy's 24-hour workload certificate."
    )
}

fn prometheus_rule(ctx: &Ctx) -> Value {
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "meshbundle-alerts",
            "namespace": "istio-system",
            "labels": {"app.kubernetes.io/managed-by": "meshbundle", "role": "alert-rules"},
        },
        "spec": alert_groups(ctx),
    })
}

/// Adds `alerting:` to the addon Prometheus's `prometheus.yml`: every
/// Alertmanager pod, by name.
fn send_alerts_to_alertmanager(ctx: &Ctx, h: &mut addons::Hardened) -> Result<(), RenderError> {
    let bad = |what: &str| RenderError::Upstream {
        name: "manifest/addon-prometheus".into(),
        reason: what.into(),
    };
    let obj = h
        .prometheus_config
        .as_mut()
        .ok_or_else(|| bad("no prometheus.yml"))?
        .as_object_mut()
        .ok_or_else(|| bad("prometheus.yml is not a mapping"))?;
    if obj.contains_key("alerting") {
        return Err(bad("prometheus.yml already has an `alerting` section"));
    }
    obj.insert("alerting".into(), super::alertmanager::prometheus_alerting(ctx));
    h.notes.push(format!(
        "prometheus.yml sends alerts to every Alertmanager pod ({}).",
        super::alertmanager::pod_hosts(ctx).join(", ")
    ));
    Ok(())
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let obs = &ctx.site.spec.observability;
    for (name, on) in [
        ("prometheus", obs.addons.prometheus),
        ("grafana", obs.addons.grafana),
        ("jaeger", obs.addons.jaeger),
        ("kiali", obs.addons.kiali),
    ] {
        if !on {
            continue;
        }
        let Some(file) = ctx.istio.addons.get(name) else {
            continue;
        };
        let key = format!("manifest/addon-{name}");
        let bytes = ctx.upstream(&key, file)?;
        let mut text = String::from_utf8(bytes).map_err(|_| RenderError::Upstream {
            name: key.clone(),
            reason: "not UTF-8".into(),
        })?;
        let mut note = String::new();
        if name == "prometheus" {
            let rules = ctx.config_yaml("config:alerting_rules.yml", alert_groups(ctx))?;
            text = replace_once(
                &text,
                "  alerting_rules.yml: |\n    {}\n",
                &format!("  alerting_rules.yml: |\n{}\n", indent(&rules, 4)),
                &key,
            )?;
            note = "# alerting_rules.yml holds meshbundle's alert rules.\n".into();
        }
        let text = rewrite_manifest_images(&text, |r| ctx.image(r));
        let (text, verbatim) = addons::set_aside(name, &text);
        let mut hardened = addons::harden(ctx, name, ctx.documents(name, &text)?)?;
        if !verbatim.is_empty() {
            hardened.notes.push(format!(
                "The last {} documents, ConfigMaps that nothing here changes, are as upstream wrote them.",
                verbatim.len()
            ));
        }
        if name == "prometheus" && obs.alertmanager.enabled {
            send_alerts_to_alertmanager(ctx, &mut hardened)?;
        }
        let (docs, notes) = hardened.finish(ctx)?;
        let mut out = format!(
            "{}# Istio {} addon `{name}` ({}, sha256 {}),\n# with images moved to {}.\n{note}",
            ctx.header("#"),
            ctx.site.spec.istio.version,
            file.url,
            file.sha256.hex(),
            ctx.registry(),
        );
        for n in &notes {
            out.push_str(&format!(
                "#\n{}\n",
                n.lines().map(|l| format!("# {l}")).collect::<Vec<_>>().join("\n")
            ));
        }
        let path = format!("{}{name}.yaml", super::OBSERVABILITY_DIR);
        out.push_str(&ctx.documents_yaml(&path, &docs)?);
        for doc in &verbatim {
            out.push_str("---\n");
            out.push_str(doc);
        }
        ctx.keep_observability_docs(&path, &docs);
        tree.add(path, out, MODE_FILE);
    }
    addons::render_credentials(ctx, tree)?;
    if obs.prometheus_operator {
        add_yaml(
            ctx,
            tree,
            "manifests/observability/prometheus-rule.yaml",
            &[prometheus_rule(ctx)],
        )?;
    }
    Ok(())
}
