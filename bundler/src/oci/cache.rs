//! The local content-addressed cache (`~/.cache/meshbundle/blobs/sha256/`):
//! blobs and files are stored by digest once, whichever image or lock entry
//! needs them. A download goes to a temporary file first and is renamed into
//! place only after its digest checks, so an interrupted pull leaves only
//! finished blobs behind and the next run fetches just what is missing.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::Sha256;

use super::Digest;

/// The prefix of the cache's temporary files (see `fsutil::remove_leftovers`).
const TEMP_PREFIX: &str = "partial-";

#[derive(Debug, Clone)]
pub struct BlobCache {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{what}: expected {expected}, got {actual} ({size} bytes)")]
    Mismatch {
        what: String,
        expected: String,
        actual: String,
        size: u64,
    },
    /// A document meshbundle writes (an image index) that could not be made.
    #[error("cannot write {what}")]
    Document {
        what: &'static str,
        #[source]
        source: crate::error::BoxError,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn fs_err(path: &Path) -> impl FnOnce(crate::error::Error) -> CacheError + '_ {
    move |e| match e {
        crate::error::Error::Io { path, source } => CacheError::Io { path, source },
        other => CacheError::Io {
            path: path.to_path_buf(),
            source: io::Error::other(other),
        },
    }
}

impl BlobCache {
    /// The cache at `dir`, or at `$MESHBUNDLE_CACHE`, `$XDG_CACHE_HOME/meshbundle`
    /// or `~/.cache/meshbundle`.
    pub fn open(dir: Option<&Path>) -> Result<BlobCache, CacheError> {
        let root = match dir {
            Some(d) => d.to_path_buf(),
            None => default_dir(),
        };
        let blobs = root.join("blobs/sha256");
        crate::fsutil::create_dir_all(&blobs, 0o755).map_err(fs_err(&blobs))?;
        // What killed downloads left.
        crate::fsutil::report_leftovers(&crate::fsutil::remove_leftovers(&root.join("tmp"), TEMP_PREFIX));
        Ok(BlobCache { root })
    }

    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// Where the blob is (or would be). A `Digest` is 64 hex digits, so the
    /// path stays inside the cache.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the blob is in the cache (with the expected size, when given).
    pub fn contains(&self, digest: &Digest, size: Option<u64>) -> bool {
        match fs::metadata(self.path(digest)).ok() {
            Some(m) => size.is_none_or(|s| m.len() == s),
            None => false,
        }
    }

    /// A temporary file to download into (`tmp/partial-<pid>-…`, locked while
    /// it lives, so a later run can tell a killed run's from a running one's);
    /// `commit` moves it into place.
    pub fn temp(&self) -> Result<tempfile::NamedTempFile, CacheError> {
        let dir = self.root.join("tmp");
        crate::fsutil::create_dir_all(&dir, 0o755).map_err(fs_err(&dir))?;
        let tmp = crate::fsutil::temp_file_in(&dir, TEMP_PREFIX).map_err(fs_err(&dir))?;
        crate::fsutil::test_pause("cache-temp");
        Ok(tmp)
    }

    /// Checks a downloaded file's digest (and size) and moves it into place.
    pub fn commit(&self, tmp: &Path, digest: &Digest, size: Option<u64>, what: &str) -> Result<PathBuf, CacheError> {
        let dest = self.path(digest);
        let (actual, len) = sha256_file(tmp).map_err(io_err(tmp))?;
        if actual != *digest || size.is_some_and(|s| s != len) {
            let _ = fs::remove_file(tmp);
            return Err(CacheError::Mismatch {
                what: what.to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
                size: len,
            });
        }
        fs::rename(tmp, &dest).map_err(io_err(&dest))?;
        Ok(dest)
    }

    /// Stores bytes, returning their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, CacheError> {
        let digest = super::digest_of(bytes);
        if !self.contains(&digest, Some(bytes.len() as u64)) {
            let mut tmp = self.temp()?;
            tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
            let (_, path) = tmp.keep().map_err(|e| CacheError::Io {
                path: self.root.clone(),
                source: e.error,
            })?;
            self.commit(&path, &digest, Some(bytes.len() as u64), "blob")?;
        }
        Ok(digest)
    }

    /// Copies a file into the cache, returning its digest and size. The file
    /// is read once (hashed as it is copied), its bytes counted on `progress`.
    pub fn put_file(&self, src: &Path, progress: &crate::progress::Progress) -> Result<(Digest, u64), CacheError> {
        use sha2::Digest as _;
        let f = fs::File::open(src).map_err(io_err(src))?;
        let mut r = progress.reader(f);
        let mut tmp = self.temp()?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = r.read(&mut buf).map_err(io_err(src))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io_err(tmp.path()))?;
            size += n as u64;
        }
        let digest = Digest::from_raw(&h.finalize().into());
        if !self.contains(&digest, Some(size)) {
            let (_, path) = tmp.keep().map_err(|e| CacheError::Io {
                path: self.root.clone(),
                source: e.error,
            })?;
            self.commit(&path, &digest, Some(size), &src.display().to_string())?;
        }
        Ok((digest, size))
    }

    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, CacheError> {
        let p = self.path(digest);
        fs::read(&p).map_err(io_err(&p))
    }
}

fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MESHBUNDLE_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("meshbundle");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/meshbundle"),
        None => std::env::temp_dir().join("meshbundle-cache"),
    }
}

/// The digest and length of a file, streamed.
pub fn sha256_file(path: &Path) -> io::Result<(Digest, u64)> {
    use sha2::Digest as _;
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((Digest::from_raw(&h.finalize().into()), total))
}
