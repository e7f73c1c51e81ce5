//! What the addon Prometheus scrapes, and how: MetalLB's HTTPS metrics in a
//! job of their own (with the token its metrics endpoint checks, and the
//! rights for it to check it), not through the generic pod annotations; the
//! kubelets over TLS verified against the cluster CA at the address their
//! serving certificate names. Debian's promtool has no Kubernetes service
//! discovery, so the jobs are checked with `promtool check config` with their
//! discovery replaced by a static target and everything else kept.

mod common;

use std::process::Command;

use common::*;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::Site;
use meshbundle_core::tree::FileTree;
use serde_json::{Value, json};

const SA_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
const SA_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

fn docs(tree: &FileTree, path: &str) -> Vec<Value> {
    let f = tree.get(path).unwrap_or_else(|| panic!("{path} is not in the tree"));
    serde_saphyr::from_multiple(&String::from_utf8(f.bytes.clone()).unwrap()).unwrap()
}

fn prometheus_config(tree: &FileTree) -> Value {
    let d = docs(tree, "manifests/observability/prometheus.yaml");
    let cm = d
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "prometheus")
        .unwrap();
    serde_saphyr::from_str(cm["data"]["prometheus.yml"].as_str().unwrap()).unwrap()
}

fn job<'a>(config: &'a Value, name: &str) -> Option<&'a Value> {
    config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == name)
}

/// `promtool check config` of the jobs, each with its discovery replaced by a static target.
fn promtool_accepts(jobs: &[&Value]) {
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            let mut j = (*j).clone();
            j.as_object_mut().unwrap().remove("kubernetes_sd_configs");
            j["static_configs"] = json!([{"targets": ["10.0.0.21:9120"]}]);
            j
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    // The files the jobs name exist in the pod; here, stand-ins.
    let text = serde_saphyr::to_string(&json!({"scrape_configs": jobs})).unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), &text).unwrap();
    let o = Command::new("promtool")
        .args(["check", "config", "--syntax-only", "prometheus.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{text}\n{}{}",
        text_of(&o.stdout),
        text_of(&o.stderr)
    );
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Prometheus `relabel_configs` for what these jobs use: `keep`, `drop` and
/// `replace` with literal or `(.+)`-group regexes over `;`-joined labels.
fn relabel(
    rules: &Value,
    mut labels: std::collections::BTreeMap<String, String>,
) -> Option<std::collections::BTreeMap<String, String>> {
    for r in rules.as_array().unwrap() {
        let action = r.get("action").and_then(Value::as_str).unwrap_or("replace");
        if action == "labelmap" {
            // Copies discovery labels under other names: nothing these tests read.
            continue;
        }
        let joined: Vec<String> = r
            .get("source_labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|s| labels.get(s.as_str().unwrap()).cloned().unwrap_or_default())
            .collect();
        let joined = joined.join(";");
        let regex = r.get("regex").and_then(Value::as_str).unwrap_or("(.*)");
        // Group regexes of the forms used: `(.*)`, `(.+)`, `(.+);(.+)`; otherwise a literal alternation.
        let groups: Option<Vec<String>> = match regex {
            "(.*)" => Some(vec![joined.clone()]),
            "(.+)" => (!joined.is_empty()).then(|| vec![joined.clone()]),
            "(.+);(.+)" => joined
                .split_once(';')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .map(|(a, b)| vec![a.into(), b.into()]),
            lit => {
                assert!(
                    !lit.contains(['(', '[', '.', '*', '+', '?', '\\']),
                    "the test's relabelling does not know regex `{lit}`"
                );
                lit.split('|').any(|alt| alt == joined).then(Vec::new)
            }
        };
        match action {
            "keep" if groups.is_none() => return None,
            "drop" if groups.is_some() => return None,
            "keep" | "drop" => {}
            "replace" => {
                if let Some(g) = groups {
                    let mut v = r.get("replacement").and_then(Value::as_str).unwrap_or("$1").to_string();
                    for (i, x) in g.iter().enumerate() {
                        v = v.replace(&format!("${}", i + 1), x);
                    }
                    labels.insert(r["target_label"].as_str().unwrap().to_string(), v);
                }
            }
            other => panic!("the test's relabelling does not know action {other}"),
        }
    }
    Some(labels)
}

fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Whether a ClusterRole bound to the service account allows `verb` on `group/resource`
/// (or, with `group` None, on the non-resource URL `resource`).
fn allowed(all: &[Value], sa_ns: &str, sa: &str, verb: &str, group: Option<&str>, resource: &str) -> bool {
    all.iter()
        .filter(|b| b["kind"] == "ClusterRoleBinding")
        .filter(|b| {
            b["subjects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == sa_ns)
        })
        .filter_map(|b| {
            all.iter()
                .find(|r| r["kind"] == "ClusterRole" && r["metadata"]["name"] == b["roleRef"]["name"])
        })
        .flat_map(|r| r["rules"].as_array().unwrap().iter())
        .any(|rule| {
            let has = |k: &str, v: &str| rule[k].as_array().is_some_and(|a| a.iter().any(|x| x == v || x == "*"));
            has("verbs", verb)
                && match group {
                    Some(g) => has("apiGroups", g) && has("resources", resource),
                    None => has("nonResourceURLs", resource),
                }
        })
}

fn production() -> (Site, FileTree) {
    let s = example("production");
    assert!(s.uses_metallb(), "the production example runs MetalLB");
    let tree = render(&s, &Inputs::default()).unwrap();
    (s, tree)
}

#[test]
fn metallb_metrics_are_scraped_over_https_with_a_token_it_can_check_and_not_by_the_pod_annotations() {
    let (_, tree) = production();
    let metallb = docs(&tree, "manifests/metallb/metallb-native.yaml");
    let prometheus = docs(&tree, "manifests/observability/prometheus.yaml");
    let config = prometheus_config(&tree);

    // The generic pod job keeps only pods annotated prometheus.io/scrape: MetalLB's are not.
    let pods_job = job(&config, "kubernetes-pods").unwrap();
    for w in metallb
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
    {
        let ann = &w["spec"]["template"]["metadata"]["annotations"];
        let mut l = labels(&[("__meta_kubernetes_pod_phase", "Running")]);
        if let Some(a) = ann.as_object() {
            for (k, v) in a {
                let k = k.replace(['.', '/', '-'], "_");
                l.insert(
                    format!("__meta_kubernetes_pod_annotation_{k}"),
                    v.as_str().unwrap().to_string(),
                );
            }
        }
        let kept = relabel(&pods_job["relabel_configs"], l.clone()).is_some_and(|_| true);
        // `kubernetes-pods` keeps on a regex the test evaluates only as the literal `true`.
        assert!(
            !kept || !l.contains_key("__meta_kubernetes_pod_annotation_prometheus_io_scrape"),
            "{}",
            w["metadata"]["name"]
        );
        assert!(
            ann.get("prometheus.io/scrape").is_none(),
            "{} is still annotated for the plain-HTTP pod job",
            w["metadata"]["name"]
        );
    }

    // Its own job: HTTPS with the Prometheus service account's token, the metrics port of MetalLB's pods only.
    let j = job(&config, "metallb").expect("a metallb scrape job");
    assert_eq!(j["scheme"], "https");
    assert_eq!(j["authorization"]["credentials_file"], SA_TOKEN);
    assert_eq!(j["kubernetes_sd_configs"][0]["role"], "pod");
    assert_eq!(
        j["kubernetes_sd_configs"][0]["namespaces"]["names"],
        json!(["metallb-system"])
    );
    let target = |app: &str, port: &str, phase: &str| {
        labels(&[
            ("__meta_kubernetes_pod_label_app", app),
            ("__meta_kubernetes_pod_label_component", "speaker"),
            ("__meta_kubernetes_pod_container_port_name", port),
            ("__meta_kubernetes_pod_phase", phase),
            ("__meta_kubernetes_pod_name", "speaker-x"),
            ("__meta_kubernetes_pod_node_name", "worker-1"),
        ])
    };
    let kept = relabel(&j["relabel_configs"], target("metallb", "metricshttps", "Running"))
        .expect("the speaker's metrics port is scraped");
    assert_eq!(kept["node"], "worker-1");
    assert!(
        relabel(&j["relabel_configs"], target("metallb", "memberlist-tcp", "Running")).is_none(),
        "not memberlist"
    );
    assert!(
        relabel(&j["relabel_configs"], target("metallb", "webhook-server", "Running")).is_none(),
        "not the webhook"
    );
    assert!(relabel(&j["relabel_configs"], target("other", "metricshttps", "Running")).is_none());
    assert!(relabel(&j["relabel_configs"], target("metallb", "metricshttps", "Succeeded")).is_none());
    // Every MetalLB workload has the port the job keeps.
    for w in metallb
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
    {
        let ports: Vec<&Value> = w["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["ports"].as_array().unwrap())
            .collect();
        assert!(
            ports
                .iter()
                .any(|p| p["name"] == "metricshttps" && p["containerPort"] == 9120),
            "{}",
            w["metadata"]["name"]
        );
        assert_eq!(w["spec"]["template"]["metadata"]["labels"]["app"], "metallb");
    }

    // MetalLB checks the token (TokenReview) and the right to GET /metrics
    // (SubjectAccessReview): its service accounts may ask, and Prometheus's may get.
    for sa in ["controller", "speaker"] {
        assert!(
            allowed(
                &metallb,
                "metallb-system",
                sa,
                "create",
                Some("authentication.k8s.io"),
                "tokenreviews"
            ),
            "{sa}: tokenreviews"
        );
        assert!(
            allowed(
                &metallb,
                "metallb-system",
                sa,
                "create",
                Some("authorization.k8s.io"),
                "subjectaccessreviews"
            ),
            "{sa}: subjectaccessreviews"
        );
    }
    let sa = prometheus
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "prometheus")
        .unwrap()["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        allowed(&prometheus, "istio-system", &sa, "get", None, "/metrics"),
        "Prometheus may GET /metrics"
    );

    promtool_accepts(&[j]);

    // Without MetalLB, no job.
    let mut s = example("production");
    let lb = s.spec.load_balancer.as_mut().unwrap();
    lb.provider = meshbundle_core::spec::LoadBalancerProvider::Existing;
    lb.addresses.clear();
    let tree = render(&s, &Inputs::default()).unwrap();
    assert!(job(&prometheus_config(&tree), "metallb").is_none());
}

#[test]
fn kubelets_are_scraped_over_tls_verified_against_the_cluster_ca_at_the_address_their_certificate_names() {
    let (s, tree) = production();
    let config = prometheus_config(&tree);
    let approve = String::from_utf8(tree.get("ops/approve-kubelet-csrs.sh").unwrap().bytes.clone()).unwrap();
    let names: Vec<&str> = approve
        .lines()
        .find_map(|l| l.strip_prefix("NODE_NAMES=("))
        .unwrap()
        .trim_end_matches(')')
        .split(' ')
        .collect();
    let sans: Vec<&str> = approve
        .split("NODE_SANS=(\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| *l != ")")
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let node_jobs: Vec<&Value> = config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| {
            j["kubernetes_sd_configs"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["role"] == "node"))
        })
        .collect();
    let names_of: Vec<&str> = node_jobs.iter().map(|j| j["job_name"].as_str().unwrap()).collect();
    assert!(
        names_of.contains(&"kubernetes-nodes") && names_of.contains(&"kubernetes-nodes-cadvisor"),
        "{names_of:?}"
    );
    for j in &node_jobs {
        let name = j["job_name"].as_str().unwrap();
        assert_eq!(j["scheme"], "https", "{name}");
        assert!(
            j["tls_config"].get("insecure_skip_verify").is_none_or(|v| v == false),
            "{name} skips verification"
        );
        assert_eq!(j["tls_config"]["ca_file"], SA_CA, "{name}");
        assert!(
            j["tls_config"].get("server_name").is_none(),
            "{name}: the dialled address is the name checked"
        );
        for n in &s.spec.nodes {
            // What node discovery gives for this node (kubelet on 10250), relabelled.
            let l = labels(&[
                ("__address__", &format!("{}:10250", n.name)),
                ("__meta_kubernetes_node_name", &n.name),
                ("__meta_kubernetes_node_address_InternalIP", &n.address),
                ("__meta_kubernetes_node_address_Hostname", &n.name),
                ("__meta_kubernetes_node_kubelet_port", "10250"),
            ]);
            let out = relabel(&j["relabel_configs"], l).unwrap();
            let address = &out["__address__"];
            assert_eq!(
                address,
                &format!("{}:10250", n.address),
                "{name}: {} is dialled at its InternalIP",
                n.name
            );
            assert_eq!(out["node"], n.name, "{name}: the series name the node");
            // The certificate the approver lets the kubelet have names that address.
            let ip: std::net::Ipv4Addr = n.address.parse().unwrap();
            let ip_der: String = format!(
                "8704{}",
                ip.octets().iter().map(|o| format!("{o:02X}")).collect::<String>()
            );
            let i = names.iter().position(|x| *x == n.name).unwrap();
            assert!(
                sans[i].ends_with(&ip_der),
                "{name}: the serving certificate of {} names {}",
                n.name,
                n.address
            );
        }
    }
    // The kubelet's own /metrics (where kubelet_certificate_manager_server_ttl_seconds
    // and kubelet_server_expiration_renew_errors are) is scraped, with the right to.
    let nodes = job(&config, "kubernetes-nodes").unwrap();
    assert!(nodes.get("metrics_path").is_none_or(|p| p == "/metrics"));
    assert_eq!(nodes["bearer_token_file"], SA_TOKEN);
    let prometheus = docs(&tree, "manifests/observability/prometheus.yaml");
    assert!(allowed(
        &prometheus,
        "istio-system",
        "prometheus",
        "get",
        Some(""),
        "nodes/metrics"
    ));
    let jobs: Vec<&Value> = node_jobs.clone();
    promtool_accepts(&jobs);
    // No job of the addon Prometheus skips verification but MetalLB's (see metallb.rs: self-signed per pod).
    for j in config["scrape_configs"].as_array().unwrap() {
        if j["tls_config"]["insecure_skip_verify"] == true {
            assert_eq!(j["job_name"], "metallb");
        }
    }
}
