//! Checks of the cluster itself: names, networks, nodes, the API endpoint,
//! the site registry, and the kernel parameters kube-proxy writes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::values::{
    KUBE_PROXY_CONNTRACK, KUBE_PROXY_CONNTRACK_LIMIT, host_port_problem, is_dns_subdomain, is_label_value,
    is_rfc1123_label, is_sysctl_value, kube_proxy_fixed_sysctls, label_key_problem, sysctl_canonical,
};
use crate::diag::{Code, Diagnostics, key_segment};
use crate::spec::Site;

const TZ_AREAS: &[&str] = &[
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
    "Etc",
];

fn parse_cidr(d: &mut Diagnostics, path: &str, value: &str) -> Option<Ipv4Net> {
    match value.parse::<Ipv4Net>() {
        Ok(net) if net.network() != net.addr() => {
            d.error(
                Code::Network,
                path,
                format!("`{value}` has host bits set"),
                format!("write the network address: `{}`", net.trunc()),
            );
            Some(net.trunc())
        }
        Ok(net) => Some(net),
        Err(_) => {
            d.error(
                Code::Network,
                path,
                format!("`{value}` is not an IPv4 CIDR"),
                "write it as address/prefix, e.g. `10.244.0.0/16`",
            );
            None
        }
    }
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Checks the cluster: the site's name, time zone and architectures, its
/// networks, nodes, API endpoint and registry, each in its own function.
pub(super) fn check(site: &Site, d: &mut Diagnostics) {
    check_site(site, d);
    let nets = check_networks(site, d);
    check_nodes(site, d, &nets);
    check_api_endpoint(site, d, &nets);
    check_registry(site, d);
    check_kube_proxy_sysctls(site, d);
}

/// The networks as parsed: each `None` when it does not read (already reported).
struct Networks {
    pod: Option<Ipv4Net>,
    svc: Option<Ipv4Net>,
    node_net: Option<Ipv4Net>,
}

/// The site's name, time zone and architectures.
fn check_site(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    if !is_rfc1123_label(&site.metadata.name) {
        d.error(
            Code::Name,
            "metadata.name",
            format!("`{}` is not a valid site name", site.metadata.name),
            "use lowercase letters, digits and `-` (an RFC 1123 label, at most 63 characters)",
        );
    }

    let tz = &spec.timezone;
    let tz_ok = tz == "UTC"
        || tz.split_once('/').is_some_and(|(area, rest)| {
            TZ_AREAS.contains(&area)
                && !rest.is_empty()
                && rest.split('/').all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
                })
        });
    if !tz_ok {
        d.error(
            Code::Timezone,
            "spec.timezone",
            format!("`{tz}` is not an IANA time zone name"),
            "use a name such as `Etc/UTC` or `Europe/Berlin` (see `timedatectl list-timezones`)",
        );
    }

    if spec.architectures.is_empty() {
        d.error(
            Code::Architectures,
            "spec.architectures",
            "no architecture is listed",
            "list `amd64`, `arm64` or both",
        );
    }
    let mut archs = BTreeSet::new();
    for (i, a) in spec.architectures.iter().enumerate() {
        if !archs.insert(a) {
            d.error(
                Code::Duplicate,
                format!("spec.architectures[{i}]"),
                format!("`{}` is listed twice", a.as_str()),
                "list each architecture once",
            );
        }
    }
}

/// The pod, service and node networks, and how they overlap.
fn check_networks(site: &Site, d: &mut Diagnostics) -> Networks {
    let spec = &site.spec;
    let k = &spec.kubernetes;
    let pod = parse_cidr(d, "spec.kubernetes.podSubnet", &k.pod_subnet);
    let svc = parse_cidr(d, "spec.kubernetes.serviceSubnet", &k.service_subnet);
    let node_net = k
        .node_subnet
        .as_deref()
        .and_then(|n| parse_cidr(d, "spec.kubernetes.nodeSubnet", n));
    if let (Some(p), Some(s)) = (pod, svc)
        && overlaps(&p, &s)
    {
        d.error(
            Code::NetworkOverlap,
            "spec.kubernetes.podSubnet",
            format!("the pod network {p} overlaps the service network {s}"),
            "choose disjoint networks, e.g. pods 10.244.0.0/16 and services 10.96.0.0/12",
        );
    }
    if let Some(n) = node_net {
        for (name, other, path) in [
            ("pod", pod, "spec.kubernetes.podSubnet"),
            ("service", svc, "spec.kubernetes.serviceSubnet"),
        ] {
            if let Some(o) = other
                && overlaps(&n, &o)
            {
                d.error(
                    Code::NetworkOverlap,
                    path,
                    format!("the {name} network {o} overlaps the node network {n}"),
                    "pod and service networks must not contain node addresses; pick a range the site does not use",
                );
            }
        }
    }
    if let Some(s) = svc
        && s.prefix_len() < 12
    {
        d.error(
            Code::Network,
            "spec.kubernetes.serviceSubnet",
            format!("the service network {s} is larger than the API server allows (/12)"),
            "use a /12 or smaller, e.g. 10.96.0.0/12",
        );
    }
    if let Some(p) = pod {
        if p.prefix_len() > 24 {
            d.error(
                Code::Network,
                "spec.kubernetes.podSubnet",
                format!("the pod network {p} is smaller than one node's /24"),
                "use a /16 or so: each node takes a /24 of it",
            );
        } else {
            let slots = 1u64 << (24 - p.prefix_len());
            if (spec.nodes.len() as u64) > slots {
                d.error(
                    Code::Network,
                    "spec.kubernetes.podSubnet",
                    format!(
                        "the pod network {p} has room for {slots} nodes (a /24 each), not {}",
                        spec.nodes.len()
                    ),
                    "use a larger pod network",
                );
            }
        }
    }
    if !is_dns_subdomain(&k.cluster_domain) {
        d.error(
            Code::Name,
            "spec.kubernetes.clusterDomain",
            format!("`{}` is not a DNS domain", k.cluster_domain),
            "use lowercase DNS labels such as `cluster.local`",
        );
    }
    for (i, san) in k.cert_sans.iter().enumerate() {
        if san.parse::<Ipv4Addr>().is_err() && !is_dns_subdomain(san) {
            d.error(
                Code::Name,
                format!("spec.kubernetes.certSANs[{i}]"),
                format!("`{san}` is neither an IPv4 address nor a DNS name"),
                "list addresses and lowercase host names the API server is reached by",
            );
        }
    }
    Networks { pod, svc, node_net }
}

/// Each node: its name, address, role and zone; the control plane's size.
fn check_nodes(site: &Site, d: &mut Diagnostics, nets: &Networks) {
    let spec = &site.spec;
    let Networks { pod, svc, node_net } = *nets;
    if spec.nodes.is_empty() {
        d.error(
            Code::Nodes,
            "spec.nodes",
            "the site has no nodes",
            "list at least one control-plane node",
        );
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut addrs: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    for (i, n) in spec.nodes.iter().enumerate() {
        let p = format!("spec.nodes[{i}]");
        if !is_rfc1123_label(&n.name) {
            d.error(
                Code::Name,
                format!("{p}.name"),
                format!("`{}` is not a valid node name", n.name),
                "use lowercase letters, digits and `-` (an RFC 1123 label); kubelet registers the node under it",
            );
        }
        if let Some(first) = names.insert(&n.name, i).filter(|_| !n.name.is_empty()) {
            d.error(
                Code::Duplicate,
                format!("{p}.name"),
                format!("node name `{}` is already used by spec.nodes[{first}]", n.name),
                "give every node its own name",
            );
        }
        match n.address.parse::<Ipv4Addr>() {
            Err(_) => d.error(
                Code::Address,
                format!("{p}.address"),
                format!("`{}` is not an IPv4 address", n.address),
                "write the address the node is reached at, e.g. `10.0.0.11`",
            ),
            Ok(a) => {
                if let Some(first) = addrs.insert(a, i) {
                    d.error(
                        Code::Duplicate,
                        format!("{p}.address"),
                        format!("address {a} is already used by spec.nodes[{first}]"),
                        "every node needs its own address",
                    );
                }
                if a.is_loopback() || a.is_unspecified() || a.is_multicast() || a.is_broadcast() {
                    d.error(
                        Code::Address,
                        format!("{p}.address"),
                        format!("{a} cannot be a node address"),
                        "use the address other nodes reach this node at",
                    );
                }
                for (name, net) in [("pod", pod), ("service", svc)] {
                    if let Some(net) = net
                        && net.contains(&a)
                    {
                        d.error(
                            Code::NetworkOverlap,
                            format!("{p}.address"),
                            format!("{a} is inside the {name} network {net}"),
                            format!("move the {name} network away from the node network, or fix the address"),
                        );
                    }
                }
                if let Some(net) = node_net
                    && !net.contains(&a)
                {
                    d.error(
                        Code::Address,
                        format!("{p}.address"),
                        format!("{a} is outside the node network {net}"),
                        "fix the address or spec.kubernetes.nodeSubnet",
                    );
                }
            }
        }
        if !is_zone(&n.zone) {
            d.error(
                Code::Name,
                format!("{p}.zone"),
                format!("`{}` is not a valid zone name", n.zone),
                "use letters, digits, `-`, `_` and `.` (a label value, at most 63 characters)",
            );
        }
        for (key, value) in &n.labels {
            check_node_label(&format!("{p}.labels{}", key_segment(key)), key, value, d);
        }
    }

    let cps: Vec<_> = site.control_plane_nodes().collect();
    if cps.is_empty() && !spec.nodes.is_empty() {
        d.error(
            Code::ControlPlane,
            "spec.nodes",
            "there is no control-plane node",
            "give at least one node `role: control-plane`",
        );
    }
    if cps.len() > 1 && cps.len() % 2 == 0 {
        d.warning(
            Code::ControlPlane,
            "spec.nodes",
            format!(
                "{} control-plane nodes: an even etcd cluster tolerates no more failures than one node fewer",
                cps.len()
            ),
            "use an odd number of control-plane nodes (3 or 5)",
        );
    }
    if cps.len() > 1 {
        let zones: BTreeSet<&str> = cps.iter().map(|n| n.zone.as_str()).collect();
        if zones.len() < cps.len().min(3) {
            d.warning(
                Code::Zones,
                "spec.nodes",
                format!("the {} control-plane nodes are in {} zone(s)", cps.len(), zones.len()),
                "spread control-plane nodes across zones so losing one zone keeps etcd's quorum",
            );
        }
    }
    if site.worker_nodes().next().is_none() && spec.nodes.len() > 1 {
        d.warning(
            Code::Workers,
            "spec.nodes",
            "there are no worker nodes, so workloads run on the control plane",
            "the install removes the control-plane taint in this case; add workers for production",
        );
    }
}

/// The API endpoint: required for more than one control-plane node.
fn check_api_endpoint(site: &Site, d: &mut Diagnostics, nets: &Networks) {
    let k = &site.spec.kubernetes;
    let cps: Vec<_> = site.control_plane_nodes().collect();
    let Networks { pod, svc, .. } = *nets;
    match &k.control_plane_endpoint {
        None if cps.len() > 1 => d.error(
            Code::Endpoint,
            "spec.kubernetes.controlPlaneEndpoint",
            format!("{} control-plane nodes need a controlPlaneEndpoint", cps.len()),
            "set it to the API server load balancer as host:port, e.g. `k8s-api.example.internal:6443`",
        ),
        None => {}
        Some(ep) => {
            if let Some(problem) = host_port_problem(ep) {
                d.error(
                    Code::Endpoint,
                    "spec.kubernetes.controlPlaneEndpoint",
                    format!("`{ep}`: {problem}"),
                    "write the API server load balancer as host:port, e.g. `k8s-api.example.internal:6443`",
                );
            } else if cps.len() > 1 {
                let host = ep.rsplit_once(':').map(|x| x.0).unwrap_or_default();
                if cps.iter().any(|n| n.address == host) {
                    d.warning(
                        Code::Endpoint,
                        "spec.kubernetes.controlPlaneEndpoint",
                        format!("the endpoint is the address of one control-plane node ({host})"),
                        "point it at a load balancer or virtual IP in front of all control-plane nodes, or losing that node takes the API down",
                    );
                }
            }
        }
    }
    if let Some(ep) = &k.control_plane_endpoint
        && let Some(host) = ep.rsplit_once(':').map(|x| x.0)
        && let Ok(a) = host.parse::<Ipv4Addr>()
    {
        for (name, net) in [("pod", pod), ("service", svc)] {
            if let Some(net) = net
                && net.contains(&a)
            {
                d.error(
                    Code::NetworkOverlap,
                    "spec.kubernetes.controlPlaneEndpoint",
                    format!("{a} is inside the {name} network {net}"),
                    "the load balancer must sit on the node network",
                );
            }
        }
    }
}

/// The site registry's host:port.
fn check_registry(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    if let Some(problem) = host_port_problem(&spec.registry) {
        d.error(
            Code::Registry,
            "spec.registry",
            format!("`{}`: {problem}", spec.registry),
            "write the site registry as host:port, e.g. `registry.example.internal:5000`",
        );
    } else {
        let host = spec.registry.rsplit_once(':').map(|x| x.0).unwrap_or_default();
        const PUBLIC: &[&str] = &[
            "docker.io",
            "registry-1.docker.io",
            "quay.io",
            "ghcr.io",
            "registry.k8s.io",
            "gcr.io",
        ];
        if PUBLIC.contains(&host) {
            d.error(
                Code::Registry,
                "spec.registry",
                format!("{host} is a public registry, which an air-gapped site cannot reach"),
                "name the registry at the site that images are imported into",
            );
        }
    }
    // Each certificate read (a bundle may hold several): containerd finds
    // out only when a pull fails at the site.
    if let Some(ca) = &spec.containerd.registry_ca
        && let Err(e) = crate::pki::cert::from_pem_chain(ca)
    {
        d.error(
            Code::Registry,
            "spec.containerd.registryCA",
            format!("not a PEM certificate: {}", crate::error_text(&e)),
            "paste the CA certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----",
        );
    }
}

/// The kernel parameters of `spec.tuning.sysctl` that kube-proxy writes when
/// it starts. The conntrack ones go into its configuration (they must be
/// numbers it takes); a fixed one of the proxy mode, or a conntrack hash size
/// below what kube-proxy raises it to, would be reset: a warning says so.
fn check_kube_proxy_sysctls(site: &Site, d: &mut Diagnostics) {
    let tuning = &site.spec.tuning.sysctl;
    let mode = site.spec.kubernetes.proxy_mode;
    for (k, v) in tuning {
        let p = format!("spec.tuning.sysctl{}", key_segment(k));
        let canonical = sysctl_canonical(k);
        if canonical != k.as_str() {
            if tuning.get(canonical).is_some_and(|other| other.trim() != v.trim()) {
                d.error(
                    Code::Sysctl,
                    &p,
                    format!("{k} and {canonical} set the same kernel variable to different values"),
                    format!("keep only {canonical}"),
                );
            }
            if canonical == "net.ipv4.ip_forward" && v.trim() != "1" {
                d.error(
                    Code::Sysctl,
                    &p,
                    format!("{k} turns IP forwarding (net.ipv4.ip_forward) off for pods, and Kubernetes needs it = 1"),
                    "remove it; meshbundle sets net.ipv4.ip_forward = 1",
                );
            }
        }
        let conntrack = KUBE_PROXY_CONNTRACK.iter().any(|(key, _)| *key == canonical);
        // The few kernel parameters that take a name rather than numbers.
        const NAMED: &[&str] = &["net.ipv4.tcp_congestion_control", "net.core.default_qdisc"];
        let named = NAMED.contains(&canonical)
            && v.trim()
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
            && v.trim().bytes().next().is_some_and(|c| c.is_ascii_lowercase());
        if !conntrack && !named && !v.trim().is_empty() && !v.contains('\n') && !is_sysctl_value(v) {
            d.error(
                Code::Sysctl,
                &p,
                format!("`{v}` is not an integer or integers separated by spaces, and `sysctl --system` would stop the bootstrap on it"),
                "write a number such as `1`, or numbers separated by spaces such as `32768 60999`",
            );
        }
        if conntrack {
            match v.trim().parse::<u64>() {
                Ok(n) if n > 0 && n <= KUBE_PROXY_CONNTRACK_LIMIT => {
                    if canonical == "net.netfilter.nf_conntrack_max" && n < 131_072 {
                        d.warning(
                            Code::Sysctl,
                            &p,
                            format!("{n} conntrack entries is below kube-proxy's own floor of 131072; a full table drops new connections"),
                            "leave it out to keep kube-proxy's default, or raise it",
                        );
                    }
                }
                _ => d.error(
                    Code::Sysctl,
                    &p,
                    format!("`{}` is not a whole number from 1 to {KUBE_PROXY_CONNTRACK_LIMIT}", v.trim()),
                    "kube-proxy sets this one from its configuration: write a positive integer (seconds for the timeouts)",
                ),
            }
        }
        if let Some((_, fixed)) = kube_proxy_fixed_sysctls(mode).iter().find(|(key, _)| key == k)
            && v.trim() != *fixed
        {
            d.warning(
                Code::Sysctl,
                &p,
                format!(
                    "kube-proxy sets {k} = {fixed} when it starts in {} mode, so this value does not last",
                    mode.as_str()
                ),
                format!("remove it; kube-proxy needs {fixed} there"),
            );
        }
    }
    if let Some(v) = tuning.get("net.netfilter.nf_conntrack_buckets")
        && let Ok(buckets) = v.trim().parse::<u64>()
    {
        // kube-proxy raises the hash size to a quarter of the table size it sets.
        let (max, what) = match tuning
            .iter()
            .find(|(k, _)| sysctl_canonical(k) == "net.netfilter.nf_conntrack_max")
            .and_then(|(_, m)| m.trim().parse::<u64>().ok())
        {
            Some(m) => (m, format!("nf_conntrack_max {m}")),
            None => (131_072, "its default of at least 131072 entries".to_string()),
        };
        if buckets < max / 4 {
            d.warning(
                Code::Sysctl,
                format!(
                    "spec.tuning.sysctl{}",
                    key_segment("net.netfilter.nf_conntrack_buckets")
                ),
                format!(
                    "kube-proxy raises the conntrack hash size to {} (a quarter of {what}) when it starts",
                    max / 4
                ),
                format!("remove it, or set it to at least {}", max / 4),
            );
        }
    }
}

/// Label keys in the Kubernetes domains the kubelet may set on its own Node (k8s.io/kubelet
/// well_known_labels.go: `kubeletLabels`); any other key in the
/// `kubernetes.io` or `k8s.io` domains, or a subdomain of them, is refused by
/// the kubelet's flag validation unless its prefix is, or ends in,
/// `kubelet.kubernetes.io` or `node.kubernetes.io`.
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];

/// One entry of `spec.nodes[i].labels`, which goes into the kubelet's
/// `--node-labels`: the kubelet refuses to start on a key that is not a
/// qualified name, a value that is not a label value, or a key in the
/// Kubernetes domains it may not set on itself.
fn check_node_label(path: &str, key: &str, value: &str, d: &mut Diagnostics) {
    if let Some(problem) = label_key_problem(key) {
        d.error(
            Code::Labels,
            path,
            format!("`{key}` is not a label key: {problem}"),
            "write `name` or `prefix/name`, e.g. `example.com/rack`",
        );
        return;
    }
    if !is_label_value(value) {
        d.error(
            Code::Labels,
            path,
            format!("`{value}` is not a label value"),
            "write at most 63 characters of letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit (or leave it empty)",
        );
    }
    let domain = key.split_once('/').map(|(p, _)| p).unwrap_or("");
    let in_domain = |d: &str, of: &str| d == of || d.ends_with(&format!(".{of}"));
    if KUBELET_LABELS.contains(&key) {
        // Allowed by the kubelet, but the zone is spec.nodes[].zone's (the
        // kubelet flag would carry two values), and hostname, os and arch
        // are the kubelet's own: only the instance type is the site's.
        if key.ends_with("/zone") || key.ends_with("/region") {
            d.error(
                Code::Labels,
                path,
                format!("`{key}` is set by meshbundle from the node's zone"),
                "remove it and write the zone in spec.nodes[].zone",
            );
        } else if !key.ends_with("/instance-type") {
            d.error(
                Code::Labels,
                path,
                format!("the kubelet sets `{key}` itself"),
                "remove it",
            );
        }
    } else if (in_domain(domain, "kubernetes.io") || in_domain(domain, "k8s.io"))
        && !in_domain(domain, "kubelet.kubernetes.io")
        && !in_domain(domain, "node.kubernetes.io")
    {
        d.error(
            Code::Labels,
            path,
            format!("the kubelet may not set the label `{key}` on itself, and refuses to start with it"),
            "use a label under your own prefix, e.g. `example.com/rack` (or one under `node.kubernetes.io/`)",
        );
    }
}

fn is_zone(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}
