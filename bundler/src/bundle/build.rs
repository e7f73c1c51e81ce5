//! Writing a bundle: the seal first (it lists every entry's sha256, known
//! before writing: blobs and files are stored in the cache by digest), then
//! each entry streamed from the cache and checked again on the way, into a
//! temporary file that is renamed into place only when complete.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use meshbundle_core::image::ImageRef;
use meshbundle_core::pki::SiteSecrets;
use meshbundle_core::spec::{Site, Validated};
use meshbundle_core::tree::{FileTree, MODE_SECRET};
use meshbundle_core::upgrade_from::UpgradeFrom;
use oci_spec::image::MediaType;
use sha2::{Digest, Sha256};

use super::crypt::Sealer;
use super::seal::{Base, EntryPath, NotCarried, Seal, SealCert, SealEntry, SealFile, SealImage, SecretsInfo};
use super::{FORMAT, SEAL, SEAL_SIG, SEAL_SUM, header};
use crate::error::{Error, Result};
use crate::oci::Image;
use crate::oci::cache::BlobCache;
use crate::progress::Progress;

/// Where an entry's bytes come from.
enum Source {
    Bytes(Vec<u8>),
    /// A file of the cache (or the binary), with the sha256 it must have.
    File(PathBuf),
}

struct Pending {
    entry: SealEntry,
    source: Source,
}

/// An entry of the seal, checked as a reader of the bundle will check it.
fn seal_entry(path: String, size: u64, mode: u32, sha256_hex: &str) -> Result<SealEntry> {
    SealEntry::new(path, size, mode, sha256_hex)
        .map_err(|e| Error::failed(format!("cannot carry {e}"), "check the spec and the lock"))
}

/// A digest from the lock or an image, checked before it goes into the seal.
fn digest(d: &str) -> Result<meshbundle_core::digest::Digest> {
    meshbundle_core::digest::Digest::parse(d).map_err(|e| Error::from_source(e, "check the lock"))
}

fn bytes_entry(path: String, bytes: Vec<u8>, mode: u32) -> Result<Pending> {
    let entry = seal_entry(path, bytes.len() as u64, mode, &hex::encode(Sha256::digest(&bytes)))?;
    Ok(Pending {
        entry,
        source: Source::Bytes(bytes),
    })
}

fn file_entry(path: String, file: PathBuf, sha256_hex: String, mode: u32) -> Result<Pending> {
    let size = std::fs::metadata(&file).map_err(|e| Error::io(&file, e))?.len();
    Ok(Pending {
        entry: seal_entry(path, size, mode, &sha256_hex)?,
        source: Source::File(file),
    })
}

/// A file carried in the bundle.
pub struct CarriedFile {
    pub name: String,
    pub url: String,
    pub sha256: String,
    pub path: PathBuf,
}

/// What a differential bundle may leave out: what its base carries.
pub struct BaseSets {
    pub id: String,
    /// Every blob (manifests included) of the base's images, with the
    /// repositories it is in there: a registry holds a blob per repository,
    /// so one is left out only where the base put it in each repository
    /// that needs it.
    pub blobs: BTreeMap<String, BTreeSet<String>>,
    pub files: BTreeSet<String>,
    /// For a base bundle (not a lock): the versions the site runs, read from
    /// its verified seal; the new tree's upgrade steps start from them.
    pub from: Option<UpgradeFrom>,
}

/// What a bundle is written from: the validated site, the tree rendered
/// from it, and what the seal records of the inputs.
pub struct Input<'a> {
    pub site: &'a Validated,
    /// The spec's text, exactly as parsed.
    pub spec_text: String,
    /// The lock's text, exactly as parsed (or written by this build).
    pub lock_text: Option<String>,
    /// The install's files, rendered from the site, lock and secrets.
    pub tree: FileTree,
    pub secrets: Option<&'a SiteSecrets>,
    pub sealer: Option<Sealer>,
    /// Leave private keys out instead of sealing them.
    pub withhold_keys: bool,
    pub images: Vec<Image>,
    pub files: Vec<CarriedFile>,
    pub binary: Option<PathBuf>,
    pub not_carried: NotCarried,
    pub base: Option<BaseSets>,
    pub signer: Option<ed25519_dalek::SigningKey>,
}

pub struct Built {
    pub id: meshbundle_core::digest::Digest,
    pub seal: Seal,
    /// The size of the bundle file.
    pub bytes: u64,
}

/// The reference the site pulls an image by: the site registry, its
/// repository and tag, and the digest.
pub fn site_ref(registry: &str, name: &ImageRef, digest: &crate::oci::Digest) -> ImageRef {
    name.in_registry(registry).without_digest().with_digest(digest)
}

/// The prefix of the temporary file a bundle is written into (see
/// `fsutil::remove_leftovers`).
pub const BUILD_PREFIX: &str = ".meshbundle-build-";

/// Removes what killed builds left beside `out`, and says so.
pub fn remove_leftovers(out: &Path) {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::fsutil::report_leftovers(&crate::fsutil::remove_leftovers(dir, BUILD_PREFIX));
}

pub fn write(input: Input, out: &Path, cache: &BlobCache, progress: &Progress) -> Result<Built> {
    remove_leftovers(out);
    let base = input.base.as_ref();
    let mut pending = tree_entries(&input, cache)?;
    let (files, file_pending) = file_entries(&input)?;
    pending.extend(file_pending);
    let layout = image_entries(&input, cache)?;
    pending.extend(layout.pending);
    let base_files: Vec<String> = match base {
        Some(b) => input
            .files
            .iter()
            .filter(|f| b.files.contains(&f.sha256))
            .map(|f| f.name.clone())
            .collect(),
        None => Vec::new(),
    };
    if let Some(bin) = &input.binary {
        let (d, _) = crate::oci::cache::sha256_file(bin).map_err(|e| Error::io(bin, e))?;
        pending.push(file_entry(
            "bin/meshbundle".into(),
            bin.clone(),
            d.hex().to_string(),
            0o755,
        )?);
    }
    pending.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    for w in pending.windows(2) {
        if w[0].entry.path == w[1].entry.path {
            return Err(Error::failed(
                format!("two entries named {}", w[0].entry.path),
                "report this as a bug",
            ));
        }
    }

    let seal = seal_of(&input, layout.images, files, &layout.base_blobs, &base_files, &pending)?;
    let seal_bytes = seal.to_bytes();
    let id = Seal::id_of(&seal_bytes);
    progress.add_total(seal.total_size());
    let bytes = write_archive(
        out,
        &seal,
        &seal_bytes,
        id.as_str(),
        input.signer.as_ref(),
        pending,
        progress,
    )?;
    Ok(Built { id, seal, bytes })
}

/// The rendered tree's entries: private keys sealed (or withheld), the rest as rendered.
fn tree_entries(input: &Input, cache: &BlobCache) -> Result<Vec<Pending>> {
    let mut pending: Vec<Pending> = Vec::new();
    for (path, f) in input.tree.iter() {
        if f.mode == MODE_SECRET && input.secrets.is_some() {
            if input.withhold_keys {
                continue;
            }
            let sealer = input.sealer.as_ref().ok_or_else(|| {
                Error::failed(
                    "private keys would travel unencrypted",
                    "give --recipient, --passphrase-file or --no-private-keys",
                )
            })?;
            pending.push(bytes_entry(
                format!("tree/{path}.age"),
                sealer.seal(&f.bytes, cache)?,
                MODE_SECRET,
            )?);
        } else {
            pending.push(bytes_entry(format!("tree/{path}"), f.bytes.clone(), f.mode)?);
        }
    }

    Ok(pending)
}

/// The carried files: what the seal lists, and the entries of those the base lacks.
fn file_entries(input: &Input) -> Result<(Vec<SealFile>, Vec<Pending>)> {
    let base = input.base.as_ref();
    let mut pending = Vec::new();
    let mut files = Vec::new();
    for f in &input.files {
        files.push(SealFile {
            name: EntryPath::parse(&f.name).map_err(|e| Error::failed(format!("file {e}"), "check the lock"))?,
            sha256: meshbundle_core::digest::Digest::from_hex(&f.sha256)
                .map_err(|e| Error::from_source(e, "check the lock"))?,
            size: std::fs::metadata(&f.path).map_err(|e| Error::io(&f.path, e))?.len(),
            url: f.url.clone(),
        });
        if base.is_some_and(|b| b.files.contains(&f.sha256)) {
            continue;
        }
        pending.push(file_entry(
            format!("files/{}", f.name),
            f.path.clone(),
            f.sha256.clone(),
            0o644,
        )?);
    }

    Ok((files, pending))
}

/// The images as one OCI layout: what the seal lists, the layout's entries
/// (each blob once), and the blobs left to the base.
struct Layout {
    images: Vec<SealImage>,
    pending: Vec<Pending>,
    base_blobs: Vec<String>,
}

fn image_entries(input: &Input, cache: &BlobCache) -> Result<Layout> {
    let site = input.site;
    let base = input.base.as_ref();
    let mut pending = Vec::new();
    // One OCI layout for every image; each blob once.
    let mut images = Vec::new();
    let mut index = Vec::new();
    let mut blobs: BTreeMap<String, Source> = BTreeMap::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut repos_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for img in &input.images {
        let site = site_ref(&site.spec.registry, &img.name, &img.digest);
        let tagged = site.tagged();
        let repo = img.name.repository.clone();
        for d in img
            .manifests
            .iter()
            .map(|m| &m.0)
            .chain(img.blobs.iter().map(|b| &b.digest))
        {
            repos_of.entry(d.to_string()).or_default().insert(repo.clone());
        }
        let mut size = 0;
        for (d, _, raw) in &img.manifests {
            size += raw.len() as u64;
            sizes.insert(d.to_string(), raw.len() as u64);
            blobs.entry(d.to_string()).or_insert_with(|| Source::Bytes(raw.clone()));
        }
        for b in &img.blobs {
            size += b.size;
            sizes.insert(b.digest.to_string(), b.size);
            blobs
                .entry(b.digest.to_string())
                .or_insert_with(|| Source::File(cache.path(&b.digest)));
        }
        index.push(crate::oci::layout::named(
            crate::oci::media::descriptor(MediaType::from(img.media_type.as_str()), &img.digest, img.size),
            &tagged,
        ));
        images.push(SealImage {
            name: img.name.clone(),
            site,
            digest: img.digest.clone(),
            media_type: img.media_type.clone(),
            manifests: img.manifests.iter().map(|m| m.0.clone()).collect(),
            blobs: img.blobs.iter().map(|b| b.digest.clone()).collect(),
            size,
        });
    }
    let mut base_blobs = Vec::new();
    if !input.images.is_empty() {
        // Sorted by reference name, as every layout meshbundle writes.
        let index_json =
            crate::oci::layout::index_bytes(index).map_err(|e| Error::from_source(e, "report this as a bug"))?;
        pending.push(bytes_entry("images/index.json".into(), index_json, 0o644)?);
        pending.push(bytes_entry(
            "images/oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            0o644,
        )?);
        for (digest, source) in blobs {
            let in_base = |b: &BaseSets| {
                b.blobs
                    .get(&digest)
                    .is_some_and(|there| repos_of.get(&digest).is_none_or(|need| need.is_subset(there)))
            };
            if base.is_some_and(in_base) {
                base_blobs.push(digest);
                continue;
            }
            let hex = self::digest(&digest)?.hex().to_string();
            let path = format!("images/blobs/sha256/{hex}");
            match source {
                Source::Bytes(b) => pending.push(bytes_entry(path, b, 0o644)?),
                Source::File(p) => pending.push(file_entry(path, p, hex, 0o644)?),
            }
        }
    }
    Ok(Layout {
        images,
        pending,
        base_blobs,
    })
}

/// The seal: what the bundle holds and what it was built from.
fn seal_of(
    input: &Input,
    images: Vec<SealImage>,
    files: Vec<SealFile>,
    base_blobs: &[String],
    base_files: &[String],
    pending: &[Pending],
) -> Result<Seal> {
    let site = input.site;
    let base = input.base.as_ref();
    let certificates = match input.secrets {
        Some(s) => s
            .summary()
            .map_err(|e| Error::from_source(e, "check the secrets file"))?
            .certificates
            .into_iter()
            .map(|c| SealCert {
                name: c.name,
                subject: c.subject,
                not_after: c.not_after,
            })
            .collect(),
        None => Vec::new(),
    };
    let secrets_info = match (input.secrets, input.withhold_keys, &input.sealer) {
        (None, _, _) => SecretsInfo {
            private_keys: "none".into(),
            recipients: vec![],
        },
        (Some(_), true, _) => SecretsInfo {
            private_keys: "withheld".into(),
            recipients: vec![],
        },
        (Some(_), false, Some(s)) => SecretsInfo {
            private_keys: "encrypted".into(),
            recipients: s.describe(),
        },
        (Some(_), false, None) => SecretsInfo {
            private_keys: "none".into(),
            recipients: vec![],
        },
    };
    Ok(Seal {
        format: FORMAT.into(),
        meshbundle: crate::cli::VERSION.into(),
        site: site.metadata.name.clone(),
        spec: input.spec_text.clone(),
        lock: input.lock_text.clone(),
        tree_digest: digest(&input.tree.digest())?,
        secrets: secrets_info,
        images,
        files,
        certificates,
        not_carried: input.not_carried.clone(),
        base: match base {
            Some(b) => Some(Base {
                id: digest(&b.id)?,
                blobs: base_blobs.iter().map(|d| digest(d)).collect::<Result<_>>()?,
                files: base_files
                    .iter()
                    .map(|n| EntryPath::parse(n).map_err(|e| Error::failed(e, "check the lock")))
                    .collect::<Result<_>>()?,
                from: b.from.clone(),
            }),
            None => None,
        },
        entries: pending.iter().map(|p| p.entry.clone()).collect(),
    })
}

/// Writes the bundle into a temporary file beside `out`, checks every cached
/// file again on the way, and renames it into place: its size.
fn write_archive(
    out: &Path,
    seal: &Seal,
    seal_bytes: &[u8],
    id: &str,
    signer: Option<&ed25519_dalek::SigningKey>,
    pending: Vec<Pending>,
    progress: &Progress,
) -> Result<u64> {
    // Write into a temporary file beside the output, then rename.
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::fsutil::create_dir_all(dir, 0o755)?;
    let tmp = crate::fsutil::temp_file_in(dir, BUILD_PREFIX)?;
    let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, tmp.as_file()));
    let io = |e: std::io::Error| Error::failed_with(format!("writing {}", out.display()), e, "check the free space");
    let put = |b: &mut tar::Builder<_>, path: &str, bytes: &[u8], mode: u32| -> Result<()> {
        let mut h = header(bytes.len() as u64, mode);
        b.append_data(&mut h, path, bytes).map_err(io)
    };
    put(&mut b, SEAL, seal_bytes, 0o644)?;
    put(&mut b, SEAL_SUM, format!("{id}\n").as_bytes(), 0o644)?;
    if let Some(key) = signer {
        put(&mut b, SEAL_SIG, &super::sign::sign(key, seal_bytes), 0o644)?;
    }
    crate::fsutil::test_pause("build");
    // Cached files are hashed again on a thread of their own, running ahead
    // of the copy, and checked before the bundle is put in place.
    let to_hash: Vec<(PathBuf, String, u64)> = pending
        .iter()
        .filter_map(|p| match &p.source {
            Source::File(f) => Some((f.clone(), p.entry.sha256.hex().to_string(), p.entry.size)),
            Source::Bytes(_) => None,
        })
        .collect();
    let hashed = std::thread::spawn(move || check_files(&to_hash));
    let mut behind = WriteBehind { started: 0 };
    for p in pending {
        let e = &p.entry;
        match p.source {
            Source::Bytes(bytes) => put(&mut b, &e.path, &bytes, e.mode.bits())?,
            Source::File(path) => {
                let f = File::open(&path).map_err(|err| Error::io(&path, err))?;
                let mut h = header(e.size, e.mode.bits());
                b.append_data(&mut h, &e.path, std::io::empty()).map_err(io)?;
                copy_exact(&f, b.get_mut(), e.size, progress, &mut behind).map_err(|err| match err.kind() {
                    std::io::ErrorKind::UnexpectedEof => changed(e, &path),
                    _ => io(err),
                })?;
            }
        }
    }
    let checked = hashed
        .join()
        .map_err(|_| Error::failed("hashing the cached files failed", "report this as a bug"))?;
    if let Some(bad) = checked.map_err(io)? {
        let e = seal
            .entries
            .iter()
            .find(|e| e.sha256.hex() == bad.1)
            .expect("hashed entries come from the seal");
        return Err(changed(e, &bad.0));
    }
    let w = b.into_inner().map_err(io)?;
    let f = w.into_inner().map_err(|e| io(e.into_error()))?;
    f.set_permissions(crate::fsutil::permissions(0o644)).map_err(io)?;
    f.sync_all().map_err(io)?;
    let bytes = f.metadata().map_err(io)?.len();
    tmp.persist(out).map_err(|e| Error::io(out, e.error))?;
    Ok(bytes)
}

fn changed(e: &SealEntry, cached: &Path) -> Error {
    Error::failed(
        format!(
            "{} changed while the bundle was written (the cached copy {} is damaged)",
            e.path,
            cached.display()
        ),
        "delete it from the cache and build again",
    )
}

/// Copies exactly `size` bytes of `src` into the archive and pads them to a
/// whole tar block. `io::copy` between files lets the kernel move the bytes
/// (`copy_file_range`) without a pass through this process.
fn copy_exact(
    src: &File,
    w: &mut BufWriter<&File>,
    size: u64,
    progress: &Progress,
    behind: &mut WriteBehind,
) -> std::io::Result<()> {
    const STEP: u64 = 64 << 20;
    let mut left = size;
    while left > 0 {
        let n = std::io::copy(&mut src.take(left.min(STEP)), w)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        left -= n;
        progress.inc(n);
        behind.written(w.get_ref())?;
    }
    let pad = (512 - size % 512) % 512;
    w.write_all(&[0u8; 512][..pad as usize])
}

/// Starts writing what has been written so far out to disk while the build
/// goes on, so the `fsync` before the bundle is renamed into place finds
/// little left to do (and dirty pages do not pile up in memory).
struct WriteBehind {
    started: u64,
}

impl WriteBehind {
    fn written(&mut self, f: &File) -> std::io::Result<()> {
        use std::io::Seek;
        use std::os::fd::AsRawFd;
        let end = (&mut &*f).stream_position()?;
        if end > self.started {
            // SAFETY: a plain system call on a file descriptor this function borrows.
            let r = unsafe {
                libc::sync_file_range(
                    f.as_raw_fd(),
                    self.started as i64,
                    (end - self.started) as i64,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
            // A file system without it (EINVAL, ENOSYS) loses only the overlap.
            if r == 0 {
                self.started = end;
            }
        }
        Ok(())
    }
}

/// Hashes each file in turn; the first whose sha256 or size is not the one
/// expected, as (path, expected sha256).
fn check_files(files: &[(PathBuf, String, u64)]) -> std::io::Result<Option<(PathBuf, String)>> {
    let mut buf = vec![0u8; 1 << 20];
    for (path, sha256, size) in files {
        let mut f = File::open(path)?;
        let mut h = Sha256::new();
        let mut n = 0u64;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    h.update(&buf[..k]);
                    n += k as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n != *size || hex::encode(h.finalize()) != *sha256 {
            return Ok(Some((path.clone(), sha256.clone())));
        }
    }
    Ok(None)
}

/// The blobs and files a base bundle carries (for `build --since`), and the
/// versions its site runs. The base is verified whole first (every entry
/// against its seal, and its signature under the trust policy the variable or
/// the config directory sets), so its id is that of a sealed bundle whose
/// blobs and files really are what it claims; and it must be a bundle of the
/// same site.
pub fn base_from_bundle(path: &Path, site: &Site, progress: &Progress) -> Result<BaseSets> {
    let policy = super::sign::TrustPolicy::resolve(&[])?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let report = super::read::verify(path, policy.as_ref(), threads, progress).map_err(|e| {
        Error::failed_with(
            format!("--since {}", path.display()),
            e,
            "--since takes the bundle the site last imported, intact (meshbundle verify says what is wrong with it)",
        )
    })?;
    let head = report.head;
    if head.seal.site != site.metadata.name {
        return Err(Error::failed(
            format!(
                "--since {}: it is a bundle of site {}, not of {}",
                path.display(),
                super::read::shown(&head.seal.site),
                site.metadata.name
            ),
            "give the bundle this site last imported",
        ));
    }
    let previous = meshbundle_core::spec::load::load(&head.seal.spec).site.ok_or_else(|| {
        Error::failed(
            format!(
                "--since {}: the spec in its seal does not read, so the versions the site runs are unknown",
                path.display()
            ),
            "give a bundle made by meshbundle",
        )
    })?;
    let from = UpgradeFrom::of_site(&previous, head.id.clone()).map_err(|e| {
        Error::failed_with(
            format!("--since {}: the spec in its seal", path.display()),
            e,
            "give a bundle made by meshbundle",
        )
    })?;
    // The site holds every image of the base (what it carries, and what
    // its own base carried before it), each in its repository.
    let mut blobs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for img in &head.seal.images {
        let repo = img.name.repository.clone();
        for d in img.manifests.iter().chain(&img.blobs) {
            blobs.entry(d.to_string()).or_default().insert(repo.clone());
        }
    }
    let mut files: BTreeSet<String> = head
        .seal
        .files
        .iter()
        .filter(|f| head.seal.entries.iter().any(|e| e.path == format!("files/{}", f.name)))
        .map(|f| f.sha256.hex().to_string())
        .collect();
    // What the base itself took from its own base.
    if let Some(b) = &head.seal.base {
        files.extend(
            head.seal
                .files
                .iter()
                .filter(|f| b.files.contains(&f.name))
                .map(|f| f.sha256.hex().to_string()),
        );
    }
    Ok(BaseSets {
        id: head.id.to_string(),
        blobs,
        files,
        from: Some(from),
    })
}
