//! The supported version matrix: which Istio and containerd releases run on
//! which Kubernetes minors (from the catalog's ranges), refused as errors
//! that name what fits, unless `spec.supportPolicy` allows them knowingly
//! with a reason, which the generated README then records. What cannot work
//! at all (a kubeadm API the kubeadm cannot read, containerd 1.x under
//! Kubernetes 1.36) stays an error whatever the policy says.

use meshbundle_core::catalog::catalog;
use meshbundle_core::diag::{Code, Diagnostic};
use meshbundle_core::examples::example;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;
use meshbundle_core::spec::{KubeadmApi, Site, SupportPolicy};
use meshbundle_core::validate::check;

fn production() -> Site {
    load(example("production").unwrap()).site.unwrap()
}

fn with(kubernetes: &str, containerd: &str, istio: &str) -> Site {
    let mut s = production();
    s.spec.kubernetes.version = kubernetes.into();
    s.spec.containerd.version = containerd.into();
    s.spec.istio.version = istio.into();
    s
}

fn allow(mut s: Site, reason: &str) -> Site {
    s.spec.support_policy = Some(SupportPolicy {
        allow_unsupported_versions: true,
        reason: reason.into(),
    });
    s
}

fn matrix(d: &[Diagnostic]) -> Vec<&Diagnostic> {
    d.iter().filter(|x| x.code == Code::VersionMatrix).collect()
}

fn errors_at<'a>(d: &'a [Diagnostic], path: &str) -> Vec<&'a Diagnostic> {
    d.iter().filter(|x| x.is_error() && x.path == path).collect()
}

fn minor(v: &str) -> (u64, u64) {
    let mut p = v.split('.').map(|x| x.parse::<u64>().unwrap());
    (p.next().unwrap(), p.next().unwrap())
}

fn readme(site: &Site) -> String {
    let tree = render(site, &Inputs::default()).unwrap();
    String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap()
}

#[test]
fn the_catalog_carries_the_supported_istio_minors_and_not_1_19() {
    let cat = catalog();
    let mut versions = cat.istio_versions();
    versions.sort();
    assert_eq!(versions, ["1.28.10", "1.29.6", "1.30.3"]);
    let range = |v: &str| {
        let r = &cat.istio(v).unwrap().kubernetes;
        (r.min.as_str(), r.max.as_str())
    };
    assert_eq!(range("1.28.10"), ("1.29", "1.34"));
    assert_eq!(range("1.29.6"), ("1.31", "1.35"));
    assert_eq!(range("1.30.3"), ("1.32", "1.36"));
    // Each release's images and addons are its own tag's.
    for v in cat.istio_versions() {
        let rel = cat.istio(v).unwrap();
        assert_eq!(
            rel.images,
            [
                format!("docker.io/istio/pilot:{v}"),
                format!("docker.io/istio/proxyv2:{v}")
            ]
        );
        for (name, f) in &rel.addons {
            assert_eq!(
                f.url,
                format!("https://raw.githubusercontent.com/istio/istio/{v}/samples/addons/{name}.yaml")
            );
            assert_eq!(f.copy, format!("upstream/istio-addons/{v}/{name}.yaml"));
        }
    }
    assert!(cat.istio("1.19.10").is_none());
    let s = with("1.29.15", "1.7.27", "1.19.10");
    let d = check(&s);
    let e = errors_at(&d, "spec.istio.version");
    assert!(
        e.iter()
            .any(|x| x.code == Code::UnsupportedVersion && x.hint.contains("1.28.10")),
        "{d:?}"
    );
}

/// Every catalogued Istio on every catalogued Kubernetes: inside its range no
/// version-matrix finding, outside it an error at `spec.istio.version` whose
/// hint names exactly the catalogued releases that fit.
#[test]
fn istio_outside_its_kubernetes_range_is_an_error_naming_what_fits() {
    let cat = catalog();
    for k in cat.kubernetes_versions() {
        let km = minor(k);
        let ctrd = if km >= (1, 30) { "2.2.3" } else { "1.7.27" };
        let fits: Vec<&str> = cat
            .istio
            .iter()
            .filter(|i| km >= minor(&i.kubernetes.min) && km <= minor(&i.kubernetes.max))
            .map(|i| i.version.as_str())
            .collect();
        for i in cat.istio_versions() {
            let site = with(k, ctrd, i);
            let d = check(&site);
            let at = errors_at(&d, "spec.istio.version");
            let case = format!("Kubernetes {k}, Istio {i}");
            if fits.contains(&i) {
                assert!(matrix(&d).is_empty(), "{case}: {d:?}");
                assert!(at.is_empty(), "{case}: {at:?}");
                assert!(!d.iter().any(Diagnostic::is_error), "{case}: {d:?}");
            } else {
                assert_eq!(at.len(), 1, "{case}: {d:?}");
                let e = at[0];
                assert_eq!(e.code, Code::VersionMatrix, "{case}");
                assert!(
                    e.message.contains(&format!("{}.{}", km.0, km.1)),
                    "{case}: {}",
                    e.message
                );
                for f in &fits {
                    assert!(e.hint.contains(f), "{case}: the hint names {f}: {}", e.hint);
                }
                for other in cat.istio_versions().iter().filter(|v| !fits.contains(v) && **v != i) {
                    assert!(
                        !e.hint.contains(&format!("Istio {other}")),
                        "{case}: {other} does not fit: {}",
                        e.hint
                    );
                }
                assert!(
                    e.hint.contains("spec.supportPolicy"),
                    "{case}: the hint names the override: {}",
                    e.hint
                );
            }
        }
    }
}

#[test]
fn containerd_outside_its_kubernetes_range_is_an_error_naming_what_fits() {
    // containerd 2.x is not supported on Kubernetes 1.29 (containerd RELEASES.md).
    let d = check(&with("1.29.15", "2.2.3", "1.28.10"));
    let e = errors_at(&d, "spec.containerd.version");
    assert_eq!(e.len(), 1, "{d:?}");
    assert_eq!(e[0].code, Code::VersionMatrix);
    assert!(
        e[0].hint.contains("1.7.27") && !e[0].hint.contains("use containerd 2.2.3"),
        "{}",
        e[0].hint
    );
    // 1.7 on 1.35 is supported; 2.x on 1.30 and later too.
    assert!(check(&with("1.35.9", "1.7.27", "1.30.3")).iter().all(|x| !x.is_error()));
    assert!(
        check(&with("1.30.14", "2.2.3", "1.28.10"))
            .iter()
            .all(|x| !x.is_error())
    );
}

#[test]
fn the_support_policy_turns_matrix_errors_into_warnings_the_readme_records() {
    let reason = "Istio 1.28 kept on Kubernetes 1.35 until the payments team moves (ticket 4711)";
    let refused = with("1.35.9", "2.2.3", "1.28.10");
    assert!(
        errors_at(&check(&refused), "spec.istio.version")
            .iter()
            .any(|e| e.code == Code::VersionMatrix)
    );
    assert!(
        render(&refused, &Inputs::default()).is_err(),
        "an unsupported combination is not rendered"
    );

    let site = allow(refused, reason);
    let d = check(&site);
    assert!(!d.iter().any(Diagnostic::is_error), "{d:?}");
    let w = matrix(&d);
    assert_eq!(w.len(), 1, "{d:?}");
    assert_eq!(w[0].path, "spec.istio.version");
    assert!(
        w[0].message.contains("1.29 to 1.34") && w[0].message.contains("1.35"),
        "{}",
        w[0].message
    );

    let text = readme(&site);
    let section = text
        .split("## Unsupported versions")
        .nth(1)
        .expect("the README records the override");
    let section = section.split("\n## ").next().unwrap();
    assert!(section.contains(reason), "{section}");
    assert!(
        section.contains("`spec.istio.version`")
            && section.contains("Istio 1.28.10 supports Kubernetes 1.29 to 1.34, not 1.35"),
        "{section}"
    );
    assert!(
        section.contains("1.29.6") && section.contains("1.30.3"),
        "what is supported instead: {section}"
    );

    // Both kinds at once, each recorded.
    let site = allow(with("1.29.15", "2.2.3", "1.30.3"), reason);
    let d = check(&site);
    assert!(!d.iter().any(Diagnostic::is_error), "{d:?}");
    let paths: Vec<&str> = matrix(&d).iter().map(|x| x.path.as_str()).collect();
    assert_eq!(paths, ["spec.istio.version", "spec.containerd.version"]);
    let text = readme(&site);
    assert!(
        text.contains("`spec.istio.version`") && text.contains("`spec.containerd.version`"),
        "{text}"
    );
}

#[test]
fn the_support_policy_needs_a_reason_and_allows_only_what_can_run() {
    let site = allow(with("1.35.9", "2.2.3", "1.28.10"), "  ");
    let d = check(&site);
    assert!(
        errors_at(&d, "spec.supportPolicy.reason")
            .iter()
            .any(|e| e.hint.contains("why")),
        "{d:?}"
    );
    assert!(
        errors_at(&d, "spec.istio.version")
            .iter()
            .any(|e| e.code == Code::VersionMatrix),
        "no reason, no override: {d:?}"
    );
    assert!(render(&site, &Inputs::default()).is_err());

    let d = check(&allow(with("1.35.9", "2.2.3", "1.28.10"), "line one\nline two"));
    assert!(!errors_at(&d, "spec.supportPolicy.reason").is_empty(), "{d:?}");
    let d = check(&allow(with("1.35.9", "2.2.3", "1.28.10"), &"x".repeat(501)));
    assert!(!errors_at(&d, "spec.supportPolicy.reason").is_empty(), "{d:?}");

    // What cannot work stays an error.
    let d = check(&allow(with("1.36.5", "1.7.27", "1.30.3"), "testing"));
    assert!(
        errors_at(&d, "spec.containerd.version")
            .iter()
            .any(|e| e.message.contains("no longer supports containerd 1.x")),
        "{d:?}"
    );
    let mut s = allow(with("1.29.15", "1.7.27", "1.28.10"), "testing");
    s.spec.kubernetes.kubeadm_api = Some(KubeadmApi::V1beta4);
    assert!(!errors_at(&check(&s), "spec.kubernetes.kubeadmApi").is_empty());
    let mut s = allow(with("1.36.5", "2.2.3", "1.30.3"), "testing");
    s.spec.kubernetes.kubeadm_api = Some(KubeadmApi::V1beta3);
    assert!(!errors_at(&check(&s), "spec.kubernetes.kubeadmApi").is_empty());
    let d = check(&allow(with("1.29.15", "1.7.27", "1.27.9"), "testing"));
    assert!(
        errors_at(&d, "spec.istio.version")
            .iter()
            .any(|e| e.code == Code::UnsupportedVersion),
        "{d:?}"
    );

    // An override on a supported site allows nothing, and says so.
    let d = check(&allow(production(), "just in case"));
    assert!(!d.iter().any(Diagnostic::is_error), "{d:?}");
    assert!(
        d.iter()
            .any(|x| x.path == "spec.supportPolicy.allowUnsupportedVersions"),
        "{d:?}"
    );
}

#[test]
fn the_support_policy_is_read_from_the_spec_file() {
    let text = example("production").unwrap().replacen("  istio:\n    version: 1.30.3\n", "  istio:\n    version: 1.28.10\n", 1).replacen(
        "spec:\n",
        "spec:\n  supportPolicy:\n    allowUnsupportedVersions: true\n    reason: \"kept for the payments cut-over\"\n",
        1,
    );
    let loaded = load(&text);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let site = loaded.site.unwrap();
    assert!(site.allows_unsupported_versions());
    assert!(
        check(&site)
            .iter()
            .any(|x| x.code == Code::VersionMatrix && !x.is_error())
    );

    let bad =
        example("production")
            .unwrap()
            .replacen("spec:\n", "spec:\n  supportPolicy:\n    allowUnsupported: true\n", 1);
    let loaded = load(&bad);
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.is_error() && d.path.starts_with("spec.supportPolicy")),
        "{:?}",
        loaded.diagnostics
    );
}
