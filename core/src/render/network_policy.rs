//! NetworkPolicies for the mesh, rendered only when the CNI enforces them
//! (`spec.kubernetes.cni: calico`; flannel ignores every policy, and the
//! README says so).
//!
//! Every namespace of the mesh (istio-system, the gateways' namespaces and
//! the mesh namespaces) gets a default-deny *ingress* policy and the allows
//! the mesh needs; egress stays open (DNS, the API server, istiod and the
//! egress gateway are reached without further policy, and the mesh's own
//! `outboundTrafficPolicy` governs calls out). The allows are the L3/L4
//! shadow of the authorization policies (security.rs), so that a pod that
//! bypasses its sidecar, or a host on the node network, gets no further
//! than the mesh would let it:
//!
//! - clients (`ingressClientCIDRs`) to the ingress gateway's ports, and
//!   anyone to its status port 15021, which the Service exposes for load
//!   balancer health checks;
//! - the ingress gateway's pods to the namespaces its routes name, on any
//!   port: a route names the Service port, and the pod port behind it (the
//!   Service's `targetPort`, which is what a NetworkPolicy sees) is the
//!   site's; the AuthorizationPolicy `allow-from-<gateway>` allows the
//!   gateway's identity to the whole namespace the same way;
//! - the mesh namespaces to the egress gateway's ports;
//! - with deny-by-default authorization, each `spec.security.authorization.allow`
//!   rule as a namespace-level allow; without it, the mesh namespaces to
//!   each other (and, unless mTLS is STRICT, any namespace to them);
//! - sidecars and gateways (every namespace labelled `istio.io/rev` or
//!   `istio-injection=enabled`, and the gateways' namespaces) to istiod's
//!   xDS and CA port 15012, and to Jaeger's Zipkin port 9411 when the addon
//!   runs;
//! - the API server to istiod's webhook port 15017: from the node addresses
//!   (the API server runs in the host network; it calls the webhook through
//!   the Service, and kube-proxy masquerades host traffic to the address of
//!   the route to the pod), and from the pod network only when the nodes may
//!   not share one subnet, because a host reaches a pod on a node across a
//!   router through the VXLAN tunnel, whose source address is the node's
//!   tunnel address from the pod network (see `api_server_may_tunnel`);
//! - the blackbox exporter (istio-system) to the ingress gateway's HTTPS
//!   port, for its certificate probes, whatever `ingressClientCIDRs` allows;
//! - the kubelet's probes from the node addresses: 15020 (Istio rewrites the
//!   applications' HTTP, gRPC and TCP probes to it) and 15021 (the proxy's
//!   readiness) in the mesh and gateway namespaces, istiod's 8080 and each
//!   addon's probe ports, read from the rendered addon manifests. Calico
//!   sources the routes to local pods from the node's address (cni.rs), so
//!   the kubelet's probes arrive from it;
//! - the addon Prometheus to 15020 (merged metrics) and 15090 (Envoy's) in
//!   the mesh and gateway namespaces; inside istio-system every pod reaches
//!   every other (Prometheus scrapes istiod on 15014, Kiali and Grafana read
//!   Prometheus), and nothing outside it reaches istiod's 15014.
//!
//! Within a namespace the policies allow each other's sources (a pod is
//! admitted when any policy selecting it admits the connection). The allows
//! come before the default-deny in the file, so applying it never shuts a
//! namespace out for the moments between the two.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::istio::gateway_label;
use super::{Ctx, OBSERVABILITY_DIR, RenderError, add_yaml};
use crate::spec::{Cni, MtlsMode};
use crate::tree::FileTree;

/// Where the policies are written.
pub(crate) const FILE: &str = "manifests/security/network-policies.yaml";

const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A policy for the pods `pod_selector` picks in `namespace`; with no
/// ingress rule it admits nothing.
fn policy(namespace: &str, name: &str, pod_selector: Value, ingress: Vec<Value>) -> Value {
    let mut spec = json!({"podSelector": pod_selector, "policyTypes": ["Ingress"]});
    if !ingress.is_empty() {
        spec["ingress"] = json!(ingress);
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "meshbundle"}},
        "spec": spec,
    })
}

fn all_pods() -> Value {
    json!({})
}

fn labels(m: &BTreeMap<String, String>) -> Value {
    json!({"matchLabels": m})
}

fn one_label(k: &str, v: &str) -> Value {
    json!({"matchLabels": {k: v}})
}

fn namespace_peer(ns: &str) -> Value {
    json!({"namespaceSelector": one_label(NAME_LABEL, ns)})
}

/// A CIDR as its network address (`10.0.0.7/24` is `10.0.0.0/24`).
fn cidr(text: &str) -> Result<String, RenderError> {
    text.parse::<ipnet::Ipv4Net>()
        .map(|n| n.trunc().to_string())
        .map_err(|_| RenderError::Internal(format!("`{text}` is not an IPv4 CIDR after validation")))
}

fn tcp(ports: &[u32]) -> Vec<Value> {
    ports.iter().map(|p| json!({"protocol": "TCP", "port": p})).collect()
}

fn rule(from: Vec<Value>, ports: &[u32]) -> Value {
    let mut r = json!({"from": from});
    if !ports.is_empty() {
        r["ports"] = json!(tcp(ports));
    }
    r
}

/// The node addresses, one /32 each: where the kubelet and the API server
/// connect from.
fn node_peers(ctx: &Ctx) -> Vec<Value> {
    // Validated addresses; written in their canonical form.
    let mut addrs: Vec<std::net::Ipv4Addr> = ctx
        .site
        .spec
        .nodes
        .iter()
        .filter_map(|n| n.address.parse().ok())
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs
        .into_iter()
        .map(|a| json!({"ipBlock": {"cidr": format!("{a}/32")}}))
        .collect()
}

/// Every namespace whose pods run an Istio proxy: injected namespaces by
/// their labels (any revision, so a canary upgrade keeps working), and the
/// gateways' namespaces by name.
fn proxy_peers(ctx: &Ctx) -> Vec<Value> {
    let mut v = vec![
        json!({"namespaceSelector": {"matchExpressions": [{"key": "istio.io/rev", "operator": "Exists"}]}}),
        json!({"namespaceSelector": one_label("istio-injection", "enabled")}),
    ];
    for ns in gateway_namespaces(ctx) {
        v.push(namespace_peer(&ns));
    }
    v
}

/// Whether the API server's calls to istiod's webhook may arrive from a
/// pod-network address. The API server runs in the host network, and the
/// host sources a connection to a pod by its route to that pod: to a local
/// pod from the node address (Felix's device routes, cni.rs), to a pod on a
/// node of the same subnet from the node address (`CrossSubnet` routes
/// natively there), and to a pod on a node across a router through the
/// VXLAN device, whose address Calico takes from the IP pool (the pod
/// network), and which cannot be known before the install. So the pod
/// network is admitted only when the nodes may not share one subnet: no
/// `spec.kubernetes.nodeSubnet` states it (and there is more than one node),
/// or some node lies outside it.
fn api_server_may_tunnel(ctx: &Ctx) -> bool {
    let nodes = &ctx.site.spec.nodes;
    if nodes.len() < 2 {
        return false;
    }
    let Some(net) = ctx
        .site
        .spec
        .kubernetes
        .node_subnet
        .as_deref()
        .and_then(|n| n.parse::<ipnet::Ipv4Net>().ok())
    else {
        return true;
    };
    nodes.iter().any(|n| {
        n.address
            .parse::<std::net::Ipv4Addr>()
            .map_or(true, |a| !net.contains(&a))
    })
}

fn gateway_namespaces(ctx: &Ctx) -> Vec<String> {
    let istio = &ctx.site.spec.istio;
    let mut v: Vec<String> = [&istio.ingress_gateway, &istio.egress_gateway]
        .into_iter()
        .filter(|g| g.enabled)
        .map(|g| g.namespace.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Every namespace the policies cover, sorted.
pub(crate) fn policed_namespaces(ctx: &Ctx) -> Vec<String> {
    let mut set: BTreeSet<String> = BTreeSet::from(["istio-system".to_string()]);
    set.extend(gateway_namespaces(ctx));
    set.extend(ctx.mesh_namespaces());
    set.into_iter().collect()
}

/// A workload of a rendered addon manifest: its pod selector and the ports
/// its probes use.
struct Workload {
    name: String,
    selector: BTreeMap<String, String>,
    probe_ports: BTreeSet<u32>,
}

fn workloads(ctx: &Ctx, tree: &FileTree) -> Result<Vec<Workload>, RenderError> {
    let mut out = Vec::new();
    let files: Vec<&str> = tree
        .paths()
        .filter(|p| p.starts_with(OBSERVABILITY_DIR) && p.ends_with(".yaml"))
        .collect();
    let kept = ctx.observability_docs.borrow();
    for path in files {
        let Some(file) = tree.get(path) else { continue };
        // The documents the file was written from, else those of its text.
        let parsed;
        let docs: &[Value] = match kept.get(path) {
            Some(docs) => {
                if cfg!(debug_assertions) {
                    // The documents kept are those of the text, but for the
                    // ConfigMaps written as upstream wrote them, after them.
                    let text = String::from_utf8_lossy(&file.bytes);
                    let read = super::addons::documents(path, &text)?;
                    assert!(read.len() >= docs.len(), "{path}: fewer documents than kept");
                    assert_eq!(
                        &read[..docs.len()],
                        docs,
                        "{path}: the documents kept are those of the text"
                    );
                    assert!(
                        read[docs.len()..]
                            .iter()
                            .all(|d| d.get("kind").and_then(Value::as_str) == Some("ConfigMap")),
                        "{path}: only ConfigMaps follow the documents kept"
                    );
                }
                docs
            }
            None => {
                parsed = super::addons::documents(path, &String::from_utf8_lossy(&file.bytes))?;
                &parsed
            }
        };
        for doc in docs {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
            if !["Deployment", "StatefulSet", "DaemonSet"].contains(&kind) {
                continue;
            }
            let ns = doc
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("istio-system");
            if ns != "istio-system" {
                continue;
            }
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let selector: BTreeMap<String, String> = doc
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            if selector.is_empty() {
                return Err(RenderError::Internal(format!(
                    "{path}: {kind} {name} has no matchLabels selector"
                )));
            }
            let mut probe_ports = BTreeSet::new();
            let containers = doc
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for c in containers {
                let named: BTreeMap<&str, u32> = c
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let n = p.get("containerPort").and_then(Value::as_u64)? as u32;
                        Some((p.get("name").and_then(Value::as_str).unwrap_or_default(), n))
                    })
                    .collect();
                for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                    let Some(p) = c.get(probe) else { continue };
                    for handler in ["httpGet", "tcpSocket", "grpc"] {
                        let Some(port) = p.get(handler).and_then(|h| h.get("port")) else {
                            continue;
                        };
                        let n = match port {
                            Value::Number(n) => n.as_u64().map(|n| n as u32),
                            Value::String(s) => s.parse().ok().or_else(|| named.get(s.as_str()).copied()),
                            _ => None,
                        };
                        match n {
                            Some(n) => probe_ports.insert(n),
                            None => {
                                return Err(RenderError::Internal(format!(
                                    "{path}: {name}: {probe} port {port} names no container port"
                                )));
                            }
                        };
                    }
                }
            }
            out.push(Workload {
                name,
                selector,
                probe_ports,
            });
        }
    }
    Ok(out)
}

fn documents(ctx: &Ctx, tree: &FileTree) -> Result<Vec<Value>, RenderError> {
    let spec = &ctx.site.spec;
    let istio = &spec.istio;
    let authz = &spec.security.authorization;
    let nodes = node_peers(ctx);
    let gateways = gateway_namespaces(ctx);
    let mesh = ctx.mesh_namespaces();
    let addons = workloads(ctx, tree)?;
    let prometheus = addons
        .iter()
        .find(|w| w.name == "prometheus")
        .filter(|_| spec.observability.addons.prometheus);
    let jaeger = addons
        .iter()
        .find(|w| w.name == "jaeger")
        .filter(|_| spec.observability.addons.jaeger);
    let mut allows: Vec<Value> = Vec::new();

    // istio-system: the control plane and the addons.
    allows.push(policy(
        "istio-system",
        "allow-same-namespace",
        all_pods(),
        vec![rule(vec![json!({"podSelector": {}})], &[])],
    ));
    allows.push(policy(
        "istio-system",
        "allow-proxies-to-istiod",
        one_label("app", "istiod"),
        vec![rule(proxy_peers(ctx), &[15012])],
    ));
    let mut webhook_from = nodes.clone();
    if api_server_may_tunnel(ctx) {
        webhook_from.push(json!({"ipBlock": {"cidr": cidr(&spec.kubernetes.pod_subnet)?}}));
    }
    allows.push(policy(
        "istio-system",
        "allow-webhooks-to-istiod",
        one_label("app", "istiod"),
        vec![rule(webhook_from, &[15017])],
    ));
    allows.push(policy(
        "istio-system",
        "allow-kubelet-probes-istiod",
        one_label("app", "istiod"),
        vec![rule(nodes.clone(), &[8080])],
    ));
    for w in &addons {
        if !w.probe_ports.is_empty() {
            let ports: Vec<u32> = w.probe_ports.iter().copied().collect();
            allows.push(policy(
                "istio-system",
                &format!("allow-kubelet-probes-{}", w.name),
                labels(&w.selector),
                vec![rule(nodes.clone(), &ports)],
            ));
        }
    }
    // Istio's tracing provider is Zipkin at zipkin.istio-system:9411, the
    // Jaeger Deployment's port 9411 (the Service's targetPort).
    if let Some(j) = jaeger {
        allows.push(policy(
            "istio-system",
            "allow-proxies-to-zipkin",
            labels(&j.selector),
            vec![rule(proxy_peers(ctx), &[9411])],
        ));
    }

    // The namespaces whose pods run a proxy: probes and scraping.
    let mut proxied: BTreeSet<String> = gateways.iter().cloned().collect();
    proxied.extend(mesh.iter().cloned());
    proxied.remove("istio-system");
    for ns in &proxied {
        allows.push(policy(
            ns,
            "allow-kubelet-probes",
            all_pods(),
            vec![rule(nodes.clone(), &[15020, 15021])],
        ));
        if let Some(p) = prometheus {
            let from =
                json!({"namespaceSelector": one_label(NAME_LABEL, "istio-system"), "podSelector": labels(&p.selector)});
            allows.push(policy(
                ns,
                "allow-prometheus-scrape",
                all_pods(),
                vec![rule(vec![from], &[15020, 15090])],
            ));
        }
    }

    // The ingress gateway: its clients, and its routes' backends.
    let ig = &istio.ingress_gateway;
    if ig.enabled {
        let selector = one_label("istio", &gateway_label(ig));
        let ports: Vec<u32> = ig
            .service
            .ports
            .iter()
            .map(|p| p.target_port)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Written as network addresses: a NetworkPolicy's CIDR has no host bits.
        let clients: Vec<Value> = authz
            .ingress_client_cidrs
            .iter()
            .map(|c| Ok(json!({"ipBlock": {"cidr": cidr(c)?}})))
            .collect::<Result<_, RenderError>>()?;
        let mut rules = vec![json!({"ports": tcp(&[15021])})];
        if !clients.is_empty() {
            rules.push(rule(clients, &ports));
        }
        allows.push(policy(
            &ig.namespace,
            &format!("allow-clients-to-{}", ig.name),
            selector.clone(),
            rules,
        ));
        // The blackbox exporter's TLS handshakes with the gateway, whatever
        // the client networks: its own allow, on the probed port only.
        if let Some(port) = super::blackbox::ingress_probe_target_port(ctx) {
            let from = json!({
                "namespaceSelector": one_label(NAME_LABEL, super::blackbox::NAMESPACE),
                "podSelector": one_label("app.kubernetes.io/name", super::blackbox::NAME),
            });
            allows.push(policy(
                &ig.namespace,
                &format!("allow-certificate-probes-to-{}", ig.name),
                selector,
                vec![rule(vec![from], &[port])],
            ));
        }
        let from = json!({"namespaceSelector": one_label(NAME_LABEL, &ig.namespace), "podSelector": one_label("istio", &gateway_label(ig))});
        let backends: BTreeSet<&str> = ig.routes.iter().map(|r| r.namespace.as_str()).collect();
        for ns in backends {
            allows.push(policy(
                ns,
                &format!("allow-from-{}", ig.name),
                all_pods(),
                vec![rule(vec![from.clone()], &[])],
            ));
        }
    }

    // The egress gateway: the mesh's calls out.
    let eg = &istio.egress_gateway;
    if eg.enabled {
        let ports: Vec<u32> = eg
            .service
            .ports
            .iter()
            .map(|p| p.target_port)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let from: Vec<Value> = if authz.default_deny {
            // The namespaces AuthorizationPolicy `allow-mesh-to-egress` names.
            let mut names = mesh.clone();
            if names.is_empty() {
                names.push(eg.namespace.clone());
            }
            names.iter().map(|n| namespace_peer(n)).collect()
        } else {
            proxy_peers(ctx)
        };
        allows.push(policy(
            &eg.namespace,
            &format!("allow-mesh-to-{}", eg.name),
            one_label("istio", &gateway_label(eg)),
            vec![rule(from, &ports)],
        ));
    }

    // Workloads to each other, as the authorization policies allow it.
    let policed: BTreeSet<String> = policed_namespaces(ctx).into_iter().collect();
    if authz.default_deny {
        for r in &authz.allow {
            if !policed.contains(&r.namespace) {
                continue;
            }
            let mut names: BTreeSet<&str> = r.from_namespaces.iter().map(String::as_str).collect();
            names.extend(
                r.from_service_accounts
                    .iter()
                    .filter_map(|sa| sa.split_once('/').map(|(ns, _)| ns)),
            );
            let ports: Vec<u32> = r.ports.clone();
            let selector = if r.selector.is_empty() {
                all_pods()
            } else {
                labels(&r.selector)
            };
            let ingress = if names.is_empty() {
                // Any source, as the AuthorizationPolicy's empty source.
                let mut any = json!({});
                if !ports.is_empty() {
                    any["ports"] = json!(tcp(&ports));
                }
                any
            } else {
                rule(names.iter().map(|n| namespace_peer(n)).collect(), &ports)
            };
            allows.push(policy(&r.namespace, &r.name, selector, vec![ingress]));
        }
    } else {
        let from = if spec.security.mtls.mode == MtlsMode::Strict {
            proxy_peers(ctx)
        } else {
            vec![json!({"namespaceSelector": {}})]
        };
        for ns in &mesh {
            allows.push(policy(ns, "allow-mesh", all_pods(), vec![rule(from.clone(), &[])]));
        }
    }

    let key = |d: &Value| {
        let s = |p: &str| d.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        (s("/metadata/namespace"), s("/metadata/name"))
    };
    allows.sort_by_cached_key(key);
    let mut docs = allows;
    for ns in &policed {
        docs.push(policy(ns, "default-deny-ingress", all_pods(), Vec::new()));
    }
    Ok(docs)
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    if ctx.site.spec.kubernetes.cni != Cni::Calico {
        return Ok(());
    }
    let docs = documents(ctx, tree)?;
    add_yaml(ctx, tree, FILE, &docs)
}

/// The operator README's "Network policy" section.
pub(crate) fn readme(ctx: &Ctx) -> String {
    let spec = &ctx.site.spec;
    match spec.kubernetes.cni {
        Cni::Flannel => format!(
            "## Network policy\n\n\
             The pod network is flannel {}, which does **not** enforce NetworkPolicy: a NetworkPolicy\n\
             applied to this cluster is accepted and silently ignored, and every pod can reach every\n\
             other at the network level. Only Istio's mTLS and authorization policies restrict traffic\n\
             between workloads. To have NetworkPolicies enforced, build the cluster with\n\
             `spec.kubernetes.cni: calico` (a cluster cannot change its CNI in place). Between nodes,\n\
             flannel needs UDP 8472 (VXLAN) open.\n\n",
            ctx.cat.flannel.version
        ),
        Cni::Calico => {
            let namespaces = policed_namespaces(ctx)
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let node_net = match &spec.kubernetes.node_subnet {
                Some(n) => format!("its address in the node network {n}"),
                None => "the node's InternalIP (its address in the spec)".to_string(),
            };
            let workloads = if spec.security.authorization.default_deny {
                "workloads reach each other only where `spec.security.authorization.allow` lets them (namespace by namespace, on the rule's ports)"
            } else {
                "the mesh namespaces reach each other (authorization is not deny-by-default)"
            };
            format!(
                "## Network policy\n\n\
                 The pod network is Calico {version} (the manifest install, VXLAN with `CrossSubnet`, no BGP):\n\
                 pods on nodes of one subnet talk directly, across routers through VXLAN. Between nodes\n\
                 it needs UDP 4789 open; the MTU is detected by Calico. Traffic between nodes of one\n\
                 subnet carries pod addresses (from {pods}) unencapsulated, which bare-metal switches\n\
                 pass; a virtual network with anti-spoofing filters must allow them. calico-node uses\n\
                 {node_net}.{nft}\n\n\
                 Calico enforces NetworkPolicy. `{file}`\n\
                 denies every incoming connection to the pods of these namespaces: {namespaces}.\n\
                 It allows only what the mesh needs, the network-level twin of the authorization policies: clients\n\
                 (`spec.security.authorization.ingressClientCIDRs`) to the ingress gateway, and anyone to\n\
                 its status port 15021; the ingress gateway to the namespaces its routes name; the mesh to\n\
                 the egress gateway; sidecars and gateways to istiod (15012) and, with Jaeger, to Zipkin\n\
                 (9411); the API server to istiod's webhook (15017), from the node addresses{webhook}; the kubelet,\n\
                 from the node addresses, to the probe ports (15020 and 15021 in the mesh, istiod's 8080, the\n\
                 addons' own); the addon Prometheus to 15020 and 15090{probes}; and, inside `istio-system`, every\n\
                 pod to every other.\n\
                 Otherwise {workloads}.\n\
                 Outgoing traffic is not restricted (DNS, the API server and the egress gateway need no policy).\n\n\
                 A pod in these namespaces without a sidecar has its probes on its own ports: give it a\n\
                 NetworkPolicy of your own that admits the node addresses there. Namespaces outside the\n\
                 mesh get no policy from meshbundle. `ops/verify.sh` checks that calico-node is ready on\n\
                 every node and that each namespace above has its default-deny policy.\n\n",
                version = ctx.cat.calico.version,
                nft = if spec.kubernetes.proxy_mode == crate::spec::ProxyMode::Nftables {
                    "\nkube-proxy runs in nftables mode, and so does Felix (Calico's nftables data plane, which\nneeds Linux 5.13 or later with nft 1.0.1 or later on every node)."
                } else {
                    ""
                },
                pods = spec.kubernetes.pod_subnet,
                file = FILE,
                webhook = if api_server_may_tunnel(ctx) {
                    " and from the pod network (no `nodeSubnet` holds every node, so a node may reach istiod's pod through VXLAN, from its tunnel address in the pod network)"
                } else {
                    ""
                },
                probes = if super::blackbox::ingress_probe_target_port(ctx).is_some() {
                    "; the blackbox exporter to the ingress gateway's HTTPS port (its certificate probes)"
                } else {
                    ""
                },
            )
        }
    }
}
