//! Checks that hold only for the chosen CNI. With Calico: its IP pool (the
//! pod network) must be one Calico accepts, and the spec's own allow rules
//! must not take the names of the NetworkPolicies meshbundle renders for the
//! mesh (`render/network_policy.rs`), which would replace them.

use ipnet::Ipv4Net;

use crate::diag::{Code, Diagnostics};
use crate::spec::{Cni, Site};

/// Networks Calico refuses an IP pool in (libcalico-go's IPPool validation:
/// link-local, loopback and multicast addresses cannot be pod addresses).
const RESERVED: &[(&str, &str)] = &[
    ("169.254.0.0/16", "link-local"),
    ("127.0.0.0/8", "loopback"),
    ("224.0.0.0/4", "multicast"),
];

/// Calico's manifest install without Typha (`calico.yaml`) is for clusters
/// of at most 50 nodes (Calico's "Install Calico networking and network
/// policy for on-premises deployments").
const TYPHA_ABOVE: usize = 50;

/// Names of the NetworkPolicies rendered in a mesh namespace with Calico, or
/// their prefixes (ending in `-`).
const RENDERED_NAMES: &[&str] = &[
    "default-deny-ingress",
    "allow-kubelet-probes",
    "allow-prometheus-scrape",
    "allow-mesh",
    "allow-same-namespace",
    "allow-proxies-to-istiod",
    "allow-webhooks-to-istiod",
    "allow-proxies-to-zipkin",
    "allow-kubelet-probes-",
    "allow-from-",
    "allow-mesh-to-",
    "allow-clients-to-",
];

pub(super) fn check(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    if spec.kubernetes.cni != Cni::Calico {
        return;
    }
    if let Ok(pods) = spec.kubernetes.pod_subnet.parse::<Ipv4Net>() {
        let pods = pods.trunc();
        for (net, what) in RESERVED {
            let net: Ipv4Net = net.parse().expect("constant");
            if pods.contains(&net.network()) || net.contains(&pods.network()) {
                d.error(
                    Code::Network,
                    "spec.kubernetes.podSubnet",
                    format!("the pod network {pods} overlaps the {what} range {net}, which Calico does not accept for its IP pool"),
                    "choose a private range the site does not use, e.g. 10.244.0.0/16",
                );
            }
        }
    }
    if spec.nodes.len() > TYPHA_ABOVE {
        d.warning(
            Code::CalicoScale,
            "spec.nodes",
            format!(
                "{} nodes: Calico's manifest install without Typha is meant for at most {TYPHA_ABOVE}; beyond that every calico-node watches the API server itself",
                spec.nodes.len()
            ),
            "watch the API server's load, or split the site into clusters of at most 50 nodes",
        );
    }
    for (i, r) in spec.security.authorization.allow.iter().enumerate() {
        let taken = RENDERED_NAMES.iter().any(|n| {
            if n.ends_with('-') {
                r.name.starts_with(n)
            } else {
                r.name == *n
            }
        });
        if taken {
            d.error(
                Code::Name,
                format!("spec.security.authorization.allow[{i}].name"),
                format!(
                    "`{}` is a name meshbundle gives the NetworkPolicies it renders for the mesh with Calico; this rule's NetworkPolicy would replace one of them",
                    r.name
                ),
                "choose another name, e.g. one that does not start with `allow-from-`, `allow-mesh` or `allow-kubelet-probes`",
            );
        }
    }
}
