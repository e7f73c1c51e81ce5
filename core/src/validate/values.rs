//! Checks of single values: names, addresses, quantities, durations.

use std::net::Ipv4Addr;

/// RFC 1123 label: lowercase alphanumerics and `-`, starting and ending
/// alphanumeric, at most 63 characters.
pub fn is_rfc1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_rfc1123_label)
}

/// A host name for a gateway: a DNS subdomain, or `*.` followed by one.
pub fn is_gateway_host(s: &str) -> bool {
    match s.strip_prefix("*.") {
        Some(rest) => is_dns_subdomain(rest),
        None => is_dns_subdomain(s),
    }
}

/// Why a `host:port` string is wrong, if it is.
pub fn host_port_problem(s: &str) -> Option<String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Some("it has no port".into());
    };
    if host.contains("://") || s.contains('/') {
        return Some("it has a scheme or a path".into());
    }
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => {}
        _ => return Some(format!("`{port}` is not a port number (1 to 65535)")),
    }
    if host.parse::<Ipv4Addr>().is_err() && !is_dns_subdomain(host) {
        return Some(format!("`{host}` is neither an IPv4 address nor a lowercase DNS name"));
    }
    None
}

/// Parses a Kubernetes quantity (`500m`, `2`, `1.5Gi`, `1e3`) to a number of
/// base units. Returns `None` when it is not a quantity.
pub fn quantity(s: &str) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let s = s.trim();
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let (num, mult) = SUFFIXES
        .iter()
        .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
        .unwrap_or((s, 1.0));
    let plain = num.strip_prefix('+').unwrap_or(num);
    let (mantissa, exp) = match plain.find(['e', 'E']) {
        Some(i) if mult == 1.0 => (&plain[..i], plain[i + 1..].parse::<i32>().ok()?),
        _ => (plain, 0),
    };
    let digits_ok = !mantissa.is_empty()
        && mantissa.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && mantissa.bytes().filter(|c| *c == b'.').count() <= 1
        && mantissa != ".";
    if !digits_ok {
        return None;
    }
    Some(mantissa.parse::<f64>().ok()? * 10f64.powi(exp) * mult)
}

/// Parses an Istio/Go duration such as `10s`, `500ms`, `1h30m`, to seconds.
pub fn duration_secs(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (unit, mult) = [
            ("ms", 1e-3),
            ("us", 1e-6),
            ("ns", 1e-9),
            ("h", 3600.0),
            ("m", 60.0),
            ("s", 1.0),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total += value * mult;
    }
    Some(total)
}

/// Conntrack sysctls kube-proxy writes each time it starts, from its
/// `KubeProxyConfiguration.conntrack` (its defaults when the field is unset:
/// `max(32768 × CPUs, 131072)` entries, 86400 s established, 3600 s
/// close-wait). A value for one of these in `spec.tuning.sysctl` goes into
/// that configuration, never into the sysctl file, where kube-proxy would
/// reset it: the key and the `conntrack` field that carries it.
pub const KUBE_PROXY_CONNTRACK: &[(&str, &str)] = &[
    ("net.netfilter.nf_conntrack_max", "min"),
    (
        "net.netfilter.nf_conntrack_tcp_timeout_established",
        "tcpEstablishedTimeout",
    ),
    (
        "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
        "tcpCloseWaitTimeout",
    ),
];

/// The largest value the `int32` fields of `KubeProxyConfiguration.conntrack` take.
pub const KUBE_PROXY_CONNTRACK_LIMIT: u64 = i32::MAX as u64;

/// Sysctls kube-proxy sets to a fixed value when it starts in a proxy mode
/// (pkg/proxy/iptables and pkg/proxy/ipvs): a different value in the sysctl
/// file lasts only until kube-proxy starts.
pub fn kube_proxy_fixed_sysctls(mode: crate::spec::ProxyMode) -> &'static [(&'static str, &'static str)] {
    use crate::spec::ProxyMode;
    match mode {
        ProxyMode::Iptables => &[("net.ipv4.conf.all.route_localnet", "1")],
        ProxyMode::Ipvs => &[
            ("net.ipv4.vs.conntrack", "1"),
            ("net.ipv4.vs.expire_nodest_conn", "1"),
            ("net.ipv4.vs.expire_quiescent_template", "1"),
        ],
        ProxyMode::Nftables => &[],
    }
}

/// The kernel module that must be loaded before a sysctl exists: the
/// `net.netfilter.nf_conntrack_*` keys come with `nf_conntrack`, the
/// `net.bridge.*` keys with `br_netfilter`, the `net.ipv4.vs.*` keys with
/// `ip_vs`. Without the module, `sysctl --system` cannot set them.
pub fn sysctl_module(key: &str) -> Option<&'static str> {
    let key = sysctl_canonical(key);
    if key.starts_with("net.netfilter.nf_conntrack") {
        Some("nf_conntrack")
    } else if key.starts_with("net.bridge.") {
        Some("br_netfilter")
    } else if key.starts_with("net.ipv4.vs.") {
        Some("ip_vs")
    } else {
        None
    }
}

/// Other spellings of one kernel variable: `net.ipv4.conf.all.forwarding` is
/// the variable `net.ipv4.ip_forward` writes, and `net.nf_conntrack_max` the
/// one `net.netfilter.nf_conntrack_max` writes. `net.ipv4.conf.default.forwarding`
/// is the forwarding of interfaces created later (every pod's veth), so it is
/// held to `ip_forward`'s value as well. Checks and rendering look a key up
/// under the name this returns.
pub fn sysctl_canonical(key: &str) -> &str {
    match key {
        "net.ipv4.conf.all.forwarding" | "net.ipv4.conf.default.forwarding" => "net.ipv4.ip_forward",
        "net.nf_conntrack_max" => "net.netfilter.nf_conntrack_max",
        _ => key,
    }
}

/// A sysctl value meshbundle writes: one integer, or integers separated by
/// blanks (`net.ipv4.ip_local_port_range = 32768 60999`). Anything else
/// could make `sysctl --system`, and the bootstrap under `set -e`, fail.
pub fn is_sysctl_value(v: &str) -> bool {
    !v.contains('\n')
        && v.split([' ', '\t']).filter(|w| !w.is_empty()).count() > 0
        && v.split([' ', '\t']).filter(|w| !w.is_empty()).all(|w| {
            let digits = w.strip_prefix('-').unwrap_or(w);
            !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|c| c.is_ascii_digit())
        })
}

/// A label key the kubelet takes in `--node-labels`: an optional DNS
/// subdomain prefix (at most 253 characters) and `/`, then a name of at most
/// 63 characters (Kubernetes' IsQualifiedName). Why not, if it is not.
pub fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !is_dns_subdomain(p))
    {
        return Some(format!(
            "the prefix `{p}` is not a lowercase DNS subdomain of at most 253 characters"
        ));
    }
    if name.is_empty() || name.len() > 63 || !is_label_word(name) {
        return Some(format!(
            "the name `{name}` must be at most 63 characters of letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit (one `/` at most)"
        ));
    }
    None
}

/// A label value (Kubernetes' IsValidLabelValue): empty, or at most 63
/// characters of letters, digits, `-`, `_` and `.`, starting and ending with a
/// letter or digit.
pub fn is_label_value(v: &str) -> bool {
    v.is_empty() || (v.len() <= 63 && is_label_word(v))
}

fn is_label_word(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("1Gi"), Some(1073741824.0));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("128Mi"), Some(134217728.0));
        assert_eq!(quantity("abc"), None);
        assert_eq!(quantity("-1"), None);
        assert_eq!(quantity("1.5.5"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_secs("10s"), Some(10.0));
        assert_eq!(duration_secs("500ms"), Some(0.5));
        assert_eq!(duration_secs("1h30m"), Some(5400.0));
        assert_eq!(duration_secs("10"), None);
        assert_eq!(duration_secs("s"), None);
    }

    #[test]
    fn names() {
        assert!(is_rfc1123_label("cp-1"));
        assert!(!is_rfc1123_label("CP1"));
        assert!(!is_rfc1123_label("-a"));
        assert!(is_gateway_host("*.example.com"));
        assert!(host_port_problem("lb.example.internal:6443").is_none());
        assert!(host_port_problem("10.0.0.10").is_some());
        assert!(host_port_problem("https://x:6443").is_some());
    }
}
