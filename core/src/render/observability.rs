//! Observability: Istio's addon manifests for the target release (pinned
//! upstream files, images moved to the site registry, made fit for
//! production by [`super::addons`]) and alert rules from
//! one set of thresholds: a PrometheusRule for prometheus-operator, or the
//! addon Prometheus's own `alerting_rules.yml` otherwise.

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

/// The alert rules, as a Prometheus rule groups document.
pub(crate) fn alert_groups(ctx: &Ctx) -> Value {
    let a = &ctx.site.spec.observability.alerts;
    let p99 = a.p99_latency_ms;
    let err = num(a.error_rate_percent);
    let days = a.cert_expiry_days;
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
    json!({"groups": [
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
                    format!("(citadel_server_root_cert_expiry_timestamp - time()) / 86400 < {days}"),
                    "1h",
                    "critical",
                    format!("the Istio root certificate expires within {days} days"),
                ),
                rule(
                    "MeshCACertificateExpiring",
                    format!("(citadel_server_cert_chain_expiry_timestamp - time()) / 86400 < {days}"),
                    "1h",
                    "critical",
                    format!("the Istio intermediate CA expires within {days} days: run meshbundle secrets rotate"),
                ),
                rule(
                    "GatewayCertificateExpiring",
                    format!("min by (namespace, pod) (envoy_server_days_until_first_cert_expiring) < {days}"),
                    "1h",
                    "warning",
                    format!("a certificate served by {{{{ $labels.pod }}}} expires within {days} days"),
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
    ]})
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

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| if l.is_empty() { String::new() } else { format!("{pad}{l}") }).collect::<Vec<_>>().join("\n")
}

pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let obs = &ctx.site.spec.observability;
    for (name, on) in
        [("prometheus", obs.addons.prometheus), ("grafana", obs.addons.grafana), ("jaeger", obs.addons.jaeger), ("kiali", obs.addons.kiali)]
    {
        if !on {
            continue;
        }
        let Some(file) = ctx.istio.addons.get(name) else { continue };
        let key = format!("manifest/addon-{name}");
        let bytes = ctx.upstream(&key, file)?;
        let mut text = String::from_utf8(bytes).map_err(|_| RenderError::Upstream { name: key.clone(), reason: "not UTF-8".into() })?;
        let mut note = String::new();
        if name == "prometheus" && !obs.prometheus_operator {
            let rules = crate::yaml::to_string(&alert_groups(ctx))?;
            text = replace_once(
                &text,
                "  alerting_rules.yml: |\n    {}\n",
                &format!("  alerting_rules.yml: |\n{}\n", indent(&rules, 4)),
                &key,
            )?;
            note = "# alerting_rules.yml holds meshbundle's alert rules.\n".into();
        }
        let text = rewrite_manifest_images(&text, |r| ctx.image(r));
        let hardened = addons::harden(ctx, name, addons::documents(name, &text)?)?;
        let mut out = format!(
            "{}# Istio {} addon `{name}` ({}, sha256 {}),\n# with images moved to {}.\n{note}",
            ctx.header("#"),
            ctx.site.spec.istio.version,
            file.url,
            file.sha256.hex(),
            ctx.registry(),
        );
        for n in &hardened.notes {
            out.push_str(&format!("#\n{}\n", n.lines().map(|l| format!("# {l}")).collect::<Vec<_>>().join("\n")));
        }
        for d in &hardened.docs {
            out.push_str("---\n");
            out.push_str(&crate::yaml::to_string(d)?);
        }
        tree.add(format!("manifests/observability/{name}.yaml"), out, MODE_FILE);
    }
    addons::render_credentials(ctx, tree)?;
    if obs.prometheus_operator {
        add_yaml(ctx, tree, "manifests/observability/prometheus-rule.yaml", &[prometheus_rule(ctx)])?;
    }
    Ok(())
}
