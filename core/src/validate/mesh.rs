//! Checks of the mesh: Istio, gateways, security, observability, traffic
//! policy, kernel tuning and PKI settings.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::Ipv4Net;

use super::values::{duration_secs, is_dns_subdomain, is_gateway_host, is_rfc1123_label, quantity};
use crate::diag::{Code, Diagnostics, key_segment};
use crate::render::istio::{chart_renders_pdb, min_pods};
use crate::spec::{Gateway, Hpa, Resources, ServiceType, Site};

fn check_hpa(d: &mut Diagnostics, path: &str, hpa: &Hpa, replicas: u32) {
    if !hpa.enabled {
        return;
    }
    if hpa.min_replicas == 0 {
        d.error(
            Code::Hpa,
            format!("{path}.hpa.minReplicas"),
            "minReplicas is 0",
            "use at least 1 (2 or more for availability)",
        );
    }
    if hpa.min_replicas > hpa.max_replicas {
        d.error(
            Code::Hpa,
            format!("{path}.hpa.minReplicas"),
            format!(
                "minReplicas ({}) is more than maxReplicas ({})",
                hpa.min_replicas, hpa.max_replicas
            ),
            "make minReplicas <= maxReplicas",
        );
    }
    if !(1..=100).contains(&hpa.target_cpu_utilization_percent) {
        d.error(
            Code::Percent,
            format!("{path}.hpa.targetCPUUtilizationPercent"),
            format!(
                "{} is not a percentage from 1 to 100",
                hpa.target_cpu_utilization_percent
            ),
            "70 to 80 leaves headroom for bursts",
        );
    }
    // A count of 0 is an error of its own; matching it would make another.
    if replicas != hpa.min_replicas && replicas > 0 && (1..=hpa.max_replicas).contains(&hpa.min_replicas) {
        d.warning(
            Code::Hpa,
            format!("{path}.replicas"),
            format!(
                "replicas ({replicas}) differs from hpa.minReplicas ({}); the HPA decides",
                hpa.min_replicas
            ),
            "set replicas equal to hpa.minReplicas",
        );
    }
}

fn check_resources(d: &mut Diagnostics, path: &str, r: &Resources) {
    for (kind, req, lim) in [
        ("cpu", &r.requests.cpu, &r.limits.cpu),
        ("memory", &r.requests.memory, &r.limits.memory),
    ] {
        let mut parsed = [None, None];
        for (slot, (which, v)) in [("requests", req), ("limits", lim)].into_iter().enumerate() {
            if let Some(v) = v {
                match quantity(v) {
                    Some(q) => parsed[slot] = Some(q),
                    None => d.error(
                        Code::Quantity,
                        format!("{path}.{which}.{kind}"),
                        format!("`{v}` is not a Kubernetes quantity"),
                        if kind == "cpu" {
                            "write e.g. `500m` or `2`"
                        } else {
                            "write e.g. `512Mi` or `2Gi`"
                        },
                    ),
                }
            }
        }
        if let [Some(rq), Some(lm)] = parsed
            && rq > lm
        {
            d.error(
                Code::Resources,
                format!("{path}.requests.{kind}"),
                format!(
                    "the {kind} request ({}) is more than the limit ({})",
                    req.as_deref().unwrap_or(""),
                    lim.as_deref().unwrap_or("")
                ),
                "make requests <= limits",
            );
        }
    }
}

fn check_percent(d: &mut Diagnostics, path: &str, v: f64, allow_zero: bool) -> bool {
    let ok = v.is_finite() && v <= 100.0 && (v > 0.0 || (allow_zero && v == 0.0));
    if !ok {
        let range = if allow_zero {
            "0 to 100"
        } else {
            "above 0 and at most 100"
        };
        d.error(
            Code::Percent,
            path,
            format!("{v} is not a percentage ({range})"),
            format!("use a number {range}"),
        );
    }
    ok
}

fn check_duration(d: &mut Diagnostics, path: &str, v: &str) {
    match duration_secs(v) {
        Some(s) if s >= 0.001 => {}
        Some(_) => d.error(
            Code::Duration,
            path,
            format!("`{v}` is shorter than 1ms"),
            "Istio needs durations of at least 1ms",
        ),
        None => d.error(
            Code::Duration,
            path,
            format!("`{v}` is not a duration"),
            "write a number and a unit, e.g. `10s`, `500ms`, `1h`",
        ),
    }
}

/// Prometheus's own duration syntax (`model.ParseDuration`): whole numbers
/// with the units y, w, d, h, m, s, ms, each at most once, largest first.
pub(crate) fn is_prometheus_duration(s: &str) -> bool {
    const UNITS: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut rest = s;
    let mut next = 0;
    let mut total = 0u128;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if n == 0 || n > 12 {
            return false;
        }
        let value: u128 = rest[..n].parse().unwrap_or(0);
        rest = &rest[n..];
        // `ms` before `m`, so the longer unit wins.
        let Some(i) = (next..UNITS.len())
            .filter(|&i| rest.starts_with(UNITS[i]))
            .max_by_key(|&i| UNITS[i].len())
        else {
            return false;
        };
        rest = &rest[UNITS[i].len()..];
        next = i + 1;
        total += value;
    }
    !s.is_empty() && total > 0
}

fn check_prometheus(d: &mut Diagnostics, p: &crate::spec::PrometheusSettings) {
    if !is_prometheus_duration(&p.retention) {
        d.error(
            Code::Prometheus,
            "spec.observability.prometheus.retention",
            format!("`{}` is not a Prometheus duration", p.retention),
            "write whole numbers with units y, w, d, h, m, s, largest first, e.g. `15d` or `1d12h`",
        );
    }
    if let Some(class) = &p.storage.storage_class_name
        && !is_dns_subdomain(class)
    {
        d.error(
            Code::Prometheus,
            "spec.observability.prometheus.storage.storageClassName",
            format!("`{class}` is not a StorageClass name"),
            "use the name of a StorageClass of the cluster (`kubectl get storageclass`): lowercase letters, digits, `-` and `.`",
        );
    }
    match quantity(&p.storage.size) {
        Some(b) if b >= 1024.0 * 1024.0 && p.storage.size.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.') => {}
        _ => d.error(
            Code::Prometheus,
            "spec.observability.prometheus.storage.size",
            format!("`{}` is not a volume size", p.storage.size),
            "write a Kubernetes quantity of at least 1Mi, e.g. `50Gi`",
        ),
    }
}

const SINGLE_POD_HINT: &str = "set 2 or more replicas, or hpa.minReplicas 2 or more with an HPA; the chart then renders a \
     PodDisruptionBudget of maxUnavailable 1, which keeps one pod up through a drain";

/// What the Istio chart of `version` does with a deployment of one pod, said
/// as it is: before 1.28 it renders a PodDisruptionBudget, which meshbundle
/// sets to maxUnavailable 1, so a drain may evict the pod; from 1.28 it
/// renders none. Of an Istio outside the catalog it says only that the pod
/// can go.
fn single_pod(version: &str, what: &str, stops: &str) -> String {
    // An Istio outside the catalog is an error of its own; what its chart
    // would do is not known here.
    let pdb = if crate::catalog::catalog().istio(version).is_none() {
        "a node drain or a restart takes it away".to_string()
    } else if chart_renders_pdb(version, 1) {
        format!(
            "the Istio {version} chart renders a PodDisruptionBudget, set to maxUnavailable 1, so a node drain evicts the pod"
        )
    } else {
        format!(
            "the Istio {version} chart renders no PodDisruptionBudget for a single pod, so nothing holds a node drain back"
        )
    };
    format!("one {what} pod at the minimum: {pdb}, and {stops} until it is back")
}

/// The field that sets the fewest pods: hpa.minReplicas with an HPA, else replicas.
fn min_pods_path(path: &str, hpa: &Hpa) -> String {
    if hpa.enabled {
        format!("{path}.hpa.minReplicas")
    } else {
        format!("{path}.replicas")
    }
}

/// Hosts whose rendered object names (`a.b` -> `a-b`) would be the same:
/// `kubectl apply` would keep only the last of them.
fn name_clashes(d: &mut Diagnostics, path: &str, hosts: &[&str], what: &str) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for h in hosts {
        let name = crate::render::object_name_for_host(h);
        match seen.get(&name) {
            Some(first) if first != h => d.error(
                Code::Duplicate,
                path.to_string(),
                format!("`{first}` and `{h}` would both become the {what} `{name}`, and one would replace the other"),
                "rename one of the hosts",
            ),
            _ => {
                seen.insert(name, h);
            }
        }
    }
}

/// `nodes` is the site's node count: on a one-node site a drain stops every
/// pod whatever their number, so one gateway pod is no warning there.
fn check_gateway(d: &mut Diagnostics, path: &str, g: &Gateway, ingress: bool, version: &str, nodes: usize) {
    // Said whether or not the egress gateway is on: off, these would be
    // ignored without a word.
    if !ingress {
        for (field, set) in [
            ("tls", g.tls.is_some()),
            ("httpsRedirect", g.https_redirect),
            ("routes", !g.routes.is_empty()),
        ] {
            if set {
                d.error(
                    Code::Egress,
                    format!("{path}.{field}"),
                    format!("`{field}` applies to the ingress gateway only"),
                    "remove it",
                );
            }
        }
    }
    if !g.enabled {
        if !g.hosts.is_empty() && !ingress {
            d.error(
                Code::Egress,
                format!("{path}.hosts"),
                "egress hosts are listed, but the egress gateway is off: nothing would route them, and with REGISTRY_ONLY calls to them are refused",
                "turn the egress gateway on, or remove the hosts",
            );
        }
        return;
    }
    if !is_rfc1123_label(&g.name) {
        d.error(
            Code::Name,
            format!("{path}.name"),
            format!("`{}` is not a valid name", g.name),
            "use an RFC 1123 label",
        );
    }
    if !is_rfc1123_label(&g.namespace) {
        d.error(
            Code::Name,
            format!("{path}.namespace"),
            format!("`{}` is not a valid namespace", g.namespace),
            "use an RFC 1123 label",
        );
    }
    if g.replicas == 0 {
        d.error(
            Code::Replicas,
            format!("{path}.replicas"),
            "replicas is 0",
            "run at least 2 gateway replicas",
        );
    } else if min_pods(&g.hpa, g.replicas) == 1 && nodes > 1 {
        d.warning(
            Code::Replicas,
            min_pods_path(path, &g.hpa),
            single_pod(version, "gateway", "the gateway's traffic stops"),
            SINGLE_POD_HINT,
        );
    }
    check_hpa(d, path, &g.hpa, g.replicas);
    check_resources(d, &format!("{path}.resources"), &g.resources);

    let svc = &g.service;
    let sp = format!("{path}.service");
    if svc.external_traffic_policy.is_some() && svc.kind == ServiceType::ClusterIP {
        d.error(
            Code::Service,
            format!("{sp}.externalTrafficPolicy"),
            "externalTrafficPolicy applies only to LoadBalancer and NodePort services",
            "remove it, or change the service type",
        );
    }
    if ingress
        && svc.kind == ServiceType::LoadBalancer
        && svc.external_traffic_policy != Some(crate::spec::ExternalTrafficPolicy::Local)
    {
        d.warning(
            Code::Service,
            format!("{sp}.externalTrafficPolicy"),
            "with `Cluster`, the gateway sees the node's address instead of the client's, and traffic takes an extra hop",
            "use `externalTrafficPolicy: Local` for an ingress gateway",
        );
    }
    if let Some(ip) = &svc.load_balancer_ip
        && ip.parse::<std::net::Ipv4Addr>().is_err()
    {
        d.error(
            Code::Address,
            format!("{sp}.loadBalancerIP"),
            format!("`{ip}` is not an IPv4 address"),
            "write an IPv4 address",
        );
    }
    if svc.ports.is_empty() {
        d.error(
            Code::Ports,
            format!("{sp}.ports"),
            "the gateway service has no ports",
            "list at least one port",
        );
    }
    let mut names = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    for (i, p) in svc.ports.iter().enumerate() {
        let pp = format!("{sp}.ports[{i}]");
        if !is_rfc1123_label(&p.name) {
            d.error(
                Code::Name,
                format!("{pp}.name"),
                format!("`{}` is not a valid port name", p.name),
                "use e.g. `http2` or `https`",
            );
        }
        // (An empty value is reported once, above, not as a duplicate.)
        if !p.name.is_empty() && !names.insert(&p.name) {
            d.error(
                Code::Duplicate,
                format!("{pp}.name"),
                format!("port name `{}` is used twice", p.name),
                "name each port once",
            );
        }
        for (field, v) in [("port", p.port), ("targetPort", p.target_port)] {
            if !(1..=65535).contains(&v) {
                d.error(
                    Code::Port,
                    format!("{pp}.{field}"),
                    format!("{v} is not a port number"),
                    "use 1 to 65535",
                );
            }
        }
        if !numbers.insert(p.port) {
            d.error(
                Code::Duplicate,
                format!("{pp}.port"),
                format!("port {} is used twice", p.port),
                "use each port once",
            );
        }
        if p.target_port < 1024 && (1..=65535).contains(&p.target_port) {
            d.warning(
                Code::Port,
                format!("{pp}.targetPort"),
                format!(
                    "target port {} is privileged; the gateway runs without root and listens on 8080/8443",
                    p.target_port
                ),
                "use an unprivileged target port such as 8080 or 8443",
            );
        }
        if let Some(np) = p.node_port {
            if svc.kind == ServiceType::ClusterIP {
                d.error(
                    Code::Port,
                    format!("{pp}.nodePort"),
                    "a ClusterIP service has no node ports",
                    "remove nodePort",
                );
            } else if !(30000..=32767).contains(&np) {
                d.error(
                    Code::Port,
                    format!("{pp}.nodePort"),
                    format!("{np} is outside the node port range"),
                    "use 30000 to 32767",
                );
            }
        }
    }

    for (i, h) in g.hosts.iter().enumerate() {
        if !is_gateway_host(h) {
            d.error(
                Code::Host,
                format!("{path}.hosts[{i}]"),
                format!("`{h}` is not a host name"),
                "use a lowercase DNS name, optionally starting with `*.`",
            );
        }
    }
    if ingress {
        let mut route_hosts: Vec<&str> = g.routes.iter().map(|r| r.host.as_str()).collect();
        route_hosts.sort();
        route_hosts.dedup();
        name_clashes(d, &format!("{path}.routes"), &route_hosts, "VirtualService");
    } else {
        name_clashes(
            d,
            &format!("{path}.hosts"),
            &g.hosts.iter().map(String::as_str).collect::<Vec<_>>(),
            "ServiceEntry",
        );
    }
    if !ingress {
        for (i, h) in g.hosts.iter().enumerate() {
            if h.starts_with("*.") {
                d.error(
                    Code::Host,
                    format!("{path}.hosts[{i}]"),
                    format!("`{h}`: wildcard hosts cannot be routed through the egress gateway"),
                    "list each external host by its full name",
                );
            }
        }
        return;
    }
    if let Some(tls) = &g.tls {
        if !is_dns_subdomain(&tls.credential_name) {
            d.error(
                Code::Name,
                format!("{path}.tls.credentialName"),
                format!("`{}` is not a valid Secret name", tls.credential_name),
                "use a lowercase DNS name",
            );
        }
        if !svc.ports.iter().any(|p| p.name.starts_with("https")) {
            d.error(
                Code::Ports,
                format!("{sp}.ports"),
                "TLS is set but no port is named `https`",
                "add a port named `https` (443 -> 8443)",
            );
        }
    }
    if g.https_redirect {
        if g.tls.is_none() {
            d.error(
                Code::Tls,
                format!("{path}.httpsRedirect"),
                "redirecting to HTTPS needs TLS",
                "set `tls`, or turn httpsRedirect off",
            );
        }
        if !svc
            .ports
            .iter()
            .any(|p| p.name.starts_with("http") && !p.name.starts_with("https"))
        {
            d.error(
                Code::Ports,
                format!("{sp}.ports"),
                "httpsRedirect is on but no plain HTTP port (`http2` or `http`)",
                "add a port named `http2` (80 -> 8080)",
            );
        }
    }
    for (i, r) in g.routes.iter().enumerate() {
        let rp = format!("{path}.routes[{i}]");
        if !g.hosts.iter().any(|h| host_matches(h, &r.host)) {
            d.error(
                Code::Host,
                format!("{rp}.host"),
                format!("`{}` is not one of the gateway's hosts", r.host),
                "add it to the gateway's hosts, or fix the route",
            );
        }
        if !r.path_prefix.starts_with('/') {
            d.error(
                Code::Path,
                format!("{rp}.pathPrefix"),
                format!("`{}` does not start with `/`", r.path_prefix),
                "write e.g. `/` or `/api`",
            );
        }
        for (field, v) in [("service", &r.service), ("namespace", &r.namespace)] {
            if !is_rfc1123_label(v) {
                d.error(
                    Code::Name,
                    format!("{rp}.{field}"),
                    format!("`{v}` is not a valid {field} name"),
                    "use an RFC 1123 label",
                );
            }
        }
        if !(1..=65535).contains(&r.port) {
            d.error(
                Code::Port,
                format!("{rp}.port"),
                format!("{} is not a port number", r.port),
                "use 1 to 65535",
            );
        }
        if r.namespace == "istio-system" || r.namespace == "kube-system" {
            d.error(
                Code::Namespace,
                format!("{rp}.namespace"),
                format!("routes into `{}` are not allowed", r.namespace),
                "route to an application namespace",
            );
        }
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_prefix("*.")
            .map_or_else(|| host.ends_with(&format!(".{suffix}")), |h| h == suffix),
        None => pattern == host,
    }
}

/// The stable and canary revision tags, and the namespaces moved first.
fn check_upgrade(site: &Site, d: &mut Diagnostics) {
    let istio = &site.spec.istio;
    let up = &istio.upgrade;
    let rev = site.istio_revision();
    let tags = [("stableTag", &up.stable_tag), ("canaryTag", &up.canary_tag)];
    for (field, tag) in tags {
        let p = format!("spec.istio.upgrade.{field}");
        if !is_rfc1123_label(tag) {
            d.error(
                Code::Name,
                &p,
                format!("`{tag}` is not a valid revision tag name"),
                "use lowercase letters, digits and `-`, e.g. `prod-stable` (it becomes a label value and the webhook istio-revision-tag-<tag>)",
            );
        } else if tag == "default" {
            d.error(
                Code::RevisionTag,
                &p,
                "`default` is Istio's default revision tag, which the install already keeps on the revision the mesh runs on",
                "name the tag after its role, e.g. `prod-stable` or `prod-canary`",
            );
        } else if *tag == rev {
            d.error(
                Code::RevisionTag,
                &p,
                format!("`{tag}` is also the revision's name: istioctl refuses a tag named like a revision"),
                "name the tag after its role, e.g. `prod-stable`, and the revision after its version",
            );
        }
    }
    if up.stable_tag == up.canary_tag {
        d.error(
            Code::RevisionTag,
            "spec.istio.upgrade.canaryTag",
            format!(
                "the canary tag is the stable tag `{}`: the canary namespaces could not move apart from the others",
                up.canary_tag
            ),
            "use two names, e.g. `prod-stable` and `prod-canary`",
        );
    }
    let mut mesh: BTreeSet<&str> = istio.namespaces.iter().map(String::as_str).collect();
    if istio.ingress_gateway.enabled {
        mesh.extend(istio.ingress_gateway.routes.iter().map(|r| r.namespace.as_str()));
    }
    let mut seen = BTreeSet::new();
    for (i, ns) in up.canary_namespaces.iter().enumerate() {
        let p = format!("spec.istio.upgrade.canaryNamespaces[{i}]");
        if !is_rfc1123_label(ns) {
            d.error(
                Code::Name,
                &p,
                format!("`{ns}` is not a valid namespace"),
                "use an RFC 1123 label",
            );
        } else if !mesh.contains(ns.as_str()) {
            let known: Vec<&str> = mesh.iter().copied().collect();
            d.error(
                Code::Namespace,
                &p,
                format!("`{ns}` is not a mesh namespace, so no upgrade moves it"),
                format!(
                    "name mesh namespaces only ({}), or add it to spec.istio.namespaces",
                    if known.is_empty() {
                        "none yet".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        if !ns.is_empty() && !seen.insert(ns) {
            d.error(
                Code::Duplicate,
                &p,
                format!("`{ns}` is listed twice"),
                "list each namespace once",
            );
        }
    }
}

/// Checks the mesh and what runs on it: each part in its own function below.
pub(super) fn check(site: &Site, d: &mut Diagnostics) {
    check_istio(site, d);
    check_istiod(site, d);
    check_proxy_and_gateways(site, d);
    check_security(site, d);
    check_observability(site, d);
    check_traffic_policy(site, d);
    check_kernel_tuning(site, d);
    check_extra_images_and_files(site, d);
    check_pki(site, d);
}

/// Istio's revision, mesh names and namespaces, and the upgrade it implies.
fn check_istio(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let istio = &spec.istio;
    let rev = site.istio_revision();
    if !is_rfc1123_label(&rev) {
        d.error(
            Code::Name,
            "spec.istio.revision",
            format!("`{rev}` is not a valid revision name"),
            "use lowercase letters, digits and `-`, e.g. `1-30-3`",
        );
    } else if rev == "default" {
        d.error(
            Code::Revision,
            "spec.istio.revision",
            "`default` is the name of Istio's default revision tag, not a revision: istioctl would treat it as no revision and patch a deployment that does not exist",
            "name the revision after its version, e.g. `1-30-3` (or leave revision out)",
        );
    } else if let Some(given) = &istio.revision
        && !given.contains(&istio.version.replace('.', "-"))
    {
        d.warning(
            Code::Revision,
            "spec.istio.revision",
            format!("revision `{given}` does not name Istio {}", istio.version),
            "name revisions after their version (e.g. `1-30-3`), so a canary upgrade installs beside the old one under a new name",
        );
    }
    for (field, v) in [("meshID", &istio.mesh_id), ("network", &istio.network)] {
        if !is_rfc1123_label(v) {
            d.error(
                Code::Name,
                format!("spec.istio.{field}"),
                format!("`{v}` is not a valid {field}"),
                "use an RFC 1123 label",
            );
        }
    }
    if let Some(c) = &istio.cluster_name
        && !is_rfc1123_label(c)
    {
        d.error(
            Code::Name,
            "spec.istio.clusterName",
            format!("`{c}` is not a valid cluster name"),
            "use an RFC 1123 label",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, ns) in istio.namespaces.iter().enumerate() {
        let p = format!("spec.istio.namespaces[{i}]");
        if !is_rfc1123_label(ns) {
            d.error(
                Code::Name,
                &p,
                format!("`{ns}` is not a valid namespace"),
                "use an RFC 1123 label",
            );
        }
        if [
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "istio-system",
            "kube-flannel",
        ]
        .contains(&ns.as_str())
        {
            d.error(
                Code::Namespace,
                &p,
                format!("`{ns}` is a system namespace and must not join the mesh"),
                "list application namespaces only",
            );
        }
        if !ns.is_empty() && !seen.insert(ns) {
            d.error(
                Code::Duplicate,
                &p,
                format!("`{ns}` is listed twice"),
                "list each namespace once",
            );
        }
    }

    check_upgrade(site, d);
}

/// istiod: replicas, autoscaling, resources, trace sampling, environment.
fn check_istiod(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let istio = &spec.istio;
    let istiod = &istio.istiod;
    if istiod.replicas == 0 {
        d.error(
            Code::Replicas,
            "spec.istio.istiod.replicas",
            "replicas is 0",
            "run at least 2 istiod replicas",
        );
    } else if min_pods(&istiod.hpa, istiod.replicas) == 1 && site.spec.nodes.len() > 1 {
        d.warning(
            Code::Replicas,
            min_pods_path("spec.istio.istiod", &istiod.hpa),
            single_pod(
                &istio.version,
                "istiod",
                "sidecar injection and configuration pushes stop",
            ),
            SINGLE_POD_HINT,
        );
    }
    check_hpa(d, "spec.istio.istiod", &istiod.hpa, istiod.replicas);
    check_resources(d, "spec.istio.istiod.resources", &istiod.resources);
    if check_percent(d, "spec.istio.istiod.traceSampling", istiod.trace_sampling, true)
        && istiod.trace_sampling >= 100.0
    {
        d.warning(
            Code::TraceSampling,
            "spec.istio.istiod.traceSampling",
            "100% trace sampling records every request: heavy on proxies and on Jaeger",
            "use 1% or less in production; raise it only while debugging",
        );
    }
    for (k, _) in istiod.env.iter() {
        let p = format!("spec.istio.istiod.env{}", key_segment(k));
        let ok = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !k.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            d.error(
                Code::Env,
                p,
                format!("`{k}` is not an environment variable name"),
                "use upper case letters, digits and `_`",
            );
        }
    }
}

/// The sidecar proxy and the ingress and egress gateways.
fn check_proxy_and_gateways(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let istio = &spec.istio;
    check_resources(d, "spec.istio.proxy.resources", &istio.proxy.resources);
    if istio.proxy.concurrency > 64 {
        d.warning(
            Code::Proxy,
            "spec.istio.proxy.concurrency",
            format!("{} worker threads per sidecar", istio.proxy.concurrency),
            "2 suits most sidecars",
        );
    }

    check_gateway(
        d,
        "spec.istio.ingressGateway",
        &istio.ingress_gateway,
        true,
        &istio.version,
        spec.nodes.len(),
    );
    check_gateway(
        d,
        "spec.istio.egressGateway",
        &istio.egress_gateway,
        false,
        &istio.version,
        spec.nodes.len(),
    );
    if istio.ingress_gateway.enabled
        && istio.egress_gateway.enabled
        && istio.ingress_gateway.name == istio.egress_gateway.name
        && istio.ingress_gateway.namespace == istio.egress_gateway.namespace
    {
        d.error(
            Code::Duplicate,
            "spec.istio.egressGateway.name",
            "the egress gateway has the ingress gateway's name",
            "give them different names",
        );
    }
}

/// Security: ingress client CIDRs, authorization, JWT and mTLS.
fn check_security(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let istio = &spec.istio;
    let sec = &spec.security;
    for (i, c) in sec.authorization.ingress_client_cidrs.iter().enumerate() {
        if c.parse::<Ipv4Net>().is_err() {
            d.error(
                Code::Network,
                format!("spec.security.authorization.ingressClientCIDRs[{i}]"),
                format!("`{c}` is not an IPv4 CIDR"),
                "write e.g. `0.0.0.0/0` for every client or `10.20.0.0/16` for one network",
            );
        }
    }
    let ig = &istio.ingress_gateway;
    let cidrs = &sec.authorization.ingress_client_cidrs;
    if ig.enabled
        && !cidrs.is_empty()
        && !cidrs.iter().any(|c| c.ends_with("/0"))
        && ig.service.kind != ServiceType::ClusterIP
        && ig.service.external_traffic_policy != Some(crate::spec::ExternalTrafficPolicy::Local)
    {
        d.error(
            Code::Authorization,
            "spec.security.authorization.ingressClientCIDRs",
            "the gateway would not see client addresses: with externalTrafficPolicy Cluster, kube-proxy replaces them with a node's, so these networks would match no client and every one would be refused",
            "set spec.istio.ingressGateway.service.externalTrafficPolicy: Local, or accept every client with `0.0.0.0/0`",
        );
    }
    if sec.authorization.ingress_client_cidrs.is_empty() && istio.ingress_gateway.enabled {
        d.warning(
            Code::Authorization,
            "spec.security.authorization.ingressClientCIDRs",
            "with no client networks, the ingress gateway accepts no one",
            "list the client networks, e.g. `0.0.0.0/0`",
        );
    }
    let mut policy_names = BTreeSet::new();
    for (i, r) in sec.authorization.allow.iter().enumerate() {
        let p = format!("spec.security.authorization.allow[{i}]");
        if !is_rfc1123_label(&r.name) {
            d.error(
                Code::Name,
                format!("{p}.name"),
                format!("`{}` is not a valid policy name", r.name),
                "use an RFC 1123 label",
            );
        }
        if !r.name.is_empty() && !policy_names.insert((&r.namespace, &r.name)) {
            d.error(
                Code::Duplicate,
                format!("{p}.name"),
                format!("policy `{}` is defined twice in `{}`", r.name, r.namespace),
                "merge them",
            );
        }
        if !is_rfc1123_label(&r.namespace) {
            d.error(
                Code::Name,
                format!("{p}.namespace"),
                format!("`{}` is not a valid namespace", r.namespace),
                "use an RFC 1123 label",
            );
        }
        for (j, sa) in r.from_service_accounts.iter().enumerate() {
            let ok = sa
                .split_once('/')
                .is_some_and(|(ns, name)| is_rfc1123_label(ns) && is_dns_subdomain(name));
            if !ok {
                d.error(
                    Code::Principal,
                    format!("{p}.fromServiceAccounts[{j}]"),
                    format!("`{sa}` is not NAMESPACE/SERVICEACCOUNT"),
                    "write e.g. `shop/frontend`",
                );
            }
        }
        for (j, port) in r.ports.iter().enumerate() {
            if !(1..=65535).contains(port) {
                d.error(
                    Code::Port,
                    format!("{p}.ports[{j}]"),
                    format!("{port} is not a port number"),
                    "use 1 to 65535",
                );
            }
        }
        if !sec.authorization.default_deny {
            d.warning(
                Code::Authorization,
                p.to_string(),
                format!(
                    "without deny-by-default, this allow refuses every other request to {} in `{}`: an ALLOW policy denies what it does not match",
                    if r.selector.is_empty() { "every workload" } else { "the workloads it selects" },
                    r.namespace
                ),
                "list every caller those workloads serve, or set defaultDeny: true",
            );
        }
        if r.from_namespaces.is_empty() && r.from_service_accounts.is_empty() {
            d.warning(
                Code::Authorization,
                p.to_string(),
                "this allow names no source, so it admits every caller",
                "list fromNamespaces or fromServiceAccounts",
            );
        }
    }
    let mut issuers = BTreeSet::new();
    for (i, j) in sec.jwt.issuers.iter().enumerate() {
        let p = format!("spec.security.jwt.issuers[{i}]");
        if j.issuer.is_empty() {
            d.error(
                Code::Jwt,
                format!("{p}.issuer"),
                "the issuer is empty",
                "write the `iss` claim the tokens carry",
            );
        }
        if !j.issuer.is_empty() && !issuers.insert(&j.issuer) {
            d.error(
                Code::Duplicate,
                format!("{p}.issuer"),
                format!("issuer `{}` is listed twice", j.issuer),
                "list each issuer once",
            );
        }
        if j.jwks_uri.is_some() {
            d.error(
                Code::JwksUri,
                format!("{p}.jwksUri"),
                "a jwksUri cannot be fetched at an air-gapped site",
                "download the issuer's JWKS document now and put it inline in `jwks`",
            );
        }
        match &j.jwks {
            None if j.jwks_uri.is_none() => d.error(
                Code::Jwt,
                format!("{p}.jwks"),
                "the issuer has no keys",
                "put the issuer's JWKS document (JSON with a `keys` list) in `jwks`",
            ),
            None => {}
            Some(jwks) => {
                let keys = serde_json::from_str::<serde_json::Value>(jwks)
                    .ok()
                    .and_then(|v| v.get("keys").and_then(|k| k.as_array()).map(|a| a.len()));
                match keys {
                    Some(n) if n > 0 => {}
                    Some(_) => d.error(
                        Code::Jwt,
                        format!("{p}.jwks"),
                        "the JWKS has no keys",
                        "add the issuer's public keys",
                    ),
                    None => d.error(
                        Code::Jwt,
                        format!("{p}.jwks"),
                        "this is not a JWKS document",
                        "paste the JSON document with a `keys` list, as the issuer publishes it",
                    ),
                }
            }
        }
    }
    if sec.jwt.required && sec.jwt.issuers.is_empty() {
        d.error(
            Code::Jwt,
            "spec.security.jwt.required",
            "tokens are required but no issuer is listed",
            "list the issuers under spec.security.jwt.issuers",
        );
    }
    if sec.mtls.mode == crate::spec::MtlsMode::Permissive {
        d.warning(
            Code::Mtls,
            "spec.security.mtls.mode",
            "PERMISSIVE accepts plain-text traffic inside the mesh",
            "use STRICT once every workload has a sidecar",
        );
    }
}

/// Observability: alert thresholds, Prometheus and the add-ons.
fn check_observability(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let obs = &spec.observability;
    check_percent(
        d,
        "spec.observability.alerts.errorRatePercent",
        obs.alerts.error_rate_percent,
        false,
    );
    check_percent(
        d,
        "spec.observability.alerts.resourceUsagePercent",
        obs.alerts.resource_usage_percent,
        false,
    );
    if obs.alerts.p99_latency_ms == 0 {
        d.error(
            Code::Alerts,
            "spec.observability.alerts.p99LatencyMs",
            "a p99 threshold of 0 ms fires always",
            "use the latency users notice, e.g. 500",
        );
    }
    if obs.alerts.cert_expiry_days == 0 {
        d.error(
            Code::Alerts,
            "spec.observability.alerts.certExpiryDays",
            "0 days warns only after expiry",
            "warn a few weeks ahead, e.g. 30",
        );
    } else if obs.alerts.cert_expiry_days >= spec.pki.leaf_validity_days {
        d.warning(
            Code::Alerts,
            "spec.observability.alerts.certExpiryDays",
            format!(
                "the alert fires {} days ahead, but leaf certificates are valid for {} days",
                obs.alerts.cert_expiry_days, spec.pki.leaf_validity_days
            ),
            "alert well within the leaf validity",
        );
    }
    if obs.prometheus_operator && !obs.addons.prometheus {
        d.warning(
            Code::Alerts,
            "spec.observability.prometheusOperator",
            "the operator's Prometheus evaluates the alert rules only on what it scrapes, and meshbundle ships no ServiceMonitor or PodMonitor",
            "make its monitors cover istiod (15014), the proxies' Envoy stats (15090), the API server and the kubelets; the render README lists the series",
        );
    }
    if !obs.addons.prometheus && !obs.prometheus_operator {
        d.warning(
            Code::Alerts,
            "spec.observability.alerts",
            "nothing evaluates the alert rules: the Prometheus addon is off and no prometheus-operator is declared",
            "turn spec.observability.addons.prometheus on, or set spec.observability.prometheusOperator to true if the site runs prometheus-operator",
        );
    }
    check_prometheus(d, &obs.prometheus);
    if obs.addons.kiali && !obs.addons.prometheus {
        d.warning(
            Code::Addons,
            "spec.observability.addons.kiali",
            "Kiali reads its graph from Prometheus, which is off",
            "turn prometheus on",
        );
    }
    if obs.addons.grafana && !obs.addons.prometheus {
        d.warning(
            Code::Addons,
            "spec.observability.addons.grafana",
            "Grafana's Istio dashboards read Prometheus, which is off",
            "turn prometheus on",
        );
    }
}

/// Traffic policy: connection pools and outlier detection.
fn check_traffic_policy(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let tp = &spec.traffic_policy;
    check_duration(
        d,
        "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
        &tp.connection_pool.tcp.connect_timeout,
    );
    check_duration(
        d,
        "spec.trafficPolicy.connectionPool.http.idleTimeout",
        &tp.connection_pool.http.idle_timeout,
    );
    check_duration(
        d,
        "spec.trafficPolicy.outlierDetection.interval",
        &tp.outlier_detection.interval,
    );
    check_duration(
        d,
        "spec.trafficPolicy.outlierDetection.baseEjectionTime",
        &tp.outlier_detection.base_ejection_time,
    );
    if tp.outlier_detection.max_ejection_percent > 100 {
        d.error(
            Code::Percent,
            "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
            format!("{} is not a percentage", tp.outlier_detection.max_ejection_percent),
            "use 0 to 100; 50 keeps half the endpoints serving",
        );
    } else if tp.outlier_detection.max_ejection_percent == 100 {
        d.warning(
            Code::Outlier,
            "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
            "100% lets outlier detection eject every endpoint of a service",
            "use 50 or less",
        );
    }
    if tp.connection_pool.tcp.max_connections == 0 {
        d.error(
            Code::Pool,
            "spec.trafficPolicy.connectionPool.tcp.maxConnections",
            "0 connections allows none",
            "use e.g. 1024",
        );
    }
}

/// Kernel tuning: the sysctls each node gets.
fn check_kernel_tuning(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let required: BTreeMap<&str, &str> = [
        ("net.bridge.bridge-nf-call-iptables", "1"),
        ("net.bridge.bridge-nf-call-ip6tables", "1"),
        ("net.ipv4.ip_forward", "1"),
    ]
    .into_iter()
    .collect();
    for (k, v) in &spec.tuning.sysctl {
        let p = format!("spec.tuning.sysctl{}", key_segment(k));
        let name_ok = !k.is_empty()
            && k.contains('.')
            && k.split('.')
                .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !name_ok {
            d.error(
                Code::Sysctl,
                &p,
                format!("`{k}` is not a kernel parameter name"),
                "write dotted names such as `net.core.somaxconn`",
            );
            continue;
        }
        if v.trim().is_empty() || v.contains('\n') {
            d.error(
                Code::Sysctl,
                &p,
                "the value is empty or spans lines",
                "write the value on one line",
            );
        }
        if k == "net.ipv4.tcp_tw_recycle" {
            d.error(
                Code::Sysctl,
                &p,
                "net.ipv4.tcp_tw_recycle was removed from Linux 4.12 and broke clients behind NAT before that",
                "remove it; net.ipv4.tcp_tw_reuse=1 is the safe setting",
            );
        }
        if let Some(need) = required.get(k.as_str())
            && v.trim() != *need
        {
            d.error(
                Code::Sysctl,
                &p,
                format!("Kubernetes needs {k} = {need}"),
                "remove it; meshbundle sets it",
            );
        }
        if k == "net.ipv4.ip_local_port_range" {
            let lo = v.split_whitespace().next().and_then(|x| x.parse::<u32>().ok());
            if lo.is_some_and(|lo| lo <= 32767) {
                d.warning(
                    Code::Sysctl,
                    &p,
                    "the ephemeral port range overlaps the NodePort range 30000-32767",
                    "start it at 32768 or above (the kernel default is 32768 60999)",
                );
            }
        }
    }
}

/// Extra images and files the site carries.
fn check_extra_images_and_files(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let mut names = BTreeSet::new();
    for (i, img) in spec.images.iter().enumerate() {
        let p = format!("spec.images[{i}]");
        if let Err(e) = crate::image::ImageRef::parse(&img.name) {
            d.error(
                Code::Image,
                format!("{p}.name"),
                e.to_string(),
                "write registry/repository:tag, e.g. `registry.example.com/shop/web:1.4.2`",
            );
        } else if crate::image::ImageRef::parse(&img.name).is_ok_and(|r| r.tag.is_none() && r.digest.is_none()) {
            d.error(
                Code::Image,
                format!("{p}.name"),
                format!("`{}` has no tag", img.name),
                "name a tag (or a digest): `latest` is not something to pin",
            );
        }
        if let Some(src) = &img.source {
            let ok = ["oci:", "oci-archive:", "docker-archive:"]
                .iter()
                .any(|k| src.strip_prefix(k).is_some_and(|r| !r.is_empty()));
            if !ok {
                d.error(
                    Code::Image,
                    format!("{p}.source"),
                    format!("`{src}` is not an image source"),
                    "write oci:DIR, oci-archive:FILE or docker-archive:FILE",
                );
            }
        }
        if !img.name.is_empty() && !names.insert(img.name.clone()) {
            d.error(
                Code::Duplicate,
                format!("{p}.name"),
                format!("`{}` is listed twice", img.name),
                "list each image once",
            );
        }
    }
    let mut file_names = BTreeSet::new();
    for (i, f) in spec.files.iter().enumerate() {
        let p = format!("spec.files[{i}]");
        let ok = !f.name.is_empty()
            && f.name.len() <= 128
            && f.name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            && !f.name.starts_with('.');
        if !ok {
            d.error(
                Code::File,
                format!("{p}.name"),
                format!("`{}` is not a file name", f.name),
                "use letters, digits, `.`, `_` and `-`",
            );
        }
        if !f.name.is_empty() && !file_names.insert(f.name.clone()) {
            d.error(
                Code::Duplicate,
                format!("{p}.name"),
                format!("`{}` is listed twice", f.name),
                "give every file its own name",
            );
        }
        if f.url.is_empty() {
            d.error(
                Code::File,
                format!("{p}.url"),
                "the URL is empty",
                "give an https:// URL or a local path",
            );
        } else if f.url.starts_with("http://") {
            d.warning(
                Code::File,
                format!("{p}.url"),
                "the file is fetched over plain HTTP",
                "the lock's sha256 still checks it; prefer https://",
            );
        }
        // `sha256` is a checked digest: a malformed one is refused when read.
    }
}

/// The PKI: certificate lifetimes.
fn check_pki(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let pki = &spec.pki;
    for (field, days) in [
        ("rootValidityDays", pki.root_validity_days),
        ("intermediateValidityDays", pki.intermediate_validity_days),
        ("leafValidityDays", pki.leaf_validity_days),
    ] {
        if days == 0 {
            d.error(
                Code::Pki,
                format!("spec.pki.{field}"),
                "the validity period is 0 days",
                "use a positive number of days",
            );
        }
    }
    if pki.intermediate_validity_days > pki.root_validity_days {
        d.error(
            Code::Pki,
            "spec.pki.intermediateValidityDays",
            "intermediates would outlive their root",
            "make intermediateValidityDays <= rootValidityDays",
        );
    }
    if pki.leaf_validity_days > pki.intermediate_validity_days {
        d.error(
            Code::Pki,
            "spec.pki.leafValidityDays",
            "leaf certificates would outlive their issuing CA",
            "make leafValidityDays <= intermediateValidityDays",
        );
    }
    if pki.leaf_validity_days > 398 {
        d.warning(
            Code::Pki,
            "spec.pki.leafValidityDays",
            format!(
                "{} days is longer than clients accept for server certificates (398)",
                pki.leaf_validity_days
            ),
            "use 398 days or less and rotate with `meshbundle secrets rotate`",
        );
    }
}
