//! Alert rules and the order of `install.sh cluster`, judged by meaning:
//! where the rules end up for each combination of the Prometheus addon and
//! prometheus-operator (and that promtool accepts them there), which
//! certificates the certificate alerts fire for (`promtool test rules` with
//! written series), and in which order `install.sh cluster` applies files,
//! run under bash against a recording kubectl.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use meshbundle_core::diag::Severity;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::Site;
use meshbundle_core::tree::FileTree;
use serde_json::Value;

const CRD: &str = "prometheusrules.monitoring.coreos.com";

fn site(prometheus: bool, operator: bool) -> Site {
    let mut s = example("production");
    s.spec.observability.addons.prometheus = prometheus;
    s.spec.observability.prometheus_operator = operator;
    // Alertmanager is fed by the addon Prometheus.
    s.spec.observability.alertmanager.enabled = prometheus;
    s
}

fn docs(tree: &FileTree, path: &str) -> Vec<Value> {
    let f = tree.get(path).unwrap_or_else(|| panic!("{path} is not in the tree"));
    serde_saphyr::from_multiple(&String::from_utf8(f.bytes.clone()).unwrap()).unwrap()
}

/// The rule groups the addon Prometheus reads, if the addon is there.
fn addon_rules(tree: &FileTree) -> Option<Value> {
    tree.get("manifests/observability/prometheus.yaml")?;
    let d = docs(tree, "manifests/observability/prometheus.yaml");
    let cm = d
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "prometheus")
        .expect("the Prometheus ConfigMap");
    // The file Prometheus loads is named in its own configuration.
    let config: Value = serde_saphyr::from_str(cm["data"]["prometheus.yml"].as_str().unwrap()).unwrap();
    let files: Vec<&str> = config["rule_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&"/etc/config/alerting_rules.yml"), "{files:?}");
    Some(serde_saphyr::from_str(cm["data"]["alerting_rules.yml"].as_str().unwrap()).unwrap())
}

/// Every PrometheusRule anywhere in the tree, with the file that holds it.
fn prometheus_rules(tree: &FileTree) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, f) in tree.iter() {
        if !path.ends_with(".yaml") || path.starts_with("nodes/") {
            continue;
        }
        let Ok(ds) = serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&f.bytes)) else {
            continue;
        };
        out.extend(
            ds.into_iter()
                .filter(|d| d["kind"] == "PrometheusRule")
                .map(|d| (path.to_string(), d)),
        );
    }
    out
}

fn alert_names(groups: &Value) -> Vec<String> {
    groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            g["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["alert"].as_str().unwrap().to_string())
        })
        .collect()
}

fn promtool(args: &[&str], dir: &Path) -> Output {
    Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (apt-get install prometheus) is needed")
}

fn promtool_accepts(groups: &Value, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), serde_saphyr::to_string(groups).unwrap()).unwrap();
    let o = promtool(&["check", "rules", "rules.yml"], dir.path());
    assert!(o.status.success(), "{what}: {}{}", text(&o.stdout), text(&o.stderr));
}

const CERT_ALERTS: [&str; 4] = [
    "MeshRootCertificateExpiring",
    "MeshIntermediateCertificateExpiring",
    "KubernetesClientCertificateExpiring",
    "KubeletClientCertificateExpiring",
];

#[test]
fn alert_rules_go_where_a_running_prometheus_reads_them() {
    // Istio 1.30 (production) and 1.28, on Kubernetes 1.29.
    for old in [false, true] {
        for prometheus in [true, false] {
            for operator in [true, false] {
                let mut s = site(prometheus, operator);
                if old {
                    s.spec.kubernetes.version = "1.29.15".into();
                    s.spec.istio.version = "1.28.10".into();
                    s.spec.containerd.version = "1.7.27".into();
                }
                let what = format!(
                    "istio {} prometheus={prometheus} operator={operator}",
                    s.spec.istio.version
                );
                let tree = render(&s, &Inputs::default()).unwrap();
                let addon = addon_rules(&tree);
                let rules = prometheus_rules(&tree);
                let readme = String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap();

                // The addon Prometheus, when it runs, always evaluates every rule.
                assert_eq!(addon.is_some(), prometheus, "{what}");
                if let Some(groups) = &addon {
                    let names = alert_names(groups);
                    for a in CERT_ALERTS.iter().chain(&[
                        "MeshServiceHighErrorRate",
                        "MeshServiceHighP99Latency",
                        "ContainerMemoryNearLimit",
                    ]) {
                        assert!(
                            names.iter().any(|n| n == a),
                            "{what}: {a} not in the addon's alerting_rules.yml: {names:?}"
                        );
                    }
                    promtool_accepts(groups, &what);
                }

                // A PrometheusRule only when an operator is declared to read it.
                if operator {
                    assert_eq!(rules.len(), 1, "{what}: {rules:?}");
                    let (path, rule) = &rules[0];
                    assert_eq!(path, "manifests/observability/prometheus-rule.yaml");
                    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
                    assert_eq!(rule["metadata"]["labels"]["role"], "alert-rules");
                    if let Some(groups) = &addon {
                        assert_eq!(
                            &rule["spec"], groups,
                            "{what}: both Prometheus servers evaluate the same rules"
                        );
                    }
                    promtool_accepts(&rule["spec"], &what);
                    assert!(
                        readme.contains("must install prometheus-operator and its CRDs"),
                        "{what}"
                    );
                    assert!(readme.contains(CRD), "{what}: the README names the CRD");
                } else {
                    assert!(
                        rules.is_empty(),
                        "{what}: a PrometheusRule without an operator: {rules:?}"
                    );
                }

                // Nothing evaluates the rules: validation and the README say so.
                let warned = meshbundle_core::validate::check(&s).iter().any(|d| {
                    d.severity == Severity::Warning
                        && d.path == "spec.observability.alerts"
                        && d.message.contains("nothing evaluates")
                });
                assert_eq!(warned, !prometheus && !operator, "{what}");
                assert_eq!(
                    readme.contains("Nothing evaluates them"),
                    !prometheus && !operator,
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn the_spec_documents_what_prometheus_operator_needs() {
    let schema = std::fs::read_to_string(repo().join("core/schema/site.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&schema).unwrap();
    let mut found = None;
    fn find(v: &Value, out: &mut Option<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(d)) = m.get("prometheusOperator").and_then(|p| p.get("description")) {
                    *out = Some(d.clone());
                }
                m.values().for_each(|v| find(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| find(v, out)),
            _ => {}
        }
    }
    find(&schema, &mut found);
    let d = found.expect("prometheusOperator has a description").replace('\n', " ");
    assert!(d.contains("must install prometheus-operator and its CRDs"), "{d}");
    assert!(d.contains(CRD), "{d}");
}

// ------------------------------------------------------------------ install.sh cluster

const STUB: &str = r#"#!/bin/sh
name=$(basename "$0")
echo "$name $*" >>"$MB_LOG"
case "$*" in
  "get crd "*) [ -n "$MB_NO_CRD" ] && { echo "Error from server (NotFound): customresourcedefinitions \"$3\" not found" >&2; exit 1; } ;;
  *"get peerauthentication"*) printf STRICT ;;
  # Resource metrics of every node ($MB_NODES).
  *"top nodes"*) for n in $MB_NODES; do echo "$n 250m 6% 1800Mi 23%"; done ;;
esac
exit 0
"#;

struct Run {
    calls: Vec<String>,
    out: Output,
    bundle: String,
    script: String,
}

fn run_cluster(s: &Site, crd_present: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let stubs = dir.path().join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    for name in ["kubectl", "istioctl"] {
        std::fs::write(stubs.join(name), cluster::with_healthy_cluster(STUB, s)).unwrap();
        std::fs::set_permissions(stubs.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let secrets = if s.metadata.name == example("production").metadata.name {
        meshbundle_core::pki::parse_secrets(
            &std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap(),
        )
        .unwrap()
    } else {
        secrets(s)
    };
    let tree = render(
        s,
        &Inputs {
            secrets: Some(&secrets),
            ..Default::default()
        },
    )
    .unwrap();
    write_tree(&tree, &bundle);
    let log = dir.path().join("calls.log");
    let mut cmd = Command::new("bash");
    cmd.args(["install.sh", "cluster"])
        .current_dir(&bundle)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", stubs.display()))
        .env("MESHBUNDLE_SYSROOT", dir.path().join("root"))
        .env("MB_LOG", &log)
        .env(
            "MB_NODES",
            s.spec
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
        .env("TIMEOUT", "1s");
    if !crd_present {
        cmd.env("MB_NO_CRD", "1");
    }
    let out = cmd.output().unwrap();
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let script = String::from_utf8(tree.get("install.sh").unwrap().bytes.clone()).unwrap();
    Run {
        calls,
        out,
        bundle: bundle.display().to_string(),
        script,
    }
}

impl Run {
    /// The files applied, relative to the bundle, in order.
    fn applied(&self) -> Vec<String> {
        let prefix = format!("kubectl apply --server-side --force-conflicts -f {}/", self.bundle);
        self.calls
            .iter()
            .filter_map(|c| c.strip_prefix(&prefix))
            .map(str::to_string)
            .collect()
    }

    fn at(&self, call: &str) -> usize {
        self.calls
            .iter()
            .position(|c| c.starts_with(call))
            .unwrap_or_else(|| panic!("no call `{call}` in {:#?}", self.calls))
    }
}

#[test]
fn install_cluster_applies_an_explicit_order() {
    // The production site, and a larger one that also has JWT authentication
    // and an egress gateway (more files under security/ and traffic/).
    let large = matrix().into_iter().find(|(n, _)| n.starts_with("large")).unwrap().1;
    let mut sites = Vec::new();
    for prometheus in [true, false] {
        for operator in [true, false] {
            sites.push(site(prometheus, operator));
            let mut l = large.clone();
            l.spec.observability.addons.prometheus = prometheus;
            l.spec.observability.prometheus_operator = operator;
            l.spec.observability.alertmanager.enabled = prometheus;
            sites.push(l);
        }
    }
    for s in sites {
        {
            let (prometheus, operator) = (
                s.spec.observability.addons.prometheus,
                s.spec.observability.prometheus_operator,
            );
            let what = format!("{} prometheus={prometheus} operator={operator}", s.metadata.name);
            let r = run_cluster(&s, true);
            assert!(
                r.out.status.success(),
                "{what}: {}\n{}",
                text(&r.out.stderr),
                r.calls.join("\n")
            );
            // The order is in the script for a reader to see: no directory globs.
            assert!(
                !r.script.contains("/*.yaml") && !r.script.contains("apply_dir"),
                "{what}:\n{}",
                r.script
            );

            let applied = r.applied();
            let pos = |f: &str| {
                applied
                    .iter()
                    .position(|a| a == f)
                    .unwrap_or_else(|| panic!("{what}: {f} not applied: {applied:#?}"))
            };
            // Every manifest the cluster step owns is applied exactly once.
            let tree = render(&s, &Inputs::default()).unwrap();
            for p in tree.paths().filter(|p| {
                p.starts_with("manifests/")
                    && p.ends_with(".yaml")
                    && !p.starts_with("manifests/cni/")
                    && *p != "manifests/istio/istio-operator.yaml"
            }) {
                assert_eq!(
                    applied.iter().filter(|a| *a == p).count(),
                    1,
                    "{what}: {p} in {applied:#?}"
                );
            }
            assert_eq!(applied[0], "manifests/namespaces.yaml", "{what}");

            // Istio's CRDs come with istioctl install: every Istio resource after it.
            let istio = r.at("istioctl install");
            let first_istio_resource = r.at(&format!(
                "kubectl apply --server-side --force-conflicts -f {}/manifests/security/",
                r.bundle
            ));
            assert!(istio < first_istio_resource, "{what}");
            assert!(
                pos("manifests/security/peer-authentication.yaml")
                    < pos("manifests/security/authorization-policies.yaml")
            );
            if tree.contains("manifests/security/request-authentication.yaml") {
                // The JWT policy that authorization rules rely on comes first.
                assert!(
                    pos("manifests/security/request-authentication.yaml")
                        < pos("manifests/security/authorization-policies.yaml")
                );
            }

            // Addons before the rules that watch them; the PrometheusRule last,
            // after the CRD check that comes before anything is applied.
            if prometheus {
                assert!(
                    pos("manifests/observability/prometheus.yaml") < pos("manifests/observability/grafana.yaml"),
                    "{what}"
                );
            }
            let crd_check = r.calls.iter().position(|c| c == &format!("kubectl get crd {CRD}"));
            if operator {
                let rule = pos("manifests/observability/prometheus-rule.yaml");
                assert_eq!(
                    rule,
                    applied.len() - 1,
                    "{what}: the PrometheusRule is applied after everything else: {applied:#?}"
                );
                let check = crd_check.unwrap_or_else(|| panic!("{what}: no CRD check in {:#?}", r.calls));
                assert!(
                    check < r.at("kubectl apply"),
                    "{what}: the CRD is checked before anything is applied"
                );
            } else {
                assert!(crd_check.is_none(), "{what}: no operator, no CRD check");
                assert!(!applied.iter().any(|a| a.ends_with("prometheus-rule.yaml")), "{what}");
            }
            assert!(
                r.at("istioctl analyze")
                    > r.at(&format!(
                        "kubectl apply --server-side --force-conflicts -f {}/{}",
                        r.bundle,
                        applied.last().unwrap()
                    ))
            );
        }
    }
}

#[test]
fn install_cluster_stops_before_anything_when_the_operator_crd_is_missing() {
    for prometheus in [true, false] {
        let r = run_cluster(&site(prometheus, true), false);
        let err = text(&r.out.stderr);
        assert_eq!(r.out.status.code(), Some(1), "{err}\n{:#?}", r.calls);
        assert!(err.contains(&format!("the CRD {CRD} is not in the cluster")), "{err}");
        assert!(
            err.contains("install prometheus-operator and its CRDs") && err.contains("Nothing was applied"),
            "{err}"
        );
        assert!(r.applied().is_empty(), "applied before the check: {:#?}", r.calls);
        assert!(
            !r.calls
                .iter()
                .any(|c| c.starts_with("istioctl") || c.starts_with("kubectl wait")),
            "{:#?}",
            r.calls
        );
    }
    // Without the operator, the CRD is none of install.sh's business.
    let r = run_cluster(&site(true, false), false);
    assert!(r.out.status.success(), "{}", text(&r.out.stderr));
}

// ------------------------------------------------------------------ certificate alerts

fn rule_test(rules: &Value, test: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), serde_saphyr::to_string(rules).unwrap()).unwrap();
    std::fs::write(dir.path().join("test.yml"), test).unwrap();
    promtool(&["test", "rules", "test.yml"], dir.path())
}

/// Cumulative buckets of `apiserver_client_certificate_expiration_seconds`
/// for requests per minute from certificates with the given remaining
/// lifetimes, as promtool input series.
fn histogram(labels: &str, requests: &[(u64, u64)]) -> String {
    let bounds: [f64; 15] = [
        0.0,
        1800.0,
        3600.0,
        7200.0,
        21600.0,
        43200.0,
        86400.0,
        172800.0,
        345600.0,
        604800.0,
        2592000.0,
        7776000.0,
        15552000.0,
        31104000.0,
        f64::INFINITY,
    ];
    let mut out = String::new();
    for b in bounds {
        let per_minute: u64 = requests
            .iter()
            .filter(|(left, _)| (*left as f64) <= b)
            .map(|(_, n)| n)
            .sum();
        let le = if b.is_infinite() {
            "+Inf".to_string()
        } else {
            format!("{b}")
        };
        out.push_str(&format!(
            "      - series: 'apiserver_client_certificate_expiration_seconds_bucket{{{labels}, le=\"{le}\"}}'\n        values: '0+{per_minute}x300'\n"
        ));
    }
    out
}

#[test]
fn certificate_alerts_fire_for_the_certificates_they_name_and_not_for_workload_certificates() {
    let s = example("production");
    let days = s.spec.observability.alerts.cert_expiry_days as u64;
    let site_name = s.metadata.name.clone();
    let tree = render(&s, &Inputs::default()).unwrap();
    let rules = addon_rules(&tree).unwrap();
    let all = alert_names(&rules);
    let soon = (days / 3).max(1) * 86400; // well inside the alert window
    let later = 300 * 86400; // far outside it
    // Evaluated at 3h: time() is 10800.
    let now = 3 * 3600;
    let istiod = r#"namespace="istio-system", pod="istiod-1-30-3-7d9f8c-abcde", job="kubernetes-pods""#;
    let apiserver = r#"job="kubernetes-apiservers", instance="10.0.0.11:6443""#;
    let kubelet = r#"job="kubernetes-nodes", instance="worker-1""#;
    // Every proxy holds a 24-hour workload certificate: Envoy's minimum is 0
    // days, the agent's certificate a few hours from expiry.
    let proxies = r#"
      - series: 'envoy_server_days_until_first_cert_expiring{namespace="istio-ingress", pod="istio-ingressgateway-5c9d-xyz", job="kubernetes-pods"}'
        values: '0x300'
      - series: 'envoy_server_days_until_first_cert_expiring{namespace="shop", pod="web-6f7b-abc", job="kubernetes-pods"}'
        values: '0x300'
      - series: 'istio_agent_cert_expiry_seconds{namespace="shop", pod="web-6f7b-abc", resource_name="default", job="kubernetes-pods"}'
        values: '43200x300'
"#;

    let labels = |alert: &str, extra: &str, severity: &str| {
        format!("{{alertname: {alert}, severity: {severity}, site: {site_name}{extra}}}")
    };
    let expiring = format!(
        r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'citadel_server_root_cert_expiry_timestamp{{{istiod}}}'
        values: '{root}x300'
      - series: 'citadel_server_cert_chain_expiry_timestamp{{{istiod}}}'
        values: '{root}x300'
      - series: 'kubelet_certificate_manager_client_ttl_seconds{{{kubelet}}}'
        values: '{soon}x300'
{hist}{hist_kubelet}{proxies}
    alert_rule_test:
      - eval_time: 3h
        alertname: MeshRootCertificateExpiring
        exp_alerts:
          - exp_labels: {root_l}
            exp_annotations: {{summary: "the Istio root certificate expires within {days} days: plan a root rotation"}}
      - eval_time: 3h
        alertname: MeshIntermediateCertificateExpiring
        exp_alerts:
          - exp_labels: {int_l}
            exp_annotations: {{summary: "the Istio intermediate CA expires within {days} days: run meshbundle secrets rotate"}}
      - eval_time: 3h
        alertname: KubernetesClientCertificateExpiring
        exp_alerts:
          - exp_labels: {client_l}
            exp_annotations: {{summary: "a client certificate that authenticates to kubernetes-apiservers 10.0.0.11:6443 expires within {days} days: run ops/cert-expiry.sh and renew with kubeadm certs renew"}}
          - exp_labels: {client_k}
            exp_annotations: {{summary: "a client certificate that authenticates to kubernetes-nodes worker-1 expires within {days} days: run ops/cert-expiry.sh and renew with kubeadm certs renew"}}
      - eval_time: 3h
        alertname: KubeletClientCertificateExpiring
        exp_alerts:
          - exp_labels: {kubelet_l}
            exp_annotations: {{summary: "the kubelet client certificate of worker-1 expires within {days} days: its rotation is failing"}}
"#,
        root = now + soon,
        // One request a minute from an expiring certificate (say admin.conf)
        // among a thousand from healthy ones is enough.
        hist = histogram(apiserver, &[(later, 1000), (soon, 1)]),
        // On a kubelet, the API server's apiserver-kubelet-client certificate.
        hist_kubelet = histogram(kubelet, &[(soon, 4)]),
        root_l = labels(
            "MeshRootCertificateExpiring",
            r#", namespace: istio-system, pod: istiod-1-30-3-7d9f8c-abcde"#,
            "critical"
        ),
        int_l = labels(
            "MeshIntermediateCertificateExpiring",
            r#", namespace: istio-system, pod: istiod-1-30-3-7d9f8c-abcde"#,
            "critical"
        ),
        client_l = labels(
            "KubernetesClientCertificateExpiring",
            r#", job: kubernetes-apiservers, instance: "10.0.0.11:6443""#,
            "critical"
        ),
        client_k = labels(
            "KubernetesClientCertificateExpiring",
            r#", job: kubernetes-nodes, instance: worker-1"#,
            "critical"
        ),
        kubelet_l = labels(
            "KubeletClientCertificateExpiring",
            r#", job: kubernetes-nodes, instance: worker-1"#,
            "warning"
        ),
    );
    let o = rule_test(&rules, &expiring);
    assert!(
        o.status.success(),
        "expiring certificates:\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );

    // Healthy certificates; only the proxies' 24-hour workload certificates
    // are short: no alert at all fires.
    let mut healthy = format!(
        r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'citadel_server_root_cert_expiry_timestamp{{{istiod}}}'
        values: '{root}x300'
      - series: 'citadel_server_cert_chain_expiry_timestamp{{{istiod}}}'
        values: '{inter}x300'
      - series: 'kubelet_certificate_manager_client_ttl_seconds{{{kubelet}}}'
        values: '{later}x300'
{hist}{proxies}
    alert_rule_test:
"#,
        root = now + 3650 * 86400,
        inter = now + later,
        hist = histogram(apiserver, &[(later, 1000)]),
    );
    for a in &all {
        healthy.push_str(&format!(
            "      - eval_time: 3h\n        alertname: {a}\n        exp_alerts: []\n"
        ));
    }
    let o = rule_test(&rules, &healthy);
    assert!(
        o.status.success(),
        "healthy certificates, 24-hour workload certificates:\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

#[test]
fn the_kubelet_alert_means_a_failed_rotation_whatever_the_threshold() {
    // With a 60-day threshold, a kubelet certificate 50 days from expiry is in
    // its normal renewal window (the last 10 to 30% of a one-year life); one
    // 20 days from expiry has missed it.
    let mut s = example("production");
    s.spec.observability.alerts.cert_expiry_days = 60;
    let tree = render(&s, &Inputs::default()).unwrap();
    let rules = addon_rules(&tree).unwrap();
    let test = format!(
        r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kubelet_certificate_manager_client_ttl_seconds{{job="kubernetes-nodes", instance="worker-1"}}'
        values: '{renewing}x180'
      - series: 'kubelet_certificate_manager_client_ttl_seconds{{job="kubernetes-nodes", instance="worker-2"}}'
        values: '{stuck}x180'
    alert_rule_test:
      - eval_time: 2h
        alertname: KubeletClientCertificateExpiring
        exp_alerts:
          - exp_labels: {{alertname: KubeletClientCertificateExpiring, severity: warning, site: {site}, job: kubernetes-nodes, instance: worker-2}}
            exp_annotations: {{summary: "the kubelet client certificate of worker-2 expires within 36 days: its rotation is failing"}}
"#,
        renewing = 50 * 86400,
        stuck = 20 * 86400,
        site = s.metadata.name,
    );
    let o = rule_test(&rules, &test);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
}
