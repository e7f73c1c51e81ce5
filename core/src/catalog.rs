//! The pinned catalog (`images/catalog.yaml`): which component versions are
//! supported, which images and files each needs, and where they come from.
//! Also the upstream manifests carried in the source tree, so rendering works
//! with no network.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::digest::Digest;
use crate::image::ImageRef;
use crate::spec::{Architecture, Cni, Site};

/// The catalog as JSON, written by `build.rs` from `images/catalog.yaml`.
const CATALOG_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog.json"));

/// Upstream files carried in the source tree, by their `copy` path in the catalog.
#[cfg(not(feature = "embedded-upstream"))]
const COPIES: &[(&str, &[u8])] = &[];
#[cfg(feature = "embedded-upstream")]
const COPIES: &[(&str, &[u8])] = &[
    (
        "upstream/flannel/kube-flannel-v0.27.4.yml",
        include_bytes!("../../images/upstream/flannel/kube-flannel-v0.27.4.yml"),
    ),
    (
        "upstream/metallb/metallb-native-v0.16.1.yaml",
        include_bytes!("../../images/upstream/metallb/metallb-native-v0.16.1.yaml"),
    ),
    (
        "upstream/calico/calico-vxlan-v3.31.7.yaml",
        include_bytes!("../../images/upstream/calico/calico-vxlan-v3.31.7.yaml"),
    ),
    (
        "upstream/istio-addons/1.30.3/prometheus.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.30.3/prometheus.yaml"),
    ),
    (
        "upstream/istio-addons/1.30.3/grafana.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.30.3/grafana.yaml"),
    ),
    (
        "upstream/istio-addons/1.30.3/jaeger.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.30.3/jaeger.yaml"),
    ),
    (
        "upstream/istio-addons/1.30.3/kiali.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.30.3/kiali.yaml"),
    ),
    (
        "upstream/istio-addons/1.29.6/prometheus.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.29.6/prometheus.yaml"),
    ),
    (
        "upstream/istio-addons/1.29.6/grafana.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.29.6/grafana.yaml"),
    ),
    (
        "upstream/istio-addons/1.29.6/jaeger.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.29.6/jaeger.yaml"),
    ),
    (
        "upstream/istio-addons/1.29.6/kiali.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.29.6/kiali.yaml"),
    ),
    (
        "upstream/istio-addons/1.28.10/prometheus.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.28.10/prometheus.yaml"),
    ),
    (
        "upstream/istio-addons/1.28.10/grafana.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.28.10/grafana.yaml"),
    ),
    (
        "upstream/istio-addons/1.28.10/jaeger.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.28.10/jaeger.yaml"),
    ),
    (
        "upstream/istio-addons/1.28.10/kiali.yaml",
        include_bytes!("../../images/upstream/istio-addons/1.28.10/kiali.yaml"),
    ),
];

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Catalog {
    pub kubernetes: Vec<KubernetesRelease>,
    pub containerd: Vec<ContainerdRelease>,
    pub cni_plugins: String,
    pub flannel: Flannel,
    /// MetalLB, for `spec.loadBalancer.provider: metallb`.
    pub metallb: Metallb,
    /// The blackbox exporter, for the certificate expiry probes.
    pub blackbox_exporter: BlackboxExporter,
    /// Calico, for `spec.kubernetes.cni: calico`.
    pub calico: Calico,
    pub metrics_server: Vec<MetricsServerRelease>,
    pub istio: Vec<IstioRelease>,
    pub alertmanager: AlertmanagerRelease,
    pub binaries: BTreeMap<String, BinarySource>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesRelease {
    pub version: String,
    pub etcd: String,
    pub coredns: String,
    pub pause: String,
    pub crictl: String,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerdRelease {
    pub version: String,
    pub runc: String,
    /// The Kubernetes minors containerd supports this release on.
    pub kubernetes: MinorRange,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flannel {
    pub version: String,
    pub manifest: UpstreamFile,
    pub images: Vec<String>,
}

/// MetalLB's native manifest (controller, speaker, CRDs, webhook) and the
/// images it names.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metallb {
    pub version: String,
    pub manifest: UpstreamFile,
    pub images: Vec<String>,
}

/// Calico's manifest install: one upstream manifest and the images it names.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calico {
    pub version: String,
    pub manifest: UpstreamFile,
    pub images: Vec<String>,
}

/// The Prometheus blackbox exporter, which probes the certificates the
/// expiry alerts watch; meshbundle renders its manifests itself.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlackboxExporter {
    pub version: String,
    pub images: Vec<String>,
}

/// A metrics-server release: its image, the upstream commit its objects are
/// rendered from, and the Kubernetes minors it supports.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsServerRelease {
    pub version: String,
    pub commit: String,
    pub kubernetes: MinorRange,
    pub images: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioRelease {
    pub version: String,
    pub kubernetes: MinorRange,
    pub images: Vec<String>,
    pub addons: BTreeMap<String, UpstreamFile>,
}

/// Alertmanager: its release and image (no upstream manifest; render writes
/// the objects).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerRelease {
    pub version: String,
    pub images: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MinorRange {
    pub min: String,
    pub max: String,
}

/// An upstream file pinned by sha256, with a copy in the source tree.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamFile {
    pub url: String,
    #[serde(with = "crate::digest::bare")]
    pub sha256: Digest,
    pub copy: String,
    #[serde(default)]
    pub images: Vec<String>,
}

impl UpstreamFile {
    /// The copy carried in the library; empty without the `embedded-upstream` feature.
    pub fn bytes(&self) -> &'static [u8] {
        COPIES
            .iter()
            .find(|(p, _)| *p == self.copy)
            .map(|(_, b)| *b)
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BinarySource {
    pub url: String,
    pub checksum: String,
}

/// The catalog built into this meshbundle.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| serde_json::from_str(CATALOG_JSON).unwrap_or_else(|e| panic!("{}", unfit(CATALOG_JSON, &e))))
}

/// Why the catalog's JSON does not read: `build.rs` checks only that
/// `images/catalog.yaml` is YAML, so a value of the wrong type is found here.
/// The JSON is one line: the text around the place stands for the field.
fn unfit(json: &str, e: &serde_json::Error) -> String {
    let at = e.column().saturating_sub(1).min(json.len());
    let from = (0..=at.saturating_sub(60))
        .rev()
        .find(|&i| json.is_char_boundary(i))
        .unwrap_or(0);
    let to = (at..=json.len().min(at + 20))
        .rev()
        .find(|&i| json.is_char_boundary(i))
        .unwrap_or(at);
    format!(
        "images/catalog.yaml does not fit the catalog near `…{}…`: {e}; \
         `cargo test -p meshbundle-core catalog_json_is_the_yaml` names its line and field",
        &json[from..to]
    )
}

impl Catalog {
    pub fn kubernetes(&self, version: &str) -> Option<&KubernetesRelease> {
        self.kubernetes.iter().find(|k| k.version == version)
    }

    pub fn containerd(&self, version: &str) -> Option<&ContainerdRelease> {
        self.containerd.iter().find(|c| c.version == version)
    }

    pub fn istio(&self, version: &str) -> Option<&IstioRelease> {
        self.istio.iter().find(|i| i.version == version)
    }

    /// The metrics-server release for a Kubernetes version (`MAJOR.MINOR.PATCH`).
    pub fn metrics_server(&self, kubernetes: &str) -> Option<&MetricsServerRelease> {
        let v = semver::Version::parse(kubernetes).ok()?;
        let minor = |s: &str| {
            s.split_once('.')
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        };
        self.metrics_server.iter().find(|m| {
            matches!((minor(&m.kubernetes.min), minor(&m.kubernetes.max)), (Some(lo), Some(hi)) if (v.major, v.minor) >= lo && (v.major, v.minor) <= hi)
        })
    }

    pub fn kubernetes_versions(&self) -> Vec<&str> {
        self.kubernetes.iter().map(|k| k.version.as_str()).collect()
    }

    pub fn istio_versions(&self) -> Vec<&str> {
        self.istio.iter().map(|k| k.version.as_str()).collect()
    }

    pub fn containerd_versions(&self) -> Vec<&str> {
        self.containerd.iter().map(|k| k.version.as_str()).collect()
    }
}

/// Every upstream file the catalog names, by `copy` path: what a build without
/// the embedded copies must be given.
pub fn all_copies() -> Vec<&'static UpstreamFile> {
    let cat = catalog();
    let mut v = vec![&cat.flannel.manifest, &cat.calico.manifest, &cat.metallb.manifest];
    for i in &cat.istio {
        v.extend(i.addons.values());
    }
    v
}

/// The name of MetalLB's manifest in the lock and the bundle.
pub const METALLB_MANIFEST: &str = "manifest/metallb";

/// What a site needs from upstream, for its versions and choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Images by their upstream reference (`registry/repository:tag`), sorted.
    pub images: Vec<NeededImage>,
    /// Files by name, sorted.
    pub files: Vec<NeededFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeededImage {
    pub upstream: ImageRef,
    /// Which part of the install uses it, e.g. `kubeadm`, `istio`, `addon/grafana`.
    pub used_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeededFile {
    /// Name in the lock and the bundle, e.g. `kubeadm-amd64`, `manifest/flannel`.
    pub name: String,
    pub url: String,
    /// Upstream sha256 file, when the project publishes one.
    pub checksum_url: Option<String>,
    /// sha256 known from the catalog (manifests carried in the tree).
    pub sha256: Option<Digest>,
    /// The copy carried in the source tree, when there is one.
    pub copy: Option<&'static [u8]>,
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// The images and files a valid site needs. Returns `None` when a version is
/// not in the catalog (validation reports that).
pub fn needs(site: &Site) -> Option<Needs> {
    let cat = catalog();
    let spec = &site.spec;
    let k8s = cat.kubernetes(&spec.kubernetes.version)?;
    let ctrd = cat.containerd(&spec.containerd.version)?;
    let istio = cat.istio(&spec.istio.version)?;

    let mut images = Vec::new();
    let mut add = |r: &str, by: &str| {
        if let Ok(upstream) = ImageRef::parse(r) {
            images.push(NeededImage {
                upstream,
                used_by: by.to_string(),
            });
        }
    };
    let kv = format!("v{}", spec.kubernetes.version);
    for c in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
    ] {
        add(&format!("registry.k8s.io/{c}:{kv}"), "kubeadm");
    }
    add(&format!("registry.k8s.io/etcd:{}", k8s.etcd), "kubeadm");
    add(&format!("registry.k8s.io/coredns/coredns:{}", k8s.coredns), "kubeadm");
    add(&format!("registry.k8s.io/pause:{}", k8s.pause), "kubeadm");
    let (cni_images, cni_manifest) = match spec.kubernetes.cni {
        Cni::Flannel => (&cat.flannel.images, &cat.flannel.manifest),
        Cni::Calico => (&cat.calico.images, &cat.calico.manifest),
    };
    let cni_name = spec.kubernetes.cni.as_str();
    for i in cni_images {
        add(i, &format!("cni/{cni_name}"));
    }
    for i in &istio.images {
        add(i, "istio");
    }
    if site.uses_metallb() {
        for i in &cat.metallb.images {
            add(i, "load-balancer/metallb");
        }
    }
    let addons = &spec.observability.addons;
    for (name, on) in [
        ("prometheus", addons.prometheus),
        ("grafana", addons.grafana),
        ("jaeger", addons.jaeger),
        ("kiali", addons.kiali),
    ] {
        if let (true, Some(f)) = (on, istio.addons.get(name)) {
            for i in &f.images {
                add(i, &format!("addon/{name}"));
            }
        }
    }
    if crate::render::blackbox_on(site) {
        for i in &cat.blackbox_exporter.images {
            add(i, "blackbox-exporter");
        }
    }
    if spec.observability.alertmanager.enabled {
        for i in &cat.alertmanager.images {
            add(i, "alertmanager");
        }
    }
    if spec.observability.metrics_server.enabled
        && let Some(m) = cat.metrics_server(&spec.kubernetes.version)
    {
        for i in &m.images {
            add(i, "metrics-server");
        }
    }
    for extra in &spec.images {
        add(&extra.name, "spec.images");
    }
    images.sort();
    images.dedup_by(|a, b| a.upstream == b.upstream);

    let mut files = Vec::new();
    let vars_for = |arch: Architecture| {
        vec![
            ("kubernetes", spec.kubernetes.version.clone()),
            ("containerd", spec.containerd.version.clone()),
            ("runc", ctrd.runc.clone()),
            ("cniPlugins", cat.cni_plugins.clone()),
            ("crictl", k8s.crictl.clone()),
            ("istio", spec.istio.version.clone()),
            ("arch", arch.as_str().to_string()),
        ]
    };
    for arch in &spec.architectures {
        let vars = vars_for(*arch);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (name, src) in &cat.binaries {
            files.push(NeededFile {
                name: format!("{name}-{}", arch.as_str()),
                url: fill(&src.url, &vars),
                checksum_url: Some(fill(&src.checksum, &vars)),
                sha256: None,
                copy: None,
            });
        }
    }
    let mut manifest = |name: String, f: &UpstreamFile| {
        files.push(NeededFile {
            name,
            url: f.url.clone(),
            checksum_url: None,
            sha256: Some(f.sha256.clone()),
            copy: Some(f.bytes()),
        });
    };
    manifest(format!("manifest/{cni_name}"), cni_manifest);
    if site.uses_metallb() {
        manifest(METALLB_MANIFEST.into(), &cat.metallb.manifest);
    }
    for (name, on) in [
        ("prometheus", addons.prometheus),
        ("grafana", addons.grafana),
        ("jaeger", addons.jaeger),
        ("kiali", addons.kiali),
    ] {
        if let (true, Some(f)) = (on, istio.addons.get(name)) {
            manifest(format!("manifest/addon-{name}"), f);
        }
    }
    for f in &spec.files {
        files.push(NeededFile {
            name: f.name.clone(),
            url: f.url.clone(),
            checksum_url: None,
            sha256: f.sha256.clone(),
            copy: None,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Some(Needs { images, files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The JSON `build.rs` writes reads to the catalog the YAML reads to.
    #[test]
    fn catalog_json_is_the_yaml() {
        let yaml: Catalog =
            crate::yaml::from_str(include_str!("../../images/catalog.yaml")).expect("the catalog reads");
        assert_eq!(format!("{yaml:?}"), format!("{:?}", catalog()));
    }

    /// A value of the wrong type (which only the types find) is named by
    /// the text around it, with the test that names its YAML line.
    #[test]
    fn a_catalog_of_the_wrong_shape_says_where() {
        let at = CATALOG_JSON.find("\"etcd\":\"").expect("an etcd version");
        let end = at + CATALOG_JSON[at + 8..].find('"').unwrap() + 9;
        let bad = format!("{}\"etcd\":[3]{}", &CATALOG_JSON[..at], &CATALOG_JSON[end..]);
        let e = serde_json::from_str::<Catalog>(&bad).unwrap_err();
        let said = unfit(&bad, &e);
        assert!(said.contains("\"etcd\":[3]"), "{said}");
        assert!(said.contains("invalid type: sequence"), "{said}");
        assert!(said.contains("catalog_json_is_the_yaml"), "{said}");
    }

    #[test]
    fn catalog_parses_and_copies_match_their_sha256() {
        let cat = catalog();
        assert!(!cat.kubernetes.is_empty());
        let mut files: Vec<&UpstreamFile> = vec![&cat.flannel.manifest, &cat.calico.manifest, &cat.metallb.manifest];
        for i in &cat.istio {
            files.extend(i.addons.values());
        }
        for f in files {
            let bytes = f.bytes();
            assert!(!bytes.is_empty(), "{} is not carried", f.copy);
            assert_eq!(hex::encode(Sha256::digest(bytes)), f.sha256.hex(), "{}", f.copy);
        }
        assert_eq!(COPIES.len(), 15, "every carried copy is named in the catalog");
        assert_eq!(all_copies().len(), 15);
    }

    #[test]
    fn every_catalogued_kubernetes_version_has_one_metrics_server() {
        let cat = catalog();
        for k in &cat.kubernetes {
            let m = cat
                .metrics_server(&k.version)
                .unwrap_or_else(|| panic!("no metrics-server for Kubernetes {}", k.version));
            assert_eq!(
                m.images,
                [format!("registry.k8s.io/metrics-server/metrics-server:v{}", m.version)]
            );
            assert_eq!(m.commit.len(), 40, "a full commit");
            let covering = cat.metrics_server.iter().filter(|r| {
                let v = semver::Version::parse(&k.version).unwrap();
                let minor = |s: &str| {
                    s.split_once('.')
                        .map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()))
                        .unwrap()
                };
                (v.major, v.minor) >= minor(&r.kubernetes.min) && (v.major, v.minor) <= minor(&r.kubernetes.max)
            });
            assert_eq!(covering.count(), 1, "one release per Kubernetes version: {}", k.version);
        }
        assert_eq!(cat.metrics_server("1.36.5").unwrap().version, "0.8.1");
        assert_eq!(cat.metrics_server("1.31.4").unwrap().version, "0.8.1");
        assert_eq!(cat.metrics_server("1.30.14").unwrap().version, "0.7.2");
        assert!(cat.metrics_server("1.26.0").is_none());
        assert!(cat.metrics_server("1.37.0").is_none());
    }

    #[test]
    fn catalog_images_are_exactly_the_manifests_images() {
        let cat = catalog();
        let mut files: Vec<&UpstreamFile> = vec![];
        for i in &cat.istio {
            files.extend(i.addons.values());
        }
        for f in files {
            let text = std::str::from_utf8(f.bytes()).unwrap();
            let mut found: Vec<String> = crate::image::images_in_manifest(text)
                .into_iter()
                .map(|r| ImageRef::parse(&r).unwrap().to_string())
                .collect();
            found.sort();
            found.dedup();
            let mut listed: Vec<String> = f
                .images
                .iter()
                .map(|r| ImageRef::parse(r).unwrap().to_string())
                .collect();
            listed.sort();
            assert_eq!(found, listed, "{}", f.copy);
        }
        let text = std::str::from_utf8(cat.flannel.manifest.bytes()).unwrap();
        let mut found = crate::image::images_in_manifest(text);
        found.sort();
        found.dedup();
        let mut listed = cat.flannel.images.clone();
        listed.sort();
        assert_eq!(found, listed);
        let text = std::str::from_utf8(cat.metallb.manifest.bytes()).unwrap();
        let mut found = crate::image::images_in_manifest(text);
        found.sort();
        found.dedup();
        let mut listed = cat.metallb.images.clone();
        listed.sort();
        assert_eq!(found, listed, "MetalLB's images are exactly its manifest's");
        let text = std::str::from_utf8(cat.calico.manifest.bytes()).unwrap();
        let mut found = crate::image::images_in_manifest(text);
        found.sort();
        found.dedup();
        let mut listed = cat.calico.images.clone();
        listed.sort();
        assert_eq!(found, listed);
    }
}
