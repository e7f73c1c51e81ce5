//! Checks of how the gateways are reached from outside the cluster
//! (`spec.loadBalancer` and each gateway's `service`).
//!
//! - A `LoadBalancer` gateway Service needs something to give it an address:
//!   on bare metal nothing does by itself, so `spec.loadBalancer` must say
//!   what (MetalLB, installed by meshbundle, or the site's `existing` one).
//! - MetalLB runs in L2 mode: a speaker answers ARP for a Service address on
//!   the node's own network segment, so every pool address must lie inside
//!   `spec.kubernetes.nodeSubnet` (an address outside it is routed
//!   elsewhere by the site's routers and never reaches the segment: an error,
//!   not a warning, since such a Service gets an address nobody can reach;
//!   without a `nodeSubnet`, which is optional, a warning says the pool could
//!   not be checked against it),
//!   must not be the node network's own network or broadcast address, and
//!   must be clear of every address the site already uses (nodes, the API
//!   endpoint, the registry, the NTP servers) and of the pod and service
//!   networks. Pool entries are parsed strictly: an IPv4 CIDR with no host
//!   bits set, or `first-last` with first ≤ last, both IPv4 (the cluster is
//!   IPv4 single-stack).
//! - A gateway's `loadBalancerIP` lies in the MetalLB pool; two gateways do
//!   not ask for the same address.
//! - A `NodePort` gateway states every node port (the site's own load
//!   balancer is pointed at them, so they cannot be left to chance), each in
//!   30000-32767 and unique across the gateways.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;

use crate::diag::{Code, Diagnostics};
use crate::render::istio::{STATUS_PORT, STATUS_PORT_NAME};
use crate::spec::{LoadBalancerProvider, ServiceType, Site};

/// One entry of the MetalLB pool, as parsed: an inclusive range of IPv4
/// addresses, and the canonical text MetalLB is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRange {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    /// `a.b.c.d/n` or `a.b.c.d-e.f.g.h`, as MetalLB's IPAddressPool takes it.
    pub text: String,
}

impl PoolRange {
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.first <= a && a <= self.last
    }

    fn overlaps(&self, first: Ipv4Addr, last: Ipv4Addr) -> bool {
        self.first <= last && first <= self.last
    }

    /// How many addresses it holds.
    pub fn size(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }
}

/// Parses one pool entry; the error says what is wrong, for the message.
pub fn parse_pool_entry(s: &str) -> Result<PoolRange, String> {
    let v6 = |p: &str| p.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6()) || p.parse::<ipnet::Ipv6Net>().is_ok();
    if let Some((a, b)) = s.split_once('-') {
        if v6(a) || v6(b) {
            return Err(if v6(a) && v6(b) {
                "is an IPv6 range, and the cluster is IPv4 only".into()
            } else {
                "mixes an IPv4 and an IPv6 address".into()
            });
        }
        let (Ok(first), Ok(last)) = (a.parse::<Ipv4Addr>(), b.parse::<Ipv4Addr>()) else {
            return Err("is not a range of two IPv4 addresses".into());
        };
        if first > last {
            return Err(format!("starts after it ends ({first} is above {last})"));
        }
        return Ok(PoolRange {
            first,
            last,
            text: format!("{first}-{last}"),
        });
    }
    if s.contains('/') {
        if v6(s) {
            return Err("is an IPv6 network, and the cluster is IPv4 only".into());
        }
        let Ok(net) = s.parse::<Ipv4Net>() else {
            return Err("is not an IPv4 CIDR".into());
        };
        if net.addr() != net.network() {
            return Err(format!("has host bits set (the network is {})", net.trunc()));
        }
        return Ok(PoolRange {
            first: net.network(),
            last: net.broadcast(),
            text: net.to_string(),
        });
    }
    if s.parse::<Ipv4Addr>().is_ok() {
        return Err("is a single address, and MetalLB takes a CIDR or a range".into());
    }
    Err("is not an IPv4 CIDR or a first-last range".into())
}

/// The MetalLB pool of a valid site, in spec order (empty without MetalLB).
pub fn metallb_pool(site: &Site) -> Vec<PoolRange> {
    match &site.spec.load_balancer {
        Some(lb) if lb.provider == LoadBalancerProvider::Metallb => {
            lb.addresses.iter().filter_map(|a| parse_pool_entry(a).ok()).collect()
        }
        _ => Vec::new(),
    }
}

/// The lowest and highest node port of the cluster (kube-apiserver's
/// `--service-node-port-range` default, which meshbundle does not change).
pub const NODE_PORTS: (u32, u32) = (30000, 32767);

/// MetalLB annotations that would fight the ones meshbundle writes.
const METALLB_OWN_ANNOTATIONS: &[&str] = &[
    "metallb.io/loadBalancerIPs",
    "metallb.universe.tf/loadBalancerIPs",
    "metallb.io/address-pool",
    "metallb.universe.tf/address-pool",
];

pub(super) fn check(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let lb = spec.load_balancer.as_ref();
    let metallb = site.uses_metallb();
    let gateways = site.enabled_gateways();

    // What gives LoadBalancer Services their address.
    for (path, g) in &gateways {
        if g.service.kind == ServiceType::LoadBalancer && lb.is_none() {
            d.error(
                Code::LoadBalancer,
                format!("{path}.service.type"),
                "the service is LoadBalancer, but nothing at the site gives it an address: it would stay `<pending>`",
                "add `spec.loadBalancer: {provider: metallb, addresses: [FIRST-LAST]}` with free addresses of the node network, \
                 or `spec.loadBalancer: {provider: existing}` if the site runs its own implementation, \
                 or make the service `NodePort` with a nodePort on every port for the site's own load balancer",
            );
        }
    }
    let lb_gateways: Vec<_> = gateways
        .iter()
        .filter(|(_, g)| g.service.kind == ServiceType::LoadBalancer)
        .collect();
    if let Some(lb) = lb {
        if lb_gateways.is_empty() {
            d.warning(
                Code::LoadBalancer,
                "spec.loadBalancer",
                "no enabled gateway has a LoadBalancer service, so nothing uses the load balancer",
                "remove `spec.loadBalancer`, or make the ingress gateway's service `LoadBalancer`",
            );
        }
        match lb.provider {
            LoadBalancerProvider::Existing if !lb.addresses.is_empty() => d.error(
                Code::LoadBalancer,
                "spec.loadBalancer.addresses",
                "addresses are given, but the provider is `existing`: meshbundle installs no load balancer to give them to",
                "configure the pool in the site's own implementation and remove `addresses`, or choose `provider: metallb`",
            ),
            LoadBalancerProvider::Metallb if lb.addresses.is_empty() => d.error(
                Code::LoadBalancer,
                "spec.loadBalancer.addresses",
                "MetalLB has no addresses to give",
                "list free addresses of the node network, e.g. `addresses: [10.0.0.100-10.0.0.109]`",
            ),
            _ => {}
        }
    }

    // The MetalLB pool.
    let mut pool: Vec<(usize, PoolRange)> = Vec::new();
    if metallb && let Some(lb) = lb {
        for (i, a) in lb.addresses.iter().enumerate() {
            let path = format!("spec.loadBalancer.addresses[{i}]");
            match parse_pool_entry(a) {
                Err(problem) => d.error(
                    Code::LoadBalancer,
                    path,
                    format!("`{}` {problem}", a.escape_debug()),
                    "write an IPv4 CIDR (`10.0.0.96/28`) or a range (`10.0.0.100-10.0.0.109`) of the node network",
                ),
                Ok(r) => {
                    if let Some((j, other)) = pool.iter().find(|(_, o)| o.overlaps(r.first, r.last)) {
                        d.error(
                            Code::LoadBalancer,
                            path,
                            format!(
                                "`{}` overlaps `{}` (spec.loadBalancer.addresses[{j}])",
                                r.text, other.text
                            ),
                            "list each address once",
                        );
                    } else {
                        pool.push((i, r));
                    }
                }
            }
        }
        check_pool_placement(site, &pool, d);
    }

    // Fixed addresses.
    let in_use = addresses_in_use(site);
    let mut fixed: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
    for (path, g) in &gateways {
        let svc = &g.service;
        let Some(ip) = &svc.load_balancer_ip else { continue };
        let ip_path = format!("{path}.service.loadBalancerIP");
        if svc.kind != ServiceType::LoadBalancer {
            d.error(
                Code::LoadBalancer,
                ip_path,
                format!("loadBalancerIP is set, but the service is {}", svc.kind.as_str()),
                "remove loadBalancerIP, or make the service `LoadBalancer`",
            );
            continue;
        }
        let Ok(a) = ip.parse::<Ipv4Addr>() else { continue }; // reported with the gateway
        // Whatever the implementation, a Service address is nobody else's.
        if let Some((_, what)) = in_use.iter().find(|(u, _)| *u == a) {
            d.error(
                Code::LoadBalancer,
                ip_path.clone(),
                format!("{a} is {what}"),
                "give the gateway a free address: its load balancer answers for it",
            );
        }
        if let Some(first) = fixed.insert(a, path) {
            d.error(
                Code::Duplicate,
                ip_path.clone(),
                format!("{a} is also the loadBalancerIP of {first}"),
                "give each gateway its own address: both listen on the same ports",
            );
        }
        if metallb && !pool.is_empty() && !pool.iter().any(|(_, r)| r.contains(a)) {
            let ranges: Vec<&str> = pool.iter().map(|(_, r)| r.text.as_str()).collect();
            d.error(
                Code::LoadBalancer,
                ip_path,
                format!("{a} is not in MetalLB's pool ({})", ranges.join(", ")),
                "choose an address of `spec.loadBalancer.addresses`, or add it there",
            );
        }
    }
    if metallb && !pool.is_empty() {
        let size: u64 = pool.iter().map(|(_, r)| r.size()).sum();
        if (lb_gateways.len() as u64) > size {
            d.error(
                Code::LoadBalancer,
                "spec.loadBalancer.addresses",
                format!(
                    "the pool holds {size} address(es) for {} LoadBalancer gateway services",
                    lb_gateways.len()
                ),
                "add addresses to the pool",
            );
        }
        for (path, g) in &lb_gateways {
            for k in g
                .service
                .annotations
                .keys()
                .filter(|k| METALLB_OWN_ANNOTATIONS.contains(&k.as_str()))
            {
                d.error(
                    Code::LoadBalancer,
                    format!("{path}.service.annotations"),
                    format!("`{k}` would override the address meshbundle asks MetalLB for"),
                    "remove the annotation and set `loadBalancerIP` to an address of the pool",
                );
            }
        }
    }

    // The readiness port, which an external load balancer health-checks.
    for (path, g) in &gateways {
        let svc = &g.service;
        let ingress = *path == "spec.istio.ingressGateway";
        let status = svc.ports.iter().position(|p| p.name == STATUS_PORT_NAME);
        match status {
            Some(i) if !ingress || svc.ports[i].port != STATUS_PORT || svc.ports[i].target_port != STATUS_PORT => d.error(
                Code::Port,
                format!("{path}.service.ports[{i}]"),
                format!("`{STATUS_PORT_NAME}` is the ingress gateway's readiness port, {STATUS_PORT} to {STATUS_PORT}"),
                format!("on the ingress gateway, write port {STATUS_PORT} and targetPort {STATUS_PORT}; elsewhere, name the port otherwise"),
            ),
            None if ingress && svc.kind == ServiceType::NodePort => d.warning(
                Code::Port,
                format!("{path}.service.ports"),
                format!("the readiness port {STATUS_PORT} gets a random node port, so the site's load balancer cannot health-check the gateway on it"),
                format!(
                    "add `{{name: {STATUS_PORT_NAME}, port: {STATUS_PORT}, targetPort: {STATUS_PORT}, nodePort: N}}` and have the load balancer \
                     probe HTTP /healthz/ready on node port N"
                ),
            ),
            _ => {}
        }
    }

    // Node ports.
    let mut node_ports: BTreeMap<u32, String> = BTreeMap::new();
    for (path, g) in &gateways {
        let svc = &g.service;
        for (i, p) in svc.ports.iter().enumerate() {
            let pp = format!("{path}.service.ports[{i}]");
            match p.node_port {
                None if svc.kind == ServiceType::NodePort => d.error(
                    Code::Port,
                    format!("{pp}.nodePort"),
                    format!("port `{}` of a NodePort service has no nodePort: Kubernetes would pick one at random", p.name),
                    format!(
                        "state the node port the site's load balancer forwards to, in {}-{} and unique across the gateways",
                        NODE_PORTS.0, NODE_PORTS.1
                    ),
                ),
                Some(np) if svc.kind != ServiceType::ClusterIP && (NODE_PORTS.0..=NODE_PORTS.1).contains(&np) => {
                    if let Some(first) = node_ports.get(&np) {
                        d.error(
                            Code::Duplicate,
                            format!("{pp}.nodePort"),
                            format!("node port {np} is also {first}'s"),
                            "give every gateway port its own node port",
                        );
                    } else {
                        node_ports.insert(np, pp);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The addresses the site already uses, each with what uses it.
fn addresses_in_use(site: &Site) -> Vec<(Ipv4Addr, String)> {
    let host = |hp: &str| hp.rsplit_once(':').and_then(|(h, _)| h.parse::<Ipv4Addr>().ok());
    let mut used: Vec<(Ipv4Addr, String)> = Vec::new();
    for n in &site.spec.nodes {
        if let Ok(a) = n.address.parse::<Ipv4Addr>() {
            used.push((a, format!("the address of node {}", n.name)));
        }
    }
    if let Some(a) = site.spec.kubernetes.control_plane_endpoint.as_deref().and_then(host) {
        used.push((a, "the API endpoint (spec.kubernetes.controlPlaneEndpoint)".into()));
    }
    if let Some(a) = host(&site.spec.registry) {
        used.push((a, "the site registry (spec.registry)".into()));
    }
    for s in site.spec.time.iter().flat_map(|t| &t.servers) {
        if let Ok(a) = s.parse::<Ipv4Addr>() {
            used.push((a, "an NTP server (spec.time.servers)".into()));
        }
    }
    used
}

/// The pool lies on the node network and clear of every address in use.
fn check_pool_placement(site: &Site, pool: &[(usize, PoolRange)], d: &mut Diagnostics) {
    let k = &site.spec.kubernetes;
    let net = |s: &str| s.parse::<Ipv4Net>().ok().map(|n| n.trunc());
    let node_net = k.node_subnet.as_deref().and_then(net);
    if k.node_subnet.is_none() && !pool.is_empty() {
        // nodeSubnet is optional in the spec; the pool is still checked
        // against every address the site names.
        d.warning(
            Code::LoadBalancer,
            "spec.kubernetes.nodeSubnet",
            "MetalLB's pool cannot be checked against the node network: it is not given",
            "set `nodeSubnet` to the nodes' network (e.g. `10.0.0.0/24`): MetalLB in L2 mode answers for its addresses on that network only",
        );
    }
    let used = addresses_in_use(site);
    for (i, r) in pool {
        let path = format!("spec.loadBalancer.addresses[{i}]");
        if let Some(n) = node_net {
            if !(n.contains(&r.first) && n.contains(&r.last)) {
                d.error(
                    Code::LoadBalancer,
                    path.clone(),
                    format!("`{}` is not inside the node network {n}", r.text),
                    "MetalLB in L2 mode answers ARP on the nodes' own network only, and an address outside it is routed elsewhere: \
                     choose free addresses of the node network",
                );
            } else if n.prefix_len() < 31 {
                for (a, what) in [(n.network(), "network"), (n.broadcast(), "broadcast")] {
                    if r.contains(a) {
                        d.error(
                            Code::LoadBalancer,
                            path.clone(),
                            format!("`{}` holds {a}, the {what} address of the node network {n}", r.text),
                            "leave the node network's first and last addresses out of the pool",
                        );
                    }
                }
            }
        }
        for (name, field, s) in [
            ("pod", "podSubnet", &k.pod_subnet),
            ("service", "serviceSubnet", &k.service_subnet),
        ] {
            if let Some(o) = net(s)
                && r.overlaps(o.network(), o.broadcast())
            {
                d.error(
                    Code::NetworkOverlap,
                    path.clone(),
                    format!("`{}` overlaps the {name} network {o} (spec.kubernetes.{field})", r.text),
                    "choose free addresses of the node network",
                );
            }
        }
        for (a, what) in &used {
            if r.contains(*a) {
                d.error(
                    Code::LoadBalancer,
                    path.clone(),
                    format!("`{}` holds {a}, {what}", r.text),
                    "MetalLB would hand it to a Service and answer ARP for it: leave it out of the pool",
                );
            }
        }
    }
}
