//! The lock (`meshbundle.lock`): every image the site needs pinned to a
//! digest and every file to a sha256. Written by `meshbundle lock` on a
//! connected host; read by render and build.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::image::ImageRef;

pub const LOCK_API_VERSION: &str = "meshbundle.dev/v1alpha1";
pub const LOCK_KIND: &str = "Lock";

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lock {
    #[schemars(extend("const" = LOCK_API_VERSION))]
    pub api_version: String,
    #[schemars(extend("const" = LOCK_KIND))]
    pub kind: String,
    /// Images, sorted by name.
    #[serde(default)]
    pub images: Vec<LockedImage>,
    /// Files, sorted by name.
    #[serde(default)]
    pub files: Vec<LockedFile>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedImage {
    /// The reference it was resolved from, e.g. `registry.k8s.io/pause:3.10`:
    /// checked as an image reference when read, written normalised.
    pub name: ImageRef,
    /// Digest of what the tag named when locked (an index for multi-arch
    /// images): what `skopeo inspect` reports.
    pub digest: Digest,
    /// Media type of what `digest` names.
    /// (Left out by locks written before media types were recorded.)
    #[serde(default, skip_serializing_if = "crate::image::MediaType::is_empty")]
    pub media_type: crate::image::MediaType,
    /// For an index: the platforms carried, each with its manifest digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<LockedPlatform>,
    /// When only some platforms of an index are carried: the digest of the
    /// index that lists just those, which the site pulls by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_digest: Option<Digest>,
    /// Where it came from when not a registry: `oci:DIR`, `oci-archive:FILE`, `docker-archive:FILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedPlatform {
    /// `os/architecture[/variant]`, e.g. `linux/amd64` (checked when read).
    pub platform: crate::image::Platform,
    pub digest: Digest,
}

/// Whether a lock file name is a relative path of `[A-Za-z0-9._-]` segments
/// that are not `.` or `..` (e.g. `kubeadm-amd64`, `manifest/flannel`).
pub fn is_file_name(s: &str) -> bool {
    s.len() <= 200
        && s.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        })
}

fn file_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if is_file_name(&s) {
        Ok(s)
    } else {
        let shown: String = s.chars().take(80).flat_map(char::escape_debug).collect();
        Err(serde::de::Error::custom(format!(
            "`{shown}` is not a file name: use letters, digits, `.`, `_`, `-` and `/` between names (no `..`)"
        )))
    }
}

fn file_name_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "maxLength": 200,
        "pattern": "^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+)(?:/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+))*$",
        "description": "A relative path of names of letters, digits, `.`, `_` and `-`, none `.` or `..`."
    })
}

impl LockedImage {
    /// The digest the site pulls the image by.
    pub fn site_digest(&self) -> &Digest {
        self.carried_digest.as_ref().unwrap_or(&self.digest)
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedFile {
    /// Name in the bundle, e.g. `kubeadm-amd64` or `manifest/flannel`
    /// (checked when read: it becomes a path).
    #[serde(deserialize_with = "file_name")]
    #[schemars(schema_with = "file_name_schema")]
    pub name: String,
    pub url: String,
    /// The bare 64 hex digits.
    #[serde(with = "crate::digest::bare")]
    #[schemars(schema_with = "crate::digest::bare::schema")]
    pub sha256: Digest,
    pub size: u64,
}

impl Lock {
    pub fn new() -> Self {
        Lock {
            api_version: LOCK_API_VERSION.into(),
            kind: LOCK_KIND.into(),
            images: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The entry of an image, by the reference it was resolved from
    /// (without a digest: `registry/repository:tag`).
    pub fn image(&self, name: &ImageRef) -> Option<&LockedImage> {
        self.images.iter().find(|i| i.name == *name)
    }

    pub fn file(&self, name: &str) -> Option<&LockedFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// What this lock lacks of what a site needs, in the order of `needs`:
    /// each image not pinned (`image REF (used by WHAT)`) and each file not
    /// pinned or pinned for another URL (`file NAME`). Empty when the lock
    /// covers the site.
    pub fn lacks(&self, needs: &crate::catalog::Needs) -> Vec<String> {
        let mut v: Vec<String> = needs
            .images
            .iter()
            .filter(|i| self.image(&i.upstream.without_digest()).is_none())
            .map(|i| format!("image {} (used by {})", i.upstream.tagged(), i.used_by))
            .collect();
        for f in &needs.files {
            match self.file(&f.name) {
                None => v.push(format!("file {}", f.name)),
                Some(l) if l.url != f.url => v.push(format!(
                    "file {} (pinned for {}, the spec needs {})",
                    f.name, l.url, f.url
                )),
                Some(_) => {}
            }
        }
        v
    }

    /// Sorts entries so the file is stable and diff-friendly: images by
    /// their name as written (the text, not the parts, so the order is the
    /// one a reader of the file sees).
    pub fn sort(&mut self) {
        self.images.sort_by_cached_key(|i| i.name.to_string());
        self.files.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// Why a lock cannot be read: shown as `LINE:COL: FIELD: MESSAGE` when the
/// place is known (see [`crate::yaml::YamlError`]).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
}

/// Reads a lock file. Every digest is checked as it is read (a lock whose
/// `sha256` is not 64 lower-case hex digits is refused, naming the line and
/// field), and so is every tag (none but `!!str`).
pub fn parse(text: &str) -> Result<Lock, LockError> {
    let (lock, positions) = crate::yaml::from_str_located::<Lock>(text)?;
    // At the field that is not a lock's: `kind` before `apiVersion`.
    let (wrong, value) = if lock.kind != LOCK_KIND {
        ("kind", &lock.kind)
    } else if lock.api_version != LOCK_API_VERSION {
        ("apiVersion", &lock.api_version)
    } else {
        return Ok(lock);
    };
    let (line, column) = positions.find(wrong).unwrap_or((0, 0));
    Err(LockError::Yaml(crate::yaml::YamlError {
        line,
        column,
        path: wrong.to_string(),
        message: format!("not a meshbundle lock ({wrong} `{value}`)"),
    }))
}

/// Writes a lock file: sorted, with a header, so it diffs well.
pub fn write(lock: &Lock) -> Result<String, LockError> {
    let mut l = lock.clone();
    l.sort();
    let body = crate::yaml::to_string(&l)?;
    Ok(format!(
        "# meshbundle.lock: every image pinned to a digest and every file to a sha256.\n\
         # Written by `meshbundle lock`; commit it beside meshbundle.yaml.\n{body}"
    ))
}
