//! Signing seals with ed25519, and the site's trust policy.
//!
//! `meshbundle keygen` makes the key pair (PKCS#8 and SPKI PEM) and prints
//! the public key's fingerprint; `build --sign KEY` writes `SEAL.json.sig`.
//! Reading a bundle, a signature is always examined: one that does not parse,
//! names another algorithm, or does not match the public key it carries over
//! the seal is an error whatever the policy. Whether the signer is trusted is
//! the trust policy's to say: the keys given with `--key` (files or
//! directories of `*.pub`), else those of `$MESHBUNDLE_TRUSTED_KEYS`, else
//! those in `/etc/meshbundle/trusted-keys/` (`$MESHBUNDLE_CONFIG_DIR`
//! overrides `/etc/meshbundle`). With a policy in force, an unsigned bundle
//! or one signed by a key outside it is refused. The keys, their directories
//! and every directory above them must be owned by root or the caller and
//! not writable by others (see `check_not_writable`).

use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::{Error, Result};

/// Where the trusted keys are read from when no flag or variable names them.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/meshbundle";
/// Overrides [`DEFAULT_CONFIG_DIR`].
pub const CONFIG_DIR_VAR: &str = "MESHBUNDLE_CONFIG_DIR";
/// A `:`-separated list of trusted `.pub` files or directories of them.
pub const TRUSTED_KEYS_VAR: &str = "MESHBUNDLE_TRUSTED_KEYS";

/// The largest public key file read.
const MAX_PUB: usize = 64 << 10;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealSignature {
    pub algorithm: String,
    /// The signer's public key, raw 32 bytes, base64 (for identifying it; trust comes from the policy).
    pub public_key: String,
    /// Signature over the bytes of SEAL.json, base64.
    pub signature: String,
}

/// `SHA256:` and the unpadded base64 of the sha256 of the 32 raw bytes of an
/// ed25519 public key, the way OpenSSH writes fingerprints.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let sum = sha2::Sha256::digest(key.as_bytes());
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sum)
    )
}

pub fn generate() -> Result<(String, String, String)> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = SigningKey::generate(&mut rng);
    // PKCS#8 v1 (no public key inside), which OpenSSL 3.0 reads as well.
    let pair = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    let private = pair
        .to_pkcs8_pem(der::pem::LineEnding::LF)
        .map_err(|e| Error::from_source(e, "report this as a bug"))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(der::pem::LineEnding::LF)
        .map_err(|e| Error::from_source(e, "report this as a bug"))?;
    Ok((private.to_string(), public, fingerprint(&key.verifying_key())))
}

pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let text = crate::fsutil::read_private_text(path, 64 * 1024, "a signing key")?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        Error::failed_with(
            format!("{}: not an ed25519 private key", path.display()),
            e,
            "make one with `meshbundle keygen`",
        )
    })
}

/// Reads one trusted public key, refusing a file others may change.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey> {
    check_not_writable(path)?;
    let bytes = crate::fsutil::read_limited(path, MAX_PUB)?;
    let text = std::str::from_utf8(&bytes)
        .ok()
        .filter(|_| bytes.len() <= MAX_PUB)
        .ok_or_else(|| {
            Error::failed(
                format!("{}: not an ed25519 public key (not a PEM text file)", path.display()),
                "give the .pub file `meshbundle keygen` wrote",
            )
        })?;
    VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| {
        Error::failed_with(
            format!("{}: not an ed25519 public key", path.display()),
            e,
            "give the .pub file `meshbundle keygen` wrote",
        )
    })
}

/// The trust policy's own files are held to sshd's `StrictModes`: each
/// trusted key file and key directory, and every directory above it up to
/// `/` (of the path with every symbolic link resolved, and of the directory
/// that holds the name given), must be owned by root or the caller and not
/// writable by its group or others. The one exception is a sticky directory
/// such as /tmp above the key: others may add entries to it but not rename or
/// remove the ones below it, which are themselves held to the rule.
fn check_not_writable(path: &Path) -> Result<()> {
    use crate::fsutil::{is_sticky, others_could_change};
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let what = if meta.is_dir() { "directory" } else { "file" };
    if let Some(why) = others_could_change(&meta) {
        let (who, hint) = if why.starts_with("owned") {
            (
                "that user",
                format!(
                    "chown root {} (or keep the trusted keys where only root can change them)",
                    path.display()
                ),
            )
        } else if why.contains("anyone") {
            ("anyone", format!("chmod go-w {}", path.display()))
        } else {
            ("its group", format!("chmod go-w {}", path.display()))
        };
        return Err(Error::failed(
            format!(
                "{}: the trusted key {what} is {why}, so {who} could add a key",
                path.display()
            ),
            hint,
        ));
    }
    let real = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let mut above: Vec<PathBuf> = real.ancestors().skip(1).map(Path::to_path_buf).collect();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let real_parent = std::fs::canonicalize(parent).map_err(|e| Error::io(parent, e))?;
        for a in real_parent.ancestors() {
            if !above.iter().any(|x| x == a) {
                above.push(a.to_path_buf());
            }
        }
    }
    for dir in above {
        let m = std::fs::metadata(&dir).map_err(|e| Error::io(&dir, e))?;
        let Some(why) = others_could_change(&m) else {
            continue;
        };
        if !why.starts_with("owned") && is_sticky(&m) {
            // Like /tmp: what is below it is checked on its own.
            continue;
        }
        let who = if why.starts_with("owned") {
            "that user"
        } else if why.contains("anyone") {
            "anyone"
        } else {
            "its group"
        };
        return Err(Error::failed(
            format!(
                "{}: a directory above the trusted key {what} {} is {why}, so {who} could replace the key \
                 (every directory above a trusted key must be owned by root or you and not writable by others; \
                 a sticky one like /tmp is allowed only above a directory owned by root or you)",
                dir.display(),
                path.display()
            ),
            format!(
                "chown root {0} and chmod go-w {0}, or keep the trusted keys where only root can change them",
                dir.display()
            ),
        ));
    }
    Ok(())
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

/// Who signed a seal, by the key the signature carries.
#[derive(Debug, Clone)]
pub struct SignedBy {
    pub key: VerifyingKey,
    pub fingerprint: String,
}

/// Reads a signature entry and checks it against the public key it carries,
/// over the seal. Needs no trusted key: a signature that fails here is
/// damaged or forged, whoever is trusted.
pub fn examine(sig_bytes: &[u8], seal: &[u8]) -> std::result::Result<SignedBy, String> {
    if sig_bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("empty: a signature entry with no signature in it".into());
    }
    let s: SealSignature =
        serde_json::from_slice(sig_bytes).map_err(|_| "not a signature: it does not read as one".to_string())?;
    if s.algorithm != "ed25519" {
        let alg: String = s.algorithm.chars().take(40).flat_map(char::escape_debug).collect();
        return Err(format!(
            "signed with `{alg}`, not ed25519: meshbundle accepts only ed25519 signatures"
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw_key = b64
        .decode(&s.public_key)
        .map_err(|_| "not a signature: its public key is not base64".to_string())?;
    let raw_key: [u8; 32] = raw_key
        .try_into()
        .map_err(|_| "not a signature: its public key is not 32 bytes".to_string())?;
    let key = VerifyingKey::from_bytes(&raw_key)
        .map_err(|_| "not a signature: its public key is not an ed25519 key".to_string())?;
    let raw = b64
        .decode(&s.signature)
        .map_err(|_| "not a signature: the signature is not base64".to_string())?;
    let sig = Signature::from_slice(&raw).map_err(|_| "not a signature: the signature is not 64 bytes".to_string())?;
    let fp = fingerprint(&key);
    key.verify_strict(seal, &sig).map_err(|_| {
        format!("the signature does not match the seal (it claims key {fp}): the seal was changed after signing, or the signature forged")
    })?;
    Ok(SignedBy { key, fingerprint: fp })
}

/// One key of the trust policy, and the file it came from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub key: VerifyingKey,
    pub fingerprint: String,
    pub file: PathBuf,
}

/// The keys a site trusts to sign bundles, and where that came from.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// `--key release.pub`, `$MESHBUNDLE_TRUSTED_KEYS (…)` or the config directory.
    pub source: String,
    pub keys: Vec<TrustedKey>,
}

impl TrustPolicy {
    /// The policy in force: `--key` flags if any, else the variable if set,
    /// else the config directory if it exists, else none.
    pub fn resolve(flags: &[PathBuf]) -> Result<Option<TrustPolicy>> {
        if !flags.is_empty() {
            let shown: Vec<String> = flags.iter().map(|p| p.display().to_string()).collect();
            return TrustPolicy::from_paths(flags, format!("--key {}", shown.join(" --key "))).map(Some);
        }
        if let Some(v) = std::env::var_os(TRUSTED_KEYS_VAR).filter(|v| !v.is_empty()) {
            let paths: Vec<PathBuf> = std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            let source = format!("${TRUSTED_KEYS_VAR}={}", v.to_string_lossy());
            if paths.is_empty() {
                return Err(Error::failed(
                    format!("{source} names no file or directory"),
                    format!("unset {TRUSTED_KEYS_VAR}, or list .pub files"),
                ));
            }
            return TrustPolicy::from_paths(&paths, source).map(Some);
        }
        let config = std::env::var_os(CONFIG_DIR_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| DEFAULT_CONFIG_DIR.into());
        let dir = config.join("trusted-keys");
        match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => TrustPolicy::from_paths(std::slice::from_ref(&dir), dir.display().to_string()).map(Some),
        }
    }

    /// Reads every key named: a `.pub` file, or a directory whose `*.pub`
    /// files are read. Anything unreadable, malformed or writable by others
    /// is an error; a policy with no key at all is too.
    pub fn from_paths(paths: &[PathBuf], source: String) -> Result<TrustPolicy> {
        let mut keys: Vec<TrustedKey> = Vec::new();
        let mut add = |file: PathBuf| -> Result<()> {
            let key = load_verifying_key(&file)?;
            if !keys.iter().any(|k| k.key == key) {
                keys.push(TrustedKey {
                    fingerprint: fingerprint(&key),
                    key,
                    file,
                });
            }
            Ok(())
        };
        for p in paths {
            let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
            if !meta.is_dir() {
                add(p.clone())?;
                continue;
            }
            check_not_writable(p)?;
            let mut files = Vec::new();
            for e in std::fs::read_dir(p).map_err(|e| Error::io(p, e))? {
                let e = e.map_err(|e| Error::io(p, e))?;
                let path = e.path();
                if path.extension().is_some_and(|x| x == "pub") {
                    files.push(path);
                }
            }
            if files.is_empty() {
                return Err(Error::failed(
                    format!(
                        "{}: the trusted key directory holds no *.pub file ({source})",
                        p.display()
                    ),
                    "put the signers' .pub files there (meshbundle keygen writes them), or name another directory",
                ));
            }
            files.sort();
            for f in files {
                add(f)?;
            }
        }
        Ok(TrustPolicy { source, keys })
    }

    pub fn find(&self, key: &VerifyingKey) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| &k.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_of_the_raw_key_unpadded() {
        let key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let want = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(key.as_bytes()));
        let fp = fingerprint(&key);
        assert_eq!(fp, format!("SHA256:{}", want.trim_end_matches('=')));
        assert_eq!(fp.len(), 7 + 43);
    }

    #[test]
    fn examine_checks_the_signature_against_the_key_it_carries() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let sig = sign(&key, b"seal");
        assert_eq!(
            examine(&sig, b"seal").unwrap().fingerprint,
            fingerprint(&key.verifying_key())
        );
        assert!(examine(&sig, b"seal!").unwrap_err().contains("does not match"));
        assert!(examine(b"", b"seal").unwrap_err().contains("empty"));
        assert!(examine(b"none", b"seal").unwrap_err().contains("not a signature"));
        let mut v: serde_json::Value = serde_json::from_slice(&sig).unwrap();
        v["algorithm"] = "rsa".into();
        assert!(
            examine(&serde_json::to_vec(&v).unwrap(), b"seal")
                .unwrap_err()
                .contains("not ed25519")
        );
    }
}
