//! Images that do not come from a registry: an OCI image layout directory
//! (`oci:DIR`), an OCI layout in a tar (`oci-archive:FILE`), and the format of
//! `docker save`, skopeo's `docker-archive:` and Nix's `dockerTools`
//! (`docker-archive:FILE`). Blobs go into the cache by digest; the digests
//! the format carries are kept (an OCI layout's manifests and blobs; a docker
//! archive's config and layers, for which an OCI manifest is written).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use meshbundle_core::image::ImageRef;
use meshbundle_core::lock::LockedImage;
use oci_spec::image::{ImageIndex, ImageManifestBuilder, MediaType};
use serde_json::Value;
use sha2::Sha256;

use super::cache::{BlobCache, CacheError};
use super::layout::{Layout, ref_name};
use super::media::{Descriptor, canonical_bytes, descriptor};
use super::registry::{RegistryError, image_from_lock, locked_from_manifest};
use super::{Digest, Image, digest_of};
use crate::progress::Progress;

fn err(image: &ImageRef, message: impl Into<String>) -> RegistryError {
    RegistryError::Manifest {
        image: image.to_string(),
        message: message.into(),
    }
}

/// Something of the source that does not read, with the error that says why.
fn invalid(image: &ImageRef, what: impl Into<String>, source: impl Into<crate::error::BoxError>) -> RegistryError {
    RegistryError::Invalid {
        image: image.to_string(),
        what: what.into(),
        source: source.into(),
    }
}

/// Parses `oci:DIR`, `oci-archive:FILE` or `docker-archive:FILE`.
pub fn parse_source(source: &str) -> Option<(&str, PathBuf)> {
    for kind in ["oci-archive", "docker-archive", "oci"] {
        if let Some(rest) = source.strip_prefix(kind).and_then(|r| r.strip_prefix(':'))
            && !rest.is_empty()
        {
            return Some((kind, PathBuf::from(rest)));
        }
    }
    None
}

/// Loads an image from a non-registry source into the cache: what the lock
/// records, and the image as carried.
pub fn load(
    source: &str,
    name: &ImageRef,
    platforms: &[String],
    cache: &BlobCache,
    progress: &Progress,
) -> Result<(LockedImage, Image), RegistryError> {
    let (kind, path) = parse_source(source).ok_or_else(|| {
        err(
            name,
            format!("`{source}` is not oci:DIR, oci-archive:FILE or docker-archive:FILE"),
        )
    })?;
    let top = match kind {
        "oci" => from_layout_dir(&path, name, cache, progress)?,
        "oci-archive" => from_oci_archive(&path, name, cache, progress)?,
        _ => from_docker_archive(&path, name, cache, progress)?,
    };
    let locked = locked_from_manifest(name, &top, &digest_of(&top), platforms, Some(source.to_string()))?;
    let image = futures::executor::block_on(image_from_lock(&locked, top, |d| async move {
        cache.read(&d).map_err(RegistryError::from)
    }))?;
    for b in &image.blobs {
        if !cache.contains(&b.digest, Some(b.size)) {
            return Err(err(name, format!("{source} lacks blob {}", b.digest)));
        }
    }
    Ok((locked, image))
}

/// Picks the manifest for `name` from an index.json: the one whose
/// `org.opencontainers.image.ref.name` names the same image (`nginx:1` and
/// `docker.io/library/nginx:1` alike), else the one whose ref name is just
/// its tag, else the only one. A layout of many images sharing a tag never
/// gives one image for another: two candidates are an error. The digest is
/// checked (it becomes a path in the cache).
fn pick(entries: &[Descriptor], name: &ImageRef) -> Result<Option<Digest>, RegistryError> {
    let want = name.without_digest();
    let tag = name.tag.as_deref();
    let same_image = |r: &str| ImageRef::parse(r).is_ok_and(|x| x.without_digest() == want);
    let named: Vec<&Descriptor> = entries
        .iter()
        .filter(|e| same_image(ref_name(e).unwrap_or_default()))
        .collect();
    let by_tag: Vec<&Descriptor> = entries.iter().filter(|e| tag.is_some() && ref_name(e) == tag).collect();
    let chosen = match (named.as_slice(), by_tag.as_slice()) {
        ([one], _) | ([], [one]) => Some(*one),
        ([], []) if entries.len() == 1 => entries.first(),
        ([], []) => None,
        _ => {
            return Err(err(
                name,
                "index.json names more than one manifest for it: give each image its own ref name",
            ));
        }
    };
    match chosen {
        None => Ok(None),
        Some(e) => Digest::parse(e.digest().as_ref())
            .map(Some)
            .map_err(|e| invalid(name, "index.json: the digest of its manifest", e)),
    }
}

fn from_layout_dir(
    dir: &Path,
    name: &ImageRef,
    cache: &BlobCache,
    progress: &Progress,
) -> Result<Vec<u8>, RegistryError> {
    let layout = Layout::open(dir)?;
    let entries = layout.read_index()?;
    let digest =
        pick(&entries, name)?.ok_or_else(|| err(name, format!("{} has no manifest named {name}", dir.display())))?;
    // Copy every blob of the layout the cache lacks into it, checking each.
    let blobs = dir.join("blobs/sha256");
    let list_err = |source| CacheError::Io {
        path: blobs.clone(),
        source,
    };
    let mut missing = Vec::new();
    for e in fs::read_dir(&blobs).map_err(list_err)? {
        let e = e.map_err(list_err)?;
        let file_name = e.file_name().to_string_lossy().into_owned();
        let claimed = Digest::from_hex(&file_name)
            .map_err(|e| invalid(name, format!("{}: a file not named by its digest", blobs.display()), e))?;
        // Already cached (the cache is content-addressed, and a bundle checks
        // every blob again as it writes it): no need to read it again.
        let len = e.metadata().map(|m| m.len()).map_err(list_err)?;
        if !cache.contains(&claimed, Some(len)) {
            missing.push((e.path(), claimed, len));
        }
    }
    progress.add_total(missing.iter().map(|(_, _, len)| len).sum());
    for (path, claimed, _) in missing {
        let (got, _) = cache.put_file(&path, progress)?;
        if got != claimed {
            return Err(RegistryError::BadBlob {
                image: name.to_string(),
                blob: claimed.to_string(),
                actual: got.to_string(),
            });
        }
    }
    Ok(cache.read(&digest)?)
}

/// A tar's regular files (`path -> (digest, size)`) and its small JSON files' bytes.
type TarContents = (BTreeMap<String, (Digest, u64)>, BTreeMap<String, Vec<u8>>);

/// Streams a tar's regular files into the cache, its bytes counted on `progress`.
fn import_tar(file: &Path, cache: &BlobCache, progress: &Progress) -> Result<TarContents, CacheError> {
    let io_err = |source| CacheError::Io {
        path: file.to_path_buf(),
        source,
    };
    let f = fs::File::open(file).map_err(io_err)?;
    progress.add_total(f.metadata().map_err(io_err)?.len());
    let mut archive = tar::Archive::new(io::BufReader::new(progress.reader(f)));
    let mut files = BTreeMap::new();
    let mut small = BTreeMap::new();
    for entry in archive.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(io_err)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut tmp = cache.temp()?;
        let mut h = <Sha256 as sha2::Digest>::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        let mut keep = Vec::new();
        loop {
            let n = entry.read(&mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            sha2::Digest::update(&mut h, &buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io_err)?;
            if path.ends_with(".json") && keep.len() < (4 << 20) {
                keep.extend_from_slice(&buf[..n]);
            }
            size += n as u64;
        }
        let digest = Digest::from_raw(&sha2::Digest::finalize(h).into());
        if cache.contains(&digest, Some(size)) {
            drop(tmp);
        } else {
            let (_, p) = tmp.keep().map_err(|e| CacheError::Io {
                path: file.to_path_buf(),
                source: e.error,
            })?;
            cache.commit(&p, &digest, Some(size), &path)?;
        }
        if path.ends_with(".json") || path == "oci-layout" {
            small.insert(path.clone(), keep);
        }
        files.insert(path, (digest, size));
    }
    Ok((files, small))
}

fn from_oci_archive(
    file: &Path,
    name: &ImageRef,
    cache: &BlobCache,
    progress: &Progress,
) -> Result<Vec<u8>, RegistryError> {
    let (files, small) = import_tar(file, cache, progress)?;
    for (path, (digest, _)) in &files {
        if let Some(hex) = path.strip_prefix("blobs/sha256/")
            && digest.hex() != hex
        {
            return Err(RegistryError::BadBlob {
                image: name.to_string(),
                // The name the archive gives the blob, as it gives it (it may
                // not even be a digest).
                blob: Digest::from_hex(hex).map_or_else(|_| format!("blobs/sha256/{hex}"), |d| d.to_string()),
                actual: digest.to_string(),
            });
        }
    }
    let raw = small.get("index.json").ok_or_else(|| {
        err(
            name,
            format!("{} has no index.json: not an OCI archive", file.display()),
        )
    })?;
    let index: ImageIndex = serde_json::from_slice(raw).map_err(|e| {
        invalid(
            name,
            format!("{}: index.json: not an OCI image index", file.display()),
            e,
        )
    })?;
    let digest = pick(index.manifests(), name)?
        .ok_or_else(|| err(name, format!("{} has no manifest named {name}", file.display())))?;
    Ok(cache.read(&digest)?)
}

fn from_docker_archive(
    file: &Path,
    name: &ImageRef,
    cache: &BlobCache,
    progress: &Progress,
) -> Result<Vec<u8>, RegistryError> {
    let (files, small) = import_tar(file, cache, progress)?;
    let manifest: Value = small
        .get("manifest.json")
        .and_then(|b| serde_json::from_slice(b).ok())
        .ok_or_else(|| {
            err(
                name,
                format!("{} has no manifest.json: not a docker archive", file.display()),
            )
        })?;
    let items = manifest.as_array().cloned().unwrap_or_default();
    let want = name.without_digest();
    let item = items
        .iter()
        .find(|i| {
            i["RepoTags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|t| ImageRef::parse(t).is_ok_and(|r| r.without_digest() == want))
        })
        .or(if items.len() == 1 { items.first() } else { None })
        .ok_or_else(|| err(name, format!("{} has no image tagged {name}", file.display())))?;
    let config_path = item["Config"]
        .as_str()
        .ok_or_else(|| err(name, "manifest.json names no config"))?;
    let (config_digest, config_size) = files
        .get(config_path)
        .cloned()
        .ok_or_else(|| err(name, format!("the archive lacks {config_path}")))?;
    let mut layers = Vec::new();
    for l in item["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let (digest, size) = files
            .get(l)
            .cloned()
            .ok_or_else(|| err(name, format!("the archive lacks {l}")))?;
        let gz = {
            let mut head = [0u8; 2];
            let p = cache.path(&digest);
            fs::File::open(&p).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == [0x1f, 0x8b]
        };
        layers.push(descriptor(
            if gz {
                MediaType::ImageLayerGzip
            } else {
                MediaType::ImageLayer
            },
            &digest,
            size,
        ));
    }
    let oci = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MediaType::ImageConfig, &config_digest, config_size))
        .layers(layers)
        .build()
        .map_err(|e| invalid(name, "the OCI manifest written for it", e))?;
    let raw = canonical_bytes(&oci).map_err(|e| invalid(name, "the OCI manifest written for it", e))?;
    cache.put_bytes(&raw)?;
    Ok(raw)
}

#[cfg(test)]
mod pick_tests {
    use super::*;
    use crate::oci::layout::named;

    fn entry(hex: char, ref_name: &str) -> Descriptor {
        let d = Digest::from_hex(&hex.to_string().repeat(64)).unwrap();
        named(descriptor(MediaType::ImageManifest, &d, 1), ref_name)
    }

    #[test]
    fn images_sharing_a_tag_each_get_their_own_manifest() {
        let entries = [
            entry('a', "registry.example.internal/bench/img-0:1"),
            entry('b', "registry.example.internal/bench/img-1:1"),
            entry('c', "nginx:1.25"),
        ];
        let r = |n: &str| n.parse::<ImageRef>().unwrap();
        let got = |n: &str| pick(&entries, &r(n)).unwrap().map(|d| d.hex().chars().next().unwrap());
        assert_eq!(got("registry.example.internal/bench/img-1:1"), Some('b'));
        assert_eq!(got("registry.example.internal/bench/img-0:1"), Some('a'));
        assert_eq!(got("docker.io/library/nginx:1.25"), Some('c'));
        assert_eq!(got("registry.example.internal/bench/img-2:1"), None);
        // A ref name that is only the tag, as skopeo writes `oci:DIR:TAG`.
        let app = r("example.com/app:1");
        assert!(pick(&[entry('d', "1")], &app).unwrap().is_some());
        let two_tags = [entry('d', "1"), entry('e', "1")];
        assert!(pick(&two_tags, &app).is_err());
        // The only entry, whatever its name.
        assert!(pick(&[entry('f', "app")], &app).unwrap().is_some());
    }
}
