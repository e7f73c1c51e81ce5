//! Sealing private keys with age: to X25519 recipients (`age1…`) or to a
//! passphrase; `import` opens them with the identity or the passphrase.
//!
//! age encrypts with fresh randomness, so the ciphertext of each private file
//! is kept in the cache, by the file's content and the recipients: rebuilding
//! the same bundle reuses it and comes out byte for byte the same. The
//! cache's file names are keyed hashes under a random key kept in the cache
//! (0600), so they give nothing to test passphrase guesses against.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::SecretString;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fsutil;
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

    /// The name of a ciphertext in the cache: HMAC-SHA256, under the cache's
    /// own random key, of the recipients (or passphrase) and the plaintext's
    /// sha256. Without that key the name tells nothing, so the cache gives no
    /// way to test guesses at a passphrase.
    fn cache_key(&self, key: &[u8], plaintext: &[u8]) -> String {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(b"meshbundle age v2\n");
        let mut field = |tag: &[u8], value: &[u8]| {
            m.update(tag);
            m.update(&(value.len() as u64).to_be_bytes());
            m.update(value);
        };
        match self {
            Sealer::Recipients(r) => {
                for x in r {
                    field(b"recipient", x.to_string().as_bytes());
                }
            }
            Sealer::Passphrase(p) => {
                use age::secrecy::ExposeSecret;
                field(b"passphrase", p.expose_secret().as_bytes());
            }
        }
        field(b"plaintext", &Sha256::digest(plaintext));
        hex::encode(m.finalize().into_bytes())
    }

    /// Encrypts `plaintext`, reusing an earlier ciphertext of the same input.
    pub fn seal(&self, plaintext: &[u8], cache: &BlobCache) -> Result<Vec<u8>> {
        let sealed = SealedCache::open(cache)?;
        let path = sealed.dir.join(self.cache_key(&sealed.key, plaintext));
        if let Ok(c) = std::fs::read(&path) {
            return Ok(c);
        }
        let enc = match self {
            Sealer::Recipients(r) => age::Encryptor::with_recipients(r.iter().map(|x| x as &dyn age::Recipient))
                .map_err(|e| Error::failed_with("age", e, "check the recipients"))?,
            Sealer::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        };
        let mut out = Vec::new();
        let mut w = enc
            .wrap_output(&mut out)
            .map_err(|e| Error::failed_with("age", e, "report this as a bug"))?;
        w.write_all(plaintext)
            .map_err(|e| Error::failed_with("age", e, "report this as a bug"))?;
        w.finish()
            .map_err(|e| Error::failed_with("age", e, "report this as a bug"))?;
        fsutil::write_atomic(&path, &out, 0o600)?;
        Ok(out)
    }
}

/// The cache of ciphertexts (`cache/sealed/`, 0700), and its key (`key`,
/// 32 random bytes, 0600), made on first use.
struct SealedCache {
    dir: PathBuf,
    key: Vec<u8>,
}

const SEALED_KEY: &str = "the key of the cache of sealed files";

impl SealedCache {
    fn open(cache: &BlobCache) -> Result<SealedCache> {
        let dir = cache.root_dir().join("sealed");
        fsutil::create_dir_all(&dir, 0o700)?;
        // Made 0755 by earlier versions.
        fsutil::set_mode(&dir, 0o700)?;
        let key_path = dir.join("key");
        let key = match fsutil::read_private(&key_path, 64, SEALED_KEY) {
            Ok(k) => k,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Self::make_key(&dir, &key_path)?
            }
            Err(e) => return Err(e),
        };
        if key.len() != 32 {
            return Err(Error::failed(
                format!("{} is damaged (it should hold 32 bytes)", key_path.display()),
                format!("delete {} (the cache of sealed files) and build again", dir.display()),
            ));
        }
        Ok(SealedCache { dir, key })
    }

    fn make_key(dir: &Path, key_path: &Path) -> Result<Vec<u8>> {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| Error::failed_with("no randomness for the cache key", e, "check /dev/urandom"))?;
        let mut tmp = fsutil::temp_file_in(dir, fsutil::WRITE_PREFIX)?;
        tmp.as_file()
            .set_permissions(fsutil::permissions(0o600))
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.write_all(&key).map_err(|e| Error::io(tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
        match tmp.persist_noclobber(key_path) {
            Ok(_) => {}
            // Another build made it first: use theirs.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                return fsutil::read_private(key_path, 64, SEALED_KEY);
            }
            Err(e) => return Err(Error::io(key_path, e.error)),
        }
        // Ciphertexts named the old way (an unsalted hash that covered the
        // passphrase) are of no more use, and tell too much: remove them.
        if let Ok(list) = std::fs::read_dir(dir) {
            for e in list.flatten() {
                let name = e.file_name();
                if name
                    .to_str()
                    .is_some_and(|n| meshbundle_core::digest::Digest::from_hex(n).is_ok())
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(key)
    }
}

/// Recipients from `age1…` strings and recipient files (one per line, `#` comments).
pub fn recipients(given: &[String], files: &[PathBuf]) -> Result<Vec<age::x25519::Recipient>> {
    let mut all: Vec<String> = given.to_vec();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        all.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    all.iter()
        .map(|r| {
            age::x25519::Recipient::from_str(r).map_err(|e| {
                Error::failed_with(
                    format!("`{r}` is not an age X25519 recipient"),
                    e,
                    "give the age1… public key of the site's operator",
                )
            })
        })
        .collect()
}

pub fn read_passphrase(path: &Path) -> Result<SecretString> {
    let text = fsutil::read_private_text(path, 64 * 1024, "a passphrase")?;
    let line = text.lines().next().unwrap_or_default().to_string();
    if line.is_empty() {
        return Err(Error::failed(
            format!("{} is empty", path.display()),
            "put the passphrase on its first line",
        ));
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
        let text = fsutil::read_private_text(path, 1 << 20, "age identities")?;
        let ids: Vec<age::x25519::Identity> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
            .filter_map(|l| age::x25519::Identity::from_str(l).ok())
            .collect();
        if ids.is_empty() {
            return Err(Error::failed(
                format!("{} holds no AGE-SECRET-KEY", path.display()),
                "give the identity made by age-keygen",
            ));
        }
        Ok(Opener::Identities(ids))
    }

    /// Decrypts `ciphertext` as a stream into `out` (the file at `dest`),
    /// one age chunk at a time, so memory stays small whatever the size.
    /// Returns the bytes written.
    pub fn open_to(&self, ciphertext: &mut dyn Read, out: &mut dyn Write, dest: &Path, what: &str) -> Result<u64> {
        let dec = age::Decryptor::new(ciphertext)
            .map_err(|e| Error::failed_with(format!("{what}: not an age file"), e, "the bundle is damaged"))?;
        let scrypt;
        let ids: Vec<&dyn age::Identity> = match self {
            Opener::Identities(v) => v.iter().map(|i| i as &dyn age::Identity).collect(),
            Opener::Passphrase(p) => {
                scrypt = age::scrypt::Identity::new(p.clone());
                vec![&scrypt as &dyn age::Identity]
            }
        };
        let mut r = dec.decrypt(ids.into_iter()).map_err(|e| {
            Error::failed_with(
                format!("{what}: cannot decrypt"),
                e,
                "give the identity (--identity) or passphrase the bundle was sealed to",
            )
        })?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0u64;
        loop {
            let k = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::failed_with(
                        format!("{what}: cannot decrypt"),
                        e,
                        "the bundle is damaged",
                    ));
                }
            };
            out.write_all(&buf[..k]).map_err(|e| Error::io(dest, e))?;
            n += k as u64;
        }
        Ok(n)
    }
}
