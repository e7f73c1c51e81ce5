//! Importing a verified bundle at the site, with no network besides the
//! site registry: laying out the tree, loading images into containerd, and
//! pushing them to the site registry. Every pass re-checks each entry against
//! the seal as it streams; nothing is written where a check fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::crypt::Opener;
use super::read::{Head, each_entry};
use super::seal::Seal;
use crate::error::{Error, Result};
use crate::oci::registry::Registries;
use crate::progress::Progress;

/// What `--extract` laid out.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Extracted {
    pub files: usize,
    pub decrypted: usize,
    pub still_sealed: usize,
}

fn dest_of(path: &str) -> Option<String> {
    if let Some(p) = path.strip_prefix("tree/") {
        Some(p.to_string())
    } else if path.starts_with("files/") || path.starts_with("bin/") {
        Some(path.to_string())
    } else {
        None
    }
}

/// Lays out the scripts, manifests, certificates, files and the binary under
/// `dir`: written into a new directory beside it, which replaces `dir` only
/// once everything checked out. Private keys are decrypted when an opener is
/// given, and are always mode 0600.
pub fn extract(bundle: &Path, seal: &Seal, dir: &Path, opener: Option<&Opener>, progress: &Progress) -> Result<Extracted> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    if dir.exists() && !dir.join(".meshbundle").exists() && std::fs::read_dir(dir).map(|mut r| r.next().is_some()).unwrap_or(false) {
        return Err(Error::failed(
            format!("{} exists and was not laid out by meshbundle", dir.display()),
            "give an empty or new directory",
        ));
    }
    // A differential bundle needs its base's files in place already.
    let mut keep: Vec<(String, PathBuf)> = Vec::new();
    if let Some(base) = &seal.base {
        for name in &base.files {
            let f = seal
                .files
                .iter()
                .find(|f| &f.name == name)
                .ok_or_else(|| Error::failed(format!("the seal lists base file {name} without its sha256"), "the bundle is damaged"))?;
            let have = dir.join("files").join(name);
            let ok = crate::oci::cache::sha256_file(&have).is_ok_and(|(d, _)| d == f.sha256);
            if !ok {
                return Err(Error::failed(
                    format!("this differential bundle needs files/{name} from bundle {}, and {} lacks it", base.id, dir.display()),
                    "import the base bundle into the same directory first",
                ));
            }
            keep.push((format!("files/{name}"), have));
        }
    }
    let tmp = tempfile::Builder::new().prefix(".meshbundle-extract-").tempdir_in(parent).map_err(|e| Error::io(parent, e))?;
    let root = tmp.path().to_path_buf();
    let mut out = Extracted::default();
    each_entry(bundle, seal, |entry, r| {
        let Some(rel) = dest_of(&entry.path) else {
            return Ok(());
        };
        let sealed = rel.ends_with(".age") && entry.path.starts_with("tree/secrets/");
        let create = |rel: &str, mode: u32| -> Result<(PathBuf, std::fs::File)> {
            use std::os::unix::fs::OpenOptionsExt;
            let dest = root.join(rel);
            std::fs::create_dir_all(dest.parent().unwrap_or(&root)).map_err(|e| Error::io(&dest, e))?;
            // Created with its final mode, so a private key is never readable by others.
            let f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&dest).map_err(|e| Error::io(&dest, e))?;
            crate::fsutil::set_mode(&dest, mode)?;
            Ok((dest, f))
        };
        if sealed {
            let mut data = Vec::new();
            r.read_to_end(&mut data).map_err(|e| Error::failed(format!("{}: {e}", entry.path), "the bundle is damaged"))?;
            let (rel, bytes) = match opener {
                Some(o) => {
                    out.decrypted += 1;
                    (rel.trim_end_matches(".age").to_string(), o.open(&data, &entry.path)?)
                }
                None => {
                    out.still_sealed += 1;
                    (rel, data)
                }
            };
            let (dest, mut f) = create(&rel, 0o600)?;
            f.write_all(&bytes).map_err(|e| Error::io(&dest, e))?;
            progress.inc(entry.size);
        } else {
            // Streamed straight to disk, whatever the size.
            let (dest, mut f) = create(&rel, entry.mode.bits())?;
            let n = std::io::copy(r, &mut f).map_err(|e| Error::io(&dest, e))?;
            progress.inc(n);
        }
        out.files += 1;
        Ok(())
    })?;
    for (rel, from) in keep {
        let dest = root.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(&root)).map_err(|e| Error::io(&dest, e))?;
        if std::fs::hard_link(&from, &dest).is_err() {
            std::fs::copy(&from, &dest).map_err(|e| Error::io(&from, e))?;
        }
    }
    std::fs::write(root.join(".meshbundle"), format!("{}\n", Seal::id_of(&seal.to_bytes()))).map_err(|e| Error::io(&root, e))?;
    crate::fsutil::set_mode(&root, 0o755)?;
    let kept = tmp.keep();
    if dir.exists() {
        let old = parent.join(format!(".meshbundle-old-{}", std::process::id()));
        std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        std::fs::rename(&kept, dir).map_err(|e| Error::io(dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&kept, dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(out)
}

/// Loads the images into containerd with `ctr images import`, streaming the
/// bundle's OCI layout to it. Needs no network.
pub fn containerd(bundle: &Path, seal: &Seal, socket: &Path, namespace: &str, progress: &Progress) -> Result<usize> {
    if seal.images.is_empty() {
        return Ok(0);
    }
    if let Some(base) = &seal.base
        && !base.blobs.is_empty()
    {
        let o = Command::new("ctr")
            .arg("-a")
            .arg(socket)
            .args(["-n", namespace, "content", "ls", "-q"])
            .output()
            .map_err(|e| Error::failed(format!("cannot run ctr: {e}"), "ctr comes with containerd; put it on PATH"))?;
        let have: BTreeSet<String> = String::from_utf8_lossy(&o.stdout).lines().map(|l| l.trim().to_string()).collect();
        let missing: Vec<&meshbundle_core::digest::Digest> = base.blobs.iter().filter(|b| !have.contains(b.as_str())).collect();
        if !missing.is_empty() {
            return Err(Error::failed(
                format!(
                    "this differential bundle needs {} blob(s) of bundle {} that containerd lacks (e.g. {})",
                    missing.len(),
                    base.id,
                    missing[0]
                ),
                "import the base bundle first",
            ));
        }
    }
    let mut child = Command::new("ctr")
        .arg("-a")
        .arg(socket)
        .args(["-n", namespace, "images", "import", "--no-unpack=false", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::failed(format!("cannot run ctr: {e}"), "ctr comes with containerd; put it on PATH"))?;
    let stdin = child.stdin.take().ok_or_else(|| Error::failed("ctr has no stdin", "report this as a bug"))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, stdin));
    let streamed = each_entry(bundle, seal, |entry, r| {
        let Some(rel) = entry.path.strip_prefix("images/") else {
            return Ok(());
        };
        let mut h = super::header(entry.size, 0o644);
        let mut counted = ProgressReader { inner: r, progress };
        tar.append_data(&mut h, rel, &mut counted)
            .map_err(|e| Error::failed(format!("streaming {} to ctr: {e}", entry.path), "see ctr's error below"))
    });
    let finished = tar.into_inner().map_err(|e| Error::failed(e.to_string(), "ctr stopped reading")).map(drop);
    let o = child.wait_with_output().map_err(|e| Error::failed(e.to_string(), "ctr failed"))?;
    streamed?;
    finished?;
    if !o.status.success() {
        return Err(Error::failed(
            format!("ctr images import failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
            "check the containerd socket and namespace",
        ));
    }
    Ok(seal.images.len())
}

struct ProgressReader<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pushed {
    pub images: usize,
    pub blobs_pushed: usize,
    pub blobs_skipped: usize,
    pub bytes_pushed: u64,
}

/// Pushes every image to the site registry under the names the manifests
/// use, skipping blobs it already has (so a second run is quick and an
/// interrupted run resumes).
pub fn registry(
    bundle: &Path,
    head: &Head,
    host: &str,
    regs: &Registries,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> Result<Pushed> {
    let seal = &head.seal;
    let mut out = Pushed::default();
    // Which repositories need each blob, and the manifests to push last.
    let mut repos_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut manifests: BTreeSet<String> = BTreeSet::new();
    let mut targets = Vec::new();
    for img in &seal.images {
        let r = meshbundle_core::image::ImageRef::parse(&img.site).map_err(|e| Error::failed(e.to_string(), "the bundle is damaged"))?;
        for b in &img.blobs {
            repos_of.entry(b.to_string()).or_default().insert(r.repository.clone());
        }
        for m in &img.manifests {
            manifests.insert(m.to_string());
        }
        targets.push((r, img));
    }
    let exists = |repo: &str, digest: &str| {
        rt.block_on(regs.blob_exists(&Registries::target(host, repo, None, Some(digest)), digest))
            .map_err(|e| Error::failed(e.to_string(), "check --registry, --insecure and --authfile"))
    };
    if let Some(base) = &seal.base {
        for b in &base.blobs {
            if manifests.contains(b.as_str()) {
                continue;
            }
            for repo in repos_of.get(b.as_str()).into_iter().flatten() {
                if !exists(repo, b.as_str())? {
                    return Err(Error::failed(
                        format!("this differential bundle needs blob {b} ({repo}) of bundle {}, and {host} lacks it", base.id),
                        "import the base bundle into this registry first",
                    ));
                }
            }
        }
    }
    let spool = tempfile::tempdir().map_err(|e| Error::failed(e.to_string(), "check the temporary directory"))?;
    let mut manifest_bytes: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    each_entry(bundle, seal, |entry, r| {
        let Some(hex) = entry.path.strip_prefix("images/blobs/sha256/") else {
            return Ok(());
        };
        let digest = format!("sha256:{hex}");
        if manifests.contains(&digest) {
            let mut b = Vec::new();
            r.read_to_end(&mut b).map_err(|e| Error::failed(e.to_string(), "the bundle is damaged"))?;
            manifest_bytes.insert(digest, b);
            return Ok(());
        }
        let Some(repos) = repos_of.get(&digest) else {
            return Ok(());
        };
        let mut need = Vec::new();
        for repo in repos {
            if exists(repo, &digest)? {
                out.blobs_skipped += 1;
            } else {
                need.push(repo.clone());
            }
        }
        if need.is_empty() {
            progress.inc(entry.size);
            return Ok(());
        }
        let path = spool.path().join(hex);
        let mut f = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        std::io::copy(r, &mut f).map_err(|e| Error::io(&path, e))?;
        drop(f);
        for repo in need {
            rt.block_on(regs.push_blob_file(&Registries::target(host, &repo, None, Some(&digest)), &path, &digest, entry.size))
                .map_err(|e| Error::failed(e.to_string(), "check --registry, --insecure and --authfile"))?;
            out.blobs_pushed += 1;
            out.bytes_pushed += entry.size;
        }
        progress.inc(entry.size);
        let _ = std::fs::remove_file(&path);
        Ok(())
    })?;
    // Manifests: an index's children first, then each image under its digest and tag.
    let in_base = |d: &str| seal.base.as_ref().is_some_and(|b| b.blobs.iter().any(|x| x == d));
    for (r, img) in &targets {
        if !manifest_bytes.contains_key(img.digest.as_str()) && in_base(img.digest.as_str()) {
            // Carried by the base bundle, which was imported already.
            continue;
        }
        for m in img.manifests.iter().skip(1).chain(std::iter::once(&img.manifests[0])) {
            let raw = manifest_bytes.get(m.as_str()).ok_or_else(|| {
                Error::failed(format!("manifest {m} of {} is not in this bundle", img.name), "import the base bundle first")
            })?;
            let mt = crate::oci::media::media_type_of(raw).unwrap_or_else(|| img.media_type.clone());
            rt.block_on(regs.push_manifest(&Registries::target(host, &r.repository, None, Some(m.as_str())), raw, &mt))
                .map_err(|e| Error::failed(e.to_string(), "check --registry"))?;
        }
        let top = manifest_bytes
            .get(img.digest.as_str())
            .ok_or_else(|| Error::failed(format!("manifest {} is missing", img.digest), "the bundle is damaged"))?;
        rt.block_on(regs.push_manifest(&Registries::target(host, &r.repository, r.tag.as_deref(), None), top, &img.media_type))
            .map_err(|e| Error::failed(e.to_string(), "check --registry"))?;
        out.images += 1;
    }
    Ok(out)
}
