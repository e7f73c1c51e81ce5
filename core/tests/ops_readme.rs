//! What the rendered README tells the operator about the site registry and
//! about an etcd restore, for every example site: the sentences an operator
//! acts on, with the names of this site (its registry, its istiod).

use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::Site;

fn sites() -> Vec<(&'static str, Site)> {
    meshbundle_core::examples::names()
        .into_iter()
        .map(|n| {
            (
                n,
                meshbundle_core::spec::load::load(meshbundle_core::examples::example(n).unwrap())
                    .site
                    .unwrap(),
            )
        })
        .collect()
}

fn readme(site: &Site) -> String {
    let tree = render(site, &Inputs::default()).unwrap();
    String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap()
}

/// The README's section under `heading`, up to the next heading of any level.
fn section<'r>(readme: &'r str, heading: &str) -> &'r str {
    let start = readme.find(heading).unwrap_or_else(|| panic!("no {heading}"));
    let rest = &readme[start + heading.len()..];
    &rest[..rest.find("\n#").unwrap_or(rest.len())]
}

/// Whitespace-insensitive: the README wraps its lines.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_registry_must_keep_the_bundles_images_for_the_life_of_the_bundle() {
    for (name, site) in sites() {
        let before = flat(section(&readme(&site), "## Before you start"));
        let registry = &site.spec.registry;
        assert!(
            before.contains(&format!(
                "`meshbundle import site.mbundle --registry {registry}`. Keep them there for the life of the bundle"
            )),
            "{name}: {before}"
        );
        assert!(
            before.contains("until the kubelet's image garbage collection removes it while unused"),
            "{name}: {before}"
        );
        assert!(before.contains("pulls it from the site registry"), "{name}: {before}");
    }
}

#[test]
fn after_a_restore_every_kubelet_and_istiod_restart_and_the_revision_goes_forward() {
    for (name, site) in sites() {
        let restore = flat(section(&readme(&site), "### Backup and restore"));
        assert!(
            restore.contains("Restart the kubelet on **every** other node too (`sudo systemctl restart kubelet`)"),
            "{name}: {restore}"
        );
        let istiod = format!(
            "`kubectl -n istio-system rollout restart deployment/istiod-{}`",
            site.istio_revision()
        );
        assert!(restore.contains(&istiod), "{name}: {istiod} in {restore}");
        assert!(
            restore.contains("--bump-revision --mark-compacted`, the same on every member"),
            "{name}: {restore}"
        );
        // The restart comes after every control-plane node is started, and before the check.
        let start = restore.find("`ops/restore-etcd.sh start`").unwrap();
        let kubelets = restore.find("Restart the kubelet on **every**").unwrap();
        let verify = restore.rfind("`ops/verify.sh`").unwrap();
        assert!(start < kubelets && kubelets < verify, "{name}: {restore}");
    }
}
