//! OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/`), as
//! `skopeo`, `umoci` and `ctr import` read them. Writes are atomic: every blob
//! and the index go through a temporary file. The documents are oci-spec's
//! (`OciLayout`, `ImageIndex`, `Descriptor`), written in canonical form
//! ([`super::media::canonical_bytes`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageIndex, ImageIndexBuilder, MediaType, OciLayoutBuilder};

use super::media::{Descriptor, canonical_bytes, descriptor};
use super::{Digest, Image};
use crate::oci::cache::{BlobCache, CacheError};

pub use oci_spec::image::ANNOTATION_REF_NAME as REF_NAME;

/// The reference name (`org.opencontainers.image.ref.name`) of an index entry.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

/// A descriptor with its reference name.
pub fn named(mut d: Descriptor, ref_name: &str) -> Descriptor {
    d.set_annotations(Some(
        [(REF_NAME.to_string(), ref_name.to_string())].into_iter().collect(),
    ));
    d
}

/// The canonical bytes of an image index listing `manifests`, sorted by
/// reference name then digest: `index.json` of a layout, and the index a
/// bundle carries.
pub fn index_bytes(mut manifests: Vec<Descriptor>) -> Result<Vec<u8>, CacheError> {
    manifests.sort_by(|a, b| {
        ref_name(a)
            .unwrap_or_default()
            .cmp(ref_name(b).unwrap_or_default())
            .then_with(|| a.digest().as_ref().cmp(b.digest().as_ref()))
    });
    let bad = |source: crate::error::BoxError| CacheError::Document {
        what: "an image index",
        source,
    };
    let index: ImageIndex = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|e| bad(e.into()))?;
    canonical_bytes(&index).map_err(|e| bad(e.into()))
}

#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    /// The layout's root, locked while a run writes into it.
    _lock: Option<fs::File>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Layout {
    /// Creates (or opens) a layout at `root`.
    /// Its directories are 0755 whatever the umask. The layout is locked while
    /// it is written, so the `*.tmp` files a killed run left are told from a
    /// running one's, and removed.
    pub fn create(root: &Path) -> Result<Layout, CacheError> {
        let blobs = root.join("blobs/sha256");
        let fs_err = |e: crate::error::Error| CacheError::Io {
            path: blobs.clone(),
            source: std::io::Error::other(e),
        };
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
            let header = OciLayoutBuilder::default()
                .image_layout_version("1.0.0")
                .build()
                .map_err(|e| io(&marker)(std::io::Error::other(e)))?;
            let bytes = canonical_bytes(&header).map_err(|e| io(&marker)(std::io::Error::other(e)))?;
            crate::fsutil::create_file(&marker, 0o644)
                .and_then(|mut f| f.write_all(&bytes))
                .map_err(io(&marker))?;
        }
        Ok(Layout {
            root: root.to_path_buf(),
            _lock: Some(lock),
        })
    }

    /// Opens an existing layout.
    pub fn open(root: &Path) -> Result<Layout, CacheError> {
        let marker = root.join("oci-layout");
        fs::metadata(&marker).map_err(io(&marker))?;
        Ok(Layout {
            root: root.to_path_buf(),
            _lock: None,
        })
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
    pub fn add_image(&self, cache: &BlobCache, image: &Image, ref_name: &str) -> Result<Descriptor, CacheError> {
        for b in &image.blobs {
            self.put_from_cache(cache, &b.digest)?;
        }
        for (_, _, raw) in &image.manifests {
            self.put_bytes(raw)?;
        }
        Ok(named(
            descriptor(MediaType::from(image.media_type.as_str()), &image.digest, image.size),
            ref_name,
        ))
    }

    /// Writes `index.json` with these entries (sorted by reference name).
    pub fn write_index(&self, manifests: Vec<Descriptor>) -> Result<(), CacheError> {
        let bytes = index_bytes(manifests)?;
        let path = self.root.join("index.json");
        let tmp = self.root.join("index.json.tmp");
        crate::fsutil::create_file(&tmp, 0o644)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// The entries of `index.json`.
    pub fn read_index(&self) -> Result<Vec<Descriptor>, CacheError> {
        let p = self.root.join("index.json");
        let bytes = fs::read(&p).map_err(io(&p))?;
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| CacheError::Io {
            path: p.clone(),
            source: std::io::Error::other(e),
        })?;
        Ok(index.manifests().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `index_bytes` writes the index a bundle carries exactly as the
    /// `json!` form did: entries sorted by reference name, each with its
    /// media type, digest, size and name.
    #[test]
    fn index_bytes_keep_the_bundle_index_form() {
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let entries = vec![
            named(descriptor(MediaType::ImageIndex, &b, 20), "reg:5000/z/z:2"),
            named(descriptor(MediaType::ImageManifest, &a, 10), "reg:5000/a/a:1"),
        ];
        let want = serde_json::json!({"schemaVersion": 2, "mediaType": crate::oci::media::OCI_INDEX, "manifests": [
            {"mediaType": crate::oci::media::OCI_MANIFEST, "digest": a, "size": 10, "annotations": {REF_NAME: "reg:5000/a/a:1"}},
            {"mediaType": crate::oci::media::OCI_INDEX, "digest": b, "size": 20, "annotations": {REF_NAME: "reg:5000/z/z:2"}},
        ]});
        assert_eq!(index_bytes(entries).unwrap(), serde_json::to_vec(&want).unwrap());
    }
}
