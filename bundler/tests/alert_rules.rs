//! Every shipped alert, judged under `promtool test rules`: for each alert of
//! the rules file the addon Prometheus loads, series that make it fire (with
//! the exact labels and annotations it must carry) and series that keep it
//! quiet, for the production thresholds and for other ones (the thresholds
//! are rendered from the spec, so the series are made from them: a rule with
//! a fixed threshold fails one of the two). An alert in the rules file with
//! no case here fails the test: add its case below.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{Alerts, Site};
use serde_json::{Value, json};

/// Evaluated at 3h (time() = 10800), after every `for` and rate window.
const EVAL: &str = "3h";
const NOW: f64 = 10800.0;
/// Samples a minute apart, 4 hours of them.
const SAMPLES: u32 = 240;

struct Case {
    /// Series that make the alert fire.
    fire: Vec<(String, String)>,
    /// The labels the alert carries besides alertname, severity and site.
    labels: Value,
    severity: &'static str,
    summary: String,
    /// Series that must leave it quiet.
    quiet: Vec<(String, String)>,
}

fn series(name: &str, labels: &str, values: String) -> (String, String) {
    (format!("{name}{{{labels}}}"), values)
}

/// A counter growing by `per_minute` each sample.
fn counter(per_minute: f64) -> String {
    format!("0+{per_minute}x{SAMPLES}")
}

fn constant(v: f64) -> String {
    format!("{v}x{SAMPLES}")
}

/// Cumulative histogram buckets for requests per minute, all observed at `value`.
fn buckets(name: &str, labels: &str, bounds: &[f64], value: f64, per_minute: f64) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = bounds
        .iter()
        .map(|b| {
            series(
                name,
                &format!("{labels}, le=\"{b}\""),
                counter(if value <= *b { per_minute } else { 0.0 }),
            )
        })
        .collect();
    out.push(series(name, &format!("{labels}, le=\"+Inf\""), counter(per_minute)));
    out
}

const SVC: &str = "web.shop.svc.cluster.local";
/// A kubelet as the `kubernetes-nodes` job labels it.
const KUBELET: &str = r#"job="kubernetes-nodes", instance="10.0.0.21:10250", node="worker-1""#;

fn case(alert: &str, t: &Alerts) -> Option<Case> {
    let days = t.cert_expiry_days;
    let secs = f64::from(days) * 86400.0;
    let usage = t.resource_usage_percent;
    // Above the threshold, halfway to 100%; below it, at 80% of it.
    let above = usage + (100.0 - usage) / 2.0;
    let below = usage * 0.8;
    let istiod = r#"namespace="istio-system", pod="istiod-1-30-3-7d9f8c-abcde", job="kubernetes-pods""#;
    let container = r#"namespace="shop", pod="web-6f7b-abc", container="web", job="kubernetes-nodes-cadvisor""#;
    let container_labels = json!({"namespace": "shop", "pod": "web-6f7b-abc", "container": "web"});
    Some(match alert {
        "MeshServiceHighP99Latency" => {
            let p = f64::from(t.p99_latency_ms);
            let bounds = [p * 0.4, p * 0.8, p * 1.5, p * 3.0];
            let dst = format!(r#"reporter="destination", destination_service="{SVC}""#);
            let src = format!(r#"reporter="source", destination_service="{SVC}""#);
            let name = "istio_request_duration_milliseconds_bucket";
            let mut quiet = buckets(name, &dst, &bounds, p * 0.7, 600.0);
            // The client's view (it includes the network) does not count.
            quiet.extend(buckets(name, &src, &bounds, p * 2.0, 600.0));
            Case {
                fire: buckets(name, &dst, &bounds, p * 2.0, 600.0),
                labels: json!({"destination_service": SVC}),
                severity: "warning",
                summary: format!("p99 latency of {SVC} is above {} ms", t.p99_latency_ms),
                quiet,
            }
        }
        "MeshServiceHighErrorRate" => {
            let e = t.error_rate_percent;
            let l =
                |code: &str| format!(r#"reporter="destination", destination_service="{SVC}", response_code="{code}""#);
            let name = "istio_requests_total";
            // 1000 requests a minute, a share of them 503.
            let traffic = |failing_percent: f64, extra: Vec<(String, String)>| {
                let failing = 10.0 * failing_percent;
                let mut v = vec![
                    series(name, &l("200"), counter(1000.0 - failing)),
                    series(name, &l("503"), counter(failing)),
                ];
                v.extend(extra);
                v
            };
            Case {
                fire: traffic(e * 2.0, vec![]),
                labels: json!({"destination_service": SVC}),
                severity: "critical",
                summary: format!("more than {e}% of requests to {SVC} fail with 5xx"),
                // 4xx are the clients' errors: they do not count.
                quiet: traffic(e * 0.8, vec![series(name, &l("404"), counter(500.0))]),
            }
        }
        "MeshRootCertificateExpiring" | "MeshIntermediateCertificateExpiring" => {
            let name = if alert == "MeshRootCertificateExpiring" {
                "citadel_server_root_cert_expiry_timestamp"
            } else {
                "citadel_server_cert_chain_expiry_timestamp"
            };
            Case {
                fire: vec![series(name, istiod, constant(NOW + secs / 2.0))],
                labels: json!({"namespace": "istio-system", "pod": "istiod-1-30-3-7d9f8c-abcde"}),
                severity: "critical",
                summary: if alert == "MeshRootCertificateExpiring" {
                    format!("the Istio root certificate expires within {days} days: plan a root rotation")
                } else {
                    format!("the Istio intermediate CA expires within {days} days: run meshbundle secrets rotate")
                },
                // Far from expiry; and 0, which istiod reports before it has a CA.
                quiet: vec![
                    series(name, istiod, constant(NOW + secs * 2.0)),
                    series(
                        name,
                        r#"namespace="istio-system", pod="istiod-1-30-3-7d9f8c-zzzzz", job="kubernetes-pods""#,
                        constant(0.0),
                    ),
                ],
            }
        }
        "KubernetesClientCertificateExpiring" => {
            let bounds = [
                0.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0, 172800.0, 345600.0, 604800.0, 2592000.0,
                7776000.0, 15552000.0, 31104000.0,
            ];
            let l = r#"job="kubernetes-apiservers", instance="10.0.0.11:6443""#;
            let name = "apiserver_client_certificate_expiration_seconds_bucket";
            Case {
                fire: buckets(name, l, &bounds, secs / 3.0, 60.0),
                labels: json!({"job": "kubernetes-apiservers", "instance": "10.0.0.11:6443"}),
                severity: "critical",
                summary: format!(
                    "a client certificate that authenticates to kubernetes-apiservers 10.0.0.11:6443 expires within {days} days: run ops/cert-expiry.sh and renew with kubeadm certs renew"
                ),
                quiet: buckets(name, l, &bounds, 300.0 * 86400.0, 60.0),
            }
        }
        "KubeletClientCertificateExpiring" => {
            // A kubelet renews at 70 to 90% of a year: 36 days left means its rotation failed.
            let kd = days.min(36);
            let ks = f64::from(kd) * 86400.0;
            let l = r#"job="kubernetes-nodes", instance="worker-1""#;
            let name = "kubelet_certificate_manager_client_ttl_seconds";
            Case {
                fire: vec![series(name, l, constant(ks / 2.0))],
                labels: json!({"job": "kubernetes-nodes", "instance": "worker-1"}),
                severity: "warning",
                summary: format!(
                    "the kubelet client certificate of worker-1 expires within {kd} days: its rotation is failing"
                ),
                quiet: vec![series(name, l, constant(ks * 1.5))],
            }
        }
        "KubeletServingCertificateExpiring" => {
            // Two rules under one name, fixed levels: a warning under 30 days,
            // a critical under 10 (see the test below for both). 20 days left
            // fires the warning alone; 45 days, and a serving certificate
            // not in use (+Inf; here a huge value), nothing.
            let name = "kubelet_certificate_manager_server_ttl_seconds";
            Case {
                fire: vec![series(name, KUBELET, constant(20.0 * 86400.0))],
                labels: json!({"job": "kubernetes-nodes", "instance": "10.0.0.21:10250", "node": "worker-1"}),
                severity: "warning",
                summary: "the kubelet serving certificate of worker-1 expires within 30 days: its renewal is not approved; run ops/approve-kubelet-csrs.sh --check on a control-plane node".into(),
                quiet: vec![
                    series(name, KUBELET, constant(45.0 * 86400.0)),
                    series(name, r#"job="kubernetes-nodes", instance="10.0.0.22:10250", node="worker-2""#, constant(1e18)),
                ],
            }
        }
        "KubeletServingCertificateRenewalFailing" => {
            let name = "kubelet_server_expiration_renew_errors";
            // Two failures, at 2h30 and 2h40 (the evaluation is at 3h).
            let failing = format!("0x150 1x10 2x{}", SAMPLES - 161);
            Case {
                fire: vec![series(name, KUBELET, failing)],
                labels: json!({"job": "kubernetes-nodes", "instance": "10.0.0.21:10250", "node": "worker-1"}),
                severity: "warning",
                summary: "the kubelet of worker-1 failed to renew its serving certificate in the last hour: see kubectl get csr and journalctl -u kubelet on that node".into(),
                // Errors long ago, none in the last hour; and none at all.
                quiet: vec![
                    series(name, KUBELET, format!("0x30 3x{}", SAMPLES - 31)),
                    series(name, r#"job="kubernetes-nodes", instance="10.0.0.22:10250", node="worker-2""#, constant(0.0)),
                ],
            }
        }
        "ContainerMemoryNearLimit" => {
            let limit = 1073741824.0;
            let ws = "container_memory_working_set_bytes";
            let lim = "container_spec_memory_limit_bytes";
            let unlimited = r#"namespace="shop", pod="batch-1", container="batch", job="kubernetes-nodes-cadvisor""#;
            let pod_total = r#"namespace="shop", pod="web-6f7b-abc", container="", job="kubernetes-nodes-cadvisor""#;
            Case {
                fire: vec![
                    series(ws, container, constant((limit * above / 100.0).round())),
                    series(lim, container, constant(limit)),
                ],
                labels: container_labels.clone(),
                severity: "warning",
                summary: format!("web in web-6f7b-abc uses more than {usage}% of its memory limit"),
                quiet: vec![
                    series(ws, container, constant((limit * below / 100.0).round())),
                    series(lim, container, constant(limit)),
                    // No limit (0) and the pod's own total (container=""): nothing to compare.
                    series(ws, unlimited, constant(limit * 4.0)),
                    series(lim, unlimited, constant(0.0)),
                    series(ws, pod_total, constant(limit * 4.0)),
                    series(lim, pod_total, constant(limit)),
                ],
            }
        }
        "ContainerCPUNearLimit" => {
            // A limit of one CPU: quota 100000 per period 100000.
            let cpu = |percent: f64| {
                vec![
                    series(
                        "container_cpu_usage_seconds_total",
                        container,
                        counter(60.0 * percent / 100.0),
                    ),
                    series("container_spec_cpu_quota", container, constant(100000.0)),
                    series("container_spec_cpu_period", container, constant(100000.0)),
                ]
            };
            Case {
                fire: cpu(above),
                labels: container_labels,
                severity: "warning",
                summary: format!("web in web-6f7b-abc uses more than {usage}% of its CPU limit"),
                quiet: cpu(below),
            }
        }
        "PrometheusAlertmanagerErrors" => {
            let name = "prometheus_notifications_errors_total";
            let am = "http://10.244.1.7:9093/api/v2/alerts";
            let l = format!(r#"job="prometheus", instance="localhost:9090", alertmanager="{am}""#);
            Case {
                fire: vec![series(name, &l, counter(2.0))],
                labels: json!({"alertmanager": am}),
                severity: "warning",
                summary: format!("Prometheus fails to send alerts to the Alertmanager at {am}"),
                quiet: vec![series(name, &l, counter(0.0))],
            }
        }
        "AlertmanagerDeliveryFailing" => {
            let name = "alertmanager_notifications_failed_total";
            let l = r#"namespace="istio-system", pod="alertmanager-0", integration="email", job="kubernetes-pods""#;
            Case {
                fire: vec![series(name, l, counter(1.0))],
                labels: json!({"namespace": "istio-system", "pod": "alertmanager-0", "integration": "email"}),
                severity: "critical",
                summary: "alertmanager-0 fails to deliver alerts by email: see its log".into(),
                // No failure here; failures of another Alertmanager are not ours.
                quiet: vec![
                    series(name, l, counter(0.0)),
                    series(
                        name,
                        r#"namespace="monitoring", pod="alertmanager-main-0", integration="webhook", job="kubernetes-pods""#,
                        counter(3.0),
                    ),
                ],
            }
        }
        "IngressCertificateExpiring" | "KubernetesAPIServerCertificateExpiring" => {
            // Two rules under one name: a warning at certExpiryDays and a critical
            // at a third of it (not below 7 days); at 7 days or less only the
            // critical. The series sits between the two levels, so exactly the
            // lower level fires.
            let (warn, crit) = if days <= 7 {
                (None, days)
            } else {
                (Some(days), days.div_ceil(3).max(7))
            };
            let (severity, d, left) = match warn {
                Some(w) => ("warning", w, f64::from(w + crit) / 2.0),
                None => ("critical", crit, f64::from(crit) / 2.0),
            };
            let name = "probe_ssl_earliest_cert_expiry";
            let (l, labels, summary) = if alert == "IngressCertificateExpiring" {
                (
                    r#"job="ingress-certificates", instance="istio-ingressgateway.istio-ingress.svc.cluster.local:443", host="shop.example.internal""#,
                    json!({"job": "ingress-certificates", "instance": "istio-ingressgateway.istio-ingress.svc.cluster.local:443", "host": "shop.example.internal"}),
                    format!(
                        "the TLS certificate the ingress gateway serves for shop.example.internal expires within {d} days: run meshbundle secrets rotate, then meshbundle build, import and sudo ./install.sh cluster"
                    ),
                )
            } else {
                (
                    r#"job="apiserver-certificates", instance="10.0.0.11:6443", node="cp-1""#,
                    json!({"job": "apiserver-certificates", "instance": "10.0.0.11:6443", "node": "cp-1"}),
                    format!(
                        "the API server certificate of cp-1 (10.0.0.11:6443) expires within {d} days, and kubeadm's other certificates of that node with it: run sudo ops/renew-kubeadm-certs.sh on cp-1"
                    ),
                )
            };
            Case {
                fire: vec![series(name, l, constant(NOW + left * 86400.0))],
                labels,
                severity,
                summary,
                quiet: vec![series(name, l, constant(NOW + f64::from(days) * 2.0 * 86400.0))],
            }
        }
        "CertificateProbeFailing" => {
            let l = r#"job="apiserver-certificates", instance="10.0.0.12:6443", node="cp-2""#;
            Case {
                fire: vec![series("probe_success", l, constant(0.0)), series("up", l, constant(1.0))],
                labels: json!({"job": "apiserver-certificates", "instance": "10.0.0.12:6443", "node": "cp-2"}),
                severity: "warning",
                summary: "the certificate probe apiserver-certificates of 10.0.0.12:6443 fails, so that certificate's expiry is unknown: check that the target answers TLS and the logs of deployment/blackbox-exporter in istio-system".into(),
                // A probe that succeeds; a failing probe of another job is not a certificate's.
                quiet: vec![
                    series("probe_success", l, constant(1.0)),
                    series("up", l, constant(1.0)),
                    series("probe_success", r#"job="blackbox-http", instance="10.0.0.5:5000""#, constant(0.0)),
                ],
            }
        }
        _ => return None,
    })
}

/// The rule groups the addon Prometheus loads.
fn rules(site: &Site) -> Value {
    let tree = render(site, &Inputs::default()).unwrap();
    let f = tree.get("manifests/observability/prometheus.yaml").unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&String::from_utf8(f.bytes.clone()).unwrap()).unwrap();
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "prometheus")
        .unwrap();
    let config: Value = serde_saphyr::from_str(cm["data"]["prometheus.yml"].as_str().unwrap()).unwrap();
    let files: Vec<&str> = config["rule_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&"/etc/config/alerting_rules.yml"), "{files:?}");
    serde_saphyr::from_str(cm["data"]["alerting_rules.yml"].as_str().unwrap()).unwrap()
}

fn alert_names(rules: &Value) -> Vec<String> {
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect()
}

fn input(series: &[(String, String)]) -> Value {
    json!(
        series
            .iter()
            .map(|(s, v)| json!({"series": s, "values": v}))
            .collect::<Vec<_>>()
    )
}

/// The promtool test file for every alert of `rules`, with the thresholds of `site`.
fn test_file(site: &Site, rules: &Value) -> Value {
    let t = &site.spec.observability.alerts;
    let name = site.metadata.name.as_str();
    let mut tests = Vec::new();
    let mut missing = Vec::new();
    for alert in alert_names(rules) {
        let Some(c) = case(&alert, t) else {
            missing.push(alert);
            continue;
        };
        let mut labels = c.labels.clone();
        labels["severity"] = c.severity.into();
        labels["site"] = name.into();
        tests.push(json!({
            "name": format!("{alert} fires"),
            "interval": "1m",
            "input_series": input(&c.fire),
            "alert_rule_test": [{"eval_time": EVAL, "alertname": alert, "exp_alerts": [{"exp_labels": labels, "exp_annotations": {"summary": c.summary}}]}],
        }));
        tests.push(json!({
            "name": format!("{alert} stays quiet"),
            "interval": "1m",
            "input_series": input(&c.quiet),
            "alert_rule_test": [{"eval_time": EVAL, "alertname": alert, "exp_alerts": []}],
        }));
    }
    assert!(
        missing.is_empty(),
        "alerts with no case in bundler/tests/alert_rules.rs: {missing:?}: add series that make each fire and stay quiet"
    );
    json!({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})
}

fn promtool_test(site: &Site) {
    let rules = rules(site);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), serde_saphyr::to_string(&rules).unwrap()).unwrap();
    std::fs::write(
        dir.path().join("test.yml"),
        serde_saphyr::to_string(&test_file(site, &rules)).unwrap(),
    )
    .unwrap();
    let o = Command::new("promtool")
        .args(["test", "rules", "test.yml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool (apt-get install prometheus) is needed");
    assert!(
        o.status.success(),
        "{}: {}{}",
        site.metadata.name,
        text(&o.stdout),
        text(&o.stderr)
    );
}

#[test]
fn every_shipped_alert_fires_on_its_series_and_stays_quiet_otherwise_with_the_production_thresholds() {
    promtool_test(&example("production"));
}

#[test]
fn every_shipped_alert_follows_other_thresholds() {
    let mut s = example("production");
    s.metadata.name = "other-thresholds".into();
    s.spec.observability.alerts = Alerts {
        p99_latency_ms: 200,
        error_rate_percent: 1.5,
        cert_expiry_days: 10,
        resource_usage_percent: 75.0,
    };
    // Series made from these thresholds fire and stay quiet only if the
    // rules carry them: a rule with the production threshold would stay quiet
    // on twice 200 ms (400 < 500) or fire on 80% of 500 ms (400 > 200).
    promtool_test(&s);
}

#[test]
fn a_new_alert_without_a_case_fails() {
    let s = example("production");
    let mut rules = rules(&s);
    let names: BTreeSet<String> = alert_names(&rules).into_iter().collect();
    assert!(names.len() >= 8, "{names:?}");
    rules["groups"][0]["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"alert": "SomethingNew", "expr": "vector(1)", "labels": {"severity": "warning"}}));
    let r = std::panic::catch_unwind(|| test_file(&s, &rules));
    assert!(r.is_err(), "an alert with no case must fail the test");
}

/// Both levels of the kubelet serving certificate alert: under 10 days the
/// critical fires beside the warning (Alertmanager inhibits the warning of
/// the same node), and an expired certificate (a negative TTL) alerts too.
#[test]
fn the_kubelet_serving_certificate_alerts_at_both_levels() {
    let s = example("production");
    let rules = rules(&s);
    let name = "kubelet_certificate_manager_server_ttl_seconds";
    let alert = "KubeletServingCertificateExpiring";
    let labels = |severity: &str| json!({"job": "kubernetes-nodes", "instance": "10.0.0.21:10250", "node": "worker-1", "severity": severity, "site": s.metadata.name.as_str()});
    let warning = "the kubelet serving certificate of worker-1 expires within 30 days: its renewal is not approved; run ops/approve-kubelet-csrs.sh --check on a control-plane node";
    let critical = "the kubelet serving certificate of worker-1 expires within 10 days: metrics-server and Prometheus stop reading that kubelet when it does; run ops/approve-kubelet-csrs.sh --check on a control-plane node";
    let both = json!([
        {"exp_labels": labels("warning"), "exp_annotations": {"summary": warning}},
        {"exp_labels": labels("critical"), "exp_annotations": {"summary": critical}},
    ]);
    let tests: Vec<Value> = [5.0 * 86400.0, -3600.0]
        .iter()
        .map(|ttl| {
            json!({
                "name": format!("{alert} at {ttl} s"),
                "interval": "1m",
                "input_series": input(&[series(name, KUBELET, constant(*ttl))]),
                "alert_rule_test": [{"eval_time": EVAL, "alertname": alert, "exp_alerts": both}],
            })
        })
        .collect();
    let file = json!({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), serde_saphyr::to_string(&rules).unwrap()).unwrap();
    std::fs::write(dir.path().join("test.yml"), serde_saphyr::to_string(&file).unwrap()).unwrap();
    let o = Command::new("promtool")
        .args(["test", "rules", "test.yml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool is needed");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
}
