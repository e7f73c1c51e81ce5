//! What the rendered NetworkPolicies mean. A small evaluator of Kubernetes
//! NetworkPolicy ingress semantics (a pod no policy selects admits
//! everything; a selected pod admits a connection when some rule of some
//! policy selecting it matches both a peer and a port; peers are
//! podSelector, namespaceSelector, both, or ipBlock with except; selectors
//! with matchLabels and matchExpressions) judges the connections a site
//! makes: clients to the ingress gateway, the gateway to its routes'
//! backends, Prometheus to the proxies, proxies to istiod, the kubelet's
//! probes, the API server's webhook calls; and those it must not make.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use meshbundle_core::examples::example;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;
use meshbundle_core::tree::FileTree;
use serde_json::Value;

const FILE: &str = "manifests/security/network-policies.yaml";

/// Where a connection comes from.
#[derive(Clone, Debug)]
enum From {
    /// A pod: its namespace, labels and address.
    Pod {
        ns: String,
        labels: BTreeMap<String, String>,
        ip: Ipv4Addr,
    },
    /// A host: a node (the kubelet, the API server) or a client outside.
    Host(Ipv4Addr),
}

/// A pod a connection goes to.
#[derive(Clone, Debug)]
struct To {
    ns: String,
    labels: BTreeMap<String, String>,
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn pod(ns: &str, pairs: &[(&str, &str)]) -> From {
    From::Pod {
        ns: ns.into(),
        labels: labels(pairs),
        ip: "10.244.3.17".parse().unwrap(),
    }
}

fn host(ip: &str) -> From {
    From::Host(ip.parse().unwrap())
}

fn to(ns: &str, pairs: &[(&str, &str)]) -> To {
    To {
        ns: ns.into(),
        labels: labels(pairs),
    }
}

/// The cluster as the policies see it: the policies and the namespaces' labels.
struct Cluster {
    policies: Vec<Value>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

fn selector_matches(sel: &Value, l: &BTreeMap<String, String>) -> bool {
    for key in sel.as_object().unwrap().keys() {
        assert!(
            ["matchLabels", "matchExpressions"].contains(&key.as_str()),
            "the evaluator does not know selector field `{key}`"
        );
    }
    let labels_ok = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| l.get(k).map(String::as_str) == v.as_str()));
    let exprs_ok = sel.get("matchExpressions").and_then(Value::as_array).is_none_or(|es| {
        es.iter().all(|e| {
            let key = e["key"].as_str().unwrap();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str().unwrap() {
                "Exists" => l.contains_key(key),
                "DoesNotExist" => !l.contains_key(key),
                "In" => l.get(key).is_some_and(|v| values.contains(&v.as_str())),
                "NotIn" => l.get(key).is_none_or(|v| !values.contains(&v.as_str())),
                other => panic!("unknown operator {other}"),
            }
        })
    });
    labels_ok && exprs_ok
}

impl Cluster {
    fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut l = self.namespaces.get(ns).cloned().unwrap_or_default();
        // The API server sets this label on every namespace.
        l.insert("kubernetes.io/metadata.name".into(), ns.into());
        l
    }

    fn peer_matches(&self, policy_ns: &str, peer: &Value, from: &From) -> bool {
        for key in peer.as_object().unwrap().keys() {
            assert!(
                ["podSelector", "namespaceSelector", "ipBlock"].contains(&key.as_str()),
                "the evaluator does not know peer field `{key}`"
            );
        }
        if let Some(block) = peer.get("ipBlock") {
            let ip = match from {
                From::Pod { ip, .. } | From::Host(ip) => *ip,
            };
            let cidr: Ipv4Net = block["cidr"].as_str().unwrap().parse().unwrap();
            let except: Vec<Ipv4Net> = block
                .get("except")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| e.as_str().unwrap().parse().unwrap())
                .collect();
            return cidr.contains(&ip) && !except.iter().any(|e| e.contains(&ip));
        }
        let From::Pod { ns, labels, .. } = from else {
            return false;
        };
        let ns_ok = match peer.get("namespaceSelector") {
            Some(sel) => selector_matches(sel, &self.namespace_labels(ns)),
            None => ns == policy_ns,
        };
        let pod_ok = peer.get("podSelector").is_none_or(|sel| selector_matches(sel, labels));
        ns_ok && pod_ok
    }

    fn port_matches(port_spec: &Value, port: u16) -> bool {
        assert_eq!(
            port_spec.get("protocol").and_then(Value::as_str).unwrap_or("TCP"),
            "TCP"
        );
        let p = port_spec["port"].as_u64().expect("numeric ports only") as u16;
        let end = port_spec
            .get("endPort")
            .and_then(Value::as_u64)
            .map(|e| e as u16)
            .unwrap_or(p);
        (p..=end).contains(&port)
    }

    /// Whether a TCP connection from `from` to port `port` of pod `to` is admitted.
    fn admits(&self, from: &From, to: &To, port: u16) -> bool {
        let selecting: Vec<&Value> = self
            .policies
            .iter()
            .filter(|p| p["metadata"]["namespace"] == to.ns.as_str())
            .filter(|p| {
                p["spec"]["policyTypes"]
                    .as_array()
                    .is_none_or(|t| t.iter().any(|t| t == "Ingress"))
            })
            .filter(|p| selector_matches(&p["spec"]["podSelector"], &to.labels))
            .collect();
        if selecting.is_empty() {
            return true;
        }
        selecting.iter().any(|p| {
            let ns = p["metadata"]["namespace"].as_str().unwrap();
            p["spec"]
                .get("ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|rule| {
                    let peers_ok = rule
                        .get("from")
                        .and_then(Value::as_array)
                        .is_none_or(|f| f.is_empty() || f.iter().any(|peer| self.peer_matches(ns, peer, from)));
                    let ports_ok = rule
                        .get("ports")
                        .and_then(Value::as_array)
                        .is_none_or(|ps| ps.is_empty() || ps.iter().any(|s| Self::port_matches(s, port)));
                    peers_ok && ports_ok
                })
        })
    }
}

fn docs(tree: &FileTree, path: &str) -> Vec<Value> {
    let text = String::from_utf8(tree.get(path).unwrap_or_else(|| panic!("no {path}")).bytes.clone()).unwrap();
    text.split("\n---\n")
        .skip(1)
        .map(|d| meshbundle_core::yaml::from_str::<Value>(d).unwrap())
        .collect()
}

fn rendered(spec_text: &str) -> FileTree {
    let loaded = load(spec_text);
    let site = loaded.site.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    render(&site, &Inputs::default()).unwrap()
}

fn cluster(tree: &FileTree) -> Cluster {
    let policies = docs(tree, FILE);
    for p in &policies {
        assert_eq!(p["kind"], "NetworkPolicy");
        assert_eq!(p["apiVersion"], "networking.k8s.io/v1");
    }
    let namespaces = docs(tree, "manifests/namespaces.yaml")
        .into_iter()
        .map(|d| {
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            let l = d["metadata"]
                .get("labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            (name, l)
        })
        .collect();
    Cluster { policies, namespaces }
}

/// The pod labels of a rendered addon Deployment.
fn addon_labels(tree: &FileTree, file: &str, name: &str) -> Vec<(String, String)> {
    let d = docs(tree, file)
        .into_iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
        .unwrap();
    d["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn production(edit: &[(&str, &str)]) -> String {
    let mut s = example("production").unwrap().to_string();
    for (from, to) in edit {
        assert!(s.contains(from), "the example has no `{from}`");
        s = s.replacen(from, to, 1);
    }
    s
}

const FLANNEL: (&str, &str) = ("cni: calico", "cni: flannel");
/// A second mesh namespace that no route names.
const BILLING: (&str, &str) = (
    "  istio:\n    version: 1.30.3\n",
    "  istio:\n    version: 1.30.3\n    namespaces: [shop, billing]\n",
);

fn sidecar(ns: &str, app: &str) -> From {
    pod(ns, &[("app", app), ("security.istio.io/tlsMode", "istio")])
}

fn istiod() -> To {
    to(
        "istio-system",
        &[("app", "istiod"), ("istio.io/rev", "1-30-3"), ("istio", "pilot")],
    )
}

fn ingress_gateway() -> To {
    to(
        "istio-ingress",
        &[("app", "istio-ingressgateway"), ("istio", "ingressgateway")],
    )
}

fn egress_gateway() -> To {
    to(
        "istio-egress",
        &[("app", "istio-egressgateway"), ("istio", "egressgateway")],
    )
}

fn gateway_pod() -> From {
    pod(
        "istio-ingress",
        &[("app", "istio-ingressgateway"), ("istio", "ingressgateway")],
    )
}

#[test]
fn the_mesh_flows_are_admitted_and_nothing_else() {
    let spec = production(&[BILLING]);
    assert!(spec.contains("cni: calico"), "the production example runs Calico");
    let tree = rendered(&spec);
    let c = cluster(&tree);
    let prom: Vec<(String, String)> = addon_labels(&tree, "manifests/observability/prometheus.yaml", "prometheus");
    let prom_refs: Vec<(&str, &str)> = prom.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let prometheus = pod("istio-system", &prom_refs);
    let grafana_l = addon_labels(&tree, "manifests/observability/grafana.yaml", "grafana");
    let grafana_refs: Vec<(&str, &str)> = grafana_l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let jaeger_l = addon_labels(&tree, "manifests/observability/jaeger.yaml", "jaeger");
    let jaeger_refs: Vec<(&str, &str)> = jaeger_l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let web = to("shop", &[("app", "web")]);
    let billing = to("billing", &[("app", "ledger")]);
    let client = host("203.0.113.9");
    let worker = host("10.0.0.22");
    let control_plane = host("10.0.0.11");

    // Clients to the ingress gateway, the gateway to the route's backend.
    for port in [8080, 8443, 15021] {
        assert!(
            c.admits(&client, &ingress_gateway(), port),
            "client -> ingress gateway :{port}"
        );
    }
    assert!(
        c.admits(&gateway_pod(), &web, 8080),
        "ingress gateway -> shop/web :8080 (the route)"
    );
    // Prometheus scrapes every proxy.
    for (target, what) in [
        (&web, "shop"),
        (&billing, "billing"),
        (&ingress_gateway(), "ingress gateway"),
        (&egress_gateway(), "egress gateway"),
    ] {
        for port in [15020, 15090] {
            assert!(c.admits(&prometheus, target, port), "prometheus -> {what} :{port}");
        }
    }
    // Proxies and gateways reach istiod; the API server its webhook.
    for from in [
        sidecar("shop", "web"),
        sidecar("billing", "ledger"),
        gateway_pod(),
        pod("istio-egress", &[("istio", "egressgateway")]),
    ] {
        assert!(c.admits(&from, &istiod(), 15012), "{from:?} -> istiod :15012");
        assert!(
            c.admits(&from, &to("istio-system", &jaeger_refs), 9411),
            "{from:?} -> zipkin :9411"
        );
    }
    assert!(
        c.admits(&control_plane, &istiod(), 15017),
        "API server -> istiod webhook :15017"
    );
    // The kubelet's probes from the node's own address.
    for target in [&web, &billing, &ingress_gateway(), &egress_gateway()] {
        for port in [15020, 15021] {
            assert!(c.admits(&worker, target, port), "kubelet -> {target:?} :{port}");
        }
    }
    assert!(c.admits(&worker, &istiod(), 8080), "kubelet -> istiod readiness :8080");
    assert!(
        c.admits(&worker, &to("istio-system", &prom_refs), 9090),
        "kubelet -> prometheus readiness :9090"
    );
    assert!(
        c.admits(&worker, &to("istio-system", &grafana_refs), 3000),
        "kubelet -> grafana :3000"
    );
    // The mesh calls out through the egress gateway.
    assert!(
        c.admits(&sidecar("shop", "web"), &egress_gateway(), 8443),
        "shop -> egress gateway :8443"
    );
    // Inside istio-system: Prometheus scrapes istiod, Grafana reads Prometheus.
    assert!(c.admits(&prometheus, &istiod(), 15014));
    assert!(c.admits(
        &pod("istio-system", &grafana_refs),
        &to("istio-system", &prom_refs),
        9090
    ));

    // What nothing allows.
    assert!(
        !c.admits(&sidecar("shop", "web"), &billing, 8080),
        "shop -> billing: no route, no allow"
    );
    assert!(
        !c.admits(&sidecar("billing", "ledger"), &web, 8080),
        "billing -> shop: no route, no allow"
    );
    assert!(
        !c.admits(&sidecar("shop", "web"), &to("shop", &[("app", "db")]), 5432),
        "same namespace, authorization denies it too"
    );
    for from in [
        sidecar("shop", "web"),
        gateway_pod(),
        client.clone(),
        worker.clone(),
        pod("default", &[("app", "x")]),
    ] {
        assert!(
            !c.admits(&from, &istiod(), 15014),
            "{from:?} -> istiod debug port :15014 from outside istio-system"
        );
    }
    assert!(
        !c.admits(&pod("default", &[("app", "x")]), &istiod(), 15012),
        "a pod outside the mesh -> istiod"
    );
    assert!(!c.admits(&client, &istiod(), 15012), "outside -> istiod");
    assert!(!c.admits(&client, &web, 8080), "outside -> a backend, past the gateway");
    assert!(
        !c.admits(&pod("default", &[("app", "x")]), &web, 8080),
        "a pod outside the mesh -> a backend"
    );
    assert!(!c.admits(&worker, &web, 8080), "a node -> an application port");
    assert!(!c.admits(&prometheus, &web, 8080), "prometheus -> an application port");
    assert!(
        !c.admits(&gateway_pod(), &billing, 8080),
        "the gateway -> a namespace no route names"
    );
    assert!(
        !c.admits(&pod("default", &[("app", "x")]), &egress_gateway(), 8443),
        "outside the mesh -> egress gateway"
    );
    assert!(!c.admits(&client, &egress_gateway(), 8443));
    assert!(
        !c.admits(&host("192.0.2.50"), &istiod(), 15017),
        "webhook port from a host that is not a node"
    );
}

#[test]
fn client_networks_bound_the_ingress_gateway_as_the_authorization_does() {
    // Host bits in the spec's CIDR: the policy names the network.
    let tree = rendered(&production(&[("        - 0.0.0.0/0\n", "        - 192.0.2.77/24\n")]));
    let text = String::from_utf8(tree.get(FILE).unwrap().bytes.clone()).unwrap();
    assert!(
        text.contains("cidr: 192.0.2.0/24") && !text.contains("192.0.2.77"),
        "{text}"
    );
    let c = cluster(&tree);
    assert!(c.admits(&host("192.0.2.7"), &ingress_gateway(), 8443));
    assert!(
        !c.admits(&host("198.51.100.1"), &ingress_gateway(), 8443),
        "a client outside ingressClientCIDRs"
    );
    assert!(
        !c.admits(&sidecar("shop", "web"), &ingress_gateway(), 8080),
        "a pod is not a listed client"
    );
    assert!(
        c.admits(&host("198.51.100.1"), &ingress_gateway(), 15021),
        "load balancer health checks on the status port"
    );
}

#[test]
fn spec_allows_and_renamed_gateways_carry_over() {
    let spec = production(&[
        BILLING,
        (
            "      name: istio-ingressgateway\n      namespace: istio-ingress\n",
            "      name: istio-edge\n      namespace: edge\n",
        ),
        (
            "  security:\n    mtls:\n      mode: STRICT\n    authorization:\n",
            "  security:\n    mtls:\n      mode: STRICT\n    authorization:\n      allow:\n        - name: ledger-from-shop\n          namespace: billing\n          selector: {app: ledger}\n          fromServiceAccounts: [shop/web]\n          ports: [9090]\n",
        ),
    ]);
    let tree = rendered(&spec);
    let c = cluster(&tree);
    let edge = pod("edge", &[("app", "istio-edge"), ("istio", "edge")]);
    assert!(
        c.admits(&edge, &to("shop", &[("app", "web")]), 8080),
        "the renamed gateway -> its route's backend"
    );
    assert!(
        !c.admits(&gateway_pod(), &to("shop", &[("app", "web")]), 8080),
        "the old gateway name is gone"
    );
    assert!(
        c.admits(&edge, &istiod(), 15012),
        "the gateway's namespace reaches istiod"
    );
    assert!(c.admits(&host("203.0.113.9"), &to("edge", &[("istio", "edge")]), 8443));
    let ledger = to("billing", &[("app", "ledger")]);
    assert!(c.admits(&sidecar("shop", "web"), &ledger, 9090), "the spec's allow");
    assert!(
        !c.admits(&sidecar("shop", "web"), &ledger, 8080),
        "only on the allowed port"
    );
    assert!(
        !c.admits(&sidecar("shop", "web"), &to("billing", &[("app", "other")]), 9090),
        "only to the selected pods"
    );
    assert!(
        !c.admits(&sidecar("istio-egress", "x"), &ledger, 9090),
        "only from the allowed namespace"
    );
}

#[test]
fn without_deny_by_default_the_mesh_reaches_itself_and_only_itself() {
    let tree = rendered(&production(&[BILLING, ("defaultDeny: true", "defaultDeny: false")]));
    let c = cluster(&tree);
    let ledger = to("billing", &[("app", "ledger")]);
    assert!(c.admits(&sidecar("shop", "web"), &ledger, 8080));
    assert!(c.admits(&sidecar("shop", "web"), &to("shop", &[("app", "db")]), 5432));
    assert!(
        !c.admits(&pod("default", &[("app", "x")]), &ledger, 8080),
        "STRICT mTLS: no caller outside the mesh"
    );
    assert!(!c.admits(&host("10.0.0.22"), &ledger, 8080));
}

#[test]
fn flannel_gets_no_policies_and_the_readme_says_they_are_not_enforced() {
    let tree = rendered(&production(&[FLANNEL]));
    assert!(!tree.contains(FILE), "flannel would ignore them");
    assert!(tree.contains("manifests/cni/flannel.yaml") && !tree.contains("manifests/cni/calico.yaml"));
    let readme = String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap();
    assert!(readme.contains("does **not** enforce NetworkPolicy"), "{readme}");
    let tree = rendered(&production(&[]));
    let readme = String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap();
    assert!(readme.contains("Calico enforces NetworkPolicy"));
}

/// The API server runs in the host network: its calls to istiod's webhook
/// come from node addresses, and from a pod-network address (a node's VXLAN
/// tunnel address) only when a node may sit across a router. With every
/// node in the stated node subnet, a pod-network address gets no further
/// than to any other port of istiod.
#[test]
fn the_webhook_port_admits_the_pod_network_only_when_nodes_may_cross_subnets() {
    let nodes = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.21", "10.0.0.22"];
    let tunnel = host("10.244.7.0");
    let some_pod = pod("default", &[("app", "x")]);

    let readme = |t: &FileTree| String::from_utf8(t.get("README.md").unwrap().bytes.clone()).unwrap();
    // One node subnet holds every node: CrossSubnet never tunnels.
    let tree = rendered(&production(&[]));
    assert!(
        !readme(&tree).contains("from the pod network"),
        "the README says what the policy admits"
    );
    let c = cluster(&tree);
    for n in nodes {
        assert!(
            c.admits(&host(n), &istiod(), 15017),
            "API server on {n} -> istiod webhook"
        );
    }
    assert!(
        !c.admits(&tunnel, &istiod(), 15017),
        "a pod-network address -> istiod webhook, with every node in nodeSubnet"
    );
    assert!(
        !c.admits(&some_pod, &istiod(), 15017),
        "a pod outside the mesh -> istiod webhook"
    );

    // No node subnet stated: nodes may sit across routers, so the tunnel
    // addresses (from the pod network) are admitted, on 15017 only.
    let tree = rendered(&production(&[("    nodeSubnet: 10.0.0.0/24\n", "")]));
    assert!(
        readme(&tree).contains("webhook (15017), from the node addresses and from the pod network"),
        "{}",
        readme(&tree)
    );
    let c = cluster(&tree);
    for n in nodes {
        assert!(
            c.admits(&host(n), &istiod(), 15017),
            "API server on {n} -> istiod webhook"
        );
    }
    assert!(
        c.admits(&tunnel, &istiod(), 15017),
        "a node's tunnel address -> istiod webhook, nodes across subnets"
    );
    assert!(
        !c.admits(&tunnel, &istiod(), 15014),
        "the tunnel address reaches the webhook port only"
    );
    assert!(
        !c.admits(&host("192.0.2.50"), &istiod(), 15017),
        "a host outside the node and pod networks"
    );
}

/// The blackbox exporter probes the ingress certificate with a TLS handshake
/// on the gateway's HTTPS target port; narrowed client networks must not
/// shut it out, and the allow opens nothing else.
#[test]
fn the_certificate_probes_reach_the_gateway_whatever_the_client_networks() {
    let exporter = pod("istio-system", &[("app.kubernetes.io/name", "blackbox-exporter")]);
    for clients in ["        - 0.0.0.0/0\n", "        - 192.0.2.0/24\n"] {
        let tree = rendered(&production(&[("        - 0.0.0.0/0\n", clients)]));
        let c = cluster(&tree);
        // The port the probe dials is the Service's HTTPS port; the pod sees its targetPort.
        assert!(
            c.admits(&exporter, &ingress_gateway(), 8443),
            "blackbox exporter -> ingress gateway :8443 (clients {clients})"
        );
        let elsewhere = pod("shop", &[("app.kubernetes.io/name", "blackbox-exporter")]);
        if clients.contains("192.0.2.0") {
            assert!(!c.admits(&exporter, &ingress_gateway(), 8080), "only the probed port");
            assert!(
                !c.admits(&elsewhere, &ingress_gateway(), 8443),
                "the same label in another namespace is not the exporter"
            );
            assert!(
                !c.admits(&pod("istio-system", &[("app", "x")]), &ingress_gateway(), 8443),
                "another istio-system pod"
            );
        }
    }
    // The exporter's pods carry the label the policy names.
    let tree = rendered(&production(&[("        - 0.0.0.0/0\n", "        - 192.0.2.0/24\n")]));
    let l = addon_labels(
        &tree,
        "manifests/observability/blackbox-exporter.yaml",
        "blackbox-exporter",
    );
    assert!(
        l.contains(&("app.kubernetes.io/name".to_string(), "blackbox-exporter".to_string())),
        "{l:?}"
    );
}
