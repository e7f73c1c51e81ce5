//! The seal: what a bundle holds, and the digests that prove it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seal {
    pub format: String,
    /// The meshbundle version that built it.
    pub meshbundle: String,
    pub site: String,
    /// The site spec, as written.
    pub spec: String,
    /// The lock, as written; absent for a bundle built without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// Digest of the rendered tree, as `meshbundle render` prints it.
    pub tree_digest: String,
    pub secrets: SecretsInfo,
    pub images: Vec<SealImage>,
    pub files: Vec<SealFile>,
    pub certificates: Vec<SealCert>,
    /// What the bundle needs but does not carry.
    #[serde(default, skip_serializing_if = "NotCarried::is_empty")]
    pub not_carried: NotCarried,
    /// For a differential bundle: the bundle or lock it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
    pub entries: Vec<SealEntry>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretsInfo {
    /// `none` (rendered without secrets), `encrypted` (private keys sealed
    /// with age), or `withheld` (certificates only, no private key).
    pub private_keys: String,
    /// The age recipients the private keys are encrypted to (`passphrase` for a passphrase).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealImage {
    /// The upstream reference it was locked from.
    pub name: String,
    /// The reference the site uses: site registry, repository, tag and digest.
    pub site: String,
    pub digest: String,
    pub media_type: String,
    /// Every manifest of the image (top first).
    pub manifests: Vec<String>,
    /// Configs and layers.
    pub blobs: Vec<String>,
    /// Bytes of manifests and blobs.
    pub size: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealFile {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub url: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealCert {
    pub name: String,
    pub subject: String,
    /// Unix seconds.
    pub not_after: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotCarried {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl NotCarried {
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.files.is_empty()
    }
}

/// `not carried: 3 images, 1 file (why)`.
impl std::fmt::Display for NotCarried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |n: usize, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
        write!(f, "not carried: {}, {} ({})", count(self.images.len(), "image"), count(self.files.len(), "file"), self.reason)
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Base {
    /// The bundle id (or lock sha256) this one completes.
    pub id: String,
    /// Blobs the images need that the base carries, not this bundle.
    pub blobs: Vec<String>,
    /// Files (by name) the base carries.
    pub files: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealEntry {
    pub path: String,
    pub size: u64,
    pub mode: u32,
    /// Hex sha256 of the content.
    pub sha256: String,
}

impl Seal {
    /// The canonical bytes: compact JSON in the field order above, entries sorted.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// `sha256:` of the canonical seal: the bundle id.
    pub fn id_of(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    pub fn total_size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// Whether an entry path is one a bundle may hold: relative, `/`-separated,
/// no empty, `.` or `..` component, no NUL or backslash.
pub fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}
