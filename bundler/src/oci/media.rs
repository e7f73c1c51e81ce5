//! OCI and Docker media types, the typed OCI documents (oci-spec's), and
//! their canonical bytes.
//!
//! Documents meshbundle writes (an image's manifest and config, an OCI
//! layout's `index.json`, a bundle's image index) are built with oci-spec's
//! builders and written by [`canonical_bytes`]: compact JSON in one fixed
//! order, so the same inputs give the same bytes and so the same digests,
//! release after release. oci-spec keeps annotations and labels in hash maps
//! and orders some fields otherwise than meshbundle always has; the canonical
//! form sorts the maps and keeps meshbundle's order (a golden digest test in
//! `bundler/tests/typed_documents.rs` pins it).

use oci_client::manifest::{OciImageIndex, OciImageManifest};
pub use oci_spec::image::{Descriptor, MediaType};
use serde_json::Value;

use super::Digest;

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
    let v: Value = serde_json::from_slice(raw).ok()?;
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

pub fn parse_manifest(raw: &[u8]) -> Result<OciImageManifest, serde_json::Error> {
    serde_json::from_slice(raw)
}

pub fn parse_index(raw: &[u8]) -> Result<OciImageIndex, serde_json::Error> {
    serde_json::from_slice(raw)
}

/// `os/architecture[/variant]` of an index entry.
pub fn platform_of(entry: &oci_client::manifest::ImageIndexEntry) -> Option<String> {
    let p = entry.platform.as_ref()?;
    Some(match &p.variant {
        Some(v) if !v.is_empty() => format!("{}/{}/{}", p.os, p.architecture, v),
        _ => format!("{}/{}", p.os, p.architecture),
    })
}

/// oci-spec's digest of a checked digest (always a valid sha256).
pub fn oci_digest(d: &Digest) -> oci_spec::image::Digest {
    use std::str::FromStr;
    oci_spec::image::Digest::from_str(d.as_str())
        .unwrap_or_else(|_| unreachable!("a Digest is `sha256:` and 64 lower-case hex digits"))
}

/// The checked digest of a descriptor: `None` for another algorithm or a
/// malformed one (oci-spec accepts any registered algorithm).
pub fn digest_of_descriptor(d: &Descriptor) -> Option<Digest> {
    Digest::parse(d.digest().as_ref()).ok()
}

/// A descriptor of `size` bytes with `digest`.
pub fn descriptor(media_type: MediaType, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(media_type, size, oci_digest(digest))
}

/// The canonical bytes of a typed document: compact JSON, struct fields in
/// meshbundle's order (a descriptor's `platform` before its `annotations`,
/// a platform's `os` before `architecture`, an image config's `Entrypoint`,
/// `Cmd`, `Env`, `WorkingDir`, `User`, `Labels`), annotation and label maps
/// sorted by key.
pub fn canonical_bytes<T: serde::Serialize>(doc: &T) -> Result<Vec<u8>, serde_json::Error> {
    let v = serde_json::to_value(doc)?;
    serde_json::to_vec(&canonical(v, None))
}

fn canonical(v: Value, key: Option<&str>) -> Value {
    const PLATFORM: &[&str] = &["os", "architecture", "os.version", "os.features", "variant", "features"];
    const DESCRIPTOR: &[&str] = &["mediaType", "digest", "size", "urls", "platform", "annotations"];
    const RUN_CONFIG: &[&str] = &["Entrypoint", "Cmd", "Env", "WorkingDir", "User", "Labels"];
    match v {
        Value::Array(a) => Value::Array(a.into_iter().map(|x| canonical(x, None)).collect()),
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m
                .into_iter()
                .map(|(k, v)| (k.clone(), canonical(v, Some(&k))))
                .collect();
            let order: &[&str] = match key {
                Some("annotations" | "Labels") => {
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    &[]
                }
                Some("platform") => PLATFORM,
                Some("config") if !entries.iter().any(|(k, _)| k == "digest") => RUN_CONFIG,
                _ if entries.iter().any(|(k, _)| k == "digest") && entries.iter().any(|(k, _)| k == "mediaType") => {
                    DESCRIPTOR
                }
                _ => &[],
            };
            // Named fields first, in the order above; the rest as oci-spec declares them.
            let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(order.len());
            entries.sort_by_key(|(k, _)| rank(k));
            Value::Object(entries.into_iter().collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The media types written as strings (for Accept headers and
    /// comparisons) are oci-spec's.
    #[test]
    fn media_type_strings_are_oci_specs() {
        assert_eq!(MediaType::ImageManifest.to_string(), OCI_MANIFEST);
        assert_eq!(MediaType::ImageIndex.to_string(), OCI_INDEX);
        assert_eq!(MediaType::ImageConfig.to_string(), OCI_CONFIG);
        assert_eq!(MediaType::ImageLayerGzip.to_string(), OCI_LAYER_GZIP);
        assert_eq!(MediaType::ImageLayer.to_string(), OCI_LAYER);
    }

    #[test]
    fn canonical_bytes_sort_maps_and_keep_the_order() {
        let d = Digest::of(b"x");
        let mut desc = descriptor(MediaType::ImageManifest, &d, 1);
        desc.set_annotations(Some(
            [("b".to_string(), "2".to_string()), ("a".to_string(), "1".to_string())]
                .into_iter()
                .collect(),
        ));
        desc.set_platform(Some(
            oci_spec::image::PlatformBuilder::default()
                .os("linux")
                .architecture("arm64")
                .build()
                .unwrap(),
        ));
        let bytes = String::from_utf8(canonical_bytes(&desc).unwrap()).unwrap();
        assert_eq!(
            bytes,
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1,"platform":{{"os":"linux","architecture":"arm64"}},"annotations":{{"a":"1","b":"2"}}}}"#
            )
        );
    }
}
