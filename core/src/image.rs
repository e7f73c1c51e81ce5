//! Image references: parsing with Docker's normalisation (`prom/prometheus` is
//! `docker.io/prom/prometheus`), moving a reference to the site registry, and
//! finding and rewriting the `image:` fields of upstream manifests.
//!
//! The grammar is the distribution reference grammar, without the regex engine
//! it is usually written with (that would double the WebAssembly build). The
//! tests below pin its normalisation and what it refuses;
//! [`REFERENCE_PATTERN`] states the same grammar for the JSON Schemas.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    /// Registry host, with port when there is one, e.g. `registry.k8s.io`.
    pub registry: String,
    /// Repository path, e.g. `coredns/coredns`; `library/` for Docker Hub's official images.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{reference}` is not a valid image reference: {reason}")]
pub struct ImageRefError {
    pub reference: String,
    pub reason: String,
}

fn is_component(s: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    if s.is_empty() {
        return false;
    }
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_tag(s: &str) -> bool {
    // [\w][\w.-]{0,127}
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn is_host(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) || p.parse::<u32>().map_or(true, |n| n > 65535))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A reference quoted back in an error: escaped and shortened, as it may be hostile.
fn shown(reference: &str) -> String {
    let mut s: String = reference.chars().take(120).flat_map(char::escape_debug).collect();
    if reference.chars().count() > 120 {
        s.push('…');
    }
    s
}

impl ImageRef {
    pub fn parse(reference: &str) -> Result<ImageRef, ImageRefError> {
        let err = |reason: &str| ImageRefError {
            reference: shown(reference),
            reason: reason.to_string(),
        };
        if reference.is_empty() || reference.len() > 512 || reference.trim() != reference {
            return Err(err("empty, too long or surrounded by spaces"));
        }
        let (name_tag, digest) = match reference.split_once('@') {
            Some((n, d)) => match Digest::parse(d) {
                Ok(d) => (n, Some(d)),
                Err(e) => return Err(err(&e.to_string())),
            },
            None => (reference, None),
        };
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let t = &name_tag[last_slash + i + 1..];
                if !is_tag(t) {
                    return Err(err("the tag may hold letters, digits, `_`, `.` and `-` (at most 128)"));
                }
                (&name_tag[..last_slash + i], Some(t.to_string()))
            }
            None => (name_tag, None),
        };
        let mut parts: Vec<&str> = name.split('/').collect();
        let first = parts[0];
        let registry = if parts.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost") {
            if !is_host(first) {
                return Err(err("the registry host is not a valid host[:port]"));
            }
            parts.remove(0);
            first.to_string()
        } else {
            "docker.io".to_string()
        };
        if parts.iter().any(|p| !is_component(p)) {
            return Err(err(
                "repository path components are lowercase letters and digits joined by `.`, `_` or `-`",
            ));
        }
        let mut repository = parts.join("/");
        // The legacy Docker Hub host is Docker Hub: normalised first, so its
        // official images get `library/` as they do without a host.
        let registry = if registry == "index.docker.io" {
            "docker.io".to_string()
        } else {
            registry
        };
        if registry == "docker.io" && parts.len() == 1 {
            repository = format!("library/{repository}");
        }
        let r = ImageRef {
            registry,
            repository,
            tag,
            digest,
        };
        // The limit holds for the normalised form too, so what parses prints
        // as something that parses again.
        if r.to_string().len() > 512 {
            return Err(err("empty, too long or surrounded by spaces"));
        }
        Ok(r)
    }

    /// Parses a reference that must already be in the normalised form
    /// [`ImageRef`] writes (`docker.io/library/nginx:1`, not `nginx:1`):
    /// what parses prints back as the same text.
    pub fn parse_as_written(reference: &str) -> Result<ImageRef, ImageRefError> {
        let r = ImageRef::parse(reference)?;
        if r.to_string() != reference {
            return Err(ImageRefError {
                reference: shown(reference),
                reason: format!("it is not written as meshbundle writes it, `{r}`"),
            });
        }
        Ok(r)
    }

    /// The same image in another registry, under the same repository path.
    pub fn in_registry(&self, registry: &str) -> ImageRef {
        ImageRef {
            registry: registry.to_string(),
            ..self.clone()
        }
    }

    /// Pinned to a digest (keeping the tag for people to read).
    pub fn with_digest(&self, digest: &Digest) -> ImageRef {
        ImageRef {
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// The same reference without its digest: `registry/repository:tag`.
    pub fn without_digest(&self) -> ImageRef {
        ImageRef {
            digest: None,
            ..self.clone()
        }
    }

    /// `registry/repository:tag` without the digest.
    pub fn tagged(&self) -> String {
        self.without_digest().to_string()
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ImageRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ImageRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// For a document meshbundle writes and reads back byte for byte (the seal):
/// an image reference accepted only as meshbundle writes it, normalised
/// (`docker.io/library/nginx:1`, never `nginx:1`), so the value read
/// serializes to the same text (`#[serde(deserialize_with =
/// "crate::image::as_written")]`).
pub fn as_written<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ImageRef, D::Error> {
    let s = String::deserialize(d)?;
    ImageRef::parse_as_written(&s).map_err(serde::de::Error::custom)
}

/// The same, for a list of references.
pub fn as_written_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ImageRef>, D::Error> {
    #[derive(Deserialize)]
    struct One(#[serde(deserialize_with = "as_written")] ImageRef);
    Ok(Vec::<One>::deserialize(d)?.into_iter().map(|o| o.0).collect())
}

/// The distribution reference grammar as a pattern, for the documents' JSON
/// Schemas (the parser above is what checks; this tells editors and other
/// readers the same rule).
pub const REFERENCE_PATTERN: &str = concat!(
    "^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?",
    "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*",
    "(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
);

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ImageRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ImageRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": 512,
            "pattern": REFERENCE_PATTERN,
            "description": "An image reference: [registry/]repository[:tag][@sha256:digest]."
        })
    }
}

/// A platform as OCI image indexes name it, `os/architecture[/variant]`
/// (`linux/amd64`, `linux/arm64/v8`): checked when parsed or read, written
/// back as the same text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a platform: {reason}; write os/architecture[/variant], e.g. linux/amd64")]
pub struct PlatformError {
    pub text: String,
    pub reason: &'static str,
}

/// The pattern of one part of a platform, for [`Platform`] and its schema.
#[cfg(feature = "schema")]
const PLATFORM_PART: &str = "[a-z0-9][a-z0-9._-]{0,31}";

impl Platform {
    pub fn parse(text: &str) -> Result<Platform, PlatformError> {
        let bad = |reason| PlatformError {
            text: text.chars().take(80).collect(),
            reason,
        };
        let parts: Vec<&str> = text.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad("it has not two or three parts separated by `/`"));
        }
        for p in &parts {
            let b = p.as_bytes();
            let ok = !b.is_empty()
                && b.len() <= 32
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c));
            if !ok {
                return Err(bad(
                    "each part is 1 to 32 lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit",
                ));
            }
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    pub fn os(&self) -> &str {
        &self.os
    }

    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// Whether this platform is the one `want` names: the same, or `want`
    /// without the variant (`linux/arm64` is met by `linux/arm64/v8`).
    pub fn matches(&self, want: &str) -> bool {
        let have = self.to_string();
        have == want || have.strip_prefix(want).is_some_and(|rest| rest.starts_with('/'))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Platform::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Platform {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Platform".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": format!("^{PLATFORM_PART}/{PLATFORM_PART}(?:/{PLATFORM_PART})?$"),
            "description": "A platform, os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8."
        })
    }
}

/// A media type, `type/subtype` with RFC 6838's restricted names
/// (`application/vnd.oci.image.index.v1+json`), as a document writes it:
/// checked when parsed or read, written back as the same text. Empty only
/// as the default, where a document leaves it out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MediaType(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a media type: write type/subtype, e.g. application/vnd.oci.image.manifest.v1+json")]
pub struct MediaTypeError {
    pub text: String,
}

/// One side of a media type, for [`MediaType`] and its schema.
#[cfg(feature = "schema")]
const MEDIA_TYPE_NAME: &str = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}";

impl MediaType {
    pub fn parse(text: &str) -> Result<MediaType, MediaTypeError> {
        let name = |s: &str| {
            let b = s.as_bytes();
            !b.is_empty()
                && b.len() <= 127
                && b[0].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(c))
        };
        match text.split_once('/') {
            Some((t, s)) if name(t) && name(s) => Ok(MediaType(text.to_string())),
            _ => Err(MediaTypeError {
                text: text.chars().take(80).collect(),
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Left out of the document it was read from.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Deref for MediaType {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for MediaType {
    type Err = MediaTypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MediaType::parse(s)
    }
}

impl Serialize for MediaType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MediaType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MediaType::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for MediaType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MediaType".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": format!("^{MEDIA_TYPE_NAME}/{MEDIA_TYPE_NAME}$"),
            "description": "A media type, type/subtype, e.g. application/vnd.oci.image.index.v1+json."
        })
    }
}

/// Splits a manifest line that sets an image (`image: x`, `- image: "x"`) into
/// the text before the value, the value, and the text after it.
fn image_line(line: &str) -> Option<(&str, &str, &str)> {
    let trimmed = line.trim_start();
    let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
    let value = body.strip_prefix("image:")?;
    let lead = line.len() - value.len();
    let v = value.trim();
    let (v, quote) =
        if v.len() >= 2 && (v.starts_with('"') && v.ends_with('"') || v.starts_with('\'') && v.ends_with('\'')) {
            (&v[1..v.len() - 1], true)
        } else {
            (v, false)
        };
    if v.is_empty() || v.contains(' ') || v.contains('#') || v.contains('{') {
        return None;
    }
    let start = line[lead..].find(v).map(|i| lead + i)?;
    let _ = quote;
    Some((&line[..start], v, &line[start + v.len()..]))
}

/// Every image reference set by an `image:` field of a (multi-document) manifest, in order.
pub fn images_in_manifest(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(image_line)
        .map(|(_, v, _)| v.to_string())
        .collect()
}

/// Rewrites every `image:` field of a manifest with `f`, leaving every other
/// byte as upstream wrote it. `f` gets the reference as written.
pub fn rewrite_manifest_images(text: &str, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    // Only lines with `image:` can change: the text between them is copied whole.
    let mut copied = 0;
    for (at, _) in text.match_indices("image:") {
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        if start < copied {
            // A second `image:` on a line already seen.
            continue;
        }
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        if let Some((pre, v, post)) = image_line(&text[start..end]) {
            out.push_str(&text[copied..start]);
            out.push_str(pre);
            out.push_str(&f(v));
            out.push_str(post);
            copied = end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_parse_and_write_back_the_same_text() {
        for ok in [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ] {
            let m = MediaType::parse(ok).unwrap();
            assert_eq!((m.as_str(), &*m), (ok, ok));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<MediaType>(&json).unwrap(), m);
        }
        for bad in [
            "",
            "application",
            "application/",
            "/json",
            "a/b/c",
            "application/x json",
            "application/x\n",
            "text/$(id)",
        ] {
            assert!(MediaType::parse(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<MediaType>(&serde_json::to_string(bad).unwrap()).is_err());
        }
    }

    #[test]
    fn platforms_parse_and_write_back_the_same_text() {
        for ok in [
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "windows/amd64",
            "linux/ppc64le",
            "linux/s390x",
        ] {
            let p = Platform::parse(ok).unwrap();
            assert_eq!(p.to_string(), ok);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Platform>(&json).unwrap(), p);
        }
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!((p.os(), p.architecture(), p.variant()), ("linux", "arm64", Some("v8")));
        assert!(p.matches("linux/arm64") && p.matches("linux/arm64/v8"));
        assert!(!p.matches("linux/arm") && !p.matches("linux/arm64/v9"));
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "Linux/amd64",
            "linux/amd64 ",
            "linux/../amd64",
            "linux/.hidden",
            "linux/$(id)",
            "linux/amd64\n",
            &format!("linux/{}", "a".repeat(33)),
        ] {
            let e = Platform::parse(bad).unwrap_err();
            assert!(e.to_string().contains("os/architecture"), "{bad:?}: {e}");
            assert!(serde_json::from_str::<Platform>(&serde_json::to_string(bad).unwrap()).is_err());
        }
    }

    #[test]
    fn normalises_docker_hub() {
        let r = ImageRef::parse("prom/prometheus:v2.41.0").unwrap();
        assert_eq!(r.to_string(), "docker.io/prom/prometheus:v2.41.0");
        assert_eq!(ImageRef::parse("nginx").unwrap().to_string(), "docker.io/library/nginx");
        let r = ImageRef::parse("registry.k8s.io/coredns/coredns:v1.11.3").unwrap();
        assert_eq!(r.registry, "registry.k8s.io");
        assert_eq!(r.repository, "coredns/coredns");
        let r = ImageRef::parse("localhost:5000/a/b:1@sha256:".to_string().as_str());
        assert!(r.is_err());
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("10.0.0.5:5000/istio/pilot:1.30.3@{d}")).unwrap();
        assert_eq!(r.registry, "10.0.0.5:5000");
        assert_eq!(r.digest.as_ref().map(Digest::as_str), Some(d.as_str()));
    }

    #[test]
    fn as_written_takes_only_the_normalised_form() {
        for ok in [
            "docker.io/library/nginx:1",
            "registry.k8s.io/pause:3.10",
            "10.0.0.5:5000/istio/pilot:1.30.3@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(ImageRef::parse_as_written(ok).unwrap().to_string(), ok);
        }
        for (bad, written) in [
            ("nginx:1", "docker.io/library/nginx:1"),
            ("prom/prometheus", "docker.io/prom/prometheus"),
            ("index.docker.io/library/nginx", "docker.io/library/nginx"),
        ] {
            let e = ImageRef::parse_as_written(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{written}`")), "{e}");
            assert!(ImageRef::parse(bad).is_ok());
        }
        assert!(ImageRef::parse_as_written("UPPER/case").is_err());
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "a:b:c/d",
            "reg.io/a:",
            "reg.io/a@sha256:xyz",
            " a",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rewrites_only_image_lines() {
        let text =
            "a: 1\n        image: \"prom/prometheus:v2\"\n      - image: quay.io/kiali/kiali:v1\n  name: image\n";
        let out = rewrite_manifest_images(text, |r| {
            ImageRef::parse(r).unwrap().in_registry("reg:5000").to_string()
        });
        assert_eq!(
            out,
            "a: 1\n        image: \"reg:5000/prom/prometheus:v2\"\n      - image: reg:5000/kiali/kiali:v1\n  name: image\n"
        );
    }
}
