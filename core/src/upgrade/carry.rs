//! What the new bundle carries beyond the old one: each image by digest and
//! each file by sha256, added, changed, unchanged or removed, and the bytes a
//! differential bundle (`build --since`) carries: the files the site lacks
//! (sizes from the new lock) and the image blobs the site lacks (sizes from
//! the manifests at hand; otherwise known after build).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Change, ChangeKind, Input, kind_of};
use crate::catalog::needs;
use crate::digest::Digest;
use crate::image::ImageRef;

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum CarryState {
    /// New to the site.
    Added,
    /// The same name at another digest or sha256.
    Changed,
    /// The site holds it already: not carried again.
    Unchanged,
    /// The old bundle carried it and the new site no longer needs it (it stays
    /// at the site until what uses it is gone).
    Removed,
}

impl CarryState {
    pub fn as_str(self) -> &'static str {
        match self {
            CarryState::Added => "added",
            CarryState::Changed => "changed",
            CarryState::Unchanged => "unchanged",
            CarryState::Removed => "removed",
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CarryImage {
    /// The upstream reference (`registry/repository:tag`).
    pub name: String,
    pub state: CarryState,
    /// What uses it (`istio`, `addon/grafana`, ...); empty for a removed image.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub used_by: String,
    /// The digest the new lock pins (none without a new lock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The digest the site holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_digest: Option<Digest>,
    /// The old image of the same repository it replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Bytes the differential bundle carries for it (blobs the site lacks);
    /// none when not known before the build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CarryFile {
    pub name: String,
    pub state: CarryState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_sha256: Option<Digest>,
    /// Bytes the differential bundle carries for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Size {
    /// Bytes of the files carried, when every one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Bytes of the image blobs carried, when every one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<u64>,
    /// Both, when both are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Images and files whose bytes are known only after the build.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub known_after_build: Vec<String>,
    /// Whether some image blobs of the site are unknown (planned from a lock
    /// without the old images at hand), so the image bytes may be fewer.
    pub at_most: bool,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Carry {
    /// The previous bundle, when planned from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Whether the new spec is locked (digests and sizes known).
    pub locked: bool,
    pub images: Vec<CarryImage>,
    pub files: Vec<CarryFile>,
    /// Of a differential bundle (`build --since`), besides its seal, the
    /// rendered tree and the meshbundle binary.
    pub size: Size,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Carry {
    pub fn count(&self, state: CarryState) -> (usize, usize) {
        (
            self.images.iter().filter(|i| i.state == state).count(),
            self.files.iter().filter(|f| f.state == state).count(),
        )
    }
}

struct OldImage {
    name: ImageRef,
    digest: Option<Digest>,
}

/// Images tied to the Kubernetes and Istio versions themselves: their change
/// is already the version's.
fn follows_version(r: &ImageRef) -> bool {
    let last = r.repository.rsplit('/').next().unwrap_or_default();
    (r.registry == "registry.k8s.io"
        && [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kube-proxy",
        ]
        .contains(&last))
        || (r.repository.starts_with("istio/") && ["pilot", "proxyv2"].contains(&last))
}

pub(super) fn carry(input: &Input, changes: &mut Vec<Change>) -> Carry {
    let mut out = Carry {
        since: input.carried.map(|c| c.id.clone()),
        locked: input.to.lock.is_some(),
        ..Default::default()
    };
    let Some(needed) = needs(input.to.site) else {
        out.notes.push(
            "the new spec names versions this meshbundle's catalog lacks, so what its bundle carries is not known"
                .into(),
        );
        return out;
    };

    // What the site holds.
    let mut old_images: Vec<OldImage> = Vec::new();
    let mut old_blobs: BTreeSet<Digest> = BTreeSet::new();
    let mut old_files: Vec<(String, Digest, String)> = Vec::new();
    let mut blobs_unknown = false;
    match (input.carried, input.from.lock) {
        (Some(c), lock) => {
            for i in &c.images {
                old_images.push(OldImage {
                    name: i.name.clone(),
                    digest: Some(i.digest.clone()),
                });
                old_blobs.insert(i.digest.clone());
                old_blobs.extend(i.blobs.iter().cloned());
            }
            old_blobs.extend(c.base_blobs.iter().cloned());
            for f in &c.files {
                let url = lock
                    .and_then(|l| l.file(&f.name))
                    .map(|l| l.url.clone())
                    .unwrap_or_default();
                old_files.push((f.name.clone(), f.sha256.clone(), url));
            }
        }
        (None, Some(lock)) => {
            for i in &lock.images {
                old_images.push(OldImage {
                    name: i.name.clone(),
                    digest: Some(i.site_digest().clone()),
                });
                match input.known.get(&i.name).filter(|k| k.digest == *i.site_digest()) {
                    Some(k) => old_blobs.extend(k.blobs.iter().map(|b| b.0.clone())),
                    None => blobs_unknown = true,
                }
            }
            for f in &lock.files {
                old_files.push((f.name.clone(), f.sha256.clone(), f.url.clone()));
            }
        }
        (None, None) => {
            out.notes
                .push("the site's lock is not known: everything counts as added".into());
            blobs_unknown = true;
        }
    }
    let old_shas: BTreeSet<&Digest> = old_files.iter().map(|f| &f.1).collect();

    // Images.
    let mut counted: BTreeSet<Digest> = BTreeSet::new();
    let mut image_bytes = Some(0u64);
    let mut version_moves: Vec<(String, String, Option<String>, Option<String>)> = Vec::new();
    let needed_names: BTreeSet<ImageRef> = needed.images.iter().map(|n| n.upstream.without_digest()).collect();
    let mut replaced: BTreeSet<ImageRef> = BTreeSet::new();
    for n in &needed.images {
        let name = n.upstream.without_digest();
        let digest = input
            .to
            .lock
            .and_then(|l| l.image(&name))
            .map(|l| l.site_digest().clone());
        let same = old_images.iter().find(|o| o.name == name);
        let replaces = if same.is_none() {
            old_images
                .iter()
                .find(|o| {
                    !needed_names.contains(&o.name)
                        && o.name.registry == n.upstream.registry
                        && o.name.repository == n.upstream.repository
                })
                .map(|o| o.name.clone())
        } else {
            None
        };
        let state = match (same, &digest) {
            (Some(o), Some(d)) if o.digest.as_ref() != Some(d) => CarryState::Changed,
            (Some(_), _) => CarryState::Unchanged,
            (None, _) => CarryState::Added,
        };
        let bytes = if state == CarryState::Unchanged {
            Some(0)
        } else {
            match (&digest, input.known.get(&name)) {
                (Some(d), Some(k)) if k.digest == *d => {
                    let mut sum = 0;
                    for (b, size) in &k.blobs {
                        if !old_blobs.contains(b) && counted.insert(b.clone()) {
                            sum += size;
                        }
                    }
                    Some(sum)
                }
                _ => None,
            }
        };
        match bytes {
            Some(b) => image_bytes = image_bytes.map(|t| t + b),
            None => {
                image_bytes = None;
                out.size.known_after_build.push(name.to_string());
            }
        }
        if !follows_version(&n.upstream) {
            let tag = n.upstream.tag.clone();
            match (&replaces, state) {
                (Some(old), _) => {
                    version_moves.push((n.used_by.clone(), short(&n.upstream), old.tag.clone(), tag));
                }
                (None, CarryState::Added) => version_moves.push((n.used_by.clone(), short(&n.upstream), None, tag)),
                _ => {}
            }
        }
        let old_digest = same.and_then(|o| o.digest.clone());
        replaced.extend(replaces.clone());
        out.images.push(CarryImage {
            name: name.to_string(),
            state,
            used_by: n.used_by.clone(),
            digest,
            old_digest,
            replaces: replaces.map(|r| r.to_string()),
            bytes,
        });
    }
    for o in &old_images {
        if needed_names.contains(&o.name) {
            continue;
        }
        if !replaced.contains(&o.name) && !follows_version(&o.name) {
            version_moves.push((String::new(), short(&o.name), o.name.tag.clone(), None));
        }
        out.images.push(CarryImage {
            name: o.name.to_string(),
            state: CarryState::Removed,
            used_by: String::new(),
            digest: None,
            old_digest: o.digest.clone(),
            replaces: None,
            bytes: None,
        });
    }
    // Without the site's images, every image would look new: no component changes to tell.
    if !old_images.is_empty() {
        changes.extend(component_changes(version_moves));
    }

    // Files.
    let mut file_bytes = Some(0u64);
    for f in &needed.files {
        let new = input.to.lock.and_then(|l| l.file(&f.name));
        let old = old_files.iter().find(|o| o.0 == f.name);
        let sha256 = new.map(|n| n.sha256.clone());
        let state = match (old, new) {
            (None, _) => CarryState::Added,
            (Some(o), Some(n)) if o.1 != n.sha256 => CarryState::Changed,
            (Some(_), Some(_)) => CarryState::Unchanged,
            // Unlocked: judged by where it comes from.
            (Some(o), None) if !o.2.is_empty() && o.2 != f.url => CarryState::Changed,
            (Some(_), None) => CarryState::Unchanged,
        };
        let bytes = match new {
            Some(n) if old_shas.contains(&n.sha256) => Some(0),
            Some(n) => Some(n.size),
            None if state == CarryState::Unchanged => Some(0),
            None => None,
        };
        match bytes {
            Some(b) => file_bytes = file_bytes.map(|t| t + b),
            None => {
                file_bytes = None;
                out.size.known_after_build.push(f.name.clone());
            }
        }
        out.files.push(CarryFile {
            name: f.name.clone(),
            state,
            sha256,
            old_sha256: old.map(|o| o.1.clone()),
            bytes,
        });
    }
    let needed_files: BTreeSet<&str> = needed.files.iter().map(|f| f.name.as_str()).collect();
    for o in old_files.iter().filter(|o| !needed_files.contains(o.0.as_str())) {
        out.files.push(CarryFile {
            name: o.0.clone(),
            state: CarryState::Removed,
            sha256: None,
            old_sha256: Some(o.1.clone()),
            bytes: None,
        });
    }

    out.size.files = file_bytes;
    out.size.images = image_bytes;
    out.size.total = file_bytes.zip(image_bytes).map(|(a, b)| a + b);
    out.size.at_most = blobs_unknown && image_bytes.is_some_and(|b| b > 0);
    if input.to.lock.is_none() {
        out.notes
            .push("the new spec is not locked: lock it (meshbundle lock) to know digests, checksums and sizes".into());
    } else if !out.size.known_after_build.is_empty() {
        out.notes.push(
            "image bytes are known after the build (or once the new images are in the local image cache, e.g. after meshbundle image pull or build)"
                .into(),
        );
    }
    out
}

/// The last segment of an image's repository (`calico/node` → `node`).
fn short(r: &ImageRef) -> String {
    r.repository.rsplit('/').next().unwrap_or_default().to_string()
}

/// One image's move: who uses it, its short name, the old and new tags.
type Move = (String, String, Option<String>, Option<String>);
/// An image's short name, with its old and new tags.
type Tags = (String, Option<String>, Option<String>);

/// One change per component whose images all move alike (`cni/calico
/// v3.30.0 → v3.31.7`), else one per image (`addon/prometheus/prometheus`).
fn component_changes(moves: Vec<Move>) -> Vec<Change> {
    let mut by: BTreeMap<String, Vec<Tags>> = BTreeMap::new();
    for (used_by, short, from, to) in moves {
        by.entry(used_by).or_default().push((short, from, to));
    }
    let mut out = Vec::new();
    for (used_by, list) in by {
        let alike = list.iter().all(|m| m.1 == list[0].1 && m.2 == list[0].2);
        let kind = |from: &Option<String>, to: &Option<String>| match (from, to) {
            (Some(a), Some(b)) => kind_of(a, b),
            (None, _) => ChangeKind::Added,
            (_, None) => ChangeKind::Removed,
        };
        if alike && !used_by.is_empty() && used_by != "kubeadm" {
            out.push(Change {
                component: used_by.clone(),
                kind: kind(&list[0].1, &list[0].2),
                from: list[0].1.clone(),
                to: list[0].2.clone(),
            });
        } else {
            for (short, from, to) in list {
                let component = if used_by.is_empty() {
                    short
                } else {
                    format!("{used_by}/{short}")
                };
                out.push(Change {
                    component,
                    kind: kind(&from, &to),
                    from,
                    to,
                });
            }
        }
    }
    out
}
