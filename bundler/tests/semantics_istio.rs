//! What the Istio part of a render means, read the way istioctl and the
//! Istio charts read it: which DNS domain istiod serves and which hosts the
//! routes name, and whether the charts render a PodDisruptionBudget for
//! istiod and each gateway, with the values the IstioOperator passes.

mod common;

use std::collections::BTreeMap;

use common::*;
use meshbundle_core::diag::Code;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{Route, Site};
use meshbundle_core::tree::FileTree;
use serde_json::{Value, json};

/// Every YAML document of every `.yaml` file of the tree, by path.
fn documents(tree: &FileTree) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, f) in tree.iter() {
        if !path.ends_with(".yaml") || path.starts_with("nodes/") {
            continue;
        }
        let text = String::from_utf8_lossy(&f.bytes);
        for doc in text.split("\n---\n").skip(1) {
            let v: Value = meshbundle_core::yaml::from_str(doc).unwrap_or_else(|e| panic!("{path}: {e}"));
            if !v.is_null() {
                out.push((path.to_string(), v));
            }
        }
    }
    out
}

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|(_, d)| d["kind"] == kind).map(|(_, d)| d).collect()
}

fn operator(docs: &[(String, Value)]) -> &Value {
    let ops = of_kind(docs, "IstioOperator");
    assert_eq!(ops.len(), 1, "one IstioOperator");
    ops[0]
}

/// A Kubernetes version of the catalog that `istio` supports, else the oldest.
fn kubernetes_for(istio: &str) -> String {
    let cat = meshbundle_core::catalog::catalog();
    let range = &cat.istio(istio).unwrap().kubernetes;
    let minor = |v: &str| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
    let versions = cat.kubernetes_versions();
    versions
        .iter()
        .find(|v| minor(v) >= minor(&range.min) && minor(v) <= minor(&range.max))
        .or(versions.last())
        .unwrap()
        .to_string()
}

fn with_istio(mut site: Site, version: &str) -> Site {
    site.spec.istio.version = version.into();
    site.spec.kubernetes.version = kubernetes_for(version);
    if site.spec.kubernetes.version.starts_with("1.29.") || site.spec.kubernetes.version.starts_with("1.30.") {
        site.spec.containerd.version = "1.7.27".into();
    }
    site
}

fn render_docs(site: &Site) -> (FileTree, Vec<(String, Value)>) {
    let tree = render(site, &Inputs::default()).unwrap_or_else(|e| panic!("render {}: {e}", site.metadata.name));
    let docs = documents(&tree);
    (tree, docs)
}

// ---------------------------------------------------------------- point 1

/// The service hosts Istio is asked to send traffic to: route destinations,
/// DestinationRule hosts and extension provider services, without the hosts
/// a ServiceEntry declares outside the mesh.
fn service_hosts(docs: &[(String, Value)]) -> Vec<String> {
    let external: Vec<String> = of_kind(docs, "ServiceEntry")
        .iter()
        .flat_map(|se| {
            se["spec"]["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
        })
        .collect();
    let mut hosts = Vec::new();
    for vs in of_kind(docs, "VirtualService") {
        for proto in ["http", "tls", "tcp"] {
            for rule in vs["spec"][proto].as_array().into_iter().flatten() {
                for r in rule["route"].as_array().into_iter().flatten() {
                    hosts.push(r["destination"]["host"].as_str().unwrap().to_string());
                }
            }
        }
    }
    for dr in of_kind(docs, "DestinationRule") {
        hosts.push(dr["spec"]["host"].as_str().unwrap().to_string());
    }
    for p in operator(docs)["spec"]["meshConfig"]["extensionProviders"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for (_, provider) in p.as_object().unwrap().iter().filter(|(k, _)| *k != "name") {
            if let Some(s) = provider["service"].as_str() {
                hosts.push(s.to_string());
            }
        }
    }
    hosts.retain(|h| !external.contains(h));
    hosts
}

/// `NAME.NAMESPACE.svc.DOMAIN` names anywhere in a text, as (name, domain).
fn svc_names(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let is_dns = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
    let mut from = 0;
    while let Some(i) = text[from..].find(".svc.") {
        let at = from + i;
        let mut start = at;
        while start > 0 && is_dns(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 5;
        while end < bytes.len() && is_dns(bytes[end]) {
            end += 1;
        }
        let domain = text[at + 5..end].trim_end_matches('.').to_string();
        out.push((text[start..end].to_string(), domain));
        from = at + 5;
    }
    out
}

fn domain_site(domain: &str, istio: &str) -> Site {
    let mut site = with_istio(example("production"), istio);
    site.metadata.name = format!("domain-{}", domain.replace('.', "-"));
    site.spec.kubernetes.cluster_domain = domain.into();
    site.spec.istio.egress_gateway.hosts = vec!["ldap.corp.example.internal".into()];
    site.spec.istio.ingress_gateway.routes.push(Route {
        host: "shop.example.internal".into(),
        path_prefix: "/api".into(),
        service: "api".into(),
        namespace: "shop".into(),
        port: 9090,
    });
    site
}

#[test]
fn istio_cluster_domain_reaches_istiod_and_every_service_host() {
    for istio in meshbundle_core::catalog::catalog().istio_versions() {
        for domain in ["corp.local", "k8s.example.internal", "cluster.local"] {
            let site = domain_site(domain, istio);
            check_domain(&site, domain, true);
        }
    }
    // Every shape of site in the test matrix, on another domain.
    for (_, mut site) in matrix() {
        site.spec.kubernetes.cluster_domain = "corp.local".into();
        check_domain(&site, "corp.local", false);
    }
}

fn check_domain(site: &Site, domain: &str, all_kinds: bool) {
    let istio = &site.spec.istio.version;
    let (tree, docs) = render_docs(site);
    let op = operator(&docs);

    // The domain istiod serves (its --domain, the sidecars' search
    // paths): values.global.proxy.clusterDomain, `cluster.local` when unset.
    let served = op["spec"]["values"]["global"]["proxy"]["clusterDomain"]
        .as_str()
        .unwrap_or("cluster.local");
    assert_eq!(
        served, domain,
        "{}, Istio {istio}: istiod must serve the cluster's DNS domain",
        site.metadata.name
    );
    let kubeadm: Vec<&str> = tree
        .iter()
        .filter(|(p, _)| p.starts_with("nodes/") && p.ends_with("/kubeadm.yaml"))
        .flat_map(|(_, f)| {
            std::str::from_utf8(&f.bytes)
                .unwrap()
                .lines()
                .filter(|l| l.trim_start().starts_with("dnsDomain:"))
        })
        .map(|l| l.trim().trim_start_matches("dnsDomain:").trim())
        .collect();
    assert!(
        !kubeadm.is_empty() && kubeadm.iter().all(|d| *d == domain),
        "kubeadm dnsDomain {kubeadm:?} vs {domain}"
    );

    // Every in-mesh host Istio routes to is a service of that domain.
    let hosts = service_hosts(&docs);
    assert!(!hosts.is_empty(), "{}: no service hosts", site.metadata.name);
    if all_kinds {
        assert!(
            hosts.iter().any(|h| h == &format!("web.shop.svc.{domain}")),
            "{hosts:?}"
        );
        assert!(
            hosts.iter().any(|h| h == &format!("api.shop.svc.{domain}")),
            "{hosts:?}"
        );
        assert!(
            hosts
                .iter()
                .any(|h| h.starts_with("istio-egressgateway.istio-egress.svc.")),
            "{hosts:?}"
        );
        assert!(
            hosts.iter().any(|h| h.starts_with("zipkin.istio-system.svc.")),
            "{hosts:?}"
        );
    }
    for h in &hosts {
        let in_domain = h == &format!("*.{domain}") || h.ends_with(&format!(".svc.{served}"));
        assert!(
            in_domain,
            "Istio {istio}, domain {domain}: {h} is not a service of {served}"
        );
    }

    // No hostname anywhere in the tree names another cluster domain.
    for (path, f) in tree.iter() {
        let text = String::from_utf8_lossy(&f.bytes);
        for (name, d) in svc_names(&text) {
            // The upstream Grafana dashboard remembers the sample
            // `details` service as its last-selected variable value;
            // the variable's query lists the site's own services.
            if path == "manifests/observability/grafana.yaml" && name == "details.default.svc.cluster.local" {
                continue;
            }
            assert_eq!(d, domain, "{path}: {name} names another cluster domain");
        }
    }

    // `cluster.local` in SPIFFE principals is the trust domain, which
    // is meshConfig.trustDomain, not the DNS domain.
    let trust = op["spec"]["meshConfig"]["trustDomain"]
        .as_str()
        .unwrap_or("cluster.local");
    for ap in of_kind(&docs, "AuthorizationPolicy") {
        for rule in ap["spec"]["rules"].as_array().into_iter().flatten() {
            for from in rule["from"].as_array().into_iter().flatten() {
                for p in from["source"]["principals"].as_array().into_iter().flatten() {
                    let p = p.as_str().unwrap();
                    assert!(
                        p.starts_with(&format!("{trust}/ns/")),
                        "principal {p} is not in trust domain {trust}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------- point 4

/// Whether a chart renders the PodDisruptionBudget, given the values it is
/// rendered with (`v`: the gateway's or pilot's own values, `global`). The
/// conditions are the charts' own, from istio/istio at the release tags:
///
/// - 1.30.3 (56df41f63e513f834c9a3af33d8aed82d1d961f2),
///   manifests/charts/gateways/istio-{ingress,egress}/templates/poddisruptionbudget.yaml
///   and istio-control/istio-discovery/templates/poddisruptionbudget.yaml (the
///   condition came in 1.28.0, so 1.28.10 and 1.29.6 have it too): `if .Values.global.defaultPodDisruptionBudget.enabled`,
///   then `if or (and $gateway.autoscaleEnabled (gt (int $gateway.autoscaleMin) 1))
///   (and (not $gateway.autoscaleEnabled) (gt (int $gateway.replicaCount) 1))`
///   (`.Values` for istiod).
fn chart_renders_pdb(istio: &str, v: &Value, global: &Value) -> bool {
    let enabled = global["defaultPodDisruptionBudget"]["enabled"].as_bool().unwrap();
    let int = |x: &Value| x.as_u64().unwrap_or(0);
    match istio {
        "1.28.10" | "1.29.6" | "1.30.3" => {
            let autoscale = v["autoscaleEnabled"].as_bool().unwrap();
            enabled && ((autoscale && int(&v["autoscaleMin"]) > 1) || (!autoscale && int(&v["replicaCount"]) > 1))
        }
        other => {
            panic!("Istio {other} is catalogued: read its charts' PodDisruptionBudget conditions and add them here")
        }
    }
}

/// The charts' defaults that the conditions read (values.yaml at the same
/// tags): gateways autoscaleEnabled true, autoscaleMin 1, no replicaCount;
/// pilot autoscaleEnabled true, autoscaleMin 1, replicaCount 1; PDBs enabled.
fn chart_defaults() -> Value {
    json!({
        "global": {"defaultPodDisruptionBudget": {"enabled": true}},
        "pilot": {"autoscaleEnabled": true, "autoscaleMin": 1, "autoscaleMax": 5, "replicaCount": 1},
        "gateways": {
            "istio-ingressgateway": {"autoscaleEnabled": true, "autoscaleMin": 1, "autoscaleMax": 5},
            "istio-egressgateway": {"autoscaleEnabled": true, "autoscaleMin": 1, "autoscaleMax": 5},
        },
    })
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The values the charts see, as istioctl builds them: the charts' defaults,
/// then `spec.values`, then `spec.unvalidatedValues`; each gateway component
/// is rendered from its chart's root (`gateways.istio-ingressgateway` for
/// every ingress gateway), with `name` set to the component's name
/// (operator/pkg/render/manifest.go, applyComponentValuesToHelmValues).
fn chart_values(op: &Value) -> Value {
    let mut v = chart_defaults();
    merge(&mut v, &op["spec"]["values"]);
    if let Some(u) = op["spec"].get("unvalidatedValues") {
        merge(&mut v, u);
    }
    v
}

struct Deployment {
    /// The name of the Deployment, HPA and PDB the chart renders.
    name: String,
    /// What the chart reads: autoscaleEnabled, autoscaleMin, replicaCount.
    values: Value,
    /// The component's `k8s`, which istioctl patches onto what the chart rendered.
    k8s: Value,
    /// The fewest pods the spec asks for.
    min_pods: u32,
    /// The HPA bounds or the replica count the spec asks for.
    hpa: Option<(u32, u32)>,
    replicas: u32,
}

fn deployments(site: &Site, op: &Value) -> Vec<Deployment> {
    let values = chart_values(op);
    let istio = &site.spec.istio;
    let mut out = Vec::new();
    let istiod = &istio.istiod;
    out.push(Deployment {
        name: format!("istiod-{}", site.istio_revision()),
        values: values["pilot"].clone(),
        k8s: op["spec"]["components"]["pilot"]["k8s"].clone(),
        min_pods: if istiod.hpa.enabled {
            istiod.hpa.min_replicas
        } else {
            istiod.replicas
        },
        hpa: istiod
            .hpa
            .enabled
            .then_some((istiod.hpa.min_replicas, istiod.hpa.max_replicas)),
        replicas: istiod.replicas,
    });
    for (g, list, root) in [
        (&istio.ingress_gateway, "ingressGateways", "istio-ingressgateway"),
        (&istio.egress_gateway, "egressGateways", "istio-egressgateway"),
    ] {
        if !g.enabled {
            continue;
        }
        let comps = op["spec"]["components"][list].as_array().unwrap();
        let comp = comps
            .iter()
            .find(|c| c["name"] == g.name.as_str())
            .unwrap_or_else(|| panic!("no component {}", g.name));
        let mut v = values["gateways"][root].clone();
        v["name"] = comp["name"].clone();
        out.push(Deployment {
            name: v["name"].as_str().unwrap().to_string(),
            values: v,
            k8s: comp["k8s"].clone(),
            min_pods: if g.hpa.enabled { g.hpa.min_replicas } else { g.replicas },
            hpa: g.hpa.enabled.then_some((g.hpa.min_replicas, g.hpa.max_replicas)),
            replicas: g.replicas,
        });
    }
    out
}

fn scaled_site(istio: &str, hpa: bool, replicas: u32, custom_names: bool) -> Site {
    let mut site = with_istio(example("production"), istio);
    site.metadata.name = format!(
        "pdb-{}-{}-{replicas}",
        istio.replace('.', "-"),
        if hpa { "hpa" } else { "fixed" }
    );
    let i = &mut site.spec.istio;
    i.istiod.replicas = replicas;
    i.istiod.hpa.enabled = hpa;
    i.istiod.hpa.min_replicas = replicas;
    i.istiod.hpa.max_replicas = replicas + 3;
    for g in [&mut i.ingress_gateway, &mut i.egress_gateway] {
        g.replicas = replicas;
        g.hpa.enabled = hpa;
        g.hpa.min_replicas = replicas;
        g.hpa.max_replicas = replicas + 4;
    }
    if custom_names {
        i.ingress_gateway.name = "edge-gateway".into();
        i.egress_gateway.name = "outbound-gateway".into();
    }
    site
}

#[test]
fn istio_pdb_exists_where_the_charts_render_it() {
    for istio in meshbundle_core::catalog::catalog().istio_versions() {
        for hpa in [true, false] {
            for replicas in [1, 2, 3] {
                for custom_names in [false, true] {
                    let site = scaled_site(istio, hpa, replicas, custom_names);
                    let (_, docs) = render_docs(&site);
                    let op = operator(&docs);
                    let values = chart_values(op);
                    let case = format!("Istio {istio}, hpa {hpa}, {replicas} replica(s), custom names {custom_names}");

                    // Values istioctl would not read are a sign of a wrong key.
                    for key in op["spec"]["values"]["gateways"].as_object().unwrap().keys() {
                        assert!(
                            key == "istio-ingressgateway" || key == "istio-egressgateway",
                            "{case}: values.gateways.{key} is read by no chart"
                        );
                    }

                    for d in deployments(&site, op) {
                        let case = format!("{case}, {}", d.name);
                        // The chart scales as the spec says.
                        assert_eq!(
                            d.values["autoscaleEnabled"].as_bool(),
                            Some(d.hpa.is_some()),
                            "{case}: autoscaleEnabled"
                        );
                        match d.hpa {
                            Some((min, max)) => {
                                assert_eq!(
                                    d.values["autoscaleMin"].as_u64(),
                                    Some(min as u64),
                                    "{case}: autoscaleMin"
                                );
                                assert_eq!(
                                    d.values["autoscaleMax"].as_u64(),
                                    Some(max as u64),
                                    "{case}: autoscaleMax"
                                );
                                assert_eq!(
                                    d.k8s["hpaSpec"]["minReplicas"].as_u64(),
                                    Some(min as u64),
                                    "{case}: hpaSpec"
                                );
                            }
                            None => {
                                assert_eq!(
                                    d.values["replicaCount"].as_u64(),
                                    Some(d.replicas as u64),
                                    "{case}: replicaCount"
                                );
                                assert_eq!(
                                    d.k8s["replicaCount"].as_u64(),
                                    Some(d.replicas as u64),
                                    "{case}: k8s.replicaCount"
                                );
                            }
                        }

                        // A PDB that keeps one pod up through a drain exists
                        // exactly when there are two pods or more to keep one of.
                        let renders = chart_renders_pdb(istio, &d.values, &values["global"]);
                        assert_eq!(renders, d.min_pods > 1, "{case}: PodDisruptionBudget rendered");
                        // Where it is rendered, istioctl's patch reaches it (same
                        // name as the Deployment) and leaves maxUnavailable 1, so a
                        // single pod never blocks a drain.
                        if renders {
                            assert_eq!(
                                d.k8s["podDisruptionBudget"],
                                json!({"maxUnavailable": 1}),
                                "{case}: PDB patch"
                            );
                        }
                    }

                    // Warnings say what the chart does.
                    for w in meshbundle_core::validate::check(&site) {
                        assert!(
                            !w.message.contains("block node drains"),
                            "{case}: {}: {}",
                            w.path,
                            w.message
                        );
                        if w.code == Code::Replicas {
                            assert_eq!(replicas, 1, "{case}: {}", w.message);
                            let says_none = w.message.contains("renders no PodDisruptionBudget");
                            assert!(says_none, "{case}: {}", w.message);
                        }
                    }
                    let warned: Vec<String> = meshbundle_core::validate::check(&site)
                        .into_iter()
                        .filter(|w| w.code == Code::Replicas)
                        .map(|w| w.path)
                        .collect();
                    if replicas == 1 {
                        let field = if hpa { "hpa.minReplicas" } else { "replicas" };
                        for g in ["ingressGateway", "egressGateway", "istiod"] {
                            assert!(
                                warned.contains(&format!("spec.istio.{g}.{field}")),
                                "{case}: no warning for {g}: {warned:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The same with a spec whose HPA minimum and replica count disagree: the
/// HPA's minimum is what the chart and the PDB go by.
#[test]
fn istio_pdb_follows_the_hpa_minimum() {
    for istio in meshbundle_core::catalog::catalog().istio_versions() {
        let mut site = scaled_site(istio, true, 3, false);
        site.spec.istio.ingress_gateway.hpa.min_replicas = 1;
        let (_, docs) = render_docs(&site);
        let op = operator(&docs);
        let values = chart_values(op);
        let ig = &values["gateways"]["istio-ingressgateway"];
        assert_eq!(ig["autoscaleMin"].as_u64(), Some(1));
        assert!(!chart_renders_pdb(istio, ig, &values["global"]), "Istio {istio}");
        let w: BTreeMap<String, String> = meshbundle_core::validate::check(&site)
            .into_iter()
            .filter(|w| w.code == Code::Replicas)
            .map(|w| (w.path, w.message))
            .collect();
        assert!(w.contains_key("spec.istio.ingressGateway.hpa.minReplicas"), "{w:?}");
    }
}

/// The IstioOperator of every scaling shape (HPA off puts `replicaCount` in
/// `unvalidatedValues`) and of a custom cluster domain passes Istio's strict
/// schema for each catalogued version.
#[test]
fn istio_operator_of_every_scaling_shape_passes_the_strict_schema() {
    for istio in meshbundle_core::catalog::catalog().istio_versions() {
        for (hpa, replicas, custom) in [(false, 1, false), (false, 3, true), (true, 2, true)] {
            let mut site = scaled_site(istio, hpa, replicas, custom);
            site.spec.kubernetes.cluster_domain = "corp.local".into();
            let (tree, _) = render_docs(&site);
            let dir = tempfile::tempdir().unwrap();
            let mut only = FileTree::new();
            for p in [
                "manifests/istio/istio-operator.yaml",
                "manifests/traffic/ingress.yaml",
                "manifests/traffic/egress.yaml",
            ] {
                if let Some(f) = tree.get(p) {
                    only.add(p, f.bytes.clone(), f.mode);
                }
            }
            write_tree(&only, dir.path());
            let minor: String = site
                .spec
                .kubernetes
                .version
                .split('.')
                .take(2)
                .collect::<Vec<_>>()
                .join(".");
            let o = std::process::Command::new("python3")
                .arg(repo().join("tests/tools/validate_tree.py"))
                .args(["--kubernetes", &minor, "--istio", istio])
                .arg(dir.path())
                .output()
                .expect("python3 tests/tools/validate_tree.py");
            assert!(
                o.status.success(),
                "Istio {istio}, hpa {hpa}, {replicas}:\n{}{}",
                text(&o.stdout),
                text(&o.stderr)
            );
        }
    }
}
