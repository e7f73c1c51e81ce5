//! Validation of a spec that chooses Calico: its IP pool (the pod network)
//! must be one Calico accepts, and the spec's allow rules must not take the
//! names of the NetworkPolicies rendered for the mesh. Each problem is one
//! error at its field path; the same spec with flannel has none of them.

use meshbundle_core::diag::{Code, Diagnostic};
use meshbundle_core::examples::example;
use meshbundle_core::spec::load::load;

fn production(edit: &[(&str, &str)]) -> String {
    let mut s = example("production").unwrap().to_string();
    for (from, to) in edit {
        assert!(s.contains(from), "the example has no `{from}`");
        s = s.replacen(from, to, 1);
    }
    s
}

fn errors(text: &str) -> Vec<Diagnostic> {
    load(text).diagnostics.into_iter().filter(|d| d.is_error()).collect()
}

const FLANNEL: (&str, &str) = ("cni: calico", "cni: flannel");

#[test]
fn the_production_example_with_calico_is_valid() {
    let l = load(example("production").unwrap());
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    assert_eq!(l.site.unwrap().spec.kubernetes.cni.as_str(), "calico");
}

#[test]
fn a_pool_calico_refuses_is_an_error_at_the_pod_network() {
    for (pods, what) in [
        ("169.254.0.0/16", "link-local"),
        ("127.0.0.0/16", "loopback"),
        ("224.0.0.0/8", "multicast"),
    ] {
        let text = production(&[("podSubnet: 10.244.0.0/16", &format!("podSubnet: {pods}"))]);
        let errs = errors(&text);
        let calico: Vec<&Diagnostic> = errs.iter().filter(|d| d.message.contains("Calico")).collect();
        assert_eq!(calico.len(), 1, "{pods}: {errs:#?}");
        assert_eq!(calico[0].path, "spec.kubernetes.podSubnet");
        assert!(
            calico[0].message.contains(what) && !calico[0].hint.is_empty(),
            "{:?}",
            calico[0]
        );
        assert!(calico[0].line > 0, "the error points into the file");
        let text = production(&[FLANNEL, ("podSubnet: 10.244.0.0/16", &format!("podSubnet: {pods}"))]);
        assert!(
            errors(&text).iter().all(|d| !d.message.contains("Calico")),
            "{pods} with flannel"
        );
    }
}

#[test]
fn an_allow_rule_cannot_take_a_rendered_policy_name() {
    let allow = |name: &str| {
        (
            "    authorization:\n".to_string(),
            format!(
                "    authorization:\n      allow:\n        - name: {name}\n          namespace: shop\n          fromNamespaces: [shop]\n"
            ),
        )
    };
    for name in [
        "default-deny-ingress",
        "allow-kubelet-probes",
        "allow-from-istio-ingressgateway",
        "allow-mesh",
    ] {
        let (from, to) = allow(name);
        let errs = errors(&production(&[(&from, &to)]));
        assert_eq!(errs.len(), 1, "{name}: {errs:#?}");
        assert_eq!(errs[0].path, "spec.security.authorization.allow[0].name");
        assert!(errs[0].message.contains("NetworkPolicies"), "{:?}", errs[0]);
        let errs = errors(&production(&[FLANNEL, (&from, &to)]));
        assert!(errs.is_empty(), "{name} with flannel: {errs:#?}");
    }
    let (from, to) = allow("shop-internal");
    assert!(errors(&production(&[(&from, &to)])).is_empty());
}

#[test]
fn an_unknown_cni_lists_both_choices() {
    let errs = errors(&production(&[("cni: calico", "cni: cilium")]));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].path, "spec.kubernetes.cni");
    assert!(
        errs[0].hint.contains("`flannel`") && errs[0].hint.contains("`calico`"),
        "{:?}",
        errs[0]
    );
}

#[test]
fn more_nodes_than_calico_without_typha_serves_is_a_warning() {
    let mut nodes = String::new();
    for i in 0..48 {
        nodes.push_str(&format!(
            "    - name: extra-{i}\n      address: 10.0.0.{}\n      role: worker\n      zone: zone-a\n",
            100 + i
        ));
    }
    let text = production(&[(
        "  # The registry at the site.",
        &format!("{nodes}  # The registry at the site."),
    )]);
    let l = load(&text);
    let warnings: Vec<&Diagnostic> = l.diagnostics.iter().filter(|d| d.code == Code::CalicoScale).collect();
    assert_eq!(warnings.len(), 1, "{:#?}", l.diagnostics);
    assert!(!warnings[0].is_error() && warnings[0].path == "spec.nodes" && warnings[0].message.contains("54 nodes"));
    let l = load(&production(&[
        FLANNEL,
        (
            "  # The registry at the site.",
            &format!("{nodes}  # The registry at the site."),
        ),
    ]));
    assert!(l.diagnostics.iter().all(|d| d.code != Code::CalicoScale));
    assert!(
        load(example("production").unwrap())
            .diagnostics
            .iter()
            .all(|d| d.code != Code::CalicoScale)
    );
}
