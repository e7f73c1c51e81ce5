//! Sealing private keys with age: to X25519 recipients (`age1…`) or to a
//! passphrase; `import` opens them with the identity or the passphrase.
//!
//! age encrypts with fresh randomness, so the ciphertext of each private file
//! is kept in the cache, by the file's content and the recipients: rebuilding
//! the same bundle reuses it and comes out byte for byte the same.

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::oci::cache::BlobCache;

pub enum Sealer {
    Recipients(Vec<age::x25519::Recipient>),
    Passphrase(SecretString),
}

impl Sealer {
    /// The recipients as the seal lists them.
    pub fn describe(&self) -> Vec<String> {
        match self {
            Sealer::Recipients(r) => r.iter().map(|r| r.to_string()).collect(),
            Sealer::Passphrase(_) => vec!["passphrase".into()],
        }
    }

    fn cache_key(&self, plaintext: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(b"meshbundle age v1\n");
        match self {
            Sealer::Recipients(r) => {
                for x in r {
                    h.update(x.to_string().as_bytes());
                    h.update(b"\n");
                }
            }
            Sealer::Passphrase(p) => {
                use age::secrecy::ExposeSecret;
                h.update(Sha256::digest(p.expose_secret().as_bytes()));
            }
        }
        h.update(Sha256::digest(plaintext));
        hex::encode(h.finalize())
    }

    /// Encrypts `plaintext`, reusing an earlier ciphertext of the same input.
    pub fn seal(&self, plaintext: &[u8], cache: &BlobCache) -> Result<Vec<u8>> {
        let dir = cache.root_dir().join("sealed");
        let path = dir.join(self.cache_key(plaintext));
        if let Ok(c) = std::fs::read(&path) {
            return Ok(c);
        }
        let enc = match self {
            Sealer::Recipients(r) => age::Encryptor::with_recipients(r.iter().map(|x| x as &dyn age::Recipient))
                .map_err(|e| Error::failed(format!("age: {e}"), "check the recipients"))?,
            Sealer::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        };
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).map_err(|e| Error::failed(format!("age: {e}"), "report this as a bug"))?;
        w.write_all(plaintext).map_err(|e| Error::failed(format!("age: {e}"), "report this as a bug"))?;
        w.finish().map_err(|e| Error::failed(format!("age: {e}"), "report this as a bug"))?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        crate::fsutil::write_atomic(&path, &out, 0o600)?;
        Ok(out)
    }
}

/// Recipients from `age1…` strings and recipient files (one per line, `#` comments).
pub fn recipients(given: &[String], files: &[std::path::PathBuf]) -> Result<Vec<age::x25519::Recipient>> {
    let mut all: Vec<String> = given.to_vec();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        all.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
    }
    all.iter()
        .map(|r| {
            age::x25519::Recipient::from_str(r).map_err(|e| {
                Error::failed(format!("`{r}` is not an age X25519 recipient: {e}"), "give the age1… public key of the site's operator")
            })
        })
        .collect()
}

pub fn read_passphrase(path: &Path) -> Result<SecretString> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let line = text.lines().next().unwrap_or_default().to_string();
    if line.is_empty() {
        return Err(Error::failed(format!("{} is empty", path.display()), "put the passphrase on its first line"));
    }
    Ok(SecretString::from(line))
}

/// What opens sealed private keys at import.
pub enum Opener {
    Identities(Vec<age::x25519::Identity>),
    Passphrase(SecretString),
}

impl Opener {
    pub fn from_identity_file(path: &Path) -> Result<Opener> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let ids: Vec<age::x25519::Identity> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
            .filter_map(|l| age::x25519::Identity::from_str(l).ok())
            .collect();
        if ids.is_empty() {
            return Err(Error::failed(format!("{} holds no AGE-SECRET-KEY", path.display()), "give the identity made by age-keygen"));
        }
        Ok(Opener::Identities(ids))
    }

    pub fn open(&self, ciphertext: &[u8], what: &str) -> Result<Vec<u8>> {
        let dec =
            age::Decryptor::new(ciphertext).map_err(|e| Error::failed(format!("{what}: not an age file: {e}"), "the bundle is damaged"))?;
        let scrypt;
        let ids: Vec<&dyn age::Identity> = match self {
            Opener::Identities(v) => v.iter().map(|i| i as &dyn age::Identity).collect(),
            Opener::Passphrase(p) => {
                scrypt = age::scrypt::Identity::new(p.clone());
                vec![&scrypt as &dyn age::Identity]
            }
        };
        let mut r = dec.decrypt(ids.into_iter()).map_err(|e| {
            Error::failed(format!("{what}: cannot decrypt: {e}"), "give the identity (--identity) or passphrase the bundle was sealed to")
        })?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).map_err(|e| Error::failed(format!("{what}: {e}"), "the bundle is damaged"))?;
        Ok(out)
    }
}
