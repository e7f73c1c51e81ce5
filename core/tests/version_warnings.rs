//! Warnings that follow the Kubernetes version.

use meshbundle_core::examples::example;
use meshbundle_core::spec::load::load;

fn proxy_mode_warnings(kubernetes: &str, mode: &str) -> Vec<String> {
    let text = example("production")
        .unwrap()
        .replace("version: 1.36.5", &format!("version: {kubernetes}"))
        .replace("proxyMode: iptables", &format!("proxyMode: {mode}"));
    let site = load(&text).site.unwrap();
    meshbundle_core::validate::check(&site)
        .into_iter()
        .filter(|d| !d.is_error() && d.path == "spec.kubernetes.proxyMode")
        .map(|d| d.message)
        .collect()
}

#[test]
fn ipvs_is_deprecated_from_kubernetes_1_35() {
    assert!(
        proxy_mode_warnings("1.36.5", "ipvs")
            .iter()
            .any(|m| m.contains("deprecated since Kubernetes 1.35"))
    );
    assert!(
        proxy_mode_warnings("1.35.9", "ipvs")
            .iter()
            .any(|m| m.contains("deprecated since Kubernetes 1.35"))
    );
    assert!(proxy_mode_warnings("1.34.12", "ipvs").is_empty());
    assert!(proxy_mode_warnings("1.36.5", "nftables").is_empty());
}
