//! Planning an upgrade (`meshbundle upgrade plan`): where a site is (the spec
//! and lock of its previous bundle) and where it should go (the new spec, and
//! its lock when there is one) give a typed [`Plan`]: each version change,
//! whether the path is allowed and, when it is not, why and which version to
//! go through; the ordered steps, node by node; and what the new bundle
//! carries beyond the old one, with its size as a differential bundle
//! (`build --since`).
//!
//! The rules, from kubeadm's and Istio's upgrade policies:
//! - Kubernetes moves one minor at a time (`kubeadm upgrade apply` refuses to
//!   skip one), patches freely, never back; the control plane goes first,
//!   node by node, then the workers, so a kubelet is never newer than the API
//!   server.
//! - Istio moves by canary revision across at most two minors, never back;
//!   the new revision runs beside the old one until `ops/remove-revision.sh`.
//! - containerd never goes back; 1.x → 2.x migrates the configuration
//!   (version 2 → 3) on each node before its kubelet restarts.
//! - The new Kubernetes must be in the new Istio's and containerd's ranges,
//!   and the Istio running while Kubernetes moves must support both ends;
//!   when only one order works, the plan takes it.
//! - What a cluster cannot change in place (its CNI, pod and service
//!   networks, cluster domain, API endpoint, nodes and their roles) is
//!   refused.
//!
//! Pure: no I/O. The caller reads the bundles, locks and the image cache.

mod carry;
mod steps;

use std::collections::BTreeMap;

use semver::Version;
use serde::Serialize;

use crate::catalog::catalog;
use crate::digest::Digest;
use crate::image::ImageRef;
use crate::lock::Lock;
use crate::spec::Site;

pub use carry::{Carry, CarryFile, CarryImage, CarryState, Size};
pub use steps::Step;

pub const PLAN_API_VERSION: &str = "meshbundle.dev/v1alpha1";
pub const PLAN_KIND: &str = "UpgradePlan";

/// One end of the upgrade: a site spec and the lock it was (or will be) built with.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub site: &'a Site,
    pub lock: Option<&'a Lock>,
}

/// What the previous bundle carried, from its seal.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    /// The previous bundle's id.
    pub id: String,
    pub images: Vec<CarriedImage>,
    pub files: Vec<CarriedFile>,
    /// When the previous bundle was itself differential: the blobs its base
    /// carried, which the site holds too.
    pub base_blobs: Vec<Digest>,
}

#[derive(Debug, Clone)]
pub struct CarriedImage {
    /// The upstream reference it was locked from.
    pub name: ImageRef,
    pub digest: Digest,
    /// Its manifests, configs and layers.
    pub blobs: Vec<Digest>,
}

#[derive(Debug, Clone)]
pub struct CarriedFile {
    pub name: String,
    pub sha256: Digest,
    pub size: u64,
}

/// An image whose manifests are at hand (in the local image cache): the
/// digest it was read for, and every blob with its size.
#[derive(Debug, Clone)]
pub struct KnownImage {
    pub digest: Digest,
    /// Manifests (the top one and any children), then configs and layers.
    pub blobs: Vec<(Digest, u64)>,
}

#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub from: Side<'a>,
    pub to: Side<'a>,
    /// The previous bundle's seal, when planning from one.
    pub carried: Option<&'a Carried>,
    /// Images whose blobs are known, by upstream reference (`registry/repository:tag`).
    pub known: &'a BTreeMap<ImageRef, KnownImage>,
    /// The new spec's diagnostics as it was loaded; when none are given, the
    /// new site is validated here.
    pub to_diagnostics: Option<&'a [crate::diag::Diagnostic]>,
}

/// The plan. `--format json` prints it as it is: the field names below are
/// the stable interface (camelCase).
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub site: String,
    /// Whether the path is allowed: no refusal.
    pub allowed: bool,
    pub from: Versions,
    pub to: Versions,
    /// Every version change, core components first, then what the catalog carries.
    pub changes: Vec<Change>,
    /// Why the path is refused, each with the path to take.
    pub refusals: Vec<Refusal>,
    /// What `spec.supportPolicy` allows although upstream does not support it.
    pub warnings: Vec<String>,
    /// The ordered steps (empty when refused).
    pub steps: Vec<Step>,
    /// What the new bundle carries beyond the old one.
    pub carry: Carry,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    pub kubernetes: String,
    pub containerd: String,
    pub istio: String,
    /// The Istio revision (`1-30-3`).
    pub revision: String,
    pub cni: String,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    Major,
    Minor,
    Patch,
    Downgrade,
    /// Another tag that is not a version (or not comparable).
    Changed,
    Added,
    Removed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Major => "major",
            ChangeKind::Minor => "minor",
            ChangeKind::Patch => "patch",
            ChangeKind::Downgrade => "downgrade",
            ChangeKind::Changed => "changed",
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// `kubernetes`, `containerd`, `runc`, `istio`, or what uses an image
    /// (`cni/calico`, `addon/grafana`, `kubeadm/etcd`, ...).
    pub component: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub kind: ChangeKind,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    /// What is refused: `kubernetes`, `istio`, `containerd`, or a field path of the new spec.
    pub subject: String,
    pub reason: String,
    /// What to do instead.
    pub path: String,
    /// The version to go through first, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// `major.minor` of a version.
fn minor_of(v: &str) -> Option<(u64, u64)> {
    let v = Version::parse(v).ok()?;
    Some((v.major, v.minor))
}

fn parse_minor(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// How a version moved, by semver when both are versions (a leading `v` is allowed).
pub fn kind_of(from: &str, to: &str) -> ChangeKind {
    let p = |s: &str| Version::parse(s.trim_start_matches('v')).ok();
    match (p(from), p(to)) {
        (Some(a), Some(b)) if b < a => ChangeKind::Downgrade,
        (Some(a), Some(b)) if a.major != b.major => ChangeKind::Major,
        (Some(a), Some(b)) if a.minor != b.minor => ChangeKind::Minor,
        (Some(_), Some(_)) => ChangeKind::Patch,
        _ => ChangeKind::Changed,
    }
}

fn versions(site: &Site) -> Versions {
    let s = &site.spec;
    Versions {
        kubernetes: s.kubernetes.version.clone(),
        containerd: s.containerd.version.clone(),
        istio: s.istio.version.clone(),
        revision: site.istio_revision(),
        cni: s.kubernetes.cni.as_str().to_string(),
    }
}

/// The newest catalog Kubernetes release of a minor.
pub fn newest_kubernetes(minor: (u64, u64)) -> Option<&'static str> {
    newest(catalog().kubernetes.iter().map(|k| k.version.as_str()), minor)
}

/// The newest catalog Istio release of a minor.
pub fn newest_istio(minor: (u64, u64)) -> Option<&'static str> {
    newest(catalog().istio.iter().map(|k| k.version.as_str()), minor)
}

fn newest<'a>(all: impl Iterator<Item = &'a str>, minor: (u64, u64)) -> Option<&'a str> {
    all.filter(|v| minor_of(v) == Some(minor))
        .max_by_key(|v| Version::parse(v).ok())
}

/// The Kubernetes minors an Istio release supports, from the catalog.
fn istio_range(istio: &str) -> Option<((u64, u64), (u64, u64))> {
    let rel = catalog().istio(istio)?;
    Some((parse_minor(&rel.kubernetes.min)?, parse_minor(&rel.kubernetes.max)?))
}

fn in_range(k: (u64, u64), r: ((u64, u64), (u64, u64))) -> bool {
    k >= r.0 && k <= r.1
}

fn range_text(r: ((u64, u64), (u64, u64))) -> String {
    format!("{}.{} to {}.{}", r.0.0, r.0.1, r.1.0, r.1.1)
}

/// Why containerd `ctrd` cannot run Kubernetes `k`, if it cannot, and
/// whether that is a support range (which `spec.supportPolicy` may waive)
/// rather than something that cannot work at all.
fn containerd_refuses(ctrd: &str, k: (u64, u64)) -> Option<(String, bool)> {
    let v = Version::parse(ctrd).ok()?;
    if v.major < 2 && k >= (1, 36) {
        return Some((
            format!(
                "Kubernetes {}.{} no longer supports containerd 1.x (1.35 was the last release to)",
                k.0, k.1
            ),
            false,
        ));
    }
    let rel = catalog().containerd(ctrd)?;
    let range = (parse_minor(&rel.kubernetes.min)?, parse_minor(&rel.kubernetes.max)?);
    if !in_range(k, range) {
        return Some((
            format!("containerd {ctrd} supports Kubernetes {}", range_text(range)),
            true,
        ));
    }
    None
}

/// Builds the plan.
pub fn plan(input: &Input) -> Plan {
    let from = input.from.site;
    let to = input.to.site;
    let mut refusals = Vec::new();
    let mut changes = Vec::new();
    let (fv, tv) = (versions(from), versions(to));

    if from.metadata.name != to.metadata.name {
        refusals.push(Refusal {
            subject: "metadata.name".into(),
            reason: format!(
                "the previous bundle is for site `{}`, the new spec for `{}`",
                from.metadata.name, to.metadata.name
            ),
            path: "plan from the previous bundle of the same site".into(),
            via: None,
        });
    }
    in_place(from, to, &mut refusals);
    let k8s = kubernetes_rule(&fv.kubernetes, &tv.kubernetes, &mut refusals);
    let policy = to.allows_unsupported_versions();
    let mut warnings = Vec::new();
    let ctrd = containerd_rule(
        &fv.containerd,
        &tv.containerd,
        &tv.kubernetes,
        policy,
        &mut refusals,
        &mut warnings,
    );
    let istio = istio_rule(from, to, &mut refusals);
    let istio_first = order(
        &fv,
        &tv,
        k8s.is_some(),
        istio.is_some(),
        policy,
        &mut refusals,
        &mut warnings,
    );
    // The rest of what the new spec says is judged as validation judges it;
    // the versions are judged above, as a path rather than a place.
    let diagnostics = match input.to_diagnostics {
        Some(d) => d.to_vec(),
        None => crate::validate::check(to),
    };
    for d in diagnostics.into_iter().filter(|d| d.is_error()) {
        if [
            "spec.kubernetes.version",
            "spec.istio.version",
            "spec.containerd.version",
        ]
        .contains(&d.path.as_str())
        {
            continue;
        }
        refusals.push(Refusal {
            subject: d.path.clone(),
            reason: format!("the new spec does not validate: {}", d.message),
            path: if d.hint.is_empty() {
                "fix the new spec (meshbundle validate)".into()
            } else {
                d.hint.clone()
            },
            via: None,
        });
    }

    for (component, a, b) in [
        ("kubernetes", &fv.kubernetes, &tv.kubernetes),
        ("containerd", &fv.containerd, &tv.containerd),
    ] {
        if a != b {
            changes.push(Change {
                component: component.into(),
                from: Some(a.clone()),
                to: Some(b.clone()),
                kind: kind_of(a, b),
            });
        }
    }
    let runc = |v: &str| catalog().containerd(v).map(|c| c.runc.clone());
    if let (Some(a), Some(b)) = (runc(&fv.containerd), runc(&tv.containerd))
        && a != b
    {
        changes.push(Change {
            component: "runc".into(),
            kind: kind_of(&a, &b),
            from: Some(a),
            to: Some(b),
        });
    }
    if fv.istio != tv.istio {
        changes.push(Change {
            component: "istio".into(),
            from: Some(fv.istio.clone()),
            to: Some(tv.istio.clone()),
            kind: kind_of(&fv.istio, &tv.istio),
        });
    }
    let carry = carry::carry(input, &mut changes);

    let allowed = refusals.is_empty();
    let steps = if allowed {
        steps::steps(
            input,
            &changes,
            k8s.is_some() || ctrd.is_some(),
            istio.is_some(),
            istio_first,
        )
    } else {
        Vec::new()
    };
    Plan {
        api_version: PLAN_API_VERSION,
        kind: PLAN_KIND,
        site: to.metadata.name.clone(),
        allowed,
        from: fv,
        to: tv,
        changes,
        refusals,
        warnings,
        steps,
        carry,
    }
}

/// What a running cluster cannot change by an upgrade.
fn in_place(from: &Site, to: &Site, refusals: &mut Vec<Refusal>) {
    let (a, b) = (&from.spec.kubernetes, &to.spec.kubernetes);
    let mut fixed = |path: &str, old: String, new: String, why: &str| {
        if old != new {
            refusals.push(Refusal {
                subject: path.into(),
                reason: format!("{path} changes from `{old}` to `{new}`: {why}"),
                path: format!("keep `{old}` for this site (a new value means a new cluster)"),
                via: None,
            });
        }
    };
    fixed(
        "spec.kubernetes.cni",
        a.cni.as_str().into(),
        b.cni.as_str().into(),
        "a cluster cannot change its CNI in place",
    );
    fixed(
        "spec.kubernetes.podSubnet",
        a.pod_subnet.to_string(),
        b.pod_subnet.to_string(),
        "every pod address and the CNI's pool depend on it",
    );
    fixed(
        "spec.kubernetes.serviceSubnet",
        a.service_subnet.to_string(),
        b.service_subnet.to_string(),
        "every Service's ClusterIP and the API server's certificate depend on it",
    );
    fixed(
        "spec.kubernetes.clusterDomain",
        a.cluster_domain.to_string(),
        b.cluster_domain.to_string(),
        "DNS names, certificates and mesh identities depend on it",
    );
    fixed(
        "spec.kubernetes.controlPlaneEndpoint",
        a.control_plane_endpoint
            .clone()
            .unwrap_or_else(|| "(the first control-plane node)".into()),
        b.control_plane_endpoint
            .clone()
            .unwrap_or_else(|| "(the first control-plane node)".into()),
        "every kubeconfig and the API server's certificate name it",
    );
    let nodes = |s: &Site| {
        s.spec
            .nodes
            .iter()
            .map(|n| format!("{} ({}, {})", n.name, n.role.as_str(), n.address))
            .collect::<Vec<_>>()
    };
    let (na, nb) = (nodes(from), nodes(to));
    if na != nb {
        refusals.push(Refusal {
            subject: "spec.nodes".into(),
            reason: format!(
                "the nodes change (from {} to {}): an upgrade moves the same nodes",
                na.join(", "),
                nb.join(", ")
            ),
            path: "upgrade with the nodes the site has, then add or remove nodes in a bundle of their own".into(),
            via: None,
        });
    }
}

/// Kubernetes: one minor at a time, patches freely, never back. Returns the
/// target when Kubernetes moves.
fn kubernetes_rule(from: &str, to: &str, refusals: &mut Vec<Refusal>) -> Option<String> {
    if from == to {
        return None;
    }
    let cat = catalog();
    let refuse = |reason: String, path: String, via: Option<String>| Refusal {
        subject: "kubernetes".into(),
        reason,
        path,
        via,
    };
    let (Ok(a), Ok(b)) = (Version::parse(from), Version::parse(to)) else {
        refusals.push(refuse(
            format!("`{from}` → `{to}` is not a pair of versions"),
            "write MAJOR.MINOR.PATCH".into(),
            None,
        ));
        return None;
    };
    if b < a {
        refusals.push(refuse(
            format!("Kubernetes {from} → {to} is a downgrade: kubeadm upgrades only forward"),
            format!("keep {from} (or a newer release); going back means restoring the etcd snapshot taken before the upgrade"),
            None,
        ));
        return None;
    }
    if cat.kubernetes(to).is_none() {
        let same_minor: Vec<&str> = cat
            .kubernetes_versions()
            .into_iter()
            .filter(|v| minor_of(v) == Some((b.major, b.minor)))
            .collect();
        refusals.push(refuse(
            format!("Kubernetes {to} is not in this meshbundle's catalog"),
            if same_minor.is_empty() {
                format!("choose one of {}", cat.kubernetes_versions().join(", "))
            } else {
                format!(
                    "choose a catalogued {}.{} release: {}",
                    b.major,
                    b.minor,
                    same_minor.join(", ")
                )
            },
            None,
        ));
        return None;
    }
    if b.major != a.major || b.minor > a.minor + 1 {
        let next = (a.major, a.minor + 1);
        let via = newest_kubernetes(next);
        let path = match via {
            Some(v) => format!("go through {}.{}.x first: upgrade to {v}, then to {to}", next.0, next.1),
            None => format!(
                "go through {}.{}.x first (this catalog has no {}.{} release)",
                next.0, next.1, next.0, next.1
            ),
        };
        refusals.push(refuse(
            format!(
                "Kubernetes {from} → {to} skips {}: kubeadm upgrades one minor at a time",
                if b.minor == a.minor + 2 {
                    format!("{}.{}", next.0, next.1)
                } else {
                    format!("{} minors", b.minor.saturating_sub(a.minor + 1))
                }
            ),
            path,
            via.map(str::to_string),
        ));
        return None;
    }
    Some(to.to_string())
}

/// containerd: never back, and able to run the new Kubernetes.
fn containerd_rule(
    from: &str,
    to: &str,
    k8s_to: &str,
    policy: bool,
    refusals: &mut Vec<Refusal>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let cat = catalog();
    let refuse = |reason: String, path: String| Refusal {
        subject: "containerd".into(),
        reason,
        path,
        via: None,
    };
    if let Some(k) = minor_of(k8s_to)
        && let Some((why, waivable)) = containerd_refuses(to, k)
    {
        let fits: Vec<&str> = cat
            .containerd_versions()
            .into_iter()
            .filter(|v| containerd_refuses(v, k).is_none())
            .collect();
        let reason = format!("containerd {to} cannot run Kubernetes {k8s_to}: {why}");
        if waivable && policy {
            warnings.push(format!("{reason} (allowed by spec.supportPolicy)"));
        } else {
            refusals.push(refuse(
                reason,
                format!(
                    "move containerd in the same upgrade to one that runs it ({}); the plan migrates its configuration",
                    fits.join(", ")
                ),
            ));
        }
    }
    if from == to {
        return None;
    }
    if cat.containerd(to).is_none() {
        refusals.push(refuse(
            format!("containerd {to} is not in this meshbundle's catalog"),
            format!("choose one of {}", cat.containerd_versions().join(", ")),
        ));
        return None;
    }
    if kind_of(from, to) == ChangeKind::Downgrade {
        refusals.push(refuse(
            format!(
                "containerd {from} → {to} is a downgrade: its configuration and its content store move only forward"
            ),
            format!("keep containerd {from}"),
        ));
        return None;
    }
    Some(to.to_string())
}

/// Istio: by canary revision, at most two minors, never back, to a release the catalog has.
fn istio_rule(from: &Site, to: &Site, refusals: &mut Vec<Refusal>) -> Option<String> {
    let (a_s, b_s) = (&from.spec.istio.version, &to.spec.istio.version);
    let (old_rev, new_rev) = (from.istio_revision(), to.istio_revision());
    let refuse = |reason: String, path: String, via: Option<String>| Refusal {
        subject: "istio".into(),
        reason,
        path,
        via,
    };
    if a_s == b_s {
        if old_rev != new_rev {
            refusals.push(refuse(
                format!("the revision changes from {old_rev} to {new_rev} with Istio staying at {a_s}"),
                format!("keep revision {old_rev}: a canary revision comes with a new Istio release"),
                None,
            ));
        }
        return None;
    }
    let cat = catalog();
    let (Ok(a), Ok(b)) = (Version::parse(a_s), Version::parse(b_s)) else {
        refusals.push(refuse(
            format!("`{a_s}` → `{b_s}` is not a pair of versions"),
            "write MAJOR.MINOR.PATCH".into(),
            None,
        ));
        return None;
    };
    if b < a {
        refusals.push(refuse(
            format!("Istio {a_s} → {b_s} is a downgrade"),
            format!(
                "keep {a_s}; to go back after a canary upgrade, run ops/rollback-canary.sh of the new bundle while revision {old_rev} still runs"
            ),
            None,
        ));
        return None;
    }
    if old_rev == new_rev {
        refusals.push(refuse(
            format!("Istio {a_s} → {b_s} keeps revision {old_rev}: a canary upgrade installs the new release as a revision of its own beside the old one"),
            "remove spec.istio.revision to name the revision after the version, or set a new one".into(),
            None,
        ));
    }
    let in_catalog = cat.istio(b_s).is_some();
    let listed = cat.istio_versions().join(", ");
    let gap = if b.major == a.major {
        b.minor - a.minor
    } else {
        u64::MAX
    };
    if gap > 2 {
        // The newest catalogued release at most two minors ahead, short of the target.
        let via = cat
            .istio
            .iter()
            .filter_map(|r| Version::parse(&r.version).ok())
            .filter(|v| v.major == a.major && v.minor > a.minor && v.minor <= a.minor + 2 && v.minor < b.minor)
            .max();
        let not_here = if in_catalog {
            String::new()
        } else {
            format!("; Istio {b_s} is not in this meshbundle's catalog either ({listed})")
        };
        let path = match &via {
            Some(v) => format!(
                "go through {v} first: upgrade {a_s} → {v}, remove revision {old_rev}, then {v} → {b_s}{}",
                if in_catalog {
                    String::new()
                } else {
                    " once a meshbundle catalog carries it".into()
                }
            ),
            None => format!(
                "go through an Istio release at most two minors ahead of {a_s} (this catalog has none: {listed})"
            ),
        };
        refusals.push(refuse(
            if b.major == a.major {
                format!("Istio {a_s} → {b_s} crosses {gap} minors: a canary upgrade spans at most two{not_here}")
            } else {
                format!(
                    "Istio {a_s} → {b_s} changes the major version: a canary upgrade spans at most two minors{not_here}"
                )
            },
            path,
            via.map(|v| v.to_string()),
        ));
        return None;
    }
    if !in_catalog {
        refusals.push(refuse(
            format!("Istio {b_s} is not in this meshbundle's catalog"),
            format!("choose one of {listed}"),
            None,
        ));
        return None;
    }
    Some(b_s.clone())
}

/// Whether the new Kubernetes sits in the new Istio's range, and which goes
/// first so that the Istio running while Kubernetes moves supports both ends.
/// Returns true when Istio goes first.
fn order(
    fv: &Versions,
    tv: &Versions,
    k8s_moves: bool,
    istio_moves: bool,
    policy: bool,
    refusals: &mut Vec<Refusal>,
    warnings: &mut Vec<String>,
) -> bool {
    let (Some(k_old), Some(k_new)) = (minor_of(&fv.kubernetes), minor_of(&tv.kubernetes)) else {
        return false;
    };
    let Some(new_range) = istio_range(&tv.istio) else {
        return false;
    };
    if !in_range(k_new, new_range) && policy {
        warnings.push(format!(
            "Istio {} supports Kubernetes {}, not {} (allowed by spec.supportPolicy)",
            tv.istio,
            range_text(new_range),
            tv.kubernetes
        ));
        return false;
    }
    if !in_range(k_new, new_range) {
        refusals.push(Refusal {
            subject: "istio".into(),
            reason: format!(
                "Istio {} supports Kubernetes {}, not {}",
                tv.istio,
                range_text(new_range),
                tv.kubernetes
            ),
            path: "choose an Istio release whose range holds the new Kubernetes, or a Kubernetes in its range".into(),
            via: None,
        });
        return false;
    }
    if !(k8s_moves && istio_moves) {
        return false;
    }
    let old_range = istio_range(&fv.istio);
    let old_runs_new_k8s = old_range.is_some_and(|r| in_range(k_new, r));
    let new_runs_old_k8s = in_range(k_old, new_range);
    match (old_runs_new_k8s, new_runs_old_k8s) {
        (true, _) => false,
        (false, true) => true,
        (false, false) if policy => {
            warnings.push(format!(
                "no order keeps a supported Istio while Kubernetes moves from {} to {} (allowed by spec.supportPolicy)",
                fv.kubernetes, tv.kubernetes
            ));
            false
        }
        (false, false) => {
            refusals.push(Refusal {
                subject: "istio".into(),
                reason: format!(
                    "no order works: Istio {} does not support Kubernetes {}{}, and Istio {} does not support Kubernetes {}",
                    fv.istio,
                    tv.kubernetes,
                    old_range.map(|r| format!(" (it supports {})", range_text(r))).unwrap_or_default(),
                    tv.istio,
                    fv.kubernetes
                ),
                path: format!(
                    "upgrade in two bundles: first Istio to a release that supports both Kubernetes {}.{} and {}.{}, then Kubernetes",
                    k_old.0, k_old.1, k_new.0, k_new.1
                ),
                via: None,
            });
            false
        }
    }
}
