//! Private keys: ECDSA P-256 or RSA, generated from a caller's random source,
//! read from and written to PEM.

use der::pem::LineEnding;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rand_core::CryptoRng;
use spki::SubjectPublicKeyInfoOwned;

use super::PkiError;
use crate::spec::KeyType;

#[derive(Clone)]
pub enum PrivateKey {
    Ecdsa(p256::SecretKey),
    Rsa(Box<rsa::PrivateKey>),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str(match self {
            PrivateKey::Ecdsa(_) => "PrivateKey(ecdsa-p256)",
            PrivateKey::Rsa(_) => "PrivateKey(rsa)",
        })
    }
}

impl PrivateKey {
    pub fn generate<R: CryptoRng + ?Sized>(kind: KeyType, rng: &mut R) -> Result<Self, PkiError> {
        let bits = match kind {
            KeyType::EcdsaP256 => {
                return Ok(PrivateKey::Ecdsa(
                    <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(rng),
                ));
            }
            KeyType::Rsa2048 => 2048,
            KeyType::Rsa3072 => 3072,
            KeyType::Rsa4096 => 4096,
        };
        let key = rsa::PrivateKey::new(rng, bits).map_err(|e| PkiError::crypto("cannot generate an RSA key", e))?;
        Ok(PrivateKey::Rsa(Box::new(key)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            PrivateKey::Ecdsa(_) => "ECDSA P-256",
            PrivateKey::Rsa(k) => match rsa::traits::PublicKeyParts::size(k.as_ref()) * 8 {
                2048 => "RSA 2048",
                3072 => "RSA 3072",
                4096 => "RSA 4096",
                _ => "RSA",
            },
        }
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn to_pem(&self) -> Result<String, PkiError> {
        let pem = match self {
            PrivateKey::Ecdsa(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| PkiError::crypto("cannot encode a private key", e))?;
        Ok(pem.to_string())
    }

    /// Reads PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let label = pem
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("-----BEGIN ")
                    .and_then(|r| r.strip_suffix("-----"))
            })
            .ok_or_else(|| PkiError::Pem("no PEM block (-----BEGIN ...-----) found".into()))?;
        let bad = |e: Box<dyn std::error::Error + Send + Sync>| PkiError::crypto(format!("cannot read the {label}"), e);
        match label {
            "PRIVATE KEY" => {
                if let Ok(k) = p256::SecretKey::from_pkcs8_pem(pem) {
                    return Ok(PrivateKey::Ecdsa(k));
                }
                rsa::PrivateKey::from_pkcs8_pem(pem)
                    .map(|k| PrivateKey::Rsa(Box::new(k)))
                    .map_err(|e| bad(e.into()))
            }
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_pem(pem)
                .map(PrivateKey::Ecdsa)
                .map_err(|e| bad(e.into())),
            "RSA PRIVATE KEY" => {
                use pkcs1::DecodeRsaPrivateKey;
                rsa::PrivateKey::from_pkcs1_pem(pem)
                    .map(|k| PrivateKey::Rsa(Box::new(k)))
                    .map_err(|e| bad(e.into()))
            }
            "ENCRYPTED PRIVATE KEY" => Err(PkiError::Pem("the key is encrypted; decrypt it first".into())),
            other => Err(PkiError::Pem(format!("a `{other}` block is not a private key"))),
        }
    }

    pub fn public_spki(&self) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
        let der = match self {
            PrivateKey::Ecdsa(k) => k.public_key().to_public_key_der(),
            PrivateKey::Rsa(k) => k.to_public_key().to_public_key_der(),
        }
        .map_err(|e| PkiError::crypto("cannot encode a public key", e))?;
        use der::Decode;
        SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(|e| PkiError::crypto("cannot read a public key", e))
    }

    /// SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(&self) -> Result<String, PkiError> {
        match self {
            PrivateKey::Ecdsa(k) => k.public_key().to_public_key_pem(LineEnding::LF),
            PrivateKey::Rsa(k) => k.to_public_key().to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| PkiError::crypto("cannot encode a public key", e))
    }
}
