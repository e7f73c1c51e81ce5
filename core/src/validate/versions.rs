//! The supported version matrix: Kubernetes, kubeadm's configuration API,
//! containerd and Istio, and which combinations work together.

use semver::Version;

use crate::catalog::catalog;
use crate::diag::{Code, Diagnostics};
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
        Some(KubeVersion {
            major: v.major,
            minor: v.minor,
        })
    }

    fn parse_minor(s: &str) -> Option<KubeVersion> {
        let (a, b) = s.split_once('.')?;
        Some(KubeVersion {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
        })
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
            d.error(
                Code::Version,
                "spec.kubernetes.version",
                format!("`{k8s}` is not a version"),
                hint,
            );
            None
        }
        Ok(_) if cat.kubernetes(k8s).is_none() => {
            d.error(
                Code::UnsupportedVersion,
                "spec.kubernetes.version",
                format!("Kubernetes {k8s} is not in this meshbundle's catalog"),
                format!(
                    "choose one of {}: the versions this meshbundle carries (a newer meshbundle carries newer ones)",
                    listed(&cat.kubernetes_versions())
                ),
            );
            // A Kubernetes this meshbundle cannot install feeds no later
            // check: its kubeadm API, proxy mode and version combinations
            // would only add errors that choosing a catalogued one answers.
            None
        }
        Ok(_) => KubeVersion::parse(k8s),
    };

    if let (Some(api), Some(v)) = (spec.kubernetes.kubeadm_api, kv) {
        if api == KubeadmApi::V1beta4 && !v.at_least(1, 31) {
            d.error(
                Code::KubeadmApi,
                "spec.kubernetes.kubeadmApi",
                format!("kubeadm {}.{} does not read kubeadm.k8s.io/v1beta4", v.major, v.minor),
                "remove kubeadmApi so it follows the version, or use v1beta3",
            );
        }
        if api == KubeadmApi::V1beta3 && v.at_least(1, 36) {
            d.error(
                Code::KubeadmApi,
                "spec.kubernetes.kubeadmApi",
                format!(
                    "kubeadm {}.{} no longer reads kubeadm.k8s.io/v1beta3 (removed in 1.36)",
                    v.major, v.minor
                ),
                "remove kubeadmApi to use v1beta4, or write `kubeadmApi: v1beta4`",
            );
        } else if api == KubeadmApi::V1beta3 && v.at_least(1, 31) {
            d.warning(
                Code::KubeadmApi,
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
            Code::VersionMatrix,
            "spec.kubernetes.proxyMode",
            format!(
                "kube-proxy's nftables mode needs Kubernetes 1.31 or later, not {}.{}",
                v.major, v.minor
            ),
            "use `iptables` or `ipvs`, or a newer Kubernetes",
        );
    }

    if spec.kubernetes.proxy_mode == crate::spec::ProxyMode::Ipvs
        && let Some(v) = kv
        && v.at_least(1, 35)
    {
        d.warning(
            Code::Deprecated,
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
            Code::Version,
            "spec.containerd.version",
            format!("`{ctrd}` is not a version"),
            format!("write MAJOR.MINOR.PATCH, one of {}", listed(&cat.containerd_versions())),
        ),
        Ok(v) => {
            if v.major < 1 || (v.major == 1 && v.minor < 7) {
                d.error(
                    Code::UnsupportedVersion,
                    "spec.containerd.version",
                    format!("containerd {ctrd} is end of life"),
                    format!(
                        "use containerd 2.x (or 1.7 for Kubernetes before 1.36): {}",
                        listed(&cat.containerd_versions())
                    ),
                );
            } else if cat.containerd(ctrd).is_none() {
                d.error(
                    Code::UnsupportedVersion,
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
                    Code::VersionMatrix,
                    "spec.containerd.version",
                    format!("Kubernetes {}.{} no longer supports containerd 1.x", k.major, k.minor),
                    "use containerd 2.x; Kubernetes 1.35 was the last release to support containerd 1.x",
                );
            }
        }
    }

    let unsupported = unsupported_combinations(site);
    let allowed = site.allows_unsupported_versions();
    for u in &unsupported {
        if allowed {
            d.warning(
                Code::VersionMatrix,
                u.path,
                format!("{} (allowed by spec.supportPolicy)", u.message),
                format!("{}; the generated README records this", u.hint),
            );
        } else {
            d.error(
                Code::VersionMatrix,
                u.path,
                u.message.clone(),
                format!(
                    "{}; or, to run it knowingly, set `spec.supportPolicy: {{allowUnsupportedVersions: true, reason: \"...\"}}`",
                    u.hint
                ),
            );
        }
    }
    support_policy(site, unsupported.is_empty(), d);

    let istio = &spec.istio.version;
    if cat.istio(istio).is_none() {
        d.error(
            Code::UnsupportedVersion,
            "spec.istio.version",
            format!("Istio {istio} is not in this meshbundle's catalog"),
            format!("choose one of {}", listed(&cat.istio_versions())),
        );
    }
}

/// A version combination upstream does not support together (see
/// [`unsupported_combinations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The field to change.
    pub path: &'static str,
    pub message: String,
    /// What is supported instead.
    pub hint: String,
}

fn in_range(k: KubeVersion, range: &crate::catalog::MinorRange) -> Option<bool> {
    Some(k >= KubeVersion::parse_minor(&range.min)? && k <= KubeVersion::parse_minor(&range.max)?)
}

/// The version combinations of a site that upstream does not support, from
/// the catalog's ranges: Istio on a Kubernetes minor outside its supported
/// range, containerd on a Kubernetes minor outside containerd's. These are
/// errors unless `spec.supportPolicy` allows them, and then warnings that the
/// generated README records. What cannot work at all (a kubeadm API the
/// kubeadm cannot read, containerd 1.x under Kubernetes 1.36) is not here: it
/// stays an error.
pub fn unsupported_combinations(site: &Site) -> Vec<Unsupported> {
    let cat = catalog();
    let spec = &site.spec;
    let mut out = Vec::new();
    // A Kubernetes outside the catalog is an error of its own (see `check`):
    // no combination with it is worth a second one.
    let Some(k) =
        KubeVersion::parse(&spec.kubernetes.version).filter(|_| cat.kubernetes(&spec.kubernetes.version).is_some())
    else {
        return out;
    };
    let kube = format!("{}.{}", k.major, k.minor);
    if let Some(rel) = cat.istio(&spec.istio.version)
        && in_range(k, &rel.kubernetes) == Some(false)
    {
        let fits: Vec<&str> = cat
            .istio
            .iter()
            .filter(|i| in_range(k, &i.kubernetes) == Some(true))
            .map(|i| i.version.as_str())
            .collect();
        let hint = if fits.is_empty() {
            format!(
                "no catalogued Istio supports Kubernetes {kube}; choose a Kubernetes from {} to {}",
                rel.kubernetes.min, rel.kubernetes.max
            )
        } else {
            format!(
                "on Kubernetes {kube} use Istio {} instead, or keep Istio {} with Kubernetes {} to {}",
                fits.join(" or "),
                spec.istio.version,
                rel.kubernetes.min,
                rel.kubernetes.max
            )
        };
        out.push(Unsupported {
            path: "spec.istio.version",
            message: format!(
                "Istio {} supports Kubernetes {} to {}, not {kube}",
                spec.istio.version, rel.kubernetes.min, rel.kubernetes.max
            ),
            hint,
        });
    }
    // containerd 1.x under 1.36 and later is refused outright (see `check`).
    let one_x_removed = spec.containerd.version.starts_with("1.") && k.at_least(1, 36);
    if let Some(rel) = cat.containerd(&spec.containerd.version)
        && !one_x_removed
        && in_range(k, &rel.kubernetes) == Some(false)
    {
        let fits: Vec<&str> = cat
            .containerd
            .iter()
            .filter(|c| in_range(k, &c.kubernetes) == Some(true))
            .map(|c| c.version.as_str())
            .collect();
        let hint = if fits.is_empty() {
            format!("no catalogued containerd supports Kubernetes {kube}")
        } else {
            format!(
                "on Kubernetes {kube} use containerd {} instead, or keep containerd {} with Kubernetes {} to {}",
                fits.join(" or "),
                spec.containerd.version,
                rel.kubernetes.min,
                rel.kubernetes.max
            )
        };
        out.push(Unsupported {
            path: "spec.containerd.version",
            message: format!(
                "containerd {} supports Kubernetes {} to {}, not {kube}",
                spec.containerd.version, rel.kubernetes.min, rel.kubernetes.max
            ),
            hint,
        });
    }
    out
}

/// The longest reason `spec.supportPolicy.reason` may give.
const REASON_MAX: usize = 500;

fn support_policy(site: &Site, all_supported: bool, d: &mut Diagnostics) {
    let Some(p) = &site.spec.support_policy else { return };
    let reason = p.reason.trim();
    if p.allow_unsupported_versions && reason.is_empty() {
        d.error(
            Code::SupportPolicy,
            "spec.supportPolicy.reason",
            "allowUnsupportedVersions needs a reason",
            "say why this site runs versions upstream does not support together, and who decided it; the generated README records it",
        );
    }
    if p.reason.chars().any(char::is_control) {
        d.error(
            Code::SupportPolicy,
            "spec.supportPolicy.reason",
            "the reason has a line break or another control character",
            "write it on one line",
        );
    }
    if p.reason.chars().count() > REASON_MAX {
        d.error(
            Code::SupportPolicy,
            "spec.supportPolicy.reason",
            format!("the reason is longer than {REASON_MAX} characters"),
            "say it in a sentence or two and keep the details in your own records",
        );
    }
    if p.allow_unsupported_versions && all_supported {
        d.warning(
            Code::SupportPolicy,
            "spec.supportPolicy.allowUnsupportedVersions",
            "every version combination of this spec is supported; the override allows nothing",
            "remove spec.supportPolicy, so that a later unsupported change is refused",
        );
    }
    if !p.allow_unsupported_versions && !reason.is_empty() {
        d.warning(
            Code::SupportPolicy,
            "spec.supportPolicy.reason",
            "a reason is given but allowUnsupportedVersions is not `true`, so it allows nothing",
            "set `allowUnsupportedVersions: true` if that is meant, or remove spec.supportPolicy",
        );
    }
}
