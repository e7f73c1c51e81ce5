//! OCI and Docker media types, and reading manifests and indexes (with the
//! typed structures of oci-client, over oci-spec's).

use oci_client::manifest::{OciImageIndex, OciImageManifest};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Every manifest kind meshbundle reads, for the registry's Accept header.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// The media type a manifest declares (or implies by its shape).
pub fn media_type_of(raw: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Some(mt.to_string());
    }
    if v.get("manifests").is_some() {
        Some(OCI_INDEX.to_string())
    } else if v.get("layers").is_some() {
        Some(OCI_MANIFEST.to_string())
    } else {
        None
    }
}

pub fn parse_manifest(raw: &[u8]) -> Result<OciImageManifest, String> {
    serde_json::from_slice(raw).map_err(|e| format!("not an image manifest: {e}"))
}

pub fn parse_index(raw: &[u8]) -> Result<OciImageIndex, String> {
    serde_json::from_slice(raw).map_err(|e| format!("not an image index: {e}"))
}

/// `os/architecture[/variant]` of an index entry.
pub fn platform_of(entry: &oci_client::manifest::ImageIndexEntry) -> Option<String> {
    let p = entry.platform.as_ref()?;
    Some(match &p.variant {
        Some(v) if !v.is_empty() => format!("{}/{}/{}", p.os, p.architecture, v),
        _ => format!("{}/{}", p.os, p.architecture),
    })
}

/// Whether a platform string matches a wanted one (`linux/arm64` matches
/// `linux/arm64/v8`).
pub fn platform_matches(have: &str, want: &str) -> bool {
    have == want || have.strip_prefix(want).is_some_and(|rest| rest.starts_with('/'))
}
