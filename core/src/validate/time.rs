//! Checks of `spec.time`: a production site needs a time source (the site's
//! NTP servers or one control-plane node), or an explicit waiver. Each server
//! becomes a line of the chrony configuration, so it must be exactly an IP
//! address or a host name.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::values::is_dns_subdomain;
use crate::diag::{Code, Diagnostics};
use crate::spec::{Role, Site};

/// An NTP server as chrony's `server` directive takes it: an IPv4 or IPv6
/// address, or a DNS host name (lowercase labels, the last one not all
/// digits, so that `10.0.0` is not taken for a name).
pub fn is_ntp_server(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    is_dns_subdomain(s)
        && s.rsplit('.')
            .next()
            .is_some_and(|tld| !tld.bytes().all(|c| c.is_ascii_digit()))
}

pub(super) fn check(site: &Site, d: &mut Diagnostics) {
    let Some(time) = &site.spec.time else {
        d.error(
            Code::Time,
            "spec.time",
            "the site has no time source",
            "kubeadm certificates, etcd and JWT validation need the node clocks in step: list the site's NTP servers \
             (`time: {servers: [10.0.0.5]}`), make the first control-plane node the time source (`time: {sourceNode: NAME}`), \
             or, if the site keeps time by its own means, write `time: {waived: true}`",
        );
        return;
    };
    if time.waived {
        if !time.servers.is_empty() || time.source_node.is_some() {
            d.error(
                Code::Time,
                "spec.time.waived",
                "the time source is both waived and given",
                "remove `waived: true` to have the nodes follow the servers or source node given, or remove those",
            );
        } else {
            d.warning(
                Code::Time,
                "spec.time.waived",
                "time sync is waived: the node bootstrap does not set up any",
                "make sure every node's clock is kept in step (kubeadm certificates, etcd and JWT validation fail when clocks drift)",
            );
        }
        return;
    }
    if time.servers.is_empty() && time.source_node.is_none() {
        d.error(
            Code::Time,
            "spec.time",
            "no time source is given",
            "list the site's NTP servers in `servers`, name the first control-plane node in `sourceNode`, or write `waived: true`",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, s) in time.servers.iter().enumerate() {
        let path = format!("spec.time.servers[{i}]");
        if !is_ntp_server(s) {
            d.error(
                Code::Time,
                path,
                format!("`{}` is not an IP address or a host name", s.escape_debug()),
                "write the server's address (e.g. `10.0.0.5` or `fd00::5`) or its DNS name (e.g. `ntp1.example.internal`), without port, spaces or quotes",
            );
        } else if !seen.insert(s.to_ascii_lowercase()) {
            d.error(
                Code::Duplicate,
                path,
                format!("`{s}` is listed twice"),
                "list each NTP server once",
            );
        }
    }
    if let Some(name) = &time.source_node {
        let path = "spec.time.sourceNode";
        let first = site.first_control_plane().map(|n| n.name.as_str());
        match site.spec.nodes.iter().find(|n| &n.name == name) {
            None => d.error(
                Code::Time,
                path,
                format!("`{}` is not a node of the spec", name.escape_debug()),
                format!(
                    "name the first control-plane node{}",
                    first.map(|f| format!(" (`{f}`)")).unwrap_or_default()
                ),
            ),
            Some(n) if n.role != Role::ControlPlane => d.error(
                Code::Time,
                path,
                format!("`{name}` is a worker, not a control-plane node"),
                format!(
                    "name the first control-plane node{}",
                    first.map(|f| format!(" (`{f}`)")).unwrap_or_default()
                ),
            ),
            Some(_) if Some(name.as_str()) != first => d.error(
                Code::Time,
                path,
                format!("`{name}` is not the first control-plane node"),
                format!(
                    "the time source must be set up before every other node, which waits for it before kubeadm: \
                     name the first control-plane node{}, which bootstraps first",
                    first.map(|f| format!(" (`{f}`)")).unwrap_or_default()
                ),
            ),
            Some(_) => {}
        }
    }
}
