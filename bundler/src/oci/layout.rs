//! OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/`), as
//! `skopeo`, `umoci` and `ctr import` read them. Writes are atomic: every blob
//! and the index go through a temporary file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Digest, Image};
use crate::oci::cache::{BlobCache, CacheError};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    /// The layout's root, locked while a run writes into it.
    _lock: Option<fs::File>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io { path: path.to_path_buf(), source }
}

impl Layout {
    /// Creates (or opens) a layout at `root`.
    /// Its directories are 0755 whatever the umask. The layout is locked while
    /// it is written, so the `*.tmp` files a killed run left are told from a
    /// running one's, and removed.
    pub fn create(root: &Path) -> Result<Layout, CacheError> {
        let blobs = root.join("blobs/sha256");
        let fs_err = |e: crate::error::Error| CacheError::Io { path: blobs.clone(), source: std::io::Error::other(e.to_string()) };
        crate::fsutil::create_dir_all(&blobs, 0o755).map_err(fs_err)?;
        let lock = fs::File::open(root).map_err(io(root))?;
        if !crate::fsutil::try_lock(&lock) {
            return Err(CacheError::Io {
                path: root.to_path_buf(),
                source: std::io::Error::other("another meshbundle is writing into it"),
            });
        }
        let mut removed = Vec::new();
        for d in [root, blobs.as_path()] {
            for e in fs::read_dir(d).map_err(io(d))?.flatten() {
                if e.file_name().to_string_lossy().ends_with(".tmp") && fs::remove_file(e.path()).is_ok() {
                    removed.push(e.path());
                }
            }
        }
        crate::fsutil::report_leftovers(&removed);
        let marker = root.join("oci-layout");
        if !marker.exists() {
            crate::fsutil::create_file(&marker, 0o644)
                .and_then(|mut f| f.write_all(b"{\"imageLayoutVersion\":\"1.0.0\"}"))
                .map_err(io(&marker))?;
        }
        Ok(Layout { root: root.to_path_buf(), _lock: Some(lock) })
    }

    /// Opens an existing layout.
    pub fn open(root: &Path) -> Result<Layout, CacheError> {
        let marker = root.join("oci-layout");
        fs::metadata(&marker).map_err(io(&marker))?;
        Ok(Layout { root: root.to_path_buf(), _lock: None })
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Puts a blob from the cache into the layout (a hard link when they share a
    /// file system, a copy otherwise).
    pub fn put_from_cache(&self, cache: &BlobCache, digest: &Digest) -> Result<(), CacheError> {
        let dest = self.blob_path(digest);
        if dest.exists() {
            return Ok(());
        }
        let src = cache.path(digest);
        let tmp = dest.with_extension("tmp");
        if fs::hard_link(&src, &tmp).is_err()
            && let Err(e) = fs::copy(&src, &tmp)
        {
            // Name the layout's file (a full disk is the output's), and leave no part of it.
            let _ = fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        crate::fsutil::test_pause("layout-tmp");
        fs::rename(&tmp, &dest).map_err(io(&dest))
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, CacheError> {
        let digest = super::digest_of(bytes);
        let dest = self.blob_path(&digest);
        if !dest.exists() {
            let tmp = dest.with_extension("tmp");
            let written = crate::fsutil::create_file(&tmp, 0o644).and_then(|mut f| f.write_all(bytes));
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(io(&tmp)(e));
            }
            fs::rename(&tmp, &dest).map_err(io(&dest))?;
        }
        Ok(digest)
    }

    /// Writes an image (manifests and blobs, which must be in `cache`) and
    /// returns its index entry.
    pub fn add_image(&self, cache: &BlobCache, image: &Image, ref_name: &str) -> Result<Value, CacheError> {
        for b in &image.blobs {
            self.put_from_cache(cache, &b.digest)?;
        }
        for (_, _, raw) in &image.manifests {
            self.put_bytes(raw)?;
        }
        Ok(json!({
            "mediaType": image.media_type,
            "digest": image.digest,
            "size": image.size,
            "annotations": {REF_NAME: ref_name},
        }))
    }

    /// Writes `index.json` with these entries (sorted by reference name).
    pub fn write_index(&self, mut manifests: Vec<Value>) -> Result<(), CacheError> {
        manifests.sort_by(|a, b| {
            let n = |v: &Value| v["annotations"][REF_NAME].as_str().unwrap_or_default().to_string();
            n(a).cmp(&n(b)).then_with(|| a["digest"].as_str().cmp(&b["digest"].as_str()))
        });
        let index = json!({"schemaVersion": 2, "mediaType": super::media::OCI_INDEX, "manifests": manifests});
        let path = self.root.join("index.json");
        let tmp = self.root.join("index.json.tmp");
        crate::fsutil::create_file(&tmp, 0o644)
            .and_then(|mut f| f.write_all(&serde_json::to_vec(&index).unwrap_or_default()))
            .map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The entries of `index.json`.
    pub fn read_index(&self) -> Result<Vec<Value>, CacheError> {
        let p = self.root.join("index.json");
        let bytes = fs::read(&p).map_err(io(&p))?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| CacheError::Io { path: p.clone(), source: std::io::Error::other(e.to_string()) })?;
        Ok(v["manifests"].as_array().cloned().unwrap_or_default())
    }
}
