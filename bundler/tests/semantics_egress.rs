//! The egress objects (Gateway with an ISTIO_MUTUAL server per host, the
//! DestinationRule for the egress gateway's service with a subset per host,
//! the ServiceEntries and VirtualServices with mesh `tls` and gateway `tcp`
//! routes) pass the strict Istio schemas of every catalogued Istio version:
//! every site of the test matrix and the production example on each Istio
//! version of the catalog, given several egress hosts, is rendered and its
//! traffic manifests judged by `tests/tools/validate_tree.py`. What
//! the objects mean is checked in core/tests/egress.rs and
//! core/tests/authorization.rs.

mod common;

use std::process::Command;

use common::*;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::tree::FileTree;

const HOSTS: [&str; 3] = [
    "api.partner.example",
    "files.vendor.example",
    "a-very-long-label-for-an-external-partner-api.region-one.partner-two.example",
];

/// The production example on an Istio version, with a Kubernetes version
/// that Istio supports (containerd 1.7 for the Kubernetes releases that
/// need it).
fn production_on(istio: &str) -> (String, meshbundle_core::spec::Site) {
    let cat = meshbundle_core::catalog::catalog();
    let range = &cat.istio(istio).unwrap().kubernetes;
    let minor = |v: &str| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
    let versions = cat.kubernetes_versions();
    let kube = versions
        .iter()
        .find(|v| minor(v) >= minor(&range.min) && minor(v) <= minor(&range.max))
        .or(versions.last())
        .unwrap();
    let mut site = example("production");
    site.spec.istio.version = istio.into();
    site.spec.kubernetes.version = kube.to_string();
    if minor(kube) <= 30 {
        site.spec.containerd.version = "1.7.27".into();
    }
    (format!("production-istio-{istio}"), site)
}

#[test]
fn egress_objects_pass_the_strict_istio_schemas_on_every_version() {
    let mut versions = Vec::new();
    let mut sites: Vec<(String, meshbundle_core::spec::Site)> =
        matrix().into_iter().map(|(n, s)| (n.to_string(), s)).collect();
    sites.extend(
        meshbundle_core::catalog::catalog()
            .istio_versions()
            .into_iter()
            .map(production_on),
    );
    for (name, mut site) in sites {
        if !site.spec.istio.egress_gateway.enabled {
            continue;
        }
        site.spec.istio.egress_gateway.hosts = HOSTS.iter().map(|h| h.to_string()).collect();
        let s = secrets(&site);
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&s),
                ..Default::default()
            },
        )
        .unwrap();
        let mut traffic = FileTree::default();
        for (path, file) in tree.iter().filter(|(p, _)| p.starts_with("manifests/traffic/")) {
            traffic.add(path, file.bytes.clone(), file.mode);
        }
        let egress = String::from_utf8(
            traffic
                .get("manifests/traffic/egress.yaml")
                .expect("egress.yaml")
                .bytes
                .clone(),
        )
        .unwrap();
        for h in HOSTS {
            assert!(egress.contains(&format!("sni: {h}")), "{name}: {h}");
        }
        let dir = tempfile::tempdir().unwrap();
        write_tree(&traffic, dir.path());
        let kube: String = site
            .spec
            .kubernetes
            .version
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let o = Command::new("python3")
            .arg(repo().join("tests/tools/validate_tree.py"))
            .args(["--kubernetes", &kube, "--istio", &site.spec.istio.version])
            .arg(dir.path())
            .output()
            .expect("python3 tests/tools/validate_tree.py");
        assert!(o.status.success(), "{name}:\n{}{}", text(&o.stdout), text(&o.stderr));
        versions.push(site.spec.istio.version.clone());
    }
    versions.sort();
    versions.dedup();
    let mut catalogued: Vec<String> = meshbundle_core::catalog::catalog()
        .istio_versions()
        .into_iter()
        .map(String::from)
        .collect();
    catalogued.sort();
    assert_eq!(versions, catalogued, "every catalogued Istio version was judged");
}
