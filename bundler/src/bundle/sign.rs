//! Signing seals with ed25519: `meshbundle keygen` makes the key pair (PKCS#8
//! and SPKI PEM); `build --sign KEY` writes `SEAL.json.sig`; `verify --key PUB`
//! checks it.

use std::path::Path;

use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealSignature {
    pub algorithm: String,
    /// The signer's public key, raw 32 bytes, base64 (for identifying it; trust comes from --key).
    pub public_key: String,
    /// Signature over the bytes of SEAL.json, base64.
    pub signature: String,
}

pub fn generate() -> Result<(String, String)> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = SigningKey::generate(&mut rng);
    // PKCS#8 v1 (no public key inside), which OpenSSL 3.0 reads as well.
    let pair = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None };
    let private = pair
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| Error::failed(e.to_string(), "report this as a bug"))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| Error::failed(e.to_string(), "report this as a bug"))?;
    Ok((private.to_string(), public))
}

pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let text = crate::fsutil::read_private_text(path, 64 * 1024, "a signing key")?;
    SigningKey::from_pkcs8_pem(&text)
        .map_err(|e| Error::failed(format!("{}: not an ed25519 private key: {e}", path.display()), "make one with `meshbundle keygen`"))
}

pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    VerifyingKey::from_public_key_pem(&text).map_err(|e| {
        Error::failed(format!("{}: not an ed25519 public key: {e}", path.display()), "give the .pub file `meshbundle keygen` wrote")
    })
}

pub fn sign(key: &SigningKey, seal: &[u8]) -> Vec<u8> {
    let sig: Signature = key.sign(seal);
    let s = SealSignature {
        algorithm: "ed25519".into(),
        public_key: base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes()),
        signature: base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
    };
    serde_json::to_vec(&s).unwrap_or_default()
}

/// Checks a signature entry against a trusted public key.
pub fn check(sig_bytes: &[u8], seal: &[u8], key: &VerifyingKey) -> std::result::Result<(), String> {
    let s: SealSignature = serde_json::from_slice(sig_bytes).map_err(|e| format!("not a signature: {e}"))?;
    if s.algorithm != "ed25519" {
        return Err(format!("signed with {}, not ed25519", s.algorithm));
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(&s.signature).map_err(|_| "the signature is not base64".to_string())?;
    let sig = Signature::from_slice(&raw).map_err(|_| "the signature is not 64 bytes".to_string())?;
    let signer = base64::engine::general_purpose::STANDARD.decode(&s.public_key).unwrap_or_default();
    if signer != key.as_bytes() {
        return Err("it was signed by another key than the one given".into());
    }
    key.verify(seal, &sig).map_err(|_| "the signature does not match the seal".into())
}
