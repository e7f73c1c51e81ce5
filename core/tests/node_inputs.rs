//! Spec values that reach a node's kubelet, kernel and kubeadm: the kubeadm
//! configuration API each catalogued Kubernetes reads, the node labels the
//! kubelet takes in `--node-labels`, and the kernel parameters of
//! `spec.tuning.sysctl` (other spellings of one variable, values
//! `sysctl --system` takes). Judged by what validation says and by what the
//! rendered sysctl file and KubeProxyConfiguration mean.

use meshbundle_core::catalog::catalog;
use meshbundle_core::diag::Diagnostic;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{KubeadmApi, Site};

fn production() -> Site {
    meshbundle_core::spec::load::load(meshbundle_core::examples::example("production").unwrap())
        .site
        .unwrap()
}

fn diagnostics(site: &Site, path: &str) -> Vec<Diagnostic> {
    meshbundle_core::validate::check(site)
        .into_iter()
        .filter(|d| d.path == path)
        .collect()
}

fn errors(site: &Site, path: &str) -> Vec<Diagnostic> {
    diagnostics(site, path)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect()
}

fn file(site: &Site, path: &str) -> String {
    let tree = render(site, &Inputs::default()).unwrap();
    String::from_utf8(
        tree.get(path)
            .unwrap_or_else(|| panic!("{path} not rendered"))
            .bytes
            .clone(),
    )
    .unwrap()
}

// ---- kubeadm configuration API ----

#[test]
fn v1beta3_is_refused_where_kubeadm_no_longer_reads_it() {
    let versions = catalog()
        .kubernetes_versions()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let mut seen = (false, false, false);
    for version in versions {
        let minor: u64 = version.split('.').nth(1).unwrap().parse().unwrap();
        let mut site = production();
        site.spec.kubernetes.version = version.clone();
        site.spec.kubernetes.kubeadm_api = Some(KubeadmApi::V1beta3);
        let ds = diagnostics(&site, "spec.kubernetes.kubeadmApi");
        let errs = ds.iter().filter(|d| d.is_error()).count();
        let warns = ds.iter().filter(|d| !d.is_error()).count();
        if minor >= 36 {
            seen.0 = true;
            assert_eq!((errs, warns), (1, 0), "{version}: {ds:?}");
            assert!(
                ds[0].message.contains("no longer reads kubeadm.k8s.io/v1beta3"),
                "{version}: {ds:?}"
            );
            assert!(ds[0].hint.contains("v1beta4"), "{version}: {ds:?}");
        } else if minor >= 31 {
            seen.1 = true;
            assert_eq!((errs, warns), (0, 1), "{version}: {ds:?}");
            assert!(ds[0].message.contains("deprecated"), "{version}: {ds:?}");
        } else {
            seen.2 = true;
            assert!(ds.is_empty(), "{version}: {ds:?}");
        }
        // v1beta4, and the default, are fine from 1.31 on.
        site.spec.kubernetes.kubeadm_api = Some(KubeadmApi::V1beta4);
        assert_eq!(
            errors(&site, "spec.kubernetes.kubeadmApi").is_empty(),
            minor >= 31,
            "{version}"
        );
        site.spec.kubernetes.kubeadm_api = None;
        assert!(diagnostics(&site, "spec.kubernetes.kubeadmApi").is_empty(), "{version}");
    }
    assert!(
        seen.0 && seen.1,
        "the catalog has no version from 1.36 or from 1.31-1.35: {seen:?}"
    );
}

// ---- node labels ----

fn with_label(key: &str, value: &str) -> Site {
    let mut site = production();
    site.spec.nodes[0].labels.insert(key.into(), value.into());
    site
}

fn label_path(key: &str) -> String {
    format!("spec.nodes[0].labels{}", meshbundle_core::diag::key_segment(key))
}

#[test]
fn labels_the_kubelet_refuses_are_refused_with_their_path() {
    let long = "v".repeat(64);
    let long_name = "n".repeat(64);
    let long_prefix = format!(
        "{}/x",
        [
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60),
            "e".repeat(20)
        ]
        .join(".")
    );
    let bad: &[(&str, &str)] = &[
        ("a", "b c"),
        ("x", "yes,no"),
        ("ok", "-lead"),
        ("ok", "trail."),
        ("ok", &long),
        ("ok", "a=b"),
        ("Bad Key", "x"),
        ("a/b/c", "x"),
        ("-bad", "x"),
        ("bad-", "x"),
        ("", "x"),
        ("/x", "x"),
        ("example.com/", "x"),
        ("Example.com/x", "x"),
        (&long_name, "x"),
        (&long_prefix, "x"),
        ("a,b", "x"),
        // The zone is spec.nodes[].zone's.
        ("topology.kubernetes.io/zone", "zone-b"),
        ("topology.kubernetes.io/region", "r1"),
        ("failure-domain.beta.kubernetes.io/zone", "zone-b"),
        // Kubernetes domains the kubelet may not set on itself.
        ("node-role.kubernetes.io/control-plane", ""),
        ("node-restriction.kubernetes.io/pool", "a"),
        ("kubernetes.io/team", "a"),
        ("k8s.io/team", "a"),
        ("apps.k8s.io/team", "a"),
        ("example.kubernetes.io/team", "a"),
        // The kubelet's own.
        ("kubernetes.io/hostname", "other"),
        ("kubernetes.io/arch", "arm64"),
    ];
    for (k, v) in bad {
        let site = with_label(k, v);
        let errs = errors(&site, &label_path(k));
        assert_eq!(errs.len(), 1, "{k:?}={v:?}: {errs:?}");
        assert!(!errs[0].hint.is_empty());
        // Nothing else is wrong with the spec.
        let all: Vec<_> = meshbundle_core::validate::check(&site)
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect();
        assert_eq!(all.len(), 1, "{k:?}={v:?}: {all:?}");
    }
}

#[test]
fn labels_the_kubelet_takes_are_accepted_and_reach_node_labels() {
    // A prefix of exactly 253 characters.
    let ok_prefix = format!(
        "{}/x",
        [
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60),
            "e".repeat(9)
        ]
        .join(".")
    );
    let good: &[(&str, &str)] = &[
        ("rack", "r1"),
        ("example.com/rack", "r-1.a_b"),
        ("example.com/Name_1.x", ""),
        (&"n".repeat(63), &"V".repeat(63)),
        (&ok_prefix, "x"),
        ("node.kubernetes.io/pool", "blue"),
        ("team.node.kubernetes.io/pool", "blue"),
        ("kubelet.kubernetes.io/x", "1"),
        ("node.kubernetes.io/instance-type", "m5.large"),
        ("k8s.example.com/team", "a"),
    ];
    for (k, v) in good {
        let site = with_label(k, v);
        assert!(
            diagnostics(&site, &label_path(k)).is_empty(),
            "{k:?}={v:?}: {:?}",
            diagnostics(&site, &label_path(k))
        );
        let flag = node_labels_flag(&site);
        let pairs: Vec<&str> = flag.split(',').collect();
        assert!(pairs.contains(&format!("{k}={v}").as_str()), "{k}={v} not in {flag}");
        assert!(pairs.contains(&"topology.kubernetes.io/zone=zone-a"), "{flag}");
        assert_eq!(
            pairs
                .iter()
                .filter(|p| p.starts_with("topology.kubernetes.io/zone="))
                .count(),
            1,
            "{flag}"
        );
    }
}

/// The `node-labels` kubelet flag of cp-1's InitConfiguration (v1beta4:
/// a list of name/value pairs).
fn node_labels_flag(site: &Site) -> String {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&file(site, "nodes/cp-1/kubeadm.yaml")).unwrap();
    let init = docs.iter().find(|d| d["kind"] == "InitConfiguration").unwrap();
    let args = init["nodeRegistration"]["kubeletExtraArgs"].as_array().unwrap();
    let flag = args.iter().find(|a| a["name"] == "node-labels").unwrap();
    flag["value"].as_str().unwrap().to_string()
}

// ---- kernel parameters ----

fn with_sysctl(pairs: &[(&str, &str)]) -> Site {
    let mut site = production();
    for (k, v) in pairs {
        site.spec.tuning.sysctl.insert((*k).into(), (*v).into());
    }
    site
}

fn sysctl_path(key: &str) -> String {
    format!("spec.tuning.sysctl{}", meshbundle_core::diag::key_segment(key))
}

/// `key = value` lines `sysctl --system` applies from the rendered file.
fn applied(site: &Site) -> Vec<(String, String)> {
    file(site, "common/etc/sysctl.d/90-meshbundle.conf")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

#[test]
fn forwarding_cannot_be_turned_off_under_another_name() {
    for key in [
        "net.ipv4.conf.all.forwarding",
        "net.ipv4.conf.default.forwarding",
        "net.ipv4.ip_forward",
    ] {
        let site = with_sysctl(&[(key, "0")]);
        assert!(!errors(&site, &sysctl_path(key)).is_empty(), "{key}=0 passes");
        // At 1 it is accepted, and the file applies forwarding on, never off.
        let site = with_sysctl(&[(key, "1")]);
        assert!(
            errors(&site, &sysctl_path(key)).is_empty(),
            "{key}=1: {:?}",
            errors(&site, &sysctl_path(key))
        );
        let lines = applied(&site);
        assert!(lines.contains(&("net.ipv4.ip_forward".into(), "1".into())), "{lines:?}");
        assert!(
            lines
                .iter()
                .filter(|(k, _)| k.contains("forward"))
                .all(|(_, v)| v == "1"),
            "{lines:?}"
        );
    }
}

#[test]
fn conntrack_max_under_its_short_name_goes_to_kube_proxy() {
    let mut site = with_sysctl(&[("net.nf_conntrack_max", "524288")]);
    site.spec.tuning.sysctl.remove("net.netfilter.nf_conntrack_max");
    assert!(meshbundle_core::validate::check(&site).iter().all(|d| !d.is_error()));
    // kube-proxy carries it; the sysctl file does not write it (kube-proxy would reset it).
    let kubeadm = file(&site, "nodes/cp-1/kubeadm.yaml");
    let conntrack = &kubeadm[kubeadm
        .find("\nconntrack:")
        .expect("no conntrack in KubeProxyConfiguration")..];
    assert!(
        conntrack.contains("maxPerCore: 1") && conntrack.contains("min: 524288"),
        "{conntrack}"
    );
    assert!(
        applied(&site).iter().all(|(k, _)| !k.contains("conntrack_max")),
        "{:?}",
        applied(&site)
    );
    // Held to kube-proxy's range like the long name.
    for bad in ["0", "x", "99999999999"] {
        let mut site = with_sysctl(&[("net.nf_conntrack_max", bad)]);
        site.spec.tuning.sysctl.remove("net.netfilter.nf_conntrack_max");
        assert!(!errors(&site, &sysctl_path("net.nf_conntrack_max")).is_empty(), "{bad}");
    }
    // Both spellings with different values: one is refused.
    let site = with_sysctl(&[("net.nf_conntrack_max", "524288")]);
    assert!(!errors(&site, &sysctl_path("net.nf_conntrack_max")).is_empty());
}

#[test]
fn sysctl_values_are_integers() {
    for bad in ["x y", "1 x", "abc", "1;reboot", "1.5", "--", "0x10", "$(id)"] {
        let site = with_sysctl(&[("net.core.somaxconn", bad)]);
        let errs = errors(&site, &sysctl_path("net.core.somaxconn"));
        assert_eq!(errs.len(), 1, "{bad:?}: {errs:?}");
    }
    for good in ["4096", "-1", "32768 60999", "4096\t87380 6291456", " 1 "] {
        let site = with_sysctl(&[("net.core.somaxconn", good)]);
        assert!(errors(&site, &sysctl_path("net.core.somaxconn")).is_empty(), "{good:?}");
    }
    // The parameters that take a name take one word, and only they do.
    let site = with_sysctl(&[("net.ipv4.tcp_congestion_control", "bbr")]);
    assert!(errors(&site, &sysctl_path("net.ipv4.tcp_congestion_control")).is_empty());
    let site = with_sysctl(&[("net.ipv4.tcp_congestion_control", "bbr cubic")]);
    assert_eq!(errors(&site, &sysctl_path("net.ipv4.tcp_congestion_control")).len(), 1);
}
