//! `spec.istio.upgrade`: the stable and canary revision tags and the canary
//! namespaces, validated with their field paths, and what render makes of
//! them (the namespaces' labels, the tags the scripts set).

use meshbundle_core::examples::example;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;

fn errors(upgrade: &str) -> Vec<(String, String)> {
    let text = example("production").unwrap().replace(
        "    upgrade:\n      stableTag: prod-stable\n      canaryTag: prod-canary\n",
        &format!("    namespaces: [billing]\n    upgrade:\n{upgrade}"),
    );
    assert!(
        text.contains("namespaces: [billing]"),
        "the example's upgrade block moved"
    );
    let site = load(&text).site.unwrap();
    meshbundle_core::validate::check(&site)
        .into_iter()
        .filter(|d| d.is_error())
        .map(|d| (d.path, d.message))
        .collect()
}

fn has(errs: &[(String, String)], path: &str, words: &str) -> bool {
    errs.iter().any(|(p, m)| p == path && m.contains(words))
}

#[test]
fn the_production_tags_and_a_mesh_namespace_as_canary_are_valid() {
    assert!(
        errors("      stableTag: prod-stable\n      canaryTag: prod-canary\n      canaryNamespaces: [billing, shop]\n")
            .is_empty()
    );
}

#[test]
fn bad_tags_and_canary_namespaces_are_refused_with_their_paths() {
    let e = errors("      stableTag: Prod_Stable\n      canaryTag: default\n");
    assert!(
        has(&e, "spec.istio.upgrade.stableTag", "not a valid revision tag name"),
        "{e:?}"
    );
    assert!(
        has(
            &e,
            "spec.istio.upgrade.canaryTag",
            "`default` is Istio's default revision tag"
        ),
        "{e:?}"
    );

    let e = errors("      stableTag: same\n      canaryTag: same\n");
    assert!(
        has(&e, "spec.istio.upgrade.canaryTag", "the canary tag is the stable tag"),
        "{e:?}"
    );

    // A tag named like the revision: istioctl refuses it.
    let e = errors("      stableTag: 1-30-3\n");
    assert!(
        has(&e, "spec.istio.upgrade.stableTag", "also the revision's name"),
        "{e:?}"
    );

    let e = errors("      canaryNamespaces: [billing, payments, billing, Bad]\n");
    assert!(
        has(
            &e,
            "spec.istio.upgrade.canaryNamespaces[1]",
            "`payments` is not a mesh namespace"
        ),
        "{e:?}"
    );
    assert!(
        has(&e, "spec.istio.upgrade.canaryNamespaces[2]", "listed twice"),
        "{e:?}"
    );
    assert!(
        has(&e, "spec.istio.upgrade.canaryNamespaces[3]", "not a valid namespace"),
        "{e:?}"
    );
}

#[test]
fn the_mesh_namespaces_carry_the_stable_tag_and_the_scripts_use_the_spec_tags() {
    let text = example("production")
        .unwrap()
        .replace("stableTag: prod-stable", "stableTag: live")
        .replace("canaryTag: prod-canary", "canaryTag: trial");
    let site = load(&text).site.unwrap();
    let tree = render(&site, &Inputs::default()).unwrap();
    let file = |p: &str| String::from_utf8(tree.get(p).unwrap().bytes.clone()).unwrap();
    let ns: Vec<serde_json::Value> = file("manifests/namespaces.yaml")
        .split("\n---\n")
        .skip(1)
        .map(|d| meshbundle_core::yaml::from_str::<serde_json::Value>(d).unwrap())
        .collect();
    assert!(ns.len() >= 4, "{ns:?}");
    let shop = ns.iter().find(|d| d["metadata"]["name"] == "shop").unwrap();
    assert_eq!(
        shop["metadata"]["labels"]["istio.io/rev"], "live",
        "the tag, not the revision 1-30-3"
    );
    assert!(
        ns.iter()
            .all(|d| d["metadata"]["labels"].get("istio-injection").is_none())
    );
    assert!(file("install.sh").contains("for tag in live trial default; do"));
    let up = file("ops/upgrade-canary.sh");
    assert!(up.contains("STABLE=live\n") && up.contains("CANARY=trial\n"), "{up}");
}
