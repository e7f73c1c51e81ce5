//! Which of the catalog's upstream manifests a site's render reads, so the
//! page loads only those (`web/dist/upstream/COPY.js`, one script each)
//! rather than every manifest of every version.

use meshbundle_core::catalog;
use meshbundle_core::spec::Site;

/// The `copy` paths (`upstream/...`, as in `images/catalog.yaml`) of the
/// upstream manifests rendering this site reads, sorted. A site whose
/// versions are not in the catalog needs none (it does not validate).
pub fn needed_copies(site: &Site) -> Vec<&'static str> {
    let Some(needs) = catalog::needs(site) else {
        return Vec::new();
    };
    let mut copies: Vec<&'static str> = catalog::all_copies()
        .into_iter()
        .filter(|f| {
            needs
                .files
                .iter()
                .any(|n| n.url == f.url && n.sha256.as_ref() == Some(&f.sha256))
        })
        .map(|f| f.copy.as_str())
        .collect();
    copies.sort_unstable();
    copies.dedup();
    copies
}

// Native only: it reads the manifests from images/ (wasm32 has no files).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! This crate's core is built without embedded manifests, as in the
    //! browser, so a render reads exactly the copies it is given.
    use std::collections::BTreeMap;

    use meshbundle_core::render::{Inputs, render_valid};
    use meshbundle_core::spec::edit::{EditOp, edit};
    use meshbundle_core::spec::load::load;

    use super::needed_copies;

    fn all() -> BTreeMap<String, Vec<u8>> {
        let images = concat!(env!("CARGO_MANIFEST_DIR"), "/../images/");
        meshbundle_core::catalog::all_copies()
            .into_iter()
            .map(|f| (f.copy.clone(), std::fs::read(format!("{images}{}", f.copy)).unwrap()))
            .collect()
    }

    fn set(text: &str, path: &str, value: serde_json::Value) -> String {
        edit(text, path, &EditOp::Set(value)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The examples, each with both CNIs and every catalogued Istio release,
    /// and with each addon off in turn (on one release).
    fn specs() -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, _, text) in meshbundle_core::examples::EXAMPLES {
            out.push((name.to_string(), text.to_string()));
            let lenient = set(
                text,
                "spec.supportPolicy",
                serde_json::json!({"allowUnsupportedVersions": true, "reason": "every catalogued release"}),
            );
            for cni in ["flannel", "calico"] {
                for istio in meshbundle_core::catalog::catalog().istio_versions() {
                    let t = set(&lenient, "spec.kubernetes.cni", cni.into());
                    let t = set(&t, "spec.istio.version", istio.into());
                    out.push((format!("{name} {cni} istio {istio}"), t.clone()));
                    if istio != meshbundle_core::catalog::catalog().istio_versions()[0] {
                        continue;
                    }
                    for addon in ["prometheus", "grafana", "jaeger", "kiali"] {
                        let mut t = set(&t, &format!("spec.observability.addons.{addon}"), false.into());
                        if addon == "prometheus" {
                            // Alertmanager needs the addon Prometheus.
                            t = set(&t, "spec.observability.alertmanager.enabled", false.into());
                        }
                        out.push((format!("{name} {cni} istio {istio} without {addon}"), t));
                    }
                }
            }
        }
        out
    }

    fn render(text: &str, copies: &BTreeMap<String, Vec<u8>>) -> Result<String, String> {
        let site = load(text).into_validated().map_err(|l| {
            format!(
                "{:?}",
                l.diagnostics.iter().filter(|d| d.is_error()).collect::<Vec<_>>()
            )
        })?;
        let tree = render_valid(
            &site,
            &Inputs {
                secrets: None,
                lock: None,
                upstream: None,
                copies: Some(&copies.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                upgrade_from: None,
                spec_file: Some("meshbundle.yaml"),
                memo: None,
            },
        )
        .map_err(|e| e.to_string())?;
        Ok(tree.digest())
    }

    /// `web/src/example-upstream.json` names the copies each example spec
    /// needs, in the order `meshbundle init` lists the examples: a page that
    /// opens with an example starts loading them while its module unpacks.
    /// `UPDATE_EXAMPLE_UPSTREAM=1` rewrites it.
    #[test]
    fn the_page_knows_what_each_example_needs() {
        let list: Vec<(&str, Vec<&str>)> = meshbundle_core::examples::EXAMPLES
            .iter()
            .map(|(name, _, text)| {
                let site = load(text)
                    .into_validated()
                    .unwrap_or_else(|_| panic!("{name} does not validate"));
                (*name, needed_copies(site.site()))
            })
            .collect();
        let text = serde_json::to_string_pretty(&list).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/src/example-upstream.json");
        if std::env::var_os("UPDATE_EXAMPLE_UPSTREAM").is_some() {
            std::fs::write(path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(committed, text, "{path} is stale: run with UPDATE_EXAMPLE_UPSTREAM=1");
    }

    /// Given only the copies `needed_copies` names, every site renders the
    /// same bytes as with all of them; and each named copy is read (without
    /// it the render fails), so the page loads nothing it does not use.
    #[test]
    fn a_render_reads_exactly_the_needed_copies() {
        let all = all();
        let mut seen = std::collections::BTreeSet::new();
        for (name, text) in specs() {
            let want = render(&text, &all).unwrap_or_else(|e| panic!("{name}: {e}"));
            let site = load(&text).into_validated().unwrap();
            let needed = needed_copies(site.site());
            assert!(!needed.is_empty(), "{name}: needs no manifest");
            let given: BTreeMap<String, Vec<u8>> = all
                .iter()
                .filter(|(k, _)| needed.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(
                given.len(),
                needed.len(),
                "{name}: {needed:?} are not all catalogued copies"
            );
            assert_eq!(
                render(&text, &given).as_deref(),
                Ok(want.as_str()),
                "{name}: {needed:?}"
            );
            // Built beside the CLI (`cargo test --workspace`), core carries its
            // own copies and a missing one cannot fail a render: that half
            // needs the module's own build (`cargo test -p meshbundle-wasm`).
            let embedded = render(&text, &BTreeMap::new()).is_ok();
            for copy in needed.iter().filter(|_| !embedded) {
                let mut less = given.clone();
                less.remove(*copy);
                let err = render(&text, &less).expect_err(&format!("{name}: renders without {copy}"));
                assert!(err.contains(copy), "{name}: {err}");
            }
            seen.extend(needed);
        }
        // Every catalogued copy is needed by some site above.
        assert_eq!(
            seen.len(),
            all.len(),
            "never needed: {:?}",
            all.keys().filter(|k| !seen.contains(k.as_str())).collect::<Vec<_>>()
        );
    }
}
