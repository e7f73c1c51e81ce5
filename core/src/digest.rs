//! Content digests: one checked type for every `sha256:<hex>` that meshbundle
//! reads or writes (image manifests and blobs, files, bundle entries, the
//! bundle id). A `Digest` is valid by construction: parsing and deserializing
//! refuse anything but `sha256:` followed by exactly 64 lower-case hex
//! digits, so a digest can be used as a path component, a URL part or a shell
//! word without further checks.
//!
//! Some documents write the bare hex (a lock's file `sha256`, a seal entry's
//! `sha256`): those fields use `#[serde(with = "digest::bare")]`, which reads
//! and writes the 64 hex digits alone and checks them the same way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;

const PREFIX: &str = "sha256:";

/// The sha256 of some bytes, hashed in pieces of 16 KiB: the same
/// hash as in one piece. A browser runs each call into the module's hash
/// function to its end with the quick first code it made for it, and later
/// calls with the optimized code it compiles meanwhile: the configurator's
/// first render hashes about 1.6 MB (the upstream manifests, then the files),
/// and hashed whole, a 240 KB manifest took 14 ms there, the next 332 KB 2 ms.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = Sha256::new();
    for piece in bytes.chunks(PIECE) {
        h.update(piece);
    }
    h.finalize().into()
}

/// See [`sha256`]: a multiple of the 64-byte block.
const PIECE: usize = 16 << 10;

/// A `sha256:` digest with 64 lower-case hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("`{0}` is not a digest: it must start with `sha256:` (the only algorithm meshbundle accepts)")]
    Algorithm(String),
    #[error("`{0}` is not a sha256: it must be exactly 64 hex digits")]
    Length(String),
    #[error("`{0}` is not a sha256: it may hold only the lower-case hex digits 0-9 and a-f")]
    Character(String),
}

/// Shortens what is quoted back in an error, so a hostile megabyte is not printed.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

fn check_hex(hex: &str, whole: &str) -> Result<(), DigestError> {
    if hex.len() != 64 {
        return Err(DigestError::Length(shown(whole)));
    }
    if !hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        return Err(DigestError::Character(shown(whole)));
    }
    Ok(())
}

impl Digest {
    /// The digest of some bytes.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_raw(&sha256(bytes))
    }

    /// From the 32 raw bytes of a finished hash.
    pub fn from_raw(raw: &[u8; 32]) -> Digest {
        Digest(format!("{PREFIX}{}", hex::encode(raw)))
    }

    /// From 64 lower-case hex digits without the `sha256:` prefix.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        check_hex(hex, hex)?;
        Ok(Digest(format!("{PREFIX}{hex}")))
    }

    /// Parses `sha256:<64 lower-case hex>`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let hex = s.strip_prefix(PREFIX).ok_or_else(|| DigestError::Algorithm(shown(s)))?;
        check_hex(hex, s)?;
        Ok(Digest(s.to_string()))
    }

    /// `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^sha256:[0-9a-f]{64}$",
            "description": "A sha256 digest: `sha256:` and 64 lower-case hex digits."
        })
    }
}

/// Serde adaptor for fields that hold the bare 64 hex digits of a sha256.
pub mod bare {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::from_hex(&s).map_err(serde::de::Error::custom)
    }

    #[cfg(feature = "schema")]
    /// The JSON Schema of the bare form (`#[schemars(schema_with = "digest::bare::schema")]`).
    pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "A sha256: 64 lower-case hex digits."
        })
    }
}

/// Serde adaptor for an optional bare-hex sha256.
pub mod bare_opt {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Digest>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(d.hex()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Digest>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => Digest::from_hex(&s).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }

    #[cfg(feature = "schema")]
    /// The JSON Schema of the optional bare form.
    pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "null"],
            "pattern": "^[0-9a-f]{64}$",
            "description": "A sha256: 64 lower-case hex digits."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// Hashed in pieces, the bytes hash as in one piece, at every length
    /// around a piece's edges.
    #[test]
    fn pieces_hash_as_one() {
        use sha2::Digest as _;
        let bytes: Vec<u8> = (0..3 * PIECE + 100).map(|i| (i * 7 + i / 251) as u8).collect();
        for len in [
            0,
            1,
            63,
            64,
            PIECE - 1,
            PIECE,
            PIECE + 1,
            2 * PIECE + 63,
            3 * PIECE + 100,
        ] {
            let want: [u8; 32] = Sha256::digest(&bytes[..len]).into();
            assert_eq!(sha256(&bytes[..len]), want, "{len} bytes");
        }
        assert_eq!(Digest::of(b"").hex(), HEX);
    }

    #[test]
    fn parses_only_lower_case_sha256() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.hex(), HEX);
        assert_eq!(d, Digest::of(b""));
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        assert!(matches!(
            Digest::parse(&format!("sha256:{}", HEX.to_uppercase())),
            Err(DigestError::Character(_))
        ));
        assert!(matches!(
            Digest::parse(&format!("sha512:{HEX}")),
            Err(DigestError::Algorithm(_))
        ));
        assert!(matches!(Digest::parse(HEX), Err(DigestError::Algorithm(_))));
        assert!(matches!(Digest::parse("sha256:abc"), Err(DigestError::Length(_))));
        assert!(Digest::parse(&format!("sha256:{}$(id)", &HEX[..59])).is_err());
        assert!(Digest::parse(&format!("sha256:{HEX}\n")).is_err());
        assert!(Digest::from_hex(HEX).is_ok());
        assert!(Digest::from_hex(&format!("{}'", &HEX[..63])).is_err());
    }

    #[test]
    fn serde_checks_on_deserialize() {
        #[derive(Serialize, Deserialize)]
        struct T {
            d: Digest,
            #[serde(with = "bare")]
            b: Digest,
        }
        let ok = format!(r#"{{"d":"sha256:{HEX}","b":"{HEX}"}}"#);
        let t: T = serde_json::from_str(&ok).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), ok);
        assert!(serde_json::from_str::<T>(&format!(r#"{{"d":"sha256:{HEX}","b":"$(reboot)"}}"#)).is_err());
        assert!(serde_json::from_str::<T>(&format!(r#"{{"d":"{HEX}","b":"{HEX}"}}"#)).is_err());
    }

    #[test]
    fn errors_do_not_echo_megabytes() {
        let long = "x".repeat(1 << 20);
        assert!(Digest::parse(&long).unwrap_err().to_string().len() < 300);
    }
}
