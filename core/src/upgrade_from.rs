//! Where an upgrade starts: the versions a site runs, read from the verified
//! seal of the bundle it last imported (`meshbundle build --since
//! previous.mbundle`). Render takes it as `Inputs::upgrade_from`; a bundle
//! built without `--since` renders with none.
//!
//! Every value here ends up in scripts and in the operator's notes, so each
//! has a type that checks it when it is made or read: a [`Version`] is
//! `MAJOR.MINOR.PATCH` with an optional `-pre.release` of letters, digits
//! and dots, a [`Revision`] an RFC 1123 label other than `default`, and the
//! bundle id a `sha256:` digest.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Digest;
use crate::spec::Site;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeFromError {
    #[error("{field}: `{value}` is not a version (MAJOR.MINOR.PATCH, e.g. 1.36.3)")]
    Version { field: &'static str, value: String },
    #[error("{field}: `{value}` is not an Istio revision (an RFC 1123 label other than `default`, e.g. 1-29-6)")]
    Revision { field: &'static str, value: String },
}

/// A released version: `MAJOR.MINOR.PATCH`, numbers without leading zeros,
/// and an optional `-` pre-release of ASCII letters, digits and dots
/// (`1.31.0-rc.0`). Safe as a shell word and in a file name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Version {
    text: String,
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        if s.len() > 64 {
            return None;
        }
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        if let Some(p) = pre
            && (p.is_empty()
                || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
                || p.split('.').any(str::is_empty))
        {
            return None;
        }
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3
            || nums
                .iter()
                .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0')))
        {
            return None;
        }
        let num = |i: usize| nums[i].parse::<u64>().ok();
        Some(Version {
            text: s.to_string(),
            major: num(0)?,
            minor: num(1)?,
            patch: num(2)?,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn major(&self) -> u64 {
        self.major
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// `MAJOR.MINOR`, e.g. `1.36`.
    pub fn minor_line(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{}` is not a version (MAJOR.MINOR.PATCH)", s.escape_debug()))
        })
    }
}

/// An Istio control-plane revision (`istio.io/rev`): an RFC 1123 label, not
/// `default` (the name of Istio's default revision tag).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Revision(String);

impl Revision {
    pub fn parse(s: &str) -> Option<Revision> {
        (crate::validate::values::is_rfc1123_label(s) && s != "default").then(|| Revision(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Serialize for Revision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Revision {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Revision::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{}` is not an Istio revision", s.escape_debug())))
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Version {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": 64,
            "pattern": "^(?:0|[1-9][0-9]*)\\.(?:0|[1-9][0-9]*)\\.(?:0|[1-9][0-9]*)(?:-[A-Za-z0-9]+(?:\\.[A-Za-z0-9]+)*)?$",
            "description": "A released version: MAJOR.MINOR.PATCH[-pre.release]."
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Revision {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Revision".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": 63,
            "pattern": "^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$",
            "not": { "const": "default" },
            "description": "An Istio revision: an RFC 1123 label other than `default`."
        })
    }
}

/// The state a site is in before this bundle: the bundle it runs and the
/// versions that bundle installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeFrom {
    /// The id of the previous bundle (the sha256 of its seal), verified when it was read.
    pub bundle: Digest,
    pub kubernetes: Version,
    pub containerd: Version,
    pub istio: Version,
    /// The Istio revision the previous bundle installed.
    pub revision: Revision,
}

/// One component's move, when its version changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub from: Version,
    pub to: Version,
}

impl Step {
    /// Whether the move crosses a major version (containerd 1.7 to 2.x).
    pub fn major(&self) -> bool {
        self.from.major() != self.to.major()
    }

    /// Whether the move crosses a minor version.
    pub fn minor(&self) -> bool {
        self.major() || self.from.minor() != self.to.minor()
    }

    /// Whether it goes to an older version.
    pub fn downgrade(&self) -> bool {
        (self.to.major(), self.to.minor(), self.to.patch()) < (self.from.major(), self.from.minor(), self.from.patch())
    }
}

/// What changes between the previous bundle and this site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub kubernetes: Option<Step>,
    pub containerd: Option<Step>,
    pub istio: Option<Step>,
    /// The new revision, when it is not the old one.
    pub revision: Option<(Revision, Revision)>,
}

impl Changes {
    pub fn none(&self) -> bool {
        self.kubernetes.is_none() && self.containerd.is_none() && self.istio.is_none() && self.revision.is_none()
    }
}

impl UpgradeFrom {
    /// Where a site described by `site` (the spec of bundle `bundle`) stands.
    pub fn of_site(site: &Site, bundle: Digest) -> Result<UpgradeFrom, UpgradeFromError> {
        let version = |field: &'static str, v: &str| {
            Version::parse(v).ok_or_else(|| UpgradeFromError::Version {
                field,
                value: v.escape_debug().to_string(),
            })
        };
        let rev = site.istio_revision();
        Ok(UpgradeFrom {
            bundle,
            kubernetes: version("spec.kubernetes.version", &site.spec.kubernetes.version)?,
            containerd: version("spec.containerd.version", &site.spec.containerd.version)?,
            istio: version("spec.istio.version", &site.spec.istio.version)?,
            revision: Revision::parse(&rev).ok_or_else(|| UpgradeFromError::Revision {
                field: "spec.istio.revision",
                value: rev.escape_debug().to_string(),
            })?,
        })
    }

    /// What changes from here to `site`. A version of `site` that does not
    /// parse counts as changed to itself only if it parses; validation has
    /// refused it before render gets here.
    pub fn changes(&self, site: &Site) -> Changes {
        let step = |from: &Version, to: &str| match Version::parse(to) {
            Some(to) if &to != from => Some(Step { from: from.clone(), to }),
            _ => None,
        };
        let rev = Revision::parse(&site.istio_revision());
        Changes {
            kubernetes: step(&self.kubernetes, &site.spec.kubernetes.version),
            containerd: step(&self.containerd, &site.spec.containerd.version),
            istio: step(&self.istio, &site.spec.istio.version),
            revision: rev.filter(|r| r != &self.revision).map(|r| (self.revision.clone(), r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_revisions_check_on_parse() {
        for ok in ["1.36.3", "2.2.3", "1.31.0-rc.0", "0.0.0"] {
            assert_eq!(Version::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "1.36",
            "1.36.3.1",
            "v1.36.3",
            "01.2.3",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3-$(id)",
            "1.2.3 ",
            "1.2.x",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
            assert!(
                serde_json::from_str::<Version>(&serde_json::to_string(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(Version::parse("1.36.3").unwrap().minor_line(), "1.36");
        assert!(Revision::parse("1-29-6").is_some());
        for bad in ["", "default", "1.29.6", "A", "-x", "x;rm"] {
            assert!(Revision::parse(bad).is_none(), "{bad}");
        }
        let s = |f: &str, t: &str| Step {
            from: Version::parse(f).unwrap(),
            to: Version::parse(t).unwrap(),
        };
        assert!(s("1.7.27", "2.2.3").major());
        assert!(s("1.29.6", "1.30.3").minor() && !s("1.29.6", "1.30.3").major());
        assert!(!s("1.36.3", "1.36.5").minor() && s("1.36.5", "1.36.3").downgrade());
    }
}
