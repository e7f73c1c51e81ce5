//! Validation of how the gateways are reached (`spec.loadBalancer`, each
//! gateway's service): one spec per class of problem, each error at its
//! field path with a hint, and the production and lab examples clean.

use meshbundle_core::diag::{Diagnostic, Severity};
use meshbundle_core::examples::example;
use meshbundle_core::spec::load::load;
use meshbundle_core::validate::load_balancer::parse_pool_entry;

/// The production example with `from` replaced by `to` (exactly once).
fn production_with(edits: &[(&str, &str)]) -> String {
    let mut s = example("production").unwrap().to_string();
    for (from, to) in edits {
        assert_eq!(s.matches(from).count(), 1, "`{from}` once in the production example");
        s = s.replacen(from, to, 1);
    }
    s
}

const POOL: &str = "  loadBalancer:\n    provider: metallb\n    addresses:\n      - 10.0.0.100-10.0.0.109\n";
const LB_IP: &str = "        loadBalancerIP: 10.0.0.100\n";

fn with_pool(addresses: &[&str]) -> String {
    let list: String = addresses.iter().map(|a| format!("      - \"{a}\"\n")).collect();
    production_with(&[
        (
            POOL,
            &format!("  loadBalancer:\n    provider: metallb\n    addresses:\n{list}"),
        ),
        (LB_IP, ""),
    ])
}

fn diagnostics(spec: &str) -> Vec<Diagnostic> {
    let loaded = load(spec);
    let site = loaded.site.unwrap_or_else(|| panic!("{:#?}", loaded.diagnostics));
    meshbundle_core::validate::check(&site)
}

fn errors(spec: &str) -> Vec<Diagnostic> {
    diagnostics(spec)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

/// The errors at `path`; at least one, each with a hint, and none elsewhere.
fn only_errors_at(spec: &str, path: &str) -> Vec<Diagnostic> {
    let e = errors(spec);
    assert!(!e.is_empty(), "no error at all; expected one at {path}");
    for d in &e {
        assert_eq!(d.path, path, "an error elsewhere: {e:#?}");
        assert!(!d.hint.is_empty(), "{d:?}");
    }
    e
}

fn one_error_at(spec: &str, path: &str) -> Diagnostic {
    let e = only_errors_at(spec, path);
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].clone()
}

#[test]
fn the_examples_are_clean() {
    for name in ["production", "lab"] {
        let e = errors(example(name).unwrap());
        assert!(e.is_empty(), "{name}: {e:#?}");
    }
}

#[test]
fn a_load_balancer_service_needs_something_to_give_it_an_address() {
    let spec = production_with(&[(POOL, ""), (LB_IP, "")]);
    let d = one_error_at(&spec, "spec.istio.ingressGateway.service.type");
    assert!(d.message.contains("<pending>"), "{d:?}");
    for way in ["provider: metallb", "provider: existing", "NodePort"] {
        assert!(d.hint.contains(way), "the hint offers {way}: {d:?}");
    }
    // An existing implementation is a valid answer, with loadBalancerIP as it is.
    let existing = production_with(&[(POOL, "  loadBalancer:\n    provider: existing\n")]);
    assert!(errors(&existing).is_empty(), "{:#?}", errors(&existing));
}

#[test]
fn the_provider_and_the_pool_agree() {
    let empty = production_with(&[(POOL, "  loadBalancer:\n    provider: metallb\n"), (LB_IP, "")]);
    one_error_at(&empty, "spec.loadBalancer.addresses");
    let existing_with_pool = production_with(&[(
        POOL,
        "  loadBalancer:\n    provider: existing\n    addresses:\n      - 10.0.0.100-10.0.0.109\n",
    )]);
    one_error_at(&existing_with_pool, "spec.loadBalancer.addresses");
    let unknown = production_with(&[(POOL, "  loadBalancer:\n    provider: haproxy\n")]);
    let loaded = load(&unknown);
    assert!(
        loaded.diagnostics.iter().any(|d| d.severity == Severity::Error
            && d.path == "spec.loadBalancer.provider"
            && d.message.contains("haproxy")),
        "an unknown provider is refused while reading: {:#?}",
        loaded.diagnostics
    );
}

#[test]
fn pool_entries_are_parsed_strictly() {
    for (entry, says) in [
        ("10.0.0.109-10.0.0.100", "starts after it ends"),
        ("10.0.0.100-fd00::1", "mixes"),
        ("fd00::1-fd00::9", "IPv6"),
        ("fd00::/64", "IPv6"),
        ("10.0.0.97/28", "host bits"),
        ("10.0.0.100", "single address"),
        ("10.0.0.100 - 10.0.0.109", "not a range"),
        ("10.0.0.300-10.0.0.301", "not a range"),
        ("pool-a", "not a range of two IPv4 addresses"),
        ("gateways", "not an IPv4 CIDR or a first-last range"),
        ("10.0.0.0/33", "not an IPv4 CIDR"),
    ] {
        let d = one_error_at(&with_pool(&[entry]), "spec.loadBalancer.addresses[0]");
        assert!(d.message.contains(says), "{entry}: {d:?}");
    }
    let r = parse_pool_entry("10.0.0.96/28").unwrap();
    assert_eq!(
        (r.first.to_string(), r.last.to_string(), r.text.as_str(), r.size()),
        ("10.0.0.96".into(), "10.0.0.111".into(), "10.0.0.96/28", 16)
    );
    let r = parse_pool_entry("10.0.0.100-10.0.0.100").unwrap();
    assert_eq!(r.size(), 1);
}

#[test]
fn pool_entries_do_not_overlap_each_other() {
    let d = one_error_at(
        &with_pool(&["10.0.0.100-10.0.0.109", "10.0.0.96/28"]),
        "spec.loadBalancer.addresses[1]",
    );
    assert!(d.message.contains("overlaps `10.0.0.100-10.0.0.109`"), "{d:?}");
    let d = one_error_at(
        &with_pool(&["10.0.0.100-10.0.0.109", "10.0.0.109-10.0.0.110"]),
        "spec.loadBalancer.addresses[1]",
    );
    assert!(d.message.contains("overlaps"), "{d:?}");
    assert!(errors(&with_pool(&["10.0.0.100-10.0.0.109", "10.0.0.110-10.0.0.111"])).is_empty());
}

#[test]
fn the_pool_lies_inside_the_node_network_for_l2() {
    // Outside: the site's routers send traffic for it elsewhere.
    let d = one_error_at(&with_pool(&["10.0.1.100-10.0.1.109"]), "spec.loadBalancer.addresses[0]");
    assert!(d.message.contains("not inside the node network 10.0.0.0/24"), "{d:?}");
    // Straddling the edge counts as outside.
    one_error_at(&with_pool(&["10.0.0.250-10.0.1.5"]), "spec.loadBalancer.addresses[0]");
    // The node network's own network and broadcast addresses.
    let d = one_error_at(&with_pool(&["10.0.0.240/28"]), "spec.loadBalancer.addresses[0]");
    assert!(d.message.contains("10.0.0.255, the broadcast address"), "{d:?}");
    let d = one_error_at(&with_pool(&["10.0.0.0-10.0.0.3"]), "spec.loadBalancer.addresses[0]");
    assert!(d.message.contains("10.0.0.0, the network address"), "{d:?}");
    // Without a node network (optional), the pool cannot be checked against it: a warning.
    let spec = production_with(&[("    nodeSubnet: 10.0.0.0/24\n", "")]);
    assert!(errors(&spec).is_empty(), "{:#?}", errors(&spec));
    let d = diagnostics(&spec);
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Warning && d.path == "spec.kubernetes.nodeSubnet"),
        "{d:#?}"
    );
}

#[test]
fn the_pool_stays_clear_of_the_cluster_networks() {
    let spec = production_with(&[
        ("      - 10.0.0.100-10.0.0.109\n", "      - 10.244.3.0/24\n"),
        (LB_IP, ""),
    ]);
    let e = only_errors_at(&spec, "spec.loadBalancer.addresses[0]");
    assert!(
        e.iter()
            .any(|d| d.message.contains("overlaps the pod network 10.244.0.0/16")),
        "{e:#?}"
    );
    let spec = production_with(&[
        ("      - 10.0.0.100-10.0.0.109\n", "      - 10.96.0.0/28\n"),
        (LB_IP, ""),
    ]);
    let e = only_errors_at(&spec, "spec.loadBalancer.addresses[0]");
    assert!(
        e.iter()
            .any(|d| d.message.contains("overlaps the service network 10.96.0.0/12")),
        "{e:#?}"
    );
}

#[test]
fn the_pool_holds_no_address_in_use() {
    for (range, what) in [
        ("10.0.0.20-10.0.0.29", "the address of node worker-1"),
        ("10.0.0.8/29", "the API endpoint"),
        ("10.0.0.4-10.0.0.6", "the site registry"),
    ] {
        let e = only_errors_at(&with_pool(&[range]), "spec.loadBalancer.addresses[0]");
        assert!(e.iter().any(|d| d.message.contains(what)), "{range}: {e:#?}");
    }
    let spec = production_with(&[
        ("    sourceNode: cp-1\n", "    servers:\n      - 10.0.0.104\n"),
        (LB_IP, ""),
    ]);
    let d = one_error_at(&spec, "spec.loadBalancer.addresses[0]");
    assert!(d.message.contains("10.0.0.104, an NTP server"), "{d:?}");
}

#[test]
fn a_fixed_address_lies_in_the_pool_and_belongs_to_one_gateway() {
    let spec = production_with(&[(LB_IP, "        loadBalancerIP: 10.0.0.110\n")]);
    let d = one_error_at(&spec, "spec.istio.ingressGateway.service.loadBalancerIP");
    assert!(
        d.message.contains("not in MetalLB's pool (10.0.0.100-10.0.0.109)"),
        "{d:?}"
    );
    // With any implementation, not an address the site already uses.
    let spec = production_with(&[
        (POOL, "  loadBalancer:\n    provider: existing\n"),
        (LB_IP, "        loadBalancerIP: 10.0.0.21\n"),
    ]);
    let d = one_error_at(&spec, "spec.istio.ingressGateway.service.loadBalancerIP");
    assert!(d.message.contains("10.0.0.21 is the address of node worker-1"), "{d:?}");
    // On a NodePort service it would be ignored.
    let spec = production_with(&[(
        "        type: LoadBalancer\n        # Local keeps the client's address and saves a hop between nodes.\n        externalTrafficPolicy: Local\n",
        "        type: NodePort\n        externalTrafficPolicy: Local\n",
    )]);
    let e = errors(&spec);
    assert!(
        e.iter()
            .any(|d| d.path == "spec.istio.ingressGateway.service.loadBalancerIP"),
        "{e:#?}"
    );
    // Two gateways asking for one address.
    let spec = production_with(&[(
        "      service:\n        type: ClusterIP\n",
        "      service:\n        type: LoadBalancer\n        loadBalancerIP: 10.0.0.100\n",
    )]);
    let e = errors(&spec);
    let d = e
        .iter()
        .find(|d| d.path == "spec.istio.egressGateway.service.loadBalancerIP")
        .unwrap_or_else(|| panic!("{e:#?}"));
    assert!(
        d.message
            .contains("also the loadBalancerIP of spec.istio.ingressGateway"),
        "{d:?}"
    );
}

#[test]
fn the_pool_has_an_address_for_each_load_balancer_gateway() {
    let spec = production_with(&[
        ("      - 10.0.0.100-10.0.0.109\n", "      - 10.0.0.100/32\n"),
        (
            "      service:\n        type: ClusterIP\n",
            "      service:\n        type: LoadBalancer\n",
        ),
    ]);
    let d = one_error_at(&spec, "spec.loadBalancer.addresses");
    assert!(
        d.message
            .contains("holds 1 address(es) for 2 LoadBalancer gateway services"),
        "{d:?}"
    );
}

#[test]
fn metallb_annotations_of_the_users_own_are_refused() {
    let spec = production_with(&[(
        LB_IP,
        "        annotations:\n          metallb.io/loadBalancerIPs: 10.0.0.101\n",
    )]);
    one_error_at(&spec, "spec.istio.ingressGateway.service.annotations");
}

/// The lab example, whose ingress gateway is NodePort on 30080 and 30443.
fn lab_with(edits: &[(&str, &str)]) -> String {
    let mut s = example("lab").unwrap().to_string();
    for (from, to) in edits {
        assert_eq!(s.matches(from).count(), 1, "`{from}` once in the lab example");
        s = s.replacen(from, to, 1);
    }
    s
}

#[test]
fn every_node_port_is_stated_and_unique() {
    let spec = lab_with(&[("            nodePort: 30443\n", "")]);
    let d = one_error_at(&spec, "spec.istio.ingressGateway.service.ports[1].nodePort");
    assert!(
        d.message.contains("port `https` of a NodePort service has no nodePort"),
        "{d:?}"
    );
    let spec = lab_with(&[("            nodePort: 30443\n", "            nodePort: 30080\n")]);
    let d = one_error_at(&spec, "spec.istio.ingressGateway.service.ports[1].nodePort");
    assert!(
        d.message
            .contains("node port 30080 is also spec.istio.ingressGateway.service.ports[0]'s"),
        "{d:?}"
    );
    // Across gateways: the egress gateway as NodePort on the ingress's port.
    let spec = lab_with(&[
        (
            "    egressGateway:\n      enabled: false\n",
            "    egressGateway:\n      enabled: true\n",
        ),
        (
            "        type: ClusterIP\n        ports:\n          - name: http2\n            port: 80\n            targetPort: 8080\n",
            "        type: NodePort\n        ports:\n          - name: http2\n            port: 80\n            targetPort: 8080\n            nodePort: 30443\n",
        ),
    ]);
    let e = errors(&spec);
    assert!(
        e.iter()
            .any(|d| d.path == "spec.istio.egressGateway.service.ports[0].nodePort"
                && d.message.contains("also spec.istio.ingressGateway")),
        "{e:#?}"
    );
    let spec = lab_with(&[("            nodePort: 30443\n", "            nodePort: 32768\n")]);
    let e = errors(&spec);
    assert!(
        e.iter()
            .any(|d| d.path == "spec.istio.ingressGateway.service.ports[1].nodePort"),
        "{e:#?}"
    );
}

#[test]
fn metallb_without_a_load_balancer_gateway_warns() {
    let spec = production_with(&[
        (
            "        type: LoadBalancer\n        # Local keeps the client's address and saves a hop between nodes.\n        externalTrafficPolicy: Local\n",
            "        type: NodePort\n        externalTrafficPolicy: Local\n",
        ),
        (LB_IP, ""),
        (
            "            targetPort: 8080\n          - name: https\n            port: 443\n            targetPort: 8443\n      hosts:",
            "            targetPort: 8080\n            nodePort: 30080\n          - name: https\n            port: 443\n            targetPort: 8443\n            nodePort: 30443\n      hosts:",
        ),
    ]);
    assert!(errors(&spec).is_empty(), "{:#?}", errors(&spec));
    let d = diagnostics(&spec);
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Warning && d.path == "spec.loadBalancer"),
        "{d:#?}"
    );
}

#[test]
fn a_nodeport_gateway_states_its_readiness_port_for_the_sites_load_balancer() {
    // The lab states it, on node port 30021.
    let status = "          - name: status-port\n            port: 15021\n            targetPort: 15021\n            nodePort: 30021\n";
    assert!(example("lab").unwrap().contains(status));
    // Without it: the readiness port's node port is random, which the site's LB cannot probe.
    let spec = lab_with(&[(status, "")]);
    let d = diagnostics(&spec);
    assert!(
        d.iter().any(|d| d.severity == Severity::Warning
            && d.path == "spec.istio.ingressGateway.service.ports"
            && d.message.contains("15021")),
        "{d:#?}"
    );
    // Stated: no warning, no error.
    let spec = example("lab").unwrap();
    assert!(errors(spec).is_empty(), "{:#?}", errors(spec));
    assert!(
        !diagnostics(spec)
            .iter()
            .any(|d| d.path == "spec.istio.ingressGateway.service.ports")
    );
    // Under that name, only the gateway's readiness port.
    let spec = lab_with(&[(status, &status.replace("targetPort: 15021", "targetPort: 8080"))]);
    one_error_at(&spec, "spec.istio.ingressGateway.service.ports[2]");
    // Its node port is unique like the others.
    let spec = lab_with(&[(status, &status.replace("30021", "30443"))]);
    one_error_at(&spec, "spec.istio.ingressGateway.service.ports[2].nodePort");
}
