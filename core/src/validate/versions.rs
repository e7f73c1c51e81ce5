//! The supported version matrix: Kubernetes, kubeadm's configuration API,
//! containerd and Istio, and which combinations work together.

use semver::Version;

use crate::catalog::catalog;
use crate::diag::Diagnostics;
use crate::spec::{KubeadmApi, Site};

/// A Kubernetes `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u64,
    pub minor: u64,
}

impl KubeVersion {
    pub fn parse(s: &str) -> Option<KubeVersion> {
        let v = Version::parse(s).ok()?;
        Some(KubeVersion { major: v.major, minor: v.minor })
    }

    fn parse_minor(s: &str) -> Option<KubeVersion> {
        let (a, b) = s.split_once('.')?;
        Some(KubeVersion { major: a.parse().ok()?, minor: b.parse().ok()? })
    }

    pub fn at_least(self, major: u64, minor: u64) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

/// The kubeadm configuration API for a Kubernetes version: `v1beta4` from
/// 1.31 (where it became the default), `v1beta3` before.
pub fn kubeadm_api(site: &Site) -> KubeadmApi {
    if let Some(api) = site.spec.kubernetes.kubeadm_api {
        return api;
    }
    match KubeVersion::parse(&site.spec.kubernetes.version) {
        Some(v) if v.at_least(1, 31) => KubeadmApi::V1beta4,
        _ => KubeadmApi::V1beta3,
    }
}

fn listed(versions: &[&str]) -> String {
    versions.join(", ")
}

pub(super) fn check(site: &Site, d: &mut Diagnostics) {
    let cat = catalog();
    let spec = &site.spec;

    let k8s = &spec.kubernetes.version;
    let kv = match Version::parse(k8s) {
        Err(_) => {
            let hint = if k8s.starts_with('v') {
                format!("write it without the `v`: `{}`", k8s.trim_start_matches('v'))
            } else {
                format!("write MAJOR.MINOR.PATCH, one of {}", listed(&cat.kubernetes_versions()))
            };
            d.error("version", "spec.kubernetes.version", format!("`{k8s}` is not a version"), hint);
            None
        }
        Ok(_) if cat.kubernetes(k8s).is_none() => {
            d.error(
                "unsupported-version",
                "spec.kubernetes.version",
                format!("Kubernetes {k8s} is not in this meshbundle's catalog"),
                format!("choose one of {} (or add it to images/catalog.yaml)", listed(&cat.kubernetes_versions())),
            );
            KubeVersion::parse(k8s)
        }
        Ok(_) => KubeVersion::parse(k8s),
    };

    if let (Some(api), Some(v)) = (spec.kubernetes.kubeadm_api, kv) {
        if api == KubeadmApi::V1beta4 && !v.at_least(1, 31) {
            d.error(
                "kubeadm-api",
                "spec.kubernetes.kubeadmApi",
                format!("kubeadm {}.{} does not read kubeadm.k8s.io/v1beta4", v.major, v.minor),
                "remove kubeadmApi so it follows the version, or use v1beta3",
            );
        }
        if api == KubeadmApi::V1beta3 && v.at_least(1, 36) {
            d.error(
                "kubeadm-api",
                "spec.kubernetes.kubeadmApi",
                format!("kubeadm {}.{} no longer reads kubeadm.k8s.io/v1beta3 (removed in 1.36)", v.major, v.minor),
                "remove kubeadmApi to use v1beta4, or write `kubeadmApi: v1beta4`",
            );
        } else if api == KubeadmApi::V1beta3 && v.at_least(1, 31) {
            d.warning(
                "kubeadm-api",
                "spec.kubernetes.kubeadmApi",
                "kubeadm.k8s.io/v1beta3 is deprecated since Kubernetes 1.31 and removed in 1.36",
                "remove kubeadmApi to use v1beta4",
            );
        }
    }

    if spec.kubernetes.proxy_mode == crate::spec::ProxyMode::Nftables
        && let Some(v) = kv
        && !v.at_least(1, 31)
    {
        d.error(
            "version-matrix",
            "spec.kubernetes.proxyMode",
            format!("kube-proxy's nftables mode needs Kubernetes 1.31 or later, not {}.{}", v.major, v.minor),
            "use `iptables` or `ipvs`, or a newer Kubernetes",
        );
    }

    if spec.kubernetes.proxy_mode == crate::spec::ProxyMode::Ipvs
        && let Some(v) = kv
        && v.at_least(1, 35)
    {
        d.warning(
            "deprecated",
            "spec.kubernetes.proxyMode",
            format!(
                "kube-proxy's ipvs mode is deprecated since Kubernetes 1.35 (this spec runs {}.{}) and will be removed",
                v.major, v.minor
            ),
            "use `nftables` (or `iptables`)",
        );
    }

    let ctrd = &spec.containerd.version;
    match Version::parse(ctrd) {
        Err(_) => d.error(
            "version",
            "spec.containerd.version",
            format!("`{ctrd}` is not a version"),
            format!("write MAJOR.MINOR.PATCH, one of {}", listed(&cat.containerd_versions())),
        ),
        Ok(v) => {
            if v.major < 1 || (v.major == 1 && v.minor < 7) {
                d.error(
                    "unsupported-version",
                    "spec.containerd.version",
                    format!("containerd {ctrd} is end of life"),
                    format!("use containerd 2.x (or 1.7 for Kubernetes before 1.36): {}", listed(&cat.containerd_versions())),
                );
            } else if cat.containerd(ctrd).is_none() {
                d.error(
                    "unsupported-version",
                    "spec.containerd.version",
                    format!("containerd {ctrd} is not in this meshbundle's catalog"),
                    format!("choose one of {}", listed(&cat.containerd_versions())),
                );
            }
            if v.major == 1
                && let Some(k) = kv
                && k.at_least(1, 36)
            {
                d.error(
                    "version-matrix",
                    "spec.containerd.version",
                    format!("Kubernetes {}.{} no longer supports containerd 1.x", k.major, k.minor),
                    "use containerd 2.x; Kubernetes 1.35 was the last release to support containerd 1.x",
                );
            }
        }
    }

    let istio = &spec.istio.version;
    match cat.istio(istio) {
        None => d.error(
            "unsupported-version",
            "spec.istio.version",
            format!("Istio {istio} is not in this meshbundle's catalog"),
            format!("choose one of {}", listed(&cat.istio_versions())),
        ),
        Some(rel) => {
            if let (Some(k), Some(min), Some(max)) =
                (kv, KubeVersion::parse_minor(&rel.kubernetes.min), KubeVersion::parse_minor(&rel.kubernetes.max))
                && (k < min || k > max)
            {
                d.warning(
                    "version-matrix",
                    "spec.istio.version",
                    format!(
                        "Istio {istio} is supported on Kubernetes {} to {}, not {}.{}",
                        rel.kubernetes.min, rel.kubernetes.max, k.major, k.minor
                    ),
                    "pick an Istio release that supports this Kubernetes version, or expect untested behaviour",
                );
            }
        }
    }
}
